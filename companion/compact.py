"""Compact models: the building blocks, their closed-form cost, and a tiny architecture search.

After the survey's section on compact models (Deng et al., Proc. IEEE 2020). Instead of
compressing a trained network, design one that is small to begin with:

* **1x1 bottleneck** (Network-in-Network, GoogLeNet, ResNet-50): squeeze the channels with a
  1x1 conv before the expensive kxk conv, expand them after (:func:`bottleneck_cost`,
  :class:`Bottleneck`).
* **Fire module** (SqueezeNet, Iandola et al. 2016): a 1x1 *squeeze* layer feeding a mix of
  1x1 and 3x3 *expand* filters (:func:`fire_cost`, :class:`Fire`).
* **Depthwise-separable conv** and the **width / resolution multipliers** (MobileNet v1,
  Howard et al. 2017): a kxk conv per channel, then a 1x1 conv across channels
  (:func:`depthwise_separable_cost`, :class:`DepthwiseSeparable`, :func:`mobilenet_v1_table`).
* **Inverted residual** (MobileNet v2, Sandler et al. 2018): expand (1x1), depthwise (kxk),
  project linearly (1x1), add the input (:func:`inverted_residual_cost`, :class:`InvertedResidual`).
* **Group conv + channel shuffle** (ShuffleNet, Zhang et al. 2018) (:func:`channel_shuffle`,
  :func:`shuffle_unit_cost`, :class:`ShuffleUnit`).
* A **tiny neural architecture search** over block type, width multiplier and depth under a
  MAC budget, with short training as the proxy (:func:`search`, :func:`pareto_front`).

Cost conventions (those of :mod:`companion.metrics`, so a closed form and a hook measurement
can be compared number for number): per sample (batch 1); a *MAC* is one multiply-accumulate
of a conv or fully connected layer (BatchNorm folds into the conv before it, pooling, ReLU,
residual additions and the shuffle cost no MACs); *params* are all trainable tensors, a
BatchNorm layer counting ``2·C`` (scale and shift); *activations* are the elements of every
conv/fc output (what a layer-by-layer executor writes to memory; BN and ReLU in place).
"""
from __future__ import annotations

import math
import random
import statistics
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Iterable, Sequence

import torch
from torch import nn

from . import exercises, metrics, models

__all__ = [
    # costs
    "Cost", "conv_out_size", "conv_cost", "bn_cost", "bottleneck_cost", "fire_cost",
    "depthwise_separable_cost", "inverted_residual_cost", "shuffle_unit_cost",
    "scale_channels", "make_divisible",
    # real networks
    "MOBILENET_V1_BODY", "mobilenet_v1_table", "layer_kind", "cost_by_kind",
    # blocks
    "channel_shuffle", "channel_unshuffle", "ChannelShuffle", "Bottleneck", "Fire",
    "DepthwiseSeparable", "InvertedResidual", "ShuffleUnit",
    # compact MNIST networks
    "BLOCK_TYPES", "ArchConfig", "CompactCNN", "build_compact", "arch_cost", "train_compact",
    # search
    "SearchSpace", "Candidate", "sample_arch", "mutate", "search", "pareto_front",
    # practice
    "proxy_score", "run_search", "conv_intensity", "latency_ms", "latency_comparison", "WIDTH_GRID", "MNIST_VARIANTS", "ARCH_VERSION", "TRAIN_THREADS",
]


# --- input checks ----------------------------------------------------------------------------

def _pos_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be a positive int, got {type(v).__name__} {v!r}")
    if v < 1:
        raise ValueError(f"{name} must be a positive int (>= 1), got {v}")
    return v


def _nonneg_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be a non-negative int, got {type(v).__name__} {v!r}")
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {v}")
    return v


def _pos_float(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name} must be a number > 0, got {type(v).__name__} {v!r}")
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    return float(v)


