"""The chapter's cached recipes: pruned, channel-pruned, group-lasso and N:M models, and the
baseline's sensitivity sweep. Each result is cached on disk by :mod:`companion.train`.

Every recipe takes ``seed`` (default 0, the book's numbers): it selects the baseline
(``train.baseline(name, seed=seed)``) and the fine-tuning seed. A cache key holds the recipe's
spec, its parent's key (the baseline's) and a fingerprint of the source of the recipe and of the
transforms it relies on (``code=``), so editing any of them retrains instead of reusing stale
weights — no version counters.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from torch import nn

from .. import checks, train
from .analysis import SensitivitySweep, sensitivity_sweep
from .masks import Mask, bake_masks_, check_sparsity, magnitude_mask, prune_, set_mask_
from .schedules import geometric_schedule, gradual_prune_, iterative_prune_, polynomial_schedule
from .structured import _shrink, group_lasso_penalty, nm_mask, prune_channels, prune_nm_, select_channels

__all__ = ["PRUNING_METHODS", "pruned_model", "channel_pruned_model", "group_lasso_model", "nm_pruned_model",
           "SWEEP_SPARSITIES", "baseline_sensitivity"]

#: The pruning schedules :func:`pruned_model` can follow.
PRUNING_METHODS = ("one-shot", "iterative", "gradual")

#: The source every masked recipe depends on (the mask itself, how it is chosen, attached and baked).
_MASK_CODE = (Mask, magnitude_mask, set_mask_, prune_, bake_masks_)


def _targets_spec(targets, name: str = "targets"):
    if isinstance(targets, Mapping):
        return {str(k): check_sparsity(v, f"{name}[{k!r}]") for k, v in targets.items()}
    return check_sparsity(targets, name)


def pruned_model(name: str, targets: float | Mapping[str, float], *, method: str = "gradual", epochs: int = 6,
                 steps: int = 3, lr: float = 5e-4, weight_decay: float = 1e-4, seed: int = 0,
                 progress: bool = True) -> nn.Module:
    """The baseline ``name`` (seed ``seed``) pruned to ``targets`` and retrained, baked and cached on disk.

    ``method``: ``"one-shot"`` (prune once, retrain ``epochs``; ``epochs=0`` = no retraining),
    ``"iterative"`` (:func:`~companion.sparsity.iterative_prune_`, ``steps`` rounds sharing the
    ``epochs``) or ``"gradual"`` (:func:`~companion.sparsity.gradual_prune_` over ``epochs``).
    Same epoch budget for all three. ``targets``: one sparsity or ``{layer: sparsity}``.
    """
    checks.check_choice(method, "method", PRUNING_METHODS)
    epochs = checks.check_int(epochs, "epochs", minimum=0)
    steps = checks.check_int(steps, "steps", minimum=1)
    seed = checks.check_int(seed, "seed", minimum=0)
    if method == "iterative" and (epochs % steps or epochs == 0):
        raise ValueError(f"iterative pruning shares epochs over steps: epochs={epochs} is not a positive "
                         f"multiple of steps={steps}")
    if method == "gradual" and epochs == 0:
        raise ValueError("gradual pruning needs epochs >= 1, got 0")
    tg = _targets_spec(targets)
    spec = {"pruned": name, "targets": tg, "method": method, "epochs": epochs,
            "steps": steps if method == "iterative" else None, "lr": lr, "weight_decay": weight_decay, "seed": seed}

    def run(model: nn.Module) -> None:
        kw = dict(lr=lr, weight_decay=weight_decay, seed=seed, progress=progress)
        if method == "one-shot":
            prune_(model, tg)
            if epochs:
                train.fit(model, epochs=epochs, desc=f"retraining {name}", **kw)
        elif method == "iterative":
            iterative_prune_(model, tg, steps=steps, epochs_per_step=epochs // steps, **kw)
        else:
            gradual_prune_(model, tg, epochs=epochs, **kw)
        bake_masks_(model)

    return train.cached_model(spec, lambda: train.baseline(name, seed=seed, progress=progress), run,
                              name=f"pruned-{name}", parents=(train.baseline_key(name, seed=seed),),
                              code=(pruned_model, *_MASK_CODE, iterative_prune_, geometric_schedule, gradual_prune_,
                                    polynomial_schedule))


def channel_pruned_model(name: str, sparsity: float | Mapping[str, float], *, epochs: int = 3, lr: float = 5e-4,
                         weight_decay: float = 1e-4, seed: int = 0, base: nn.Module | None = None,
                         base_key: str | None = None, progress: bool = True) -> nn.Module:
    """The baseline ``name`` (seed ``seed``; or ``base``, identified by its cache key ``base_key``)
    with its lowest-L1 filters / neurons removed by :func:`~companion.sparsity.prune_channels`,
    fine-tuned ``epochs`` epochs; cached on disk."""
    if (base is None) != (base_key is None):
        raise ValueError("give both base and base_key (the cache key that identifies base, e.g. "
                         "train.key_of(base)) or neither")
    epochs = checks.check_int(epochs, "epochs", minimum=0)
    seed = checks.check_int(seed, "seed", minimum=0)
    plan = _targets_spec(sparsity, "sparsity")
    spec = {"channel_pruned": name, "plan": plan, "epochs": epochs, "lr": lr, "weight_decay": weight_decay,
            "seed": seed}
    parent = base_key if base is not None else train.baseline_key(name, seed=seed)
    source = base if base is not None else train.baseline(name, seed=seed, progress=progress)

    def fine_tune(model: nn.Module) -> None:
        if epochs:
            train.fit(model, epochs=epochs, lr=lr, weight_decay=weight_decay, seed=seed, progress=progress,
                      desc=f"fine-tuning {name}")

    return train.cached_model(spec, lambda: prune_channels(source, plan), fine_tune, name=f"chpruned-{name}",
                              parents=(parent,), code=(channel_pruned_model, prune_channels, select_channels, _shrink,
                                                       magnitude_mask))


def group_lasso_model(name: str, strength: float, *, epochs: int = 4, lr: float = 5e-4, seed: int = 0,
                      progress: bool = True) -> nn.Module:
    """The baseline ``name`` (seed ``seed``) retrained ``epochs`` epochs with
    :func:`~companion.sparsity.group_lasso_penalty` of ``strength`` (cached)."""
    strength = checks.check_float(strength, "strength", minimum=0.0)
    epochs = checks.check_int(epochs, "epochs", minimum=1)
    seed = checks.check_int(seed, "seed", minimum=0)
    spec = {"group_lasso": name, "strength": strength, "epochs": epochs, "lr": lr, "seed": seed}
    return train.cached_model(spec, lambda: train.baseline(name, seed=seed, progress=progress),
                              lambda m: train.fit(m, epochs=epochs, lr=lr, seed=seed, progress=progress,
                                                  regularizer=group_lasso_penalty(strength),
                                                  desc=f"group lasso {name}"),
                              name=f"grouplasso-{name}", parents=(train.baseline_key(name, seed=seed),),
                              code=(group_lasso_model, group_lasso_penalty))


def nm_pruned_model(name: str, n: int, m: int, *, epochs: int = 2, lr: float = 5e-4, weight_decay: float = 1e-4,
                    seed: int = 0, progress: bool = True) -> nn.Module:
    """The baseline ``name`` (seed ``seed``) with N:M masks (:func:`~companion.sparsity.prune_nm_`,
    every layer whose input size divides by ``m``), retrained ``epochs`` epochs with the masks
    attached, baked and cached."""
    n = checks.check_int(n, "n", minimum=1)
    m = checks.check_int(m, "m", minimum=1)
    epochs = checks.check_int(epochs, "epochs", minimum=0)
    seed = checks.check_int(seed, "seed", minimum=0)
    spec = {"nm_pruned": name, "n": n, "m": m, "epochs": epochs, "lr": lr, "weight_decay": weight_decay, "seed": seed}

    def run(model: nn.Module) -> None:
        prune_nm_(model, n, m)
        if epochs:
            train.fit(model, epochs=epochs, lr=lr, weight_decay=weight_decay, seed=seed, progress=progress,
                      desc=f"{n}:{m} retraining {name}")
        bake_masks_(model)

    return train.cached_model(spec, lambda: train.baseline(name, seed=seed, progress=progress), run,
                              name=f"nmpruned-{name}", parents=(train.baseline_key(name, seed=seed),),
                              code=(nm_pruned_model, prune_nm_, nm_mask, *_MASK_CODE))


#: The sparsities of the chapter's sensitivity sweep.
SWEEP_SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99)


def baseline_sensitivity(name: str, sparsities: Sequence[float] = SWEEP_SPARSITIES, split: str = "val",
                         progress: bool = False, *, seed: int = 0) -> SensitivitySweep:
    """:func:`~companion.sparsity.sensitivity_sweep` of the cached baseline ``name`` (seed ``seed``),
    cached on disk (a few seconds the first time)."""
    sps = [check_sparsity(s) for s in sparsities]
    seed = checks.check_int(seed, "seed", minimum=0)
    spec = {"sensitivity": name, "sparsities": sps, "split": split}
    # the cache holds the plain dict (loaded with weights_only=True); the typed view is rebuilt here
    plain = train.cached_result(spec, lambda: dict(sensitivity_sweep(train.baseline(name, seed=seed, progress=progress),
                                                                     sps, split=split)),
                                name=f"sensitivity-{name}", parents=(train.baseline_key(name, seed=seed),),
                                code=(baseline_sensitivity, sensitivity_sweep, *_MASK_CODE))
    return SensitivitySweep(plain, sps)
