"""Tensor decomposition: truncated SVD, CP, Tucker-2 and tensor-train (TT) layers.

After the survey's section on tensor decomposition (Deng et al., 2020). A trained weight
tensor is replaced by a few small factors whose product approximates it; the layer becomes a
chain of small layers (or, for TT, a sequence of small contractions).

========================  ====================================================  ======================
format                    model of the weight                                   primary paper
========================  ====================================================  ======================
truncated SVD (FC)        ``W[m,n] ≈ A[m,r] · B[r,n]``                          Denton et al. 2014,
                                                                                Xue et al. 2013
CP (conv)                 ``K[o,i,h,w] ≈ Σ_r O[o,r] I[i,r] V[h,r] H[w,r]``      Lebedev et al. 2015
Tucker-2 (conv)           ``K[o,i,h,w] ≈ Σ U[o,p] C[p,q,h,w] S[i,q]``           Kim et al. 2016
TT matrix (FC)            ``W[(o1..od),(i1..id)] ≈ G1[o1,i1] ⋯ Gd[od,id]``      Novikov et al. 2015
========================  ====================================================  ======================

Layout: pure tensor-in, tensor-out functions first (decompose, reconstruct, count), then thin
``nn.Module`` layers (:class:`LowRankLinear`, :class:`CPConv2d`, :class:`Tucker2Conv2d`,
:class:`TTLinear`), then model-level transforms (:func:`decompose`, :func:`finetuned`) that
other chapters reuse, e.g.::

    from companion import decomposition as dec
    model = dec.decompose(train.baseline("lenet5"), {"conv2": dec.Tucker2(8, 8), "fc1": dec.SVD(32)})

CP, Tucker and TT use TensorLy with its PyTorch backend, always inside
``tensorly.backend_context("pytorch")`` (never a global ``set_backend``). Decompositions run
in float64 and return float32 factors.
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import torch
from torch import nn

from . import exercises as _ex
from . import metrics

__all__ = [
    # pure functions
    "relative_error", "svd_max_rank", "truncated_svd", "rank_for_energy", "rank_for_compression",
    "choose_svd_rank", "svd_params", "svd_macs",
    "cp_max_rank", "cp_conv", "cp_reconstruct", "cp_conv_params", "cp_conv_macs",
    "tucker2_conv", "tucker2_reconstruct", "tucker2_params", "tucker2_macs", "tucker2_ranks_for_energy",
    "factorize", "tt_max_ranks", "tt_matrix", "tt_to_matrix", "tt_matvec", "tt_params", "tt_macs",
    "error_vs_rank",
    # layers
    "LowRankLinear", "CPConv2d", "Tucker2Conv2d", "TTLinear",
    # model level
    "SVD", "CP", "Tucker2", "TT", "decompose_layer", "decompose", "plan_for_budget", "cp_rank_for_compression",
    "tucker2_ranks_for_compression", "finetuned", "rank_sweep", "budget_sweep", "measure_latency_ms",
    "draw_tensor_network", "tensor_network_figure",
]


# --- helpers ---------------------------------------------------------------------------------

def _check_tensor(name: str, t, ndim: int) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
    return t


def _check_rank(name: str, rank, max_rank: int) -> int:
    if isinstance(rank, bool) or not isinstance(rank, int):
        raise TypeError(f"{name} must be an int, got {rank!r}")
    if rank < 1 or rank > max_rank:
        raise ValueError(f"{name} must be in [1, {max_rank}] (full rank of this shape), got {rank}")
    return rank


def relative_error(weight: torch.Tensor, approx: torch.Tensor) -> float:
    """Relative Frobenius error ``‖W − Ŵ‖_F / ‖W‖_F`` (0 = exact)."""
    if not isinstance(weight, torch.Tensor) or not isinstance(approx, torch.Tensor):
        raise TypeError("weight and approx must be torch.Tensors")
    if weight.shape != approx.shape:
        raise ValueError(f"shapes differ: {tuple(weight.shape)} vs {tuple(approx.shape)}")
    w, a = weight.detach().double(), approx.detach().double()
    norm = torch.linalg.norm(w)
    if norm == 0:
        raise ValueError("weight is all zeros: the relative error is undefined")
    return float(torch.linalg.norm(w - a) / norm)


# --- truncated SVD (fully connected layers) -------------------------------------------------

def svd_max_rank(weight: torch.Tensor) -> int:
    """Full rank of a matrix's SVD: ``min(m, n)``."""
    return min(_check_tensor("weight", weight, 2).shape)


