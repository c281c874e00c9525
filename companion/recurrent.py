"""A workload beyond CNNs: a recurrent network that reads MNIST row by row (28 steps: *row-by-row*
MNIST; the "sequential MNIST" of Le et al. 2015 reads the 784 pixels one at a time).

Chapter 8 (notebook ``08_discussion``, "testing workloads"); formerly ``companion.workloads``,
renamed so that it is not confused with the accelerator's :mod:`companion.accelerator.workload`.

After the survey's discussion of *testing workloads*: almost every compression paper reports
CNNs on images, while recurrent networks (speech, language) spend their time in a different
place — the same gate matrices are multiplied 28 times per image, once per time step, and the
recurrent matrix ``W_hh`` sits in the critical path of a sequential loop.

The model reads an image as a sequence of ``T = 28`` rows of ``I = 28`` pixels:

* ``ih`` — one ``nn.Linear(I, G·H)`` applied to all time steps at once (the input projection of
  every gate; ``G = 3`` for a GRU, ``4`` for an LSTM);
* ``rnn`` — a :class:`Recurrence` whose ``hh = nn.Linear(H, G·H)`` is applied once per step;
* ``fc`` — ``nn.Linear(H, 10)`` on the last hidden state.

Because the gate matrices are plain ``nn.Linear`` layers, every tool of chapters 3–5 (pruning
masks, fake quantization, SVD factorisation) applies to them unchanged, and the shared ruler
(:func:`companion.metrics.measure_layers`) counts their MACs correctly: ``ih`` as
``T·I·G·H`` (its input has ``T`` rows) and the recurrence through its ``compute_macs``
(``T·H·G·H``). Gate equations follow ``torch.nn.GRU`` / ``torch.nn.LSTM`` (the tests check the
outputs against them):

GRU (Cho et al. 2014): ``r, z = σ(·)``, ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``,
``h' = (1 − z) ⊙ n + z ⊙ h``. LSTM (Hochreiter & Schmidhuber 1997): ``i, f, o = σ(·)``,
``g = tanh(·)``, ``c' = f ⊙ c + i ⊙ g``, ``h' = o ⊙ tanh(c')``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import torch
from torch import nn

from . import models, train

__all__ = ["Recurrence", "RowRNN", "SeqConfig", "SEQ_BASELINE", "build_row_rnn", "seq_baseline",
           "gate_layers", "recurrent_macs", "DEFAULT_SWEEP", "METHOD_KEYWORDS", "compress", "compression_sweep"]

_GATES = {"gru": 3, "lstm": 4}


def _check_cell(cell: str) -> str:
    if cell not in _GATES:
        raise ValueError(f"cell must be one of {sorted(_GATES)}, got {cell!r}")
    return cell


class Recurrence(nn.Module):
    """The sequential part of a GRU/LSTM: ``h_t = cell(ih_t, W_hh h_{t−1} + b_hh)`` for t = 1..T.

    Input: the precomputed input projections ``[N, T, G·H]``; output: the hidden states
    ``[N, T, H]``. ``hh`` is a plain ``nn.Linear(H, G·H)`` (replaceable by a factorised layer).
    """

    def __init__(self, hidden: int, cell: str = "gru"):
        super().__init__()
        self.cell = _check_cell(cell)
        self.hidden = int(hidden)
        self.hh = nn.Linear(hidden, _GATES[cell] * hidden)

    def forward(self, xp: torch.Tensor) -> torch.Tensor:
        n, t, _ = xp.shape
        h = xp.new_zeros(n, self.hidden)
        c = xp.new_zeros(n, self.hidden)
        outs = []
        for step in range(t):
            gi, gh = xp[:, step], self.hh(h)
            if self.cell == "gru":
                i_r, i_z, i_n = gi.chunk(3, 1)
                h_r, h_z, h_n = gh.chunk(3, 1)
                r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
                n_ = torch.tanh(i_n + r * h_n)
                h = (1 - z) * n_ + z * h
            else:
                i, f, g, o = (gi + gh).chunk(4, 1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, 1)

    def compute_macs(self, x: torch.Tensor, y: torch.Tensor) -> int:
        """MACs per sample of the recurrent matrix: ``T · (weights of hh)`` (whatever ``hh`` is)."""
        steps = x.shape[1]
        if hasattr(self.hh, "compute_macs"):  # e.g. a LowRankLinear of chapter 3
            h0 = x.new_zeros(1, self.hidden)
            with torch.no_grad():
                inner = self.hh.compute_macs(h0, self.hh(h0))
        else:
            inner = self.hh.weight.numel()
        return int(steps * inner)


class RowRNN(nn.Module):
    """A GRU or LSTM classifier for MNIST read as 28 rows of 28 pixels (see the module docstring).

    Input ``[N, 1, 28, 28]`` (the embedded MNIST, normalised) → logits ``[N, 10]``.
    """

    def __init__(self, hidden: int = 64, cell: str = "gru", n_classes: int = 10, row_size: int = 28):
        super().__init__()
        if not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"hidden must be a positive int, got {hidden!r}")
        self.cell = _check_cell(cell)
        self.row_size = row_size
        self.ih = nn.Linear(row_size, _GATES[cell] * hidden)
        self.rnn = Recurrence(hidden, cell)
        self.fc = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.reshape(x.shape[0], -1, self.row_size)  # [N, T, I]: one row per time step
        return self.fc(self.rnn(self.ih(seq))[:, -1])


def build_row_rnn(cell: str = "gru", hidden: int = 64, seed: int = 0) -> RowRNN:
    """A freshly initialised :class:`RowRNN` (``torch.nn.GRU``-style uniform init, seeded)."""
    _check_cell(cell)
    torch.manual_seed(models.run_seed(seed))
    model = RowRNN(hidden, cell)
    bound = hidden ** -0.5
    with torch.no_grad():  # PyTorch's RNN init: U(−1/√H, 1/√H) for every gate weight and bias
        for p in list(model.ih.parameters()) + list(model.rnn.parameters()):
            p.uniform_(-bound, bound)
        if cell == "lstm":  # forget-gate bias 1 (Jozefowicz et al. 2015): remembers from the start
            model.rnn.hh.bias[hidden:2 * hidden].fill_(1.0)
    return model


@dataclass(frozen=True)
class SeqConfig:
    """Training recipe of the row-by-row MNIST baseline (hashed into its cache key)."""

    cell: str = "gru"
    hidden: int = 64
    epochs: int = 12
    lr: float = 3e-3
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self):
        _check_cell(self.cell)


SEQ_BASELINE = {"gru": SeqConfig("gru"), "lstm": SeqConfig("lstm")}


def seq_baseline(cell: str = "gru", *, config: SeqConfig | None = None, progress: bool = True) -> RowRNN:
    """The trained row-by-row MNIST baseline (cached on disk like :func:`companion.train.baseline`)."""
    config = config or SEQ_BASELINE[_check_cell(cell)]
    return train.cached_model({"seq_mnist": asdict(config)},
                              lambda: build_row_rnn(config.cell, config.hidden, config.seed),
                              lambda m: train.fit(m, epochs=config.epochs, lr=config.lr, batch_size=config.batch_size,
                                                  seed=config.seed, progress=progress,
                                                  desc=f"training row-by-row MNIST {config.cell}"),
                              name=f"seq-{config.cell}", code=(build_row_rnn, RowRNN))


def gate_layers(model: RowRNN) -> dict[str, nn.Linear]:
    """The gate matrices a compression method acts on: ``{"ih": …, "rnn.hh": …}``."""
    if not isinstance(model, RowRNN):
        raise TypeError(f"model must be a RowRNN, got {type(model).__name__}")
    return {"ih": model.ih, "rnn.hh": model.rnn.hh}


def recurrent_macs(cell: str, hidden: int, steps: int = 28, row_size: int = 28, n_classes: int = 10) -> int:
    """MACs per sample of a :class:`RowRNN` in closed form: ``T·G·H·(I + H) + H·C``."""
    g = _GATES[_check_cell(cell)]
    return steps * g * hidden * (row_size + hidden) + hidden * n_classes


# --- compressing a workload: the chapters' tools applied to any network ---------------------------

#: What :func:`compression_sweep` tries by default: sparsity (chapter 5), weight bits (chapter 4),
#: kept fraction of the SVD rank (chapter 3).
DEFAULT_SWEEP = {"prune": (0.5, 0.7, 0.9, 0.95), "quantize": (8, 4, 3, 2), "low-rank": (0.5, 0.25, 0.125)}


#: The keyword of :func:`compress` that each method of a sweep sets.
METHOD_KEYWORDS = {"prune": "sparsity", "quantize": "bits", "low-rank": "rank_fraction"}


def compress(model: nn.Module, layers: Sequence[str], *, sparsity: float | None = None, bits: int | None = None,
             rank_fraction: float | None = None) -> nn.Module:
    """A compressed copy of ``model``: its named ``nn.Linear``/``nn.Conv2d`` layers (e.g.
    :func:`gate_layers`) compressed one way, chosen by exactly one keyword:

    * ``sparsity=s`` (in [0, 1)) — magnitude-pruned to sparsity ``s`` (``sparsity.prune_`` +
      ``bake_masks_``; chapter 5);
    * ``bits=b`` (int, 2..32) — weights on a symmetric per-channel ``b``-bit grid
      (``quantization.quantize_weights``; chapter 4);
    * ``rank_fraction=f`` (in (0, 1]) — truncated SVD keeping ``max(1, round(f · min(m, n)))``
      singular values (``decomposition.decompose``; chapter 3) of the ``nn.Linear`` layers among
      ``layers`` (convolutions are left alone: chapter 3 factorises them with CP/Tucker instead).

    No fine-tuning: the one-shot sensitivity of each layer type.

    >>> small = compress(build_row_rnn("gru", 8), ["ih", "rnn.hh"], bits=4)
    """
    import copy
    from . import decomposition, quantization
    from . import sparsity as sp
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if isinstance(layers, str) or not isinstance(layers, Sequence) or not layers:
        raise ValueError(f"layers must be a non-empty list of layer names, got {layers!r}")
    given = {k: v for k, v in (("sparsity", sparsity), ("bits", bits), ("rank_fraction", rank_fraction))
             if v is not None}
    if len(given) != 1:
        raise ValueError("compress needs exactly one of sparsity= (pruning), bits= (quantization) or "
                         f"rank_fraction= (low-rank SVD); got {sorted(given) or 'none'}")
    modules = dict(model.named_modules())
    bad = [n for n in layers if not isinstance(modules.get(n), (nn.Linear, nn.Conv2d))]
    if bad:
        raise ValueError(f"layers {bad} are not Linear/Conv2d layers of the model")
    if sparsity is not None:
        if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0 <= sparsity < 1:
            raise ValueError(f"sparsity must be a fraction in [0, 1), got {sparsity!r}")
        out = copy.deepcopy(model)
        sp.prune_(out, {n: float(sparsity) for n in layers})
        return sp.bake_masks_(out)
    if bits is not None:
        if isinstance(bits, bool) or not isinstance(bits, int):
            if not (isinstance(bits, float) and bits.is_integer()):
                raise TypeError(f"bits must be an int, got {type(bits).__name__} {bits!r}")
        if not 2 <= bits <= 32:
            raise ValueError(f"bits must be in 2..32 (a symmetric grid), got {bits!r}")
        return quantization.quantize_weights(model, int(bits), scheme="symmetric", granularity="channel",
                                             layers=list(layers))
    f = rank_fraction
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f <= 1:
        raise ValueError(f"rank_fraction is the kept fraction of the rank, in (0, 1], got {f!r}")
    plan = {n: decomposition.SVD(rank=max(1, round(f * min(modules[n].weight.shape))))
            for n in layers if isinstance(modules[n], nn.Linear)}
    if not plan:
        raise ValueError(f"rank_fraction (SVD) applies to Linear layers; none among {list(layers)}")
    return decomposition.decompose(model, plan)


def compression_sweep(model: nn.Module, layers: Sequence[str], sweep: Mapping[str, Sequence[float]] | None = None,
                      *, split: str = "test") -> list[dict]:
    """Accuracy (%) on ``split`` of :func:`compress` for every method and level of ``sweep``
    (``{"prune": sparsities, "quantize": bits, "low-rank": rank fractions}``), and the
    weight-storage ratio of the compressed layers (dense float32 / compressed, indices not counted:
    prune ``1/(1−s)``, quantize ``32/b``, low-rank ``mn / (r(m+n))``)."""
    sweep = dict(DEFAULT_SWEEP if sweep is None else sweep)
    unknown = sorted(set(sweep) - set(METHOD_KEYWORDS))
    if unknown:
        raise ValueError(f"unknown sweep methods {unknown}; allowed: {sorted(METHOD_KEYWORDS)}")

    def nonzero_weights(m: nn.Module) -> int:
        return sum(int((p != 0).sum()) for n in layers
                   for k, p in m.get_submodule(n).named_parameters() if not k.endswith("bias"))

    dense = sum(model.get_submodule(n).weight.numel() for n in layers)
    rows = []
    for method, levels in sweep.items():
        for level in levels:
            small = compress(model, layers, **{METHOD_KEYWORDS[method]: level})
            if method == "quantize":
                ratio = 32 / level
            else:
                ratio = dense / nonzero_weights(small)
            rows.append({"method": method, "level": level, "accuracy": train.evaluate(small, split),
                         "layer_ratio": ratio})
    return rows
