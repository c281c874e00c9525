"""Adversarial robustness of (compressed) networks: FGSM and PGD in the pixel-space L∞ ball.

After the survey's discussion of the *influence on security*: compression changes the function a
network computes, so it may change how easily a small, deliberately chosen input perturbation
flips its decision. This module measures that with the two standard white-box attacks.

* **FGSM** (Goodfellow, Shlens, Szegedy 2015, "Explaining and Harnessing Adversarial Examples"):
  one step of size ε along the sign of the input gradient of the loss,
  ``x' = clip(x + ε · sign(∇ₓ L(f(x), y)))``.
* **PGD** (Madry et al. 2018, "Towards Deep Learning Models Resistant to Adversarial Attacks"):
  ``steps`` FGSM steps of size ``alpha``, each followed by a projection back onto the ε-ball
  around ``x`` (and onto the valid pixel range), from a random start inside the ball.

Units: ``eps`` and ``alpha`` are in *pixel units* (an image lives in [0, 1]); the networks of the
book read normalised images ``(pixel − mean) / std``, so a pixel-space step ε becomes ε / std in
the normalised input. ``pixel_range`` gives the valid pixel interval (``None``: no clipping, as in
the closed-form analysis of a linear model).

Quantized and binary networks of chapter 4 use a straight-through estimator in their backward
pass; the attacks then follow that surrogate gradient (the usual "BPDA" white-box attack, Athalye
et al. 2018), which is what an attacker with the model file would do.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from . import data

__all__ = ["Normalization", "MNIST_NORMALIZATION", "fgsm", "pgd", "attack_accuracy", "robustness_curve",
           "linear_fgsm_closed_form", "robustness_table", "margin_loss", "LOSSES", "within_interval",
           "match_clean_accuracy"]


@dataclass(frozen=True)
class Normalization:
    """How a model's input relates to pixels: ``input = (pixel − mean) / std``."""

    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self):
        if not self.std > 0:
            raise ValueError(f"std must be > 0, got {self.std!r}")


#: The normalisation of the embedded MNIST (:mod:`companion.data`).
MNIST_NORMALIZATION = Normalization(data.MNIST_MEAN, data.MNIST_STD)


def _check_eps(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number (pixel units, an image lives in [0, 1]), got {value!r}")
    value = float(value)
    if not value >= 0 or value != value:
        raise ValueError(f"{name} must be >= 0 (pixel units, an image lives in [0, 1]), got {value!r}")
    return value


def _check_inputs(model, x, y):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"x and y must be tensors, got {type(x).__name__} and {type(y).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor [N, ...], got dtype {x.dtype}")
    if y.dtype != torch.int64 or y.dim() != 1 or len(y) != len(x):
        raise ValueError(f"y must be int64 class labels of shape [{len(x)}], got {y.dtype} {tuple(y.shape)}")


def _bounds(norm: Normalization, pixel_range):
    if pixel_range is None:
        return None
    lo, hi = pixel_range
    if not lo < hi:
        raise ValueError(f"pixel_range must be (low, high) with low < high, got {pixel_range!r}")
    return (lo - norm.mean) / norm.std, (hi - norm.mean) / norm.std


LOSSES = ("ce", "margin")


def margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Carlini–Wagner margin ``Σ_i max_{k≠y_i} z_ik − z_iy_i``: positive once a sample is misclassified.

    Unlike the cross-entropy, its gradient does not vanish when the softmax saturates (a
    network with huge logits, e.g. ±1 binary weights without a scale, gives ``p − e_y = 0`` in
    float32 for confident samples — a form of *gradient masking*).
    """
    true = logits.gather(1, y[:, None])[:, 0]
    other = logits.masked_fill(nn.functional.one_hot(y, logits.shape[1]).bool(), float("-inf")).amax(1)
    return (other - true).sum()


def _loss_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "ce") -> torch.Tensor:
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    with torch.enable_grad():  # attacks work even when called under torch.no_grad()
        x = x.detach().clone().requires_grad_(True)
        logits = model(x)
        value = (nn.functional.cross_entropy(logits, y, reduction="sum") if loss == "ce"
                 else margin_loss(logits, y))
        (grad,) = torch.autograd.grad(value, x)
    return grad


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
         normalization: Normalization = MNIST_NORMALIZATION,
         pixel_range: tuple[float, float] | None = (0.0, 1.0), loss: str = "ce") -> torch.Tensor:
    """Fast gradient sign method: ``x' = clip(x + (ε/std) · sign(∇ₓ CE(model(x), y)))``.

    ``x``: normalised inputs [N, ...]; ``y``: labels [N] (int64); ``eps``: pixel units (≥ 0).
    ``loss``: ``"ce"`` (cross-entropy, the paper's) or ``"margin"`` (:func:`margin_loss`).
    Returns the adversarial inputs (normalised, same shape, detached). The model is put in
    eval mode for the attack and restored afterwards; its weights are not changed.

    >>> lin = nn.Linear(2, 2, bias=False); _ = lin.weight.data.copy_(torch.tensor([[1., 0.], [0., 1.]]))
    >>> fgsm(lin, torch.zeros(1, 2), torch.tensor([0]), 0.1, normalization=Normalization(), pixel_range=None)
    tensor([[-0.1000,  0.1000]])
    """
    _check_inputs(model, x, y)
    eps = _check_eps("eps", eps)
    bounds = _bounds(normalization, pixel_range)
    was_training = model.training
    model.eval()
    try:
        step = eps / normalization.std
        x_adv = x.detach() + step * _loss_grad(model, x, y, loss).sign()
        if bounds is not None:
            x_adv = x_adv.clamp(*bounds)
    finally:
        model.train(was_training)
    return x_adv.detach()


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, alpha: float | None = None,
        steps: int = 10, random_start: bool = True, seed: int = 0,
        normalization: Normalization = MNIST_NORMALIZATION,
        pixel_range: tuple[float, float] | None = (0.0, 1.0), loss: str = "ce") -> torch.Tensor:
    """Projected gradient descent (L∞, Madry et al. 2018): iterate FGSM steps inside the ε-ball.

    ``x⁰ = x + U(−ε, ε)`` (if ``random_start``), then ``steps`` times
    ``xᵗ⁺¹ = Π_{B∞(x, ε) ∩ range}(xᵗ + α · sign(∇ₓ CE(model(xᵗ), y)))``.
    ``alpha`` defaults to ``2.5 · ε / steps`` (Madry et al.'s rule of thumb). All of ``eps`` and
    ``alpha`` in pixel units; the random start is seeded (``seed``), so the attack is
    reproducible. Shapes and ``loss`` as in :func:`fgsm`.
    """
    _check_inputs(model, x, y)
    eps = _check_eps("eps", eps)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    alpha = 2.5 * eps / steps if alpha is None else _check_eps("alpha", alpha)
    bounds = _bounds(normalization, pixel_range)
    radius, step = eps / normalization.std, alpha / normalization.std
    x0 = x.detach()
    was_training = model.training
    model.eval()
    try:
        x_adv = x0.clone()
        if random_start and radius > 0:
            gen = torch.Generator().manual_seed(seed)
            noise = (torch.rand(x0.shape, generator=gen) * 2 - 1).to(x0.device, x0.dtype)
            x_adv = x_adv + radius * noise
        for _ in range(steps):
            if bounds is not None:
                x_adv = x_adv.clamp(*bounds)
            x_adv = x_adv + step * _loss_grad(model, x_adv, y, loss).sign()
            x_adv = torch.max(torch.min(x_adv, x0 + radius), x0 - radius)
        if bounds is not None:
            x_adv = x_adv.clamp(*bounds)
    finally:
        model.train(was_training)
    return x_adv.detach()


def attack_accuracy(model: nn.Module, eps: float, *, attack: str = "fgsm", split: str | tuple = "test",
                    n: int | None = None, batch_size: int = 500, **attack_kw) -> float:
    """Top-1 accuracy (%) of ``model`` on adversarial versions of a split (first ``n`` images).

    ``attack``: ``"fgsm"`` or ``"pgd"`` (``attack_kw`` go to :func:`pgd`, e.g. ``steps=10``).
    ``eps = 0`` gives the clean accuracy (up to the pixel clipping, a no-op on real images).
    """
    from .train import _as_xy  # the hall's split reader (same splits as train.evaluate)
    if attack not in ("fgsm", "pgd"):
        raise ValueError(f"attack must be 'fgsm' or 'pgd', got {attack!r}")
    eps = _check_eps("eps", eps)
    x, y = _as_xy(split)
    if n is not None:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int or None, got {n!r}")
        x, y = x[:n], y[:n]
    fn = fgsm if attack == "fgsm" else pgd
    correct = 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        x_adv = fn(model, xb, yb, eps, **attack_kw)
        with torch.no_grad():
            correct += int((model(x_adv).argmax(1) == yb).sum())
    return round(100.0 * correct / len(y), 6)


def robustness_curve(model: nn.Module, eps_values: Sequence[float], *, attack: str = "fgsm",
                     split: str | tuple = "test", n: int | None = None, **attack_kw) -> list[float]:
    """Adversarial accuracy (%) at each ε of ``eps_values`` (see :func:`attack_accuracy`)."""
    if isinstance(eps_values, (str, bytes)) or not isinstance(eps_values, Sequence) or not len(eps_values):
        raise TypeError(f"eps_values must be a non-empty sequence of numbers, got {eps_values!r}")
    return [attack_accuracy(model, e, attack=attack, split=split, n=n, **attack_kw) for e in eps_values]


def linear_fgsm_closed_form(weight: torch.Tensor, bias: torch.Tensor | None, x: torch.Tensor, y: torch.Tensor,
                            eps: float) -> torch.Tensor:
    """FGSM on a linear softmax classifier, in closed form (no autograd; no clipping, std = 1).

    For logits ``z = W x + b`` and cross-entropy, ``∇ₓ L = Wᵀ (softmax(z) − onehot(y))``, so
    ``x' = x + ε · sign(Wᵀ (p − e_y))``. ``weight`` [C, D], ``x`` [N, D], ``y`` [N].
    The tests compare :func:`fgsm` against this formula.
    """
    eps = _check_eps("eps", eps)
    z = x @ weight.T + (bias if bias is not None else 0)
    p = torch.softmax(z, dim=1)
    onehot = nn.functional.one_hot(y, weight.shape[0]).to(p.dtype)
    return x + eps * ((p - onehot) @ weight).sign()


def robustness_table(models: dict[str, nn.Module], eps_values: Sequence[float], *,
                     attacks: Sequence[str] = ("fgsm", "pgd"), split: str | tuple = "test", n: int | None = None,
                     pgd_steps: int = 10, seed: int = 0) -> list[dict]:
    """Adversarial accuracy of several models: one row ``{"model", "attack", "eps", "accuracy"}`` per
    combination (``eps`` in pixel units; PGD with ``pgd_steps`` steps and a seeded random start).
    An attack is ``"fgsm"`` or ``"pgd"``, optionally with a loss: ``"pgd-margin"``."""
    if not isinstance(models, dict) or not models:
        raise ValueError("models must be a non-empty dict name -> nn.Module")
    rows = []
    for name, model in models.items():
        for attack in attacks:
            kind, _, loss = attack.partition("-")
            kw = {"steps": pgd_steps, "seed": seed} if kind == "pgd" else {}
            if loss:
                kw["loss"] = loss
            for eps in eps_values:
                rows.append({"model": name, "attack": attack, "eps": float(eps),
                             "accuracy": attack_accuracy(model, eps, attack=kind, split=split, n=n, **kw)})
    return rows


# --- comparing robustness fairly: at matched clean accuracy ---------------------------------------

def within_interval(accuracy: float, reference: float, n: int, confidence: float = 0.95) -> bool:
    """Whether ``accuracy`` (%) lies inside the Wilson interval of ``reference`` (%, measured on ``n``
    images): the two clean accuracies are then indistinguishable on this test set, so a difference
    in robustness is not a side effect of a worse classifier (:func:`companion.stats.accuracy_interval`)."""
    from .stats import accuracy_interval
    if isinstance(accuracy, bool) or not isinstance(accuracy, (int, float)) or not 0 <= accuracy <= 100:
        raise ValueError(f"accuracy must be a percentage in [0, 100], got {accuracy!r}")
    return accuracy_interval(reference, n, confidence).contains(float(accuracy))


def match_clean_accuracy(candidates: dict[str, float], reference: float, n: int,
                         confidence: float = 0.95) -> str:
    """The *last* of ``candidates`` (``{label: clean accuracy %}``, ordered from least to most
    compressed) whose clean accuracy lies inside the Wilson interval of ``reference`` — the most
    compressed model that is still as accurate as the reference on this test set. A ``ValueError``
    names the accuracies and the interval when none qualifies."""
    from .stats import accuracy_interval
    if not isinstance(candidates, dict) or not candidates:
        raise ValueError("candidates must be a non-empty dict {label: clean accuracy in %}")
    ok = [label for label, acc in candidates.items() if within_interval(acc, reference, n, confidence)]
    if not ok:
        iv = accuracy_interval(reference, n, confidence)
        raise ValueError(f"no candidate's clean accuracy {candidates} lies in the {100 * confidence:.0f} % interval "
                         f"[{iv.low:.2f}, {iv.high:.2f}] of the reference {reference} %; train them longer or "
                         "compress less")
    return ok[-1]
