"""Pruning schedules: Han et al.'s iterative prune → retrain loop and Zhu & Gupta's gradual (AGP) pruning.

After the survey's section on network sparsification. Both change the model in place and keep
the masks attached (call :func:`companion.sparsity.bake_masks_` when done); both return typed rows.

* :func:`geometric_schedule` / :func:`iterative_prune_` — Han et al. 2015, "Learning both
  Weights and Connections": a few rounds of *prune → retrain*, the same fraction each round;
* :func:`polynomial_schedule` / :func:`gradual_prune_` — Zhu & Gupta 2017, "To prune, or not to
  prune": raise the sparsity along a cubic while training (automated gradual pruning, AGP).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from torch import nn

from .. import checks, reparam, train
from ..rows import Row, Rows
from .masks import check_sparsity, prune_, prunable_layers, weight_ratio

__all__ = ["geometric_schedule", "polynomial_schedule", "PruneRound", "GradualStep", "iterative_prune_",
           "gradual_prune_", "iterative_prune", "gradual_prune"]


def geometric_schedule(final_sparsity: float, steps: int) -> list[float]:
    """Sparsities of ``steps`` prune → retrain rounds that keep the same *fraction* each round.

    Density after round ``i`` is ``(1 − s_f)^(i/steps)``, so round ``i`` reaches sparsity
    ``s_i = 1 − (1 − s_f)^(i/steps)`` (Han et al. 2015's iterative pruning).

    >>> [round(s, 3) for s in geometric_schedule(0.96, 2)]
    [0.8, 0.96]
    """
    s = check_sparsity(final_sparsity, "final_sparsity")
    steps = checks.check_int(steps, "steps", minimum=1)
    return [1.0 - (1.0 - s) ** (i / steps) for i in range(1, steps + 1)]


def polynomial_schedule(step: int, final_sparsity: float, *, begin_step: int, end_step: int,
                        initial_sparsity: float = 0.0, power: int = 3) -> float:
    """Zhu & Gupta 2017's gradual schedule ``s_t = s_f + (s_i − s_f)·(1 − (t − t_0)/(t_1 − t_0))^power``.

    Before ``begin_step`` (``t_0``) it is ``initial_sparsity``, after ``end_step`` (``t_1``)
    ``final_sparsity``: prune fast while the network is redundant, slowly as fewer weights remain.

    >>> polynomial_schedule(50, 0.9, begin_step=0, end_step=100)
    0.7875
    """
    s_f = check_sparsity(final_sparsity, "final_sparsity")
    s_i = check_sparsity(initial_sparsity, "initial_sparsity")
    begin_step = checks.check_int(begin_step, "begin_step", minimum=0)
    end_step = checks.check_int(end_step, "end_step", minimum=0)
    if end_step <= begin_step:
        raise ValueError(f"need begin_step < end_step, got begin_step={begin_step}, end_step={end_step}")
    power = checks.check_int(power, "power", minimum=1)
    step = checks.check_int(step, "step")
    t = min(max(step, begin_step), end_step)
    frac = (t - begin_step) / (end_step - begin_step)
    return s_f + (s_i - s_f) * (1.0 - frac) ** power


@dataclass(frozen=True)
class PruneRound(Row):
    """One round of :func:`iterative_prune_`: the sparsities it pruned to, the resulting
    ``weights / non-zeros`` ratio, and the accuracy (%) right after pruning and after retraining."""

    step: int
    sparsity: dict = field(hash=False)
    ratio: float
    acc_pruned: float
    acc_retrained: float


@dataclass(frozen=True)
class GradualStep(Row):
    """One re-pruning of :func:`gradual_prune_`: the optimiser step and the sparsity per layer."""

    step: int
    sparsity: dict = field(hash=False)


def _targets(model: nn.Module, targets) -> dict[str, float]:
    if isinstance(targets, Mapping):
        reparam.select_layers(model, list(targets))
        return {n: check_sparsity(s, f"target of {n!r}") for n, s in targets.items()}
    s = check_sparsity(targets, "targets")
    return {n: s for n in prunable_layers(model)}


def iterative_prune_(model: nn.Module, targets: float | Mapping[str, float], *, steps: int, epochs_per_step: int,
                     lr: float = 5e-4, weight_decay: float = 0.0, seed: int = 0, shift_px: int = 0,
                     batch_size: int = 64, progress: bool = True, eval_split: str = "val") -> Rows:
    """Han et al. 2015's loop: ``steps`` rounds of *prune → retrain* up to the target sparsities.

    Round ``i`` prunes every layer to its :func:`geometric_schedule` sparsity, then retrains
    ``epochs_per_step`` epochs (fine-tuning seed ``seed + i``) with the masks attached, so pruned
    weights stay zero. ``targets``: one sparsity for every prunable layer or ``{layer: sparsity}``.
    The model is changed in place and keeps its masks. Returns one :class:`PruneRound` per round
    (accuracies in % on ``eval_split``); ``rows[i]["acc_retrained"]`` also works.
    """
    checks.check_model(model)
    tg = _targets(model, targets)
    steps = checks.check_int(steps, "steps", minimum=1)
    epochs_per_step = checks.check_int(epochs_per_step, "epochs_per_step", minimum=0)
    schedules = {n: geometric_schedule(s, steps) for n, s in tg.items()}
    history = Rows()
    for i in range(steps):
        current = {n: schedules[n][i] for n in tg}
        prune_(model, current)
        acc_pruned = train.evaluate(model, eval_split)
        if epochs_per_step:
            train.fit(model, epochs=epochs_per_step, lr=lr, weight_decay=weight_decay, seed=seed + i,
                      shift_px=shift_px, batch_size=batch_size, progress=progress,
                      desc=f"prune step {i + 1}/{steps}")
        history.append(PruneRound(i + 1, current, weight_ratio(model), acc_pruned, train.evaluate(model, eval_split)))
    return history


def gradual_prune_(model: nn.Module, targets: float | Mapping[str, float], *, epochs: int,
                   prune_fraction: float = 0.75, frequency: int = 10, lr: float = 5e-4, weight_decay: float = 0.0,
                   seed: int = 0, shift_px: int = 0, batch_size: int = 64, progress: bool = True) -> Rows:
    """Zhu & Gupta 2017: raise the sparsity while training along :func:`polynomial_schedule`.

    Training runs ``epochs`` epochs; the sparsity rises from 0 to the targets during the first
    ``prune_fraction`` of the optimiser steps (``t_1 = ⌊prune_fraction · epochs · steps/epoch⌋``),
    re-pruning every ``frequency`` steps, and the rest fine-tunes at the final sparsity. In
    place, masks kept. Returns one :class:`GradualStep` per re-pruning.
    """
    checks.check_model(model)
    tg = _targets(model, targets)
    epochs = checks.check_int(epochs, "epochs", minimum=1)
    prune_fraction = checks.check_float(prune_fraction, "prune_fraction", minimum=0.0, maximum=1.0, open_low=True)
    frequency = checks.check_int(frequency, "frequency", minimum=1)
    x, _ = train._as_xy("train")
    steps_per_epoch = math.ceil(len(x) / batch_size)
    end = max(1, int(prune_fraction * epochs * steps_per_epoch))
    prune_(model, {n: 0.0 for n in tg})  # attach the masks before the optimiser is built
    log = Rows()

    def callback(step: int, m: nn.Module) -> None:
        if step % frequency == 0 and step <= end or step == end:
            cur = {n: polynomial_schedule(step, s, begin_step=0, end_step=end) for n, s in tg.items()}
            prune_(m, cur)
            log.append(GradualStep(step, cur))

    train.fit(model, epochs=epochs, lr=lr, weight_decay=weight_decay, seed=seed, shift_px=shift_px,
              batch_size=batch_size, callbacks=[callback], progress=progress, desc="gradual pruning")
    prune_(model, tg)  # exactly the targets at the end
    return log


#: The names the notebooks and :mod:`companion.joint` have always used (same functions).
iterative_prune = iterative_prune_
gradual_prune = gradual_prune_
