"""Tensor-train (TT) matrices for fully connected layers (Oseledets 2011; Novikov et al. 2015).

``W[(o_1..o_d), (i_1..i_d)] ≈ G_1[o_1, i_1] ⋯ G_d[o_d, i_d]``: a [∏ m_k, ∏ n_k] matrix as ``d``
small cores; :func:`tt_matvec` multiplies by it without ever forming it. After the survey's
section on tensor decomposition.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from .. import checks
from ._common import check_weight

__all__ = ["factorize", "tt_max_ranks", "tt_matrix", "tt_to_matrix", "tt_matvec", "tt_params", "tt_macs"]


def factorize(n: int, d: int) -> tuple[int, ...]:
    """``n`` as a product of ``d`` factors as equal as possible (largest first), e.g. 784, 4 → (7, 7, 4, 4).

    Raises ValueError when ``n`` has fewer than ``d`` prime factors (it does not factor into ``d``
    modes larger than 1).
    """
    n, d = checks.check_int(n, "n", minimum=1), checks.check_int(d, "d", minimum=1)
    primes, m, p = [], n, 2
    while m > 1:
        while m % p == 0:
            primes.append(p)
            m //= p
        p += 1
    if len(primes) < d:
        raise ValueError(f"{n} does not factor into {d} modes > 1 (prime factors: {primes or [n]})")
    modes = [1] * d
    for q in sorted(primes, reverse=True):  # greedy: give each prime to the smallest mode
        modes[modes.index(min(modes))] *= q
    return tuple(sorted(modes, reverse=True))


def _check_modes(in_modes, out_modes, in_features: int | None = None, out_features: int | None = None):
    for name, modes in (("in_modes", in_modes), ("out_modes", out_modes)):
        if not isinstance(modes, (tuple, list)) or not modes or any(
                isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in modes):
            raise ValueError(f"{name} must be a non-empty sequence of positive ints, got {modes!r}")
    if len(in_modes) != len(out_modes):
        raise ValueError(f"in_modes and out_modes need the same length d, got {len(in_modes)} and {len(out_modes)}")
    if in_features is not None and math.prod(in_modes) != in_features:
        raise ValueError(f"in_modes {tuple(in_modes)} multiply to {math.prod(in_modes)}, not in_features={in_features}")
    if out_features is not None and math.prod(out_modes) != out_features:
        raise ValueError(f"out_modes {tuple(out_modes)} multiply to {math.prod(out_modes)}, not out_features={out_features}")
    return tuple(in_modes), tuple(out_modes)


def tt_max_ranks(in_modes: Sequence[int], out_modes: Sequence[int]) -> tuple[int, ...]:
    """Full TT ranks ``(1, r_1, …, r_{d−1}, 1)``: ``r_k = min(∏_{j≤k} m_j n_j, ∏_{j>k} m_j n_j)``."""
    in_modes, out_modes = _check_modes(in_modes, out_modes)
    sizes = [m * n for m, n in zip(out_modes, in_modes)]
    d = len(sizes)
    return (1,) + tuple(min(math.prod(sizes[:k]), math.prod(sizes[k:])) for k in range(1, d)) + (1,)


def _check_tt_ranks(ranks, in_modes, out_modes) -> tuple[int, ...]:
    d = len(in_modes)
    full = tt_max_ranks(in_modes, out_modes)
    if isinstance(ranks, int) and not isinstance(ranks, bool):
        if ranks < 1:
            raise ValueError(f"TT rank must be >= 1, got {ranks}")
        ranks = (1,) + tuple(min(ranks, f) for f in full[1:-1]) + (1,)
    if not isinstance(ranks, (tuple, list)) or len(ranks) != d + 1:
        raise ValueError(f"ranks must be an int or a sequence of d + 1 = {d + 1} ints (1, r_1, ..., 1), got {ranks!r}")
    ranks = tuple(ranks)
    if ranks[0] != 1 or ranks[-1] != 1:
        raise ValueError(f"the boundary TT ranks must be 1, got {ranks}")
    for k, (r, f) in enumerate(zip(ranks, full)):
        if isinstance(r, bool) or not isinstance(r, int) or r < 1 or r > f:
            raise ValueError(f"TT rank r_{k} must be an int in [1, {f}] (full rank for these modes), got {r!r}")
    return ranks


def tt_matrix(weight: torch.Tensor, in_modes: Sequence[int], out_modes: Sequence[int],
              ranks: int | Sequence[int]) -> list[torch.Tensor]:
    """TT-SVD of a weight matrix [out, in] into ``d`` cores ``G_k`` of shape [r_{k−1}, m_k, n_k, r_k].

    ``W[(o_1..o_d), (i_1..i_d)] = G_1[:, o_1, i_1, :] · G_2[:, o_2, i_2, :] ⋯ G_d[:, o_d, i_d, :]``
    with row-major multi-indices (``out = ∏ m_k``, ``in = ∏ n_k``). ``ranks``: one int (capped at
    the full ranks) or ``(1, r_1, …, r_{d−1}, 1)``. TensorLy ``tensor_train_matrix``;
    Oseledets 2011 (TT-SVD), Novikov et al. 2015 (TT layers).
    """
    import tensorly as tl
    from tensorly.decomposition import tensor_train_matrix
    weight = check_weight(weight, "weight", 2)
    in_modes, out_modes = _check_modes(in_modes, out_modes, weight.shape[1], weight.shape[0])
    ranks = _check_tt_ranks(ranks, in_modes, out_modes)
    with tl.backend_context("pytorch"):
        tt = tensor_train_matrix(weight.detach().double().reshape(*out_modes, *in_modes), list(ranks))
    return [c.to(weight.dtype).contiguous() for c in tt.factors]


def tt_to_matrix(cores: Sequence[torch.Tensor]) -> torch.Tensor:
    """The dense [∏ m_k, ∏ n_k] matrix of a list of TT cores (for tests and error curves)."""
    if not cores:
        raise ValueError("cores must hold at least one TT core [r_{k-1}, m_k, n_k, r_k]")
    full = cores[0]  # [1, M, N, r]
    for g in cores[1:]:
        r0, m, n, r1 = g.shape
        full = torch.einsum("aMNr,rmns->aMmNns", full, g)
        full = full.reshape(1, full.shape[1] * m, full.shape[3] * n, r1)
    return full[0, :, :, 0]


def tt_matvec(x: torch.Tensor, cores: Sequence[torch.Tensor]) -> torch.Tensor:
    """``y = W x`` for a batch ``x`` [B, ∏ n_k] with ``W`` in TT format, never forming ``W``.

    Core by core: the state ``[B, m_1..m_{k−1}, r_{k−1}, n_k..n_d]`` contracts ``(r_{k−1}, n_k)``
    with ``G_k`` [r_{k−1}, m_k, n_k, r_k]. Output [B, ∏ m_k]. MACs: :func:`tt_macs`.
    """
    checks.check_tensor(x, "x", ndim=2)
    if not cores:
        raise ValueError("cores must hold at least one TT core")
    in_modes = [g.shape[2] for g in cores]
    if x.shape[1] != math.prod(in_modes):
        raise ValueError(f"x has {x.shape[1]} features, the TT cores expect {math.prod(in_modes)}")
    b = x.shape[0]
    state = x.reshape(b, 1, 1, x.shape[1])  # [B, M_done, r, N_rest]
    for g in cores:
        r0, m, n, r1 = g.shape
        m_done, rest = state.shape[1], state.shape[3] // n
        state = state.reshape(b, m_done, r0, n, rest)
        state = torch.einsum("bparz,amrs->bpmsz", state, g)  # contract r_{k-1} (a) and n_k (r)
        state = state.reshape(b, m_done * m, r1, rest)
    return state.reshape(b, -1)


def tt_params(in_modes: Sequence[int], out_modes: Sequence[int], ranks: int | Sequence[int]) -> int:
    """Weights in the TT cores: ``Σ_k r_{k−1}·m_k·n_k·r_k`` (bias not included)."""
    in_modes, out_modes = _check_modes(in_modes, out_modes)
    ranks = _check_tt_ranks(ranks, in_modes, out_modes)
    return sum(ranks[k] * m * n * ranks[k + 1] for k, (m, n) in enumerate(zip(out_modes, in_modes)))


def tt_macs(in_modes: Sequence[int], out_modes: Sequence[int], ranks: int | Sequence[int]) -> int:
    """MACs per sample of :func:`tt_matvec`: ``Σ_k (∏_{j≤k} m_j)·(∏_{j>k} n_j)·r_{k−1}·n_k·r_k``."""
    in_modes, out_modes = _check_modes(in_modes, out_modes)
    ranks = _check_tt_ranks(ranks, in_modes, out_modes)
    d = len(in_modes)
    return sum(math.prod(out_modes[:k + 1]) * math.prod(in_modes[k + 1:]) * ranks[k] * in_modes[k] * ranks[k + 1]
               for k in range(d))

