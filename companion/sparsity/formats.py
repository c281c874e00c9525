"""Storing and running sparse weights: CSR/CSC, Deep Compression's relative indices, bitmasks,
their sizes in bits, and the measured time of a sparse vs a dense matrix product.

After the survey's sections on network sparsification and sparse accelerators. Sizes count every
index bit through :func:`companion.metrics.storage_bits`; the timing uses the library's one timer
:func:`companion.metrics.time_calls_ms`.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from .. import checks, metrics
from ..rows import Row, Rows
from .masks import check_sparsity, check_weight, magnitude_mask, prunable_layers

__all__ = ["CSR", "csr_encode", "csr_decode", "csc_encode", "csc_decode", "csr_size_bits",
           "relative_index_encode", "relative_index_decode", "relative_index_size_bits", "bitmask_size_bits",
           "FORMATS", "sparse_size_bits", "sparse_storage", "SparseTiming", "time_sparse_linear"]


@dataclass(frozen=True)
class CSR:
    """Compressed sparse row (``format="csr"``) or column (``"csc"``) storage of a 2-D matrix.

    CSR: ``values[j]`` and ``indices[j]`` (its column) for the non-zeros in row-major order;
    row ``r`` owns ``values[ptr[r]:ptr[r+1]]``. CSC is the same for the transpose (EIE stores
    weights column-wise so that a zero activation skips a whole column).
    """

    values: torch.Tensor
    indices: torch.Tensor
    ptr: torch.Tensor
    shape: tuple[int, int]
    format: str = "csr"

    @property
    def nnz(self) -> int:
        return int(self.values.numel())


def _as_2d(dense: torch.Tensor) -> torch.Tensor:
    dense = check_weight(dense, "dense")
    if dense.dim() < 2:
        raise ValueError(f"dense must be a matrix (>= 2 dims; more are flattened to [rows, -1]), "
                         f"got shape {tuple(dense.shape)}")
    return dense.detach().reshape(dense.shape[0], -1)


def csr_encode(dense: torch.Tensor) -> CSR:
    """CSR of a matrix (``[rows, ...]`` is flattened to ``[rows, cols]``); zeros are not stored.

    ``values`` (nnz), ``indices`` (nnz column indices, int64), ``ptr`` (rows + 1, int64).
    Same arrays as ``torch.Tensor.to_sparse_csr()``.

    >>> c = csr_encode(torch.tensor([[0.0, 2.0], [1.0, 0.0]])); c.values.tolist(), c.indices.tolist(), c.ptr.tolist()
    ([2.0, 1.0], [1, 0], [0, 1, 2])
    """
    d = _as_2d(dense)
    nz = d != 0
    rc = torch.nonzero(nz)
    ptr = torch.zeros(d.shape[0] + 1, dtype=torch.int64)
    ptr[1:] = torch.cumsum(nz.sum(1), 0)
    return CSR(d[nz], rc[:, 1].to(torch.int64), ptr, (int(d.shape[0]), int(d.shape[1])), "csr")


def csr_decode(csr: CSR) -> torch.Tensor:
    """The dense matrix back from :func:`csr_encode` (or from :func:`csc_encode`)."""
    if not isinstance(csr, CSR):
        raise TypeError(f"csr must be a CSR, got {type(csr).__name__}")
    if csr.format == "csc":
        return csc_decode(csr)
    rows, cols = csr.shape
    counts = csr.ptr[1:] - csr.ptr[:-1]
    row_idx = torch.repeat_interleave(torch.arange(rows), counts)
    out = torch.zeros(rows, cols, dtype=csr.values.dtype)
    out[row_idx, csr.indices] = csr.values
    return out


def csc_encode(dense: torch.Tensor) -> CSR:
    """Compressed sparse column: CSR of the transpose (``indices`` are row indices, ``ptr`` per column)."""
    d = _as_2d(dense)
    t = csr_encode(d.t().contiguous())
    return CSR(t.values, t.indices, t.ptr, (int(d.shape[0]), int(d.shape[1])), "csc")


def csc_decode(csc: CSR) -> torch.Tensor:
    """The dense matrix back from :func:`csc_encode`."""
    if not isinstance(csc, CSR) or csc.format != "csc":
        raise TypeError(f"csc must be a CSR with format='csc', got {type(csc).__name__} "
                        f"{getattr(csc, 'format', '')!r}")
    rows, cols = csc.shape
    return csr_decode(CSR(csc.values, csc.indices, csc.ptr, (cols, rows), "csr")).t().contiguous()


def _bits_for(n: int) -> int:
    """Bits of an unsigned index that can hold the values 0 … n−1 (at least 1)."""
    return max(1, math.ceil(math.log2(max(n, 2))))


def csr_size_bits(csr: CSR, value_bits: int | float = 32, *, index_bits: int | None = None,
                  pointer_bits: int | None = None) -> int:
    """Bits of a CSR/CSC matrix: ``nnz·value_bits + nnz·index_bits + (rows+1)·pointer_bits``.

    Defaults are the narrowest widths that work: ``index_bits = ⌈log2(cols)⌉`` (CSC: rows),
    ``pointer_bits = ⌈log2(nnz + 1)⌉``. (``torch``'s own CSR uses 64-bit indices and pointers.)
    """
    if not isinstance(csr, CSR):
        raise TypeError(f"csr must be a CSR, got {type(csr).__name__}")
    inner = csr.shape[1] if csr.format == "csr" else csr.shape[0]
    ib = _bits_for(inner) if index_bits is None else checks.check_bits(index_bits, "index_bits", high=64)
    pb = _bits_for(csr.nnz + 1) if pointer_bits is None else checks.check_bits(pointer_bits, "pointer_bits", high=64)
    return metrics.storage_bits(csr.nnz, value_bits, n_indices=csr.nnz, index_bits=ib) + \
        metrics.storage_bits(0, 1, n_indices=csr.ptr.numel(), index_bits=pb)


def relative_index_encode(flat_values: torch.Tensor, index_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deep Compression's relative-index format: each stored value with the number of zeros before it.

    ``gaps[j]`` counts the zeros skipped since the previous stored entry, in ``index_bits`` bits,
    so at most ``g_max = 2**index_bits − 1``. A longer run of zeros is bridged by *padding
    zeros*: a stored value 0 with gap ``g_max`` (Han et al. 2016, Fig. 2: with 3-bit indices a
    jump of more than 8 positions inserts a filler zero). Trailing zeros are not stored
    (give ``length`` to :func:`relative_index_decode`).

    ``flat_values``: 1-D (other shapes are flattened) → ``(values, gaps)``, both ``[n_stored]``;
    ``values`` keeps the dtype (floats, or integer cluster indices after weight sharing),
    ``gaps`` is int64.

    >>> relative_index_encode(torch.tensor([0., 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]), 3)
    (tensor([3., 0., 5.]), tensor([1, 7, 1]))
    """
    t = check_weight(flat_values, "flat_values").detach().reshape(-1)
    index_bits = checks.check_bits(index_bits, "index_bits")
    g_max = 2 ** index_bits - 1
    pos = torch.nonzero(t != 0).reshape(-1)
    if pos.numel() == 0:
        return t[:0].clone(), torch.zeros(0, dtype=torch.int64)
    prev = torch.cat([torch.tensor([-1]), pos[:-1]])
    zeros = pos - prev - 1
    pads = zeros // (g_max + 1)  # each padding entry covers g_max zeros and itself
    rest = zeros % (g_max + 1)
    counts = pads + 1
    where = torch.cumsum(counts, 0) - 1
    total = int(counts.sum())
    values = torch.zeros(total, dtype=t.dtype)
    gaps = torch.full((total,), g_max, dtype=torch.int64)
    values[where] = t[pos]
    gaps[where] = rest
    return values, gaps


def relative_index_decode(values: torch.Tensor, gaps: torch.Tensor, length: int | None = None) -> torch.Tensor:
    """The flat dense vector back from :func:`relative_index_encode` (padded with zeros to ``length``)."""
    if not isinstance(values, torch.Tensor) or not isinstance(gaps, torch.Tensor):
        raise TypeError(f"values and gaps must be torch tensors, got {type(values).__name__}, {type(gaps).__name__}")
    if values.shape != gaps.shape or values.dim() != 1:
        raise ValueError(f"values and gaps must be 1-D of equal length, got {tuple(values.shape)}, {tuple(gaps.shape)}")
    if gaps.numel() and int(gaps.min()) < 0:
        raise ValueError(f"gaps must be >= 0, got a minimum of {int(gaps.min())}")
    positions = torch.cumsum(gaps.to(torch.int64) + 1, 0) - 1
    end = int(positions[-1]) + 1 if positions.numel() else 0
    n = end if length is None else checks.check_int(length, "length", minimum=0)
    if n < end:
        raise ValueError(f"length {length} is shorter than the {end} positions encoded")
    out = torch.zeros(n, dtype=values.dtype)
    out[positions] = values
    return out


def relative_index_size_bits(values: torch.Tensor, gaps: torch.Tensor, value_bits: int | float,
                             index_bits: int) -> int:
    """``n_stored · (value_bits + index_bits)``: every stored entry, padding zeros included."""
    if values.numel() != gaps.numel():
        raise ValueError(f"values and gaps must have the same length, got {values.numel()} and {gaps.numel()}")
    return metrics.storage_bits(values.numel(), value_bits, n_indices=gaps.numel(), index_bits=index_bits)


def bitmask_size_bits(weight: torch.Tensor, value_bits: int | float = 32) -> int:
    """One presence bit per position plus the non-zero values: ``n + nnz·value_bits``."""
    weight = check_weight(weight)
    return metrics.storage_bits(int((weight != 0).sum()), value_bits, n_indices=weight.numel(), index_bits=1)


FORMATS = ("dense", "csr", "csc", "relative", "bitmask")


def sparse_size_bits(weight: torch.Tensor, fmt: str = "csr", *, value_bits: int | float = 32,
                     index_bits: int | None = None) -> int:
    """Bits to store ``weight`` in format ``fmt`` (one of :data:`FORMATS`), index overhead included.

    ``index_bits`` is the CSR/CSC column/row index width (default: the narrowest) or the
    relative-index gap width (default 5 for fully-connected, 8 for conv, as Deep Compression's).
    Conv weights are viewed as ``[C_out, C_in·k·k]`` (CSR) or flattened (relative).
    """
    weight = check_weight(weight)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; allowed: {FORMATS}")
    if fmt == "dense":
        return metrics.storage_bits(weight.numel(), value_bits)
    if fmt == "csr":
        return csr_size_bits(csr_encode(weight), value_bits, index_bits=index_bits)
    if fmt == "csc":
        return csr_size_bits(csc_encode(weight), value_bits, index_bits=index_bits)
    if fmt == "relative":
        b = index_bits if index_bits is not None else (8 if weight.dim() > 2 else 5)
        v, g = relative_index_encode(weight.reshape(-1), b)
        return relative_index_size_bits(v, g, value_bits, b)
    return bitmask_size_bits(weight, value_bits)


def sparse_storage(model: nn.Module, fmt: str = "csr", *, value_bits: int | float = 32,
                   index_bits: int | None = None, bias_bits: int = 32) -> list[metrics.LayerStorage]:
    """Per-layer :class:`companion.metrics.LayerStorage` of a (pruned) model stored in ``fmt``:
    ``weight_bits`` the non-zero values, ``index_bits`` all the overhead (indices, row pointers,
    presence bits, and the padding zeros of the relative format, values included)."""
    out = []
    for n, m in prunable_layers(model).items():
        w = m.weight.detach()
        total = sparse_size_bits(w, fmt, value_bits=value_bits, index_bits=index_bits)
        vals = total if fmt == "dense" else metrics.storage_bits(int((w != 0).sum()), value_bits)
        bias = metrics.storage_bits(m.bias.numel(), bias_bits) if m.bias is not None else 0
        out.append(metrics.LayerStorage(n, weight_bits=vals, index_bits=total - vals, bias_bits=bias))
    return out


# --- measured speed ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SparseTiming(Row):
    """One (sparsity, batch) point of :func:`time_sparse_linear`.

    ``dense_us`` / ``sparse_us``: the median over rounds of each round's fastest call (µs);
    ``speedup`` the median of the per-round ratios ``dense/sparse``, with their spread
    ``speedup_min`` … ``speedup_max`` over ``rounds`` rounds; ``ideal = 1/density``.
    """

    sparsity: float
    batch: int
    dense_us: float
    sparse_us: float
    speedup: float
    speedup_min: float
    speedup_max: float
    ideal: float
    rounds: int

    @property
    def speedup_spread(self) -> metrics.Spread:
        """The measured speed-up as a :class:`companion.metrics.Spread` (``.text(".1f", "x")`` for prose)."""
        return metrics.Spread(self.speedup_min, self.speedup, self.speedup_max)


def time_sparse_linear(out_features: int, in_features: int, sparsities: Sequence[float],
                       batch_sizes: Sequence[int] = (1, 64), *, repeats: int = 20, rounds: int = 5,
                       warmup: int = 2, seed: int = 0) -> Rows:
    """Measured CPU time of ``y = W x`` for a random pruned ``W``: dense ``torch.mm`` vs ``torch.sparse`` CSR.

    ``W``: ``[out_features, in_features]`` magnitude-pruned to each sparsity; ``x``:
    ``[in_features, batch]``. A thin wrapper over the library's one timer,
    :func:`companion.metrics.time_calls_ms`: single-threaded, the two kernels interleaved in
    ``rounds`` rounds (each round: ``warmup`` untimed calls, then the fastest of ``repeats``),
    and the speed-up taken *within* each round. Returns one :class:`SparseTiming` per
    (sparsity, batch): the median per-round ``speedup = t_dense / t_csr`` with its min/max over
    rounds, against ``ideal = 1/density`` (what skipping every zero for free would give).
    Timings depend on the machine and its load: print them with their range, never assert them.
    """
    out_features = checks.check_int(out_features, "out_features", minimum=1)
    in_features = checks.check_int(in_features, "in_features", minimum=1)
    rounds = checks.check_int(rounds, "rounds", minimum=1)
    batch_sizes = [checks.check_int(b, "batch size", minimum=1) for b in batch_sizes]
    sparsities = [check_sparsity(s) for s in sparsities]
    if not sparsities or not batch_sizes:
        raise ValueError(f"sparsities and batch_sizes must not be empty, got {sparsities!r}, {batch_sizes!r}")
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(out_features, in_features, generator=gen)
    rows = Rows()
    for s in sparsities:
        ws = w * magnitude_mask(w, s)
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore")
            w_csr = ws.to_sparse_csr()
        for b in batch_sizes:
            x = torch.randn(in_features, b, generator=gen)
            t = metrics.time_calls_ms({"dense": lambda: torch.mm(ws, x), "csr": lambda: torch.mm(w_csr, x)},
                                      rounds=rounds, repeats=repeats, warmup=warmup)
            speedup = t.ratio("dense", "csr")
            rows.append(SparseTiming(s, b, 1e3 * t.ms("dense").mid, 1e3 * t.ms("csr").mid, speedup.mid, speedup.low,
                                     speedup.high, 1.0 / (1.0 - s), rounds))
    return rows
