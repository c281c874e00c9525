"""Compact CNNs for 28x28 MNIST, one per block type, with their closed-form cost."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .. import models
from ._common import divisible, nonneg_int, pos_float, pos_int
from .blocks import ChannelShuffle, DepthwiseSeparable, Fire, InvertedResidual, ShuffleUnit, _conv_bn_relu, channel_shuffle
from .costs import Cost, _conv_bn, _shuffle_mid, conv_cost, make_divisible

__all__ = ["BLOCK_TYPES", "TRAIN_THREADS", "ArchConfig", "CompactCNN", "build_compact", "arch_cost", "ARCH_CODE",
           "MNIST_VARIANTS"]

#: Block types of the compact MNIST networks (``"conv"``: plain 3x3 conv, the control).
BLOCK_TYPES = ("conv", "dwsep", "fire", "inverted", "shuffle")
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
        pos_float("width multiplier", self.width)
        pos_int("depth", self.depth)
        pos_int("expansion", self.expansion)
        pos_int("groups", self.groups)
        if not 0 < self.squeeze_ratio <= 1:
            raise ValueError(f"squeeze_ratio must be in (0, 1], got {self.squeeze_ratio!r}")
        if self.block == "shuffle":
            c1 = self.channels[0]
            divisible("stage-1 channels c1", c1, self.groups)
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
    nonneg_int("seed", seed)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(models.run_seed(seed))
        return CompactCNN(config)
    finally:
        torch.random.set_rng_state(state)


def arch_cost(config: ArchConfig) -> Cost:
    """Closed-form cost of the network of ``config`` (no training, no forward pass)."""
    return CompactCNN(config).cost()


#: The source that defines a compact network's layout and initialisation: fingerprinted into the
#: cache key of everything trained from an :class:`ArchConfig` (it retires the hand-bumped
#: ``ARCH_VERSION``: edit any of these and the cached networks are retrained).
ARCH_CODE: tuple = (ArchConfig, _block, CompactCNN, build_compact, _conv_bn_relu, DepthwiseSeparable, Fire,
                    InvertedResidual, ShuffleUnit, ChannelShuffle, channel_shuffle, make_divisible)

#: The hand-designed compact MNIST networks of the chapter, one per block type, all within a
#: fifth of the baseline CNN's MACs (4.83 M): plain 3x3 convs (the control), depthwise-separable,
#: Fire, inverted residual, ShuffleNet.
MNIST_VARIANTS: tuple[ArchConfig, ...] = (
    ArchConfig("conv", 0.5, 1), ArchConfig("dwsep", 1.0, 2), ArchConfig("fire", 0.75, 2),
    ArchConfig("inverted", 0.5, 2), ArchConfig("shuffle", 1.5, 3))
