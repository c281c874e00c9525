"""Tests of companion.sparsity: unit, property (hypothesis), oracle (torch.nn.utils.prune,
torch.sparse) and bad-input tests."""
import copy

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn
from torch.nn.utils import prune as torch_prune

from companion import exercises, metrics, models, sparsity as sp

SMALL = settings(max_examples=25, deadline=None)


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# --- magnitude masks ----------------------------------------------------------------------------

@SMALL
@given(shape=st.lists(st.integers(1, 9), min_size=1, max_size=4), s=st.floats(0, 0.999), seed=st.integers(0, 99))
def test_magnitude_mask_matches_torch_prune_oracle(shape, s, seed):
    w = rand(*shape, seed=seed)
    lin = nn.Module()
    lin.weight = nn.Parameter(w.clone())
    torch_prune.l1_unstructured(lin, "weight", amount=s)
    assert torch.equal(sp.magnitude_mask(w, s), lin.weight_mask.bool())


@SMALL
@given(shape=st.lists(st.integers(1, 12), min_size=1, max_size=3), s=st.floats(0, 0.999), seed=st.integers(0, 99))
def test_magnitude_mask_exact_count_and_threshold(shape, s, seed):
    w = rand(*shape, seed=seed)
    m = sp.magnitude_mask(w, s)
    assert m.shape == w.shape and m.dtype == torch.bool
    assert int((~m).sum()) == round(s * w.numel())
    if m.any() and (~m).any():
        assert w.abs()[m].min() >= w.abs()[~m].max()


def test_magnitude_mask_ties_are_deterministic():
    w = torch.ones(2, 3)
    m = sp.magnitude_mask(w, 0.5)
    assert m.tolist() == [[False, False, False], [True, True, True]]  # lower index pruned first
    assert torch.equal(m, sp.magnitude_mask(w, 0.5))


def test_magnitude_mask_small_example():
    w = torch.tensor([[0.1, -2.0], [0.5, -0.05]])
    assert sp.magnitude_mask(w, 0.5).tolist() == [[False, True], [True, False]]
    assert sp.magnitude_mask(w, 0.0).all()


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan")])
def test_magnitude_mask_rejects_bad_sparsity(bad):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        sp.magnitude_mask(torch.ones(4), bad)


def test_magnitude_mask_rejects_bad_types():
    with pytest.raises(TypeError):
        sp.magnitude_mask([1.0, 2.0], 0.5)
    with pytest.raises(TypeError):
        sp.magnitude_mask(torch.ones(4), "half")
    with pytest.raises(ValueError):
        sp.magnitude_mask(torch.ones(0), 0.5)


def test_global_masks_use_one_threshold():
    a, b = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([10.0, 20.0])
    m = sp.global_magnitude_masks({"a": a, "b": b}, 0.6)
    assert m["a"].tolist() == [False, False, False] and m["b"].tolist() == [True, True]


# --- prune_, bake_, masks -------------------------------------------------------------------------

def test_prune_layer_scope_exact_per_layer_and_masks():
    model = models.build("lenet300", seed=0)
    sp.prune_(model, {"fc1": 0.9, "fc2": 0.5})
    sps = sp.layer_sparsities(model)
    assert sps["fc1"] == pytest.approx(0.9, abs=1e-5) and sps["fc2"] == 0.5 and sps["fc3"] == 0.0
    assert set(sp.masks(model)) == {"fc1", "fc2"}
    assert torch.equal(sp.masks(model)["fc1"], model.fc1.weight != 0)


def test_prune_global_scope_single_threshold():
    model = models.build("lenet300", seed=0)
    sp.prune_(model, 0.8, scope="global")
    w = torch.cat([m.weight.detach().reshape(-1) for m in sp.prunable_layers(model).values()])
    assert int((w == 0).sum()) == round(0.8 * w.numel())
    with pytest.raises(ValueError, match="global"):
        sp.prune_(model, {"fc1": 0.5}, scope="global")


