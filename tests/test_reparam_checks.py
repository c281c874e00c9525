"""The shared mechanisms: reparam (attach / bake / named hooks / layer enumeration) and checks."""
import copy

import pytest
import torch
from hypothesis import given, strategies as st
from torch import nn

from companion import checks, reparam


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


def test_weight_layers_and_select_layers():
    net = _net()
    assert list(reparam.weight_layers(net)) == ["0", "3"]
    assert list(reparam.select_layers(net, ["3"])) == ["3"]
    assert list(reparam.select_layers(net, {"0": 4})) == ["0"]
    with pytest.raises(ValueError, match="unknown layer name.*'3 '.*layers of this model"):
        reparam.select_layers(net, ["3 "])
    with pytest.raises(ValueError, match="empty"):
        reparam.select_layers(net, [])
    with pytest.raises(TypeError):
        reparam.weight_layers("net")


def test_attach_stacks_in_order_and_handles_remove_one():
    layer = nn.Linear(3, 2)
    w = layer.weight.detach().clone()
    h2 = reparam.attach(layer, reparam.Scale(2.0))
    h3 = reparam.attach(layer, reparam.Scale(3.0))
    assert torch.allclose(layer.weight, 6 * w)
    h2.remove()
    assert torch.allclose(layer.weight, 3 * w) and len(reparam.transforms(layer)) == 1
    h2.remove()  # a second remove is harmless
    h3.remove()
    assert not reparam.is_transformed(layer) and torch.equal(layer.weight.detach(), w)


def test_bake_keeps_transformed_values_and_only_filters():
    class Zero(nn.Module):
        def forward(self, w):
            return torch.zeros_like(w)
    net = _net()
    reparam.attach(net[0], Zero())
    reparam.attach(net[3], reparam.Scale(2.0))
    w3 = net[3].weight.detach().clone()
    reparam.bake_(net, only=Zero)
    assert not reparam.is_transformed(net[0]) and float(net[0].weight.abs().sum()) == 0
    assert reparam.is_transformed(net[3])
    reparam.remove_(net)
    assert torch.allclose(net[3].weight, w3 / 2)
    with pytest.raises(ValueError, match="no tensor named"):
        reparam.attach(nn.ReLU(), reparam.Scale(1.0))
    with pytest.raises(TypeError, match="transform must be an nn.Module"):
        reparam.attach(nn.Linear(2, 2), lambda w: w)


def test_named_hooks_replace_never_stack_and_remove():
    layer = nn.Linear(2, 2, bias=False)
    x = torch.ones(1, 2)
    y = layer(x)
    reparam.attach_input_hook(layer, "q", lambda t: 2 * t)
    h = reparam.attach_input_hook(layer, "q", lambda t: 3 * t)  # replaces, does not stack to 6x
    assert torch.allclose(layer(x), 3 * y) and reparam.hooks(layer) == ["q"]
    reparam.attach_output_hook(layer, "g", lambda t: t + 1)
    assert torch.allclose(layer(x), 3 * y + 1)
    h.remove()
    assert torch.allclose(layer(x), y + 1)
    reparam.remove_hooks_(layer)
    assert torch.allclose(layer(x), y) and reparam.hooks(layer) == []


def test_deep_copy_hooks_its_own_module():
    class Gain(nn.Module):
        def __init__(self):
            super().__init__()
            self.k = nn.Parameter(torch.tensor(1.0))

        def forward(self, x):
            return self.k * x
    layer = nn.Linear(2, 2, bias=False)
    layer.add_module("q", Gain())
    reparam.attach_input_hook(layer, "q", layer.q)
    twin = copy.deepcopy(layer)
    with torch.no_grad():
        twin.q.k.fill_(0.0)
    x = torch.ones(1, 2)
    assert float(twin(x).abs().sum()) == 0 and float(layer(x).abs().sum()) > 0


@given(st.integers(-5, 5), st.integers(-5, 5))
def test_check_int_bounds(v, lo):
    if v < lo:
        with pytest.raises(ValueError, match="must be in"):
            checks.check_int(v, "n", minimum=lo)
    else:
        assert checks.check_int(v, "n", minimum=lo) == v


@pytest.mark.parametrize("call, err, msg", [
    (lambda: checks.check_int(1.0, "bits"), TypeError, "bits must be an int"),
    (lambda: checks.check_int(True, "bits"), TypeError, "bool"),
    (lambda: checks.check_float(float("nan"), "lr"), ValueError, "finite"),
    (lambda: checks.check_float("1", "lr"), TypeError, "number"),
    (lambda: checks.check_fraction(1.5, "sparsity"), ValueError, "sparsity must be <= 1"),
    (lambda: checks.check_fraction(1.0, "sparsity", open_high=True), ValueError, "< 1"),
    (lambda: checks.check_choice("x", "scheme", ["a", "b"]), ValueError, "one of"),
    (lambda: checks.check_tensor([1], "w"), TypeError, "torch.Tensor"),
    (lambda: checks.check_tensor(torch.zeros(2), "w", ndim=(2, 4)), ValueError, "2 or 4 dimensions"),
    (lambda: checks.check_tensor(torch.tensor([float("inf")]), "w", finite=True), ValueError, "NaN or Inf"),
    (lambda: checks.check_model("m"), TypeError, "nn.Module"),
    (lambda: checks.check_bits(33), ValueError, r"\[1, 32\]"),
    (lambda: checks.check_finite_range(1.0, 1.0), ValueError, "low < high"),
    (lambda: checks.check_finite_range(0.0, float("inf")), ValueError, "finite"),
])
def test_checks_name_the_argument(call, err, msg):
    with pytest.raises(err, match=msg):
        call()
