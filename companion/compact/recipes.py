"""Cached training of the compact MNIST networks."""
from __future__ import annotations

from dataclasses import asdict

from ._common import nonneg_int, pos_float, pos_int
from .networks import ARCH_CODE, TRAIN_THREADS, ArchConfig, CompactCNN, _num_threads, build_compact

__all__ = ["train_compact", "prefetch_compact"]


def train_compact(config: ArchConfig, *, epochs: int = 20, lr: float = 3e-3, batch_size: int = 64,
                  weight_decay: float = 1e-4, shift_px: int = 1, seed: int = 0, progress: bool = True) -> CompactCNN:
    """Train (or load from the cache) the network of ``config`` on the embedded MNIST train split.

    ``seed`` seeds the initialisation and the data order (0: the book's networks). The cache key
    holds the architecture, every training hyper-parameter and the source of this recipe and of
    the network's layout (:func:`companion.train.cached_model`'s ``code=``); training runs on
    :data:`TRAIN_THREADS` CPU threads so that the result does not depend on the machine's core count.
    """
    from .. import train
    if not isinstance(config, ArchConfig):
        raise TypeError(f"config must be an ArchConfig, got {type(config).__name__}")
    hp = dict(epochs=pos_int("epochs", epochs), lr=pos_float("lr", lr), batch_size=pos_int("batch_size", batch_size),
              weight_decay=float(weight_decay), shift_px=nonneg_int("shift_px", shift_px), seed=nonneg_int("seed", seed))
    spec = {"compact": asdict(config), "train": hp}

    def fit(model):
        with _num_threads(TRAIN_THREADS):
            train.fit(model, optimizer="adam", progress=progress, desc=f"training {config.label}", channels_last=True,
                      **hp)
    return train.cached_model(spec, lambda: build_compact(config, seed), fit, name="compact", code=ARCH_CODE + (
        train_compact,))



def prefetch_compact(configs, seeds=(0,), **hp) -> int:
    """Make sure ``train_compact(config, seed=s, **hp)`` is cached for every config × seed; returns
    how many were trained.

    The networks train on :data:`TRAIN_THREADS` (one) thread each, so the missing ones are trained
    side by side, one per CPU core (:func:`companion.train.prefetch`): on 2 cores, chapter 2's
    fifteen networks take half the time. The weights are bit for bit those of calling
    :func:`train_compact` one by one, which the chapter then does (cache hits).
    """
    from .. import train
    configs = list(configs)
    if not all(isinstance(c, ArchConfig) for c in configs):
        raise TypeError("configs must be ArchConfig objects")
    seeds = [nonneg_int("seed", s) for s in seeds]
    return train.prefetch(train_compact, [dict(config=c, seed=s, progress=False, **hp) for c in configs for s in seeds],
                          threads_per_call=TRAIN_THREADS)