def _divisible(what: str, channels: int, groups: int) -> None:
    if channels % groups:
        raise ValueError(f"{what}={channels} is not divisible by groups={groups}; "
                         f"choose channels that are a multiple of the group count")


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
    _pos_int("size", size), _pos_int("k", k), _pos_int("stride", stride)
    pad = k // 2 if pad is None else _nonneg_int("pad", pad)
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
        _pos_int(nm, v)
    _divisible("c_in", c_in, groups)
    _divisible("c_out", c_out, groups)
    ho, wo = conv_out_size(h, k, stride, pad), conv_out_size(w, k, stride, pad)
    weights = c_out * (c_in // groups) * k * k
    return Cost(weights + (c_out if bias else 0), ho * wo * weights, c_out * ho * wo)


def bn_cost(channels: int) -> Cost:
    """A BatchNorm layer: ``2·C`` parameters (scale, shift), no MACs (folded into the conv)."""
    return Cost(params=2 * _pos_int("channels", channels))


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
        _pos_int(nm, v)
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
        _pos_int(nm, v)
    return (_conv_bn(c_in, squeeze, h, w, 1, norm=norm) + _conv_bn(squeeze, expand1x1, h, w, 1, norm=norm)
            + _conv_bn(squeeze, expand3x3, h, w, 3, norm=norm))


def depthwise_separable_cost(c_in: int, c_out: int, h: int, w: int, *, k: int = 3, stride: int = 1,
                             norm: bool = True) -> Cost:
    """MobileNet's depthwise-separable conv: kxk depthwise (``groups=c_in``), then 1x1 pointwise.

    ``macs = h_o·w_o·c_in·k² + h_o·w_o·c_in·c_out``; against a standard kxk conv the ratio is
    ``1/c_out + 1/k²`` (Howard et al. 2017, eq. 5) — about 8-9x fewer for 3x3.
    """
    for nm, v in (("c_in", c_in), ("c_out", c_out), ("h", h), ("w", w)):
        _pos_int(nm, v)
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
        _pos_int(nm, v)
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
        _pos_int(nm, v)
    mid = _shuffle_mid(c_out, groups, mid)
    branch = _shuffle_branch(c_in, c_out, stride)
    _divisible("c_in", c_in, groups)
    _divisible("mid", mid, groups)
    _divisible("branch channels", branch, groups)
    ho, wo = conv_out_size(h, 3, stride), conv_out_size(w, 3, stride)
    return (_conv_bn(c_in, mid, h, w, 1, groups=groups, norm=norm)
            + _conv_bn(mid, mid, h, w, 3, stride, groups=mid, norm=norm)
            + _conv_bn(mid, branch, ho, wo, 1, groups=groups, norm=norm))


def _shuffle_mid(c_out, groups, mid):
    if mid is None:
        mid = max(groups, (c_out // 4) // groups * groups)
    return _pos_int("mid", mid)


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
    _pos_int("channels", channels)
    width = _pos_float("width multiplier", width)
    return max(int(channels * width), _pos_int("min_channels", min_channels))


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``divisor``, never below
    90 % of ``value``) — MobileNet v2's rule, used here so group counts divide the channels."""
    value = _pos_float("value", value)
    _pos_int("divisor", divisor)
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * value else out


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
    width = _pos_float("width multiplier", width)
    _pos_int("resolution", resolution)
    if resolution < 32:
        raise ValueError(f"resolution must be >= 32 (five stride-2 layers), got {resolution}")
    if block not in ("separable", "standard"):
        raise ValueError(f"block must be 'separable' or 'standard', got {block!r}")
    _pos_int("classes", classes)
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


# --- blocks as modules -----------------------------------------------------------------------

def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: ``[N, g·n, H, W] → view [N, g, n, H, W] → transpose → [N, n·g, H, W]``.

    Output channel ``j·g + i`` is input channel ``i·n + j``: after a group conv, every group of
    the next group conv sees channels from every group of this one (Zhang et al. 2018, Fig. 1).
    A permutation; :func:`channel_unshuffle` undoes it.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(f"x must have a channel dimension [N, C, ...], got shape {tuple(x.shape)}")
    _pos_int("groups", groups)
    n, c = x.shape[:2]
    _divisible("channels", c, groups)
    return x.reshape(n, groups, c // groups, *x.shape[2:]).transpose(1, 2).reshape(x.shape)


def channel_unshuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Inverse of :func:`channel_shuffle` (a shuffle with ``C / groups`` groups)."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise TypeError(f"x must be a torch.Tensor [N, C, ...], got {type(x).__name__}")
    _pos_int("groups", groups)
    _divisible("channels", x.shape[1], groups)
    return channel_shuffle(x, x.shape[1] // groups)


class ChannelShuffle(nn.Module):
    """:func:`channel_shuffle` as a layer."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = _pos_int("groups", groups)

    def forward(self, x):
        return channel_shuffle(x, self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"


def _conv_bn_relu(c_in, c_out, k, stride=1, groups=1, norm=True, relu=True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(c_out))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """ResNet bottleneck block (1x1 reduce, kxk, 1x1 expand, + shortcut); cost: :func:`bottleneck_cost`."""

    def __init__(self, c_in: int, c_mid: int, c_out: int, *, k: int = 3, stride: int = 1, norm: bool = True):
        super().__init__()
        self.args = dict(c_in=c_in, c_mid=c_mid, c_out=c_out, k=k, stride=stride, norm=norm)
        bottleneck_cost(c_in, c_mid, c_out, 8 * stride + k, 8 * stride + k, k=k, stride=stride, norm=norm)  # validates
        self.reduce = _conv_bn_relu(c_in, c_mid, 1, norm=norm)
        self.conv = _conv_bn_relu(c_mid, c_mid, k, stride, norm=norm)
        self.expand = _conv_bn_relu(c_mid, c_out, 1, norm=norm, relu=False)
        self.shortcut = (_conv_bn_relu(c_in, c_out, 1, stride, norm=norm, relu=False)
                         if stride > 1 or c_in != c_out else nn.Identity())

    def forward(self, x):
        return torch.relu(self.expand(self.conv(self.reduce(x))) + self.shortcut(x))

    def cost(self, h: int, w: int) -> Cost:
        return bottleneck_cost(h=h, w=w, **self.args)


class Fire(nn.Module):
    """SqueezeNet Fire module (squeeze 1x1, expand 1x1 ‖ 3x3, concatenated); cost: :func:`fire_cost`."""

    def __init__(self, c_in: int, squeeze: int, expand1x1: int, expand3x3: int, *, norm: bool = False):
        super().__init__()
        self.args = dict(c_in=c_in, squeeze=squeeze, expand1x1=expand1x1, expand3x3=expand3x3, norm=norm)
        fire_cost(h=3, w=3, **self.args)  # validates
        self.squeeze = _conv_bn_relu(c_in, squeeze, 1, norm=norm)
        self.expand1x1 = _conv_bn_relu(squeeze, expand1x1, 1, norm=norm)
        self.expand3x3 = _conv_bn_relu(squeeze, expand3x3, 3, norm=norm)

    def forward(self, x):
        s = self.squeeze(x)
        return torch.cat([self.expand1x1(s), self.expand3x3(s)], dim=1)

    def cost(self, h: int, w: int) -> Cost:
        return fire_cost(h=h, w=w, **self.args)


class DepthwiseSeparable(nn.Module):
    """MobileNet depthwise-separable conv (kxk depthwise + BN + ReLU, 1x1 pointwise + BN + ReLU);
    cost: :func:`depthwise_separable_cost`."""

    def __init__(self, c_in: int, c_out: int, *, k: int = 3, stride: int = 1, norm: bool = True):
        super().__init__()
        self.args = dict(c_in=c_in, c_out=c_out, k=k, stride=stride, norm=norm)
        depthwise_separable_cost(h=k, w=k, **self.args)  # validates
        self.depthwise = _conv_bn_relu(c_in, c_in, k, stride, groups=c_in, norm=norm)
        self.pointwise = _conv_bn_relu(c_in, c_out, 1, norm=norm)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))

    def cost(self, h: int, w: int) -> Cost:
        return depthwise_separable_cost(h=h, w=w, **self.args)


class InvertedResidual(nn.Module):
    """MobileNet v2 inverted residual with a linear bottleneck; cost: :func:`inverted_residual_cost`."""

    def __init__(self, c_in: int, c_out: int, *, expansion: int = 6, k: int = 3, stride: int = 1, norm: bool = True):
        super().__init__()
        self.args = dict(c_in=c_in, c_out=c_out, expansion=expansion, k=k, stride=stride, norm=norm)
        inverted_residual_cost(h=k, w=k, **self.args)  # validates
        hidden = c_in * expansion
        self.expand = _conv_bn_relu(c_in, hidden, 1, norm=norm) if expansion != 1 else nn.Identity()
        self.depthwise = _conv_bn_relu(hidden, hidden, k, stride, groups=hidden, norm=norm)
        self.project = _conv_bn_relu(hidden, c_out, 1, norm=norm, relu=False)  # linear: no ReLU
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y

    def cost(self, h: int, w: int) -> Cost:
        return inverted_residual_cost(h=h, w=w, **self.args)


class ShuffleUnit(nn.Module):
    """ShuffleNet v1 unit (group 1x1, shuffle, 3x3 depthwise, group 1x1; add or concat);
    cost: :func:`shuffle_unit_cost`."""

    def __init__(self, c_in: int, c_out: int, *, groups: int = 2, mid: int | None = None, stride: int = 1,
                 norm: bool = True):
        super().__init__()
        mid = _shuffle_mid(c_out, groups, mid)
        self.args = dict(c_in=c_in, c_out=c_out, groups=groups, mid=mid, stride=stride, norm=norm)
        shuffle_unit_cost(h=3, w=3, **self.args)  # validates
        branch = _shuffle_branch(c_in, c_out, stride)
        self.stride = stride
        self.compress = _conv_bn_relu(c_in, mid, 1, groups=groups, norm=norm)
        self.shuffle = ChannelShuffle(groups)
        self.depthwise = _conv_bn_relu(mid, mid, 3, stride, groups=mid, norm=norm, relu=False)
        self.expand = _conv_bn_relu(mid, branch, 1, groups=groups, norm=norm, relu=False)

    def forward(self, x):
        y = self.expand(self.depthwise(self.shuffle(self.compress(x))))
        if self.stride == 1:
            return torch.relu(x + y)
        return torch.relu(torch.cat([nn.functional.avg_pool2d(x, 3, 2, 1), y], dim=1))

    def cost(self, h: int, w: int) -> Cost:
        return shuffle_unit_cost(h=h, w=w, **self.args)


# --- compact CNNs for 28x28 MNIST ----------------------------------------------------------

#: Block types of the compact MNIST networks (``"conv"``: plain 3x3 conv, the control).
BLOCK_TYPES = ("conv", "dwsep", "fire", "inverted", "shuffle")
#: Bump when the layout of :class:`CompactCNN` or the training procedure changes (it is part
#: of every cache key).
ARCH_VERSION = 1
#: CPU threads used for training. Float sums are reduced in a thread-count-dependent order, so
#: the same seed gives slightly different weights on 1 and 2 threads; fixing the count makes a
#: cold-cache run reproduce the committed notebook on any core count (and tiny convs gain
#: little from more threads anyway).
TRAIN_THREADS = 1


@contextmanager
def _num_threads(n: int):
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@dataclass(frozen=True)
class ArchConfig:
    """A compact CNN for 28x28 input: stem, two stages of ``depth`` blocks, global pool, FC.

    * stem: 3x3 conv, stride 2 → ``c1`` channels at 14x14;
    * stage 1: ``depth`` blocks ``c1 → c1`` at 14x14;
    * stage 2: one stride-2 block ``c1 → c2`` (Fire: 2x2 max-pool, then the block), then
      ``depth − 1`` blocks ``c2 → c2`` at 7x7;
    * global average pool, FC ``c2 → 10``.

    ``c1 = make_divisible(32·width)``, ``c2 = 2·c1``. ``expansion`` is the inverted residual's
    ``t``, ``groups`` the ShuffleNet group count, ``squeeze_ratio`` the Fire module's ``s / (e1 + e3)``.
    """

    block: str = "dwsep"
    width: float = 1.0
    depth: int = 1
    expansion: int = 2
    groups: int = 2
    squeeze_ratio: float = 0.25

    def __post_init__(self):
        if self.block not in BLOCK_TYPES:
            raise ValueError(f"block must be one of {BLOCK_TYPES}, got {self.block!r}")
        _pos_float("width multiplier", self.width)
        _pos_int("depth", self.depth)
        _pos_int("expansion", self.expansion)
        _pos_int("groups", self.groups)
        if not 0 < self.squeeze_ratio <= 1:
            raise ValueError(f"squeeze_ratio must be in (0, 1], got {self.squeeze_ratio!r}")
        if self.block == "shuffle":
            c1 = self.channels[0]
            _divisible("stage-1 channels c1", c1, self.groups)
            _shuffle_mid(c1, self.groups, None)

    @property
    def channels(self) -> tuple[int, int]:
        """``(c1, c2)``."""
        c1 = make_divisible(32 * self.width, 8)
        return c1, 2 * c1

    @property
    def label(self) -> str:
        return f"{self.block} w{self.width:g} d{self.depth}"


def _block(config: ArchConfig, c_in: int, c_out: int, stride: int) -> tuple[nn.Module, Callable[[int, int], Cost]]:
    b = config.block
    if b == "conv":
        m = _conv_bn_relu(c_in, c_out, 3, stride)
        return m, lambda h, w: _conv_bn(c_in, c_out, h, w, 3, stride)
    if b == "dwsep":
        m = DepthwiseSeparable(c_in, c_out, stride=stride)
    elif b == "inverted":
        m = InvertedResidual(c_in, c_out, expansion=config.expansion, stride=stride)
    elif b == "shuffle":
        m = ShuffleUnit(c_in, c_out, groups=config.groups, stride=stride)
    else:  # fire: SqueezeNet downsamples with max-pooling, half the expand filters 3x3
        s = max(1, round(config.squeeze_ratio * c_out))
        fire = Fire(c_in, s, c_out // 2, c_out - c_out // 2, norm=True)
        if stride == 1:
            return fire, fire.cost
        return nn.Sequential(nn.MaxPool2d(2), fire), lambda h, w: fire.cost(h // 2, w // 2)
    return m, m.cost


class CompactCNN(nn.Module):
    """The compact MNIST network described by an :class:`ArchConfig`; ``.cost()`` in closed form."""

    def __init__(self, config: ArchConfig):
        super().__init__()
        if not isinstance(config, ArchConfig):
            raise TypeError(f"config must be an ArchConfig, got {type(config).__name__}")
        self.config = config
        c1, c2 = config.channels
        self.stem = _conv_bn_relu(1, c1, 3, 2)
        self._costs: list[tuple[Callable[[int, int], Cost], int]] = [
            (lambda h, w: _conv_bn(1, c1, h, w, 3, 2), 28)]
        blocks = []
        for i in range(config.depth):
            m, c = _block(config, c1, c1, 1)
            blocks.append(m), self._costs.append((c, 14))
        for i in range(config.depth):
            m, c = _block(config, c1 if i == 0 else c2, c2, 2 if i == 0 else 1)
            blocks.append(m), self._costs.append((c, 14 if i == 0 else 7))
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c2, 10)
        self._costs.append((lambda h, w: conv_cost(c2, 10, 1, 1, 1, bias=True), 1))

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    def cost(self) -> Cost:
        """Closed-form cost on a 28x28 input (see the module docstring for the conventions)."""
        return sum((c(side, side) for c, side in self._costs), Cost())


def build_compact(config: ArchConfig, seed: int = 0) -> CompactCNN:
    """A freshly initialised :class:`CompactCNN`, seeded (the global RNG state is restored)."""
    _nonneg_int("seed", seed)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        return CompactCNN(config)
    finally:
        torch.random.set_rng_state(state)


def arch_cost(config: ArchConfig) -> Cost:
    """Closed-form cost of the network of ``config`` (no training, no forward pass)."""
    return CompactCNN(config).cost()


def train_compact(config: ArchConfig, *, epochs: int = 20, lr: float = 3e-3, batch_size: int = 64,
                  weight_decay: float = 1e-4, shift_px: int = 1, seed: int = 0, progress: bool = True) -> CompactCNN:
    """Train (or load from the cache) the network of ``config`` on the embedded MNIST train split.

    The cache key holds the architecture, every training hyper-parameter and :data:`ARCH_VERSION`;
    training runs on :data:`TRAIN_THREADS` CPU threads so that the result does not depend on the
    machine's core count.
    """
    from . import train
    if not isinstance(config, ArchConfig):
        raise TypeError(f"config must be an ArchConfig, got {type(config).__name__}")
    hp = dict(epochs=_pos_int("epochs", epochs), lr=_pos_float("lr", lr), batch_size=_pos_int("batch_size", batch_size),
              weight_decay=float(weight_decay), shift_px=_nonneg_int("shift_px", shift_px), seed=_nonneg_int("seed", seed))
    spec = {"compact": asdict(config), "arch_version": ARCH_VERSION, "train": hp}

    def fit(model):
        with _num_threads(TRAIN_THREADS):
            train.fit(model, optimizer="adam", progress=progress, desc=f"training {config.label}", **hp)
    return train.cached_model(spec, lambda: build_compact(config, seed), fit, name="compact")


#: The hand-designed compact MNIST networks of the chapter, one per block type, all within a
#: fifth of the baseline CNN's MACs (4.83 M): plain 3x3 convs (the control), depthwise-separable,
#: Fire, inverted residual, ShuffleNet.
MNIST_VARIANTS: tuple[ArchConfig, ...] = (
    ArchConfig("conv", 0.5, 1), ArchConfig("dwsep", 1.0, 2), ArchConfig("fire", 0.75, 2),
    ArchConfig("inverted", 0.5, 2), ArchConfig("shuffle", 1.5, 3))

# --- a tiny architecture search --------------------------------------------------------------

@dataclass(frozen=True)
class SearchSpace:
    """The choices of the search: block type, width multiplier, blocks per stage."""

    blocks: tuple[str, ...] = BLOCK_TYPES
    widths: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5, 2.0)
    depths: tuple[int, ...] = (1, 2, 3)

    def __post_init__(self):
        if not self.blocks or not self.widths or not self.depths:
            raise ValueError("every dimension of the search space needs at least one choice")
        for b in self.blocks:
            if b not in BLOCK_TYPES:
                raise ValueError(f"unknown block {b!r}; allowed: {BLOCK_TYPES}")
        for w in self.widths:
            _pos_float("width multiplier", w)
        for d in self.depths:
            _pos_int("depth", d)

    @property
    def size(self) -> int:
        return len(self.blocks) * len(self.widths) * len(self.depths)


@dataclass(frozen=True)
class Candidate:
    """One evaluated architecture: its closed-form cost and its proxy score (validation accuracy, %)."""

    config: ArchConfig
    params: int
    macs: int
    score: float

    def as_dict(self) -> dict:
        return {"block": self.config.block, "width": self.config.width, "depth": self.config.depth,
                "params": self.params, "macs": self.macs, "score": self.score}


def sample_arch(rng: random.Random, space: SearchSpace = SearchSpace()) -> ArchConfig:
    """A uniformly random architecture of ``space``."""
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random, got {type(rng).__name__}")
    return ArchConfig(block=rng.choice(space.blocks), width=rng.choice(space.widths), depth=rng.choice(space.depths))


def mutate(config: ArchConfig, rng: random.Random, space: SearchSpace = SearchSpace()) -> ArchConfig:
    """Change one dimension of ``config`` (block, width or depth) to another value of ``space``."""
    if not isinstance(config, ArchConfig):
        raise TypeError(f"config must be an ArchConfig, got {type(config).__name__}")
    options = {"block": space.blocks, "width": space.widths, "depth": space.depths}
    dims = [d for d, vals in options.items() if len(vals) > 1]
    if not dims:
        return config
    dim = rng.choice(dims)
    value = rng.choice([v for v in options[dim] if v != getattr(config, dim)])
    return replace(config, **{dim: value})


def search(score: Callable[[ArchConfig], float], *, n_candidates: int = 12, mac_budget: int | None = None,
           strategy: str = "evolution", space: SearchSpace = SearchSpace(), population: int = 4,
           sample_size: int = 2, seed: int = 0, max_draws: int = 10_000) -> list[Candidate]:
    """Search ``space`` for accurate architectures under ``mac_budget``; return every evaluated candidate.

    ``strategy="random"``: ``n_candidates`` distinct random architectures within the budget.
    ``strategy="evolution"``: regularized (aging) evolution (Real et al. 2019): after
    ``population`` random ones, each new candidate mutates the best of ``sample_size``
    randomly drawn members of the current population, and the oldest member leaves.
    Architectures over the budget are rejected by their closed-form MACs *before* any
    training — the cheap constraint of hardware-aware NAS (e.g. MnasNet). ``score(config)``
    is the proxy (here: validation accuracy after a short training); each architecture is
    scored once.
    """
    if not callable(score):
        raise TypeError(f"score must be a function ArchConfig -> float, got {type(score).__name__}")
    _pos_int("n_candidates", n_candidates)
    if strategy not in ("random", "evolution"):
        raise ValueError(f"strategy must be 'random' or 'evolution', got {strategy!r}")
    if mac_budget is not None:
        _pos_int("mac_budget", mac_budget)
    _pos_int("population", population), _pos_int("sample_size", sample_size)
    rng = random.Random(seed)
    seen: dict[ArchConfig, Candidate] = {}
    history: list[Candidate] = []

    def feasible(cfg: ArchConfig) -> Candidate | None:
        try:
            cost = arch_cost(cfg)
        except ValueError:  # e.g. channels not divisible by the shuffle groups
            return None
        if mac_budget is not None and cost.macs > mac_budget:
            return None
        return Candidate(cfg, cost.params, cost.macs, float("nan"))

    def evaluate(c: Candidate) -> Candidate:
        c = replace(c, score=float(score(c.config)))
        seen[c.config] = c
        history.append(c)
        return c

    draws = 0
    alive: list[Candidate] = []
    while len(history) < n_candidates and draws < max_draws:
        draws += 1
        if strategy == "random" or len(alive) < population:
            cfg = sample_arch(rng, space)
        else:
            parent = max(rng.sample(alive, min(sample_size, len(alive))), key=lambda c: c.score)
            cfg = mutate(parent.config, rng, space)
        if cfg in seen:
            continue
        cand = feasible(cfg)
        if cand is None:
            continue
        cand = evaluate(cand)
        alive.append(cand)
        if strategy == "evolution" and len(alive) > population:
            alive.pop(0)  # aging: the oldest leaves, however good
    return history


def pareto_front(costs: Sequence[float], scores: Sequence[float]) -> list[int]:
    """Indices of the non-dominated points (lower cost, higher score), sorted by cost.

    Point ``i`` is dominated when some ``j`` has ``cost_j ≤ cost_i`` and ``score_j ≥ score_i``,
    one of them strictly. Ties (equal cost and score) are all kept.

    >>> pareto_front([1, 2, 3, 4], [50, 70, 60, 80])
    [0, 1, 3]
    """
    costs, scores = list(costs), list(scores)
    if len(costs) != len(scores):
        raise ValueError(f"costs and scores differ in length: {len(costs)} vs {len(scores)}")
    for v in costs + scores:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
            raise ValueError(f"costs and scores must be numbers (no NaN), got {v!r}")
    front = [i for i in range(len(costs))
             if not any((costs[j] <= costs[i] and scores[j] >= scores[i]) and
                        (costs[j] < costs[i] or scores[j] > scores[i]) for j in range(len(costs)))]
    return sorted(front, key=lambda i: (costs[i], -scores[i]))


def proxy_score(config: ArchConfig, *, epochs: int = 2, lr: float = 3e-3, batch_size: int = 64, seed: int = 0,
                split: str = "val") -> float:
    """The search's cheap stand-in for "how good is this architecture": accuracy (%) on ``split``
    after ``epochs`` of training from scratch (no cache; short training ranks architectures
    roughly as long training does — the proxy of early NAS work, e.g. Zoph & Le 2017's
    reduced settings)."""
    from . import train
    if split == "test":
        raise ValueError("the search must not look at the test split; use 'val' (or 'train')")
    model = build_compact(config, seed)
    with _num_threads(TRAIN_THREADS):
        train.fit(model, epochs=_pos_int("epochs", epochs), lr=lr, batch_size=batch_size, seed=seed, progress=False)
    return train.evaluate(model, split)


def run_search(*, n_candidates: int = 12, mac_budget: int | None = None, proxy_epochs: int = 2,
               strategy: str = "evolution", space: SearchSpace = SearchSpace(), population: int = 4,
               sample_size: int = 2, seed: int = 0, progress: bool = True) -> list[Candidate]:
    """:func:`search` with :func:`proxy_score`, cached on disk (the key holds every setting)."""
    from . import train
    from tqdm.auto import tqdm
    spec = {"nas": dict(n_candidates=n_candidates, mac_budget=mac_budget, proxy_epochs=proxy_epochs,
                        strategy=strategy, space=asdict(space), population=population, sample_size=sample_size,
                        seed=seed), "arch_version": ARCH_VERSION, "proxy": {"lr": 3e-3, "batch_size": 64, "split": "val"}}

    def compute():
        bar = tqdm(total=n_candidates, desc="architecture search", disable=not train.show_progress(progress), leave=False)

        def score(cfg):
            acc = proxy_score(cfg, epochs=proxy_epochs, seed=seed)
            bar.update(1)
            bar.set_postfix_str(f"{cfg.label}: {acc:.1f} %")
            return acc
        found = search(score, n_candidates=n_candidates, mac_budget=mac_budget, strategy=strategy, space=space,
                       population=population, sample_size=sample_size, seed=seed)
        bar.close()
        return [{"config": asdict(c.config), "params": c.params, "macs": c.macs, "score": c.score} for c in found]

    rows = train.cached_result(spec, compute, name="compact-nas")
    return [Candidate(ArchConfig(**r["config"]), r["params"], r["macs"], r["score"]) for r in rows]


# --- practice: measured latency --------------------------------------------------------------

def conv_intensity(c_in: int, c_out: int, h: int, w: int, k: int = 3, *, stride: int = 1, groups: int = 1,
                   bytes_per_value: int = 4) -> float:
    """MACs per byte of a conv that reads its input and weights and writes its output once:
    ``macs / (bytes · (c_in·h·w + weights + c_out·h_o·w_o))``.

    A depthwise conv does ``k²`` MACs per output element and so stays near ``k² / (2·bytes)``
    MAC/byte — far left of any CPU's roofline ridge: memory-bound. A pointwise conv does
    ``c_in`` per output element and grows with the channel count (cf. chapter 1's roofline).
    """
    cost = conv_cost(c_in, c_out, h, w, k, stride=stride, groups=groups)
    _pos_int("bytes_per_value", bytes_per_value)
    return cost.macs / (bytes_per_value * (c_in * h * w + cost.params + cost.activations))


_STATS = {"min": min, "median": statistics.median}


@torch.no_grad()
def latency_ms(module: nn.Module, input_shape: Sequence[int], *, repeats: int = 30, warmup: int = 5,
               threads: int | None = None, stat: str = "median") -> float:
    """Wall-clock milliseconds of ``module(x)`` (median of ``repeats`` runs) for a random ``x`` of
    ``input_shape``, in eval mode.

    Use :func:`torch.utils.benchmark` for publication-grade numbers; a median of
    ``time.perf_counter`` is robust enough for the order-of-magnitude comparisons here.
    ``threads`` sets ``torch.set_num_threads`` for the measurement (restored afterwards);
    ``stat="min"`` returns the fastest run instead of the median.
    """
    return metrics.latency_ms(module, input_shape, repeats=repeats, warmup=warmup, threads=threads, stat=stat)


def latency_comparison(c_in: int, c_out: int, side: int, *, k: int = 3, batch: int = 1, repeats: int = 30,
                       threads: int | None = 1, stat: str = "min") -> dict[str, float]:
    """Measured CPU time of a standard kxk conv against a depthwise-separable one of the same
    output shape (``[batch, c_out, side, side]``, stride 1, no BN/ReLU), with their MACs.

    Returns ``macs_standard``, ``macs_separable``, ``mac_ratio`` and ``ms_standard``,
    ``ms_depthwise``, ``ms_pointwise``, ``ms_separable``, ``speedup``. Each of ``repeats``
    rounds times the four modules one after the other, so that a busy machine slows all of
    them alike; ``stat="min"`` keeps the fastest round of each (the one least disturbed by
    other processes, as :mod:`timeit` advises), ``stat="median"`` the typical one.
    """
    for nm, v in (("c_in", c_in), ("c_out", c_out), ("side", side), ("k", k), ("batch", batch)):
        _pos_int(nm, v)
    if stat not in _STATS:
        raise ValueError(f"stat must be one of {sorted(_STATS)}, got {stat!r}")
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(0)
    std = nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False)
    dw = nn.Conv2d(c_in, c_in, k, padding=k // 2, groups=c_in, bias=False)
    pw = nn.Conv2d(c_in, c_out, 1, bias=False)
    torch.random.set_rng_state(gen_state)
    out = {"macs_standard": conv_cost(c_in, c_out, side, side, k).macs,
           "macs_separable": depthwise_separable_cost(c_in, c_out, side, side, k=k, norm=False).macs}
    out["mac_ratio"] = out["macs_standard"] / out["macs_separable"]
    x = torch.randn((batch, c_in, side, side), generator=torch.Generator().manual_seed(0))
    modules = {"standard": std, "depthwise": dw, "pointwise": pw, "separable": nn.Sequential(dw, pw)}
    times: dict[str, list[float]] = {name: [] for name in modules}
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(_pos_int("threads", threads))
    try:
        with torch.no_grad():
            for m in modules.values():  # warm-up: oneDNN builds its kernels on the first call
                m(x), m(x)
            for _ in range(_pos_int("repeats", repeats)):  # interleaved: all four see the same load
                for name, m in modules.items():
                    t0 = time.perf_counter()
                    m(x)
                    times[name].append(1000 * (time.perf_counter() - t0))
    finally:
        torch.set_num_threads(old)
    for name, ts in times.items():
        out[f"ms_{name}"] = _STATS[stat](ts)
    out["speedup"] = out["ms_standard"] / out["ms_separable"]
    return out


# --- exercises (companion.exercises.check("ch2.<name>", answer)) -----------------------------

WIDTH_GRID = tuple(round(0.25 + 0.05 * i, 2) for i in range(16))  # 0.25, 0.30, ..., 1.00


def _width_for_budget(budget_macs: int = 150_000_000, resolution: int = 160) -> float:
    return max(a for a in WIDTH_GRID if mobilenet_v1_table(a, resolution).macs <= budget_macs)


def _shuffle_cases():
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(2, c, 3, 3, generator=g), groups) for c, groups in ((6, 2), (6, 3), (12, 4), (8, 8), (5, 1))]


exercises.register(
    "ch2.dwsep_macs",
    "MACs (batch 1) of a 3x3 depthwise-separable layer, 64 -> 128 channels, 56x56 input, stride 1, 'same' padding.",
    exercises.close_to(lambda: depthwise_separable_cost(64, 128, 56, 56).macs, rtol=1e-9,
                       hint="depthwise: H·W·C_in·k²; pointwise: H·W·C_in·C_out; add them.",
                       explain=lambda v: f"{v:,.0f} MACs — {conv_cost(64, 128, 56, 56).macs / v:.1f}x fewer than a 3x3 conv."),
    level="easy")

exercises.register(
    "ch2.fire_params",
    "Parameters (weights + biases) of SqueezeNet's fire2: 96 input channels, squeeze 16, expand 64 (1x1) + 64 (3x3).",
    exercises.close_to(lambda: fire_cost(96, 16, 64, 64, 54, 54, norm=False).params, rtol=1e-9,
                       hint="three convs: 96->16 (1x1), 16->64 (1x1), 16->64 (3x3); each has one bias per output channel.",
                       explain=lambda v: f"{v:,.0f} — a 3x3 conv 96->128 would need {conv_cost(96, 128, 54, 54, bias=True).params:,}."),
    level="easy")

exercises.register(
    "ch2.unshuffle",
    "Write unshuffle(x, groups) that undoes channel_shuffle(x, groups) for x of shape [N, C, H, W].",
    exercises.same_function(channel_unshuffle, _shuffle_cases,
                            hint="channel_shuffle views C as (groups, C/groups) and transposes; "
                                 "view as (C/groups, groups) and transpose back."),
    level="medium")

exercises.register(
    "ch2.width_for_budget",
    "The largest width multiplier in WIDTH_GRID (0.25, 0.30, ..., 1.00) for which MobileNet-v1 at 160x160 "
    "input needs at most 150 M MACs.",
    exercises.close_to(_width_for_budget, atol=1e-9, rtol=0,
                       hint="MACs grow about with width²·resolution²: estimate, then check with mobilenet_v1_table(width, 160).macs.",
                       explain=lambda a: f"α = {a:g}: {mobilenet_v1_table(a, 160).macs / 1e6:.0f} M MACs."),
    level="hard")

