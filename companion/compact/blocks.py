"""The compact models' building blocks as modules, each with its closed-form ``cost(h, w)``.

Bottleneck (He et al. 2016), Fire (SqueezeNet, Iandola et al. 2016), depthwise-separable
(MobileNet, Howard et al. 2017), inverted residual (MobileNet v2, Sandler et al. 2018), and
ShuffleNet's unit and channel shuffle (Zhang et al. 2018). After the survey's section on compact models.
"""
from __future__ import annotations

import torch
from torch import nn

from ._common import divisible, pos_int
from .costs import Cost, bottleneck_cost, depthwise_separable_cost, fire_cost, inverted_residual_cost, \
    shuffle_unit_cost, _shuffle_branch, _shuffle_mid

__all__ = ["channel_shuffle", "channel_unshuffle", "ChannelShuffle", "Bottleneck", "Fire", "DepthwiseSeparable",
           "InvertedResidual", "ShuffleUnit"]


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
    pos_int("groups", groups)
    n, c = x.shape[:2]
    divisible("channels", c, groups)
    return x.reshape(n, groups, c // groups, *x.shape[2:]).transpose(1, 2).reshape(x.shape)


def channel_unshuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Inverse of :func:`channel_shuffle` (a shuffle with ``C / groups`` groups)."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise TypeError(f"x must be a torch.Tensor [N, C, ...], got {type(x).__name__}")
    pos_int("groups", groups)
    divisible("channels", x.shape[1], groups)
    return channel_shuffle(x, x.shape[1] // groups)


class ChannelShuffle(nn.Module):
    """:func:`channel_shuffle` as a layer."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = pos_int("groups", groups)

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
