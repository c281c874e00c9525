"""Data quantization: from 32-bit floats to 8, 4, 2 and 1 bit (chapter 4).

After the survey's section on data quantization (Deng et al. 2020). One module, read top down:

1. **Uniform quantizers** — :func:`choose_qparams` → :class:`QParams`, :func:`quantize`,
   :func:`dequantize`, :func:`fake_quantize`; affine or symmetric; per-tensor, per-channel and
   per-group under *one* granularity convention, ``block_size`` (as in torchao's
   ``quant_primitives``); rounding to nearest or **stochastic** (Gupta et al. 2015).
2. **The straight-through estimator** — :class:`FakeQuantSTE`, a ten-line ``autograd.Function``.
3. **Non-uniform quantizers** — power-of-two levels (:func:`log_quantize`, INQ-style) and
   k-means weight sharing (:func:`kmeans_codebook`, :func:`decode_codebook`,
   :class:`SharedWeights`, :func:`finetune_codebook`; Deep Compression, Han et al. 2016).
4. **Binary and ternary** — :func:`binarize` (BinaryConnect / BNN sign, XNOR-Net scale),
   :func:`ternarize` (TWN: threshold 0.7·mean|w|), :class:`TTQWeight` (learned scales).
5. **Model level** — calibration (:func:`calibrate_range`: min/max, percentile, MSE),
   post-training quantization (:func:`quantize_weights`, :func:`attach_activation_quant_`),
   quantization-aware training (:func:`prepare_qat_`, :func:`bake_`), gradient quantization
   (:func:`attach_gradient_quant_`, the DoReFa/WAGE idea), mixed precision
   (:func:`layer_sensitivity`, :func:`assign_bits`), sizes (:func:`quantized_size_bits`).

Granularity by ``block_size`` (one entry per dimension of ``x``; a block shares one scale)::

    x.shape        block_size        granularity
    (500, 800)     None / (500, 800) per tensor
    (500, 800)     (1, 800)          per output channel (row)
    (500, 800)     (1, 32)           per group of 32 inputs
    (20, 1, 5, 5)  (1, 1, 5, 5)      per output channel of a conv

Helpers :func:`per_tensor`, :func:`per_channel` and :func:`per_group` build these tuples.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize

from . import exercises, metrics

__all__ = [
    # uniform
    "SCHEMES", "QParams", "qrange", "per_tensor", "per_channel", "per_group", "choose_qparams",
    "qparams_from_range", "quantize", "dequantize", "fake_quantize", "quantization_error",
    # STE
    "FakeQuantSTE", "fake_quantize_ste", "SignSTE", "sign_ste",
    # non-uniform
    "log_levels", "log_quantize", "nearest_level", "kmeans_codebook", "decode_codebook",
    "shared_weight", "SharedWeights", "share_weights_", "finetune_codebook",
    # binary / ternary
    "binarize", "ternarize", "TTQWeight",
    # model level
    "calibrate_range", "quantize_weights", "FakeQuantWeight", "BinaryWeight", "TernaryWeight",
    "ActQuant", "attach_activation_quant_", "prepare_qat_", "bake_", "GradQuant",
    "attach_gradient_quant_", "quant_layers", "quantized_size_bits", "layer_sensitivity", "assign_bits",
    "dynamic_int8", "time_forward_ms", "calibrate_activations_", "WEIGHT_KINDS", "build_quantized",
    "train_quantized", "RECIPES", "ptq", "train_shared",
    "qat_sweep_recipe", "grad_sweep_recipe",
]

SCHEMES = ("affine", "symmetric")


# =============================================================================================
# 1. Uniform quantization: choose qparams, quantize, dequantize
# =============================================================================================

def _check_bits(bits, *, low: int = 1, high: int = 32) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise TypeError(f"bits must be an int in [{low}, {high}], got {type(bits).__name__} {bits!r}")
    if not low <= bits <= high:
        raise ValueError(f"bits must be in [{low}, {high}], got {bits}")
    return bits


def _check_scheme(scheme) -> str:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; allowed: {SCHEMES}")
    return scheme


def _check_tensor(x, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or inf values")
    return x


def qrange(bits: int, scheme: str = "affine") -> tuple[int, int]:
    """Integer code range ``(qmin, qmax)`` of a ``bits``-bit quantizer.

    * ``"affine"``: unsigned ``[0, 2^b − 1]`` (``b`` in 1…32);
    * ``"symmetric"``: signed, *restricted* ``[−(2^(b−1) − 1), 2^(b−1) − 1]`` so that the grid is
      symmetric around an exact zero (``b`` in 2…32; 2 bits gives the ternary grid {−1, 0, 1}).

    >>> qrange(8), qrange(8, "symmetric"), qrange(2, "symmetric")
    ((0, 255), (-127, 127), (-1, 1))
    """
    _check_scheme(scheme)
    if scheme == "symmetric":
        if isinstance(bits, int) and not isinstance(bits, bool) and bits == 1:
            raise ValueError("a symmetric grid needs bits >= 2 (its 1-bit case is binarize(), the sign)")
        bits = _check_bits(bits, low=2)
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    bits = _check_bits(bits)
    return 0, 2 ** bits - 1


def per_tensor(shape: Sequence[int]) -> tuple[int, ...]:
    """``block_size`` of per-tensor quantization: the whole shape."""
    return tuple(int(s) for s in shape)


def per_channel(shape: Sequence[int], axis: int = 0) -> tuple[int, ...]:
    """``block_size`` of per-channel quantization along ``axis`` (output channels: ``axis=0``)."""
    shape = tuple(int(s) for s in shape)
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"axis {axis} out of range for a {len(shape)}-d shape {shape}")
    axis %= len(shape)
    return tuple(1 if i == axis else s for i, s in enumerate(shape))


def per_group(shape: Sequence[int], group_size: int) -> tuple[int, ...]:
    """``block_size`` of groups of ``group_size`` consecutive values along the last dimension
    (each row split into ``shape[-1] / group_size`` groups, one scale each). For a conv weight
    ``[O, I, kh, kw]``, reshape it to ``[O, I·kh·kw]`` first.

    >>> per_group((500, 800), 32)
    (1, 32)
    """
    shape = tuple(int(s) for s in shape)
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1 or shape[-1] % group_size:
        raise ValueError(f"group_size must be a positive divisor of the last dimension {shape[-1]}, got {group_size!r}")
    return tuple(1 for _ in shape[:-1]) + (group_size,)


def _normalize_block(shape: torch.Size, block_size) -> tuple[int, ...]:
    if block_size is None:
        return tuple(shape)
    if not isinstance(block_size, (tuple, list)) or not all(isinstance(b, int) and not isinstance(b, bool) for b in block_size):
        raise TypeError(f"block_size must be None or a tuple of ints (one per dimension), got {block_size!r}")
    block = tuple(block_size)
    if len(block) != len(shape):
        raise ValueError(f"block_size {block} must have one entry per dimension of x {tuple(shape)}")
    for b, s in zip(block, shape):
        if b < 1 or s % b:
            raise ValueError(f"block_size {block} must divide x's shape {tuple(shape)} (each entry a positive divisor)")
    return block


def _blocked_shape(shape, block) -> tuple[list[int], list[int]]:
    """View shape ``[n0, b0, n1, b1, ...]`` of ``x`` and the broadcast shape ``[n0, 1, n1, 1, ...]``."""
    view, grid = [], []
    for s, b in zip(shape, block):
        view += [s // b, b]
        grid += [s // b, 1]
    return view, grid


@dataclass(frozen=True)
class QParams:
    """Parameters of a uniform quantizer: ``q = clamp(round(x / scale) + zero_point, qmin, qmax)``.

    ``scale`` (float32) and ``zero_point`` (int64) have the *grid shape* ``[x.shape[i] //
    block_size[i]]`` — one entry per block; ``block_size`` has one entry per dimension of the
    tensor they were chosen for. ``scheme`` is ``"affine"`` or ``"symmetric"``.
    """

    scale: torch.Tensor
    zero_point: torch.Tensor
    bits: int
    qmin: int
    qmax: int
    scheme: str
    block_size: tuple[int, ...] | None  # None: per tensor

    @property
    def levels(self) -> int:
        """Number of distinct codes, ``qmax − qmin + 1``."""
        return self.qmax - self.qmin + 1

    def expand(self, shape: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``scale`` and ``zero_point`` repeated to ``shape`` (the tensor's own shape)."""
        view, s, z = self.blocked(shape)
        shape = tuple(shape)
        return s.expand(view).reshape(shape), z.expand(view).reshape(shape)

    def blocked(self, shape: Sequence[int]) -> tuple[list[int], torch.Tensor, torch.Tensor]:
        """``(view, scale, zero_point)``: a tensor of ``shape`` viewed as ``view`` = ``[n0, b0,
        n1, b1, …]`` broadcasts against ``scale``/``zero_point`` shaped ``[n0, 1, n1, 1, …]``
        (no copy: this is how one ``block_size`` convention serves every granularity)."""
        shape = torch.Size(shape)
        if self.block_size is None:
            return list(shape), self.scale.reshape(()), self.zero_point.reshape(())
        block = _normalize_block(shape, self.block_size)
        view, grid = _blocked_shape(shape, block)
        return view, self.scale.reshape(grid), self.zero_point.reshape(grid)


