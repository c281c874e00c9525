"""Per-layer sensitivity across methods, and the rule that turns it into per-layer settings.

After the survey's discussion of sensitivity analysis: layers differ in how much pruning or how
few bits they tolerate (Han et al. 2015, Fig. 6 for pruning; Han et al. 2016 for bits — in
AlexNet conv layers need >= 4 bits while FC layers hold to 2). The measurement is one-at-a-time:
compress *one* layer, leave the others float32, measure the accuracy (no retraining, so it is a
cheap, pessimistic probe). The rule: per layer, the most aggressive setting whose measured drop
stays within a tolerance.

The sweeps call chapter 5's :func:`companion.sparsity.sensitivity_sweep` and chapter 4's
:func:`companion.quantization.quantize_weights` (k-means weight sharing of one layer), so the two
methods are measured the same way and shown side by side.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from torch import nn

from .. import train

__all__ = ["Sensitivity", "layer_sensitivity", "settings_from_sensitivity"]


@dataclass(frozen=True)
class Sensitivity:
    """Accuracy (%) when one layer alone is compressed: ``pruning[layer][i]`` at ``sparsities[i]``,
    ``bits[layer][j]`` at ``bit_widths[j]``; ``baseline`` is the uncompressed accuracy on ``split``."""

    baseline: float
    sparsities: tuple[float, ...]
    bit_widths: tuple[int, ...]
    pruning: Mapping[str, tuple[float, ...]]
    bits: Mapping[str, tuple[float, ...]]
    split: str = "val"

    def to_frame(self):
        """A long pandas DataFrame: layer, method, setting, accuracy, drop (pp)."""
        import pandas as pd
        rows = [{"layer": n, "method": "prune", "setting": s, "accuracy": a, "drop": self.baseline - a}
                for n, accs in self.pruning.items() for s, a in zip(self.sparsities, accs)]
        rows += [{"layer": n, "method": "bits", "setting": b, "accuracy": a, "drop": self.baseline - a}
                 for n, accs in self.bits.items() for b, a in zip(self.bit_widths, accs)]
        return pd.DataFrame(rows)


def layer_sensitivity(model: nn.Module, *, sparsities: Sequence[float] = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98),
                      bit_widths: Sequence[int] = (1, 2, 3, 4, 5, 6, 8), split: str = "val",
                      layers: Sequence[str] | None = None) -> Sensitivity:
    """One-layer-at-a-time sweeps of pruning (sparsity) and k-means weight sharing (bits).

    Cost: ``len(layers) · (len(sparsities) + len(bit_widths))`` evaluations on ``split``.
    The model is not changed.
    """
    from .. import quantization, sparsity
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not sparsities or not bit_widths:
        raise ValueError("sparsities and bit_widths must not be empty")
    if any(isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= 16 for b in bit_widths):
        raise ValueError(f"bit_widths must be ints in [1, 16], got {list(bit_widths)}")
    names = list(sparsity.prunable_layers(model)) if layers is None else list(layers)
    prune = sparsity.sensitivity_sweep(model, list(sparsities), layers=names, split=split)
    # k-means weight sharing of one layer at a time (chapter 4's post-training quantizer)
    q = {n: {b: train.evaluate(quantization.quantize_weights(model, {n: b}, method="kmeans", layers=[n]), split)
             for b in bit_widths} for n in names}
    return Sensitivity(train.evaluate(model, split), tuple(float(s) for s in sparsities), tuple(bit_widths),
                       {n: tuple(prune[n]) for n in names}, {n: tuple(q[n][b] for b in bit_widths) for n in names},
                       split)


def settings_from_sensitivity(sens: Sensitivity, max_drop: float = 1.0, *, max_sparsity: float | None = None,
                              min_bits: int | None = None) -> dict[str, dict[str, float]]:
    """The rule: per layer, the highest swept sparsity and the fewest swept bits whose one-layer
    drop stays within ``max_drop`` points (pruning: every sparsity up to it must stay within,
    as in :func:`companion.sparsity.sparsities_from_sensitivity`; bits: every width from it up).

    Returns ``{layer: {"sparsity": s, "bits": b}}``; optional caps ``max_sparsity`` / ``min_bits``.
    Each layer is probed alone, so the drops of several layers add up: give the rule a
    tolerance smaller than the total drop you accept, and retrain after applying it.
    """
    from .. import sparsity
    if not isinstance(sens, Sensitivity):
        raise TypeError(f"expected a Sensitivity, got {type(sens).__name__}")
    if isinstance(max_drop, bool) or not isinstance(max_drop, (int, float)) or max_drop < 0:
        raise ValueError(f"max_drop must be a number >= 0 (percentage points), got {max_drop!r}")
    sps = sparsity.sparsities_from_sensitivity(dict(sens.pruning), list(sens.sparsities), sens.baseline, max_drop)
    out = {}
    for n in sens.pruning:
        s = sps[n] if max_sparsity is None else min(sps[n], max_sparsity)
        accs = dict(zip(sens.bit_widths, sens.bits[n]))
        widths = sorted(sens.bit_widths, reverse=True)
        best = widths[0]
        for b in widths:  # walk down from the widest; stop at the first width that loses too much
            if accs[b] < sens.baseline - max_drop - 1e-9:
                break
            best = b
        if min_bits is not None:
            best = max(best, min_bits)
        out[n] = {"sparsity": s, "bits": int(best)}
    return out
