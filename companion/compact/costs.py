"""Closed-form cost (parameters, MACs, activations) of layers, blocks and MobileNet-v1.

After the survey's section on compact models. Conventions (those of :mod:`companion.metrics`,
so a closed form and a hook measurement can be compared number for number): per sample
(batch 1); a *MAC* is one multiply-accumulate of a conv or fully connected layer (BatchNorm
folds into the conv before it, pooling, ReLU, residual additions and the shuffle cost no MACs);
*params* are all trainable tensors, a BatchNorm layer counting ``2·C`` (scale and shift);
*activations* are the elements of every conv/fc output.
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import models
from ._common import divisible, nonneg_int, pos_float, pos_int

__all__ = ["Cost", "conv_out_size", "conv_cost", "bn_cost", "bottleneck_cost", "fire_cost",
           "depthwise_separable_cost", "inverted_residual_cost", "shuffle_unit_cost", "scale_channels",
           "make_divisible", "WIDTH_GRID", "MOBILENET_V1_BODY", "mobilenet_v1_table", "layer_kind", "cost_by_kind",
           "conv_intensity"]


# --- the cost of one layer ------------------------------------------------------------------

@dataclass(frozen=True)
class Cost:
    """What a layer or block costs on one sample: ``params``, ``macs``, ``activations`` (elements).

    Costs add up: ``conv_cost(...) + bn_cost(...)``; ``sum(costs, Cost())`` totals a list.
    """

    params: int = 0
    macs: int = 0
    activations: int = 0

    def __add__(self, other: "Cost") -> "Cost":
        if not isinstance(other, Cost):
            return NotImplemented
        return Cost(self.params + other.params, self.macs + other.macs, self.activations + other.activations)

    def __radd__(self, other):
        if other == 0:  # sum() starts from 0
            return self
        return self.__add__(other)


def conv_out_size(size: int, k: int, stride: int = 1, pad: int | None = None) -> int:
    """Output side of a conv: ``(size + 2·pad − k) // stride + 1`` (``pad=None``: ``k // 2``, "same")."""
    pos_int("size", size), pos_int("k", k), pos_int("stride", stride)
    pad = k // 2 if pad is None else nonneg_int("pad", pad)
    out = (size + 2 * pad - k) // stride + 1
    if out < 1:
        raise ValueError(f"a {k}x{k} conv with pad {pad} does not fit an input of side {size}")
    return out