def qparams_from_range(lo: torch.Tensor | float, hi: torch.Tensor | float, bits: int, *,
                       scheme: str = "affine", block_size: tuple[int, ...] | None = None) -> QParams:
    """Quantization parameters of the clip range ``[lo, hi]`` (per block when tensors).

    Affine: the range is first widened to contain 0 (so that zero — padding, ReLU output,
    pruned weights — is exact), then ``scale = (hi − lo) / (qmax − qmin)``,
    ``zero_point = clamp(qmin − round(lo / scale), qmin, qmax)``.
    Symmetric: ``scale = max(|lo|, |hi|) / qmax``, ``zero_point = 0``.

    A zero range (``lo == hi == 0``) cannot define a grid and raises ``ValueError``.
    (Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient
    Integer-Arithmetic-Only Inference".)
    """
    _check_scheme(scheme)
    qmin, qmax = qrange(bits, scheme)
    lo = torch.as_tensor(lo, dtype=torch.float32)
    hi = torch.as_tensor(hi, dtype=torch.float32)
    if lo.shape != hi.shape:
        raise ValueError(f"lo and hi must have the same shape, got {tuple(lo.shape)} and {tuple(hi.shape)}")
    if (lo > hi).any():
        raise ValueError("the clip range must have lo <= hi")
    lo = torch.clamp(lo, max=0.0)
    hi = torch.clamp(hi, min=0.0)
    if scheme == "symmetric":
        amax = torch.maximum(-lo, hi)
        span = amax
        scale = amax / qmax
    else:
        span = hi - lo
        scale = span / float(qmax - qmin)
    if (span == 0).all():
        raise ValueError("zero range: the clip range [lo, hi] is empty (all values are 0), so no scale can be chosen; "
                         "nothing needs quantizing — pass a range with hi > lo")
    # a block whose values are all zero is stored exactly by any scale: give it 1
    scale = torch.where(span == 0, torch.ones_like(scale), scale).to(torch.float32)
    if scheme == "symmetric":
        zp = torch.zeros_like(scale, dtype=torch.int64)
    else:
        zp = torch.clamp(qmin - torch.round(lo / scale), qmin, qmax).to(torch.int64)
    block = tuple(block_size) if block_size is not None else None
    if block is None and scale.numel() != 1:
        raise ValueError("a range given per block needs block_size (one entry per dimension of the tensor)")
    return QParams(scale, zp, bits, qmin, qmax, scheme, block)


