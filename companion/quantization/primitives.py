"""Uniform quantizers and the straight-through estimator: the pure tensor-in, tensor-out core.

After the survey's section on data quantization (Deng et al. 2020) and torchao's
``quant_primitives``: three functions — choose the parameters (:func:`choose_qparams` /
:func:`qparams_from_range` → :class:`QParams`), :func:`quantize`, :func:`dequantize` — and
:func:`fake_quantize` = dequantize ∘ quantize; affine or symmetric; rounding to nearest or
**stochastic** (Gupta et al. 2015). The straight-through estimator (Bengio et al. 2013) is
:class:`FakeQuantSTE`, a ten-line ``autograd.Function`` (:class:`SignSTE` for the sign).

Granularity by ``block_size`` (one entry per dimension of ``x``; a block shares one scale)::

    x.shape        block_size        granularity
    (500, 800)     None / (500, 800) per tensor
    (500, 800)     (1, 800)          per output channel (row)
    (500, 800)     (1, 32)           per group of 32 inputs
    (20, 1, 5, 5)  (1, 1, 5, 5)      per output channel of a conv

:func:`per_tensor`, :func:`per_channel` and :func:`per_group` build these tuples.

**Saturation.** Values beyond the clip range saturate to ``qmin``/``qmax`` *in floating point,
before* the cast to integers, so no input — however large — can overflow the integer type
(as ``torch.quantize_per_tensor`` and ``torch.fake_quantize_per_tensor_affine``).

**Degenerate ranges.** :func:`qparams_from_range` refuses NaN/Inf and zero-width ranges. A
tensor (or a block) whose values are all zero has no range; :func:`widen_range` gives it the
code range itself (``scale = 1``: every code is exact, zero included), so :func:`choose_qparams`
quantizes an all-zero tensor to zeros instead of failing inside a model sweep.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch

from .. import checks

__all__ = ["SCHEMES", "QParams", "qrange", "per_tensor", "per_channel", "per_group", "widen_range",
           "choose_qparams", "qparams_from_range", "quantize", "dequantize", "fake_quantize",
           "quantization_error", "bits_per_layer", "FakeQuantSTE", "fake_quantize_ste", "SignSTE", "sign_ste"]

SCHEMES = ("affine", "symmetric")
ROUNDINGS = ("nearest", "stochastic")


def check_values(x, name: str = "x") -> torch.Tensor:
    """``x`` if it is a non-empty, finite, floating-point tensor (the input of every quantizer)."""
    checks.check_tensor(x, name, floating=True)
    if x.numel() == 0:
        raise ValueError(f"{name} is empty: nothing to quantize")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} holds NaN or inf values; a quantizer needs finite inputs")
    return x


def _check_scheme(scheme) -> str:
    return checks.check_choice(scheme, "scheme", SCHEMES)


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
        bits = checks.check_bits(bits, low=2)
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    bits = checks.check_bits(bits)
    return 0, 2 ** bits - 1


def _shape_of(shape) -> tuple[int, ...]:
    if isinstance(shape, torch.Tensor) or not isinstance(shape, (tuple, list, torch.Size)):
        raise TypeError(f"shape must be a tuple of ints, got {type(shape).__name__}")
    return tuple(checks.check_int(s, "shape entry", minimum=1) for s in shape)


def per_tensor(shape: Sequence[int]) -> tuple[int, ...]:
    """``block_size`` of per-tensor quantization: the whole shape."""
    return _shape_of(shape)


def per_channel(shape: Sequence[int], axis: int = 0) -> tuple[int, ...]:
    """``block_size`` of per-channel quantization along ``axis`` (output channels: ``axis=0``)."""
    shape = _shape_of(shape)
    axis = checks.check_int(axis, "axis")
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"axis {axis} out of range for a {len(shape)}-d shape {shape}")
    axis %= len(shape)
    return tuple(1 if i == axis else s for i, s in enumerate(shape))


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def per_group(shape: Sequence[int], group_size: int) -> tuple[int, ...]:
    """``block_size`` of groups of ``group_size`` consecutive values along the last dimension
    (each row split into ``shape[-1] / group_size`` groups, one scale each). For a conv weight
    ``[O, I, kh, kw]``, reshape it to ``[O, I·kh·kw]`` first. ``group_size`` must divide the
    last dimension (the model-level :func:`~companion.quantization.quantize_weights` pads a last
    partial group instead).

    >>> per_group((500, 800), 32)
    (1, 32)
    """
    shape = _shape_of(shape)
    n = shape[-1]
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1 or n % group_size:
        raise ValueError(f"group_size must be a positive divisor of the last dimension {n} "
                         f"(one of {_divisors(n)}), got {group_size!r}")
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


def _range_tensor(v, name: str) -> torch.Tensor:
    if isinstance(v, bool) or not isinstance(v, (int, float, torch.Tensor)):
        raise TypeError(f"{name} must be a number or a tensor, got {type(v).__name__} {v!r}")
    t = torch.as_tensor(v, dtype=torch.float32) if not isinstance(v, torch.Tensor) else v.detach().to(torch.float32)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} of the clip range must be finite, got {v if t.numel() == 1 else 'a tensor with NaN/Inf'}")
    return t


def widen_range(lo: torch.Tensor | float, hi: torch.Tensor | float, bits: int, scheme: str = "affine"
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The clip range ``[lo, hi]`` (per block when tensors) made usable for any data:
    widened to contain 0 (``lo ← min(lo, 0)``, ``hi ← max(hi, 0)``), and a range that is
    still empty — all values zero — replaced by the *code range* itself, ``[0, qmax − qmin]``
    (affine) or ``[−qmax, qmax]`` (symmetric): ``scale = 1``, on which 0 (the only value seen)
    is exact. This is how :func:`choose_qparams` and the activation quantizers treat constant
    data; :func:`qparams_from_range` itself refuses empty ranges.

    >>> [t.tolist() for t in widen_range(0.0, 0.0, 8)], [t.tolist() for t in widen_range(0.3, 0.3, 8)]
    ([0.0, 255.0], [0.0, 0.30000001192092896])
    """
    qmin, qmax = qrange(bits, scheme)
    lo = torch.clamp(_range_tensor(lo, "lo"), max=0.0)
    hi = torch.clamp(_range_tensor(hi, "hi"), min=0.0)
    empty = (lo == 0) & (hi == 0)
    if bool(empty.any()):
        lo = torch.where(empty, torch.full_like(lo, 0.0 if scheme == "affine" else -float(qmax)), lo)
        hi = torch.where(empty, torch.full_like(hi, float(qmax - qmin) if scheme == "affine" else float(qmax)), hi)
    return lo, hi


