"""Tests of companion.compact: closed-form costs against hook measurements and the papers,
channel shuffle, group conv oracles, the compact MNIST networks, the search, bad input."""
from __future__ import annotations

import math
import random

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from companion import compact as C
from companion import exercises, metrics, models

FAST = settings(max_examples=20, deadline=None)


def hook_cost(module: nn.Module, c_in: int, h: int, w: int) -> C.Cost:
    """What the shared ruler measures on a real forward pass (params: every trainable tensor)."""
    layers = metrics.measure_layers(module, (1, c_in, h, w))
    acts = sum(math.prod(l.out_shape) for l in layers)
    return C.Cost(metrics.count_params(module), sum(l.macs for l in layers), acts)


# --- closed forms against hooks ----------------------------------------------------------------

sizes = st.integers(3, 12)
norms = st.booleans()


@FAST
@given(c_in=st.integers(1, 12), c_out=st.integers(1, 12), h=sizes, w=sizes, k=st.sampled_from([1, 3, 5]),
       stride=st.sampled_from([1, 2]), norm=norms)
def test_depthwise_separable_cost_matches_hooks(c_in, c_out, h, w, k, stride, norm):
    m = C.DepthwiseSeparable(c_in, c_out, k=k, stride=stride, norm=norm)
    assert m.cost(h, w) == hook_cost(m, c_in, h, w)
    assert m(torch.zeros(2, c_in, h, w)).shape == (2, c_out, C.conv_out_size(h, k, stride), C.conv_out_size(w, k, stride))


@FAST
@given(c_in=st.integers(1, 12), s=st.integers(1, 6), e1=st.integers(1, 8), e3=st.integers(1, 8), h=sizes, w=sizes,
       norm=norms)
def test_fire_cost_matches_hooks(c_in, s, e1, e3, h, w, norm):
    m = C.Fire(c_in, s, e1, e3, norm=norm)
    assert m.cost(h, w) == hook_cost(m, c_in, h, w)
    assert m(torch.zeros(1, c_in, h, w)).shape == (1, e1 + e3, h, w)


@FAST
@given(c_in=st.integers(1, 10), c_mid=st.integers(1, 6), c_out=st.integers(1, 10), h=sizes, w=sizes,
       stride=st.sampled_from([1, 2]), norm=norms)
def test_bottleneck_cost_matches_hooks(c_in, c_mid, c_out, h, w, stride, norm):
    m = C.Bottleneck(c_in, c_mid, c_out, stride=stride, norm=norm)
    assert m.cost(h, w) == hook_cost(m, c_in, h, w)


@FAST
@given(c_in=st.integers(1, 10), c_out=st.integers(1, 10), t=st.integers(1, 6), h=sizes, w=sizes,
       stride=st.sampled_from([1, 2]), norm=norms)
def test_inverted_residual_cost_matches_hooks(c_in, c_out, t, h, w, stride, norm):
    m = C.InvertedResidual(c_in, c_out, expansion=t, stride=stride, norm=norm)
    assert m.cost(h, w) == hook_cost(m, c_in, h, w)
    assert m.residual == (stride == 1 and c_in == c_out)


@FAST
@given(g=st.sampled_from([1, 2, 3, 4]), a=st.integers(1, 4), extra=st.integers(1, 4), mid_mult=st.integers(1, 3),
       h=sizes, w=sizes, stride=st.sampled_from([1, 2]), norm=norms)
def test_shuffle_unit_cost_matches_hooks(g, a, extra, mid_mult, h, w, stride, norm):
    c_in = g * a
    c_out = c_in if stride == 1 else c_in + g * extra
    m = C.ShuffleUnit(c_in, c_out, groups=g, mid=g * mid_mult, stride=stride, norm=norm)
    assert m.cost(h, w) == hook_cost(m, c_in, h, w)
    y = m(torch.randn(2, c_in, h, w))
    assert y.shape == (2, c_out, C.conv_out_size(h, 3, stride), C.conv_out_size(w, 3, stride))


@FAST
@given(g=st.integers(1, 4), a=st.integers(1, 4), b=st.integers(1, 4), h=sizes, k=st.sampled_from([1, 3]),
       stride=st.sampled_from([1, 2]), bias=st.booleans())
