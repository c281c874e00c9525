"""Tests of companion.quantization: oracles (PyTorch's fake quantization), properties, bad input."""
import math
import warnings

import pytest
import torch
from hypothesis import given, settings, strategies as st

from companion import exercises, models
from companion import quantization as Q



@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small tensors: one thread is faster (and kinder to a shared machine); restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _randn(*shape, seed=0, scale=1.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


# --- qrange, block sizes ----------------------------------------------------------------------

def test_qrange_values():
    assert Q.qrange(8) == (0, 255)
    assert Q.qrange(8, "symmetric") == (-127, 127)
    assert Q.qrange(2, "symmetric") == (-1, 1)
    assert Q.qrange(1) == (0, 1)


def test_block_helpers():
    assert Q.per_tensor((4, 6)) == (4, 6)
    assert Q.per_channel((4, 6), 0) == (1, 6)
    assert Q.per_channel((4, 6), -1) == (4, 1)
    assert Q.per_group((4, 6), 3) == (1, 3)
    assert Q.per_channel((20, 1, 5, 5)) == (1, 1, 5, 5)


def test_doc_example_scale_zero_point():
    qp = Q.choose_qparams(torch.tensor([-1.0, 0.0, 2.0]), 8)
    assert math.isclose(float(qp.scale), 3 / 255, rel_tol=1e-6)
    assert int(qp.zero_point) == 85
    assert qp.levels == 256


def test_scale_grid_shape_per_granularity():
    x = _randn(6, 8)
    assert Q.choose_qparams(x, 4).scale.numel() == 1
    assert tuple(Q.choose_qparams(x, 4, block_size=(1, 8)).scale.shape) == (6, 1)
    assert tuple(Q.choose_qparams(x, 4, block_size=(1, 4)).scale.shape) == (6, 2)
    assert tuple(Q.choose_qparams(x, 4, block_size=(6, 1)).scale.shape) == (1, 8)


def test_per_group_equals_per_channel_of_reshaped_groups():
    x = _randn(4, 12, seed=3)
    grouped = Q.fake_quantize(x, 3, block_size=(1, 4))
    rows = Q.fake_quantize(x.reshape(12, 4), 3, block_size=(1, 4))
    assert torch.equal(grouped, rows.reshape(4, 12))


def test_zero_is_exact_and_zero_blocks():
    x = torch.tensor([[0.0, 0.0, 0.0], [-1.0, 0.0, 3.0]])
    y = Q.fake_quantize(x, 4, block_size=(1, 3))
    assert torch.equal(y[0], torch.zeros(3))
    assert float(y[1, 1]) == 0.0


# --- oracle: PyTorch's fake quantization, bit for bit ----------------------------------------

@settings(max_examples=40, deadline=None)
@given(bits=st.integers(2, 16), scheme=st.sampled_from(Q.SCHEMES), seed=st.integers(0, 10_000),
       scale=st.floats(1e-3, 1e3), shift=st.floats(-2, 2))
def test_oracle_per_tensor(bits, scheme, seed, scale, shift):
    x = (_randn(7, 13, seed=seed) + shift) * scale
    qp = Q.choose_qparams(x, bits, scheme=scheme)
    ours = Q.fake_quantize(x, qparams=qp)
    ref = torch.fake_quantize_per_tensor_affine(x, float(qp.scale), int(qp.zero_point), qp.qmin, qp.qmax)
    assert torch.equal(ours, ref)


@settings(max_examples=40, deadline=None)
@given(bits=st.integers(2, 16), scheme=st.sampled_from(Q.SCHEMES), seed=st.integers(0, 10_000),
       axis=st.integers(0, 2))
def test_oracle_per_channel(bits, scheme, seed, axis):
    x = _randn(5, 4, 6, seed=seed) * (1 + seed % 7)
    qp = Q.choose_qparams(x, bits, scheme=scheme, block_size=Q.per_channel(x.shape, axis))
    ours = Q.fake_quantize(x, qparams=qp)
    ref = torch.fake_quantize_per_channel_affine(x, qp.scale.reshape(-1), qp.zero_point.reshape(-1).to(torch.int32),
                                                 axis, qp.qmin, qp.qmax)
    assert torch.equal(ours, ref)


def test_oracle_ste_gradient_matches_torch():
    x = (_randn(50, seed=1) * 3).requires_grad_(True)
    qp = Q.qparams_from_range(-1.0, 2.0, 4)
    Q.fake_quantize_ste(x, qp).sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    torch.fake_quantize_per_tensor_affine(x2, float(qp.scale), int(qp.zero_point), qp.qmin, qp.qmax).sum().backward()
    assert torch.equal(x.grad, x2.grad)


def test_quantize_matches_torch_quantize_per_tensor():
    x = _randn(100, seed=2)
    qp = Q.choose_qparams(x, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized dtypes are deprecated in recent torch
        q = torch.quantize_per_tensor(x, float(qp.scale), int(qp.zero_point), torch.quint8)
    assert torch.equal(Q.quantize(x, qp), q.int_repr().to(torch.int64))


# --- properties -------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(bits=st.integers(1, 12), scheme=st.sampled_from(Q.SCHEMES), seed=st.integers(0, 10_000),
       gran=st.sampled_from(["tensor", "channel", "group"]))
def test_codes_in_range_and_error_bounded(bits, scheme, seed, gran):
    if scheme == "symmetric" and bits == 1:
        return
    x = _randn(6, 8, seed=seed)
    block = {"tensor": None, "channel": (1, 8), "group": (1, 4)}[gran]
    qp = Q.choose_qparams(x, bits, scheme=scheme, block_size=block)
    codes = Q.quantize(x, qp)
    assert codes.dtype == torch.int64
    assert int(codes.min()) >= qp.qmin and int(codes.max()) <= qp.qmax
    err = (Q.dequantize(codes, qp) - x).abs()
    scale, _ = qp.expand(x.shape)
    # min/max calibration: every value is inside the clip range, so error <= scale/2
    assert bool((err <= scale / 2 * (1 + 1e-5) + 1e-7).all())


def test_idempotent():
    x = _randn(30, seed=5)
    qp = Q.choose_qparams(x, 5)
    once = Q.fake_quantize(x, qparams=qp)
    assert torch.equal(Q.fake_quantize(once, qparams=qp), once)


def test_error_falls_with_bits():
    x = _randn(2000, seed=6)
    errs = [Q.quantization_error(x, b) for b in range(2, 9)]
    assert all(a > b for a, b in zip(errs, errs[1:]))


@settings(max_examples=10, deadline=None)
@given(v=st.floats(-3, 3), seed=st.integers(0, 1000))
def test_stochastic_rounding_unbiased(v, seed):
    qp = Q.qparams_from_range(-4.0, 4.0, 4, scheme="symmetric")
    x = torch.full((20_000,), v)
    g = torch.Generator().manual_seed(seed)
    y = Q.fake_quantize(x, qparams=qp, rounding="stochastic", generator=g)
    step = float(qp.scale)
    assert abs(float(y.mean()) - v) < 0.05 * step + 1e-6
    # each value rounds to one of its two neighbours on the grid
    assert bool(((y - v).abs() <= step + 1e-6).all())


def test_stochastic_rounding_of_grid_point_is_exact():
    qp = Q.qparams_from_range(-1.0, 1.0, 8, scheme="symmetric")
    x = Q.fake_quantize(_randn(100, seed=1).clamp(-1, 1), qparams=qp)
    y = Q.fake_quantize(x, qparams=qp, rounding="stochastic", generator=torch.Generator().manual_seed(0))
    assert torch.allclose(x, y, atol=1e-6)


# --- STE ----------------------------------------------------------------------------------------

def test_ste_passes_inside_zero_outside():
    qp = Q.qparams_from_range(-1.0, 1.0, 4)
    x = torch.tensor([-3.0, -0.99, -0.2, 0.0, 0.5, 0.99, 1.5, 10.0], requires_grad=True)
    Q.fake_quantize_ste(x, qp).backward(torch.arange(1.0, 9.0))
    assert x.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 0.0]


