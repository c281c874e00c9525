"""Tests of companion.decomposition: oracles (dense layers, TensorLy, PyTorch), closed forms,
monotone error curves, hypothesis properties and bad input."""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from companion import decomposition as d, exercises, metrics, models

torch.set_default_dtype(torch.float32)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- truncated SVD --------------------------------------------------------------------------

def test_svd_full_rank_reproduces_linear():
    lin = nn.Linear(12, 7)
    low = d.LowRankLinear.from_linear(lin, 7)
    x = torch.randn(5, 12, generator=_gen())
    torch.testing.assert_close(low(x), lin(x), atol=1e-5, rtol=1e-5)


def test_svd_is_eckart_young_optimal():
    w = torch.randn(9, 6, generator=_gen(), dtype=torch.float64)
    s = torch.linalg.svdvals(w)
    for r in range(1, 6):
        a, b = d.truncated_svd(w, r)
        err = torch.linalg.norm(w - a @ b)
        assert math.isclose(float(err), float(s[r:].pow(2).sum().sqrt()), rel_tol=1e-9, abs_tol=1e-12)


def test_svd_params_and_macs_match_module():
    lin = nn.Linear(30, 20)
    low = d.LowRankLinear.from_linear(lin, 4)
    assert sum(p.numel() for n, p in low.named_parameters() if "bias" not in n) == d.svd_params(20, 30, 4) == 200
    cost = metrics.measure_layers(nn.Sequential(low), (1, 30))[0]
    assert cost.macs == d.svd_macs(20, 30, 4) and cost.weights == 200 and cost.bias == 20


def test_rank_for_energy_and_compression():
    s = torch.tensor([3.0, 2.0, 1.0, 0.0])  # energies 9, 4, 1 of 14
    assert d.rank_for_energy(s, 9 / 14) == 1
    assert d.rank_for_energy(s, 0.65) == 2
    assert d.rank_for_energy(s, 1.0) == 3
    assert d.rank_for_compression(500, 800, 10) == 30  # 30·1300 = 39,000 ≤ 40,000 < 31·1300
    w = torch.randn(50, 40, generator=_gen())
    assert d.choose_svd_rank(w, rank=5) == 5
    assert d.choose_svd_rank(w, compression=4) == d.rank_for_compression(50, 40, 4)
    assert 1 <= d.choose_svd_rank(w, energy=0.5) <= 40


@settings(max_examples=15, deadline=None)
@given(m=st.integers(2, 12), n=st.integers(2, 12), seed=st.integers(0, 1000))
def test_svd_error_non_increasing_property(m, n, seed):
    w = torch.randn(m, n, generator=_gen(seed), dtype=torch.float64)
    errs = d.error_vs_rank(w, "svd", range(1, min(m, n) + 1))
    assert all(b <= a + 1e-12 for a, b in zip(errs, errs[1:]))
    assert errs[-1] < 1e-10


# --- CP --------------------------------------------------------------------------------------

def test_cp_chain_equals_conv_with_reconstructed_kernel():
    conv = nn.Conv2d(5, 7, (3, 2), stride=(2, 1), padding=(1, 1))
    cp = d.CPConv2d.from_conv(conv, 4, n_iter_max=50)
    dense = nn.Conv2d(5, 7, (3, 2), stride=(2, 1), padding=(1, 1))
    with torch.no_grad():
        dense.weight.copy_(cp.dense_weight())
        dense.bias.copy_(conv.bias)
    x = torch.randn(2, 5, 9, 8, generator=_gen())
    torch.testing.assert_close(cp(x), dense(x), atol=1e-5, rtol=1e-4)


def test_cp_recovers_exact_low_rank_kernel():
    g = _gen(1)
    factors = [torch.randn(n, 3, generator=g, dtype=torch.float64) for n in (6, 5, 3, 3)]
    kernel = d.cp_reconstruct(factors)
    approx = d.cp_reconstruct(d.cp_conv(kernel, 3, n_iter_max=500))
    assert d.relative_error(kernel, approx) < 1e-4


