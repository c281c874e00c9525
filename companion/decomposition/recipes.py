"""Cached fine-tuning of decomposed networks (the chapter's recipe, reused by other chapters)."""
from __future__ import annotations

from dataclasses import asdict
from typing import Mapping

from torch import nn

from .. import checks
from .layers import CPConv2d, LowRankLinear, Tucker2Conv2d, TTLinear, decompose, decompose_layer

__all__ = ["finetuned"]


def _plan_spec(plan: Mapping[str, object]) -> dict:
    """A plan as plain JSON for the cache key: ``{layer: {"type": "SVD", "rank": 32, ...}}``."""
    return {k: {"type": type(v).__name__, **asdict(v)} for k, v in plan.items()}


def finetuned(model_name: str, plan: Mapping[str, object], *, epochs: int = 5, lr: float = 5e-4,
              weight_decay: float = 0.0, shift_px: int | None = None, seed: int = 0,
              progress: bool = True) -> nn.Module:
    """``decompose(baseline(model_name, seed=seed), plan)`` fine-tuned for ``epochs`` (cached on disk).

    Training uses the baseline's batch size and augmentation (``shift_px`` overrides it) and
    ``seed`` for its data order; ``seed=0`` is the book's run. The cache key holds the model
    name, the plan, every training argument, the baseline's key and the source of the recipe.
    """
    from .. import train
    cfg = train.baseline_config(model_name)
    epochs = checks.check_int(epochs, "epochs", minimum=0)
    seed = checks.check_int(seed, "seed", minimum=0)
    shift = cfg.shift_px if shift_px is None else checks.check_int(shift_px, "shift_px", minimum=0)
    spec = {"decomposed": model_name, "plan": _plan_spec(plan), "epochs": epochs, "lr": lr,
            "weight_decay": weight_decay, "shift_px": shift, "batch_size": cfg.batch_size, "seed": seed}

    def make():
        return decompose(train.baseline(model_name, seed=seed, progress=progress), plan)

    def fit(m):
        if epochs:
            train.fit(m, epochs=epochs, lr=lr, batch_size=cfg.batch_size, weight_decay=weight_decay,
                      shift_px=shift, seed=seed, progress=progress, desc=f"fine-tuning {model_name}")

    return train.cached_model(spec, make, fit, name=f"ch3-{model_name}",
                              code=(finetuned, _plan_spec, decompose, decompose_layer, LowRankLinear, CPConv2d,
                                    Tucker2Conv2d, TTLinear))
