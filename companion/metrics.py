"""The shared ruler: parameters, non-zeros, MACs, storage size with overheads, compression ratio.

Every chapter reports through these functions and through :class:`CompressionReport`, so a
pruned, quantized or decomposed model is judged exactly like every other (after the survey's
discussion of evaluation metrics and fair comparison).

Conventions: a *MAC* is one multiply-accumulate; MACs are per input sample (batch 1).
Sizes are in bits (``*_bits``) or bytes (``*_bytes``); a ratio is ``baseline / compressed``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import torch
from torch import nn

from . import models

__all__ = ["LayerCost", "measure_layers", "count_params", "count_nonzero", "measure_macs",
           "module_layer_table", "storage_bits", "LayerStorage", "dense_storage", "model_size_bits",
           "compression_ratio", "CompressionReport", "make_report", "compare", "Spread", "Timings", "time_calls_ms",
           "time_call_ms", "latency_ms", "compare_latency_ms"]

# the one timer lives in companion.timing; re-exported here (same objects)
from .timing import Spread, Timings, compare_latency_ms, latency_ms, time_call_ms, time_calls_ms  # noqa: E402


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