def test_sign_ste():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.7, 3.0], requires_grad=True)
    y = Q.sign_ste(x)
    assert y.tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0]
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


# --- non-uniform ------------------------------------------------------------------------------

def test_log_levels_and_quantize():
    lv = Q.log_levels(1.0, 3)
    assert lv.tolist() == [-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0]
    y = Q.log_quantize(torch.tensor([0.9, -0.3, 0.05, 0.6]), 3)
    assert y.tolist() == [1.0, -0.25, 0.0, 0.5]
    vals = Q.log_quantize(_randn(500, seed=2), 4)
    nz = vals[vals != 0].abs()
    assert torch.equal(torch.log2(nz), torch.round(torch.log2(nz)))  # powers of two


@settings(max_examples=20, deadline=None)
@given(bits=st.integers(1, 6), seed=st.integers(0, 1000), init=st.sampled_from(["linear", "density", "random"]))
def test_kmeans_codebook_properties(bits, seed, init):
    w = _randn(40, 10, seed=seed)
    codebook, codes = Q.kmeans_codebook(w, bits, init=init)
    assert codebook.numel() <= 2 ** bits
    assert codes.shape == w.shape and codes.dtype == torch.int64
    assert bool((codebook[1:] > codebook[:-1]).all())
    # each weight is assigned to its nearest centroid
    d = (w.reshape(-1, 1) - codebook.reshape(1, -1)).abs()
    assert torch.allclose(d.gather(1, codes.reshape(-1, 1)).squeeze(1), d.min(1).values)
    # each centroid is the mean of its cluster (Lloyd's fixed point, up to the iteration cap)
    assert torch.unique(codes).numel() == codebook.numel()


