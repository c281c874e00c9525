"""The library's one timer: interleaved rounds, a single thread, min of repeats, reported as a range.

A speed-up printed in the book must survive a busy machine. Three rules make it so:

1. *single-threaded* by default (``threads=1``): with two cores and another process on one of
   them, a two-thread kernel waits for the busy core at every barrier (seen: a CSR "speed-up"
   of 351x where the quiet machine gives 7x); one thread just runs on the free core;
2. *interleaved rounds*: every candidate is timed in every round, one after the other, so a
   burst of load hits all of them alike; a ratio is taken *within* a round;
3. *minimum of repeats* inside a round (other processes only ever add time, as ``timeit``
   recommends), and the spread over rounds is reported: a range, never one noisy point.

Re-exported by :mod:`companion.metrics`. Timings are printed in notebooks and benchmarks, never
asserted in tests (``tools/check_timings.py`` checks the glued ones under load).
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch
from torch import nn

__all__ = ["Spread", "Timings", "time_calls_ms", "time_call_ms", "latency_ms", "compare_latency_ms"]

_STATS = {"min": min, "median": statistics.median}


@dataclass(frozen=True)
class Spread:
    """A measured quantity over rounds: ``low`` ≤ ``mid`` (median) ≤ ``high``."""

    low: float
    mid: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> "Spread":
        v = sorted(float(x) for x in values)
        if not v:
            raise ValueError("a spread needs at least one value")
        return cls(v[0], statistics.median(v), v[-1])

    def text(self, fmt: str = ".1f", unit: str = "") -> str:
        """``"4.8–5.3x"`` style text for prose (one value when the range rounds to a point)."""
        lo, hi = format(self.low, fmt), format(self.high, fmt)
        return f"{lo}{unit}" if lo == hi else f"{lo}–{hi}{unit}"


@dataclass(frozen=True)
class Timings:
    """Per-round best times (ms) of several callables measured in interleaved rounds."""

    rounds_ms: dict  # name -> tuple of per-round minima
    threads: int

    def __post_init__(self):
        if not self.rounds_ms:
            raise ValueError("Timings needs at least one timed callable")

    def ms(self, name: str) -> Spread:
        """The spread of ``name``'s per-round best time."""
        return Spread.of(self._rounds(name))

    def best_ms(self, name: str) -> float:
        """The fastest time of ``name`` over all rounds."""
        return min(self._rounds(name))

    def ratio(self, numerator: str, denominator: str) -> Spread:
        """Spread over rounds of ``t[numerator] / t[denominator]`` taken within each round
        (e.g. ``ratio("dense", "csr")`` is the CSR speed-up)."""
        a, b = self._rounds(numerator), self._rounds(denominator)
        return Spread.of([x / y for x, y in zip(a, b)])

    def _rounds(self, name: str) -> tuple:
        if name not in self.rounds_ms:
            raise KeyError(f"no timing named {name!r}; timed: {list(self.rounds_ms)}")
        return self.rounds_ms[name]

    def to_frame(self):
        import pandas as pd
        rows = [{"name": n, "best_ms": min(r), "median_ms": statistics.median(r), "max_ms": max(r),
                 "rounds": len(r), "threads": self.threads} for n, r in self.rounds_ms.items()]
        return pd.DataFrame(rows).set_index("name")


