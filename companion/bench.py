"""What PyTorch really speeds up on this CPU: measured speed-up (a range) beside the ideal ratio.

After the survey's discussion of *framework and hardware-level support*: a compressed model is
only faster when a kernel exploits the compression. This benchmark gathers, on the machine at
hand, five cases the book's chapters promise savings for — each measured by the chapter function
that already times it (no timer of its own):

- *sparse matmul*: ``torch.sparse_csr`` W @ X vs dense W @ X; ideal 1 / (1 − sparsity)
  (:func:`companion.sparsity.time_sparse_linear`, chapter 5);
- *int8 dynamic*: ``torch.ao`` dynamic int8 Linear vs float32 Linear; ideal 32 / 8 = 4 (bits)
  (:func:`companion.quantization.dynamic_int8` timed by :func:`companion.metrics.compare_latency_ms`, chapter 4);
- *low-rank*: ``Linear(n, r)`` → ``Linear(r, n)`` vs ``Linear(n, n)``; ideal n² / (2 n r)
  (:func:`companion.decomposition.speedup_range`, chapter 3);
- *depthwise conv*: depthwise 3×3 + pointwise 1×1 vs a standard 3×3 conv; ideal 9C² / (9C + C²)
  (:func:`companion.compact.latency_comparison`, chapter 2; Howard et al. 2017);
- *structured LeNet*: LeNet-5 with fewer channels vs LeNet-5; ideal = MAC ratio
  (:func:`companion.metrics.compare_latency_ms`, chapter 5).

Every timing goes through the library's one timer (:func:`companion.metrics.time_calls_ms`): a
single thread, the dense and the compressed kernel interleaved in ``rounds`` rounds, the fastest
of ``repeats`` runs in each round. The speed-up of a round is ``t_dense / t_compressed`` taken
*within* that round, so a burst of load from another process hits both alike; a row reports the
median over rounds (``speedup``) and its range (``speedup_low`` … ``speedup_high``). ``ideal`` is
a MAC ratio (for int8: the ratio of operand bits, the best a SIMD unit could do with 4x narrower
lanes). Timings are printed, never asserted in tests.

Run ``python -m companion.bench`` (``--quick`` for the small version chapter 8 runs).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from . import checks, compact, decomposition, metrics, models, quantization, sparsity
from .rows import Row, Rows

__all__ = ["BenchRow", "bench_sparse_matmul", "bench_dynamic_int8", "bench_lowrank", "bench_depthwise",
           "bench_structured_lenet", "run_all", "to_frame", "main", "COLUMNS"]

#: The columns of :func:`to_frame`, in order.
COLUMNS = ["experiment", "setting", "dense_ms", "compressed_ms", "speedup", "speedup_low", "speedup_high",
           "speedup_range", "ideal", "basis", "efficiency"]


@dataclass(frozen=True)
class BenchRow(Row):
    """One measured comparison of a dense and a compressed kernel.

    ``speedup`` is the median over interleaved rounds of the within-round ratio
    ``t_dense / t_compressed``; ``speedup_low`` / ``speedup_high`` are its min / max over the
    rounds. ``dense_ms`` / ``compressed_ms`` are the typical times the chapter function reports
    (for information: the speed-up is *not* their quotient). ``ideal`` comes from MACs or bits
    (``basis``); ``efficiency = speedup / ideal``.
    """

    experiment: str
    setting: str
    dense_ms: float
    compressed_ms: float
    speedup: float
    speedup_low: float
    speedup_high: float
    ideal: float
    basis: str = "MACs"

    def __post_init__(self):
        for name in ("experiment", "setting", "basis"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"BenchRow.{name} must be a str, got {type(getattr(self, name)).__name__}")
        for name in ("dense_ms", "compressed_ms", "speedup", "speedup_low", "speedup_high", "ideal"):
            object.__setattr__(self, name, checks.check_float(getattr(self, name), f"BenchRow.{name}", minimum=0.0,
                                                              open_low=True))
        if not self.speedup_low <= self.speedup <= self.speedup_high:
            raise ValueError(f"BenchRow needs speedup_low <= speedup <= speedup_high, got "
                             f"{self.speedup_low} <= {self.speedup} <= {self.speedup_high}")

    @classmethod
    def measured(cls, experiment: str, setting: str, dense_ms: float, compressed_ms: float,
                 speedup: metrics.Spread, ideal: float, basis: str = "MACs") -> "BenchRow":
        """A row from a measured :class:`companion.metrics.Spread` of the speed-up."""
        if not isinstance(speedup, metrics.Spread):
            raise TypeError(f"speedup must be a companion.metrics.Spread, got {type(speedup).__name__}")
        return cls(experiment, setting, dense_ms, compressed_ms, speedup.mid, speedup.low, speedup.high, ideal, basis)

    @property
    def speedup_spread(self) -> metrics.Spread:
        """The speed-up as a :class:`companion.metrics.Spread` (low, median, high)."""
        return metrics.Spread(self.speedup_low, self.speedup, self.speedup_high)

    @property
    def speedup_range(self) -> str:
        """The measured range for prose, e.g. ``"4.8–5.3x"`` (two decimals below 1x)."""
        return self.speedup_spread.text(".2f" if self.speedup_low < 1 else ".1f", "x")

    @property
    def efficiency(self) -> float:
        """Measured (median) speed-up as a fraction of the ideal one (1 = the kernel delivers the ideal)."""
        return self.speedup / self.ideal

    def as_dict(self) -> dict:
        d = super().as_dict()
        d.update(speedup_range=self.speedup_range, efficiency=self.efficiency)
        return d


def _timer_args(rounds, repeats) -> tuple[int, int]:
    return checks.check_int(rounds, "rounds", minimum=1), checks.check_int(repeats, "repeats", minimum=1)


def bench_sparse_matmul(n: int = 1024, batch: int = 64, sparsities: Sequence[float] = (0.5, 0.9, 0.95, 0.99), *,
                        rounds: int = 5, repeats: int = 5, seed: int = 0) -> Rows:
    """Dense ``W @ X`` vs CSR ``W @ X`` (``W``: [n, n] magnitude-pruned to each sparsity, ``X``: [n, batch]).

    :func:`companion.sparsity.time_sparse_linear`; ideal ``1 / (1 − sparsity)``; times are the
    median over rounds of each round's best.
    """
    n, batch = checks.check_int(n, "n", minimum=1), checks.check_int(batch, "batch", minimum=1)
    sparsities = [checks.check_fraction(s, "sparsity", open_high=True) for s in sparsities]
    if not sparsities:
        raise ValueError("sparsities must not be empty: give fractions in [0, 1)")
    rounds, repeats = _timer_args(rounds, repeats)
    timed = sparsity.time_sparse_linear(n, n, sparsities, (batch,), repeats=repeats, rounds=rounds, seed=seed)
    return Rows(BenchRow("sparse matmul (CSR)", f"{n}x{n}, {t.sparsity:.0%} zeros", t.dense_us / 1e3,
                         t.sparse_us / 1e3, t.speedup, t.speedup_min, t.speedup_max, t.ideal) for t in timed)


def bench_dynamic_int8(n: int = 1024, batch: int = 64, layers: int = 3, *, rounds: int = 5, repeats: int = 5,
                       seed: int = 0) -> Rows:
    """float32 MLP of ``layers`` ``Linear(n, n)`` + ReLU vs its dynamic-int8 version (ideal: 32/8 = 4x, bits).

    :func:`companion.quantization.dynamic_int8` timed by :func:`companion.metrics.compare_latency_ms`
    on a ``[batch, n]`` input; times are the median over rounds of each round's best.
    """
    n, batch = checks.check_int(n, "n", minimum=1), checks.check_int(batch, "batch", minimum=1)
    layers = checks.check_int(layers, "layers", minimum=1)
    rounds, repeats = _timer_args(rounds, repeats)
    torch.manual_seed(seed)
    mlp = nn.Sequential(*[m for _ in range(layers) for m in (nn.Linear(n, n), nn.ReLU())]).eval()
    t = metrics.compare_latency_ms({"float32": mlp, "int8": quantization.dynamic_int8(mlp)}, (batch, n),
                                   rounds=rounds, repeats=repeats)
    return Rows([BenchRow.measured("int8 dynamic quantization", f"{layers}x Linear({n},{n}), batch {batch}",
                                   t.ms("float32").mid, t.ms("int8").mid, t.ratio("float32", "int8"), 4.0, "bits")])


def bench_lowrank(n: int = 1024, batch: int = 64, ranks: Sequence[int] = (256, 128, 32), *, rounds: int = 5,
                  repeats: int = 5, seed: int = 0) -> Rows:
    """``Linear(n, n)`` vs ``Linear(r, n) ∘ Linear(n, r)`` on a ``[batch, n]`` input (ideal: n² / (2nr)).

    :func:`companion.decomposition.speedup_range` (single thread); times are each module's
    fastest over the rounds.
    """
    n, batch = checks.check_int(n, "n", minimum=1), checks.check_int(batch, "batch", minimum=1)
    ranks = [checks.check_int(r, "rank", minimum=1, maximum=n) for r in ranks]
    if not ranks:
        raise ValueError(f"ranks must not be empty: give ints in [1, {n}]")
    rounds, repeats = _timer_args(rounds, repeats)
    torch.manual_seed(seed)
    dense = nn.Linear(n, n).eval()
    rows = Rows()
    for r in ranks:
        low = nn.Sequential(nn.Linear(n, r, bias=False), nn.Linear(r, n)).eval()
        s = decomposition.speedup_range(dense, low, (batch, n), rounds=rounds, repeats=repeats, threads=1)
        rows.append(BenchRow("low-rank (SVD) Linear", f"{n}x{n} → rank {r}", s.dense_ms, s.small_ms, s.median, s.low,
                             s.high, n * n / (2 * n * r)))
    return rows


def bench_depthwise(channels: int = 64, size: int = 56, batch: int = 8, *, rounds: int = 5,
                    repeats: int = 5) -> Rows:
    """Standard 3×3 conv (C→C) vs depthwise 3×3 + pointwise 1×1 (MobileNet's block; ideal 9C²/(9C + C²)).

    :func:`companion.compact.latency_comparison` (``repeats`` runs per round, its own fixed
    weights: timing does not depend on them); times are the median over rounds of each round's best.
    """
    c, size = checks.check_int(channels, "channels", minimum=1), checks.check_int(size, "size", minimum=1)
    batch = checks.check_int(batch, "batch", minimum=1)
    rounds, repeats = _timer_args(rounds, repeats)
    out = compact.latency_comparison(c, c, size, batch=batch, repeats=rounds * repeats, rounds=rounds,
                                     stat="median")
    return Rows([BenchRow("depthwise-separable conv", f"C={c}, {size}x{size}, batch {batch}", out["ms_standard"],
                          out["ms_separable"], out["speedup_median"], out["speedup_min"], out["speedup_max"],
                          out["mac_ratio"])])


def _pruned_lenet(keep: float) -> nn.Module:
    return models.LeNet5(channels=(max(1, round(20 * keep)), max(1, round(50 * keep))),
                         hidden=max(1, round(500 * keep))).eval()


def bench_structured_lenet(keep: Sequence[float] = (0.5, 0.25), batch: int = 64, *, rounds: int = 5,
                           repeats: int = 5, seed: int = 0) -> Rows:
    """LeNet-5 vs LeNet-5s whose conv channels and fc1 units were pruned to a fraction ``keep``.

    Structured (filter/neuron) pruning leaves a smaller *dense* network; timing does not depend
    on the weight values, so the pruned shape is built directly (chapter 5 shows how to get there).
    All of them are timed together by :func:`companion.metrics.compare_latency_ms` on a
    ``[batch, 1, 28, 28]`` input; ideal = dense MACs / pruned MACs.
    """
    batch = checks.check_int(batch, "batch", minimum=1)
    keep = [checks.check_float(k, "keep fraction", minimum=0.0, maximum=1.0, open_low=True) for k in keep]
    if not keep:
        raise ValueError("keep must not be empty: give fractions in (0, 1]")
    rounds, repeats = _timer_args(rounds, repeats)
    torch.manual_seed(seed)
    dense = models.LeNet5().eval()
    small = {f"keep {k:.0%}": _pruned_lenet(k) for k in keep}
    t = metrics.compare_latency_ms({"dense": dense, **small}, (batch, 1, 28, 28), rounds=rounds, repeats=repeats)
    dense_macs = metrics.measure_macs(dense)
    return Rows(BenchRow.measured("structured-pruned LeNet-5", f"{name} of channels/units, batch {batch}",
                                  t.ms("dense").mid, t.ms(name).mid, t.ratio("dense", name),
                                  dense_macs / metrics.measure_macs(m)) for name, m in small.items())


def run_all(quick: bool = False, *, seed: int = 0) -> Rows:
    """Every benchmark (``quick``: smaller sizes, a few seconds in all).

    Sizes keep each timed call short (about 2 ms or less in quick mode): on a loaded machine a
    call longer than a scheduler time slice is preempted in nearly every run, which inflates the
    slower (dense) side and with it the speed-up; the fastest of ``repeats`` short runs is not.
    The full sizes run calls of tens of ms: run them on a quiet machine.
    """
    if not isinstance(quick, bool):
        raise TypeError(f"quick must be a bool, got {type(quick).__name__}")
    seed = checks.check_int(seed, "seed", minimum=0)
    if quick:
        kw = dict(rounds=5, repeats=10)
        return Rows(bench_sparse_matmul(512, 32, (0.5, 0.9, 0.99), seed=seed, **kw)
                    + bench_dynamic_int8(512, 32, 2, seed=seed, **kw)
                    + bench_lowrank(512, 32, (128, 32), seed=seed, **kw) + bench_depthwise(32, 28, 4, **kw)
                    + bench_structured_lenet((0.5, 0.25), 8, seed=seed, **kw))
    kw = dict(rounds=7, repeats=10)
    return Rows(bench_sparse_matmul(2048, 64, (0.5, 0.8, 0.9, 0.95, 0.99), seed=seed, **kw)
                + bench_dynamic_int8(1024, 64, 3, seed=seed, **kw)
                + bench_lowrank(1024, 64, (256, 128, 32), seed=seed, **kw) + bench_depthwise(64, 56, 8, **kw)
                + bench_structured_lenet((0.75, 0.5, 0.25), 64, seed=seed, **kw))


def to_frame(rows: Sequence[BenchRow]):
    """A pandas DataFrame of benchmark rows, columns :data:`COLUMNS` (ms, the median speed-up
    with its low/high and a ``speedup_range`` text such as ``"4.8–5.3x"``, ideal, efficiency)."""
    import pandas as pd
    rows = list(rows)
    for r in rows:
        if not isinstance(r, BenchRow):
            raise TypeError(f"rows must hold BenchRow objects, got {type(r).__name__}")
    return pd.DataFrame([r.as_dict() for r in rows], columns=COLUMNS)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m companion.bench [--quick] [--csv FILE]``."""
    parser = argparse.ArgumentParser(prog="python -m companion.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--csv", default=None, help="also write the table to this CSV file")
    args = parser.parse_args(argv)
    df = to_frame(run_all(args.quick))
    print(f"torch {torch.__version__}, quantized engine {torch.backends.quantized.engine}; one thread, "
          "speedup = median of within-round ratios over interleaved rounds (range: min–max)")
    with __import__("pandas").option_context("display.width", 200, "display.max_colwidth", 40):
        print(df.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if args.csv:
        df.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
