"""Binary and ternary weights: one or two bits per weight.

After the survey's section on data quantization (binary and ternary networks):

* :func:`binarize` — ``α·sign(w)``: BinaryConnect / BNN (``α = 1``, Courbariaux et al. 2015,
  Hubara et al. 2016) and XNOR-Net (``α = mean|w|`` per channel, Rastegari et al. 2016);
* :func:`ternarize` — TWN (Li, Zhang, Liu 2016): threshold ``0.7·mean|w|``, one scale;
* :class:`TTQWeight` — trained ternary quantization (Zhu, Han, Mao, Dally 2017): two learned scales;
* :class:`BinaryWeight`, :class:`TernaryWeight` — the same as weight transforms for
  ``companion.reparam.attach`` (quantization-aware training).

All are differentiable by a straight-through estimator.
"""
from __future__ import annotations

import torch
from torch import nn

from .. import checks
from .primitives import check_values, sign_ste

__all__ = ["BINARY_SCALES", "binarize", "ternarize", "TTQWeight", "BinaryWeight", "TernaryWeight"]

BINARY_SCALES = ("none", "xnor")


def _channel_mean_abs(w: torch.Tensor, per_channel: bool) -> torch.Tensor:
    if per_channel and w.dim() > 1:
        return w.abs().reshape(w.shape[0], -1).mean(1).reshape([-1] + [1] * (w.dim() - 1))
    return w.abs().mean()


def binarize(w: torch.Tensor, *, scale: str = "none", per_channel: bool = True) -> torch.Tensor:
    """Binary weights ``α·sign(w)`` (sign(0) = +1), differentiable by the STE.

    ``scale="none"``: ``α = 1`` (BinaryConnect, Courbariaux et al. 2015; BNN, Hubara et al.
    2016); ``scale="xnor"``: ``α = mean|w|`` per output channel (or per tensor), the
    L2-optimal scale of XNOR-Net (Rastegari et al. 2016).

    >>> binarize(torch.tensor([0.5, -0.1, 0.0])).tolist()
    [1.0, -1.0, 1.0]
    """
    w = check_values(w, "w")
    checks.check_choice(scale, "scale", BINARY_SCALES)
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
    w = check_values(w, "w")
    threshold_factor = checks.check_float(threshold_factor, "threshold_factor", minimum=0.0)
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
    """Trained ternary quantization (Zhu, Han, Mao, Dally 2017) as a weight transform.

    ``w_t = W_p`` where ``w > Δ``, ``−W_n`` where ``w < −Δ``, else 0, with ``Δ = t·max|w|``
    and learned positive scales ``W_p``, ``W_n``. Gradients: ``∂L/∂W_p = Σ_{w>Δ} ∂L/∂w_t``,
    ``∂L/∂W_n = −Σ_{w<−Δ} ∂L/∂w_t``; the latent weights get ``W_p·g`` / ``g`` / ``W_n·g`` (the
    paper's scaled STE).
    """

    def __init__(self, weight: torch.Tensor, threshold: float = 0.05):
        super().__init__()
        threshold = checks.check_float(threshold, "threshold", minimum=0.0, maximum=1.0, open_high=True)
        self.threshold = threshold
        wd = check_values(weight, "weight").detach()
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


class BinaryWeight(nn.Module):
    """Weight transform ``α·sign(w)`` (``scale``: ``"none"`` BinaryConnect, ``"xnor"`` XNOR-Net)."""

    def __init__(self, scale: str = "none"):
        super().__init__()
        self.scale = checks.check_choice(scale, "scale", BINARY_SCALES)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return binarize(w, scale=self.scale)


class TernaryWeight(nn.Module):
    """Weight transform of TWN: :func:`ternarize` with threshold ``0.7·mean|w|``."""

    def __init__(self, threshold_factor: float = 0.7):
        super().__init__()
        self.threshold_factor = checks.check_float(threshold_factor, "threshold_factor", minimum=0.0)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return ternarize(w, threshold_factor=self.threshold_factor)
