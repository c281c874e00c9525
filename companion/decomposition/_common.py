"""Checks and the error measure shared by every format of :mod:`companion.decomposition`."""
from __future__ import annotations

import torch

from .. import checks


def check_weight(t, name: str, ndim: int) -> torch.Tensor:
    """A floating-point tensor of ``ndim`` dimensions (a matrix, or a conv kernel [C_out, C_in, k_h, k_w])."""
    return checks.check_tensor(t, name, ndim=ndim, floating=True)


def check_rank(rank, name: str, max_rank: int) -> int:
    """A rank in ``[1, max_rank]`` (``max_rank``: the full rank of the shape being factorized)."""
    return checks.check_int(rank, name, minimum=1, maximum=max_rank)


def check_ratio(ratio, name: str = "ratio") -> float:
    """A compression ratio (dense / factorized weights): a finite number > 0."""
    return checks.check_float(ratio, name, minimum=0.0, open_low=True)


def relative_error(weight: torch.Tensor, approx: torch.Tensor) -> float:
    """Relative Frobenius error ``‖W − Ŵ‖_F / ‖W‖_F`` (0 = exact), computed in float64.

    >>> relative_error(torch.ones(2, 2), torch.zeros(2, 2))
    1.0
    """
    checks.check_tensor(weight, "weight")
    checks.check_tensor(approx, "approx")
    if weight.shape != approx.shape:
        raise ValueError(f"weight and approx must have the same shape, got {tuple(weight.shape)} vs {tuple(approx.shape)}")
    w, a = weight.detach().double(), approx.detach().double()
    norm = torch.linalg.norm(w)
    if norm == 0:
        raise ValueError("weight is all zeros: the relative error is undefined")
    return float(torch.linalg.norm(w - a) / norm)
