"""Quantizing what flows through a network: activations (forward) and error gradients (backward).

After the survey's section on data quantization (activation and gradient quantization):

* :func:`calibrate_range` — a clip range for observed values: min/max, percentile or MSE-optimal
  (Banner et al. 2019);
* :class:`ActQuant` — fake quantization of a layer's *input*, with a frozen (calibrated), EMA
  (Jacob et al. 2018) or learned PACT clip (Choi et al. 2018); attached by
  :func:`attach_activation_quant_` as a named pre-hook (``companion.reparam.attach_input_hook``:
  attaching again replaces, :func:`remove_activation_quant_` removes);
* :class:`GradQuant` — identity forward, ``bits``-bit stochastic rounding of the error gradient
  backward (DoReFa-Net, Zhou et al. 2016; WAGE, Wu et al. 2018); attached by
  :func:`attach_gradient_quant_` as a named forward hook (``reparam.attach_output_hook``).
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping

import torch
from torch import nn

from .. import checks, reparam
from .primitives import (FakeQuantSTE, bits_per_layer, check_values, fake_quantize, qparams_from_range, qrange,
                         widen_range)

__all__ = ["CALIBRATIONS", "ACT_CLIPS", "ACT_HOOK", "GRAD_HOOK", "calibrate_range", "ActQuant",
           "attach_activation_quant_", "remove_activation_quant_", "calibrate_activations_", "GradQuant",
           "attach_gradient_quant_", "remove_gradient_quant_"]

CALIBRATIONS = ("minmax", "percentile", "mse")
ACT_CLIPS = ("ema", "pact")
#: Hook keys (``companion.reparam``) of the activation and gradient quantizers.
ACT_HOOK, GRAD_HOOK = "act_quant", "grad_quant"


def calibrate_range(x: torch.Tensor, bits: int, *, method: str = "minmax", percentile: float = 99.99,
                    scheme: str = "affine", grid: int = 60) -> tuple[float, float]:
    """Clip range ``(lo, hi)`` for the values ``x`` (activations collected on calibration data).

    * ``"minmax"``: ``(min x, max x)`` — every value in range, coarse steps if outliers exist;
    * ``"percentile"``: the ``100 − p`` and ``p`` percentiles — outliers clip, steps shrink;
    * ``"mse"``: the range among ``grid`` shrinkings of min/max minimising
      ``‖x − fake_quantize(x)‖²`` (e.g. as in TensorRT/Banner et al. 2019).

    Constant ``x`` gives ``lo == hi``; the quantizers widen such a range (:func:`widen_range`).
    """
    x = check_values(x).detach().reshape(-1).to(torch.float32)
    checks.check_choice(method, "method", CALIBRATIONS)
    qrange(bits, scheme)
    lo, hi = float(x.min()), float(x.max())
    if method == "percentile":
        percentile = checks.check_float(percentile, "percentile", minimum=50, maximum=100, open_low=True)
        sample = x if x.numel() <= 1_000_000 else x[torch.randperm(x.numel(), generator=torch.Generator().manual_seed(0))[:1_000_000]]
        lo = float(torch.quantile(sample, 1 - percentile / 100))
        hi = float(torch.quantile(sample, percentile / 100))
    elif method == "mse":
        grid = checks.check_int(grid, "grid", minimum=1)
        best, best_err = (lo, hi), math.inf
        for f in torch.linspace(1.0, 0.2, grid).tolist():
            if not lo * f < hi * f:
                continue  # constant x: nothing to shrink
            qp = qparams_from_range(lo * f, hi * f, bits, scheme=scheme)
            err = float(((x - fake_quantize(x, qparams=qp)) ** 2).mean())
            if err < best_err:
                best, best_err = (lo * f, hi * f), err
        lo, hi = best
    return lo, hi


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

    The range goes through :func:`widen_range` (it always contains 0; an all-zero range gets
    ``scale = 1``). In ``"qat"`` mode before the first training batch the quantizer is the
    identity (no range is known yet); in ``"quant"`` mode without a range it raises.
    """

    MODES = ("observe", "quant", "qat")

    def __init__(self, bits: int, *, momentum: float = 0.1, clip: str = "ema", init_percentile: float = 99.0):
        super().__init__()
        qrange(bits)
        momentum = checks.check_float(momentum, "momentum", minimum=0.0, maximum=1.0, open_low=True)
        checks.check_choice(clip, "clip", ACT_CLIPS)
        init_percentile = checks.check_float(init_percentile, "init_percentile", minimum=0.0, maximum=100.0)
        self.bits, self.momentum, self.clip, self.init_percentile = bits, momentum, clip, init_percentile
        self.alpha = nn.Parameter(torch.tensor(1.0)) if clip == "pact" else None
        self.mode = "observe"
        self.observed: list[torch.Tensor] = []
        self.register_buffer("lo", torch.tensor(0.0))
        self.register_buffer("hi", torch.tensor(0.0))
        self.register_buffer("initialised", torch.tensor(False))

    def set_range(self, lo: float, hi: float) -> None:
        lo = checks.check_float(lo, "lo")
        hi = checks.check_float(hi, "hi")
        if lo > hi:
            raise ValueError(f"the clip range must have lo <= hi, got [{lo}, {hi}]")
        self.lo.fill_(lo)
        self.hi.fill_(hi)
        self.initialised.fill_(True)

    def qparams(self):
        """The :class:`QParams` of the current range (widened by :func:`widen_range`)."""
        lo, hi = widen_range(float(self.lo), float(self.hi), self.bits)
        return qparams_from_range(lo, hi, self.bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.check_choice(self.mode, "ActQuant.mode", self.MODES)
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
        if not bool(self.initialised):
            if self.mode == "quant":
                raise RuntimeError("ActQuant in 'quant' mode has no range: calibrate it first "
                                   "(calibrate_activations_ or set_range)")
            return x  # 'qat' before the first training batch: no range yet
        qp = self.qparams()
        return FakeQuantSTE.apply(x, qp.scale.to(x.device), qp.zero_point.to(x.device, x.dtype), qp.qmin, qp.qmax)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, clip={self.clip}, mode={self.mode}"


def attach_activation_quant_(model: nn.Module, bits: int | Mapping[str, int], *, layers: Iterable[str] | None = None,
                             skip_first: bool = False, clip: str = "ema") -> dict[str, ActQuant]:
    """Insert an :class:`ActQuant` in front of each conv/linear layer (a named pre-hook), in place.

    The quantizer is the submodule ``layer.act_quant`` (its range and PACT clip are in the state
    dict) and the hook is ``companion.reparam``'s input hook ``"act_quant"``: attaching again
    *replaces* both (never two quantizers in a row); :func:`remove_activation_quant_` takes them
    off. ``bits``: one width or ``{layer: bits}`` (unknown names raise; a dict selects the
    layers when ``layers`` is None). Returns ``{layer name: quantizer}`` in ``"observe"`` mode.
    ``skip_first=True`` leaves the network's input (the image) in float, as BNN does.
    """
    checks.check_model(model)
    checks.check_choice(clip, "clip", ACT_CLIPS)
    widths = bits_per_layer(bits, reparam.weight_layers(model), default=0)  # 0: not in the dict
    if layers is None and isinstance(bits, Mapping):
        chosen = {n: m for n, m in reparam.weight_layers(model).items() if n in bits}  # in model order
    else:
        chosen = reparam.select_layers(model, layers)
    missing = [n for n in chosen if widths[n] == 0]
    if missing:
        raise ValueError(f"the bits dict has no entry for layer(s) {missing} named in layers")
    out = {}
    for i, (name, layer) in enumerate(chosen.items()):
        if skip_first and i == 0:
            continue
        aq = ActQuant(widths[name], clip=clip)
        layer.add_module(ACT_HOOK, aq)
        reparam.attach_input_hook(layer, ACT_HOOK, aq)  # the module is the hook's function
        out[name] = aq
    return out


def remove_activation_quant_(model: nn.Module) -> nn.Module:
    """Take every activation quantizer (hook and ``act_quant`` submodule) off ``model``; in place."""
    checks.check_model(model)
    reparam.remove_hooks_(model, ACT_HOOK)
    for m in model.modules():
        if isinstance(getattr(m, ACT_HOOK, None), ActQuant):
            delattr(m, ACT_HOOK)
    return model


def calibrate_activations_(model: nn.Module, quantizers: Mapping[str, ActQuant], x: torch.Tensor, *,
                           method: str = "minmax", percentile: float = 99.99) -> dict[str, tuple[float, float]]:
    """Run ``x`` through ``model`` to observe each quantizer's input, then freeze its clip range."""
    checks.check_model(model)
    checks.check_tensor(x, "x", floating=True)
    for q in quantizers.values():
        q.mode, q.observed = "observe", []
    with torch.no_grad():
        model.eval()(x)
    ranges = {}
    for name, q in quantizers.items():
        if not q.observed:
            raise ValueError(f"the quantizer of {name!r} saw no input: is it attached to this model?")
        values = torch.cat(q.observed)
        lo, hi = calibrate_range(values, q.bits, method=method, percentile=percentile)
        q.set_range(lo, hi)
        q.mode, q.observed = "quant", []
        ranges[name] = (lo, hi)
    return ranges


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


def attach_gradient_quant_(model: nn.Module, bits: int, *, seed: int = 0) -> list[reparam.Handle]:
    """Quantize the error gradient at the output of every conv/linear layer to ``bits`` bits
    (the named output hook ``"grad_quant"`` wraps the output in :class:`GradQuant`; attaching
    again replaces it); in place. All layers share one generator seeded by ``seed``. Returns
    the removable handles (or :func:`remove_gradient_quant_`)."""
    checks.check_model(model)
    bits = checks.check_bits(bits, low=2)
    seed = checks.check_int(seed, "seed", minimum=0)
    if bits < 32:
        qrange(bits, "symmetric")
    gen = torch.Generator().manual_seed(seed)
    return [reparam.attach_output_hook(layer, GRAD_HOOK, lambda out: GradQuant.apply(out, bits, gen))
            for layer in reparam.weight_layers(model).values()]


def remove_gradient_quant_(model: nn.Module) -> nn.Module:
    """Take every gradient quantizer off ``model``; in place."""
    return reparam.remove_hooks_(checks.check_model(model), GRAD_HOOK)