def test_cp_full_rank_bound_reproduces_layer():
    conv = nn.Conv2d(2, 3, 2)
    full = d.cp_max_rank(conv.weight.shape)  # 2·3·2·2 / 3 = 8
    assert full == 8
    cp = d.CPConv2d.from_conv(conv, full, n_iter_max=2000)
    x = torch.randn(2, 2, 5, 5, generator=_gen())
    torch.testing.assert_close(cp(x), conv(x), atol=1e-3, rtol=1e-3)


def test_cp_params_macs_closed_form():
    conv = nn.Conv2d(6, 10, 3, padding=1)
    cp = d.CPConv2d.from_conv(conv, 5, n_iter_max=20)
    w = sum(p.numel() for n, p in cp.named_parameters() if "bias" not in n)
    assert w == d.cp_conv_params(10, 6, 3, 3, 5) == 5 * (6 + 3 + 3 + 10)
    cost = metrics.measure_layers(nn.Sequential(cp), (1, 6, 8, 8))[0]
    # the four convs counted one by one
    assert cost.macs == 5 * 6 * 64 + 5 * 3 * 64 + 5 * 3 * 64 + 10 * 5 * 64 == d.cp_conv_macs(
        10, 6, 3, 3, 5, (8, 8), (8, 8), (8, 8))


def test_cp_errors_decrease_with_rank():
    kernel = torch.randn(8, 6, 3, 3, generator=_gen(2), dtype=torch.float64)
    errs = d.error_vs_rank(kernel, "cp", [1, 4, 12, 24], n_iter_max=100)
    assert all(b <= a + 1e-3 for a, b in zip(errs, errs[1:]))  # ALS: non-increasing up to tolerance


# --- Tucker-2 --------------------------------------------------------------------------------

def test_tucker2_full_rank_reproduces_conv():
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1)
    t = d.Tucker2Conv2d.from_conv(conv, (6, 4))
    x = torch.randn(3, 4, 9, 7, generator=_gen())
    torch.testing.assert_close(t(x), conv(x), atol=1e-5, rtol=1e-4)


def test_tucker2_chain_equals_conv_with_reconstructed_kernel_and_tensorly():
    import tensorly as tl
    from tensorly.decomposition import partial_tucker
    conv = nn.Conv2d(8, 10, 3, padding=1)
    t = d.Tucker2Conv2d.from_conv(conv, (4, 3))
    x = torch.randn(2, 8, 6, 6, generator=_gen())
    ref = nn.functional.conv2d(x, t.dense_weight(), conv.bias, padding=1)
    torch.testing.assert_close(t(x), ref, atol=1e-5, rtol=1e-4)
    backend_before = tl.get_backend()
    with tl.backend_context("pytorch"):
        (core, factors), _ = partial_tucker(conv.weight.detach().double(), rank=[4, 3], modes=[0, 1],
                                            init="svd", n_iter_max=100, tol=1e-8)
        oracle = tl.tenalg.multi_mode_dot(core, factors, modes=[0, 1])
    assert tl.get_backend() == backend_before  # our calls never change the global backend
    assert abs(d.relative_error(conv.weight, t.dense_weight()) - d.relative_error(conv.weight, oracle)) < 1e-5


def test_tucker2_params_macs_closed_form():
    conv = nn.Conv2d(8, 12, 3)
    t = d.Tucker2Conv2d.from_conv(conv, (5, 4))
    w = sum(p.numel() for n, p in t.named_parameters() if "bias" not in n)
    assert w == d.tucker2_params(12, 8, 3, 3, 5, 4) == 8 * 4 + 5 * 4 * 9 + 5 * 12
    cost = metrics.measure_layers(nn.Sequential(t), (1, 8, 10, 10))[0]
    assert cost.macs == d.tucker2_macs(12, 8, 3, 3, 5, 4, (10, 10), (8, 8)) == 4 * 8 * 100 + (5 * 4 * 9 + 12 * 5) * 64


