"""Exercises of chapter 4 (data quantization), registered when ``companion.quantization`` is imported.

Each exercise's reference answer is computed by the library itself, so the check and the
chapter can never disagree: ``exercises.check("ch4.scale_zero_point", (scale, zero_point))``.
"""
from __future__ import annotations

import math

import torch

from .. import exercises
from .primitives import choose_qparams, fake_quantize_ste, qparams_from_range

__all__: list[str] = []


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
