"""A fair-comparison harness: every method from one baseline, over several seeds, on one ruler.

After the survey's discussion of *fair comparison*: papers report a single run, on their own
baseline, with their own notion of "size" (with or without index and codebook overhead). This
module runs each method as ``method(seed) -> {"accuracy": …, "size_bits": …, "macs": …}`` from
the same baseline for every seed, and summarises each metric as mean ± sample standard
deviation, so a difference between two methods can be read against the seed-to-seed spread.

Statistics: ``mean = Σx/n``; ``std = √(Σ(x − mean)² / (n − 1))`` (sample std, ``ddof = 1``;
0 for a single run); the *standard error* of the mean is ``std/√n``. Two methods are
*distinguishable* when Welch's two-sample t-test on their per-seed values rejects equal means at
``alpha = 0.05`` (:func:`welch_test` gives the p-value; :mod:`companion.stats` has the formulas).
Each seed retrains from its own baseline, so the per-seed values are independent samples.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from . import stats
from .checks import check_float

__all__ = ["Stat", "mean_std", "SeedRuns", "run_seeds", "summarize", "welch_test", "distinguishable"]


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation, number of runs, minimum and maximum of one metric."""

    mean: float
    std: float
    n: int
    min: float
    max: float

    @property
    def sem(self) -> float:
        """Standard error of the mean, ``std / √n``."""
        return self.std / math.sqrt(self.n)

    def __str__(self) -> str:
        return f"{self.mean:.2f} ± {self.std:.2f}"


def mean_std(values: Sequence[float]) -> Stat:
    """:class:`Stat` of ``values`` (sample std with ``n − 1``; 0 for one value).

    >>> str(mean_std([97.0, 97.2, 97.4]))
    '97.20 ± 0.20'
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"values must be a sequence of numbers, got {type(values).__name__}")
    if len(values) == 0:
        raise ValueError("values is empty; need at least one run")
    xs = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(float(v)):
            raise TypeError(f"every value must be a real number (not NaN), got {v!r}")
        xs.append(float(v))
    n = len(xs)
    mean = math.fsum(xs) / n
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    return Stat(mean, std, n, min(xs), max(xs))


@dataclass(frozen=True)
class SeedRuns:
    """One method's raw per-seed metrics and their summaries."""

    method: str
    seeds: tuple[int, ...]
    runs: tuple[Mapping[str, float], ...]

    def values(self, metric: str) -> list[float]:
        if metric not in self.runs[0]:
            raise KeyError(f"no metric {metric!r}; have {sorted(self.runs[0])}")
        return [float(r[metric]) for r in self.runs]

    def stat(self, metric: str) -> Stat:
        return mean_std(self.values(metric))


def run_seeds(method: Callable[[int], Mapping[str, float]], seeds: Sequence[int], *, name: str = "method") -> SeedRuns:
    """Call ``method(seed)`` for every seed; each call returns the same metric names."""
    if not callable(method):
        raise TypeError(f"method must be a callable seed -> dict of metrics, got {type(method).__name__}")
    seeds = tuple(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty sequence of non-negative ints, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds!r}")
    runs = []
    for s in seeds:
        r = method(s)
        if not isinstance(r, Mapping) or not r:
            raise TypeError(f"method({s}) must return a non-empty dict of metrics, got {r!r}")
        if runs and set(r) != set(runs[0]):
            raise ValueError(f"method({s}) returned metrics {sorted(r)}, but seed {seeds[0]} gave {sorted(runs[0])}")
        runs.append(dict(r))
    return SeedRuns(name, seeds, tuple(runs))


def summarize(results: Sequence[SeedRuns], metrics: Sequence[str] | None = None):
    """A DataFrame: one row per method, ``<metric> mean`` and ``<metric> std`` columns (+ ``runs``)."""
    import pandas as pd
    results = list(results)
    if not results:
        raise ValueError("results is empty")
    for r in results:
        if not isinstance(r, SeedRuns):
            raise TypeError(f"expected SeedRuns (from run_seeds), got {type(r).__name__}")
    metrics = list(metrics) if metrics is not None else list(results[0].runs[0])
    rows = []
    for r in results:
        row = {"method": r.method, "runs": len(r.runs)}
        for m in metrics:
            s = r.stat(m)
            row[f"{m} mean"], row[f"{m} std"] = s.mean, s.std
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def welch_test(a: Stat, b: Stat) -> "stats.TestResult":
    """Welch's t-test of ``mean_a = mean_b`` from two :class:`Stat` summaries (each ``n >= 2``).

    ``t = (mean_a − mean_b) / √(std_a²/n_a + std_b²/n_b)`` with Welch–Satterthwaite degrees of
    freedom; see :func:`companion.stats.welch_t_test` (Welch, Biometrika 1947).
    """
    if not isinstance(a, Stat) or not isinstance(b, Stat):
        raise TypeError(f"a and b must be Stat (from mean_std), got {type(a).__name__} and {type(b).__name__}")
    if a.n < 2 or b.n < 2:
        raise ValueError(f"a test needs at least 2 seeds per method, got n={a.n} and n={b.n}")
    return stats.welch_from_summary(a.mean, a.std, a.n, b.mean, b.std, b.n)


def distinguishable(a: Stat, b: Stat, alpha: float = 0.05) -> bool:
    """Do the two methods' means differ significantly over seeds? Welch's t-test, ``p < alpha``.

    ``False`` means the data do not show a difference at this level (with 3 seeds only large,
    consistent gaps do), not that the methods are equal. Methods without retraining are
    deterministic (std 0); two such methods with different means are distinguishable. Each
    :class:`Stat` needs ``n >= 2`` seeds. (Earlier versions used the rough rule
    ``|Δmean| > 2·max(std)``, which ignores the number of seeds.)
    """
    alpha = check_float(alpha, "alpha", minimum=0.0, maximum=1.0, open_low=True, open_high=True)
    return welch_test(a, b).p_value < alpha