def test_kmeans_beats_uniform_at_same_bits():
    w = _randn(4000, seed=9) ** 3  # heavy tails
    cb, codes = Q.kmeans_codebook(w, 3)
    e_k = float(((Q.decode_codebook(cb, codes) - w) ** 2).mean())
    assert e_k < Q.quantization_error(w, 3)


def test_kmeans_mask_keeps_pruned_zero():
    w = _randn(20, 20, seed=4)
    mask = w.abs() > 0.5
    w = w * mask
    cb, codes = Q.kmeans_codebook(w, 2, mask=mask)
    assert bool((codes[~mask] == -1).all()) and bool((codes[mask] >= 0).all())
    dec = Q.decode_codebook(cb, codes)
    assert bool((dec[~mask] == 0).all())
    assert cb.numel() <= 4 and bool((cb != 0).all())


def test_linear_init_spans_range():
    w = torch.tensor([-1.0, -0.9, 0.0, 0.1, 0.2, 5.0])
    cb, codes = Q.kmeans_codebook(w, 2, iters=0)
    assert float(cb.min()) == -1.0 and float(cb.max()) == 5.0


def test_shared_weight_gradient_is_summed():
    cb = torch.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    codes = torch.tensor([[0, 2, 2], [1, -1, 2]])
    w = Q.shared_weight(cb, codes)
    assert w.tolist() == [[-1.0, 2.0, 2.0], [0.5, 0.0, 2.0]]
    g = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    w.backward(g)
    assert cb.grad.tolist() == [1.0, 4.0, 11.0]


def test_shared_weights_parametrization_and_finetune():
    torch.manual_seed(0)
    model = models.build("lenet300")
    shared = Q.share_weights_(model, 2)
    assert set(shared) == {"fc1", "fc2", "fc3"}
    for name, layer in Q.quant_layers(model).items():
        assert torch.unique(layer.weight.detach()).numel() <= 4
    x = torch.randn(8, 1, 28, 28)
    model(x).sum().backward()
    assert shared["fc1"].codebook.grad is not None
    Q.bake_(model)
    assert not hasattr(model.fc1, "parametrizations")
    assert torch.unique(model.fc1.weight.detach()).numel() <= 4