def _check_timer_args(repeats, warmup, rounds, threads) -> None:
    for name, v, low in (("repeats", repeats, 1), ("warmup", warmup, 0), ("rounds", rounds, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive int or None (leave torch's setting), got {threads!r}")


def time_calls_ms(fns: Mapping[str, Callable[[], object]], *, rounds: int = 5, repeats: int = 5, warmup: int = 2,
                  threads: int | None = 1) -> Timings:
    """Time several callables in interleaved rounds (the library's one timer).

    In each of ``rounds`` rounds every callable runs ``warmup`` untimed calls and then ``repeats``
    timed ones; its round time is the minimum. The order rotates from round to round. Runs under
    ``torch.inference_mode`` with ``torch.set_num_threads(threads)`` (restored afterwards).
    Printed in notebooks and benchmarks, never asserted in tests.
    """
    fns = dict(fns)
    if not fns:
        raise ValueError("fns is empty: give at least one {name: callable}")
    for n, f in fns.items():
        if not callable(f):
            raise TypeError(f"fns[{n!r}] must be callable, got {type(f).__name__}")
    _check_timer_args(repeats, warmup, rounds, threads)
    names = list(fns)
    out: dict[str, list[float]] = {n: [] for n in names}
    old_threads = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        with torch.inference_mode():
            for r in range(rounds):
                for n in names[r % len(names):] + names[:r % len(names)]:
                    f = fns[n]
                    for _ in range(warmup):
                        f()
                    best = math.inf
                    for _ in range(repeats):
                        t0 = time.perf_counter()
                        f()
                        best = min(best, time.perf_counter() - t0)
                    out[n].append(1000.0 * best)
    finally:
        torch.set_num_threads(old_threads)
    return Timings({n: tuple(v) for n, v in out.items()}, threads or old_threads)


def time_call_ms(fn: Callable[[], object], *, repeats: int = 20, warmup: int = 5, stat: str = "min",
                 threads: int | None = 1, rounds: int = 1) -> float:
    """Milliseconds of ``fn()``: ``"min"`` (the fastest run — other processes only ever add time)
    or ``"median"`` of the per-round minima when ``rounds`` > 1 (one round: of all runs).
    Single-threaded by default (see the note above). Never asserted in tests."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if stat not in _STATS:
        raise ValueError(f"stat must be one of {sorted(_STATS)}, got {stat!r}")
    _check_timer_args(repeats, warmup, rounds, threads)
    if rounds == 1 and stat == "median":  # median of individual runs
        t = time_calls_ms({"f": fn}, rounds=repeats, repeats=1, warmup=0, threads=threads) if not warmup else \
            time_calls_ms({"f": _after_warmup(fn, warmup)}, rounds=repeats, repeats=1, warmup=0, threads=threads)
        return statistics.median(t.rounds_ms["f"])
    t = time_calls_ms({"f": fn}, rounds=rounds, repeats=repeats, warmup=warmup, threads=threads)
    return _STATS[stat](t.rounds_ms["f"])


def _after_warmup(fn: Callable[[], object], warmup: int) -> Callable[[], object]:
    state = {"left": warmup}

    def call():
        while state["left"]:
            state["left"] -= 1
            fn()
        return fn()
    return call


def _random_input(shape: Sequence[int]) -> torch.Tensor:
    shape = tuple(int(s) for s in shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"input_shape must be positive sizes, got {shape!r}")
    return torch.randn(shape, generator=torch.Generator().manual_seed(0))


def latency_ms(module: nn.Module, input_shape: Sequence[int], *, repeats: int = 30, warmup: int = 5,
               threads: int | None = 1, stat: str = "median") -> float:
    """Milliseconds of one forward pass of ``module`` (eval mode) on a seeded random input of
    ``input_shape`` (batch first); single-threaded unless ``threads`` says otherwise."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    x = _random_input(input_shape)
    was_training = module.training
    module.eval()
    try:
        return time_call_ms(lambda: module(x), repeats=repeats, warmup=warmup, stat=stat, threads=threads)
    finally:
        module.train(was_training)


def compare_latency_ms(modules: Mapping[str, nn.Module], input_shape: Sequence[int], *, rounds: int = 5,
                       repeats: int = 5, warmup: int = 2, threads: int | None = 1) -> Timings:
    """Forward-pass times of several modules on one seeded input, in interleaved rounds
    (:func:`time_calls_ms`); ``.ratio(a, b)`` gives a speed-up as a measured range."""
    modules = dict(modules)
    for n, m in modules.items():
        if not isinstance(m, nn.Module):
            raise TypeError(f"modules[{n!r}] must be an nn.Module, got {type(m).__name__}")
    x = _random_input(input_shape)
    modes = {n: m.training for n, m in modules.items()}
    for m in modules.values():
        m.eval()
    try:
        return time_calls_ms({n: (lambda m=m: m(x)) for n, m in modules.items()}, rounds=rounds, repeats=repeats,
                             warmup=warmup, threads=threads)
    finally:
        for n, m in modules.items():
            m.train(modes[n])