def test_pruned_weights_stay_zero_after_training_steps():
    torch.manual_seed(0)
    model = models.LeNet300(hidden=(32, 16))
    start = model.fc1.weight.detach().clone()
    sp.prune_(model, 0.7)
    before = {k: v.clone() for k, v in sp.masks(model).items()}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    for _ in range(3):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for n, m in sp.prunable_layers(model).items():
        assert torch.all(m.weight[~before[n]] == 0)
        assert torch.all(m.parametrizations.weight.original.grad[~before[n]] == 0)
    # the kept weights did move
    assert not torch.equal(model.fc1.parametrizations.weight.original[before["fc1"]], start[before["fc1"]])


def test_bake_keeps_zeros_and_function():
    model = models.build("lenet5", seed=1)
    sp.prune_(model, 0.6)
    x = torch.randn(4, 1, 28, 28)
    y = model(x)
    sp.bake_masks_(model)
    assert sp.masks(model) == {}
    assert not any(k for k in model.state_dict() if "parametrizations" in k)
    assert torch.allclose(model(x), y)
    assert sp.layer_sparsities(model)["conv2"] == pytest.approx(0.6, abs=1e-4)
    # loads into a plain model of the same architecture
    fresh = models.build("lenet5", seed=0)
    fresh.load_state_dict(model.state_dict())


def test_prune_again_is_monotone_and_reuses_parametrization():
    model = models.build("lenet300", seed=0)
    sp.prune_(model, 0.5)
    first = sp.masks(model)["fc2"]
    orig = model.fc2.parametrizations.weight.original
    sp.prune_(model, 0.8)
    second = sp.masks(model)["fc2"]
    assert torch.all(first | ~second)  # nothing revived
    assert model.fc2.parametrizations.weight.original is orig
    assert len(model.fc2.parametrizations.weight) == 1


def test_prune_bad_inputs():
    model = models.build("lenet300", seed=0)
    with pytest.raises(ValueError, match=r"unknown layer.*'fc9'.*\['fc1', 'fc2', 'fc3'\]"):
        sp.prune_(model, {"fc9": 0.5})
    with pytest.raises(ValueError, match="unknown layer"):
        sp.prune_(model, 0.5, layers=["conv1"])
    with pytest.raises(ValueError, match="scope"):
        sp.prune_(model, 0.5, scope="row")
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        sp.prune_(model, {"fc1": 1.0})
    with pytest.raises(TypeError):
        sp.prune_("model", 0.5)


def test_weight_ratio():
    model = models.build("lenet300", seed=0)
    sp.prune_(model, 0.9)
    total = sum(m.weight.numel() for m in sp.prunable_layers(model).values())
    nz = sum(int((m.weight != 0).sum()) for m in sp.prunable_layers(model).values())
    assert sp.weight_ratio(model) == pytest.approx(total / nz)
    assert sp.weight_ratio(model, include_bias=True) < sp.weight_ratio(model)


# --- schedules --------------------------------------------------------------------------------------

def test_polynomial_schedule_endpoints_and_shape():
    f = lambda t: sp.polynomial_schedule(t, 0.9, begin_step=10, end_step=110)
    assert f(0) == 0.0 and f(10) == 0.0 and f(110) == pytest.approx(0.9) and f(500) == pytest.approx(0.9)
    assert f(60) == pytest.approx(0.9 * (1 - 0.5 ** 3))
    vals = [f(t) for t in range(0, 120, 5)]
    assert all(a <= b for a, b in zip(vals, vals[1:]))
    with pytest.raises(ValueError):
        sp.polynomial_schedule(5, 0.9, begin_step=10, end_step=10)


def test_geometric_schedule():
    s = sp.geometric_schedule(0.96, 2)
    assert s[-1] == pytest.approx(0.96) and s[0] == pytest.approx(0.8)
    with pytest.raises(ValueError):
        sp.geometric_schedule(0.9, 0)


