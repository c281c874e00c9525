"""One set of argument validators for the whole library.

Every public function checks its arguments with these helpers, so every bad call gets the same
kind of message: *which* argument, *what* it was, and *what is allowed*. Each returns the
cleaned value (``int`` for an integer-valued argument, ``float`` for a fraction, …).

>>> check_fraction(0.5, "sparsity")
0.5
>>> check_int(True, "bits")
Traceback (most recent call last):
...
TypeError: bits must be an int, got bool True
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
from torch import nn

__all__ = ["check_int", "check_float", "check_fraction", "check_choice", "check_tensor", "check_model",
           "check_bits", "check_finite_range"]


def _desc(v) -> str:
    return f"{type(v).__name__} {v!r}" if not isinstance(v, torch.Tensor) else f"tensor of shape {tuple(v.shape)}"


def check_int(v, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``v`` as an ``int`` in ``[minimum, maximum]`` (bools and floats are refused)."""
    if isinstance(v, bool) or not isinstance(v, (int,)) and not (hasattr(v, "__index__") and not isinstance(v, float)):
        raise TypeError(f"{name} must be an int, got {_desc(v)}")
    v = int(v)
    if minimum is not None and v < minimum or maximum is not None and v > maximum:
        lo = "-inf" if minimum is None else minimum
        hi = "inf" if maximum is None else maximum
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {v}")
    return v


def check_float(v, name: str, *, minimum: float | None = None, maximum: float | None = None,
                open_low: bool = False, open_high: bool = False) -> float:
    """``v`` as a finite ``float`` within the given (closed unless ``open_*``) bounds."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) and not (isinstance(v, torch.Tensor) and v.numel() == 1):
        raise TypeError(f"{name} must be a number, got {_desc(v)}")
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite, got {f}")
    if minimum is not None and (f < minimum or open_low and f == minimum):
        raise ValueError(f"{name} must be {'>' if open_low else '>='} {minimum}, got {f}")
    if maximum is not None and (f > maximum or open_high and f == maximum):
        raise ValueError(f"{name} must be {'<' if open_high else '<='} {maximum}, got {f}")
    return f


def check_fraction(v, name: str, *, open_high: bool = False) -> float:
    """``v`` in ``[0, 1]`` (``[0, 1)`` with ``open_high``), e.g. a sparsity."""
    return check_float(v, name, minimum=0.0, maximum=1.0, open_high=open_high)


def check_choice(v, name: str, allowed: Iterable) -> object:
    """``v`` if it is one of ``allowed``."""
    allowed = list(allowed)
    if v not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {v!r}")
    return v


def check_tensor(t, name: str, *, ndim: int | Sequence[int] | None = None, floating: bool = False,
                 finite: bool = False) -> torch.Tensor:
    """``t`` if it is a tensor of the allowed number of dimensions (and floating/finite if asked)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if ndim is not None:
        dims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if t.dim() not in dims:
            raise ValueError(f"{name} must have {' or '.join(map(str, dims))} dimensions, got shape {tuple(t.shape)}")
    if floating and not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
    if finite and t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or Inf")
    return t


def check_model(model) -> nn.Module:
    """``model`` if it is an ``nn.Module``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    return model


def check_bits(bits, name: str = "bits", *, low: int = 1, high: int = 32) -> int:
    """A bit width in ``[low, high]``."""
    return check_int(bits, name, minimum=low, maximum=high)


def check_finite_range(lo, hi, name: str = "range") -> tuple[float, float]:
    """``(lo, hi)`` as finite floats with ``lo < hi`` (a zero-width or reversed range is refused)."""
    lo = check_float(lo, f"{name} low end")
    hi = check_float(hi, f"{name} high end")
    if not lo < hi:
        raise ValueError(f"{name} must have low < high (a non-empty interval), got [{lo}, {hi}]")
    return lo, hi