def qparams_from_range(lo: torch.Tensor | float, hi: torch.Tensor | float, bits: int, *,
                       scheme: str = "affine", block_size: tuple[int, ...] | None = None) -> QParams:
    """Quantization parameters of the clip range ``[lo, hi]`` (per block when tensors).

    Affine: the range is first widened to contain 0 (so that zero — padding, ReLU output,
    pruned weights — is exact), then ``scale = (hi − lo) / (qmax − qmin)``,
    ``zero_point = clamp(qmin − round(lo / scale), qmin, qmax)``.
    Symmetric: ``scale = max(|lo|, |hi|) / qmax``, ``zero_point = 0``.

    ``lo``/``hi`` must be finite with ``lo < hi`` (a zero-width range, ``lo == hi``, defines no
    grid: ``ValueError``; :func:`widen_range` is the documented way to give constant data a
    range), and the scale must be a normal float32 number (a range too narrow or too wide for
    float32 raises). (Jacob et al. 2018, "Quantization and Training of Neural Networks for
    Efficient Integer-Arithmetic-Only Inference".)
    """
    _check_scheme(scheme)
    qmin, qmax = qrange(bits, scheme)
    lo = _range_tensor(lo, "lo")
    hi = _range_tensor(hi, "hi")
    if lo.shape != hi.shape:
        raise ValueError(f"lo and hi must have the same shape, got {tuple(lo.shape)} and {tuple(hi.shape)}")
    if bool((lo > hi).any()):
        raise ValueError("the clip range must have lo <= hi" + (f", got [{float(lo)}, {float(hi)}]" if lo.numel() == 1 else ""))
    if bool((lo == hi).any()):
        where = f"[{float(lo)}, {float(hi)}]" if lo.numel() == 1 else f"{int((lo == hi).sum())} block(s)"
        raise ValueError(f"zero range: the clip range {where} has zero width, so no scale can be chosen; "
                         "pass lo < hi (widen_range() gives constant data a usable range)")
    lo = torch.clamp(lo, max=0.0)
    hi = torch.clamp(hi, min=0.0)
    if scheme == "symmetric":
        scale = torch.maximum(-lo, hi) / qmax
    else:
        scale = (hi - lo) / float(qmax - qmin)
    scale = scale.to(torch.float32)
    ok = torch.isfinite(scale) & (scale >= torch.finfo(torch.float32).tiny) & torch.isfinite(1.0 / scale)
    if not bool(ok.all()):
        raise ValueError(f"the clip range is too {'wide' if bool(torch.isinf(scale).any()) else 'narrow'} for a "
                         f"{bits}-bit float32 scale (the step must be a normal float32 number)")
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
    min/max rule (it receives ``x`` as ``[n_blocks, block_numel]``). Each block's range goes
    through :func:`widen_range`: a block of zeros gets ``scale = 1`` (it stays exactly zero).

    >>> qp = choose_qparams(torch.tensor([-1.0, 0.0, 2.0]), 8)   # scale = 3/255
    >>> round(float(qp.scale), 6), int(qp.zero_point)
    (0.011765, 85)
    """
    x = check_values(x)
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
    lo, hi = widen_range(lo.reshape(grid_shape), hi.reshape(grid_shape), bits, scheme)
    return qparams_from_range(lo, hi, bits, scheme=scheme, block_size=block)


def _check_qparams(qparams) -> QParams:
    if not isinstance(qparams, QParams):
        raise TypeError(f"qparams must be a QParams (from choose_qparams), got {type(qparams).__name__}")
    return qparams


def quantize(x: torch.Tensor, qparams: QParams, *, rounding: str = "nearest",
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Integer codes ``q = clamp(round(x · (1/scale)) + zero_point, qmin, qmax)`` (int64, shape of ``x``).

    ``rounding="nearest"`` rounds half to even (as ``torch.round`` and PyTorch's quantized
    kernels do); ``"stochastic"`` rounds ``v`` up with probability ``v − floor(v)`` so that
    ``E[q] = v`` (Gupta et al. 2015, "Deep Learning with Limited Numerical Precision").
    The multiplication by the float32 reciprocal mirrors PyTorch's kernels bit for bit.
    The clamp happens in floating point *before* the integer cast (float64 holds every code of a
    ≤ 32-bit grid exactly), so a huge ``x`` saturates at ``qmax`` instead of overflowing.
    """
    x = check_values(x)
    qp = _check_qparams(qparams)
    checks.check_choice(rounding, "rounding", ROUNDINGS)
    view, scale, zp = qp.blocked(x.shape)
    v = x.to(torch.float32).reshape(view) * (1.0 / scale)
    if rounding == "nearest":
        r = torch.round(v)
    else:
        u = torch.rand(v.shape, generator=generator, dtype=v.dtype)
        r = torch.floor(v + u)
    zf = zp.to(torch.float64)
    r = torch.clamp(r.to(torch.float64), qp.qmin - zf, qp.qmax - zf)  # saturate, then cast
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


