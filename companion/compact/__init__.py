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
  MAC budget, with short training as the proxy (:func:`search_architectures`, :func:`run_search`,
  :func:`pareto_front`).

Modules: :mod:`~companion.compact.costs` (closed-form costs, MobileNet-v1 tables),
:mod:`~companion.compact.blocks` (the blocks as modules), :mod:`~companion.compact.networks`
(compact MNIST CNNs), :mod:`~companion.compact.recipes` (their cached training),
:mod:`~companion.compact.nas` (the search), :mod:`~companion.compact.latency` (measured time).

Cost conventions (those of :mod:`companion.metrics`, so a closed form and a hook measurement
can be compared number for number): per sample (batch 1); a *MAC* is one multiply-accumulate
of a conv or fully connected layer (BatchNorm folds into the conv before it, pooling, ReLU,
residual additions and the shuffle cost no MACs); *params* are all trainable tensors, a
BatchNorm layer counting ``2·C`` (scale and shift); *activations* are the elements of every
conv/fc output (what a layer-by-layer executor writes to memory; BN and ReLU in place).
"""
from __future__ import annotations

from . import _exercises  # noqa: F401  (registers the ch2.* exercises)
from . import blocks, costs, latency, nas, networks, recipes
from .blocks import Bottleneck, ChannelShuffle, DepthwiseSeparable, Fire, InvertedResidual, ShuffleUnit, \
    channel_shuffle, channel_unshuffle
from .costs import MOBILENET_V1_BODY, WIDTH_GRID, Cost, bn_cost, bottleneck_cost, conv_cost, conv_intensity, \
    conv_out_size, cost_by_kind, depthwise_separable_cost, fire_cost, inverted_residual_cost, layer_kind, \
    make_divisible, mobilenet_v1_table, scale_channels, shuffle_unit_cost
from .latency import latency_comparison
from .nas import ArchSpace, Candidate, arch_proxy_score, mutate, pareto_front, run_search, sample_arch, \
    search_architectures
from .networks import ARCH_CODE, BLOCK_TYPES, MNIST_VARIANTS, TRAIN_THREADS, ArchConfig, CompactCNN, arch_cost, \
    build_compact
from .recipes import prefetch_compact, train_compact
# The one timer, re-exported (the same object, not a second one) for chapter 2's notebook;
# new code calls companion.metrics.latency_ms.
from ..metrics import latency_ms  # noqa: E402

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
    "BLOCK_TYPES", "ArchConfig", "CompactCNN", "build_compact", "arch_cost", "train_compact", "prefetch_compact", "ARCH_CODE",
    # search
    "ArchSpace", "Candidate", "sample_arch", "mutate", "search_architectures", "pareto_front",
    # practice
    "arch_proxy_score", "run_search", "conv_intensity", "latency_comparison", "WIDTH_GRID",
    "MNIST_VARIANTS", "TRAIN_THREADS",
]