# --- binary / ternary -------------------------------------------------------------------------

def test_binarize_and_xnor_scale():
    w = torch.tensor([[0.5, -0.1, 0.2], [-2.0, 1.0, 0.0]])
    assert Q.binarize(w).tolist() == [[1.0, -1.0, 1.0], [-1.0, 1.0, 1.0]]
    xn = Q.binarize(w, scale="xnor")
    assert torch.allclose(xn[0], torch.tensor([1.0, -1.0, 1.0]) * 0.8 / 3)  # alpha = mean|w| of the row
    assert torch.allclose(xn[1], torch.tensor([-1.0, 1.0, 1.0]))


def test_twn_threshold_and_scale():
    w = torch.tensor([1.0, -1.0, 0.1, -0.1, 0.6])
    # mean|w| = 0.56, delta = 0.392: keep 1, -1, 0.6; alpha = mean(1, 1, 0.6)
    t = Q.ternarize(w)
    a = (1 + 1 + 0.6) / 3
    assert torch.allclose(t, torch.tensor([a, -a, 0.0, 0.0, a]))
    assert torch.unique(Q.ternarize(_randn(100)).abs()).numel() == 2


def test_ternarize_straight_through():
    w = _randn(10, seed=1).requires_grad_(True)
    Q.ternarize(w).sum().backward()
    assert torch.equal(w.grad, torch.ones(10))


def test_ttq_learns_scales():
    w = _randn(30, seed=2)
    p = Q.TTQWeight(w, threshold=0.05)
    latent = w.clone().requires_grad_(True)
    out = p(latent)
    assert torch.unique(out.detach()).numel() <= 3
    out.sum().backward()
    assert p.w_p.grad is not None and float(p.w_p.grad) > 0 and float(p.w_n.grad) < 0


# --- model level ------------------------------------------------------------------------------

def test_quantize_weights_model_and_size():
    model = models.build("lenet300")
    q = Q.quantize_weights(model, 4)
    for layer in Q.quant_layers(q).values():
        rows = layer.weight.detach()
        assert max(torch.unique(r).numel() for r in rows) <= 15
    assert not torch.equal(q.fc1.weight, model.fc1.weight)  # a copy
    size8 = Q.quantized_size_bits(model, 8)
    size32 = Q.quantized_size_bits(model, 32)
    assert size32 == 266_610 * 32
    assert size32 / size8 > 3.9
    mixed = Q.quantize_weights(model, {"fc1": 2, "fc2": 8, "fc3": 32})
    assert torch.equal(mixed.fc3.weight, model.fc3.weight)


def test_calibrate_range_methods():
    x = torch.cat([_randn(10_000, seed=3), torch.tensor([50.0])])
    lo, hi = Q.calibrate_range(x, 4, method="minmax")
    assert hi == 50.0
    lo_p, hi_p = Q.calibrate_range(x, 4, method="percentile", percentile=99.9)
    assert hi_p < 5
    lo_m, hi_m = Q.calibrate_range(x, 4, method="mse")
    assert hi_m < hi


def test_activation_quant_and_qat_forward_backward():
    model = models.build("lenet5")
    acts = Q.attach_activation_quant_(model, 8, skip_first=True)
    assert set(acts) == {"conv2", "fc1", "fc2"}
    x = torch.randn(16, 1, 28, 28)
    ranges = Q.calibrate_activations_(model, acts, x)
    assert all(hi > lo for lo, hi in ranges.values())
    y = model(x)
    assert y.shape == (16, 10)
    m2 = models.build("lenet300")
    Q.prepare_qat_(m2, Q.FakeQuantWeight(3), act_bits=4, act_clip="pact", skip_first_act=True)
    m2.train()
    m2(x).sum().backward()
    assert m2.fc1.parametrizations.weight.original.grad is not None
    assert m2.fc2.act_quant.alpha.grad is not None
    Q.bake_(m2)
    assert max(torch.unique(r).numel() for r in m2.fc2.weight.detach()) <= 7