def truncated_svd(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Best rank-``r`` factors of a matrix (Eckart–Young): ``W ≈ A · B``.

    ``W = U S Vᵀ``; ``A = U[:, :r] · √S[:r]`` (shape [m, r]), ``B = √S[:r] · Vᵀ[:r]`` ([r, n]).
    A Linear ``y = W x + b`` (W: [out, in]) becomes ``y = A (B x) + b``: two Linears with
    ``r·(m + n)`` weights instead of ``m·n``. Denton et al. 2014; Xue et al. 2013.

    >>> A, B = truncated_svd(torch.eye(3), 2); tuple(A.shape), tuple(B.shape)
    ((3, 2), (2, 3))
    """
    weight = _check_tensor("weight", weight, 2)
    rank = _check_rank("rank", rank, min(weight.shape))
    u, s, vh = torch.linalg.svd(weight.detach().double(), full_matrices=False)
    root = s[:rank].sqrt()
    return (u[:, :rank] * root).to(weight.dtype), (root[:, None] * vh[:rank]).to(weight.dtype)


def rank_for_energy(singular_values: torch.Tensor, energy: float) -> int:
    """Smallest ``r`` with ``Σ_{k<r} s_k² ≥ energy · Σ_k s_k²`` (kept "energy" fraction in (0, 1])."""
    s = _check_tensor("singular_values", singular_values, 1)
    if isinstance(energy, bool) or not isinstance(energy, (int, float)) or not 0 < energy <= 1:
        raise ValueError(f"energy must be a fraction in (0, 1], got {energy!r}")
    e = (s.double() ** 2).cumsum(0)
    if e[-1] <= 0:
        raise ValueError("all singular values are zero")
    r = int(torch.searchsorted(e / e[-1], torch.tensor([energy - 1e-12], dtype=e.dtype)).item()) + 1
    return min(r, len(s))


def svd_params(m: int, n: int, rank: int) -> int:
    """Weights of a rank-``r`` factorized [m, n] matrix: ``r·(m + n)`` (bias not included)."""
    for name, v in (("m", m), ("n", n)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    _check_rank("rank", rank, min(m, n))
    return rank * (m + n)


def svd_macs(m: int, n: int, rank: int) -> int:
    """MACs per sample of ``A (B x)``: ``r·(m + n)`` (the same as the weights)."""
    return svd_params(m, n, rank)


def rank_for_compression(m: int, n: int, ratio: float) -> int:
    """Largest rank whose factors hold at most ``m·n / ratio`` weights (``ratio`` > 1).

    ``r = ⌊m·n / (ratio·(m + n))⌋``; a ValueError if even rank 1 is over the budget.
    """
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio > 0:
        raise ValueError(f"ratio must be a positive number (dense / factorized weights), got {ratio!r}")
    svd_params(m, n, 1)  # validates m, n
    r = min(int(m * n / (ratio * (m + n))), min(m, n))
    if r < 1:
        raise ValueError(f"no rank reaches {ratio}x on a {m}x{n} matrix (rank 1 gives {m * n / (m + n):.1f}x)")
    return r


def choose_svd_rank(weight: torch.Tensor, *, rank: int | None = None, energy: float | None = None,
                    compression: float | None = None) -> int:
    """One of three ways to pick the rank: a ``rank``, a kept ``energy`` fraction, or a ``compression`` ratio."""
    weight = _check_tensor("weight", weight, 2)
    given = [k for k, v in (("rank", rank), ("energy", energy), ("compression", compression)) if v is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of rank, energy, compression; got {given or 'none'}")
    if rank is not None:
        return _check_rank("rank", rank, min(weight.shape))
    if energy is not None:
        return rank_for_energy(torch.linalg.svdvals(weight.detach().double()), energy)
    return rank_for_compression(*weight.shape, compression)


# --- CP (convolution kernels) ----------------------------------------------------------------

def _check_conv_kernel(kernel) -> torch.Tensor:
    return _check_tensor("kernel", kernel, 4)


def cp_max_rank(shape: Sequence[int]) -> int:
    """An upper bound of the CP rank of any tensor of ``shape``: ``∏ dims / max dim``.

    (Every tensor is a sum of that many rank-1 terms: one per fibre along its largest mode,
    i.e. one per index of all the other modes.) Ranks above it are rejected as "above full rank".
    """
    shape = [int(s) for s in shape]
    return math.prod(shape) // max(shape)


def cp_conv(kernel: torch.Tensor, rank: int, *, n_iter_max: int = 200, random_state: int = 0,
            return_errors: bool = False):
    """Rank-``R`` CP of a conv kernel by ALS (TensorLy ``parafac``): four factor matrices.

    ``K[o, i, h, w] ≈ Σ_r O[o, r] · I[i, r] · V[h, r] · H[w, r]`` with the CP weights folded into
    ``O``. Shapes: ``O`` [C_out, R], ``I`` [C_in, R], ``V`` [k_h, R], ``H`` [k_w, R].
    Lebedev et al. 2015 (4 layers: 1x1, k_h x 1 depthwise, 1 x k_w depthwise, 1x1).
    Returns ``(O, I, V, H)`` (and the ALS reconstruction errors if ``return_errors``).
    """
    import tensorly as tl
    from tensorly.decomposition import parafac
    kernel = _check_conv_kernel(kernel)
    rank = _check_rank("rank", rank, cp_max_rank(kernel.shape))
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
        raise ValueError(f"expected 4 CP factors (O, I, V, H), got {len(factors)}")
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


# --- Tucker-2 (convolution kernels) ----------------------------------------------------------

def tucker2_conv(kernel: torch.Tensor, ranks: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tucker-2 of a conv kernel over its two channel modes (TensorLy ``partial_tucker``, HOOI).

    ``K[o, i, h, w] ≈ Σ_{p,q} U[o, p] · C[p, q, h, w] · S[i, q]`` with ``ranks = (R_out, R_in)``.
    Shapes: ``C`` [R_out, R_in, k_h, k_w], ``U`` [C_out, R_out], ``S`` [C_in, R_in].
    The layer becomes 1x1 (C_in→R_in), k_h x k_w core (R_in→R_out), 1x1 (R_out→C_out):
    Kim et al. 2016. Returns ``(core, U, S)``.
    """
    import tensorly as tl
    from tensorly.decomposition import partial_tucker
    kernel = _check_conv_kernel(kernel)
    if not isinstance(ranks, (tuple, list)) or len(ranks) != 2:
        raise ValueError(f"ranks must be a pair (R_out, R_in), got {ranks!r}")
    r_out = _check_rank("R_out", ranks[0], kernel.shape[0])
    r_in = _check_rank("R_in", ranks[1], kernel.shape[1])
    with tl.backend_context("pytorch"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a rank above the other modes' product: padded, harmless
        (core, (u, s)), _ = partial_tucker(kernel.detach().double(), rank=[r_out, r_in], modes=[0, 1],
                                           init="svd", n_iter_max=100, tol=1e-8)
    return core.to(kernel.dtype), u.to(kernel.dtype), s.to(kernel.dtype)


def tucker2_reconstruct(core: torch.Tensor, u: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``K[o,i,h,w] = Σ U[o,p] C[p,q,h,w] S[i,q]`` from :func:`tucker2_conv`'s factors."""
    _check_tensor("core", core, 4)
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
    kernel = _check_conv_kernel(kernel)
    k = kernel.detach().double()
    s_out = torch.linalg.svdvals(k.reshape(k.shape[0], -1))
    s_in = torch.linalg.svdvals(k.transpose(0, 1).reshape(k.shape[1], -1))
    return rank_for_energy(s_out, energy), rank_for_energy(s_in, energy)


# --- tensor train matrices (fully connected layers) -----------------------------------------

def factorize(n: int, d: int) -> tuple[int, ...]:
    """``n`` as a product of ``d`` factors as equal as possible (largest first), e.g. 784, 4 → (7, 7, 4, 4).

    Raises ValueError when ``n`` has fewer than ``d`` prime factors (it does not factor into ``d``
    modes larger than 1).
    """
    for name, v in (("n", n), ("d", d)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
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
    weight = _check_tensor("weight", weight, 2)
    in_modes, out_modes = _check_modes(in_modes, out_modes, weight.shape[1], weight.shape[0])
    ranks = _check_tt_ranks(ranks, in_modes, out_modes)
    with tl.backend_context("pytorch"):
        tt = tensor_train_matrix(weight.detach().double().reshape(*out_modes, *in_modes), list(ranks))
    return [c.to(weight.dtype).contiguous() for c in tt.factors]


def tt_to_matrix(cores: Sequence[torch.Tensor]) -> torch.Tensor:
    """The dense [∏ m_k, ∏ n_k] matrix of a list of TT cores (for tests and error curves)."""
    if not cores:
        raise ValueError("need at least one TT core")
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
    if x.ndim != 2:
        raise ValueError(f"x must be [batch, features], got shape {tuple(x.shape)}")
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


# --- error curves ------------------------------------------------------------------------------

def error_vs_rank(weight: torch.Tensor, method: str, ranks: Sequence, **kw) -> list[float]:
    """Relative reconstruction error of ``weight`` for each rank (``method`` in svd/cp/tucker2/tt).

    ``svd``: ``weight`` [m, n], ranks ints. ``cp``: a kernel, ranks ints. ``tucker2``: a kernel,
    ranks ints (R_out = R_in = r, each capped) or pairs. ``tt``: a matrix, ranks ints, with
    ``in_modes=``, ``out_modes=`` keywords.
    """
    if method not in ("svd", "cp", "tucker2", "tt"):
        raise ValueError(f"method must be 'svd', 'cp', 'tucker2' or 'tt', got {method!r}")
    out = []
    for r in ranks:
        if method == "svd":
            a, b = truncated_svd(weight, r)
            approx = a @ b
        elif method == "cp":
            approx = cp_reconstruct(cp_conv(weight, r, **kw))
        elif method == "tucker2":
            pair = tuple(r) if isinstance(r, (tuple, list)) else (min(r, weight.shape[0]), min(r, weight.shape[1]))
            approx = tucker2_reconstruct(*tucker2_conv(weight, pair))
        else:
            approx = tt_to_matrix(tt_matrix(weight, kw["in_modes"], kw["out_modes"], r))
        out.append(relative_error(weight, approx))
    return out


# --- layers ----------------------------------------------------------------------------------

def _linear_macs(m: nn.Linear) -> int:
    return m.in_features * m.out_features


def _conv_macs(m: nn.Conv2d, y: torch.Tensor) -> int:
    return y.shape[-2] * y.shape[-1] * m.weight[0].numel() * m.out_channels


class LowRankLinear(nn.Module):
    """``y = A (B x) + b``: a Linear factorized by truncated SVD (``first``: B, ``last``: A + bias).

    Parameters ``r·(in + out) + out``; MACs ``r·(in + out)`` per sample. Denton et al. 2014.
    """

    def __init__(self, in_features: int, out_features: int, rank: int, bias: bool = True):
        super().__init__()
        self.rank = _check_rank("rank", rank, min(in_features, out_features))
        self.first = nn.Linear(in_features, rank, bias=False)
        self.last = nn.Linear(rank, out_features, bias=bias)

    @classmethod
    def from_linear(cls, linear: nn.Linear, rank: int) -> "LowRankLinear":
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"expected nn.Linear, got {type(linear).__name__}")
        a, b = truncated_svd(linear.weight.detach(), rank)
        layer = cls(linear.in_features, linear.out_features, rank, bias=linear.bias is not None)
        with torch.no_grad():
            layer.first.weight.copy_(b)
            layer.last.weight.copy_(a)
            if linear.bias is not None:
                layer.last.bias.copy_(linear.bias)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.first(x))

    def dense_weight(self) -> torch.Tensor:
        return self.last.weight @ self.first.weight

    def compute_macs(self, x: torch.Tensor, y: torch.Tensor) -> int:
        rows = y.numel() // y.shape[-1] // y.shape[0]
        return rows * (_linear_macs(self.first) + _linear_macs(self.last))


def _check_plain_conv(conv: nn.Conv2d) -> None:
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"expected nn.Conv2d, got {type(conv).__name__}")
    if conv.groups != 1 or conv.dilation != (1, 1) or not isinstance(conv.padding, tuple):
        raise ValueError("only convolutions with groups=1, dilation=1 and numeric padding can be decomposed, "
                         f"got groups={conv.groups}, dilation={conv.dilation}, padding={conv.padding!r}")


class CPConv2d(nn.Module):
    """Lebedev et al. 2015: 1x1 (C_in→R), k_h x 1 depthwise, 1 x k_w depthwise, 1x1 (R→C_out) + bias.

    Equal to ``nn.Conv2d`` with kernel ``Σ_r O[:,r] ∘ I[:,r] ∘ V[:,r] ∘ H[:,r]`` (same stride and
    padding: the vertical conv carries the vertical stride/padding, the horizontal the other).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int], rank: int,
                 stride: tuple[int, int] = (1, 1), padding: tuple[int, int] = (0, 0), bias: bool = True):
        super().__init__()
        kh, kw = kernel_size
        self.rank = _check_rank("rank", rank, cp_max_rank((out_channels, in_channels, kh, kw)))
        self.pointwise_in = nn.Conv2d(in_channels, rank, 1, bias=False)
        self.vertical = nn.Conv2d(rank, rank, (kh, 1), stride=(stride[0], 1), padding=(padding[0], 0),
                                  groups=rank, bias=False)
        self.horizontal = nn.Conv2d(rank, rank, (1, kw), stride=(1, stride[1]), padding=(0, padding[1]),
                                    groups=rank, bias=False)
        self.pointwise_out = nn.Conv2d(rank, out_channels, 1, bias=bias)

    @classmethod
    def from_factors(cls, factors, stride=(1, 1), padding=(0, 0), bias: torch.Tensor | None = None) -> "CPConv2d":
        o, i, v, h = factors
        layer = cls(i.shape[0], o.shape[0], (v.shape[0], h.shape[0]), o.shape[1], stride, padding, bias is not None)
        with torch.no_grad():
            layer.pointwise_in.weight.copy_(i.T[:, :, None, None])
            layer.vertical.weight.copy_(v.T[:, None, :, None])
            layer.horizontal.weight.copy_(h.T[:, None, None, :])
            layer.pointwise_out.weight.copy_(o[:, :, None, None])
            if bias is not None:
                layer.pointwise_out.bias.copy_(bias)
        return layer

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, rank: int, **kw) -> "CPConv2d":
        _check_plain_conv(conv)
        factors = cp_conv(conv.weight.detach(), rank, **kw)
        return cls.from_factors(factors, conv.stride, conv.padding,
                                conv.bias.detach() if conv.bias is not None else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_out(self.horizontal(self.vertical(self.pointwise_in(x))))

    def factors(self) -> tuple[torch.Tensor, ...]:
        return (self.pointwise_out.weight[:, :, 0, 0], self.pointwise_in.weight[:, :, 0, 0].T,
                self.vertical.weight[:, 0, :, 0].T, self.horizontal.weight[:, 0, 0, :].T)

    def dense_weight(self) -> torch.Tensor:
        return cp_reconstruct(self.factors())

    def compute_macs(self, x: torch.Tensor, y: torch.Tensor) -> int:
        hi, wi = x.shape[-2:]
        kh, _ = self.vertical.kernel_size
        sh, ph = self.vertical.stride[0], self.vertical.padding[0]
        hm = (hi + 2 * ph - kh) // sh + 1
        return cp_conv_macs(self.pointwise_out.out_channels, self.pointwise_in.in_channels, kh,
                            self.horizontal.kernel_size[1], self.rank, (hi, wi), (hm, wi), tuple(y.shape[-2:]))


class Tucker2Conv2d(nn.Module):
    """Kim et al. 2016: 1x1 (C_in→R_in), k_h x k_w core (R_in→R_out, original stride/padding), 1x1 (R_out→C_out) + bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int], ranks: tuple[int, int],
                 stride: tuple[int, int] = (1, 1), padding: tuple[int, int] = (0, 0), bias: bool = True):
        super().__init__()
        r_out = _check_rank("R_out", ranks[0], out_channels)
        r_in = _check_rank("R_in", ranks[1], in_channels)
        self.ranks = (r_out, r_in)
        self.pointwise_in = nn.Conv2d(in_channels, r_in, 1, bias=False)
        self.core = nn.Conv2d(r_in, r_out, kernel_size, stride=stride, padding=padding, bias=False)
        self.pointwise_out = nn.Conv2d(r_out, out_channels, 1, bias=bias)

    @classmethod
    def from_factors(cls, core, u, s, stride=(1, 1), padding=(0, 0), bias=None) -> "Tucker2Conv2d":
        layer = cls(s.shape[0], u.shape[0], tuple(core.shape[2:]), (core.shape[0], core.shape[1]), stride, padding,
                    bias is not None)
        with torch.no_grad():
            layer.pointwise_in.weight.copy_(s.T[:, :, None, None])
            layer.core.weight.copy_(core)
            layer.pointwise_out.weight.copy_(u[:, :, None, None])
            if bias is not None:
                layer.pointwise_out.bias.copy_(bias)
        return layer

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, ranks: tuple[int, int]) -> "Tucker2Conv2d":
        _check_plain_conv(conv)
        core, u, s = tucker2_conv(conv.weight.detach(), ranks)
        return cls.from_factors(core, u, s, conv.stride, conv.padding,
                                conv.bias.detach() if conv.bias is not None else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_out(self.core(self.pointwise_in(x)))

    def dense_weight(self) -> torch.Tensor:
        return tucker2_reconstruct(self.core.weight, self.pointwise_out.weight[:, :, 0, 0],
                                   self.pointwise_in.weight[:, :, 0, 0].T)

    def compute_macs(self, x: torch.Tensor, y: torch.Tensor) -> int:
        kh, kw = self.core.kernel_size
        return tucker2_macs(self.pointwise_out.out_channels, self.pointwise_in.in_channels, kh, kw, *self.ranks,
                            tuple(x.shape[-2:]), tuple(y.shape[-2:]))


class TTLinear(nn.Module):
    """A fully connected layer whose [∏ m_k, ∏ n_k] weight is a tensor train (Novikov et al. 2015).

    ``forward`` runs :func:`tt_matvec` (the cores are contracted with the input one by one; the
    dense matrix is never formed). Build it from a trained Linear (:meth:`from_linear`, TT-SVD)
    or from scratch (the constructor: random cores scaled so the layer starts with roughly
    Kaiming-uniform output variance).
    """

    def __init__(self, in_modes: Sequence[int], out_modes: Sequence[int], ranks: int | Sequence[int],
                 bias: bool = True, seed: int = 0):
        super().__init__()
        self.in_modes, self.out_modes = _check_modes(in_modes, out_modes)
        self.ranks = _check_tt_ranks(ranks, self.in_modes, self.out_modes)
        self.in_features, self.out_features = math.prod(self.in_modes), math.prod(self.out_modes)
        gen = torch.Generator().manual_seed(seed)
        d = len(self.in_modes)
        # Var(W_ij) = Π_k Var(g)·r_k  (products of d independent cores summed over the ranks);
        # choose Var(g) so Var(W_ij) = 1 / (3·in) as for nn.Linear's default init.
        target = 1.0 / (3 * self.in_features)
        inner = math.prod(self.ranks[1:-1])
        std = (target / inner) ** (1 / (2 * d))
        self.cores = nn.ParameterList(
            nn.Parameter(torch.randn(self.ranks[k], m, n, self.ranks[k + 1], generator=gen) * std)
            for k, (m, n) in enumerate(zip(self.out_modes, self.in_modes)))
        self.bias = nn.Parameter(torch.zeros(self.out_features)) if bias else None

    @classmethod
    def from_linear(cls, linear: nn.Linear, in_modes: Sequence[int], out_modes: Sequence[int],
                    ranks: int | Sequence[int]) -> "TTLinear":
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"expected nn.Linear, got {type(linear).__name__}")
        cores = tt_matrix(linear.weight.detach(), in_modes, out_modes, ranks)
        layer = cls(in_modes, out_modes, tuple([1] + [c.shape[3] for c in cores]), bias=linear.bias is not None)
        with torch.no_grad():
            for p, c in zip(layer.cores, cores):
                p.copy_(c)
            if linear.bias is not None:
                layer.bias.copy_(linear.bias)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        y = tt_matvec(x.reshape(-1, x.shape[-1]), list(self.cores))
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)

    def dense_weight(self) -> torch.Tensor:
        return tt_to_matrix(list(self.cores))

    def compute_macs(self, x: torch.Tensor, y: torch.Tensor) -> int:
        rows = y.numel() // y.shape[-1] // y.shape[0]
        return rows * tt_macs(self.in_modes, self.out_modes, self.ranks)

    def extra_repr(self) -> str:
        return f"in_modes={self.in_modes}, out_modes={self.out_modes}, ranks={self.ranks}"


