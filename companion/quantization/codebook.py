"""Non-uniform quantizers: power-of-two levels and k-means weight sharing.

After the survey's section on data quantization (non-uniform and codebook quantization):

* :func:`log_levels` / :func:`log_quantize` — a power-of-two grid after INQ (Zhou et al. 2017;
  denser than INQ's at the same bit width, see :func:`log_levels`), on which a multiplication
  is a shift;
* :func:`kmeans_codebook` / :func:`decode_codebook` — weight sharing by 1-d k-means, and
  :class:`SharedWeights` / :func:`share_weights_` / :func:`finetune_codebook` — Deep
  Compression's *trained quantization* (Han, Mao, Dally 2016), where each centroid is trained
  by the summed gradient of the weights that share it.
"""
from __future__ import annotations

import copy
import math
from typing import Iterable, Mapping

import torch
from torch import nn

from .. import checks, reparam
from .primitives import bits_per_layer, check_values

__all__ = ["nearest_level", "log_levels", "log_quantize", "kmeans_codebook", "decode_codebook",
           "shared_weight", "SharedWeights", "share_weights_", "finetune_codebook"]

KMEANS_INITS = ("linear", "density", "random")


def nearest_level(x: torch.Tensor, levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index (int64, shape of ``x``) and value of the nearest entry of a sorted 1-d ``levels``."""
    checks.check_tensor(levels, "levels", ndim=1)
    if levels.numel() == 0:
        raise ValueError("levels must be a non-empty 1-d tensor")
    if levels.numel() > 1 and not bool((levels[1:] > levels[:-1]).all()):
        raise ValueError("levels must be strictly increasing")
    mids = (levels[1:] + levels[:-1]) / 2
    idx = torch.bucketize(x.detach().to(levels.dtype), mids)
    return idx, levels[idx]


def log_levels(max_abs: float, bits: int) -> torch.Tensor:
    """A power-of-two grid after INQ (Zhou et al. 2017): ``{0} ∪ {±2^k : n2 ≤ k ≤ n1}``.

    ``n1 = floor(log2(4·max_abs/3))`` (INQ's, so the largest weight rounds to ``2^n1``) and
    ``n2 = n1 − 2^(b−1) + 2``: ``2^(b−1) − 1`` exponents per sign, ``2^b − 1`` levels in all
    (``bits`` ≥ 2) — every sign-magnitude code of ``b`` bits but the redundant ``−0``. A
    multiplication by such a weight is a shift.

    This is denser than INQ's grid at the same ``b``. INQ's is
    ``P_l = {±2^n1, …, ±2^n2, 0}`` with the same ``n1`` but ``n2 = n1 + 1 − 2^(b−1)/2``: one
    bit is spent on marking zero, the other ``b − 1`` bits index at most ``2^(b−1)`` nonzero
    values, i.e. ``2^(b−2)`` exponents per sign and ``2^(b−1) + 1`` levels (5 bits: 17 levels,
    ``n2 = n1 − 7``; here 31 levels, ``n2 = n1 − 14``). The two coincide only at ``b = 2``
    (``{±2^n1, 0}``); at ``b = 3`` INQ has ``{0, ±2^(n1−1), ±2^n1}``, this grid also ``±2^(n1−2)``.
    So "``b``-bit log" figures from here are not INQ's ``b``-bit ones: our ``b`` bits buy the
    range INQ gets with ``b + 1``, less its smallest exponent.

    >>> log_levels(1.0, 3).tolist()
    [-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0]
    """
    bits = checks.check_bits(bits, low=2, high=16)
    max_abs = checks.check_float(max_abs, "max_abs")
    if not max_abs > 0:
        raise ValueError(f"max_abs must be > 0 (zero range), got {max_abs!r}")
    n1 = math.floor(math.log2(4 * max_abs / 3))
    m = 2 ** (bits - 1) - 1
    pos = torch.tensor([2.0 ** k for k in range(n1 - m + 1, n1 + 1)], dtype=torch.float32)
    return torch.cat([-pos.flip(0), torch.zeros(1), pos])


def log_quantize(x: torch.Tensor, bits: int) -> torch.Tensor:
    """``x`` rounded to the nearest level of :func:`log_levels` (``max_abs = max|x|``).

    An all-zero ``x`` has no power-of-two range; it is returned as zeros (0 is a level of
    every such grid), as the uniform quantizers do. Rounding is symmetric in sign: ``|x|`` is
    rounded to the grid's non-negative half and a tie (a midpoint between two levels) goes to the
    larger magnitude, as INQ's rule does, so ``log_quantize(-x) == -log_quantize(x)``.
    """
    x = check_values(x)
    bits = checks.check_bits(bits, low=2, high=16)
    amax = float(x.abs().max())
    if amax == 0:
        return torch.zeros_like(x)
    levels = log_levels(amax, bits)
    half = levels[levels >= 0]
    # bucketize(right=True) puts a value equal to a midpoint into the upper bucket: ties round up
    mids = (half[1:] + half[:-1]) / 2
    mag = half[torch.bucketize(x.detach().abs().to(half.dtype), mids, right=True)]
    return (torch.sign(x.detach()).to(half.dtype) * mag + 0.0).to(x.dtype)  # + 0.0: no -0.0


def _reseed_empty(u, cnt, labels, centroids, counts, n_fill):
    """Re-seed ``n_fill`` clusters at the distinct values farthest from their centroid.

    Greedy over ``u`` by decreasing squared error ``(u − c_label)²`` (stable: ties go to the
    smaller value), as scikit-learn does: a chosen value (all its copies) leaves its cluster and
    becomes a new one-value cluster, unless that would empty its cluster. Returns the new labels
    (the ``j``-th seed gets label ``len(centroids) + j``) and how many seeds were placed.
    """
    err = (u - centroids[labels]) ** 2
    order = torch.argsort(err, descending=True, stable=True)
    n_pos = int((err > 0).sum())  # a value at its centroid cannot seed a new, distinct one
    labels = labels.clone()
    left = counts.tolist()
    m, placed, start = centroids.numel(), 0, 0
    chunk = max(4 * n_fill, 1024)
    while placed < n_fill and start < n_pos:
        cand = order[start:min(start + chunk, n_pos)].tolist()
        lab = labels[cand].tolist()
        c = cnt[cand].tolist()
        for i, li, ci in zip(cand, lab, c):
            if left[li] > ci:  # its cluster keeps other members
                left[li] -= ci
                labels[i] = m + placed
                placed += 1
                if placed == n_fill:
                    break
        start += chunk
    return labels, placed


def _lloyd_step(u, cnt, centroids, k):
    """One Lloyd iteration on the distinct values ``u`` (weights ``cnt``), float64.

    Assign each value to its nearest centroid; re-seed empty clusters (and the ``k −
    len(centroids)`` missing ones) at the farthest values; move each centroid to the mean of its
    cluster, clamped to the cluster's range and rounded to float32 (so the means of the disjoint
    1-d clusters stay strictly increasing). Returns ``(new sorted centroids, whether a
    cluster was re-seeded)``.
    """
    labels, _ = nearest_level(u, centroids)
    counts = torch.zeros_like(centroids).index_add_(0, labels, cnt)
    n_fill = int((counts == 0).sum()) + (k - centroids.numel())
    placed = 0
    if n_fill:
        labels, placed = _reseed_empty(u, cnt, labels, centroids, counts, n_fill)
    n = centroids.numel() + placed
    counts = torch.zeros(n, dtype=u.dtype).index_add_(0, labels, cnt)
    sums = torch.zeros(n, dtype=u.dtype).index_add_(0, labels, u * cnt)
    lo = torch.full((n,), math.inf, dtype=u.dtype).scatter_reduce_(0, labels, u, "amin")
    hi = torch.full((n,), -math.inf, dtype=u.dtype).scatter_reduce_(0, labels, u, "amax")
    keep = counts > 0
    mean = torch.minimum(torch.maximum(sums[keep] / counts[keep], lo[keep]), hi[keep])
    new = torch.unique(mean.to(torch.float32)).to(u.dtype)  # sorted; distinct by construction
    return new, placed > 0


def kmeans_codebook(weight: torch.Tensor, bits: int, *, init: str = "linear", iters: int = 30,
                    mask: torch.Tensor | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight sharing by 1-d k-means (Deep Compression, Han et al. 2016): ``K ≤ 2^bits`` shared values.

    Minimises ``Σ_i (w_i − c_{code_i})²`` by Lloyd's iterations from an initialisation
    ``init``: ``"linear"`` (``K`` points evenly spaced over ``[min w, max w]`` — the paper's
    choice, because it keeps the rare large weights), ``"density"`` (quantiles of the weight
    CDF) or ``"random"`` (Forgy: ``K`` weights drawn at random, ``seed``).

    ``K = min(2^bits, number of distinct weights)``. Each iteration assigns every weight to its
    nearest centroid, re-seeds a cluster left empty (or missing, when the initialisation has
    repeated points) at the weight farthest from its centroid (largest current squared error,
    as scikit-learn does; that weight leaves its cluster), then moves each centroid to the mean
    of its cluster (in float64, rounded to float32). Iterations stop at a fixed point or after
    ``iters``; if the cap leaves a centroid with no weight, a few more such steps re-seed it, so
    the codebook holds exactly ``K`` distinct entries, each used. ``iters=0`` returns the
    initialisation (less any point no weight chose).

    ``mask`` (bool, shape of ``weight``): only ``weight[mask]`` is clustered; the other
    (pruned) positions get code ``-1`` and decode to exactly 0 (they are not stored).
    Returns ``(codebook [K] float32, sorted ascending; codes int64 shaped like weight)``;
    :func:`decode_codebook` rebuilds the weight. Deterministic (``seed`` only for ``"random"``).
    """
    weight = check_values(weight, "weight")
    bits = checks.check_bits(bits, high=16)
    checks.check_choice(init, "init", KMEANS_INITS)
    iters = checks.check_int(iters, "iters", minimum=0)
    w = weight.detach().to(torch.float32)
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.shape != weight.shape:
            raise ValueError(f"mask must be a tensor shaped like weight {tuple(weight.shape)}")
        mask = mask.to(torch.bool)
        if not mask.any():
            raise ValueError("mask selects no weight: nothing to cluster")
        values = w[mask]
    else:
        values = w.reshape(-1)
    u, cnt = torch.unique(values.to(torch.float64), return_counts=True)  # distinct weights, sorted
    cnt = cnt.to(torch.float64)
    k = min(2 ** bits, u.numel())
    lo, hi = float(values.min()), float(values.max())
    if init == "linear":
        centroids = torch.linspace(lo, hi, k) if hi > lo else torch.tensor([lo])
    elif init == "density":
        centroids = torch.quantile(values, torch.linspace(0, 1, k)) if values.numel() <= 16_000_000 else \
            torch.linspace(lo, hi, k)
    else:
        gen = torch.Generator().manual_seed(seed)
        centroids = values[torch.randperm(values.numel(), generator=gen)[:k]]
    centroids = torch.unique(centroids.to(torch.float32)).to(torch.float64)  # sorted, no duplicates
    for _ in range(iters):
        new, reseeded = _lloyd_step(u, cnt, centroids, k)
        if not reseeded and torch.equal(new, centroids):
            break
        centroids = new
    for _ in range(100 if iters else 0):  # the cap may leave a centroid unused: re-seed it
        idx, _ = nearest_level(u, centroids)
        if centroids.numel() == k and torch.unique(idx).numel() == k:
            break
        centroids, _ = _lloyd_step(u, cnt, centroids, k)
    idx, _ = nearest_level(values.to(torch.float64), centroids)
    used = torch.unique(idx)
    if used.numel() < centroids.numel():  # only iters=0 (or a pathological cap): drop unused points
        centroids = centroids[used]
        idx, _ = nearest_level(values.to(torch.float64), centroids)
    codes = torch.full(weight.shape, -1, dtype=torch.int64)
    if mask is not None:
        codes[mask] = idx
    else:
        codes = idx.reshape(weight.shape)
    return centroids.to(torch.float32), codes


def decode_codebook(codebook: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """``codebook[codes]``, with code ``-1`` (a pruned position) decoding to exactly 0."""
    if not isinstance(codebook, torch.Tensor) or codebook.dim() != 1:
        raise TypeError("codebook must be a 1-d tensor")
    if not isinstance(codes, torch.Tensor) or codes.is_floating_point():
        raise TypeError("codes must be an integer tensor")
    if codes.numel() and (int(codes.max()) >= codebook.numel() or int(codes.min()) < -1):
        raise ValueError(f"codes must lie in [-1, {codebook.numel() - 1}]")
    return shared_weight(codebook, codes)


class _SharedWeight(torch.autograd.Function):
    """Gather ``W = C[codes]``; backward: each centroid receives the *sum* of the gradients of
    the weights that share it, ``∂L/∂c_k = Σ_{i: code_i = k} ∂L/∂W_i`` (Deep Compression, Fig. 3)."""

    @staticmethod
    def forward(ctx, codebook, codes):
        valid = codes >= 0
        ctx.save_for_backward(codes, valid)
        ctx.k = codebook.numel()
        out = codebook[codes.clamp(min=0)]
        return torch.where(valid, out, torch.zeros_like(out))

    @staticmethod
    def backward(ctx, grad_out):
        codes, valid = ctx.saved_tensors
        grad = torch.zeros(ctx.k, dtype=grad_out.dtype, device=grad_out.device)
        grad.index_add_(0, codes[valid], grad_out[valid])
        return grad, None


def shared_weight(codebook: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Differentiable ``codebook[codes]`` (``-1`` → 0) with the summed-gradient backward."""
    return _SharedWeight.apply(codebook, codes.to(codebook.device))


class SharedWeights(nn.Module):
    """Weight transform ``weight = codebook[codes]``: only the ``K`` centroids are trained.

    Attach with ``companion.reparam.attach(layer, SharedWeights(codebook, codes), unsafe=True)``
    or :func:`share_weights_`; ``reparam.bake_`` (``quantization.bake_``) removes it and keeps
    the shared values.
    """

    def __init__(self, codebook: torch.Tensor, codes: torch.Tensor):
        super().__init__()
        self.codebook = nn.Parameter(codebook.detach().clone().to(torch.float32))
        self.register_buffer("codes", codes.detach().clone().to(torch.int64))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:  # the original weight is ignored
        return shared_weight(self.codebook, self.codes).to(weight.dtype)

    def extra_repr(self) -> str:
        return f"K={self.codebook.numel()}, codes={tuple(self.codes.shape)}"


def share_weights_(model: nn.Module, bits: int | Mapping[str, int], *, init: str = "linear", iters: int = 30,
                   prune_zeros: bool = False, layers: Iterable[str] | None = None) -> dict[str, SharedWeights]:
    """Cluster each layer's weight (k-means, ``bits`` per layer) and attach :class:`SharedWeights` in place.

    ``bits``: one width, or ``{layer: bits}`` naming exactly the layers to share (unknown names
    raise; with ``layers`` given, the dict must cover them). ``prune_zeros=True`` keeps exact
    zeros (pruned weights) out of the clustering and at 0. The original weights are frozen
    (``requires_grad=False``); train the codebooks (and biases) with :func:`finetune_codebook`.
    Returns ``{layer name: transform}``.
    """
    checks.check_model(model)
    widths = bits_per_layer(bits, reparam.weight_layers(model), default=0, high=16)  # 0: not in the dict
    if layers is None and isinstance(bits, Mapping):
        layers = list(bits)
    chosen = reparam.select_layers(model, layers)
    missing = [n for n in chosen if widths[n] == 0]
    if missing:
        raise ValueError(f"the bits dict has no entry for layer(s) {missing} named in layers")
    out = {}
    for name, layer in chosen.items():
        w = layer.weight.detach()
        mask = (w != 0) if prune_zeros else None
        codebook, codes = kmeans_codebook(w, widths[name], init=init, iters=iters, mask=mask)
        p = SharedWeights(codebook, codes)
        reparam.attach(layer, p, unsafe=True)
        layer.parametrizations.weight.original.requires_grad_(False)
        out[name] = p
    return out


def finetune_codebook(model: nn.Module, bits: int | Mapping[str, int], *, epochs: int = 2, lr: float = 1e-4,
                      init: str = "linear", prune_zeros: bool = False, seed: int = 0, progress: bool = False,
                      train_biases: bool = True) -> nn.Module:
    """Deep Compression's quantization stage on a copy of ``model``: k-means sharing, then
    fine-tune the centroids by summed gradients; returns the copy with the shared values baked
    into plain weights (each layer then holds ≤ ``2^bits`` distinct values)."""
    from .. import train as _train
    checks.check_model(model)
    model = copy.deepcopy(model)
    shared = share_weights_(model, bits, init=init, prune_zeros=prune_zeros)
    params = [p.codebook for p in shared.values()]
    if train_biases:
        params += [m.bias for m in reparam.weight_layers(model).values() if m.bias is not None]
    if epochs:
        _train.fit(model, epochs=epochs, lr=lr, seed=seed, params=params, progress=progress, desc="codebook fine-tuning")
    return reparam.bake_(model)
