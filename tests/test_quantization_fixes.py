"""Regression tests of companion.quantization's silent-wrong-result fixes (issue 13) and the
strengthened hook tests (issue 15): each would fail on the single-module version."""
import copy
import math
import warnings

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from companion import metrics, models, reparam, train
from companion import quantization as Q


from test_quantization import _one_thread, _randn  # noqa: E402,F401  (shared helpers; the fixture is autouse)


def _torch_fq(x, qp):
    return torch.fake_quantize_per_tensor_affine(x, float(qp.scale), int(qp.zero_point), qp.qmin, qp.qmax)


# --- saturation in float, before the integer cast ------------------------------------------------

def test_symmetric_32_bit_saturates_huge_values():
    qp = Q.qparams_from_range(-0.01, 0.01, 32, scheme="symmetric")
    x = torch.tensor([1e8, -1e8, 1e30, 0.005])
    y = Q.fake_quantize(x, qparams=qp)
    top = qp.qmax * float(qp.scale)
    assert y.tolist() == pytest.approx([top, -top, top, 0.005], rel=1e-6)  # was -0.01 for 1e8
    assert torch.equal(Q.quantize(x, qp)[:3], torch.tensor([qp.qmax, qp.qmin, qp.qmax]))


def test_affine_8_bit_saturates_like_torch():
    qp = Q.qparams_from_range(-1.0, 1.0, 8)
    x = torch.tensor([1e17, -1e17, 3e38, -3e38])
    ours = Q.fake_quantize(x, qparams=qp)
    assert torch.equal(ours, _torch_fq(x, qp))
    assert float(ours[0]) == pytest.approx(1.0039, abs=1e-4)  # was -0.996
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = torch.quantize_per_tensor(x, float(qp.scale), int(qp.zero_point), torch.quint8)
    assert torch.equal(Q.quantize(x, qp), q.int_repr().to(torch.int64))


_extreme = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32),
                     st.floats(-10, 10, allow_nan=False, width=32),
                     st.sampled_from([1e17, -1e17, 1e8, -1e8, 0.0]))


@settings(max_examples=60, deadline=None)
@given(values=st.lists(_extreme, min_size=1, max_size=12), scheme=st.sampled_from(Q.SCHEMES),
       bits=st.integers(2, 32), lo=st.floats(-100, -1e-3), hi=st.floats(1e-3, 100))
def test_oracle_extreme_inputs_per_tensor(values, scheme, bits, lo, hi):
    if scheme == "affine" and bits > 24:
        bits = 24  # torch adds a float32 zero point: exact only while the codes fit float32's 24-bit mantissa
    x = torch.tensor(values, dtype=torch.float32)
    qp = Q.qparams_from_range(lo, hi, bits, scheme=scheme)
    codes = Q.quantize(x, qp)
    assert int(codes.min()) >= qp.qmin and int(codes.max()) <= qp.qmax
    assert torch.equal(Q.fake_quantize(x, qparams=qp), _torch_fq(x, qp))


