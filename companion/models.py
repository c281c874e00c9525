"""The networks of the book: trainable MNIST models and layer tables of real networks.

Trainable (28x28 MNIST input):

* ``lenet300`` — LeNet-300-100 (784-300-100-10 MLP), 266,610 parameters, as in
  Han et al. 2015 ("Learning both Weights and Connections", Table 1).
* ``lenet5`` — Caffe's LeNet-5 (conv 20 @5x5, pool, conv 50 @5x5, pool, FC 500, FC 10),
  431,080 parameters, as in Han et al. 2015.
* ``cnn`` — a small VGG-style CNN (2x[3x3 conv 16], pool, 2x[3x3 conv 32], pool, FC 128, FC 10).

Layer tables (batch 1, 224x224 input): ``alexnet``, ``vgg16``, ``resnet18``, ``resnet50``,
``mobilenet_v1``, ``squeezenet1_0`` — see :func:`layer_table` and ``data/README.md``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Iterator

import torch
from torch import nn

from . import data

__all__ = ["LeNet300", "LeNet5", "SmallCNN", "MODEL_NAMES", "build", "LayerSpec", "LayerTable",
           "TABLE_NAMES", "layer_table"]


class LeNet300(nn.Module):
    """LeNet-300-100: ``fc1`` 784→300, ``fc2`` 300→100, ``fc3`` 100→10, ReLU between."""

    def __init__(self, hidden: tuple[int, int] = (300, 100)):
        super().__init__()
        h1, h2 = hidden
        self.fc1 = nn.Linear(784, h1)
        self.fc2 = nn.Linear(h1, h2)
        self.fc3 = nn.Linear(h2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


class LeNet5(nn.Module):
    """Caffe LeNet-5: ``conv1`` 1→20 (5x5), max-pool 2, ``conv2`` 20→50 (5x5), max-pool 2,
    ``fc1`` 800→500, ReLU, ``fc2`` 500→10 (Caffe's model has ReLU only after fc1; we add it
    after the convs too, as most re-implementations do)."""

    def __init__(self, channels: tuple[int, int] = (20, 50), hidden: int = 500):
        super().__init__()
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, 5)
        self.conv2 = nn.Conv2d(c1, c2, 5)
        self.fc1 = nn.Linear(c2 * 4 * 4, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


class SmallCNN(nn.Module):
    """A small VGG-style CNN for 28x28 input: ``conv1``/``conv2`` (3x3, ``width`` channels),
    pool, ``conv3``/``conv4`` (3x3, 2·``width``), pool, ``fc1`` → 128, ``fc2`` → 10."""

    def __init__(self, width: int = 16, hidden: int = 128):
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(1, w, 3, padding=1)
        self.conv2 = nn.Conv2d(w, w, 3, padding=1)
        self.conv3 = nn.Conv2d(w, 2 * w, 3, padding=1)
        self.conv4 = nn.Conv2d(2 * w, 2 * w, 3, padding=1)
        self.fc1 = nn.Linear(2 * w * 7 * 7, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.conv3(x))
        x = torch.max_pool2d(torch.relu(self.conv4(x)), 2)
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


MODEL_NAMES = {"lenet300": LeNet300, "lenet5": LeNet5, "cnn": SmallCNN}


def seed_offset() -> int:
    """``$COMPANION_SEED`` (default 0): shifts every training seed of the book by this much.

    The book is made with 0. Re-executing a chapter with ``COMPANION_SEED=1`` retrains every
    model from other initialisations and data orders, which is how the committed tolerances of
    trained results are measured (seed-to-seed spread; see CONTRIBUTING). Part of every cache key.
    """
    env = os.environ.get("COMPANION_SEED", "").strip()
    if not env:
        return 0
    if not env.isdigit():
        raise ValueError(f"COMPANION_SEED must be a non-negative integer, got {env!r}")
    return int(env)


def run_seed(seed: int) -> int:
    """The seed a training run really uses: ``seed + seed_offset()`` (0 offset: the book's runs)."""
    return seed + seed_offset()


def build(name: str, seed: int = 0) -> nn.Module:
    """A freshly initialised model (``"lenet300"``, ``"lenet5"`` or ``"cnn"``), seeded."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of {sorted(MODEL_NAMES)}; got {type(name).__name__}")
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; allowed: {sorted(MODEL_NAMES)}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    gen_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(run_seed(seed))
        return MODEL_NAMES[name]()
    finally:
        torch.random.set_rng_state(gen_state)


# --- layer tables ----------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerSpec:
    """One layer with weights: ``type`` in {"conv", "fc", "bn"}.

    Shapes are per image (batch 1). For ``fc``, ``in_c``/``out_c`` are the feature counts and
    the spatial fields are 1. Output size: ``out_h = (in_h + 2·pad − k_h) // stride + 1``.
    Parameters: ``out_c · in_c/groups · k_h · k_w (+ out_c bias)``; for ``bn`` the affine
    scale and shift, ``2·C``. MACs: ``out_h · out_w · out_c · in_c/groups · k_h · k_w``
    (0 for ``bn``, which folds into the preceding conv at inference).
    """

    name: str
    type: str
    in_c: int
    in_h: int
    in_w: int
    out_c: int
    k_h: int = 1
    k_w: int = 1
    stride: int = 1
    pad: int = 0
    groups: int = 1
    bias: bool = True

    def __post_init__(self):
        if self.type not in ("conv", "fc", "bn"):
            raise ValueError(f"layer {self.name!r}: type must be conv, fc or bn, got {self.type!r}")
        for f in ("in_c", "in_h", "in_w", "out_c", "k_h", "k_w", "stride", "groups"):
            v = getattr(self, f)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"layer {self.name!r}: {f} must be a positive int, got {v!r}")
        if self.pad < 0:
            raise ValueError(f"layer {self.name!r}: pad must be >= 0, got {self.pad}")
        if self.type == "conv" and (self.in_c % self.groups or self.out_c % self.groups):
            raise ValueError(f"layer {self.name!r}: channels {self.in_c}->{self.out_c} not divisible by groups={self.groups}")

    @property
    def out_h(self) -> int:
        return (self.in_h + 2 * self.pad - self.k_h) // self.stride + 1 if self.type == "conv" else self.in_h

    @property
    def out_w(self) -> int:
        return (self.in_w + 2 * self.pad - self.k_w) // self.stride + 1 if self.type == "conv" else self.in_w

    @property
    def weights(self) -> int:
        """Weight count without bias."""
        if self.type == "bn":
            return self.in_c
        return self.out_c * (self.in_c // self.groups) * self.k_h * self.k_w

    @property
    def params(self) -> int:
        return self.weights + (self.out_c if self.bias else 0)

    @property
    def macs(self) -> int:
        if self.type == "bn":
            return 0
        return self.out_h * self.out_w * self.weights

    @property
    def in_activations(self) -> int:
        return self.in_c * self.in_h * self.in_w

    @property
    def out_activations(self) -> int:
        return self.out_c * self.out_h * self.out_w

    @property
    def is_depthwise(self) -> bool:
        return self.type == "conv" and self.groups > 1 and self.groups == self.in_c


@dataclass(frozen=True)
class LayerTable:
    """The layers (with weights) of a network; ``.params`` and ``.macs`` are its totals."""

    name: str
    layers: tuple[LayerSpec, ...]

    @property
    def params(self) -> int:
        return sum(l.params for l in self.layers)

    @property
    def macs(self) -> int:
        return sum(l.macs for l in self.layers)

    def __iter__(self) -> Iterator[LayerSpec]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, key: int | str) -> LayerSpec:
        if isinstance(key, str):
            for l in self.layers:
                if l.name == key:
                    return l
            raise KeyError(f"no layer {key!r} in {self.name}; layers: {[l.name for l in self.layers]}")
        return self.layers[key]

    def to_frame(self):
        """A pandas DataFrame with one row per layer and its params, MACs and output size."""
        import pandas as pd
        rows = []
        for l in self.layers:
            row = {f.name: getattr(l, f.name) for f in fields(l)}
            row.update(out_h=l.out_h, out_w=l.out_w, params=l.params, macs=l.macs)
            rows.append(row)
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        return (f"<b>{self.name}</b>: {len(self)} layers with weights, "
                f"{self.params:,} parameters, {self.macs:,} MACs" + self.to_frame()._repr_html_())


TABLE_NAMES = ("alexnet", "vgg16", "resnet18", "resnet50", "mobilenet_v1", "squeezenet1_0")
_INT_FIELDS = ("in_c", "in_h", "in_w", "out_c", "k_h", "k_w", "stride", "pad", "groups")


def layer_table(name: str) -> LayerTable:
    """Layer table of a real network (batch 1, the paper's 224x224 input), from ``data/layers``.

    ``name`` in ``("alexnet", "vgg16", "resnet18", "resnet50", "mobilenet_v1",
    "squeezenet1_0")``. ``layer_table("vgg16").params == 138_357_544``.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of {TABLE_NAMES}; got {type(name).__name__}")
    if name not in TABLE_NAMES:
        raise ValueError(f"unknown network {name!r}; allowed: {TABLE_NAMES}")
    return _load_table(name)


@lru_cache(maxsize=None)
def _load_table(name: str) -> LayerTable:
    rows = data.read_csv_table(f"layers/{name}.csv")
    layers = tuple(
        LayerSpec(name=r["name"], type=r["type"], bias=bool(int(r["bias"])),
                  **{k: int(r[k]) for k in _INT_FIELDS})
        for r in rows)
    return LayerTable(name, layers)