# --- model-level transforms --------------------------------------------------------------------

@dataclass(frozen=True)
class SVD:
    """Plan entry: truncated SVD of a Linear; exactly one of ``rank``, ``energy``, ``compression``."""

    rank: int | None = None
    energy: float | None = None
    compression: float | None = None


@dataclass(frozen=True)
class CP:
    """Plan entry: rank-``rank`` CP of a Conv2d (Lebedev et al. 2015)."""

    rank: int
    n_iter_max: int = 200


@dataclass(frozen=True)
class Tucker2:
    """Plan entry: Tucker-2 of a Conv2d with ``(r_out, r_in)`` ranks, each capped at the layer's channels;
    or ``energy`` (then the ranks are chosen by :func:`tucker2_ranks_for_energy`)."""

    r_out: int | None = None
    r_in: int | None = None
    energy: float | None = None


@dataclass(frozen=True)
class TT:
    """Plan entry: a Linear as a :class:`TTLinear` with the given modes and ranks."""

    in_modes: tuple[int, ...]
    out_modes: tuple[int, ...]
    ranks: int | tuple[int, ...]


def decompose_layer(layer: nn.Module, spec) -> nn.Module:
    """The decomposed replacement of one ``nn.Linear`` / ``nn.Conv2d`` under a plan entry."""
    if isinstance(spec, SVD):
        if not isinstance(layer, nn.Linear):
            raise TypeError(f"SVD applies to nn.Linear, got {type(layer).__name__}")
        r = choose_svd_rank(layer.weight, rank=spec.rank, energy=spec.energy, compression=spec.compression)
        return LowRankLinear.from_linear(layer, r)
    if isinstance(spec, TT):
        return TTLinear.from_linear(layer, tuple(spec.in_modes), tuple(spec.out_modes),
                                    spec.ranks if isinstance(spec.ranks, int) else tuple(spec.ranks))
    if isinstance(spec, CP):
        return CPConv2d.from_conv(layer, spec.rank, n_iter_max=spec.n_iter_max)
    if isinstance(spec, Tucker2):
        _check_plain_conv(layer)
        if spec.energy is not None:
            ranks = tucker2_ranks_for_energy(layer.weight, spec.energy)
        else:
            if spec.r_out is None:
                raise ValueError("Tucker2 needs r_out (and optionally r_in) or energy")
            r_in = spec.r_in if spec.r_in is not None else spec.r_out
            ranks = (min(spec.r_out, layer.out_channels), min(r_in, layer.in_channels))
        return Tucker2Conv2d.from_conv(layer, ranks)
    raise TypeError(f"plan entries must be SVD, CP, Tucker2 or TT, got {type(spec).__name__}")