def test_iterative_and_gradual_prune_reach_targets(monkeypatch):
    # tiny training split: the loop logic, not the accuracy, is under test
    from companion import train
    x, y = train._as_xy("train")
    small = (x[:128], y[:128])
    real_fit = train.fit
    monkeypatch.setattr(train, "fit", lambda m, **kw: real_fit(m, **{**kw, "train_data": small}))
    monkeypatch.setattr(train, "_as_xy", lambda s: small if s == "train" else (x[:64], y[:64]))
    model = models.build("lenet300", seed=0)
    hist = sp.iterative_prune(model, {"fc1": 0.9, "fc2": 0.5}, steps=2, epochs_per_step=1, progress=False)
    assert len(hist) == 2 and hist[-1]["sparsity"]["fc1"] == pytest.approx(0.9)
    assert sp.layer_sparsities(model)["fc1"] == pytest.approx(0.9, abs=1e-5)
    # typed rows that still read like the dicts they replaced, and a frame with one column per layer
    assert all(isinstance(r, sp.PruneRound) for r in hist) and hist[0].step == 1
    assert hist[-1].ratio == pytest.approx(sp.weight_ratio(model))
    frame = hist.to_frame()
    assert list(frame.columns) == ["step", "sparsity.fc1", "sparsity.fc2", "ratio", "acc_pruned", "acc_retrained"]
    assert frame["sparsity.fc1"].iloc[-1] == pytest.approx(0.9)
    model = models.build("lenet300", seed=0)
    log = sp.gradual_prune_(model, 0.8, epochs=2, frequency=1, progress=False)
    assert all(isinstance(r, sp.GradualStep) for r in log)
    assert log[0]["sparsity"]["fc1"] < log[-1]["sparsity"]["fc1"]
    assert all(v == pytest.approx(0.8, abs=1e-4) for v in sp.layer_sparsities(model).values())


# --- structured -------------------------------------------------------------------------------------

def test_channel_norms_and_select():
    w = torch.zeros(4, 2, 3, 3)
    w[0] += 1.0
    w[2] += 3.0
    w[3] -= 2.0
    assert sp.channel_norms(w).tolist() == [18.0, 0.0, 54.0, 36.0]
    assert sp.select_channels(w, 0.5).tolist() == [2, 3]
    with pytest.raises(ValueError):
        sp.channel_norms(torch.ones(3))


@pytest.mark.parametrize("name,plan", [("lenet5", {"conv1": 0.5, "conv2": 0.6, "fc1": 0.7}),
                                       ("lenet300", {"fc1": 0.5, "fc2": 0.3}),
                                       ("cnn", {"conv2": 0.5, "conv4": 0.25})])