@settings(max_examples=30, deadline=None)
@given(values=st.lists(_extreme, min_size=1, max_size=12), lo=st.floats(-100, 0), hi=st.floats(1e-3, 100))
def test_oracle_extreme_inputs_quantize_per_tensor(values, lo, hi):
    x = torch.tensor(values, dtype=torch.float32)
    qp = Q.qparams_from_range(lo, hi, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = torch.quantize_per_tensor(x, float(qp.scale), int(qp.zero_point), torch.quint8).int_repr()
    assert torch.equal(Q.quantize(x, qp), ref.to(torch.int64))


def test_stochastic_rounding_saturates_too():
    qp = Q.qparams_from_range(-1.0, 1.0, 8, scheme="symmetric")
    y = Q.quantize(torch.tensor([1e20, -1e20]), qp, rounding="stochastic", generator=torch.Generator().manual_seed(0))
    assert y.tolist() == [127, -127]


# --- ranges: NaN/Inf, zero width, constant data ---------------------------------------------------

@pytest.mark.parametrize("lo, hi", [(float("nan"), 1.0), (-1.0, float("nan")), (float("-inf"), 1.0),
                                    (-1.0, float("inf"))])
def test_qparams_from_range_rejects_non_finite(lo, hi):
    with pytest.raises(ValueError, match="finite"):
        Q.qparams_from_range(lo, hi, 8)


@pytest.mark.parametrize("v", [0.0, 0.5, -2.0])
@pytest.mark.parametrize("scheme", Q.SCHEMES)
def test_qparams_from_range_rejects_zero_width(v, scheme):
    with pytest.raises(ValueError, match="zero width"):
        Q.qparams_from_range(v, v, 8, scheme=scheme)


def test_qparams_from_range_rejects_per_block_nan_and_unusable_scales():
    with pytest.raises(ValueError, match="finite"):
        Q.qparams_from_range(torch.tensor([[-1.0], [float("nan")]]), torch.ones(2, 1), 8, block_size=(1, 4))
    with pytest.raises(ValueError, match="too wide"):
        Q.qparams_from_range(-3e38, 3e38, 8)
    with pytest.raises(ValueError, match="too narrow"):
        Q.qparams_from_range(-1e-44, 1e-44, 8, scheme="symmetric")
    with pytest.raises(ValueError, match="lo <= hi"):
        Q.qparams_from_range(1.0, -1.0, 8)


@pytest.mark.parametrize("scheme", Q.SCHEMES)
def test_all_zero_tensor_quantizes_with_scale_one(scheme):
    qp = Q.choose_qparams(torch.zeros(7), 4, scheme=scheme)
    assert float(qp.scale) == 1.0
    assert torch.equal(Q.fake_quantize(torch.zeros(7), qparams=qp), torch.zeros(7))
    assert Q.widen_range(0.0, 0.0, 4, scheme)[1].item() == (15.0 if scheme == "affine" else 7.0)


def test_constant_nonzero_block_keeps_value():
    x = torch.tensor([[0.5, 0.5, 0.5], [-1.0, 0.0, 3.0]])
    y = Q.fake_quantize(x, 8, scheme="symmetric", block_size=(1, 3))
    assert torch.allclose(y[0], x[0], atol=1e-6)


def test_model_with_a_zeroed_layer_quantizes_every_method():
    model = models.build("lenet300")
    with torch.no_grad():
        model.fc2.weight.zero_()
    for method in ("uniform", "log", "kmeans"):
        for gran in ("tensor", "channel", "group"):
            q = Q.quantize_weights(model, 4, method=method, granularity=gran)
            assert torch.equal(q.fc2.weight, torch.zeros_like(q.fc2.weight))
    q = Q.ptq(model, 8, 8, calib_data=_randn(8, 1, 28, 28))
    assert torch.isfinite(q(_randn(2, 1, 28, 28))).all()


def test_calibrate_range_of_constant_values():
    for method in Q.CALIBRATIONS:
        lo, hi = Q.calibrate_range(torch.zeros(100), 4, method=method)
        assert lo == hi == 0.0


def test_act_quant_with_constant_zero_input_quantizes():
    aq = Q.ActQuant(4)
    aq.set_range(0.0, 0.0)
    aq.mode = "quant"
    assert torch.equal(aq(torch.tensor([0.0, 2.0, 3.4])), torch.tensor([0.0, 2.0, 3.0]))  # scale 1
    fresh = Q.ActQuant(4)
    fresh.mode = "quant"
    with pytest.raises(RuntimeError, match="calibrate"):
        fresh(torch.ones(3))


# --- mixed precision: unknown layer names raise ---------------------------------------------------

def test_mixed_precision_unknown_layer_raises():
    model = models.build("lenet300")
    with pytest.raises(ValueError, match="unknown layer"):
        Q.quantize_weights(model, {"fc1 ": 4})  # was: an unchanged float model
    with pytest.raises(ValueError, match="unknown layer"):
        Q.quantized_size_bits(model, {"fc9": 4})  # was: counted at 32 bits
    with pytest.raises(ValueError, match="unknown layer"):
        Q.share_weights_(copy.deepcopy(model), {"fc4": 2})
    with pytest.raises(ValueError, match="unknown layer"):
        Q.attach_activation_quant_(copy.deepcopy(model), {"fc0": 8})
    with pytest.raises(ValueError, match="empty"):
        Q.quantize_weights(model, {})
    with pytest.raises(ValueError, match=r"bits\['fc1'\]"):
        Q.quantize_weights(model, {"fc1": 0})


def test_mixed_precision_dict_quantizes_named_layers_only():
    model = models.build("lenet300")
    q = Q.quantize_weights(model, {"fc2": 2})
    assert torch.equal(q.fc1.weight, model.fc1.weight) and torch.equal(q.fc3.weight, model.fc3.weight)
    assert max(torch.unique(r).numel() for r in q.fc2.weight.detach()) <= 3
    layers = metrics.measure_layers(model)
    assert Q.quantized_size_bits(model, {"fc2": 2}, layers=layers) == \
        Q.quantized_size_bits(model, {"fc1": 32, "fc2": 2, "fc3": 32}, layers=layers)
    shared = Q.share_weights_(copy.deepcopy(model), {"fc3": 2})
    assert set(shared) == {"fc3"}


# --- group quantization: no silent gcd, a last partial group of its own ----------------------------

def _groups_of_row(row, gs):
    return [row[i:i + gs] for i in range(0, len(row), gs)]


def test_group_quantization_keeps_group_size_on_lenet5_conv1():
    model = models.build("lenet5")
    q = Q.quantize_weights(model, 2, granularity="group", group_size=32)
    rows = q.conv1.weight.detach().reshape(20, 25)
    # 25 inputs < 32: one group (one scale) per row -> at most 3 levels; the gcd (1) kept every weight
    assert max(torch.unique(r).numel() for r in rows) <= 3


def test_group_quantization_partial_last_group_has_its_own_scale():
    model = models.build("lenet5")
    gs, bits = 32, 3
    q = Q.quantize_weights(model, bits, granularity="group", group_size=gs)
    w = model.conv2.weight.detach().reshape(50, 500)
    got = q.conv2.weight.detach().reshape(50, 500)
    for r in (0, 17, 49):
        for k, g in enumerate(_groups_of_row(w[r], gs)):  # 15 groups of 32, then one of 20
            ref = Q.fake_quantize(g, bits, scheme="symmetric")
            assert torch.equal(got[r, k * gs:k * gs + g.numel()], ref)


def test_group_size_accounting_counts_scales_used():
    model = models.build("lenet5")
    layers = metrics.measure_layers(model)
    bits, gs = 4, 32
    scales = 20 * 1 + 50 * math.ceil(500 / gs) + 500 * math.ceil(800 / gs) + 10 * math.ceil(500 / gs)
    n_w, n_b = 500 + 25_000 + 400_000 + 5_000, 20 + 50 + 500 + 10
    expected = n_w * bits + scales * 32 + n_b * 32
    assert Q.quantized_size_bits(model, bits, granularity="group", group_size=gs, layers=layers) == expected
    affine = Q.quantized_size_bits(model, bits, granularity="group", group_size=gs, scheme="affine", layers=layers)
    assert affine == expected + scales * bits


def test_group_qat_passes_gradients_through_padding():
    layer = nn.Linear(25, 3)
    reparam.attach(layer, Q.FakeQuantWeight(3, granularity="group", group_size=8), unsafe=True)
    layer(_randn(4, 25)).sum().backward()
    g = layer.parametrizations.weight.original.grad
    assert g is not None and g.shape == (3, 25) and bool((g != 0).any())
    w = layer.parametrizations.weight.original.detach()
    assert torch.allclose(layer.weight.detach()[:, 24], w[:, 24])  # a last group of one weight is exact


def test_per_group_error_lists_allowed_sizes():
    with pytest.raises(ValueError, match=r"\[1, 5, 25\]"):
        Q.per_group((20, 25), 32)
    with pytest.raises(ValueError, match="group_size"):
        Q.quantize_weights(models.build("lenet300"), 4, granularity="channel", group_size=16)


# --- activation quantizers: removable hooks that never stack ----------------------------------------

def _capture_input(layer):
    seen = []
    layer.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    return seen


def test_activation_quant_attach_twice_does_not_stack_and_is_removable():
    model = models.build("lenet5").eval()
    x = _randn(8, 1, 28, 28)
    y_float = model(x)
    Q.attach_activation_quant_(model, 8)
    acts = Q.attach_activation_quant_(model, 4)  # replaces: one quantizer per layer
    for layer in Q.quant_layers(model).values():
        assert len(layer._forward_pre_hooks) == 1 and reparam.hooks(layer) == [Q.ACT_HOOK]
    Q.calibrate_activations_(model, acts, x)
    assert all(len(q.observed) == 0 for q in acts.values())
    assert not torch.equal(model(x), y_float)
    Q.remove_activation_quant_(model)
    for layer in Q.quant_layers(model).values():
        assert len(layer._forward_pre_hooks) == 0 and not hasattr(layer, "act_quant")
    assert torch.equal(model(x), y_float)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_activation_quant_output_lies_on_grid(bits):
    model = models.build("lenet5").eval()
    x = _randn(16, 1, 28, 28)
    acts = Q.attach_activation_quant_(model, bits, skip_first=True)
    Q.calibrate_activations_(model, acts, x)
    seen = _capture_input(model.fc1)  # registered after the quantizer: sees its output
    model(_randn(4, 1, 28, 28, seed=1) * 3)  # new data, partly out of the calibrated range
    qp = acts["fc1"].qparams()
    codes = seen[0] / qp.scale + qp.zero_point
    assert torch.allclose(codes, codes.round(), atol=1e-3)
    assert float(codes.min()) >= qp.qmin - 1e-3 and float(codes.max()) <= qp.qmax + 1e-3
    assert codes.round().unique().numel() <= 2 ** bits


def test_qat_activation_quant_pact_on_grid():
    model = models.build("lenet300")
    acts = Q.prepare_qat_(model, None, act_bits=3, act_clip="pact", skip_first_act=True)
    seen = _capture_input(model.fc2)
    model.train()(_randn(8, 1, 28, 28))
    alpha = float(acts["fc2"].alpha.detach().abs()) + 1e-6
    step = alpha / 7
    assert torch.allclose(seen[0] / step, (seen[0] / step).round(), atol=1e-3)
    assert float(seen[0].max()) <= alpha + 1e-5


# --- gradient quantization: the backward values -----------------------------------------------------

def _identity_linear(n):
    layer = nn.Linear(n, n, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(n))
    return layer


@pytest.mark.parametrize("bits", [2, 3, 5])
def test_gradient_quant_backward_on_grid_and_unbiased(bits):
    n, reps = 6, 20_000
    g = torch.tensor([0.9, -0.31, 0.05, 0.0, -1.2, 0.44])
    layer = _identity_linear(n)
    Q.attach_gradient_quant_(layer, bits, seed=1)
    x = torch.zeros(reps, n, requires_grad=True)
    layer(x).backward(g.expand(reps, n))  # the identity layer hands the quantized gradient to x
    got = x.grad
    qmax = 2 ** (bits - 1) - 1
    step = float(g.abs().max()) / qmax
    k = got / step
    assert torch.allclose(k, k.round(), atol=1e-4) and float(k.abs().max()) <= qmax + 1e-4
    assert bool(((got - g).abs() <= step + 1e-6).all())  # one of the two neighbours
    assert torch.allclose(got.mean(0), g, atol=0.05 * step)  # unbiased (stochastic rounding)
    assert not torch.equal(got[0], g)  # it really quantized


def test_gradient_quant_attach_twice_replaces_and_removes():
    layer = _identity_linear(3)
    Q.attach_gradient_quant_(layer, 4)
    handles = Q.attach_gradient_quant_(layer, 2)
    assert len(layer._forward_hooks) == 1
    x = torch.zeros(1, 3, requires_grad=True)
    g = torch.tensor([[0.3, -1.0, 0.6]])
    layer(x).backward(g)
    assert set(x.grad.flatten().tolist()) <= {-1.0, 0.0, 1.0}  # 2 bits: {−s, 0, s}
    handles[0].remove()
    x.grad = None
    layer(x).backward(g)
    assert torch.equal(x.grad, g)
    Q.attach_gradient_quant_(layer, 2)
    Q.remove_gradient_quant_(layer)
    assert len(layer._forward_hooks) == 0


# --- recipes: seed selects the baseline, code fingerprints the key ----------------------------------

def test_build_quantized_uses_the_seeds_baseline(monkeypatch):
    asked = []

    def fake_baseline(name, *, seed=0, progress=True, retrain=False):
        asked.append((name, seed))
        return models.build(name, seed=seed)

    monkeypatch.setattr(train, "baseline", fake_baseline)
    m = Q.build_quantized("lenet300", "uniform", 4, seed=3)
    assert asked == [("lenet300", 3)]
    assert reparam.is_transformed(m.fc1)


def test_train_quantized_key_has_code_and_no_version(monkeypatch):
    seen = {}

    def fake_cached_model(spec, make, fit, *, name, code=(), parents=()):
        seen.update(spec=spec, code=code, name=name)
        return make()

    monkeypatch.setattr(train, "cached_model", fake_cached_model)
    monkeypatch.setattr(train, "baseline", lambda name, *, seed=0, progress=True: models.build(name, seed=seed))
    Q.train_quantized("lenet300", **Q.RECIPES["qat4"], progress=False)
    assert "v" not in seen["spec"] and seen["spec"]["seed"] == 0
    assert Q.train_quantized in seen["code"] and Q.FakeQuantSTE in seen["code"] and Q.ActQuant in seen["code"]
    train.code_fingerprint(*seen["code"])  # every piece has source
    Q.train_shared("lenet300", 2, epochs=0, progress=False)
    assert "v" not in seen["spec"] and Q.train_shared in seen["code"]
