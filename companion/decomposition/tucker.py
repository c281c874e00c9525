"""Tucker-2 decomposition of a convolution kernel over its two channel modes (Kim et al. 2016).

``K[o, i, h, w] ≈ Σ_{p,q} U[o, p] · C[p, q, h, w] · S[i, q]``: 1x1 (C_in→R_in), k_h x k_w core
(R_in→R_out), 1x1 (R_out→C_out). After the survey's section on tensor decomposition.
"""
from __future__ import annotations

import math
import warnings

import torch

from ._common import check_rank, check_ratio, check_weight
from .svd import rank_for_energy

__all__ = ["tucker2_conv", "tucker2_reconstruct", "tucker2_params", "tucker2_macs", "tucker2_ranks_for_energy",
           "tucker2_ranks_for_compression"]


def tucker2_conv(kernel: torch.Tensor, ranks: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tucker-2 of a conv kernel over its two channel modes (TensorLy ``partial_tucker``, HOOI).

    ``K[o, i, h, w] ≈ Σ_{p,q} U[o, p] · C[p, q, h, w] · S[i, q]`` with ``ranks = (R_out, R_in)``.
    Shapes: ``C`` [R_out, R_in, k_h, k_w], ``U`` [C_out, R_out], ``S`` [C_in, R_in].
    The layer becomes 1x1 (C_in→R_in), k_h x k_w core (R_in→R_out), 1x1 (R_out→C_out):
    Kim et al. 2016. Returns ``(core, U, S)``.
    """
    import tensorly as tl
    from tensorly.decomposition import partial_tucker
    kernel = check_weight(kernel, "kernel", 4)
    if not isinstance(ranks, (tuple, list)) or len(ranks) != 2:
        raise ValueError(f"ranks must be a pair (R_out, R_in), got {ranks!r}")
    r_out = check_rank(ranks[0], "R_out", kernel.shape[0])
    r_in = check_rank(ranks[1], "R_in", kernel.shape[1])
    with tl.backend_context("pytorch"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a rank above the other modes' product: padded, harmless
        (core, (u, s)), _ = partial_tucker(kernel.detach().double(), rank=[r_out, r_in], modes=[0, 1],
                                           init="svd", n_iter_max=100, tol=1e-8)
    return core.to(kernel.dtype), u.to(kernel.dtype), s.to(kernel.dtype)


def tucker2_reconstruct(core: torch.Tensor, u: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``K[o,i,h,w] = Σ U[o,p] C[p,q,h,w] S[i,q]`` from :func:`tucker2_conv`'s factors."""
    check_weight(core, "core", 4)
    check_weight(u, "u", 2)
    check_weight(s, "s", 2)
    if u.shape[1] != core.shape[0] or s.shape[1] != core.shape[1]:
        raise ValueError(f"factor shapes {tuple(u.shape)}, {tuple(s.shape)} do not match core {tuple(core.shape)}")
    return torch.einsum("op,pqhw,iq->oihw", u, core, s)


def tucker2_params(c_out: int, c_in: int, k_h: int, k_w: int, r_out: int, r_in: int) -> int:
    """Weights of the Tucker-2 chain: ``C_in·R_in + R_out·R_in·k_h·k_w + R_out·C_out``."""
    return c_in * r_in + r_out * r_in * k_h * k_w + r_out * c_out


def tucker2_macs(c_out: int, c_in: int, k_h: int, k_w: int, r_out: int, r_in: int,
                 in_hw: tuple[int, int], out_hw: tuple[int, int]) -> int:
    """MACs per sample: ``R_in·C_in·H_in·W_in + (R_out·R_in·k_h·k_w + C_out·R_out)·H_out·W_out``."""
    (hi, wi), (ho, wo) = in_hw, out_hw
    return r_in * c_in * hi * wi + (r_out * r_in * k_h * k_w + c_out * r_out) * ho * wo


def tucker2_ranks_for_energy(kernel: torch.Tensor, energy: float) -> tuple[int, int]:
    """``(R_out, R_in)``: per channel mode, the smallest rank keeping ``energy`` of its unfolding's
    squared singular values (the HOSVD rule; a simple, honest alternative to VBMF)."""
    k = check_weight(kernel, "kernel", 4).detach().double()
    s_out = torch.linalg.svdvals(k.reshape(k.shape[0], -1))
    s_in = torch.linalg.svdvals(k.transpose(0, 1).reshape(k.shape[1], -1))
    return rank_for_energy(s_out, energy), rank_for_energy(s_in, energy)


def tucker2_ranks_for_compression(c_out: int, c_in: int, k_h: int, k_w: int, ratio: float) -> tuple[int, int]:
    """Largest ``(R_out, R_in) = (⌈t·C_out⌉, ⌈t·C_in⌉)`` (same fraction ``t`` of each mode) whose
    Tucker-2 weights fit ``C_out·C_in·k_h·k_w / ratio``; ``(1, 1)`` if nothing fits."""
    ratio = check_ratio(ratio)
    budget = c_out * c_in * k_h * k_w / ratio
    best = (1, 1)
    for r_out in range(1, c_out + 1):
        r_in = max(1, math.ceil(r_out * c_in / c_out))
        if r_in <= c_in and tucker2_params(c_out, c_in, k_h, k_w, r_out, r_in) <= budget:
            best = (r_out, r_in)
    return best
