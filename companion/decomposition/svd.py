"""Truncated SVD of a fully connected layer's weight (Denton et al. 2014; Xue et al. 2013).

``W[m, n] ≈ A[m, r] · B[r, n]``: a Linear ``y = W x + b`` becomes two Linears ``y = A (B x) + b``
with ``r·(m + n)`` weights instead of ``m·n``. After the survey's section on tensor decomposition.
"""
from __future__ import annotations

import torch

from .. import checks
from ._common import check_rank, check_ratio, check_weight

__all__ = ["svd_max_rank", "truncated_svd", "rank_for_energy", "svd_params", "svd_macs", "rank_for_compression",
           "choose_svd_rank"]


def svd_max_rank(weight: torch.Tensor) -> int:
    """Full rank of a matrix's SVD: ``min(m, n)``."""
    return min(check_weight(weight, "weight", 2).shape)


def truncated_svd(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Best rank-``r`` factors of a matrix (Eckart–Young): ``W ≈ A · B``.

    ``W = U S Vᵀ``; ``A = U[:, :r] · √S[:r]`` (shape [m, r]), ``B = √S[:r] · Vᵀ[:r]`` ([r, n]).
    A Linear ``y = W x + b`` (W: [out, in]) becomes ``y = A (B x) + b``: two Linears with
    ``r·(m + n)`` weights instead of ``m·n``. Denton et al. 2014; Xue et al. 2013.

    >>> A, B = truncated_svd(torch.eye(3), 2); tuple(A.shape), tuple(B.shape)
    ((3, 2), (2, 3))
    """
    weight = check_weight(weight, "weight", 2)
    rank = check_rank(rank, "rank", min(weight.shape))
    u, s, vh = torch.linalg.svd(weight.detach().double(), full_matrices=False)
    root = s[:rank].sqrt()
    return (u[:, :rank] * root).to(weight.dtype), (root[:, None] * vh[:rank]).to(weight.dtype)


def rank_for_energy(singular_values: torch.Tensor, energy: float) -> int:
    """Smallest ``r`` with ``Σ_{k<r} s_k² ≥ energy · Σ_k s_k²`` (kept "energy" fraction in (0, 1]).

    >>> rank_for_energy(torch.tensor([3.0, 2.0, 1.0]), 0.9)
    2
    """
    s = check_weight(singular_values, "singular_values", 1)
    energy = checks.check_float(energy, "energy", minimum=0.0, maximum=1.0, open_low=True)
    e = (s.double() ** 2).cumsum(0)
    if e[-1] <= 0:
        raise ValueError("singular_values are all zero: no energy to keep")
    r = int(torch.searchsorted(e / e[-1], torch.tensor([energy - 1e-12], dtype=e.dtype)).item()) + 1
    return min(r, len(s))


def svd_params(m: int, n: int, rank: int) -> int:
    """Weights of a rank-``r`` factorized [m, n] matrix: ``r·(m + n)`` (bias not included)."""
    m, n = checks.check_int(m, "m", minimum=1), checks.check_int(n, "n", minimum=1)
    return check_rank(rank, "rank", min(m, n)) * (m + n)


def svd_macs(m: int, n: int, rank: int) -> int:
    """MACs per sample of ``A (B x)``: ``r·(m + n)`` (the same as the weights)."""
    return svd_params(m, n, rank)


def rank_for_compression(m: int, n: int, ratio: float) -> int:
    """Largest rank whose factors hold at most ``m·n / ratio`` weights (``ratio`` > 0).

    ``r = ⌊m·n / (ratio·(m + n))⌋``; a ValueError if even rank 1 is over the budget.

    >>> rank_for_compression(500, 800, 10)
    30
    """
    ratio = check_ratio(ratio)
    svd_params(m, n, 1)  # validates m, n
    r = min(int(m * n / (ratio * (m + n))), min(m, n))
    if r < 1:
        raise ValueError(f"no rank reaches {ratio}x on a {m}x{n} matrix (rank 1 gives {m * n / (m + n):.1f}x)")
    return r


def choose_svd_rank(weight: torch.Tensor, *, rank: int | None = None, energy: float | None = None,
                    compression: float | None = None) -> int:
    """One of three ways to pick the rank: a ``rank``, a kept ``energy`` fraction, or a ``compression`` ratio."""
    weight = check_weight(weight, "weight", 2)
    given = [k for k, v in (("rank", rank), ("energy", energy), ("compression", compression)) if v is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of rank, energy, compression; got {given or 'none'}")
    if rank is not None:
        return check_rank(rank, "rank", min(weight.shape))
    if energy is not None:
        return rank_for_energy(torch.linalg.svdvals(weight.detach().double()), energy)
    return rank_for_compression(*weight.shape, compression)
