"""Cached training of the compact MNIST networks."""
from __future__ import annotations

from dataclasses import asdict

from ._common import nonneg_int, pos_float, pos_int
from .networks import ARCH_CODE, TRAIN_THREADS, ArchConfig, CompactCNN, _num_threads, build_compact

__all__ = ["train_compact", "prefetch_compact"]


def train_compact(config: ArchConfig, *, epochs: int = 10, lr: float = 3e-3, batch_size: int = 64,
                  weight_decay: float = 1e-4, shift_px: int = 1, lr_schedule: str = "cosine", seed: int = 0,
                  progress: bool = True) -> CompactCNN:
    """Train (or load from the cache) the network of ``config`` on the embedded MNIST train split.

    The recipe: Adam at ``lr`` annealed to 0 by a cosine schedule (:func:`companion.train.fit`'s
    ``lr_schedule``), ±``shift_px`` px random shifts, ``epochs`` epochs. Ten annealed epochs end
    as well as twenty at a constant rate (measured on two seeds of all five variants: within
    ±1 pp, less spread between the last epochs) in half the time.

    ``seed`` seeds the initialisation and the data order (0: the book's networks). The cache key
    holds the architecture, every training hyper-parameter and the source of this recipe and of
    the network's layout (:func:`companion.train.cached_model`'s ``code=``); training runs on
    :data:`TRAIN_THREADS` CPU threads so that the result does not depend on the machine's core count.
    """
    from .. import train
    if not isinstance(config, ArchConfig):
        raise TypeError(f"config must be an ArchConfig, got {type(config).__name__}")
    hp = dict(epochs=pos_int("epochs", epochs), lr=pos_float("lr", lr), batch_size=pos_int("batch_size", batch_size),
              weight_decay=float(weight_decay), shift_px=nonneg_int("shift_px", shift_px), lr_schedule=str(lr_schedule),
              seed=nonneg_int("seed", seed))
    spec = {"compact": asdict(config), "train": hp}

    def fit(model):
        with _num_threads(TRAIN_THREADS):
            train.fit(model, optimizer="adam", progress=progress, desc=f"training {config.label}", channels_last=True,
                      **hp)
    return train.cached_model(spec, lambda: build_compact(config, seed), fit, name="compact", code=ARCH_CODE + (
        train_compact,))



def prefetch_compact(configs, seeds=(0,), *, search: dict | None = None, **hp) -> int:
    """Make sure ``train_compact(config, seed=s, **hp)`` is cached for every config × seed (and
    ``run_search(**search)`` when given); returns how many were computed.

    The networks train on :data:`TRAIN_THREADS` (one) thread each, so the missing ones are trained
    side by side, one per CPU core (:func:`companion.train.prefetch_jobs`); the search, which is
    sequential by nature, runs first, beside them. On 2 cores chapter 2's first run takes half
    the time. The weights are bit for bit those of calling :func:`train_compact` one by one,
    which the chapter then does (cache hits).
    """
    from .. import train
    from .nas import run_search
    configs = list(configs)
    if not all(isinstance(c, ArchConfig) for c in configs):
        raise TypeError("configs must be ArchConfig objects")
    seeds = [nonneg_int("seed", s) for s in seeds]
    jobs = [] if search is None else [(run_search, {**dict(search), "progress": False})]
    jobs += [(train_compact, dict(config=c, seed=s, progress=False, **hp)) for s in seeds for c in configs]
    return train.prefetch_jobs(jobs, threads_per_call=TRAIN_THREADS)
