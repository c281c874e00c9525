"""Non-uniform quantizers: power-of-two levels and k-means weight sharing.

After the survey's section on data quantization (non-uniform and codebook quantization):

* :func:`log_levels` / :func:`log_quantize` — the power-of-two grid of INQ (Zhou et al. 2017),
  on which a multiplication is a shift;
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
    """The power-of-two grid of INQ (Zhou et al. 2017): ``{0} ∪ {±2^k : n2 ≤ k ≤ n1}``.

    ``n1 = floor(log2(4·max_abs/3))`` (so the largest weight rounds to ``2^n1``) and
    ``2^(b−1) − 1`` exponents per sign: ``2^b − 1`` levels in all (``bits`` ≥ 2). A
    multiplication by such a weight is a shift.

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
    every such grid), as the uniform quantizers do.
    """
    x = check_values(x)
    bits = checks.check_bits(bits, low=2, high=16)
    amax = float(x.abs().max())
    if amax == 0:
        return torch.zeros_like(x)
    _, values = nearest_level(x, log_levels(amax, bits))
    return values.to(x.dtype)


def kmeans_codebook(weight: torch.Tensor, bits: int, *, init: str = "linear", iters: int = 30,
                    mask: torch.Tensor | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight sharing by 1-d k-means (Deep Compression, Han et al. 2016): ``K ≤ 2^bits`` shared values.

    Minimises ``Σ_i (w_i − c_{code_i})²`` by Lloyd's iterations from an initialisation
    ``init``: ``"linear"`` (``K`` points evenly spaced over ``[min w, max w]`` — the paper's
    choice, because it keeps the rare large weights), ``"density"`` (quantiles of the weight
    CDF) or ``"random"`` (Forgy: ``K`` weights drawn at random, ``seed``).

    ``mask`` (bool, shape of ``weight``): only ``weight[mask]`` is clustered; the other
    (pruned) positions get code ``-1`` and decode to exactly 0 (they are not stored).
    Clusters that end up empty are dropped, so the codebook may hold fewer than ``2^bits``
    entries. Returns ``(codebook [K] float32, sorted ascending; codes int64 shaped like weight)``;
    :func:`decode_codebook` rebuilds the weight.
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
    k = min(2 ** bits, values.numel())
    lo, hi = float(values.min()), float(values.max())
    if init == "linear":
        centroids = torch.linspace(lo, hi, k) if hi > lo else torch.tensor([lo])
    elif init == "density":
        centroids = torch.quantile(values, torch.linspace(0, 1, k)) if values.numel() <= 16_000_000 else \
            torch.linspace(lo, hi, k)
    else:
        gen = torch.Generator().manual_seed(seed)
        centroids = values[torch.randperm(values.numel(), generator=gen)[:k]]
    centroids = torch.unique(centroids)  # sorted, no duplicates
    for _ in range(iters):
        idx, _ = nearest_level(values, centroids)
        sums = torch.zeros_like(centroids).index_add_(0, idx, values)
        counts = torch.zeros_like(centroids).index_add_(0, idx, torch.ones_like(values))
        keep = counts > 0
        new = sums[keep] / counts[keep]
        new, _ = torch.sort(new)
        if new.shape == centroids.shape and torch.equal(new, centroids):
            break
        centroids = torch.unique(new)
    idx, _ = nearest_level(values, centroids)
    used = torch.unique(idx)
    if used.numel() < centroids.numel():  # drop centroids no weight chose
        centroids = centroids[used]
        idx, _ = nearest_level(values, centroids)
    codes = torch.full(weight.shape, -1, dtype=torch.int64)
    if mask is not None:
        codes[mask] = idx
    else:
        codes = idx.reshape(weight.shape)
    return centroids, codes


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