def conv_cost(c_in: int, c_out: int, h: int, w: int, k: int = 3, *, stride: int = 1, pad: int | None = None,
              groups: int = 1, bias: bool = False) -> Cost:
    """Cost of a (group) convolution on a ``c_in x h x w`` input.

    ``params = c_out · c_in/groups · k² (+ c_out bias)``,
    ``macs = h_out · w_out · c_out · c_in/groups · k²``, ``activations = c_out · h_out · w_out``.
    ``groups=1`` is a standard conv, ``groups=c_in=c_out`` a depthwise conv; a fully connected
    layer is ``conv_cost(n_in, n_out, 1, 1, k=1)``.

    >>> conv_cost(32, 64, 56, 56, k=3)
    Cost(params=18432, macs=57802752, activations=200704)
    """
    for nm, v in (("c_in", c_in), ("c_out", c_out), ("h", h), ("w", w), ("k", k), ("groups", groups)):
        pos_int(nm, v)
    divisible("c_in", c_in, groups)
    divisible("c_out", c_out, groups)
    ho, wo = conv_out_size(h, k, stride, pad), conv_out_size(w, k, stride, pad)
    weights = c_out * (c_in // groups) * k * k
    return Cost(weights + (c_out if bias else 0), ho * wo * weights, c_out * ho * wo)


def bn_cost(channels: int) -> Cost:
    """A BatchNorm layer: ``2·C`` parameters (scale, shift), no MACs (folded into the conv)."""
    return Cost(params=2 * pos_int("channels", channels))


def _conv_bn(c_in, c_out, h, w, k, stride=1, groups=1, norm=True) -> Cost:
    """Conv (+BN when ``norm``; the conv then has no bias, else it has one)."""
    c = conv_cost(c_in, c_out, h, w, k, stride=stride, groups=groups, bias=not norm)
    return c + bn_cost(c_out) if norm else c


def bottleneck_cost(c_in: int, c_mid: int, c_out: int, h: int, w: int, *, k: int = 3, stride: int = 1,
                    norm: bool = True) -> Cost:
    """ResNet bottleneck: 1x1 ``c_in→c_mid``, kxk ``c_mid→c_mid`` (stride), 1x1 ``c_mid→c_out``,
    plus a 1x1 projection shortcut when ``stride > 1`` or ``c_in != c_out``.

    Against a plain kxk conv ``c_in→c_out`` the MACs fall by about
    ``k²·c_in·c_out / (c_in·c_mid + k²·c_mid² + c_mid·c_out)`` (He et al. 2016; the 1x1 idea is
    Lin et al.'s Network in Network).
    """
    for nm, v in (("c_in", c_in), ("c_mid", c_mid), ("c_out", c_out), ("h", h), ("w", w)):
        pos_int(nm, v)
    ho, wo = conv_out_size(h, k, stride), conv_out_size(w, k, stride)
    cost = (_conv_bn(c_in, c_mid, h, w, 1, norm=norm) + _conv_bn(c_mid, c_mid, h, w, k, stride, norm=norm)
            + _conv_bn(c_mid, c_out, ho, wo, 1, norm=norm))
    if stride > 1 or c_in != c_out:
        cost = cost + _conv_bn(c_in, c_out, h, w, 1, stride, norm=norm)
    return cost


def fire_cost(c_in: int, squeeze: int, expand1x1: int, expand3x3: int, h: int, w: int, *,
              norm: bool = False) -> Cost:
    """SqueezeNet Fire module: squeeze 1x1 ``c_in→s``, then expand 1x1 ``s→e1`` and 3x3 ``s→e3``
    side by side (concatenated: ``e1 + e3`` output channels, same ``h x w``).

    ``params = c_in·s + s·e1 + 9·s·e3`` (+ biases or BN), ``macs = h·w·params_weights``.
    SqueezeNet keeps ``s`` small (squeeze ratio 1/8) and half the expand filters 1x1
    (Iandola et al. 2016, strategies 1 and 2).
    """
    for nm, v in (("c_in", c_in), ("squeeze", squeeze), ("expand1x1", expand1x1), ("expand3x3", expand3x3),
                  ("h", h), ("w", w)):
        pos_int(nm, v)
    return (_conv_bn(c_in, squeeze, h, w, 1, norm=norm) + _conv_bn(squeeze, expand1x1, h, w, 1, norm=norm)
            + _conv_bn(squeeze, expand3x3, h, w, 3, norm=norm))


def depthwise_separable_cost(c_in: int, c_out: int, h: int, w: int, *, k: int = 3, stride: int = 1,
                             norm: bool = True) -> Cost:
    """MobileNet's depthwise-separable conv: kxk depthwise (``groups=c_in``), then 1x1 pointwise.

    ``macs = h_o·w_o·c_in·k² + h_o·w_o·c_in·c_out``; against a standard kxk conv the ratio is
    ``1/c_out + 1/k²`` (Howard et al. 2017, eq. 5) — about 8-9x fewer for 3x3.
    """
    for nm, v in (("c_in", c_in), ("c_out", c_out), ("h", h), ("w", w)):
        pos_int(nm, v)
    ho, wo = conv_out_size(h, k, stride), conv_out_size(w, k, stride)
    return _conv_bn(c_in, c_in, h, w, k, stride, groups=c_in, norm=norm) + _conv_bn(c_in, c_out, ho, wo, 1, norm=norm)


def inverted_residual_cost(c_in: int, c_out: int, h: int, w: int, *, expansion: int = 6, k: int = 3,
                           stride: int = 1, norm: bool = True) -> Cost:
    """MobileNet v2 inverted residual: 1x1 expand ``c_in→t·c_in`` (omitted when ``t = 1``), kxk
    depthwise (stride), 1x1 linear projection ``t·c_in→c_out``; the input is added back when
    ``stride = 1`` and ``c_in = c_out`` (no parameters, no MACs).

    ``macs = h·w·c_in·t·c_in + h_o·w_o·t·c_in·k² + h_o·w_o·t·c_in·c_out`` (Sandler et al. 2018, Table 1).
    """
    for nm, v in (("c_in", c_in), ("c_out", c_out), ("h", h), ("w", w), ("expansion", expansion)):
        pos_int(nm, v)
    hidden = c_in * expansion
    ho, wo = conv_out_size(h, k, stride), conv_out_size(w, k, stride)
    cost = _conv_bn(c_in, hidden, h, w, 1, norm=norm) if expansion != 1 else Cost()
    return cost + _conv_bn(hidden, hidden, h, w, k, stride, groups=hidden, norm=norm) + _conv_bn(
        hidden, c_out, ho, wo, 1, norm=norm)


def shuffle_unit_cost(c_in: int, c_out: int, h: int, w: int, *, groups: int = 2, mid: int | None = None,
                      stride: int = 1, norm: bool = True) -> Cost:
    """ShuffleNet (v1) unit: 1x1 group conv ``c_in→mid``, channel shuffle, 3x3 depthwise (stride),
    1x1 group conv ``mid→branch``. ``stride = 1``: ``branch = c_out = c_in``, output = input +
    branch. ``stride = 2``: ``branch = c_out − c_in``, concatenated with a 3x3 average-pooled input.

    ``mid`` defaults to ``c_out // 4`` (the paper's bottleneck ratio); ``c_in``, ``mid`` and the
    branch width must be divisible by ``groups`` (Zhang et al. 2018).
    """
    for nm, v in (("c_in", c_in), ("c_out", c_out), ("h", h), ("w", w), ("groups", groups)):
        pos_int(nm, v)
    mid = _shuffle_mid(c_out, groups, mid)
    branch = _shuffle_branch(c_in, c_out, stride)
    divisible("c_in", c_in, groups)
    divisible("mid", mid, groups)
    divisible("branch channels", branch, groups)
    ho, wo = conv_out_size(h, 3, stride), conv_out_size(w, 3, stride)
    return (_conv_bn(c_in, mid, h, w, 1, groups=groups, norm=norm)
            + _conv_bn(mid, mid, h, w, 3, stride, groups=mid, norm=norm)
            + _conv_bn(mid, branch, ho, wo, 1, groups=groups, norm=norm))


def _shuffle_mid(c_out, groups, mid):
    if mid is None:
        mid = max(groups, (c_out // 4) // groups * groups)
    return pos_int("mid", mid)


def _shuffle_branch(c_in, c_out, stride):
    if stride not in (1, 2):
        raise ValueError(f"a ShuffleNet unit has stride 1 or 2, got {stride!r}")
    if stride == 1:
        if c_in != c_out:
            raise ValueError(f"a stride-1 ShuffleNet unit adds its input, so c_in must equal c_out; "
                             f"got {c_in} -> {c_out} (use stride=2 to grow the channels)")
        return c_out
    if c_out <= c_in:
        raise ValueError(f"a stride-2 ShuffleNet unit concatenates its input, so c_out > c_in; got {c_in} -> {c_out}")
    return c_out - c_in


# --- multipliers and MobileNet-v1 ------------------------------------------------------------

def scale_channels(channels: int, width: float, min_channels: int = 8) -> int:
    """MobileNet's width multiplier α on a channel count: ``max(int(channels·α), min_channels)``.

    The rounding is that of the reference (TF-slim) implementation, which the paper's
    numbers were computed with.
    """
    pos_int("channels", channels)
    width = pos_float("width multiplier", width)
    return max(int(channels * width), pos_int("min_channels", min_channels))


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``divisor``, never below
    90 % of ``value``) — MobileNet v2's rule, used here so group counts divide the channels."""
    value = pos_float("value", value)
    pos_int("divisor", divisor)
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * value else out


#: Width multipliers α of the chapter's budget exercise: 0.25, 0.30, ..., 1.00.
WIDTH_GRID: tuple[float, ...] = tuple(round(0.25 + 0.05 * i, 2) for i in range(16))

#: MobileNet-v1 body after the stem (3x3 conv, 32 channels, stride 2): (output channels, stride)
#: of its 13 depthwise-separable layers (Howard et al. 2017, Table 1).
MOBILENET_V1_BODY: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def mobilenet_v1_table(width: float = 1.0, resolution: int = 224, *, block: str = "separable",
                       classes: int = 1000, min_channels: int = 8) -> models.LayerTable:
    """Layer table of MobileNet-v1 with width multiplier α = ``width`` and input side ``resolution``.

    ``block="separable"`` is the paper's network; ``block="standard"`` replaces every
    depthwise + pointwise pair by one full 3x3 conv (the paper's "Conv MobileNet", Table 4).
    MACs scale roughly with ``α²·ρ²`` (ρ = resolution / 224), params with ``α²``
    (Howard et al. 2017, Section 3.3-3.4). At ``width=1.0, resolution=224`` the table equals
    ``companion.models.layer_table("mobilenet_v1")``: 4,210,088 params, 568,740,352 MACs.
    """
    width = pos_float("width multiplier", width)
    pos_int("resolution", resolution)
    if resolution < 32:
        raise ValueError(f"resolution must be >= 32 (five stride-2 layers), got {resolution}")
    if block not in ("separable", "standard"):
        raise ValueError(f"block must be 'separable' or 'standard', got {block!r}")
    pos_int("classes", classes)
    S = models.LayerSpec
    c = scale_channels(32, width, min_channels)
    layers = [S("conv1", "conv", 3, resolution, resolution, c, 3, 3, 2, 1, 1, False)]
    side = layers[0].out_h
    for i, (c_out, stride) in enumerate(MOBILENET_V1_BODY, start=2):
        c_out = scale_channels(c_out, width, min_channels)
        if block == "separable":
            dw = S(f"conv{i}.dw", "conv", c, side, side, c, 3, 3, stride, 1, c, False)
            layers += [dw, S(f"conv{i}.pw", "conv", c, dw.out_h, dw.out_w, c_out, 1, 1, 1, 0, 1, False)]
            side = dw.out_h
        else:
            layers.append(S(f"conv{i}", "conv", c, side, side, c_out, 3, 3, stride, 1, 1, False))
            side = layers[-1].out_h
        c = c_out
    layers.append(S("fc", "fc", c, 1, 1, classes, bias=True))
    return models.LayerTable(f"mobilenet_v1_{width:g}_{resolution}" + ("" if block == "separable" else "_conv"),
                             tuple(layers))


def layer_kind(layer: models.LayerSpec) -> str:
    """The block type of a layer-table row: ``"conv kxk"`` (k > 1, standard or grouped),
    ``"conv 1x1"``, ``"depthwise"``, ``"fc"`` or ``"bn"``."""
    if not isinstance(layer, models.LayerSpec):
        raise TypeError(f"expected a companion.models.LayerSpec, got {type(layer).__name__}")
    if layer.type in ("fc", "bn"):
        return layer.type
    if layer.is_depthwise:
        return "depthwise"
    return "conv 1x1" if layer.k_h == layer.k_w == 1 else "conv kxk"


def cost_by_kind(table: models.LayerTable) -> dict[str, Cost]:
    """Params, MACs and output activations of a layer table summed per :func:`layer_kind`."""
    if not isinstance(table, models.LayerTable):
        raise TypeError(f"expected a companion.models.LayerTable, got {type(table).__name__}")
    out: dict[str, Cost] = {}
    for l in table:
        kind = layer_kind(l)
        acts = 0 if l.type == "bn" else l.out_activations
        out[kind] = out.get(kind, Cost()) + Cost(l.params, l.macs, acts)
    return out



def conv_intensity(c_in: int, c_out: int, h: int, w: int, k: int = 3, *, stride: int = 1, groups: int = 1,
                   bytes_per_value: int = 4) -> float:
    """MACs per byte of a conv that reads its input and weights and writes its output once:
    ``macs / (bytes · (c_in·h·w + weights + c_out·h_o·w_o))``.

    A depthwise conv does ``k²`` MACs per output element and so stays near ``k² / (2·bytes)``
    MAC/byte — far left of any CPU's roofline ridge: memory-bound. A pointwise conv does
    ``c_in`` per output element and grows with the channel count (cf. chapter 1's roofline).
    """
    cost = conv_cost(c_in, c_out, h, w, k, stride=stride, groups=groups)
    pos_int("bytes_per_value", bytes_per_value)
    return cost.macs / (bytes_per_value * (c_in * h * w + cost.params + cost.activations))

