"""The shared ruler: parameters, non-zeros, MACs, storage size with overheads, compression ratio.

Every chapter reports through these functions and through :class:`CompressionReport`, so a
pruned, quantized or decomposed model is judged exactly like every other (after the survey's
discussion of evaluation metrics and fair comparison).

Conventions: a *MAC* is one multiply-accumulate; MACs are per input sample (batch 1).
Sizes are in bits (``*_bits``) or bytes (``*_bytes``); a ratio is ``baseline / compressed``.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from . import models

__all__ = ["LayerCost", "measure_layers", "count_params", "count_nonzero", "measure_macs",
           "module_layer_table", "storage_bits", "LayerStorage", "dense_storage", "model_size_bits",
           "compression_ratio", "CompressionReport", "make_report", "compare", "Spread", "Timings", "time_calls_ms",
           "time_call_ms", "latency_ms", "compare_latency_ms"]


@dataclass(frozen=True)
class LayerCost:
    """What one layer costs on one sample: measured on a real forward pass."""

    name: str
    kind: str
    weights: int
    nonzero_weights: int
    bias: int
    macs: int
    nonzero_macs: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]

    @property
    def params(self) -> int:
        return self.weights + self.bias

    @property
    def density(self) -> float:
        return self.nonzero_weights / self.weights if self.weights else 1.0


def _is_leaf_layer(m: nn.Module) -> bool:
    return isinstance(m, (nn.Conv2d, nn.Linear)) or hasattr(m, "compute_macs")


def measure_layers(model: nn.Module, input_shape: Sequence[int] = (1, 1, 28, 28)) -> list[LayerCost]:
    """Per-layer cost of ``model`` measured by forward hooks on one real forward pass.

    Counted layers: ``nn.Conv2d`` (MACs = H_out·W_out·C_out·C_in/groups·k_h·k_w),
    ``nn.Linear`` (MACs = rows·in·out), and any module defining
    ``compute_macs(x, y) -> int`` (per sample) — e.g. a decomposed layer; its children are
    then not counted again. ``nonzero_macs`` counts only MACs whose weight is non-zero.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    shape = tuple(int(s) for s in input_shape)
    if len(shape) < 2 or any(s < 1 for s in shape):
        raise ValueError(f"input_shape must be positive sizes with a batch dimension first, got {input_shape!r}")
    batch = shape[0]
    layers: list[tuple[str, nn.Module]] = []
    skip_prefixes: list[str] = []
    for name, m in model.named_modules():
        if any(name.startswith(p + ".") for p in skip_prefixes):
            continue
        if _is_leaf_layer(m):
            layers.append((name, m))
            if hasattr(m, "compute_macs"):
                skip_prefixes.append(name)
    results: dict[str, LayerCost] = {}
    order = []

    def hook_for(name):
        def hook(m, inputs, output):
            x = inputs[0]
            if hasattr(m, "compute_macs"):
                macs = int(m.compute_macs(x, output))
                w = sum(p.numel() for n, p in m.named_parameters() if not n.endswith("bias"))
                nz = sum(int((p != 0).sum()) for n, p in m.named_parameters() if not n.endswith("bias"))
                b = sum(p.numel() for n, p in m.named_parameters() if n.endswith("bias"))
                nz_macs = macs if w == 0 else round(macs * nz / w)
                kind = type(m).__name__
            else:
                weight = m.weight
                w, nz = weight.numel(), int((weight != 0).sum())
                b = m.bias.numel() if m.bias is not None else 0
                if isinstance(m, nn.Conv2d):
                    spatial = output.shape[-1] * output.shape[-2]
                    macs, nz_macs = spatial * w, spatial * nz
                    kind = "conv"
                else:
                    rows = output.numel() // output.shape[-1] // batch
                    macs, nz_macs = rows * w, rows * nz
                    kind = "fc"
            results[name] = LayerCost(name, kind, w, nz, b, macs, nz_macs,
                                      tuple(x.shape[1:]), tuple(output.shape[1:]))
            order.append(name)
        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in layers]
    try:
        was_training = model.training
        model.eval()
        dev = next((p.device for p in model.parameters()), torch.device("cpu"))
        with torch.no_grad():
            model(torch.zeros(shape, device=dev))
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    seen, out = set(), []
    for n in order:  # first call order, each layer once
        if n not in seen:
            seen.add(n)
            out.append(results[n])
    return out


