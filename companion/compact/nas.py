"""A tiny neural architecture search over block type, width multiplier and depth under a MAC budget.

Random search or regularized (aging) evolution (Real et al. 2019); architectures over the
budget are rejected by their closed-form MACs before any training (the cheap constraint of
hardware-aware NAS, e.g. MnasNet); the proxy score is validation accuracy after a short
training (Zoph & Le 2017's reduced settings). After the survey's section on compact models.
"""
from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, replace
from typing import Callable, Sequence

from ._common import pos_float, pos_int
from .networks import ARCH_CODE, BLOCK_TYPES, TRAIN_THREADS, ArchConfig, _num_threads, arch_cost, build_compact

__all__ = ["ArchSpace", "Candidate", "sample_arch", "mutate", "search_architectures", "pareto_front",
           "arch_proxy_score", "run_search"]


@dataclass(frozen=True)
class ArchSpace:
    """The choices of the search: block type, width multiplier, blocks per stage."""

    blocks: tuple[str, ...] = BLOCK_TYPES
    widths: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5, 2.0)
    depths: tuple[int, ...] = (1, 2, 3)

    def __post_init__(self):
        if not self.blocks or not self.widths or not self.depths:
            raise ValueError("every dimension of the search space needs at least one choice")
        for b in self.blocks:
            if b not in BLOCK_TYPES:
                raise ValueError(f"unknown block {b!r}; allowed: {BLOCK_TYPES}")
        for w in self.widths:
            pos_float("width multiplier", w)
        for d in self.depths:
            pos_int("depth", d)

    @property
    def size(self) -> int:
        return len(self.blocks) * len(self.widths) * len(self.depths)


@dataclass(frozen=True)
class Candidate:
    """One evaluated architecture: its closed-form cost and its proxy score (validation accuracy, %)."""

    config: ArchConfig
    params: int
    macs: int
    score: float

    def as_dict(self) -> dict:
        return {"block": self.config.block, "width": self.config.width, "depth": self.config.depth,
                "params": self.params, "macs": self.macs, "score": self.score}


def sample_arch(rng: random.Random, space: ArchSpace = ArchSpace()) -> ArchConfig:
    """A uniformly random architecture of ``space``."""
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random, got {type(rng).__name__}")
    return ArchConfig(block=rng.choice(space.blocks), width=rng.choice(space.widths), depth=rng.choice(space.depths))


def mutate(config: ArchConfig, rng: random.Random, space: ArchSpace = ArchSpace()) -> ArchConfig:
    """Change one dimension of ``config`` (block, width or depth) to another value of ``space``."""
    if not isinstance(config, ArchConfig):
        raise TypeError(f"config must be an ArchConfig, got {type(config).__name__}")
    options = {"block": space.blocks, "width": space.widths, "depth": space.depths}
    dims = [d for d, vals in options.items() if len(vals) > 1]
    if not dims:
        return config
    dim = rng.choice(dims)
    value = rng.choice([v for v in options[dim] if v != getattr(config, dim)])
    return replace(config, **{dim: value})


def search_architectures(score: Callable[[ArchConfig], float], *, n_candidates: int = 12, mac_budget: int | None = None,
           strategy: str = "evolution", space: ArchSpace = ArchSpace(), population: int = 4,
           sample_size: int = 2, seed: int = 0, max_draws: int = 10_000) -> list[Candidate]:
    """Search ``space`` for accurate architectures under ``mac_budget``; return every evaluated candidate.

    ``strategy="random"``: ``n_candidates`` distinct random architectures within the budget.
    ``strategy="evolution"``: regularized (aging) evolution (Real et al. 2019): after
    ``population`` random ones, each new candidate mutates the best of ``sample_size``
    randomly drawn members of the current population, and the oldest member leaves.
    Architectures over the budget are rejected by their closed-form MACs *before* any
    training — the cheap constraint of hardware-aware NAS (e.g. MnasNet). ``score(config)``
    is the proxy (here: validation accuracy after a short training); each architecture is
    scored once.
    """
    if not callable(score):
        raise TypeError(f"score must be a function ArchConfig -> float, got {type(score).__name__}")
    pos_int("n_candidates", n_candidates)
    if strategy not in ("random", "evolution"):
        raise ValueError(f"strategy must be 'random' or 'evolution', got {strategy!r}")
    if mac_budget is not None:
        pos_int("mac_budget", mac_budget)
    pos_int("population", population), pos_int("sample_size", sample_size)
    rng = random.Random(seed)
    seen: dict[ArchConfig, Candidate] = {}
    history: list[Candidate] = []

    def feasible(cfg: ArchConfig) -> Candidate | None:
        try:
            cost = arch_cost(cfg)
        except ValueError:  # e.g. channels not divisible by the shuffle groups
            return None
        if mac_budget is not None and cost.macs > mac_budget:
            return None
        return Candidate(cfg, cost.params, cost.macs, float("nan"))

    def evaluate(c: Candidate) -> Candidate:
        c = replace(c, score=float(score(c.config)))
        seen[c.config] = c
        history.append(c)
        return c

    draws = 0
    alive: list[Candidate] = []
    while len(history) < n_candidates and draws < max_draws:
        draws += 1
        if strategy == "random" or len(alive) < population:
            cfg = sample_arch(rng, space)
        else:
            parent = max(rng.sample(alive, min(sample_size, len(alive))), key=lambda c: c.score)
            cfg = mutate(parent.config, rng, space)
        if cfg in seen:
            continue
        cand = feasible(cfg)
        if cand is None:
            continue
        cand = evaluate(cand)
        alive.append(cand)
        if strategy == "evolution" and len(alive) > population:
            alive.pop(0)  # aging: the oldest leaves, however good
    return history