def test_prune_channels_equals_zeroed_network(name, plan):
    model = models.build(name, seed=3).eval()
    small = sp.prune_channels(model, plan)
    keep = {n: sp.select_channels(sp.prunable_layers(model)[n].weight, s) for n, s in plan.items()}
    twin = sp.zero_channels_(copy.deepcopy(model), keep)
    x = torch.randn(5, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(small(x), twin(x), atol=1e-5)
    layers = sp.prunable_layers(small)
    for n, idx in keep.items():
        assert layers[n].weight.shape[0] == len(idx)
    assert metrics.measure_macs(small) < metrics.measure_macs(model)
    assert metrics.count_params(small) < metrics.count_params(model)


def test_prune_channels_keeps_function_of_kept_channels():
    model = models.build("lenet5", seed=0).eval()
    small = sp.prune_channels(model, {"conv1": 0.5})
    idx = sp.select_channels(model.conv1.weight, 0.5)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(small.conv1(x), model.conv1(x)[:, idx], atol=1e-6)
    assert model.conv1.out_channels == 20  # original untouched


def test_prune_channels_bad_inputs():
    model = models.build("lenet5", seed=0)
    with pytest.raises(ValueError, match="classifier"):
        sp.prune_channels(model, {"fc2": 0.5})
    with pytest.raises(ValueError, match="unknown layer"):
        sp.prune_channels(model, {"conv9": 0.5})
    with pytest.raises(ValueError):
        sp.prune_channels(model, 1.2)


def test_group_lasso_penalty():
    model = models.build("lenet300", seed=0)
    pen = sp.group_lasso_penalty(0.1)(model)
    want = 0.1 * (model.fc1.weight.norm(dim=1).sum() + model.fc2.weight.norm(dim=1).sum())
    assert torch.allclose(pen, want)
    pen.backward()
    assert model.fc1.weight.grad is not None and model.fc3.weight.grad is None
    with pytest.raises(ValueError):
        sp.group_lasso_penalty(-1.0)
    with pytest.raises(ValueError, match="unknown layer"):
        sp.group_lasso_penalty(0.1, ["nope"])(model)


# --- N:M ----------------------------------------------------------------------------------------------

@SMALL
@given(rows=st.integers(1, 6), groups=st.integers(1, 5), nm=st.sampled_from([(1, 2), (2, 4), (1, 4), (4, 8), (3, 3)]),
       seed=st.integers(0, 50))
def test_nm_mask_property(rows, groups, nm, seed):
    n, m = nm
    w = rand(rows, groups * m, seed=seed)
    mask = sp.nm_mask(w, n, m)
    g = mask.reshape(-1, m)
    assert torch.all(g.sum(1) == n)
    kept, dropped = w.abs().reshape(-1, m), w.abs().reshape(-1, m)
    for i in range(g.shape[0]):
        if (~g[i]).any():
            assert kept[i][g[i]].min() >= dropped[i][~g[i]].max()


def test_nm_mask_conv_and_errors():
    w = rand(3, 4, 3, 3)  # K = 36, divisible by 4
    assert sp.sparsity_of(w * sp.nm_mask(w, 2, 4)) == 0.5
    with pytest.raises(ValueError, match="n <= m"):
        sp.nm_mask(w, 5, 4)
    with pytest.raises(ValueError, match="divisible"):
        sp.nm_mask(rand(2, 6), 2, 4)
    with pytest.raises(ValueError):
        sp.nm_mask(w, 0, 4)


def test_prune_nm_model():
    model = models.build("lenet300", seed=0)
    sp.prune_nm_(model, 2, 4)
    assert set(sp.masks(model)) == {"fc1", "fc2", "fc3"}
    assert all(v == 0.5 for v in sp.layer_sparsities(model).values())


# --- activation sparsity ------------------------------------------------------------------------------

def test_activation_and_input_sparsity():
    model = models.build("lenet300", seed=0).eval()
    x = torch.randn(32, 1, 28, 28)
    act = sp.activation_sparsity(model, x)
    assert set(act) == {"fc1", "fc2"}
    h = torch.relu(model.fc1(x.flatten(1)))
    assert act["fc1"] == pytest.approx(float((h == 0).float().mean()))
    inp = sp.input_sparsity(model, x)
    assert inp["fc2"] == pytest.approx(act["fc1"])
    assert 0 <= inp["fc1"] < 0.01


# --- formats --------------------------------------------------------------------------------------------

@SMALL
@given(r=st.integers(1, 8), c=st.integers(1, 8), s=st.floats(0, 0.99), seed=st.integers(0, 99))
def test_csr_csc_round_trip_and_torch_oracle(r, c, s, seed):
    w = rand(r, c, seed=seed)
    w = w * sp.magnitude_mask(w, s)
    csr = sp.csr_encode(w)
    ref = w.to_sparse_csr()
    assert torch.equal(csr.ptr, ref.crow_indices()) and torch.equal(csr.indices, ref.col_indices())
    assert torch.equal(csr.values, ref.values())
    assert torch.equal(sp.csr_decode(csr), w)
    csc = sp.csc_encode(w)
    ref_c = w.to_sparse_csc()
    assert torch.equal(csc.ptr, ref_c.ccol_indices()) and torch.equal(csc.indices, ref_c.row_indices())
    assert torch.equal(sp.csc_decode(csc), w) and torch.equal(sp.csr_decode(csc), w)


def test_csr_size_bits_by_hand():
    w = torch.tensor([[0.0, 2.0, 0.0, 0.0], [1.0, 0.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0]])
    csr = sp.csr_encode(w)
    # 3 values x 32 + 3 column indices x 2 bits (4 columns) + 4 row pointers x 2 bits (0..3)
    assert sp.csr_size_bits(csr) == 3 * 32 + 3 * 2 + 4 * 2
    assert sp.csr_size_bits(csr, 8, index_bits=16, pointer_bits=16) == 3 * 8 + 3 * 16 + 4 * 16
    assert sp.sparse_size_bits(w, "dense") == 12 * 32
    assert sp.sparse_size_bits(w, "bitmask") == 12 + 3 * 32


def test_relative_index_deep_compression_example():
    # Han et al. 2016, Fig. 2 style: 3-bit gaps, a run of 9 zeros needs one padding zero
    t = torch.tensor([0.0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5])
    v, g = sp.relative_index_encode(t, 3)
    assert v.tolist() == [3.0, 0.0, 5.0] and g.tolist() == [1, 7, 1]
    assert torch.equal(sp.relative_index_decode(v, g, len(t)), t)
    assert sp.relative_index_size_bits(v, g, 32, 3) == 3 * 35
    # exactly 2**b - 1 zeros fit without padding; 2**b need one
    assert sp.relative_index_encode(torch.tensor([0.0] * 7 + [1.0]), 3)[1].tolist() == [7]
    assert sp.relative_index_encode(torch.tensor([0.0] * 8 + [1.0]), 3)[1].tolist() == [7, 0]


@SMALL
@given(n=st.integers(1, 300), s=st.floats(0, 0.999), bits=st.integers(1, 8), seed=st.integers(0, 99))
def test_relative_index_round_trip_and_gap_bound(n, s, bits, seed):
    w = rand(n, seed=seed)
    w = w * sp.magnitude_mask(w, s)
    v, g = sp.relative_index_encode(w, bits)
    assert torch.equal(sp.relative_index_decode(v, g, n), w)
    assert g.numel() == 0 or int(g.max()) <= 2 ** bits - 1
    assert int((v != 0).sum()) == int((w != 0).sum())
    # a loop-based reference encoder
    ref_v, ref_g, run = [], [], 0
    for x in w.tolist():
        if x == 0:
            run += 1
            continue
        while run > 2 ** bits - 1:
            ref_v.append(0.0)
            ref_g.append(2 ** bits - 1)
            run -= 2 ** bits
        ref_v.append(x)
        ref_g.append(run)
        run = 0
    assert v.tolist() == ref_v and g.tolist() == ref_g


def test_relative_index_integer_values_and_errors():
    t = torch.tensor([0, 0, 7, 0, 2], dtype=torch.int64)
    v, g = sp.relative_index_encode(t, 2)
    assert v.dtype == torch.int64 and torch.equal(sp.relative_index_decode(v, g, 5), t)
    with pytest.raises(ValueError, match="index_bits"):
        sp.relative_index_encode(t, 0)
    with pytest.raises(ValueError):
        sp.relative_index_decode(v, g, 2)
    with pytest.raises(ValueError):
        sp.relative_index_decode(v, g[:-1])
    assert sp.relative_index_encode(torch.zeros(5), 3)[0].numel() == 0


def test_sparse_storage_of_model_and_formats():
    model = models.build("lenet300", seed=0)
    sp.prune_(model, 0.9)
    sp.bake_masks_(model)
    for fmt in sp.FORMATS:
        rows = sp.sparse_storage(model, fmt)
        assert [r.name for r in rows] == ["fc1", "fc2", "fc3"]
        assert all(isinstance(r, metrics.LayerStorage) for r in rows)
    dense = sum(r.bits for r in sp.sparse_storage(model, "dense"))
    assert dense == metrics.model_size_bits(model)
    csr = sum(r.bits for r in sp.sparse_storage(model, "csr"))
    assert csr < dense / 4
    with pytest.raises(ValueError, match="unknown format"):
        sp.sparse_size_bits(model.fc1.weight, "coo")


# --- analysis, speed, exercises -----------------------------------------------------------------------

def test_sparsities_from_sensitivity():
    sweep = {"a": [97.0, 96.9, 95.0, 96.9], "b": [90.0, 80.0, 70.0, 60.0]}
    got = sp.sparsities_from_sensitivity(sweep, [0.5, 0.7, 0.9, 0.95], 97.0, 0.5)
    assert got == {"a": 0.7, "b": 0.0}
    with pytest.raises(ValueError):
        sp.sparsities_from_sensitivity({"a": [1.0]}, [0.5, 0.6], 97.0, 0.5)


def test_time_sparse_linear_runs():
    rows = sp.time_sparse_linear(16, 32, [0.5, 0.9], [1, 4], repeats=3)
    assert len(rows) == 4 and all(r["dense_us"] > 0 and r["sparse_us"] > 0 for r in rows)
    assert rows[2]["ideal"] == pytest.approx(10.0)


def test_exercises_registered_and_solutions_pass():
    ids = {e.id for e in exercises.exercises("ch5")}
    assert {"ch5.magnitude_mask", "ch5.csr_bits", "ch5.padding_zeros"} <= ids
    exercises.check("ch5.magnitude_mask", sp.magnitude_mask)  # raises when wrong
    with pytest.raises(exercises.ExerciseError):
        exercises.check("ch5.magnitude_mask", lambda w, s: torch.ones_like(w, dtype=torch.bool))
    exercises.check("ch5.csr_bits", None)  # an unanswered stub only prints a reminder
    exercises.check("ch5.csr_bits", sp.csr_size_bits(sp.csr_encode(sp.EXERCISE_MATRIX)))
    exercises.check("ch5.padding_zeros", 8)
    with pytest.raises(exercises.ExerciseError):
        exercises.check("ch5.padding_zeros", 7)


def test_recipes_reject_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        sp.pruned_model("lenet300", 0.9, method="random")
    with pytest.raises(ValueError, match="multiple"):
        sp.pruned_model("lenet300", 0.9, method="iterative", epochs=4, steps=3)
    with pytest.raises(ValueError, match="base_key"):
        sp.channel_pruned_model("lenet5", 0.5, base=models.build("lenet5"))


def test_pruned_model_is_cached_and_baked(tmp_cache, monkeypatch):
    from companion import train
    monkeypatch.setattr(train, "baseline", lambda name, seed=0, progress=True: models.build(name, seed=seed))
    m = sp.pruned_model("lenet300", {"fc1": 0.9}, method="one-shot", epochs=0, progress=False)
    assert sp.masks(m) == {} and sp.layer_sparsities(m)["fc1"] == pytest.approx(0.9, abs=1e-5)
    again = sp.pruned_model("lenet300", {"fc1": 0.9}, method="one-shot", epochs=0, progress=False)
    assert torch.equal(again.fc1.weight, m.fc1.weight)
    assert len(list(tmp_cache.glob("pruned-lenet300-*.pt"))) == 1


def test_docstring_examples():
    import doctest
    import importlib
    attempted = 0
    for mod in ("masks", "schedules", "structured", "analysis", "formats"):
        result = doctest.testmod(importlib.import_module(f"companion.sparsity.{mod}"),
                                 optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, mod
        attempted += result.attempted
    assert attempted >= 8
