"""Where sparsity is, and how much a layer tolerates: activation sparsity and the sensitivity sweep.

After the survey's section on network sparsification (Han et al. 2015, Fig. 6: prune one layer
at a time and watch the accuracy) and its section on sparse accelerators (the "free" zeros that
ReLU produces, which Cnvlutin and EIE skip in hardware).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import torch
from torch import nn

from .. import checks, reparam, train
from ..rows import Row, Rows
from .masks import check_sparsity, prunable_layers, prune_

__all__ = ["activation_sparsity", "input_sparsity", "SensitivityPoint", "SensitivitySweep", "sensitivity_sweep",
           "sparsities_from_sensitivity"]

_TRACE_KEY = "sparsity.trace"


def _trace(model: nn.Module, x: torch.Tensor, which: str) -> dict[str, float]:
    checks.check_model(model)
    checks.check_tensor(x, "x")
    layers = prunable_layers(model)
    out: dict[str, float] = {}

    def record(name):
        def fn(t: torch.Tensor) -> torch.Tensor:
            out[name] = float((t <= 0).sum() if which == "relu" else (t == 0).sum()) / t.numel()
            return t  # observe only
        return fn

    attach = reparam.attach_input_hook if which == "input" else reparam.attach_output_hook
    handles = [attach(m, _TRACE_KEY, record(n)) for n, m in layers.items()]
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    return out


def activation_sparsity(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Fraction of each hidden layer's outputs that a following ReLU sets to zero (output ≤ 0), on inputs ``x``.

    ``x``: a batch ``[N, ...]`` the model accepts → ``{layer: fraction}``. The last layer
    (logits, no ReLU) is left out. This is the "free" sparsity that Cnvlutin and EIE skip in
    hardware (after the survey's section on sparse accelerators).
    """
    result = _trace(model, x, "relu")
    result.pop(list(prunable_layers(model))[-1], None)
    return result


def input_sparsity(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Fraction of exact zeros in each layer's *input* (after ReLU and pooling), on inputs ``x``."""
    return _trace(model, x, "input")


@dataclass(frozen=True)
class SensitivityPoint(Row):
    """One point of a sensitivity sweep: ``layer`` alone pruned to ``sparsity``, ``accuracy`` in %."""

    layer: str
    sparsity: float
    accuracy: float


class SensitivitySweep(dict):
    """``{layer: [accuracy (%) at sparsities[0], ...]}`` with the swept ``sparsities`` attached.

    Reads exactly like the dict it always was (``sweep["fc1"][0]``, ``sweep.items()``); adds
    :meth:`rows` (typed :class:`SensitivityPoint` rows) and :meth:`to_frame`.
    """

    def __init__(self, accuracies: Mapping[str, Sequence[float]], sparsities: Sequence[float]):
        sps = tuple(float(s) for s in sparsities)
        for n, accs in accuracies.items():
            if len(accs) != len(sps):
                raise ValueError(f"layer {n!r}: {len(accs)} accuracies for {len(sps)} sparsities")
        super().__init__({n: [float(a) for a in accs] for n, accs in accuracies.items()})
        self.sparsities = sps

    def rows(self) -> Rows:
        """One :class:`SensitivityPoint` per (layer, sparsity), layers in order."""
        return Rows(SensitivityPoint(n, s, a) for n, accs in self.items() for s, a in zip(self.sparsities, accs))

    def to_frame(self):
        """A pandas DataFrame with columns ``layer``, ``sparsity``, ``accuracy``."""
        return self.rows().to_frame()


def sensitivity_sweep(model: nn.Module, sparsities: Sequence[float], *, layers: Iterable[str] | None = None,
                      split: str = "val") -> SensitivitySweep:
    """Prune one layer at a time (no retraining) at each sparsity; accuracy (%) on ``split``.

    Returns a :class:`SensitivitySweep`, ``{layer: [accuracy at sparsities[0], ...]}``. The model
    is not changed. A layer whose curve stays flat to high sparsity is redundant; a steep one is
    sensitive (Han et al. 2015, Fig. 6). Cost: ``len(layers) · len(sparsities)`` evaluations.
    """
    checks.check_model(model)
    sps = [check_sparsity(s) for s in sparsities]
    if not sps:
        raise ValueError("sparsities must not be empty")
    chosen = list(reparam.select_layers(model, layers))
    out: dict[str, list[float]] = {}
    for n in chosen:
        accs = []
        for s in sps:
            m = copy.deepcopy(model)
            prune_(m, {n: s})
            accs.append(train.evaluate(m, split))
        out[n] = accs
    return SensitivitySweep(out, sps)


def sparsities_from_sensitivity(sweep: Mapping[str, Sequence[float]], sparsities: Sequence[float],
                                baseline_accuracy: float, max_drop: float) -> dict[str, float]:
    """Per layer, the highest swept sparsity up to which *every* swept accuracy stays within
    ``max_drop`` points of ``baseline_accuracy`` (0.0 when even the first one does not).

    >>> sparsities_from_sensitivity({"a": [97.0, 96.9, 95.0]}, [0.5, 0.7, 0.9], 97.0, 0.5)
    {'a': 0.7}
    """
    if not isinstance(sweep, Mapping):
        raise TypeError(f"sweep must be a mapping layer -> accuracies, got {type(sweep).__name__}")
    baseline_accuracy = checks.check_float(baseline_accuracy, "baseline_accuracy")
    max_drop = checks.check_float(max_drop, "max_drop", minimum=0.0)
    out = {}
    for n, accs in sweep.items():
        if len(accs) != len(sparsities):
            raise ValueError(f"layer {n!r}: {len(accs)} accuracies for {len(sparsities)} sparsities")
        best = 0.0
        for s, a in zip(sparsities, accs):
            if a < baseline_accuracy - max_drop - 1e-9:
                break
            best = float(s)
        out[n] = best
    return out