def pareto_front(costs: Sequence[float], scores: Sequence[float]) -> list[int]:
    """Indices of the non-dominated points (lower cost, higher score), sorted by cost.

    Point ``i`` is dominated when some ``j`` has ``cost_j ≤ cost_i`` and ``score_j ≥ score_i``,
    one of them strictly. Ties (equal cost and score) are all kept.

    >>> pareto_front([1, 2, 3, 4], [50, 70, 60, 80])
    [0, 1, 3]
    """
    costs, scores = list(costs), list(scores)
    if len(costs) != len(scores):
        raise ValueError(f"costs and scores differ in length: {len(costs)} vs {len(scores)}")
    for v in costs + scores:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
            raise ValueError(f"costs and scores must be numbers (no NaN), got {v!r}")
    front = [i for i in range(len(costs))
             if not any((costs[j] <= costs[i] and scores[j] >= scores[i]) and
                        (costs[j] < costs[i] or scores[j] > scores[i]) for j in range(len(costs)))]
    return sorted(front, key=lambda i: (costs[i], -scores[i]))


def arch_proxy_score(config: ArchConfig, *, epochs: int = 2, lr: float = 3e-3, batch_size: int = 64, seed: int = 0,
                split: str = "val") -> float:
    """The search's cheap stand-in for "how good is this architecture": accuracy (%) on ``split``
    after ``epochs`` of training from scratch (no cache; short training ranks architectures
    roughly as long training does — the proxy of early NAS work, e.g. Zoph & Le 2017's
    reduced settings)."""
    from .. import train
    if split == "test":
        raise ValueError("the search must not look at the test split; use 'val' (or 'train')")
    model = build_compact(config, seed)
    with _num_threads(TRAIN_THREADS):
        train.fit(model, epochs=pos_int("epochs", epochs), lr=lr, batch_size=batch_size, seed=seed, progress=False)
    return train.evaluate(model, split)


def run_search(*, n_candidates: int = 12, mac_budget: int | None = None, proxy_epochs: int = 2,
               strategy: str = "evolution", space: ArchSpace = ArchSpace(), population: int = 4,
               sample_size: int = 2, seed: int = 0, progress: bool = True) -> list[Candidate]:
    """:func:`search_architectures` with :func:`arch_proxy_score`, cached on disk.

    The key holds every setting, the proxy's training settings and the source of the search,
    the proxy and the network layout (:data:`~companion.compact.networks.ARCH_CODE`).
    """
    from .. import train
    from tqdm.auto import tqdm
    spec = {"nas": dict(n_candidates=n_candidates, mac_budget=mac_budget, proxy_epochs=proxy_epochs,
                        strategy=strategy, space=asdict(space), population=population, sample_size=sample_size,
                        seed=seed), "proxy": {"lr": 3e-3, "batch_size": 64, "split": "val"}}

    def compute():
        bar = tqdm(total=n_candidates, desc="architecture search", disable=not train.show_progress(progress), leave=False)

        def score(cfg):
            acc = arch_proxy_score(cfg, epochs=proxy_epochs, seed=seed)
            bar.update(1)
            bar.set_postfix_str(f"{cfg.label}: {acc:.1f} %")
            return acc
        found = search_architectures(score, n_candidates=n_candidates, mac_budget=mac_budget, strategy=strategy, space=space,
                       population=population, sample_size=sample_size, seed=seed)
        bar.close()
        return [{"config": asdict(c.config), "params": c.params, "macs": c.macs, "score": c.score} for c in found]

    rows = train.cached_result(spec, compute, name="compact-nas",
                               code=ARCH_CODE + (run_search, search_architectures, arch_proxy_score, sample_arch, mutate))
    return [Candidate(ArchConfig(**r["config"]), r["params"], r["macs"], r["score"]) for r in rows]