def choose_qparams(x: torch.Tensor, bits: int, *, scheme: str = "affine", block_size: tuple[int, ...] | None = None,
                   clip: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None) -> QParams:
    """Min/max calibration of a ``bits``-bit uniform quantizer for ``x``, one (scale, zero point) per block.

    ``x``: any shape; ``block_size``: ``None`` (per tensor) or one entry per dimension dividing
    ``x.shape`` (see the module docstring). Returns :class:`QParams` whose ``scale`` has the
    grid shape ``[x.shape[i] // block_size[i]]``. ``clip(blocks) -> (lo, hi)`` may replace the
    min/max rule (it receives ``x`` as ``[n_blocks, block_numel]``); see :func:`calibrate_range`.

    >>> qp = choose_qparams(torch.tensor([-1.0, 0.0, 2.0]), 8)   # scale = 3/255
    >>> round(float(qp.scale), 6), int(qp.zero_point)
    (0.011765, 85)
    """
    x = _check_tensor(x)
    _check_scheme(scheme)
    qrange(bits, scheme)
    block = _normalize_block(x.shape, block_size)
    view, _ = _blocked_shape(x.shape, block)
    grid_shape = [s // b for s, b in zip(x.shape, block)]
    nd = x.dim()
    xb = x.detach().to(torch.float32).reshape(view)
    # move block dims (odd) last, flatten to [n_blocks, block_numel]
    perm = list(range(0, 2 * nd, 2)) + list(range(1, 2 * nd, 2))
    flat = xb.permute(perm).reshape(math.prod(grid_shape) if grid_shape else 1, -1)
    if clip is None:
        lo, hi = flat.min(dim=1).values, flat.max(dim=1).values
    else:
        lo, hi = clip(flat)
    return qparams_from_range(lo.reshape(grid_shape), hi.reshape(grid_shape), bits, scheme=scheme, block_size=block)


def _check_qparams(qparams) -> QParams:
    if not isinstance(qparams, QParams):
        raise TypeError(f"qparams must be a QParams (from choose_qparams), got {type(qparams).__name__}")
    return qparams


def _check_rounding(rounding: str) -> str:
    if rounding not in ("nearest", "stochastic"):
        raise ValueError(f"rounding must be 'nearest' or 'stochastic', got {rounding!r}")
    return rounding


def quantize(x: torch.Tensor, qparams: QParams, *, rounding: str = "nearest",
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Integer codes ``q = clamp(round(x · (1/scale)) + zero_point, qmin, qmax)`` (int64, shape of ``x``).

    ``rounding="nearest"`` rounds half to even (as ``torch.round`` and PyTorch's quantized
    kernels do); ``"stochastic"`` rounds ``v`` up with probability ``v − floor(v)`` so that
    ``E[q] = v`` (Gupta et al. 2015, "Deep Learning with Limited Numerical Precision").
    The multiplication by the float32 reciprocal mirrors PyTorch's kernels bit for bit.
    """
    x = _check_tensor(x)
    qp = _check_qparams(qparams)
    _check_rounding(rounding)
    view, scale, zp = qp.blocked(x.shape)
    v = x.to(torch.float32).reshape(view) * (1.0 / scale)
    if rounding == "nearest":
        r = torch.round(v)
    else:
        u = torch.rand(v.shape, generator=generator, dtype=v.dtype)
        r = torch.floor(v + u)
    return torch.clamp(r.to(torch.int64) + zp, qp.qmin, qp.qmax).reshape(x.shape)


def dequantize(codes: torch.Tensor, qparams: QParams) -> torch.Tensor:
    """Real values ``(q − zero_point) · scale`` (float32, shape of ``codes``)."""
    qp = _check_qparams(qparams)
    if not isinstance(codes, torch.Tensor) or codes.is_floating_point():
        raise TypeError("codes must be an integer torch.Tensor (from quantize)")
    view, scale, zp = qp.blocked(codes.shape)
    return ((codes.reshape(view) - zp).to(torch.float32) * scale).reshape(codes.shape)


def fake_quantize(x: torch.Tensor, bits: int | None = None, *, scheme: str = "affine",
                  block_size: tuple[int, ...] | None = None, qparams: QParams | None = None,
                  rounding: str = "nearest", generator: torch.Generator | None = None) -> torch.Tensor:
    """``dequantize(quantize(x))``: ``x`` snapped to its ``bits``-bit grid, still float32.

    Give either ``bits`` (the grid is calibrated on ``x`` by min/max, per ``block_size``) or
    ready ``qparams``. Equals ``torch.fake_quantize_per_tensor_affine`` /
    ``torch.fake_quantize_per_channel_affine`` bit for bit with the same parameters.
    """
    if qparams is None:
        if bits is None:
            raise ValueError("give bits (to calibrate on x) or qparams")
        qparams = choose_qparams(x, bits, scheme=scheme, block_size=block_size)
    return dequantize(quantize(x, qparams, rounding=rounding, generator=generator), qparams)


def quantization_error(x: torch.Tensor, bits: int, **kw) -> float:
    """Mean squared error ``mean((x − fake_quantize(x, bits, **kw))²)``."""
    return float(((x - fake_quantize(x, bits, **kw)) ** 2).mean())


# =============================================================================================
# 2. The straight-through estimator
# =============================================================================================

class FakeQuantSTE(torch.autograd.Function):
    """Fake quantization whose backward is the straight-through estimator (Bengio et al. 2013).

    Forward: ``(clamp(round(x/s) + z, qmin, qmax) − z) · s``. Backward: the incoming gradient
    passes unchanged where ``x`` lies inside the clip range ``[(qmin − z)·s, (qmax − z)·s]`` and
    is zero outside (rounding has zero derivative almost everywhere; the STE pretends it is the
    identity). ``scale``/``zero_point`` must broadcast to ``x``.
    """

    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin: int, qmax: int):
        v = torch.round(x * (1.0 / scale)) + zero_point
        ctx.save_for_backward((v >= qmin) & (v <= qmax))
        return (torch.clamp(v, qmin, qmax) - zero_point) * scale

    @staticmethod
    def backward(ctx, grad_out):
        (inside,) = ctx.saved_tensors
        return grad_out * inside, None, None, None, None


def fake_quantize_ste(x: torch.Tensor, qparams: QParams) -> torch.Tensor:
    """:class:`FakeQuantSTE` with the (detached) parameters ``qparams``: differentiable in ``x``."""
    qp = _check_qparams(qparams)
    view, scale, zp = qp.blocked(x.shape)
    out = FakeQuantSTE.apply(x.reshape(view), scale.to(x.device), zp.to(device=x.device, dtype=x.dtype), qp.qmin, qp.qmax)
    return out.reshape(x.shape)


class SignSTE(torch.autograd.Function):
    """``sign(x)`` (with sign(0) = +1) forward; backward passes the gradient where ``|x| ≤ 1``
    (the "hard tanh" STE of BinaryConnect / BNN, Courbariaux et al. 2015, Hubara et al. 2016)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x.abs() <= 1)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad_out):
        (inside,) = ctx.saved_tensors
        return grad_out * inside


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    """Binary ±1 with the straight-through gradient of :class:`SignSTE`."""
    return SignSTE.apply(x)


# =============================================================================================
# 3. Non-uniform: power-of-two levels and k-means weight sharing
# =============================================================================================