def test_tucker2_error_non_increasing_and_energy_ranks():
    kernel = torch.randn(10, 8, 3, 3, generator=_gen(3), dtype=torch.float64)
    errs = d.error_vs_rank(kernel, "tucker2", [1, 2, 4, 6, 8, 10])
    assert all(b <= a + 1e-9 for a, b in zip(errs, errs[1:]))
    assert errs[-1] < 1e-10
    assert d.tucker2_ranks_for_energy(kernel, 1.0) == (10, 8)
    r_out, r_in = d.tucker2_ranks_for_energy(kernel, 0.5)
    assert 1 <= r_out < 10 and 1 <= r_in < 8


# --- tensor train ----------------------------------------------------------------------------

def test_factorize():
    assert d.factorize(784, 4) == (7, 7, 4, 4)
    assert math.prod(d.factorize(300, 4)) == 300
    with pytest.raises(ValueError, match="does not factor"):
        d.factorize(7, 2)


def test_tt_full_rank_is_exact_and_matches_tensorly():
    import tensorly as tl
    from tensorly.tt_matrix import tt_matrix_to_tensor
    w = torch.randn(12, 20, generator=_gen(), dtype=torch.float64)
    full = d.tt_max_ranks((4, 5), (3, 4))
    cores = d.tt_matrix(w, (4, 5), (3, 4), full)
    assert d.relative_error(w, d.tt_to_matrix(cores)) < 1e-12
    with tl.backend_context("pytorch"):
        oracle = tt_matrix_to_tensor(cores).reshape(12, 20)
    torch.testing.assert_close(d.tt_to_matrix(cores), oracle)


@settings(max_examples=12, deadline=None)
@given(in_modes=st.lists(st.integers(1, 4), min_size=2, max_size=3), seed=st.integers(0, 1000),
       rank=st.integers(1, 5), batch=st.integers(1, 3))
def test_tt_matvec_equals_dense_property(in_modes, seed, rank, batch):
    out_modes = [m % 3 + 1 for m in in_modes]
    layer = d.TTLinear(in_modes, out_modes, rank, seed=seed)
    with torch.no_grad():
        layer.bias.normal_(generator=_gen(seed))
    x = torch.randn(batch, math.prod(in_modes), generator=_gen(seed + 1))
    ref = x @ layer.dense_weight().T + layer.bias
    torch.testing.assert_close(layer(x), ref, atol=1e-5, rtol=1e-4)


def test_ttlinear_from_linear_full_rank_and_counts():
    lin = nn.Linear(24, 12)
    full = d.tt_max_ranks((2, 3, 4), (2, 3, 2))
    tt = d.TTLinear.from_linear(lin, (2, 3, 4), (2, 3, 2), full)
    x = torch.randn(4, 24, generator=_gen())
    torch.testing.assert_close(tt(x), lin(x), atol=1e-5, rtol=1e-4)
    small = d.TTLinear.from_linear(lin, (2, 3, 4), (2, 3, 2), 2)
    w = sum(c.numel() for c in small.cores)
    assert w == d.tt_params((2, 3, 4), (2, 3, 2), 2) == 1 * 2 * 2 * 2 + 2 * 3 * 3 * 2 + 2 * 2 * 4 * 1
    cost = metrics.measure_layers(nn.Sequential(small), (1, 24))[0]
    assert cost.macs == d.tt_macs((2, 3, 4), (2, 3, 2), 2) and cost.weights == w and cost.bias == 12
    # MAC formula: step k costs (∏_{j≤k} m_j)(∏_{j>k} n_j) r_{k-1} n_k r_k
    assert d.tt_macs((2, 3, 4), (2, 3, 2), 2) == 2 * 12 * 1 * 2 * 2 + 6 * 4 * 2 * 3 * 2 + 12 * 1 * 2 * 4 * 1


def test_tt_error_non_increasing_with_rank():
    w = torch.randn(12, 16, generator=_gen(4), dtype=torch.float64)
    errs = d.error_vs_rank(w, "tt", [1, 2, 4, 8, 12], in_modes=(4, 4), out_modes=(3, 4))
    assert all(b <= a + 1e-12 for a, b in zip(errs, errs[1:]))
    assert errs[-1] < 1e-12