def test_gradient_quant_changes_only_backward():
    torch.manual_seed(0)
    model = models.build("lenet300")
    x = torch.randn(4, 1, 28, 28)
    y0 = model(x)
    handles = Q.attach_gradient_quant_(model, 2)
    y1 = model(x)
    assert torch.equal(y0, y1)
    y1.sum().backward()
    g = model.fc3.weight.grad
    assert g is not None and torch.isfinite(g).all()
    for h in handles:
        h.remove()


def test_assign_bits_greedy_respects_budget():
    sens = {"a": {2: 50.0, 4: 97.0, 8: 98.0}, "b": {2: 97.5, 4: 98.0, 8: 98.0}}
    weights = {"a": 100, "b": 1000}
    choice = Q.assign_bits(sens, weights, budget_bits=100 * 8 + 1000 * 2, baseline_acc=98.0)
    assert choice == {"a": 8, "b": 2}
    with pytest.raises(ValueError, match="budget"):
        Q.assign_bits(sens, weights, budget_bits=10, baseline_acc=98.0)


def test_dynamic_int8_runs():
    model = models.build("lenet300")
    q = Q.dynamic_int8(model)
    x = torch.randn(2, 1, 28, 28)
    assert (q(x) - model(x)).abs().max() < 0.1


# --- exercises --------------------------------------------------------------------------------

def test_exercises_registered_and_solvable(capsys):
    ids = {e.id for e in exercises.exercises("ch4")}
    assert {"ch4.scale_zero_point", "ch4.ste_backward", "ch4.mixed_precision_size"} <= ids
    exercises.check("ch4.scale_zero_point", (2 / 255, 64))  # raises when wrong
    with pytest.raises(exercises.ExerciseError):
        exercises.check("ch4.scale_zero_point", (2 / 255, 63))

    def ste_grad(x, g):
        qp = Q.qparams_from_range(-1.0, 1.0, 4)
        code = torch.round(x / qp.scale) + qp.zero_point
        return g * ((code >= qp.qmin) & (code <= qp.qmax))
    exercises.check("ch4.ste_backward", ste_grad)
    with pytest.raises(exercises.ExerciseError):
        exercises.check("ch4.ste_backward", lambda x, g: g)
    exercises.check("ch4.mixed_precision_size", (500 * 8 + 25_000 * 6 + 400_000 * 2 + 5_000 * 8 + 580 * 32) / 8192)
    exercises.check("ch4.mixed_precision_size", None)
    assert "correct" in capsys.readouterr().out


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("bits", [0, -1, 33, 100])
def test_bad_bits(bits):
    with pytest.raises(ValueError, match="bits"):
        Q.choose_qparams(_randn(4), bits)


def test_bad_bits_type():
    with pytest.raises(TypeError, match="bits"):
        Q.choose_qparams(_randn(4), 4.0)
    with pytest.raises(TypeError, match="bits"):
        Q.choose_qparams(_randn(4), True)


def test_unknown_scheme():
    with pytest.raises(ValueError, match="scheme"):
        Q.choose_qparams(_randn(4), 4, scheme="asymmetric")


def test_symmetric_one_bit():
    with pytest.raises(ValueError, match="binarize"):
        Q.qrange(1, "symmetric")


def test_zero_range():
    """An explicit zero-width clip range is refused; all-zero *data* quantizes to zeros (see
    test_quantization_fixes.py for the documented scale-1 range it gets)."""
    with pytest.raises(ValueError, match="zero range"):
        Q.qparams_from_range(0.0, 0.0, 8)
    assert torch.equal(Q.fake_quantize(torch.zeros(5), 8), torch.zeros(5))
    assert torch.equal(Q.log_quantize(torch.zeros(3), 4), torch.zeros(3))


