"""What PyTorch really speeds up on this CPU: measured speedup beside the ideal ratio.

After the survey's discussion of *framework and hardware-level support*: a compressed model is
only faster when a kernel exploits the compression. This benchmark measures, on the machine at
hand, five cases the book's chapters promise savings for:

- *sparse matmul*: ``torch.sparse_csr`` W @ X vs dense W @ X; ideal 1 / (1 − sparsity);
- *int8 dynamic*: ``torch.ao`` dynamic int8 Linear vs float32 Linear; ideal 32 / 8 = 4 (bits);
- *low-rank*: ``Linear(n, r)`` → ``Linear(r, n)`` vs ``Linear(n, n)``; ideal n² / (2 n r);
- *depthwise conv*: depthwise 3×3 + pointwise 1×1 vs a standard 3×3 conv; ideal 9C² / (9C + C²);
- *structured LeNet*: LeNet-5 with fewer channels vs LeNet-5 (batch 64); ideal = MAC ratio.

``ideal`` is a MAC ratio (for int8: the ratio of operand bits, the best a SIMD unit could do
with 4x narrower lanes). Timings are the best of repeated runs (ms); no test asserts a timing.
Run ``python -m companion.bench`` (``--quick`` for the small version the chapter uses).
"""
from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from . import metrics, models

__all__ = ["BenchRow", "time_ms", "bench_sparse_matmul", "bench_dynamic_int8", "bench_lowrank",
           "bench_depthwise", "bench_structured_lenet", "run_all", "to_frame", "main"]


@dataclass(frozen=True)
class BenchRow:
    """One measured comparison: ``speedup = dense_ms / compressed_ms``; ``ideal`` from MACs or bits."""

    experiment: str
    setting: str
    dense_ms: float
    compressed_ms: float
    ideal: float
    basis: str = "MACs"

    @property
    def speedup(self) -> float:
        return self.dense_ms / self.compressed_ms if self.compressed_ms > 0 else float("inf")

    @property
    def efficiency(self) -> float:
        """Measured speedup as a fraction of the ideal one (1 = the kernel delivers the ideal)."""
        return self.speedup / self.ideal

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(speedup=self.speedup, efficiency=self.efficiency)
        return d


def time_ms(fn: Callable[[], object], *, repeats: int = 20, warmup: int = 5) -> float:
    """Best (minimum) wall-clock time of ``fn()`` in ms over ``repeats`` runs (``warmup`` untimed first).

    The minimum, as ``timeit`` recommends: other processes only ever add time, so the fastest
    run is the best estimate of what the kernel itself costs.
    """
    return metrics.time_call_ms(fn, repeats=repeats, warmup=warmup, stat="min")


def _check_fraction_list(name: str, values: Sequence[float], *, upper_open: bool = True) -> list[float]:
    values = list(values)
    if not values:
        raise ValueError(f"{name} must not be empty")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
            raise ValueError(f"every {name} must be a number in [0, 1), got {v!r}")
    return [float(v) for v in values]


def _check_pos(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name} must be a positive int, got {v!r}")
    return v


def bench_sparse_matmul(n: int = 1024, batch: int = 64, sparsities: Sequence[float] = (0.5, 0.9, 0.95, 0.99), *,
                        repeats: int = 20, seed: int = 0) -> list[BenchRow]:
    """Dense ``W @ X`` vs CSR ``W @ X`` (``W``: [n, n] with a random unstructured mask, ``X``: [n, batch])."""
    n, batch = _check_pos("n", n), _check_pos("batch", batch)
    sparsities = _check_fraction_list("sparsity", sparsities)
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(n, n, generator=gen)
    x = torch.randn(n, batch, generator=gen)
    rows = []
    dense_ms = time_ms(lambda: w @ x, repeats=repeats)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
        for s in sparsities:
            ws = w * (torch.rand(n, n, generator=gen) >= s)
            csr = ws.to_sparse_csr()
            rows.append(BenchRow("sparse matmul (CSR)", f"{n}x{n}, {s:.0%} zeros", dense_ms,
                                 time_ms(lambda: csr @ x, repeats=repeats), 1 / (1 - s)))
    return rows