def test_ttlinear_trains_from_scratch():
    layer = d.TTLinear((4, 4), (2, 3), 3, seed=1)
    w = layer.dense_weight().detach()
    assert 0.3 < float(w.std() * math.sqrt(3 * 16)) < 3  # roughly nn.Linear's init scale
    x = torch.randn(64, 16, generator=_gen())
    target = x @ torch.randn(16, 6, generator=_gen(1))
    opt = torch.optim.Adam(layer.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        loss = nn.functional.mse_loss(layer(x), target)
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < first


# --- model level -----------------------------------------------------------------------------

def test_decompose_model_plan_and_original_unchanged():
    from companion import models
    torch.manual_seed(0)
    model = models.LeNet5(channels=(4, 6), hidden=12).eval()  # small: the plan logic, not the sizes, is tested
    before = {k: v.clone() for k, v in model.state_dict().items()}
    dm = d.decompose(model, {"conv1": d.CP(4, n_iter_max=20), "conv2": d.Tucker2(6, 4), "fc1": d.SVD(rank=12),
                             "fc2": d.SVD(energy=0.99)})
    assert isinstance(dm.conv2, d.Tucker2Conv2d) and isinstance(dm.fc1, d.LowRankLinear)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    x = torch.randn(2, 1, 28, 28, generator=_gen())
    # conv2 (full Tucker rank) and fc1 (full SVD rank) are exact: replace only those and compare
    exact = d.decompose(model, {"conv2": d.Tucker2(6, 4), "fc1": d.SVD(rank=12)})
    torch.testing.assert_close(exact(x), model(x), atol=1e-4, rtol=1e-4)
    names = [l.name for l in metrics.measure_layers(dm)]
    assert names == ["conv1", "conv2", "fc1", "fc2"]
    tt = d.decompose(models.build("lenet300"), {"fc1": d.TT((4, 7, 4, 7), (3, 4, 5, 5), 8)})
    assert sum(p.numel() for p in tt.fc1.parameters()) == d.tt_params((4, 7, 4, 7), (3, 4, 5, 5), 8) + 300


def test_latency_and_diagrams():
    assert d.measure_latency_ms(nn.Linear(8, 4), (1, 8), repeats=3, warmup=1) > 0
    fig = d.tensor_network_figure()
    assert len(fig.axes) == 5
    with pytest.raises(ValueError, match="unknown format"):
        d.draw_tensor_network(fig.axes[0], "mps")


def test_exercises_registered_and_solvable():
    ids = [e.id for e in exercises.exercises("ch3")]
    assert {"ch3.tt_params", "ch3.svd_budget", "ch3.tt_matvec"} <= set(ids)
    exercises.check("ch3.tt_params", 1 * 4 * 4 * 6 + 6 * 4 * 8 * 6 + 6 * 4 * 8 * 6 + 6 * 4 * 4)  # raises if wrong
    exercises.check("ch3.svd_budget", 30)
    with pytest.raises(exercises.ExerciseError):
        exercises.check("ch3.svd_budget", 31)
    exercises.check("ch3.tt_matvec", lambda x, cores: x @ d.tt_to_matrix(cores).T)
    with pytest.raises(exercises.ExerciseError):
        exercises.check("ch3.tt_matvec", lambda x, cores: x @ d.tt_to_matrix(cores[::-1]).T[:, :0])


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("call, match", [
    (lambda: d.truncated_svd(torch.randn(4, 3), 0), r"rank must be in \[1, 3\]"),
    (lambda: d.truncated_svd(torch.randn(4, 3), 4), r"rank must be in \[1, 3\]"),
    (lambda: d.truncated_svd(torch.randn(4, 3, 2), 1), "2 dimensions"),
    (lambda: d.rank_for_energy(torch.ones(3), 1.5), "energy"),
    (lambda: d.rank_for_compression(10, 10, 100), "no rank reaches"),
    (lambda: d.choose_svd_rank(torch.randn(4, 4), rank=2, energy=0.5), "exactly one"),
    (lambda: d.cp_conv(torch.randn(3, 2, 2, 2), 0), r"rank must be in \[1, 8\]"),
    (lambda: d.cp_conv(torch.randn(3, 2, 2, 2), 9), r"rank must be in \[1, 8\]"),
    (lambda: d.tucker2_conv(torch.randn(3, 2, 2, 2), (4, 1)), r"R_out must be in \[1, 3\]"),
    (lambda: d.tucker2_conv(torch.randn(3, 2, 2, 2), (1, 0)), r"R_in must be in \[1, 2\]"),
    (lambda: d.tucker2_conv(torch.randn(3, 2, 2, 2), 2), "pair"),
    (lambda: d.tt_matrix(torch.randn(12, 20), (4, 4), (3, 4), 2), "multiply to 16, not in_features=20"),
    (lambda: d.tt_matrix(torch.randn(12, 20), (4, 5), (3, 4), (1, 13, 1)), r"r_1 must be an int in \[1, 12\]"),
    (lambda: d.tt_matrix(torch.randn(12, 20), (4, 5), (3, 4), 0), "TT rank must be >= 1"),
    (lambda: d.tt_matrix(torch.randn(12, 20), (4, 5), (3, 4), (2, 2, 1)), "boundary"),
    (lambda: d.tt_matrix(torch.randn(12, 20), (4, 5), (12,), 2), "same length"),
    (lambda: d.TTLinear((2, 2), (2, 2), 2)(torch.randn(3, 5)), "features"),
    (lambda: d.decompose(nn.Sequential(nn.Linear(2, 2)), {"fc9": d.SVD(rank=1)}), r"unknown layer name\(s\) \['fc9'\]; layers of this model: \['0'\]"),
    (lambda: d.decompose(nn.Sequential(nn.Linear(2, 2)), {"0": d.CP(1)}), "expected nn.Conv2d"),
    (lambda: d.decompose(nn.Sequential(nn.Linear(2, 2)), {"0": "svd"}), "plan entries"),
    (lambda: d.CPConv2d.from_conv(nn.Conv2d(4, 4, 3, groups=2), 2), "groups=1"),
    (lambda: d.relative_error(torch.zeros(2), torch.zeros(2)), "all zeros"),
    (lambda: d.error_vs_rank(torch.randn(2, 2), "qr", [1]), "method"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_bad_types():
    with pytest.raises(TypeError, match="torch.Tensor"):
        d.truncated_svd([[1.0]], 1)
    with pytest.raises(TypeError, match="int"):
        d.truncated_svd(torch.randn(3, 3), 1.5)
    with pytest.raises(TypeError, match="nn.Linear"):
        d.LowRankLinear.from_linear(nn.Conv2d(1, 1, 1), 1)


def test_plan_for_budget_meets_ratio_per_layer():
    from companion import models
    model = models.build("lenet5")
    for conv in ("tucker2", "cp"):
        plan = d.plan_for_budget(model, 4, conv=conv, skip=("conv1", "fc2"))
        assert set(plan) == {"conv2", "fc1"}
        c2 = plan["conv2"]
        w = (d.cp_conv_params(50, 20, 5, 5, c2.rank) if conv == "cp"
             else d.tucker2_params(50, 20, 5, 5, c2.r_out, c2.r_in))
        assert w <= 50 * 20 * 25 / 4
    assert d.cp_rank_for_compression(50, 20, 5, 5, 4) == 25000 // 4 // 80
    assert d.tucker2_ranks_for_compression(50, 20, 5, 5, 0.5) == (50, 20)  # full ranks cost 27,900 > 25,000
    with pytest.raises(ValueError, match="conv must be"):
        d.plan_for_budget(model, 4, conv="svd")


@settings(max_examples=8, deadline=None)
@given(c_in=st.integers(1, 5), c_out=st.integers(1, 5), k=st.integers(1, 3), stride=st.integers(1, 2),
       pad=st.integers(0, 1), seed=st.integers(0, 100), data=st.data())
def test_tucker2_chain_equals_reconstructed_conv_property(c_in, c_out, k, stride, pad, seed, data):
    torch.manual_seed(seed)
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad)
    ranks = (data.draw(st.integers(1, c_out)), data.draw(st.integers(1, c_in)))
    t = d.Tucker2Conv2d.from_conv(conv, ranks)
    x = torch.randn(2, c_in, 6, 5, generator=_gen(seed))
    ref = nn.functional.conv2d(x, t.dense_weight(), conv.bias, stride=stride, padding=pad)
    torch.testing.assert_close(t(x), ref, atol=1e-5, rtol=1e-4)
    assert metrics.measure_layers(nn.Sequential(t), (1, c_in, 6, 5))[0].macs == d.tucker2_macs(
        c_out, c_in, k, k, *ranks, (6, 5), tuple(ref.shape[-2:]))


def _uncached(monkeypatch, seen):
    """Run cached recipes without touching the user's cache, recording what they would be keyed by."""
    from companion import train

    def cached_result(spec, compute, *, name, parents=(), code=()):
        seen.append({"spec": spec, "name": name, "parents": list(parents), "code": list(code)})
        train.canonical_json(spec)  # the spec must be plain JSON
        return compute()
    monkeypatch.setattr(train, "cached_result", cached_result)


@pytest.mark.slow
def test_rank_sweep_full_rank_keeps_baseline(monkeypatch):
    from companion import train
    seen = []
    _uncached(monkeypatch, seen)
    rows = d.rank_sweep("lenet300", "fc2", "svd", [100, 10])
    assert isinstance(rows, d.SweepRows) and isinstance(rows[0], d.RankSweepRow)
    assert rows[0]["error"] < 1e-5 and rows[0].error == rows[0]["error"]
    assert rows[0]["accuracy"] == train.evaluate(train.baseline("lenet300"))
    assert rows[1]["params"] == d.svd_params(100, 300, 10) + 100 and rows[1]["dense_params"] == 30100
    frame = rows.to_frame()
    assert list(frame.columns) == ["rank", "error", "params", "macs", "dense_params", "dense_macs", "accuracy"]
    assert list(frame["rank"]) == [100, 10]
    (entry,) = seen
    assert entry["spec"]["rank_sweep"] == {"model": "lenet300", "layer": "fc2", "method": "svd", "ranks": [100, 10],
                                           "kw": {}, "seed": 0}
    assert entry["parents"] == [train.baseline_key("lenet300")] and d.rank_sweep in entry["code"]
    with pytest.raises(KeyError, match="fields"):
        rows[0]["acc"]
    with pytest.raises(ValueError, match="method"):
        d.rank_sweep("lenet300", "fc2", "qr", [1])
    with pytest.raises(ValueError, match="unknown layer"):
        d.rank_sweep("lenet300", "fc9", "svd", [1])


@pytest.mark.slow
def test_budget_sweep_without_finetuning(monkeypatch):
    seen = []
    _uncached(monkeypatch, seen)
    rows = d.budget_sweep("lenet300", [4], skip=("fc3",), finetune=[], progress=False)
    (row,) = rows
    assert math.isnan(row["acc_after"]) and 0 <= row["acc_before"] <= 100
    # fc1 and fc2 get SVD ranks within 1/4 of their weights; fc3 stays dense
    assert row["params"] == (d.svd_params(300, 784, 54) + 300 + d.svd_params(100, 300, 18) + 100 + 1010)
    assert row["plan"] == {"fc1": "SVD(rank=54, energy=None, compression=None)",
                           "fc2": "SVD(rank=18, energy=None, compression=None)"}
    assert row.ratio == 4 and isinstance(row.ratio, int)  # kept as given: the chapter prints it
    assert seen[0]["spec"]["budget_sweep"]["finetune"] == [] and seen[0]["spec"]["budget_sweep"]["seed"] == 0
    assert list(rows.to_frame().columns)[:2] == ["ratio", "conv"]


def test_finetuned_key_holds_seed_and_code_and_seed0_is_the_book_baseline(monkeypatch):
    from companion import train
    calls = []
    monkeypatch.setattr(train, "baseline", lambda name, seed=0, progress=True: calls.append(("baseline", seed))
                        or models.build(name))
    monkeypatch.setattr(train, "cached_model", lambda spec, make, fit, *, name, code=(), parents=():
                        calls.append(("cached", spec, name, list(code))) or make())
    plan = {"fc1": d.SVD(rank=4)}
    d.finetuned("lenet300", plan, epochs=1, progress=False)
    d.finetuned("lenet300", plan, epochs=1, seed=3, progress=False)
    (_, spec0, name, code), (_, spec3, _, _) = [c for c in calls if c[0] == "cached"]
    assert name == "ch3-lenet300" and d.finetuned in code and d.decompose in code
    assert spec0["seed"] == 0 and spec3["seed"] == 3 and "v" not in spec0
    assert spec0["plan"] == {"fc1": {"type": "SVD", "rank": 4, "energy": None, "compression": None}}
    assert [c for c in calls if c[0] == "baseline"] == [("baseline", 0), ("baseline", 3)]
    train.canonical_json(spec0)
    with pytest.raises(TypeError, match="seed"):
        d.finetuned("lenet300", plan, seed=1.5)


# --- issue 13: padding modes other than zeros -----------------------------------------------------

@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("spec", [d.CP(2, n_iter_max=5), d.Tucker2(2, 2), d.Tucker2(energy=0.9)])
def test_decompose_refuses_non_zero_padding_modes(mode, spec):
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode=mode))
    with pytest.raises(ValueError, match=rf"^0: padding_mode='{mode}' cannot be decomposed.*allowed: 'zeros'"):
        d.decompose(model, {"0": spec})


def test_from_conv_refuses_non_zero_padding_modes():
    conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode='reflect'"):
        d.Tucker2Conv2d.from_conv(conv, (4, 3))
    with pytest.raises(ValueError, match="padding_mode='reflect'"):
        d.CPConv2d.from_conv(conv, 2)
    d.Tucker2Conv2d.from_conv(nn.Conv2d(3, 4, 3, padding=1, padding_mode="zeros"), (4, 3))  # the allowed mode


# --- oracle: every factorized layer at full rank is the dense layer it came from --------------------

def _exact_cp_conv():
    conv = nn.Conv2d(4, 5, (3, 2), stride=(2, 1), padding=(1, 1))
    g = _gen(7)
    with torch.no_grad():  # a kernel of CP rank 3 exactly: rank-3 CP is then full rank for it
        conv.weight.copy_(d.cp_reconstruct([torch.randn(n, 3, generator=g) for n in (5, 4, 3, 2)]))
    return conv, d.CPConv2d.from_conv(conv, 3, n_iter_max=500), torch.randn(2, 4, 9, 8, generator=g)


def _full_tucker():
    conv = nn.Conv2d(4, 6, (3, 5), stride=(1, 2), padding=(2, 1))
    return conv, d.Tucker2Conv2d.from_conv(conv, (6, 4)), torch.randn(2, 4, 9, 10, generator=_gen(8))


def _full_svd():
    lin = nn.Linear(12, 7)
    return lin, d.LowRankLinear.from_linear(lin, 7), torch.randn(5, 12, generator=_gen(9))


def _full_tt():
    lin = nn.Linear(12, 6)
    full = d.tt_max_ranks((3, 4), (2, 3))
    return lin, d.TTLinear.from_linear(lin, (3, 4), (2, 3), full), torch.randn(5, 12, generator=_gen(10))


@pytest.mark.parametrize("case", [_exact_cp_conv, _full_tucker, _full_svd, _full_tt])
def test_full_rank_factorized_layer_equals_dense_oracle(case):
    dense, small, x = case()
    torch.testing.assert_close(small(x), dense(x), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(small.dense_weight(), dense.weight.reshape(small.dense_weight().shape), atol=1e-4,
                               rtol=1e-4)


# --- timing wrappers -----------------------------------------------------------------------------------

def test_speedup_range_is_ordered_and_restores_modes():
    dense, small = nn.Linear(64, 64), nn.Sequential(nn.Linear(64, 4), nn.Linear(4, 64)).train()
    r = d.speedup_range(dense, small, (1, 64), rounds=3, repeats=2)
    assert 0 < r.low <= r.median <= r.high and r.dense_ms > 0 and r.small_ms > 0
    assert small.training and dense.training
    with pytest.raises(ValueError, match="rounds"):
        d.speedup_range(dense, small, (1, 64), rounds=0)