def count_params(model: nn.Module) -> int:
    """Number of parameters (all tensors in ``model.parameters()``)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters())


def count_nonzero(model: nn.Module, input_shape: Sequence[int] = (1, 1, 28, 28)) -> int:
    """Non-zero parameters of the counted layers (weights seen through any mask) plus their biases."""
    return sum(l.nonzero_weights + l.bias for l in measure_layers(model, input_shape))


def measure_macs(model: nn.Module, input_shape: Sequence[int] = (1, 1, 28, 28), *, nonzero: bool = False) -> int:
    """MACs of one sample, measured by hooks (``nonzero=True``: only MACs with a non-zero weight)."""
    layers = measure_layers(model, input_shape)
    return sum(l.nonzero_macs if nonzero else l.macs for l in layers)


def module_layer_table(model: nn.Module, input_shape: Sequence[int] = (1, 1, 28, 28),
                       name: str | None = None) -> models.LayerTable:
    """A :class:`~companion.models.LayerTable` traced from a real forward pass of ``model``.

    Only ``nn.Conv2d`` and ``nn.Linear`` layers become rows (with their traced input size).
    """
    rows = []
    lookup = dict(model.named_modules())
    for l in measure_layers(model, input_shape):
        m = lookup[l.name]
        if isinstance(m, nn.Conv2d):
            pad = m.padding if isinstance(m.padding, tuple) else (0, 0)
            rows.append(models.LayerSpec(l.name, "conv", m.in_channels, l.in_shape[-2], l.in_shape[-1], m.out_channels,
                                         m.kernel_size[0], m.kernel_size[1], m.stride[0], pad[0], m.groups,
                                         m.bias is not None))
        elif isinstance(m, nn.Linear):
            rows.append(models.LayerSpec(l.name, "fc", m.in_features, 1, 1, m.out_features, bias=m.bias is not None))
    return models.LayerTable(name or type(model).__name__, tuple(rows))


# --- storage -------------------------------------------------------------------------------

def _check_count(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int,)) and not (isinstance(v, float) and v.is_integer()):
        raise TypeError(f"{name} must be an int, got {v!r}")
    v = int(v)
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {v}")
    return v


def storage_bits(n_values: int, value_bits: int | float, *, n_indices: int = 0, index_bits: int = 0,
                 codebook_entries: int = 0, codebook_bits: int = 32) -> int:
    """Bits to store ``n_values`` values of ``value_bits`` each, plus index and codebook overhead.

    ``bits = n_values·value_bits + n_indices·index_bits + codebook_entries·codebook_bits``
    (rounded up). Index overhead is what sparse formats pay (CSR column indices, Deep
    Compression's relative indices); the codebook is what weight sharing pays.

    >>> storage_bits(100, 4, n_indices=100, index_bits=5, codebook_entries=16)
    1412
    """
    n_values = _check_count("n_values", n_values)
    n_indices = _check_count("n_indices", n_indices)
    codebook_entries = _check_count("codebook_entries", codebook_entries)
    for nm, b in (("value_bits", value_bits), ("index_bits", index_bits), ("codebook_bits", codebook_bits)):
        if isinstance(b, bool) or not isinstance(b, (int, float)) or b < 0 or b > 64:
            raise ValueError(f"{nm} must be a number in [0, 64], got {b!r}")
    if n_values and value_bits <= 0:
        raise ValueError(f"value_bits must be > 0 when values are stored, got {value_bits}")
    return math.ceil(n_values * value_bits + n_indices * index_bits + codebook_entries * codebook_bits)


@dataclass(frozen=True)
class LayerStorage:
    """How one layer is stored: ``bits`` is the total with every overhead."""

    name: str
    weight_bits: int
    index_bits: int = 0
    codebook_bits: int = 0
    bias_bits: int = 0

    @property
    def bits(self) -> int:
        return self.weight_bits + self.index_bits + self.codebook_bits + self.bias_bits


def dense_storage(model: nn.Module, bits: int | Mapping[str, int] = 32, *, bias_bits: int = 32,
                  input_shape: Sequence[int] = (1, 1, 28, 28)) -> list[LayerStorage]:
    """Per-layer storage of a dense model whose weights use ``bits`` (one int or per layer name)."""
    out = []
    for l in measure_layers(model, input_shape):
        b = bits.get(l.name, 32) if isinstance(bits, Mapping) else bits
        out.append(LayerStorage(l.name, storage_bits(l.weights, b), bias_bits=storage_bits(l.bias, bias_bits)))
    return out


def model_size_bits(model: nn.Module, bits: int | Mapping[str, int] = 32, *, bias_bits: int = 32,
                    input_shape: Sequence[int] = (1, 1, 28, 28)) -> int:
    """Size of a dense model in bits with ``bits`` per weight (float32: 32)."""
    return sum(s.bits for s in dense_storage(model, bits, bias_bits=bias_bits, input_shape=input_shape))


def compression_ratio(baseline_bits: float, compressed_bits: float) -> float:
    """``baseline / compressed`` (e.g. 40.0 means forty times smaller)."""
    if not baseline_bits > 0 or not compressed_bits > 0:
        raise ValueError(f"sizes must be > 0, got baseline={baseline_bits!r}, compressed={compressed_bits!r}")
    return baseline_bits / compressed_bits


# --- reports -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CompressionReport:
    """One compressed model measured against its baseline on the shared ruler.

    ``compression_ratio = baseline_size_bits / size_bits`` (all overheads counted in
    ``size_bits``), ``mac_reduction = baseline_macs / macs``,
    ``acc_drop = baseline_accuracy − accuracy`` (percentage points; positive = loss).
    ``breakdown`` lists the parts of ``size_bits`` (e.g. weights, index, codebook).
    """

    name: str
    size_bits: int
    baseline_size_bits: int
    macs: int
    baseline_macs: int
    accuracy: float
    baseline_accuracy: float
    params: int = 0
    nonzero_params: int = 0
    breakdown: tuple[tuple[str, int], ...] = field(default=())

    def __post_init__(self):
        if self.size_bits <= 0 or self.baseline_size_bits <= 0:
            raise ValueError("sizes must be > 0")
        if self.macs < 0 or self.baseline_macs < 0:
            raise ValueError("MACs must be >= 0")

    @property
    def size_bytes(self) -> float:
        return self.size_bits / 8

    @property
    def baseline_size_bytes(self) -> float:
        return self.baseline_size_bits / 8

    @property
    def compression_ratio(self) -> float:
        return compression_ratio(self.baseline_size_bits, self.size_bits)

    @property
    def mac_reduction(self) -> float:
        return self.baseline_macs / self.macs if self.macs else math.inf

    @property
    def acc_drop(self) -> float:
        return self.baseline_accuracy - self.accuracy

    def as_dict(self) -> dict:
        return {"method": self.name, "size (KB)": self.size_bytes / 1024, "ratio": self.compression_ratio,
                "MACs": self.macs, "MAC reduction": self.mac_reduction, "accuracy (%)": self.accuracy,
                "drop (pp)": self.acc_drop}

    def __str__(self) -> str:
        parts = ", ".join(f"{k} {v / 8 / 1024:.1f} KB" for k, v in self.breakdown)
        return (f"{self.name}: {self.size_bytes / 1024:.1f} KB ({self.compression_ratio:.1f}x smaller"
                f"{'; ' + parts if parts else ''}), {self.macs:,} MACs ({self.mac_reduction:.2f}x fewer), "
                f"accuracy {self.accuracy:.2f}% ({self.acc_drop:+.2f} pp drop)")

    def _repr_html_(self) -> str:
        return compare([self])._repr_html_()


def make_report(name: str, model: nn.Module, baseline: nn.Module, *, accuracy: float, baseline_accuracy: float,
                size_bits: int | None = None, breakdown: Mapping[str, int] | None = None,
                input_shape: Sequence[int] = (1, 1, 28, 28), nonzero_macs: bool = False) -> CompressionReport:
    """Measure ``model`` against ``baseline`` (float32 dense size, hook-measured MACs).

    ``size_bits`` defaults to the dense float32 size of ``model``; pass the real encoded size
    (with ``breakdown``) when the model is stored compressed. ``nonzero_macs=True`` counts
    only MACs with non-zero weights (what a sparse engine could skip).
    """
    layers = measure_layers(model, input_shape)
    base_layers = measure_layers(baseline, input_shape)
    size = size_bits if size_bits is not None else model_size_bits(model, 32, input_shape=input_shape)
    return CompressionReport(
        name=name, size_bits=int(size),
        baseline_size_bits=model_size_bits(baseline, 32, input_shape=input_shape),
        macs=sum(l.nonzero_macs if nonzero_macs else l.macs for l in layers),
        baseline_macs=sum(l.macs for l in base_layers),
        accuracy=float(accuracy), baseline_accuracy=float(baseline_accuracy),
        params=sum(l.params for l in layers), nonzero_params=sum(l.nonzero_weights + l.bias for l in layers),
        breakdown=tuple((breakdown or {}).items()))


def compare(reports: Iterable[CompressionReport]):
    """A pandas DataFrame with one row per report (method, size, ratio, MACs, accuracy, drop)."""
    import pandas as pd
    reports = list(reports)
    for r in reports:
        if not isinstance(r, CompressionReport):
            raise TypeError(f"expected CompressionReport, got {type(r).__name__}")
    df = pd.DataFrame([r.as_dict() for r in reports])
    return df.set_index("method") if len(df) else df


# --- measured time: the one timer of the library ---------------------------------------------
#
# A speed-up printed in the book must survive a busy machine. Three rules make it so:
# 1. *single-threaded* by default (``threads=1``): with two cores and another process on one of
#    them, a two-thread kernel waits for the busy core at every barrier (seen: a CSR "speed-up"
#    of 351x where the quiet machine gives 7x); one thread just runs on the free core;
# 2. *interleaved rounds*: every candidate is timed in every round, one after the other, so a
#    burst of load hits all of them alike; a ratio is taken *within* a round;
# 3. *minimum of repeats* inside a round (other processes only ever add time, as ``timeit``
#    recommends), and the spread over rounds is reported: a range, never one noisy point.

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