def bench_dynamic_int8(n: int = 1024, batch: int = 64, layers: int = 3, *, repeats: int = 20,
                       seed: int = 0) -> list[BenchRow]:
    """float32 MLP of ``layers`` ``Linear(n, n)`` vs its ``torch.ao`` dynamic-int8 version (ideal: 4x, bits)."""
    n, batch, layers = _check_pos("n", n), _check_pos("batch", batch), _check_pos("layers", layers)
    torch.manual_seed(seed)
    mlp = nn.Sequential(*[m for _ in range(layers) for m in (nn.Linear(n, n), nn.ReLU())]).eval()
    x = torch.randn(batch, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao
        from torch.ao.quantization import quantize_dynamic
        qmlp = quantize_dynamic(mlp, {nn.Linear}, dtype=torch.qint8)
        q_ms = time_ms(lambda: qmlp(x), repeats=repeats)
    return [BenchRow("int8 dynamic quantization", f"{layers}x Linear({n},{n}), batch {batch}",
                     time_ms(lambda: mlp(x), repeats=repeats), q_ms, 4.0, "bits")]


def bench_lowrank(n: int = 1024, batch: int = 64, ranks: Sequence[int] = (256, 128, 32), *, repeats: int = 20,
                  seed: int = 0) -> list[BenchRow]:
    """``Linear(n, n)`` vs ``Linear(r, n) ∘ Linear(n, r)`` (ideal: n² / (2nr))."""
    n, batch = _check_pos("n", n), _check_pos("batch", batch)
    ranks = [_check_pos("rank", r) for r in ranks]
    torch.manual_seed(seed)
    dense = nn.Linear(n, n).eval()
    x = torch.randn(batch, n)
    dense_ms = time_ms(lambda: dense(x), repeats=repeats)
    rows = []
    for r in ranks:
        low = nn.Sequential(nn.Linear(n, r, bias=False), nn.Linear(r, n)).eval()
        rows.append(BenchRow("low-rank (SVD) Linear", f"{n}x{n} → rank {r}", dense_ms,
                             time_ms(lambda: low(x), repeats=repeats), n * n / (2 * n * r)))
    return rows


def bench_depthwise(channels: int = 64, size: int = 56, batch: int = 8, *, repeats: int = 20,
                    seed: int = 0) -> list[BenchRow]:
    """Standard 3×3 conv (C→C) vs depthwise 3×3 + pointwise 1×1 (MobileNet's block; ideal 9C²/(9C + C²))."""
    c, size, batch = _check_pos("channels", channels), _check_pos("size", size), _check_pos("batch", batch)
    torch.manual_seed(seed)
    std = nn.Conv2d(c, c, 3, padding=1, bias=False).eval()
    sep = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.Conv2d(c, c, 1, bias=False)).eval()
    x = torch.randn(batch, c, size, size)
    return [BenchRow("depthwise-separable conv", f"C={c}, {size}x{size}, batch {batch}",
                     time_ms(lambda: std(x), repeats=repeats), time_ms(lambda: sep(x), repeats=repeats),
                     9 * c * c / (9 * c + c * c))]


def bench_structured_lenet(keep: Sequence[float] = (0.5, 0.25), batch: int = 64, *, repeats: int = 20,
                           seed: int = 0) -> list[BenchRow]:
    """LeNet-5 vs a LeNet-5 whose conv channels and fc1 units were pruned to a fraction ``keep``.

    Structured (filter/neuron) pruning leaves a smaller *dense* network; timing does not depend
    on the weight values, so the pruned shape is built directly (chapter 5 shows how to get there).
    """
    batch = _check_pos("batch", batch)
    keep = list(keep)
    for k in keep:
        if isinstance(k, bool) or not isinstance(k, (int, float)) or not 0 < k <= 1:
            raise ValueError(f"every keep fraction must be in (0, 1], got {k!r}")
    torch.manual_seed(seed)
    dense = models.LeNet5().eval()
    x = torch.randn(batch, 1, 28, 28)
    dense_ms = time_ms(lambda: dense(x), repeats=repeats)
    dense_macs = metrics.measure_macs(dense)
    rows = []
    for k in keep:
        small = models.LeNet5(channels=(max(1, round(20 * k)), max(1, round(50 * k))),
                              hidden=max(1, round(500 * k))).eval()
        rows.append(BenchRow("structured-pruned LeNet-5", f"keep {k:.0%} of channels/units, batch {batch}", dense_ms,
                             time_ms(lambda: small(x), repeats=repeats), dense_macs / metrics.measure_macs(small)))
    return rows


def run_all(quick: bool = False, *, seed: int = 0) -> list[BenchRow]:
    """Every benchmark (``quick``: smaller sizes and fewer repeats, a few seconds in all)."""
    if quick:
        kw = dict(repeats=10, seed=seed)
        return (bench_sparse_matmul(512, 32, (0.5, 0.9, 0.99), **kw) + bench_dynamic_int8(512, 32, 2, **kw)
                + bench_lowrank(512, 32, (128, 32), **kw) + bench_depthwise(32, 28, 4, **kw)
                + bench_structured_lenet((0.5, 0.25), 32, **kw))
    kw = dict(repeats=25, seed=seed)
    return (bench_sparse_matmul(2048, 64, (0.5, 0.8, 0.9, 0.95, 0.99), **kw) + bench_dynamic_int8(1024, 64, 3, **kw)
            + bench_lowrank(1024, 64, (256, 128, 32), **kw) + bench_depthwise(64, 56, 8, **kw)
            + bench_structured_lenet((0.75, 0.5, 0.25), 64, **kw))


def to_frame(rows: Sequence[BenchRow]):
    """A pandas DataFrame of benchmark rows (ms, measured speedup, ideal, efficiency)."""
    import pandas as pd
    rows = list(rows)
    for r in rows:
        if not isinstance(r, BenchRow):
            raise TypeError(f"expected BenchRow, got {type(r).__name__}")
    df = pd.DataFrame([r.as_dict() for r in rows])
    return df[["experiment", "setting", "dense_ms", "compressed_ms", "speedup", "ideal", "basis", "efficiency"]]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m companion.bench [--quick] [--threads N] [--csv FILE]``."""
    parser = argparse.ArgumentParser(prog="python -m companion.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--csv", default=None, help="also write the table to this CSV file")
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    df = to_frame(run_all(args.quick))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"quantized engine {torch.backends.quantized.engine}")
    with __import__("pandas").option_context("display.width", 160, "display.max_colwidth", 40):
        print(df.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if args.csv:
        df.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