def test_bad_tensors_and_blocks():
    with pytest.raises(TypeError, match="torch.Tensor"):
        Q.choose_qparams([1.0, 2.0], 8)
    with pytest.raises(TypeError, match="floating"):
        Q.choose_qparams(torch.arange(4), 8)
    with pytest.raises(ValueError, match="NaN"):
        Q.choose_qparams(torch.tensor([1.0, float("nan")]), 8)
    with pytest.raises(ValueError, match="divide"):
        Q.choose_qparams(_randn(6, 8), 4, block_size=(1, 3))
    with pytest.raises(ValueError, match="one entry per dimension"):
        Q.choose_qparams(_randn(6, 8), 4, block_size=(8,))
    with pytest.raises(TypeError, match="qparams"):
        Q.quantize(_randn(4), "qp")
    with pytest.raises(TypeError, match="integer"):
        Q.dequantize(_randn(4), Q.choose_qparams(_randn(4), 8))
    with pytest.raises(ValueError, match="rounding"):
        Q.quantize(_randn(4), Q.choose_qparams(_randn(4), 8), rounding="up")


def test_bad_kmeans_and_misc():
    with pytest.raises(ValueError, match="init"):
        Q.kmeans_codebook(_randn(10), 2, init="kmeans++")
    with pytest.raises(ValueError, match="mask"):
        Q.kmeans_codebook(_randn(10), 2, mask=torch.zeros(10, dtype=torch.bool))
    with pytest.raises(ValueError, match="bits"):
        Q.kmeans_codebook(_randn(10), 0)
    with pytest.raises(ValueError, match="codes"):
        Q.decode_codebook(torch.tensor([0.0, 1.0]), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="method"):
        Q.quantize_weights(models.build("lenet300"), 4, method="magic")
    with pytest.raises(ValueError, match="granularity"):
        Q.quantize_weights(models.build("lenet300"), 4, granularity="row")
    with pytest.raises(ValueError, match="unknown layer"):
        Q.quantize_weights(models.build("lenet300"), 4, layers=["conv9"])
    with pytest.raises(ValueError, match="scale"):
        Q.binarize(_randn(4), scale="l1")
    with pytest.raises(ValueError, match="weight"):
        Q.build_quantized("lenet300", "fp8")
    with pytest.raises(ValueError, match="method"):
        Q.calibrate_range(_randn(10), 4, method="kl")


@pytest.mark.parametrize("module", ["", ".primitives", ".codebook", ".binary", ".activations", ".model",
                                    ".recipes", ".exercises"])
def test_docstring_examples(module):
    import doctest
    import importlib
    mod = importlib.import_module("companion.quantization" + module)
    assert doctest.testmod(mod).failed == 0


def test_group_granularity_on_conv_model():
    model = models.build("lenet5")
    q = Q.quantize_weights(model, 3, granularity="group", group_size=25)
    w = q.conv2.weight.detach().reshape(50, -1, 25)  # rows of 500 inputs, groups of 25
    assert max(torch.unique(g).numel() for g in w.reshape(-1, 25)) <= 7
    err_group = float(((q.fc1.weight - model.fc1.weight).detach() ** 2).mean())
    err_tensor = float(((Q.quantize_weights(model, 3, granularity="tensor").fc1.weight - model.fc1.weight).detach() ** 2).mean())
    assert err_group < err_tensor
    assert Q.quantized_size_bits(model, 3, granularity="group", group_size=25) > Q.quantized_size_bits(model, 3)


def test_size_of_binary_and_ternary_storage():
    model = models.build("lenet300")
    n_w, n_b = 266_200, 410
    assert Q.quantized_size_bits(model, 1, method="binary") == n_w + 32 * n_b
    assert Q.quantized_size_bits(model, 1, method="xnor") == n_w + 32 * (300 + 100 + 10) + 32 * n_b
    assert Q.quantized_size_bits(model, 2, method="ternary") == 2 * n_w + 3 * 64 + 32 * n_b
    from companion import metrics
    layers = metrics.measure_layers(model)
    assert Q.quantized_size_bits(model, 4, layers=layers) == Q.quantized_size_bits(model, 4)
    with pytest.raises(ValueError, match="method"):
        Q.quantized_size_bits(model, 4, method="fp8")