def test_conv_cost_matches_nn_conv2d(g, a, b, h, k, stride, bias):
    conv = nn.Conv2d(g * a, g * b, k, stride, k // 2, groups=g, bias=bias)
    assert C.conv_cost(g * a, g * b, h, h, k, stride=stride, groups=g, bias=bias) == hook_cost(conv, g * a, h, h)


@pytest.mark.parametrize("block", C.BLOCK_TYPES)
@pytest.mark.parametrize("width,depth", [(0.5, 1), (1.0, 2), (1.5, 3)])
def test_compact_cnn_cost_matches_hooks(block, width, depth):
    cfg = C.ArchConfig(block, width, depth)
    m = C.build_compact(cfg)
    assert m.cost() == hook_cost(m, 1, 28, 28) == C.arch_cost(cfg)
    assert m(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_build_compact_is_seeded_and_leaves_rng_alone():
    cfg = C.ArchConfig("fire", 1.0, 1)
    state = torch.random.get_rng_state()
    a, b = C.build_compact(cfg, seed=3), C.build_compact(cfg, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_compact_cnn_is_much_cheaper_than_the_baseline():
    base = models.build("cnn")
    base_macs, base_params = metrics.measure_macs(base), metrics.count_params(base)
    cost = C.arch_cost(C.ArchConfig("dwsep", 1.0, 2))
    assert base_macs / cost.macs >= 5 and base_params / cost.params >= 5


# --- formulas and the papers ---------------------------------------------------------------------

@FAST
@given(c_in=st.integers(1, 64), c_out=st.integers(1, 64), h=st.integers(3, 16), k=st.sampled_from([3, 5]))
def test_depthwise_separable_ratio_is_one_over_cout_plus_one_over_k2(c_in, c_out, h, k):
    sep = C.depthwise_separable_cost(c_in, c_out, h, h, k=k, norm=False).macs
    std = C.conv_cost(c_in, c_out, h, h, k).macs
    assert sep / std == pytest.approx(1 / c_out + 1 / k ** 2)


def test_mobilenet_v1_table_equals_the_shared_layer_table():
    ours, ref = C.mobilenet_v1_table(1.0, 224), models.layer_table("mobilenet_v1")
    assert ours.layers == ref.layers
    assert ours.macs == ref.macs == 568_740_352
    assert ours.params == ref.params == 4_210_088


@pytest.mark.parametrize("width,macs_m,params_m", [(1.0, 569, 4.2), (0.75, 325, 2.6), (0.5, 149, 1.3), (0.25, 41, 0.5)])
def test_mobilenet_v1_width_multiplier_matches_paper(width, macs_m, params_m):
    t = C.mobilenet_v1_table(width, 224)
    assert abs(t.macs / 1e6 - macs_m) / macs_m < 0.02
    assert round(t.params / 1e6, 1) == params_m


@pytest.mark.parametrize("resolution,macs_m", [(224, 569), (192, 418), (160, 290), (128, 186)])
def test_mobilenet_v1_resolution_multiplier_matches_paper(resolution, macs_m):
    t = C.mobilenet_v1_table(1.0, resolution)
    assert abs(t.macs / 1e6 - macs_m) / macs_m < 0.02
    assert t.params == 4_210_088  # resolution does not change the parameters


def test_conv_mobilenet_matches_paper_table_4():
    t = C.mobilenet_v1_table(block="standard")
    assert abs(t.macs / 1e6 - 4866) / 4866 < 0.02
    assert round(t.params / 1e6, 1) == 29.3


def test_squeezenet_has_about_50x_fewer_params_than_alexnet():
    ratio = models.layer_table("alexnet").params / models.layer_table("squeezenet1_0").params
    assert 45 < ratio < 55


def test_fire_cost_matches_squeezenet_layer_table():
    t = models.layer_table("squeezenet1_0")
    rows = [t[f"fire2.{n}"] for n in ("squeeze", "expand1x1", "expand3x3")]
    cost = C.fire_cost(96, 16, 64, 64, 54, 54, norm=False)
    assert cost.params == sum(r.params for r in rows)
    assert cost.macs == sum(r.macs for r in rows)
    assert cost.activations == sum(r.out_activations for r in rows)


@pytest.mark.parametrize("name", models.TABLE_NAMES)
def test_cost_by_kind_adds_up_to_the_table(name):
    t = models.layer_table(name)
    by_kind = C.cost_by_kind(t)
    total = sum(by_kind.values(), C.Cost())
    assert (total.params, total.macs) == (t.params, t.macs)
    assert set(by_kind) <= {"conv kxk", "conv 1x1", "depthwise", "fc", "bn"}
    if name == "mobilenet_v1":  # the 1x1 convs carry almost all MACs (paper, Table 2: 94.86 %)
        assert by_kind["conv 1x1"].macs / t.macs == pytest.approx(0.9486, abs=0.005)


def test_bottleneck_is_cheaper_than_two_3x3_convs():
    b = C.bottleneck_cost(256, 64, 256, 56, 56, norm=False).macs
    plain = 2 * C.conv_cost(256, 256, 56, 56).macs
    assert plain / b > 15


@FAST
@given(v=st.floats(1, 1000), d=st.sampled_from([1, 4, 8, 16]))
def test_make_divisible(v, d):
    out = C.make_divisible(v, d)
    assert out % d == 0 and out >= d and out >= 0.9 * v


def test_scale_channels_uses_the_reference_rounding():
    assert C.scale_channels(32, 0.75) == 24 and C.scale_channels(32, 0.1) == 8 and C.scale_channels(1024, 0.25) == 256


# --- channel shuffle and group conv ------------------------------------------------------------

@FAST
@given(g=st.integers(1, 6), n=st.integers(1, 6), hw=st.integers(1, 3))
def test_channel_shuffle_is_a_permutation_and_unshuffle_inverts_it(g, n, hw):
    c = g * n
    x = torch.arange(2 * c * hw * hw, dtype=torch.float32).reshape(2, c, hw, hw)
    y = C.channel_shuffle(x, g)
    perm = [int(y[0, j, 0, 0]) // (hw * hw) for j in range(c)]
    assert sorted(perm) == list(range(c))
    assert perm == [i * n + j for j in range(n) for i in range(g)]  # output j·g+i <- input i·n+j
    assert torch.equal(C.channel_unshuffle(y, g), x)
    assert torch.equal(C.channel_shuffle(x, 1), x)


def test_channel_shuffle_module():
    x = torch.randn(1, 6, 2, 2)
    assert torch.equal(C.ChannelShuffle(3)(x), C.channel_shuffle(x, 3))


@FAST
@given(c_in=st.integers(1, 6), c_out=st.integers(1, 6), k=st.sampled_from([1, 3]))
def test_group_conv_with_one_group_equals_standard_conv(c_in, c_out, k):
    torch.manual_seed(0)
    std = nn.Conv2d(c_in, c_out, k, padding=k // 2)
    grp = nn.Conv2d(c_in, c_out, k, padding=k // 2, groups=1)
    grp.load_state_dict(std.state_dict())
    x = torch.randn(2, c_in, 5, 5)
    torch.testing.assert_close(grp(x), nn.functional.conv2d(x, std.weight, std.bias, padding=k // 2))
    assert C.conv_cost(c_in, c_out, 5, 5, k, groups=1) == C.conv_cost(c_in, c_out, 5, 5, k)


@FAST
@given(g=st.integers(1, 4), a=st.integers(1, 3), b=st.integers(1, 3))
def test_group_conv_equals_block_diagonal_standard_conv(g, a, b):
    torch.manual_seed(0)
    grp = nn.Conv2d(g * a, g * b, 3, padding=1, groups=g, bias=False)
    full = torch.zeros(g * b, g * a, 3, 3)
    for i in range(g):  # group i: output channels i·b.., input channels i·a..
        full[i * b:(i + 1) * b, i * a:(i + 1) * a] = grp.weight[i * b:(i + 1) * b]
    x = torch.randn(1, g * a, 6, 6)
    torch.testing.assert_close(grp(x), nn.functional.conv2d(x, full, padding=1))
    assert C.conv_cost(g * a, g * b, 6, 6, groups=g).macs * g == C.conv_cost(g * a, g * b, 6, 6).macs


# --- the search ------------------------------------------------------------------------------------

def fake_score(cfg: C.ArchConfig) -> float:
    """A deterministic stand-in for the short training: wider/deeper scores higher."""
    return 90 + cfg.width + 0.5 * cfg.depth + C.BLOCK_TYPES.index(cfg.block) * 0.1


@pytest.mark.parametrize("strategy", ["random", "evolution"])
def test_search_respects_the_budget_and_is_deterministic(strategy):
    budget = 1_000_000
    calls = []
    run = C.search_architectures(lambda c: calls.append(c) or fake_score(c), n_candidates=10, mac_budget=budget,
                   strategy=strategy, seed=1)
    assert len(run) == 10 == len(calls) == len({c.config for c in run})
    assert all(c.macs <= budget and c.macs == C.arch_cost(c.config).macs for c in run)
    assert [c.config for c in run] == [c.config for c in C.search_architectures(fake_score, n_candidates=10, mac_budget=budget,
                                                                  strategy=strategy, seed=1)]


def test_evolution_beats_nothing_worse_than_its_random_start():
    run = C.search_architectures(fake_score, n_candidates=15, mac_budget=2_000_000, strategy="evolution", population=4, seed=0)
    assert max(c.score for c in run) >= max(c.score for c in run[:4])


def test_search_stops_when_the_space_is_exhausted():
    space = C.ArchSpace(blocks=("dwsep",), widths=(0.5, 1.0), depths=(1,))
    run = C.search_architectures(fake_score, n_candidates=5, space=space, strategy="random", max_draws=200)
    assert len(run) == 2


@FAST
@given(seed=st.integers(0, 10_000))
def test_mutate_changes_exactly_one_dimension(seed):
    rng = random.Random(seed)
    a = C.sample_arch(rng)
    b = C.mutate(a, rng)
    diff = [d for d in ("block", "width", "depth") if getattr(a, d) != getattr(b, d)]
    assert len(diff) == 1


@FAST
@given(pts=st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=25))
def test_pareto_front_is_exactly_the_non_dominated_set(pts):
    costs, scores = [p[0] for p in pts], [p[1] for p in pts]
    front = C.pareto_front(costs, scores)

    def dominated(i):
        return any(costs[j] <= costs[i] and scores[j] >= scores[i] and (costs[j], scores[j]) != (costs[i], scores[i])
                   for j in range(len(pts)))
    assert set(front) == {i for i in range(len(pts)) if not dominated(i)}
    assert [costs[i] for i in front] == sorted(costs[i] for i in front)
    assert front  # the cheapest-best point is always there


def test_pareto_front_example():
    assert C.pareto_front([1, 2, 3, 4], [50, 70, 60, 80]) == [0, 1, 3]


# --- latency ---------------------------------------------------------------------------------------

def test_latency_comparison_reports_macs_and_times():
    threads = torch.get_num_threads()
    r = C.latency_comparison(8, 16, 6, repeats=2)
    assert r["macs_standard"] == C.conv_cost(8, 16, 6, 6).macs
    assert r["mac_ratio"] == pytest.approx(1 / (1 / 16 + 1 / 9))
    assert all(r[f"ms_{n}"] > 0 for n in ("standard", "depthwise", "pointwise", "separable"))
    assert r["speedup"] == pytest.approx(r["ms_standard"] / r["ms_separable"])
    assert torch.get_num_threads() == threads


def test_latency_comparison_reports_a_measured_speedup_range():
    r = C.latency_comparison(8, 16, 6, repeats=6, rounds=3)
    assert 0 < r["speedup_min"] <= r["speedup_median"] <= r["speedup_max"]
    with pytest.raises(ValueError, match="rounds must be <= repeats"):
        C.latency_comparison(8, 16, 6, repeats=2, rounds=3)


def test_latency_ms_is_the_shared_timer():
    assert C.latency_ms is metrics.latency_ms  # one timer, re-exported, never a second implementation


def test_public_names_are_unique_across_the_library():
    """Issue 15: a name means one thing everywhere (compact's search space is ArchSpace, not SearchSpace)."""
    import importlib
    import pkgutil

    import companion
    from companion import decomposition
    others = {}
    for info in pkgutil.walk_packages(companion.__path__, "companion."):
        if info.name.split(".")[1] in ("compact", "decomposition"):
            continue
        try:
            others[info.name] = importlib.import_module(info.name)
        except ImportError:
            continue
    for pkg in (C, decomposition):
        for name in pkg.__all__:
            for modname, mod in others.items():
                if hasattr(mod, name):
                    assert getattr(mod, name) is getattr(pkg, name), f"{pkg.__name__}.{name} vs {modname}.{name}"


def test_latency_ms_is_positive_and_restores_threads():
    threads = torch.get_num_threads()
    ms = C.latency_ms(nn.Conv2d(4, 4, 3), (1, 4, 8, 8), repeats=3, warmup=1, threads=1)
    assert ms > 0 and torch.get_num_threads() == threads


# --- exercises -------------------------------------------------------------------------------------

def test_exercise_solutions_pass_and_wrong_answers_fail(capsys):
    exercises.check("ch2.dwsep_macs", 56 * 56 * 64 * 9 + 56 * 56 * 64 * 128)
    exercises.check("ch2.fire_params", 96 * 16 + 16 + 16 * 64 + 64 + 16 * 64 * 9 + 64)
    exercises.check("ch2.unshuffle", lambda x, g: C.channel_shuffle(x, x.shape[1] // g))
    exercises.check("ch2.width_for_budget", C._exercises._width_for_budget())
    assert capsys.readouterr().out.count("correct!") == 4
    exercises.check("ch2.dwsep_macs", None)
    assert "not answered yet" in capsys.readouterr().out
    with pytest.raises(exercises.ExerciseError):
        exercises.check("ch2.dwsep_macs", 56 * 56 * 64 * 128 * 9)
    with pytest.raises(exercises.ExerciseError):
        exercises.check("ch2.unshuffle", C.channel_shuffle)
    with pytest.raises(exercises.ExerciseError):
        exercises.check("ch2.width_for_budget", 1.0)
    assert {e.id for e in exercises.exercises("ch2")} >= {"ch2.dwsep_macs", "ch2.fire_params", "ch2.unshuffle",
                                                          "ch2.width_for_budget"}


# --- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,match", [
    (lambda: C.conv_cost(6, 4, 8, 8, groups=4), "not divisible by groups"),
    (lambda: C.conv_cost(0, 4, 8, 8), r"c_in must be in \[1, inf\], got 0"),
    (lambda: C.conv_cost(4, 4, 2, 2, k=5, pad=0), "does not fit"),
    (lambda: C.channel_shuffle(torch.zeros(1, 6, 2, 2), 4), "not divisible by groups"),
    (lambda: C.channel_shuffle(torch.zeros(6), 2), "channel dimension"),
    (lambda: C.shuffle_unit_cost(6, 6, 8, 8, groups=4), "divisible by groups"),
    (lambda: C.shuffle_unit_cost(8, 16, 8, 8, stride=1), "c_in must equal c_out"),
    (lambda: C.shuffle_unit_cost(16, 8, 8, 8, stride=2), "c_out > c_in"),
    (lambda: C.ShuffleUnit(6, 6, groups=4), "divisible by groups"),
    (lambda: C.scale_channels(32, 0), "width multiplier"),
    (lambda: C.scale_channels(32, -0.5), "width multiplier"),
    (lambda: C.mobilenet_v1_table(0.0), "width multiplier"),
    (lambda: C.mobilenet_v1_table(float("nan")), "width multiplier"),
    (lambda: C.mobilenet_v1_table(1.0, 16), "resolution"),
    (lambda: C.mobilenet_v1_table(block="dense"), "separable"),
    (lambda: C.ArchConfig("dense"), "block must be one of"),
    (lambda: C.ArchConfig("dwsep", width=0), "width multiplier"),
    (lambda: C.ArchConfig("dwsep", depth=0), "depth"),
    (lambda: C.ArchConfig("shuffle", groups=3), "divisible by groups"),
    (lambda: C.search_architectures(fake_score, strategy="grid"), "strategy"),
    (lambda: C.search_architectures(fake_score, mac_budget=0), "mac_budget"),
    (lambda: C.ArchSpace(widths=(0.5, -1.0)), "width multiplier"),
    (lambda: C.pareto_front([1, 2], [1]), "differ in length"),
    (lambda: C.pareto_front([1, float("nan")], [1, 2]), "NaN"),
    (lambda: C.make_divisible(0), "value"),
    (lambda: C.latency_ms(nn.Identity(), (1, 1), stat="mean"), "stat"),
    (lambda: C.latency_comparison(4, 4, 4, stat="mean"), "stat"),
])
def test_bad_input_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call", [
    lambda: C.conv_cost(4.0, 4, 8, 8),
    lambda: C.conv_cost(True, 4, 8, 8),
    lambda: C.channel_shuffle([[1, 2]], 1),
    lambda: C.scale_channels(32, "1.0"),
    lambda: C.layer_kind("conv1"),
    lambda: C.cost_by_kind("alexnet"),
    lambda: C.CompactCNN({"block": "dwsep"}),
    lambda: C.train_compact("dwsep"),
    lambda: C.search_architectures("accuracy"),
    lambda: C.sample_arch(0),
    lambda: C.latency_ms("conv", (1, 1, 4, 4)),
])
def test_bad_input_type_errors(call):
    with pytest.raises(TypeError):
        call()


# --- caching: every hyper-parameter is in the key ---------------------------------------------------

def test_train_compact_cache_key_holds_every_hyper_parameter(monkeypatch):
    from companion import train
    seen = []
    monkeypatch.setattr(train, "cached_model", lambda spec, make, fit, *, name, code=(): seen.append((spec, name, code))
                        or make())
    cfg = C.ArchConfig("fire", 0.75, 2)
    C.train_compact(cfg, epochs=3, lr=1e-3, batch_size=32, weight_decay=0.0, shift_px=0, seed=5)
    spec, name, code = seen[0]
    assert name == "compact" and spec["compact"] == {f: getattr(cfg, f) for f in spec["compact"]}
    assert spec["train"] == dict(epochs=3, lr=1e-3, batch_size=32, weight_decay=0.0, shift_px=0, lr_schedule="cosine", seed=5)
    # no hand-bumped version: the recipe's and the layout's source are fingerprinted instead
    assert "arch_version" not in spec and not hasattr(C, "ARCH_VERSION")
    assert C.train_compact in code and C.CompactCNN in code and C.ArchConfig in code and C.InvertedResidual in code
    train.canonical_json(spec)


def test_run_search_is_cached_under_a_complete_key(monkeypatch):
    from companion import train
    seen = []
    fake_rows = [{"config": {"block": "dwsep", "width": 1.0, "depth": 1, "expansion": 2, "groups": 2,
                             "squeeze_ratio": 0.25}, "params": 1, "macs": 2, "score": 50.0}]
    monkeypatch.setattr(train, "cached_result", lambda spec, compute, *, name, code=(): seen.append(spec) or fake_rows)
    out = C.run_search(n_candidates=3, mac_budget=10**6, proxy_epochs=1, strategy="random", seed=2)
    assert out == [C.Candidate(C.ArchConfig("dwsep", 1.0, 1), 1, 2, 50.0)]
    nas = seen[0]["nas"]
    assert (nas["n_candidates"], nas["mac_budget"], nas["proxy_epochs"], nas["strategy"], nas["seed"]) == (
        3, 10**6, 1, "random", 2)
    assert nas["space"]["widths"] == C.ArchSpace().widths


def test_proxy_score_refuses_the_test_split():
    with pytest.raises(ValueError, match="test split"):
        C.arch_proxy_score(C.ArchConfig(), split="test")


def test_training_thread_count_is_fixed_and_restored():
    before = torch.get_num_threads()
    with C.networks._num_threads(C.TRAIN_THREADS):
        assert torch.get_num_threads() == C.TRAIN_THREADS
    assert torch.get_num_threads() == before