def decompose(model: nn.Module, plan: Mapping[str, object]) -> nn.Module:
    """A copy of ``model`` with the layers named in ``plan`` replaced by their decomposed form.

    ``plan``: ``{"fc1": SVD(rank=32), "conv2": Tucker2(8, 8), "conv1": CP(4), ...}``; the
    original model is left unchanged. Names are those of ``model.named_modules()``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(plan, Mapping) or not plan:
        raise ValueError("plan must be a non-empty mapping of layer name -> SVD/CP/Tucker2/TT")
    modules = dict(model.named_modules())
    unknown = [n for n in plan if n not in modules or n == ""]
    if unknown:
        raise ValueError(f"no layer(s) {unknown} in the model; layers: "
                         f"{[n for n, m in modules.items() if isinstance(m, (nn.Linear, nn.Conv2d))]}")
    out = copy.deepcopy(model).cpu()
    for name, spec in plan.items():
        parent_name, _, attr = name.rpartition(".")
        parent = out.get_submodule(parent_name) if parent_name else out
        setattr(parent, attr, decompose_layer(getattr(parent, attr), spec))
    return out.eval()


def cp_rank_for_compression(c_out: int, c_in: int, k_h: int, k_w: int, ratio: float) -> int:
    """Largest CP rank with ``R·(C_in + k_h + k_w + C_out) ≤ C_out·C_in·k_h·k_w / ratio`` (at least 1)."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio > 0:
        raise ValueError(f"ratio must be a positive number, got {ratio!r}")
    budget = c_out * c_in * k_h * k_w / ratio
    return max(1, min(int(budget // (c_in + k_h + k_w + c_out)), cp_max_rank((c_out, c_in, k_h, k_w))))


def tucker2_ranks_for_compression(c_out: int, c_in: int, k_h: int, k_w: int, ratio: float) -> tuple[int, int]:
    """Largest ``(R_out, R_in) = (⌈t·C_out⌉, ⌈t·C_in⌉)`` (same fraction ``t`` of each mode) whose
    Tucker-2 weights fit ``C_out·C_in·k_h·k_w / ratio``; ``(1, 1)`` if nothing fits."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio > 0:
        raise ValueError(f"ratio must be a positive number, got {ratio!r}")
    budget = c_out * c_in * k_h * k_w / ratio
    best = (1, 1)
    for r_out in range(1, c_out + 1):
        r_in = max(1, math.ceil(r_out * c_in / c_out))
        if r_in <= c_in and tucker2_params(c_out, c_in, k_h, k_w, r_out, r_in) <= budget:
            best = (r_out, r_in)
    return best


def plan_for_budget(model: nn.Module, ratio: float, *, conv: str = "tucker2",
                    skip: Sequence[str] = ()) -> dict[str, object]:
    """A plan giving every Linear (SVD) and Conv2d (``conv``: "tucker2" or "cp") ``ratio`` times fewer weights.

    Layers named in ``skip`` stay dense (e.g. the first conv with one input channel, and the
    classifier). Each layer gets the largest rank within its budget (at least rank 1), so a
    layer can miss the ratio when even rank 1 is too big.
    """
    if conv not in ("tucker2", "cp"):
        raise ValueError(f"conv must be 'tucker2' or 'cp', got {conv!r}")
    plan: dict[str, object] = {}
    for name, m in model.named_modules():
        if name in skip:
            continue
        if isinstance(m, nn.Linear):
            r = max(1, min(int(m.in_features * m.out_features / (ratio * (m.in_features + m.out_features))),
                           min(m.in_features, m.out_features)))
            plan[name] = SVD(rank=r)
        elif isinstance(m, nn.Conv2d):
            o, i, kh, kw = m.weight.shape
            if conv == "cp":
                plan[name] = CP(cp_rank_for_compression(o, i, kh, kw, ratio))
            else:
                plan[name] = Tucker2(*tucker2_ranks_for_compression(o, i, kh, kw, ratio))
    return plan


def _plan_spec(plan: Mapping[str, object]) -> dict:
    return {k: {"type": type(v).__name__, **asdict(v)} for k, v in plan.items()}


def finetuned(model_name: str, plan: Mapping[str, object], *, epochs: int = 5, lr: float = 5e-4,
              weight_decay: float = 0.0, shift_px: int | None = None, progress: bool = True) -> nn.Module:
    """``decompose(baseline(model_name), plan)`` fine-tuned for ``epochs`` (cached on disk).

    Training uses the baseline's batch size and augmentation (``shift_px`` overrides it); the
    cache key holds the model name, the plan and every training argument.
    """
    from . import train
    cfg = train.baseline_config(model_name)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    shift = cfg.shift_px if shift_px is None else shift_px
    spec = {"decomposed": model_name, "plan": _plan_spec(plan), "epochs": epochs, "lr": lr,
            "weight_decay": weight_decay, "shift_px": shift, "batch_size": cfg.batch_size}

    def make():
        return decompose(train.baseline(model_name, progress=progress), plan)

    def fit(m):
        if epochs:
            train.fit(m, epochs=epochs, lr=lr, batch_size=cfg.batch_size, weight_decay=weight_decay,
                      shift_px=shift, progress=progress, desc=f"fine-tuning {model_name}")

    return train.cached_model(spec, make, fit, name=f"ch3-{model_name}")


def rank_sweep(model_name: str, layer: str, method: str, ranks: Sequence, **kw) -> list[dict]:
    """Decompose one layer of a trained baseline at each rank (no fine-tuning) and measure it.

    ``method``: "svd", "cp", "tucker2" (ranks: ints, Tucker pairs ``(r, r)`` capped per mode) or
    "tt" (ranks: ints; ``in_modes=``, ``out_modes=`` keywords). One dict per rank with ``rank``,
    ``error`` (relative Frobenius), ``params`` and ``macs`` of that layer (weights + bias, per
    sample), ``dense_params``, ``dense_macs`` and the whole network's test ``accuracy`` (%).
    Slow (seconds to a minute): cache it with :func:`companion.train.cached_result`.
    """
    from . import metrics, train
    base = train.baseline(model_name, progress=False)
    dense = next(l for l in metrics.measure_layers(base) if l.name == layer)
    w = base.get_submodule(layer).weight.detach()
    rows = []
    for r in ranks:
        if method == "svd":
            spec = SVD(rank=r)
        elif method == "cp":
            spec = CP(r, **kw)
        elif method == "tucker2":
            spec = Tucker2(r, r)
        elif method == "tt":
            spec = TT(tuple(kw["in_modes"]), tuple(kw["out_modes"]), r)
        else:
            raise ValueError(f"method must be 'svd', 'cp', 'tucker2' or 'tt', got {method!r}")
        model = decompose(base, {layer: spec})
        cost = next(l for l in metrics.measure_layers(model) if l.name == layer)
        rows.append({"rank": r, "error": relative_error(w, model.get_submodule(layer).dense_weight()),
                     "params": cost.params, "macs": cost.macs, "dense_params": dense.params,
                     "dense_macs": dense.macs, "accuracy": train.evaluate(model)})
    return rows


def budget_sweep(model_name: str, ratios: Sequence[float], *, conv: str = "tucker2", skip: Sequence[str] = (),
                 epochs: int = 3, lr: float = 5e-4, finetune: Sequence[float] | None = None,
                 progress: bool = True) -> list[dict]:
    """Accuracy vs compression of a whole network: for each per-layer ``ratio``, :func:`plan_for_budget`,
    test accuracy before and after :func:`finetuned` (``epochs``), parameters and MACs.

    ``finetune``: the ratios to fine-tune (default: all); the others get ``acc_after = nan``.
    One dict per ratio: ``ratio``, ``conv``, ``params``, ``macs``, ``param_ratio``, ``mac_ratio``
    (baseline / decomposed), ``acc_before``, ``acc_after``, ``plan`` (layer → spec as text).
    """
    from . import metrics, train
    base = train.baseline(model_name, progress=False)
    base_params, base_macs = metrics.count_params(base), metrics.measure_macs(base)
    rows = []
    for ratio in ratios:
        plan = plan_for_budget(base, ratio, conv=conv, skip=skip)
        before = decompose(base, plan)
        params, macs = metrics.count_params(before), metrics.measure_macs(before)
        acc_after = float("nan")
        if finetune is None or ratio in finetune:
            acc_after = train.evaluate(finetuned(model_name, plan, epochs=epochs, lr=lr, progress=progress))
        rows.append({"ratio": ratio, "conv": conv, "params": params, "macs": macs,
                     "param_ratio": base_params / params, "mac_ratio": base_macs / macs,
                     "acc_before": train.evaluate(before), "acc_after": acc_after,
                     "plan": {k: repr(v) for k, v in plan.items()}})
    return rows


def measure_latency_ms(module: nn.Module, input_shape: Sequence[int], *, repeats: int = 30,
                       warmup: int = 5) -> float:
    """Fastest wall-clock milliseconds of one forward pass over ``repeats`` (no grad, eval mode).

    The minimum, not the mean: on a shared machine the other runs measure the neighbours too
    (as ``timeit`` recommends). Uses the current torch thread count.
    """
    return metrics.latency_ms(module, input_shape, repeats=repeats, warmup=warmup, stat="min")


# --- tensor-network diagrams -------------------------------------------------------------------

_NETWORKS = {
    # name: (nodes {label: (x, y)}, edges between nodes [(a, b, label)], open legs [(node, dx, dy, label)])
    "dense matrix": ({"W": (0, 0)}, [], [("W", -1, 0, "n"), ("W", 1, 0, "m")]),
    "truncated SVD": ({"B": (-0.6, 0), "A": (0.6, 0)}, [("B", "A", "r")], [("B", -1, 0, "n"), ("A", 1, 0, "m")]),
    "CP (conv)": ({"I": (-1.1, 0), "V": (0, 1.0), "H": (0, -1.0), "O": (1.1, 0), "λ": (0, 0)},
                  [("I", "λ", "R"), ("V", "λ", "R"), ("H", "λ", "R"), ("O", "λ", "R")],
                  [("I", -1, 0, "C_in"), ("V", 0, 1, "k_h"), ("H", 0, -1, "k_w"), ("O", 1, 0, "C_out")]),
    "Tucker-2 (conv)": ({"S": (-1.1, 0), "C": (0, 0), "U": (1.1, 0)}, [("S", "C", "R_in"), ("C", "U", "R_out")],
                        [("S", -1, 0, "C_in"), ("U", 1, 0, "C_out"), ("C", -0.35, -1, "k_h"), ("C", 0.35, -1, "k_w")]),
    "tensor train (FC)": ({"G1": (-1.5, 0), "G2": (-0.5, 0), "G3": (0.5, 0), "G4": (1.5, 0)},
                          [("G1", "G2", "r1"), ("G2", "G3", "r2"), ("G3", "G4", "r3")],
                          [(g, s, d, f"{'m' if d > 0 else 'n'}{g[1]}") for g in ("G1", "G2", "G3", "G4")
                           for s, d in ((0, 1), (0, -1))]),
}


def draw_tensor_network(ax, fmt: str) -> None:
    """Draw one format as a tensor-network diagram: a node per factor, an edge per contracted index
    (labelled with its rank), a free leg per index of the original tensor."""
    if fmt not in _NETWORKS:
        raise ValueError(f"unknown format {fmt!r}; allowed: {list(_NETWORKS)}")
    nodes, edges, legs = _NETWORKS[fmt]
    for a, b, lab in edges:
        (x0, y0), (x1, y1) = nodes[a], nodes[b]
        ax.plot([x0, x1], [y0, y1], color="#d62728", lw=2, zorder=1)
        dx, dy = (0.22, 0.0) if x0 == x1 else (0.0, 0.14)  # beside vertical edges, above the others
        ax.text((x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy, lab, color="#d62728", ha="center", fontsize=8)
    for node, dx, dy, lab in legs:
        x, y = nodes[node]
        ax.plot([x, x + 0.6 * dx], [y, y + 0.6 * dy], color="k", lw=1.5, zorder=1)
        ax.text(x + 0.75 * dx, y + 0.75 * dy, lab, ha="center", va="center", fontsize=8)
    for lab, (x, y) in nodes.items():
        ax.scatter([x], [y], s=420 if lab != "λ" else 160, color="#1f77b4" if lab != "λ" else "#ff7f0e",
                   zorder=2, edgecolor="k")
        ax.text(x, y, lab, ha="center", va="center", color="white", fontsize=8, zorder=3, fontweight="bold")
    ax.set_title(fmt, fontsize=10)
    ax.set_xlim(-2.4, 2.4)
    ax.set_ylim(-1.9, 1.9)
    ax.set_aspect("equal")
    ax.axis("off")


def tensor_network_figure():
    """All formats side by side (the survey's appendix draws the same diagrams)."""
    from .plotting import new_figure
    fig, axes = new_figure(len(_NETWORKS), 1, width=13, height=2.8)
    for ax, fmt in zip(axes, _NETWORKS):
        draw_tensor_network(ax, fmt)
    fig.suptitle("Tensor-network diagrams: node = factor, red edge = contracted rank index, black leg = original index")
    return fig


# --- exercises -----------------------------------------------------------------------------------

def _ex_tt_params() -> int:
    return tt_params((4, 8, 8, 4), (4, 4, 4, 4), 6)


def _ex_svd_rank() -> int:
    return rank_for_compression(500, 800, 10)


def _ex_energy_rank() -> int:
    from . import train
    return rank_for_energy(torch.linalg.svdvals(train.baseline("lenet5", progress=False).fc1.weight.detach().double()),
                           0.9)


_ex.register("ch3.tt_params",
             "How many weights do the cores of a TT matrix with in_modes (4, 8, 8, 4), out_modes (4, 4, 4, 4) "
             "and all inner ranks 6 hold? (an int)",
             _ex.close_to(_ex_tt_params, rtol=0, atol=0.5,
                          hint="core k has r_{k-1}·m_k·n_k·r_k entries; the boundary ranks r_0 = r_4 = 1"),
             level="easy")
_ex.register("ch3.svd_budget",
             "Largest SVD rank r for which a 500 x 800 Linear (LeNet-5's fc1, weights only) gets at least "
             "10x fewer weights (an int)",
             _ex.close_to(_ex_svd_rank, rtol=0, atol=0.5,
                          hint="the two factors hold r·(m + n) weights; solve r·(m + n) <= m·n / 10 and round down"),
             level="medium")
_ex.register("ch3.energy_rank",
             "Smallest rank that keeps 90 % of the energy (sum of squared singular values) of the trained "
             "LeNet-5 fc1 weight (an int)",
             _ex.close_to(_ex_energy_rank, rtol=0, atol=0.5,
                          hint="torch.linalg.svdvals, square, cumulative sum, divide by the total, first index >= 0.9, +1"),
             level="medium")
_ex.register("ch3.tt_matvec",
             "Write tt_forward(x, cores) -> y computing y = x W^T for W in TT format without forming W "
             "(x: [B, prod n_k]; cores[k]: [r_{k-1}, m_k, n_k, r_k])",
             _ex.same_function(lambda x, cores: x @ tt_to_matrix(cores).T,
                               lambda: _tt_cases(), atol=1e-4,
                               hint="reshape x to [B, n_1, ..., n_d] and contract one core at a time with einsum"),
             level="hard")


def _tt_cases():
    gen = torch.Generator().manual_seed(3)
    cases = []
    for in_modes, out_modes, ranks in (((2, 3), (3, 2), (1, 2, 1)), ((2, 2, 3), (3, 1, 2), (1, 3, 2, 1))):
        cores = [torch.randn(ranks[k], m, n, ranks[k + 1], generator=gen, dtype=torch.float64)
                 for k, (m, n) in enumerate(zip(out_modes, in_modes))]
        cases.append((torch.randn(4, math.prod(in_modes), generator=gen, dtype=torch.float64), cores))
    return cases