def bits_per_layer(bits, layers: Mapping[str, object], *, default: int | None = None,
                   low: int = 1, high: int = 32) -> dict[str, int]:
    """``{layer: bits}`` for the selected ``layers``, from one int or a per-layer dict.

    A dict's keys must be layer names of the model (``"fc1 "`` is not ``"fc1"``: ``ValueError``
    listing the real names); a layer missing from the dict gets ``default`` (``None``: it is
    required). Every width is checked to lie in ``[low, high]``.
    """
    if isinstance(bits, Mapping):
        if not bits:
            raise ValueError(f"bits is an empty dict; give {{layer: bits}} for some of {list(layers)}")
        unknown = [n for n in bits if n not in layers]
        if unknown:
            raise ValueError(f"unknown layer name(s) {unknown} in the bits dict; layers: {list(layers)}")
        out = {}
        for n in layers:
            if n in bits:
                out[n] = checks.check_bits(bits[n], f"bits[{n!r}]", low=low, high=high)
            elif default is None:
                raise ValueError(f"the bits dict has no entry for layer {n!r}; give one for each of {list(layers)}")
            else:
                out[n] = default
        return out
    b = checks.check_bits(bits, low=low, high=high)
    return {n: b for n in layers}


# --- the straight-through estimator ----------------------------------------------------------

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
    checks.check_tensor(x, "x", floating=True)
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
