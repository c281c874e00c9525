"""CP (canonical polyadic) decomposition of a convolution kernel (Lebedev et al. 2015).

``K[o, i, h, w] ≈ Σ_r O[o, r] · I[i, r] · V[h, r] · H[w, r]``: the conv becomes four small ones
(1x1, k_h x 1 depthwise, 1 x k_w depthwise, 1x1). After the survey's section on tensor decomposition.
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import torch

from .. import checks
from ._common import check_rank, check_ratio, check_weight

__all__ = ["cp_max_rank", "cp_conv", "cp_reconstruct", "cp_conv_params", "cp_conv_macs", "cp_rank_for_compression"]


def cp_max_rank(shape: Sequence[int]) -> int:
    """An upper bound of the CP rank of any tensor of ``shape``: ``∏ dims / max dim``.

    (Every tensor is a sum of that many rank-1 terms: one per fibre along its largest mode,
    i.e. one per index of all the other modes.) Ranks above it are rejected as "above full rank".

    >>> cp_max_rank((3, 2, 2, 2))
    8
    """
    shape = [checks.check_int(s, "shape entry", minimum=1) for s in shape]
    if not shape:
        raise ValueError("shape must have at least one dimension")
    return math.prod(shape) // max(shape)


def cp_conv(kernel: torch.Tensor, rank: int, *, n_iter_max: int = 200, random_state: int = 0,
            return_errors: bool = False):
    """Rank-``R`` CP of a conv kernel by ALS (TensorLy ``parafac``): four factor matrices.

    ``K[o, i, h, w] ≈ Σ_r O[o, r] · I[i, r] · V[h, r] · H[w, r]`` with the CP weights folded into
    ``O``. Shapes: ``O`` [C_out, R], ``I`` [C_in, R], ``V`` [k_h, R], ``H`` [k_w, R].
    Lebedev et al. 2015 (4 layers: 1x1, k_h x 1 depthwise, 1 x k_w depthwise, 1x1).
    Returns ``(O, I, V, H)`` (and the ALS reconstruction errors if ``return_errors``).
    Runs in float64 inside ``tensorly.backend_context("pytorch")``; returns the kernel's dtype.
    """
    import tensorly as tl
    from tensorly.decomposition import parafac
    kernel = check_weight(kernel, "kernel", 4)
    rank = check_rank(rank, "rank", cp_max_rank(kernel.shape))
    checks.check_int(n_iter_max, "n_iter_max", minimum=1)
    with tl.backend_context("pytorch"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "n_eigenvecs larger than the mode": init pads randomly
        out = parafac(kernel.detach().double(), rank, n_iter_max=n_iter_max, init="svd", tol=1e-10,
                      random_state=random_state, return_errors=return_errors)
    cp, errors = out if return_errors else (out, None)
    weights, factors = cp
    o, i, v, h = (f.detach().clone() for f in factors)
    o = o * weights[None, :]
    factors = tuple(f.to(kernel.dtype) for f in (o, i, v, h))
    return (factors, [float(e) for e in errors]) if return_errors else factors


def cp_reconstruct(factors: Sequence[torch.Tensor]) -> torch.Tensor:
    """``K[o,i,h,w] = Σ_r O[o,r] I[i,r] V[h,r] H[w,r]`` from :func:`cp_conv`'s factors."""
    if len(factors) != 4:
        raise ValueError(f"factors must be the 4 CP factors (O, I, V, H), got {len(factors)}")
    for name, f in zip("OIVH", factors):
        check_weight(f, f"factor {name}", 2)
    ranks = {f.shape[1] for f in factors}
    if len(ranks) != 1:
        raise ValueError(f"CP factors must share their rank (second dimension), got {sorted(ranks)}")
    return torch.einsum("or,ir,hr,wr->oihw", *factors)


def cp_conv_params(c_out: int, c_in: int, k_h: int, k_w: int, rank: int) -> int:
    """Weights of the CP chain: ``R·(C_in + k_h + k_w + C_out)`` (bias not included)."""
    return rank * (c_in + k_h + k_w + c_out)


def cp_conv_macs(c_out: int, c_in: int, k_h: int, k_w: int, rank: int, in_hw: tuple[int, int],
                 mid_hw: tuple[int, int], out_hw: tuple[int, int]) -> int:
    """MACs per sample of the CP chain.

    ``R·C_in·H_in·W_in`` (1x1) ``+ R·k_h·H_mid·W_in`` (vertical) ``+ R·k_w·H_out·W_out``
    (horizontal) ``+ C_out·R·H_out·W_out`` (1x1); ``mid`` is the size after the vertical conv.
    """
    (hi, wi), (hm, wm), (ho, wo) = in_hw, mid_hw, out_hw
    return rank * c_in * hi * wi + rank * k_h * hm * wm + rank * k_w * ho * wo + c_out * rank * ho * wo


def cp_rank_for_compression(c_out: int, c_in: int, k_h: int, k_w: int, ratio: float) -> int:
    """Largest CP rank with ``R·(C_in + k_h + k_w + C_out) ≤ C_out·C_in·k_h·k_w / ratio`` (at least 1)."""
    ratio = check_ratio(ratio)
    budget = c_out * c_in * k_h * k_w / ratio
    return max(1, min(int(budget // (c_in + k_h + k_w + c_out)), cp_max_rank((c_out, c_in, k_h, k_w))))