def nearest_level(x: torch.Tensor, levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index (int64, shape of ``x``) and value of the nearest entry of a sorted 1-d ``levels``."""
    if levels.dim() != 1 or levels.numel() == 0:
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
    """
    bits = _check_bits(bits, low=2, high=16)
    if not max_abs > 0:
        raise ValueError(f"max_abs must be > 0 (zero range), got {max_abs!r}")
    n1 = math.floor(math.log2(4 * max_abs / 3))
    m = 2 ** (bits - 1) - 1
    pos = torch.tensor([2.0 ** k for k in range(n1 - m + 1, n1 + 1)], dtype=torch.float32)
    return torch.cat([-pos.flip(0), torch.zeros(1), pos])


def log_quantize(x: torch.Tensor, bits: int) -> torch.Tensor:
    """``x`` rounded to the nearest level of :func:`log_levels` (``max_abs = max|x|``)."""
    x = _check_tensor(x)
    amax = float(x.abs().max())
    if amax == 0:
        raise ValueError("zero range: x is all zeros")
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
    weight = _check_tensor(weight, "weight")
    bits = _check_bits(bits, high=16)
    if init not in ("linear", "density", "random"):
        raise ValueError(f"init must be 'linear', 'density' or 'random', got {init!r}")
    if not isinstance(iters, int) or iters < 0:
        raise ValueError(f"iters must be a non-negative int, got {iters!r}")
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
    """Parametrization ``weight = codebook[codes]``: only the ``K`` centroids are trained.

    Attach with ``torch.nn.utils.parametrize.register_parametrization(layer, "weight",
    SharedWeights(codebook, codes))`` or :func:`share_weights_`; :func:`bake_` removes it and
    keeps the shared values.
    """

    def __init__(self, codebook: torch.Tensor, codes: torch.Tensor):
        super().__init__()
        self.codebook = nn.Parameter(codebook.detach().clone().to(torch.float32))
        self.register_buffer("codes", codes.detach().clone().to(torch.int64))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:  # the original weight is ignored
        return shared_weight(self.codebook, self.codes).to(weight.dtype)

    def extra_repr(self) -> str:
        return f"K={self.codebook.numel()}, codes={tuple(self.codes.shape)}"


def quant_layers(model: nn.Module, layers: Iterable[str] | None = None) -> dict[str, nn.Module]:
    """The ``nn.Conv2d``/``nn.Linear`` layers of ``model`` by name (all, or those in ``layers``)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    found = {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    if layers is None:
        return found
    layers = list(layers)
    missing = [n for n in layers if n not in found]
    if missing:
        raise ValueError(f"unknown layers {missing}; allowed: {sorted(found)}")
    return {n: found[n] for n in layers}


def _weight_of(layer: nn.Module) -> torch.Tensor:
    return layer.weight.detach()


def share_weights_(model: nn.Module, bits: int | Mapping[str, int], *, init: str = "linear", iters: int = 30,
                   prune_zeros: bool = False, layers: Iterable[str] | None = None) -> dict[str, SharedWeights]:
    """Cluster each layer's weight (k-means, ``bits`` per layer) and attach :class:`SharedWeights` in place.

    ``prune_zeros=True`` keeps exact zeros (pruned weights) out of the clustering and at 0.
    The original weights are frozen (``requires_grad=False``); train the codebooks (and
    biases) with :func:`finetune_codebook`. Returns ``{layer name: parametrization}``.
    """
    out = {}
    for name, layer in quant_layers(model, layers).items():
        b = bits[name] if isinstance(bits, Mapping) else bits
        w = _weight_of(layer)
        mask = (w != 0) if prune_zeros else None
        codebook, codes = kmeans_codebook(w, b, init=init, iters=iters, mask=mask)
        p = SharedWeights(codebook, codes)
        parametrize.register_parametrization(layer, "weight", p, unsafe=True)
        layer.parametrizations.weight.original.requires_grad_(False)
        out[name] = p
    return out


def finetune_codebook(model: nn.Module, bits: int | Mapping[str, int], *, epochs: int = 2, lr: float = 1e-4,
                      init: str = "linear", prune_zeros: bool = False, seed: int = 0, progress: bool = False,
                      train_biases: bool = True) -> nn.Module:
    """Deep Compression's quantization stage on a copy of ``model``: k-means sharing, then
    fine-tune the centroids by summed gradients; returns the copy with the shared values baked
    into plain weights (each layer then holds ≤ ``2^bits`` distinct values)."""
    from . import train as _train
    model = copy.deepcopy(model)
    shared = share_weights_(model, bits, init=init, prune_zeros=prune_zeros)
    params = [p.codebook for p in shared.values()]
    if train_biases:
        params += [m.bias for m in quant_layers(model).values() if m.bias is not None]
    if epochs:
        _train.fit(model, epochs=epochs, lr=lr, seed=seed, params=params, progress=progress, desc="codebook fine-tuning")
    return bake_(model)


# =============================================================================================
# 4. Binary and ternary weights
# =============================================================================================

def _channel_mean_abs(w: torch.Tensor, per_channel: bool) -> torch.Tensor:
    if per_channel and w.dim() > 1:
        return w.abs().reshape(w.shape[0], -1).mean(1).reshape([-1] + [1] * (w.dim() - 1))
    return w.abs().mean()


def binarize(w: torch.Tensor, *, scale: str = "none", per_channel: bool = True) -> torch.Tensor:
    """Binary weights ``α·sign(w)`` (sign(0) = +1), differentiable by the STE.

    ``scale="none"``: ``α = 1`` (BinaryConnect, Courbariaux et al. 2015; BNN, Hubara et al.
    2016); ``scale="xnor"``: ``α = mean|w|`` per output channel (or per tensor), the
    L2-optimal scale of XNOR-Net (Rastegari et al. 2016).
    """
    w = _check_tensor(w, "w")
    if scale not in ("none", "xnor"):
        raise ValueError(f"scale must be 'none' or 'xnor', got {scale!r}")
    b = sign_ste(w)
    if scale == "xnor":
        b = b * _channel_mean_abs(w, per_channel).detach()
    return b


def ternarize(w: torch.Tensor, *, threshold_factor: float = 0.7, per_channel: bool = False) -> torch.Tensor:
    """Ternary weights of TWN (Li, Zhang, Liu 2016): ``α·t`` with ``t ∈ {−1, 0, +1}``.

    ``Δ = threshold_factor · mean|w|``; ``t_i = sign(w_i)`` where ``|w_i| > Δ`` else 0;
    ``α = mean_{|w_i| > Δ} |w_i|`` (the approximate L2-optimal solution). Forward is the
    ternary value, backward the straight-through gradient (identity).
    """
    w = _check_tensor(w, "w")
    if not threshold_factor >= 0:
        raise ValueError(f"threshold_factor must be >= 0, got {threshold_factor!r}")
    wd = w.detach()
    delta = threshold_factor * _channel_mean_abs(wd, per_channel)
    keep = (wd.abs() > delta).to(wd.dtype)
    if per_channel and w.dim() > 1:
        flat_k, flat_a = keep.reshape(w.shape[0], -1), wd.abs().reshape(w.shape[0], -1)
        alpha = ((flat_a * flat_k).sum(1) / flat_k.sum(1).clamp(min=1)).reshape([-1] + [1] * (w.dim() - 1))
    else:
        alpha = (wd.abs() * keep).sum() / keep.sum().clamp(min=1)
    t = torch.sign(wd) * keep * alpha
    return w + (t - w).detach()  # straight-through: value t, gradient identity


class TTQWeight(nn.Module):
    """Trained ternary quantization (Zhu, Han, Mao, Dally 2017) as a weight parametrization.

    ``w_t = W_p`` where ``w > Δ``, ``−W_n`` where ``w < −Δ``, else 0, with ``Δ = t·max|w|``
    and learned positive scales ``W_p``, ``W_n``. Gradients: ``∂L/∂W_p = Σ_{w>Δ} ∂L/∂w_t``,
    ``∂L/∂W_n = −Σ_{w<−Δ} ∂L/∂w_t``; the latent weights get ``W_p·g`` / ``g`` / ``W_n·g`` (the
    paper's scaled STE).
    """

    def __init__(self, weight: torch.Tensor, threshold: float = 0.05):
        super().__init__()
        if not 0 <= threshold < 1:
            raise ValueError(f"threshold must be in [0, 1), got {threshold!r}")
        self.threshold = threshold
        wd = weight.detach()
        delta = threshold * wd.abs().max()
        pos, neg = wd[wd > delta], wd[wd < -delta]
        self.w_p = nn.Parameter(pos.mean().reshape(()) if pos.numel() else wd.abs().mean().reshape(()))
        self.w_n = nn.Parameter((-neg).mean().reshape(()) if neg.numel() else wd.abs().mean().reshape(()))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        delta = self.threshold * w.detach().abs().max()
        pos = (w.detach() > delta).to(w.dtype)
        neg = (w.detach() < -delta).to(w.dtype)
        zero = 1 - pos - neg
        # value: W_p·pos − W_n·neg; latent gradient scaled by W_p, 1, W_n (straight through)
        scaled = w * (pos * self.w_p.detach() + zero + neg * self.w_n.detach())
        return self.w_p * pos - self.w_n * neg + (scaled - scaled.detach())


# =============================================================================================
# 5. Model level: calibration, PTQ, QAT, gradient quantization, mixed precision, sizes
# =============================================================================================

def calibrate_range(x: torch.Tensor, bits: int, *, method: str = "minmax", percentile: float = 99.99,
                    scheme: str = "affine", grid: int = 60) -> tuple[float, float]:
    """Clip range ``(lo, hi)`` for the values ``x`` (activations collected on calibration data).

    * ``"minmax"``: ``(min x, max x)`` — every value in range, coarse steps if outliers exist;
    * ``"percentile"``: the ``100 − p`` and ``p`` percentiles — outliers clip, steps shrink;
    * ``"mse"``: the range among ``grid`` shrinkings of min/max minimising
      ``‖x − fake_quantize(x)‖²`` (e.g. as in TensorRT/Banner et al. 2019).
    """
    x = _check_tensor(x).detach().reshape(-1).to(torch.float32)
    if method not in ("minmax", "percentile", "mse"):
        raise ValueError(f"method must be 'minmax', 'percentile' or 'mse', got {method!r}")
    lo, hi = float(x.min()), float(x.max())
    if method == "percentile":
        if not 50 < percentile <= 100:
            raise ValueError(f"percentile must be in (50, 100], got {percentile!r}")
        sample = x if x.numel() <= 1_000_000 else x[torch.randperm(x.numel(), generator=torch.Generator().manual_seed(0))[:1_000_000]]
        lo = float(torch.quantile(sample, 1 - percentile / 100))
        hi = float(torch.quantile(sample, percentile / 100))
    elif method == "mse":
        best, best_err = (lo, hi), math.inf
        for f in torch.linspace(1.0, 0.2, grid).tolist():
            try:
                qp = qparams_from_range(lo * f, hi * f, bits, scheme=scheme)
            except ValueError:
                continue
            err = float(((x - fake_quantize(x, qparams=qp)) ** 2).mean())
            if err < best_err:
                best, best_err = (lo * f, hi * f), err
        lo, hi = best
    return lo, hi


def _block_for(w: torch.Tensor, granularity: str, group_size: int | None = None):
    if granularity == "tensor":
        return None
    if granularity == "channel":
        return per_channel(w.shape, 0)
    if granularity == "group":
        w2 = w.reshape(w.shape[0], -1)
        gs = group_size or 32
        if w2.shape[1] % gs:
            gs = math.gcd(w2.shape[1], gs)
        return per_group(w2.shape, gs)
    raise ValueError(f"granularity must be 'tensor', 'channel' or 'group', got {granularity!r}")


def _quantize_weight(w: torch.Tensor, bits: int, method: str, scheme: str, granularity: str,
                     group_size: int | None = None, ste: bool = False) -> torch.Tensor:
    """One weight through one quantizer (``ste=True``: differentiable by the STE)."""
    if method == "uniform":
        if bits == 1:  # the 1-bit uniform grid is the sign with a scale
            return binarize(w, scale="xnor", per_channel=granularity != "tensor")
        src = w.reshape(w.shape[0], -1) if granularity == "group" else w
        qp = choose_qparams(src.detach(), bits, scheme=scheme, block_size=_block_for(w, granularity, group_size))
        out = fake_quantize_ste(src, qp) if ste else fake_quantize(src.detach(), qparams=qp)
        return out.reshape(w.shape)
    if method == "log":
        if bits == 1:
            return binarize(w, scale="xnor", per_channel=False)
        q = log_quantize(w.detach(), bits)
        return w + (q - w).detach() if ste else q
    if method == "kmeans":
        codebook, codes = kmeans_codebook(w.detach(), bits)
        q = decode_codebook(codebook, codes).to(w.dtype)
        return w + (q - w).detach() if ste else q
    if method == "binary":
        return binarize(w, scale="none")
    if method == "xnor":
        return binarize(w, scale="xnor")
    if method == "ternary":
        return ternarize(w)
    raise ValueError(f"method must be one of uniform, log, kmeans, binary, xnor, ternary; got {method!r}")


def quantize_weights(model: nn.Module, bits: int | Mapping[str, int], *, method: str = "uniform",
                     scheme: str = "symmetric", granularity: str = "channel", group_size: int | None = None,
                     layers: Iterable[str] | None = None) -> nn.Module:
    """Post-training weight quantization: a copy of ``model`` whose conv/linear weights are
    snapped to their ``bits``-bit grid (``method``: ``uniform``, ``log``, ``kmeans``;
    ``bits`` may be a per-layer dict for mixed precision). Biases stay float32 (they are
    stored at 32 bits in :func:`quantized_size_bits`, as integer kernels do)."""
    model = copy.deepcopy(model)
    for name, layer in quant_layers(model, layers).items():
        b = bits.get(name, 32) if isinstance(bits, Mapping) else bits  # a layer missing from the dict stays float
        if b >= 32:
            continue
        with torch.no_grad():
            layer.weight.copy_(_quantize_weight(layer.weight.detach(), b, method, scheme, granularity, group_size))
    return model


def ptq(model: nn.Module, w_bits: int | Mapping[str, int] | None = 8, a_bits: int | None = 8, *,
        method: str = "uniform", granularity: str = "channel", scheme: str = "symmetric",
        calibration: str = "minmax", percentile: float = 99.99, calib_data: str | torch.Tensor = "val",
        skip_first_act: bool = False) -> nn.Module:
    """Post-training quantization of a copy of ``model``: ``w_bits``-bit weights
    (:func:`quantize_weights`) and ``a_bits``-bit activations (the input of every conv/linear
    layer) whose clip ranges are calibrated on ``calib_data`` (a split name — the 500
    validation images by default, never the test set — or a batch of images) by
    ``calibration`` = ``"minmax"``, ``"percentile"`` or ``"mse"`` (:func:`calibrate_range`).
    ``None`` leaves weights or activations in float32."""
    from . import data as _data
    q = quantize_weights(model, w_bits, method=method, granularity=granularity, scheme=scheme) \
        if w_bits is not None else copy.deepcopy(model)
    if a_bits is not None:
        x = _data.load_mnist(calib_data)[0] if isinstance(calib_data, str) else calib_data
        acts = attach_activation_quant_(q, a_bits, skip_first=skip_first_act)
        calibrate_activations_(q, acts, x, method=calibration, percentile=percentile)
    return q.eval()


class FakeQuantWeight(nn.Module):
    """Weight parametrization for quantization-aware training: the forward sees the weight on
    its ``bits``-bit grid (recalibrated by min/max at every step), the backward is the STE."""

    def __init__(self, bits: int, *, method: str = "uniform", scheme: str = "symmetric", granularity: str = "channel"):
        super().__init__()
        self.bits, self.method, self.scheme, self.granularity = bits, method, scheme, granularity
        if method == "uniform" and bits > 1:
            qrange(bits, scheme)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return _quantize_weight(w, self.bits, self.method, self.scheme, self.granularity, ste=True)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, method={self.method}, scheme={self.scheme}, granularity={self.granularity}"


class BinaryWeight(nn.Module):
    """Weight parametrization ``α·sign(w)`` (``scale``: ``"none"`` BinaryConnect, ``"xnor"`` XNOR-Net)."""

    def __init__(self, scale: str = "none"):
        super().__init__()
        self.scale = scale

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return binarize(w, scale=self.scale)


class TernaryWeight(nn.Module):
    """Weight parametrization of TWN: :func:`ternarize` with threshold ``0.7·mean|w|``."""

    def __init__(self, threshold_factor: float = 0.7):
        super().__init__()
        self.threshold_factor = threshold_factor

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return ternarize(w, threshold_factor=self.threshold_factor)


class ActQuant(nn.Module):
    """Fake quantization of activations (a layer's *input*), attached as a forward pre-hook.

    ``mode``: ``"observe"`` records values (for :func:`calibrate_range`), ``"quant"`` applies
    ``bits``-bit affine fake quantization with the STE on the frozen range ``(lo, hi)``;
    during training (``"qat"``) the range follows an exponential moving average of each
    batch's min/max (Jacob et al. 2018) — or, with ``clip="pact"``, the upper end is a
    learned clip ``α`` (PACT, Choi et al. 2018: ``y = Q(min(x, α))``, ``∂y/∂α = 1`` where
    ``x ≥ α``), initialised at the ``init_percentile`` of the first batch; PACT assumes
    non-negative inputs (after a ReLU). ``bits=1`` gives binary activations ``{0, α}`` — the
    form a binary activation takes after a ReLU (DoReFa-Net's 1-bit activations).
    """

    def __init__(self, bits: int, *, momentum: float = 0.1, clip: str = "ema", init_percentile: float = 99.0):
        super().__init__()
        qrange(bits)
        if not 0 < momentum <= 1:
            raise ValueError(f"momentum must be in (0, 1], got {momentum!r}")
        if clip not in ("ema", "pact"):
            raise ValueError(f"clip must be 'ema' or 'pact', got {clip!r}")
        self.bits, self.momentum, self.clip, self.init_percentile = bits, momentum, clip, init_percentile
        self.alpha = nn.Parameter(torch.tensor(1.0)) if clip == "pact" else None
        self.mode = "observe"
        self.observed: list[torch.Tensor] = []
        self.register_buffer("lo", torch.tensor(0.0))
        self.register_buffer("hi", torch.tensor(0.0))
        self.register_buffer("initialised", torch.tensor(False))

    def set_range(self, lo: float, hi: float) -> None:
        self.lo.fill_(lo)
        self.hi.fill_(hi)
        self.initialised.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "observe":
            self.observed.append(x.detach().reshape(-1).cpu())
            return x
        if self.clip == "pact" and self.mode == "qat":
            if not bool(self.initialised):
                if float(x.detach().min()) < 0:
                    raise ValueError("PACT clipping needs non-negative inputs (after a ReLU); use clip='ema'")
                with torch.no_grad():
                    self.alpha.fill_(max(float(torch.quantile(x.detach().reshape(-1)[:100_000].float(),
                                                              self.init_percentile / 100)), 1e-3))
                self.set_range(0.0, float(self.alpha.detach()))
            alpha = self.alpha.abs() + 1e-6
            qp = qparams_from_range(0.0, float(alpha.detach()), self.bits)
            xc = torch.minimum(x, alpha)  # gradient to alpha where x >= alpha
            return FakeQuantSTE.apply(xc, qp.scale.to(x.device), qp.zero_point.to(x.device, x.dtype), qp.qmin, qp.qmax)
        if self.mode == "qat" and self.training:
            lo, hi = float(x.detach().min()), float(x.detach().max())
            if not bool(self.initialised):
                self.set_range(lo, hi)
            else:
                m = self.momentum
                self.set_range((1 - m) * float(self.lo) + m * lo, (1 - m) * float(self.hi) + m * hi)
        if float(self.hi) <= float(self.lo):
            return x
        qp = qparams_from_range(float(self.lo), float(self.hi), self.bits)
        return FakeQuantSTE.apply(x, qp.scale.to(x.device), qp.zero_point.to(x.device, x.dtype), qp.qmin, qp.qmax)


def attach_activation_quant_(model: nn.Module, bits: int | Mapping[str, int], *, layers: Iterable[str] | None = None,
                             skip_first: bool = False, clip: str = "ema") -> dict[str, ActQuant]:
    """Insert an :class:`ActQuant` in front of each conv/linear layer (a forward pre-hook), in place.

    Returns ``{layer name: quantizer}``; the quantizers start in ``"observe"`` mode.
    ``skip_first=True`` leaves the network's input (the image) in float, as BNN does.
    """
    out = {}
    for i, (name, layer) in enumerate(quant_layers(model, layers).items()):
        if skip_first and i == 0:
            continue
        b = bits[name] if isinstance(bits, Mapping) else bits
        aq = ActQuant(b, clip=clip)
        layer.add_module("act_quant", aq)
        layer.register_forward_pre_hook(lambda m, args: (m.act_quant(args[0]),) + tuple(args[1:]))
        out[name] = aq
    return out


def calibrate_activations_(model: nn.Module, quantizers: Mapping[str, ActQuant], x: torch.Tensor, *,
                           method: str = "minmax", percentile: float = 99.99) -> dict[str, tuple[float, float]]:
    """Run ``x`` through ``model`` to observe each quantizer's input, then freeze its clip range."""
    for q in quantizers.values():
        q.mode, q.observed = "observe", []
    with torch.no_grad():
        model.eval()(x)
    ranges = {}
    for name, q in quantizers.items():
        values = torch.cat(q.observed)
        lo, hi = calibrate_range(values, q.bits, method=method, percentile=percentile)
        q.set_range(lo, hi)
        q.mode, q.observed = "quant", []
        ranges[name] = (lo, hi)
    return ranges


def prepare_qat_(model: nn.Module, weight: Callable[[str, nn.Module], nn.Module] | nn.Module | None,
                 act_bits: int | None = None, *, skip_first_act: bool = False, act_clip: str = "ema") -> dict[str, ActQuant]:
    """Attach a weight parametrization to every conv/linear layer (a module, copied per layer,
    e.g. ``FakeQuantWeight(4)``, or a factory ``weight(name, layer)``) and, with ``act_bits``,
    activation quantizers in ``"qat"`` mode; in place. Train with
    :func:`companion.train.fit`, then :func:`bake_`."""
    for name, layer in quant_layers(model).items():
        if weight is not None:
            p = copy.deepcopy(weight) if isinstance(weight, nn.Module) else weight(name, layer)
            parametrize.register_parametrization(layer, "weight", p, unsafe=True)
    acts = {}
    if act_bits is not None:
        acts = attach_activation_quant_(model, act_bits, skip_first=skip_first_act, clip=act_clip)
        for q in acts.values():
            q.mode = "qat"
    return acts


def bake_(model: nn.Module) -> nn.Module:
    """Remove every weight parametrization, keeping the transformed (quantized) values; in place."""
    for layer in quant_layers(model).values():
        if parametrize.is_parametrized(layer, "weight"):
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
    return model


class GradQuant(torch.autograd.Function):
    """Identity forward; backward quantizes the gradient to ``bits`` bits (DoReFa-Net, Zhou et
    al. 2016; WAGE, Wu et al. 2018): ``g ≈ s·Q(g/s)`` with ``s = max|g|``, a symmetric grid and
    stochastic rounding (unbiased, so small gradients survive on average)."""

    @staticmethod
    def forward(ctx, x, bits: int, generator):
        ctx.bits, ctx.generator = bits, generator
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        if ctx.bits >= 32 or not bool((g != 0).any()):
            return g, None, None
        amax = g.abs().max()
        qp = qparams_from_range(-float(amax), float(amax), ctx.bits, scheme="symmetric")
        gq = fake_quantize(g.detach().cpu(), qparams=qp, rounding="stochastic", generator=ctx.generator)
        return gq.to(g.device, g.dtype), None, None


def attach_gradient_quant_(model: nn.Module, bits: int, *, seed: int = 0) -> list:
    """Quantize the error gradient at the output of every conv/linear layer to ``bits`` bits
    (a forward hook wraps the output in :class:`GradQuant`); in place; returns the hook handles."""
    if bits < 32:
        qrange(bits, "symmetric")
    gen = torch.Generator().manual_seed(seed)
    return [layer.register_forward_hook(lambda m, a, out: GradQuant.apply(out, bits, gen))
            for layer in quant_layers(model).values()]


def quantized_size_bits(model: nn.Module, bits: int | Mapping[str, int], *, method: str = "uniform",
                        granularity: str = "channel", scheme: str = "symmetric", bias_bits: int = 32,
                        group_size: int = 32, layers: Sequence[metrics.LayerCost] | None = None) -> int:
    """Storage of ``model`` with ``bits``-bit weights, overheads included (shared ruler of
    :mod:`companion.metrics`): per block a 32-bit scale (+ a ``bits``-bit zero point for
    affine); ``binary`` no overhead, ``xnor`` one scale per output channel, ``ternary`` two
    scales per layer (``bits`` should then be 1, 1 and 2); for ``kmeans``/``log`` a codebook of ``2^bits`` 32-bit entries per layer (log
    levels need only the exponent range: 2 × 8 bits); biases at ``bias_bits``. ``layers``:
    ``metrics.measure_layers(model)`` when already measured (saves a forward pass)."""
    if method not in ("uniform", "kmeans", "log", "binary", "xnor", "ternary"):
        raise ValueError(f"method must be uniform, kmeans, log, binary, xnor or ternary; got {method!r}")
    total = 0
    for layer in (layers if layers is not None else metrics.measure_layers(model)):
        b = bits.get(layer.name, 32) if isinstance(bits, Mapping) else bits
        if b >= 32:
            total += metrics.storage_bits(layer.weights, 32) + metrics.storage_bits(layer.bias, bias_bits)
            continue
        out_c = layer.out_shape[0] if layer.kind == "conv" else layer.out_shape[-1]
        if method == "kmeans":
            over = metrics.storage_bits(0, 0, codebook_entries=2 ** b, codebook_bits=32)
        elif method == "log":
            over = 16
        elif method == "binary":  # BinaryConnect / BNN: signs only
            over = 0
        elif method == "xnor":  # one 32-bit alpha per output channel
            over = out_c * 32
        elif method == "ternary":  # TWN: one alpha per layer (TTQ: two)
            over = 64
        else:
            out_c = layer.out_shape[0] if layer.kind == "conv" else layer.out_shape[-1]
            n_blocks = {"tensor": 1, "channel": out_c, "group": max(1, layer.weights // group_size)}[granularity]
            over = n_blocks * (32 + (b if scheme == "affine" else 0))
        total += metrics.storage_bits(layer.weights, b) + over + metrics.storage_bits(layer.bias, bias_bits)
    return total


def layer_sensitivity(model: nn.Module, bits_list: Sequence[int], evaluate: Callable[[nn.Module], float], *,
                      method: str = "uniform", granularity: str = "channel") -> dict[str, dict[int, float]]:
    """Per-layer bit sensitivity: accuracy when *only* that layer is quantized to ``b`` bits
    (every other layer float), for each ``b`` in ``bits_list``: ``{layer: {bits: accuracy}}``."""
    out = {}
    for name in quant_layers(model):
        out[name] = {b: evaluate(quantize_weights(model, {name: b}, method=method, granularity=granularity))
                     for b in bits_list}
    return out


def assign_bits(sensitivity: Mapping[str, Mapping[int, float]], weights: Mapping[str, int], budget_bits: float,
                baseline_acc: float) -> dict[str, int]:
    """Greedy mixed precision: start every layer at its largest candidate width and repeatedly
    lower the layer whose next step down costs the least accuracy (measured drop, per bit saved)
    until the weights fit ``budget_bits``. Returns ``{layer: bits}``; raises ``ValueError``
    when even the smallest widths do not fit."""
    if not budget_bits > 0:
        raise ValueError(f"budget_bits must be > 0, got {budget_bits!r}")
    options = {n: sorted(s) for n, s in sensitivity.items()}
    choice = {n: opts[-1] for n, opts in options.items()}

    def size(c):
        return sum(weights[n] * b for n, b in c.items())

    if sum(weights[n] * opts[0] for n, opts in options.items()) > budget_bits:
        raise ValueError("budget too small: even the narrowest widths do not fit")
    while size(choice) > budget_bits:
        best, best_cost = None, math.inf
        for n, opts in options.items():
            i = opts.index(choice[n])
            if i == 0:
                continue
            b_new = opts[i - 1]
            drop = max(0.0, sensitivity[n][choice[n]] - sensitivity[n][b_new]) + 1e-3
            cost = drop / (weights[n] * (choice[n] - b_new))
            if cost < best_cost:
                best, best_cost = (n, b_new), cost
        choice[best[0]] = best[1]
    return choice


# --- training recipes (cached): QAT, binary, ternary, low-bit gradients ---------------------------

WEIGHT_KINDS = ("float", "uniform", "binary", "xnor", "ternary", "ttq")


def _weight_factory(kind: str, bits: int | None):
    if kind == "float":
        return None
    if kind == "uniform":
        return FakeQuantWeight(bits)
    if kind == "binary":
        return BinaryWeight("none")
    if kind == "xnor":
        return BinaryWeight("xnor")
    if kind == "ternary":
        return TernaryWeight(0.7)
    if kind == "ttq":
        return lambda name, layer: TTQWeight(layer.weight)
    raise ValueError(f"weight kind must be one of {WEIGHT_KINDS}, got {kind!r}")


#: Named training recipes of the chapter (keyword arguments of :func:`train_quantized`).
RECIPES: dict[str, dict] = {
    "qat4": dict(weight="uniform", bits=4, act_bits=4, act_clip="pact", epochs=2, lr=1e-4),
    "twn": dict(weight="ternary", bits=None, epochs=3, lr=1e-4),
    "ttq": dict(weight="ttq", bits=None, epochs=3, lr=1e-4),
    "binaryconnect": dict(weight="binary", bits=None, epochs=6),
    "xnor_weights": dict(weight="xnor", bits=None, epochs=6),
    "bnn": dict(weight="binary", bits=None, act_bits=1, act_clip="pact", epochs=6),
    "xnor_net": dict(weight="xnor", bits=None, act_bits=1, act_clip="pact", epochs=6),
}


def qat_sweep_recipe(bits: int) -> dict:
    """Weights-only QAT at ``bits`` (per-channel symmetric; 1 bit = sign·mean|w|), 2 epochs from the baseline."""
    return dict(weight="uniform", bits=bits, epochs=2, lr=1e-4)


def grad_sweep_recipe(grad_bits: int) -> dict:
    """DoReFa/WAGE-style training from scratch: 8-bit weights and activations, ``grad_bits``-bit errors."""
    return dict(weight="uniform", bits=8, act_bits=8, grad_bits=grad_bits, epochs=3, from_baseline=False)


def build_quantized(model_name: str, weight: str = "uniform", bits: int | None = 4, *, act_bits: int | None = None,
                    grad_bits: int = 32, skip_first_act: bool = True, from_baseline: bool = True,
                    seed: int = 0, act_clip: str = "ema") -> nn.Module:
    """A ``model_name`` network ready for quantization-aware training (untrained wrappers).

    ``weight``: ``"float"``, ``"uniform"`` (``bits``-bit per-channel symmetric, STE),
    ``"binary"`` (BinaryConnect sign), ``"xnor"`` (sign · mean|w| per channel), ``"ternary"``
    (TWN), ``"ttq"`` (TTQ); ``act_bits``: fake-quantized layer inputs (EMA range),
    ``grad_bits`` < 32: quantized error gradients. Starts from the float baseline's weights
    (``from_baseline``) or from a fresh initialisation.
    """
    from . import models as _models, train as _train
    if weight not in WEIGHT_KINDS:
        raise ValueError(f"weight must be one of {WEIGHT_KINDS}, got {weight!r}")
    model = _train.baseline(model_name, progress=False) if from_baseline else _models.build(model_name, seed=seed)
    if weight == "uniform":
        _check_bits(bits)
    prepare_qat_(model, _weight_factory(weight, bits), act_bits, skip_first_act=skip_first_act, act_clip=act_clip)
    if grad_bits < 32:
        attach_gradient_quant_(model, grad_bits, seed=seed)
    return model


def _clip_latent(limit: float):
    def callback(step, model):  # BinaryConnect keeps the real-valued latent weights in [-1, 1]
        with torch.no_grad():
            for layer in quant_layers(model).values():
                if parametrize.is_parametrized(layer, "weight"):
                    layer.parametrizations.weight.original.clamp_(-limit, limit)
    return callback


def train_quantized(model_name: str, weight: str = "uniform", bits: int | None = 4, *, act_bits: int | None = None,
                    grad_bits: int = 32, epochs: int = 3, lr: float = 1e-3, from_baseline: bool = True,
                    skip_first_act: bool = True, seed: int = 0, act_clip: str = "ema",
                    progress: bool = True) -> nn.Module:
    """Train (or load from the cache) a quantized network: :func:`build_quantized`, then
    :func:`companion.train.fit` for ``epochs`` with Adam at ``lr``. Binary/ternary latent
    weights are clipped to [−1, 1] after each step (BinaryConnect). The returned model keeps
    its quantization wrappers (its forward is the quantized network); :func:`bake_` freezes it."""
    from . import train as _train
    spec = {"ch4": "train_quantized", "v": 1, "model": model_name, "weight": weight, "bits": bits,
            "act_bits": act_bits, "grad_bits": grad_bits, "epochs": epochs, "lr": lr,
            "from_baseline": from_baseline, "skip_first_act": skip_first_act, "seed": seed, "act_clip": act_clip}
    make = lambda: build_quantized(model_name, weight, bits, act_bits=act_bits, grad_bits=grad_bits,  # noqa: E731
                                   skip_first_act=skip_first_act, from_baseline=from_baseline, seed=seed,
                                   act_clip=act_clip)
    callbacks = [_clip_latent(1.0)] if weight in ("binary", "xnor", "ternary", "ttq") else []
    label = f"{model_name} W{bits if weight == 'uniform' else weight}" + (f"A{act_bits}" if act_bits else "") + \
        (f"G{grad_bits}" if grad_bits < 32 else "")

    def fit(model):
        _train.fit(model, epochs=epochs, lr=lr, seed=seed, callbacks=callbacks, progress=progress, desc=label)

    model = _train.cached_model(spec, make, fit, name=f"ch4-{model_name}-{weight}")
    for q in model.modules():
        if isinstance(q, ActQuant):
            q.mode = "qat"
    return model


def train_shared(model_name: str, bits: int, *, epochs: int = 1, lr: float = 1e-4, init: str = "linear",
                 seed: int = 0, progress: bool = True) -> nn.Module:
    """Deep Compression's trained quantization of a baseline, cached: k-means weight sharing
    (``bits`` per layer, ``init``) then ``epochs`` of codebook fine-tuning by summed gradients
    (:func:`finetune_codebook`). Returns a plain model whose layers hold ≤ ``2^bits`` values."""
    from . import train as _train
    spec = {"ch4": "train_shared", "v": 1, "model": model_name, "bits": bits, "epochs": epochs, "lr": lr,
            "init": init, "seed": seed}

    def fit(model):
        tuned = finetune_codebook(model, bits, epochs=epochs, lr=lr, init=init, seed=seed, progress=progress)
        model.load_state_dict(tuned.state_dict())

    return _train.cached_model(spec, lambda: _train.baseline(model_name, progress=False), fit,
                               name=f"ch4-{model_name}-shared")


# --- what PyTorch really runs: int8 dynamic quantization on the CPU ------------------------------

def dynamic_int8(model: nn.Module) -> nn.Module:
    """PyTorch's own int8 path: ``torch.ao.quantization.quantize_dynamic`` of the ``nn.Linear``
    layers (int8 weights, activations quantized on the fly per batch)."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic
        return quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8)


def time_forward_ms(model: nn.Module, batch: int, *, repeats: int = 50, warmup: int = 10,
                    input_shape: Sequence[int] = (1, 28, 28), stat: str = "median") -> float:
    """Wall-clock milliseconds of one forward pass on a ``[batch, *input_shape]`` input:
    the ``"median"`` or the ``"min"`` (best of ``repeats``: robust on a busy machine) of the runs."""
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    return metrics.latency_ms(model, (batch, *input_shape), repeats=repeats, warmup=warmup, stat=stat)


# =============================================================================================
# Exercises of chapter 4
# =============================================================================================

def _ex_scale_zp():
    qp = choose_qparams(torch.tensor([-0.5, 1.5]), 8)
    return float(qp.scale), int(qp.zero_point)


def _check_scale_zp(answer):
    try:
        s, z = answer
    except (TypeError, ValueError):
        raise exercises.ExerciseError("answer with a pair (scale, zero_point)") from None
    s_ref, z_ref = _ex_scale_zp()
    if not math.isclose(float(s), s_ref, rel_tol=1e-4):
        raise exercises.ExerciseError(f"scale {float(s):g} is off. Hint: the range [−0.5, 1.5] is spread over 2^8 − 1 steps.")
    if int(z) != z_ref:
        raise exercises.ExerciseError(f"zero point {z} is off. Hint: which integer code must stand for the real 0? "
                                      "zero_point = qmin − round(lo/scale).")
    return "the real 0 is exactly code " + str(z_ref) + "."


exercises.register(
    "ch4.scale_zero_point",
    "8-bit affine quantization of values in [−0.5, 1.5]: give (scale, zero_point).",
    _check_scale_zp, "easy")


def _ste_cases():
    g = torch.Generator().manual_seed(4)
    return [(torch.randn(64, generator=g) * 2, torch.randn(64, generator=g)) for _ in range(3)]


def _ste_reference(x, grad_out):
    """Reference: the STE gradient of 4-bit affine fake quantization on [−1, 1] w.r.t. x."""
    x = x.clone().requires_grad_(True)
    qp = qparams_from_range(-1.0, 1.0, 4)
    fake_quantize_ste(x, qp).backward(grad_out)
    return x.grad


exercises.register(
    "ch4.ste_backward",
    "Write ste_grad(x, grad_out): the straight-through gradient of 4-bit affine fake quantization "
    "with clip range [−1, 1] (grad passes where the code is inside [qmin, qmax], else 0).",
    exercises.same_function(_ste_reference, _ste_cases, hint="the gradient passes unchanged where the unclamped code "
                            "round(x/s) + z lies in [qmin, qmax] and is 0 elsewhere (qparams_from_range(-1, 1, 4) gives s, z)."),
    "medium")


def _mixed_size():
    # LeNet-5 weights: conv1 500, conv2 25,000, fc1 400,000, fc2 5,000; biases 580 at 32 bits
    return (500 * 8 + 25_000 * 6 + 400_000 * 2 + 5_000 * 8 + 580 * 32) / 8 / 1024


exercises.register(
    "ch4.mixed_precision_size",
    "LeNet-5 with conv1 8 bits, conv2 6 bits, fc1 2 bits, fc2 8 bits (biases float32, ignore scales): size in KB (1 KB = 1024 bytes)?",
    exercises.close_to(_mixed_size, rtol=5e-3, hint="count weights per layer (conv2: 50·20·5·5, fc1: 500·800), "
                       "multiply by their bits, add 580 biases × 32 bits, divide by 8·1024."),
    "hard")
