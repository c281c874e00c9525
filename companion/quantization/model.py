"""Quantizing a whole network: post-training, quantization-aware training, mixed precision, sizes.

After the survey's section on data quantization (its model-level methods):

* :func:`quantize_weights` — post-training weight quantization of a copy (uniform per tensor,
  per channel or per group; power-of-two; k-means), ``bits`` one width or ``{layer: bits}``;
* :func:`ptq` — weights plus calibrated activation quantizers (Jacob et al. 2018;
  Krishnamoorthi 2018);
* :class:`FakeQuantWeight` and :func:`prepare_qat_` — quantization-aware training through weight
  transforms (``companion.reparam.attach``) and the STE; :func:`bake_` freezes the result;
* :func:`bit_sensitivity` and :func:`assign_bits` — greedy mixed precision (in the spirit of
  HAQ/HAWQ, with measured accuracy as the sensitivity);
* :func:`quantized_size_bits` — storage with every overhead (scales, zero points, codebooks);
* :func:`dynamic_int8` and :func:`time_forward_ms` — what PyTorch really runs on a CPU.
"""
from __future__ import annotations

import copy
import math
import warnings
from typing import Callable, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import checks, metrics, reparam
from ..reparam import bake_
from .activations import attach_activation_quant_, calibrate_activations_
from .binary import binarize, ternarize
from .codebook import decode_codebook, kmeans_codebook, log_quantize
from .primitives import (SCHEMES, bits_per_layer, choose_qparams, fake_quantize, fake_quantize_ste, per_channel,
                         qrange)

__all__ = ["WEIGHT_METHODS", "GRANULARITIES", "SIZE_METHODS", "DEFAULT_GROUP_SIZE", "quant_layers",
           "quantize_weights", "ptq", "FakeQuantWeight", "prepare_qat_", "bake_", "quantized_size_bits",
           "bit_sensitivity", "assign_bits", "dynamic_int8", "time_forward_ms"]

WEIGHT_METHODS = ("uniform", "log", "kmeans", "binary", "xnor", "ternary")
GRANULARITIES = ("tensor", "channel", "group")
SIZE_METHODS = ("uniform", "kmeans", "log", "binary", "xnor", "ternary")
DEFAULT_GROUP_SIZE = 32


def quant_layers(model: nn.Module, layers: Iterable[str] | None = None) -> dict[str, nn.Module]:
    """The ``nn.Conv2d``/``nn.Linear`` layers of ``model`` by name (all, or those in ``layers``;
    unknown names raise, listing the real ones): ``companion.reparam.select_layers``."""
    return reparam.select_layers(checks.check_model(model), layers)


def _check_grouping(granularity: str, group_size) -> int | None:
    checks.check_choice(granularity, "granularity", GRANULARITIES)
    if group_size is None:
        return DEFAULT_GROUP_SIZE if granularity == "group" else None
    group_size = checks.check_int(group_size, "group_size", minimum=1)
    if granularity != "group":
        raise ValueError(f"group_size applies to granularity='group' only, got granularity={granularity!r}")
    return group_size


def _group_rows(w: torch.Tensor, group_size: int) -> tuple[torch.Tensor, int]:
    """``w`` as rows ``[O, I·kh·kw]`` zero-padded on the right to a whole number of groups, and
    the true row length. The padding never changes a group's scale: the symmetric scale is
    ``max|w|/qmax`` and the affine range is widened to contain 0 anyway."""
    rows = w.reshape(w.shape[0], -1)
    n = rows.shape[1]
    pad = (-n) % group_size
    return (F.pad(rows, (0, pad)) if pad else rows), n


def _quantize_weight(w: torch.Tensor, bits: int, method: str, scheme: str, granularity: str,
                     group_size: int | None = None, ste: bool = False) -> torch.Tensor:
    """One weight through one quantizer (``ste=True``: differentiable by the STE).

    ``granularity="group"``: each output row ``[I·kh·kw]`` is cut into groups of ``group_size``
    consecutive weights, one scale each; a last partial group (row length not a multiple of
    ``group_size``) keeps its own scale: ``ceil(row / group_size)`` scales per row.
    """
    if method == "uniform":
        if bits == 1:  # the 1-bit uniform grid is the sign with a scale
            return binarize(w, scale="xnor", per_channel=granularity != "tensor")
        if granularity == "group":
            gs = group_size or DEFAULT_GROUP_SIZE
            src, n = _group_rows(w, gs)
            block = (1, gs)
        else:
            src, n = w, None
            block = per_channel(w.shape, 0) if granularity == "channel" else None
        qp = choose_qparams(src.detach(), bits, scheme=scheme, block_size=block)
        out = fake_quantize_ste(src, qp) if ste else fake_quantize(src.detach(), qparams=qp)
        if n is not None:
            out = out[:, :n]
        return out.reshape(w.shape)
    if method == "log":
        if bits == 1:
            return binarize(w, scale="xnor", per_channel=False)
        q = log_quantize(w.detach(), bits)
        return w + (q - w).detach() if ste else q
    if method == "kmeans":
        codebook, codes = kmeans_codebook(w.detach(), bits)
        q = decode_codebook(codebook, codes).to(w.dtype)
        return w + (q - w).detach() if ste else q
    if method == "binary":
        return binarize(w, scale="none")
    if method == "xnor":
        return binarize(w, scale="xnor")
    if method == "ternary":
        return ternarize(w)
    raise ValueError(f"method must be one of {WEIGHT_METHODS}, got {method!r}")


def quantize_weights(model: nn.Module, bits: int | Mapping[str, int], *, method: str = "uniform",
                     scheme: str = "symmetric", granularity: str = "channel", group_size: int | None = None,
                     layers: Iterable[str] | None = None) -> nn.Module:
    """Post-training weight quantization: a copy of ``model`` whose conv/linear weights are
    snapped to their ``bits``-bit grid (``method``: ``uniform``, ``log``, ``kmeans``, ``binary``,
    ``xnor``, ``ternary``). ``bits``: one width in 1…32, or a per-layer dict for mixed precision
    — its keys must be layer names of ``model`` (an unknown name raises ``ValueError``), a layer
    missing from it stays float, and 32 means float. ``layers`` restricts the layers touched.
    ``granularity``: ``"tensor"``, ``"channel"`` (per output channel) or ``"group"`` (groups of
    ``group_size`` weights of a row, default 32; a last partial group has its own scale).
    Biases stay float32 (they are stored at 32 bits in :func:`quantized_size_bits`, as integer
    kernels do)."""
    checks.check_model(model)
    checks.check_choice(method, "method", WEIGHT_METHODS)
    checks.check_choice(scheme, "scheme", SCHEMES)
    group_size = _check_grouping(granularity, group_size)
    widths = bits_per_layer(bits, reparam.weight_layers(model), default=32)
    model = copy.deepcopy(model)
    for name, layer in reparam.select_layers(model, layers).items():
        b = widths[name]
        if b >= 32:
            continue
        if method == "uniform" and b > 1:
            qrange(b, scheme)
        with torch.no_grad():
            layer.weight.copy_(_quantize_weight(layer.weight.detach(), b, method, scheme, granularity, group_size))
    return model


def ptq(model: nn.Module, w_bits: int | Mapping[str, int] | None = 8, a_bits: int | None = 8, *,
        method: str = "uniform", granularity: str = "channel", scheme: str = "symmetric",
        calibration: str = "minmax", percentile: float = 99.99, calib_data: str | torch.Tensor = "val",
        skip_first_act: bool = False) -> nn.Module:
    """Post-training quantization of a copy of ``model``: ``w_bits``-bit weights
    (:func:`quantize_weights`) and ``a_bits``-bit activations (the input of every conv/linear
    layer) whose clip ranges are calibrated on ``calib_data`` (a split name — the 500
    validation images by default, never the test set — or a batch of images) by
    ``calibration`` = ``"minmax"``, ``"percentile"`` or ``"mse"`` (:func:`calibrate_range`).
    ``None`` leaves weights or activations in float32."""
    from .. import data as _data
    checks.check_model(model)
    q = quantize_weights(model, w_bits, method=method, granularity=granularity, scheme=scheme) \
        if w_bits is not None else copy.deepcopy(model)
    if a_bits is not None:
        x = _data.load_mnist(calib_data)[0] if isinstance(calib_data, str) else calib_data
        acts = attach_activation_quant_(q, a_bits, skip_first=skip_first_act)
        calibrate_activations_(q, acts, x, method=calibration, percentile=percentile)
    return q.eval()


class FakeQuantWeight(nn.Module):
    """Weight transform for quantization-aware training: the forward sees the weight on its
    ``bits``-bit grid (recalibrated by min/max at every step), the backward is the STE.
    Attach with ``companion.reparam.attach`` or :func:`prepare_qat_`."""

    def __init__(self, bits: int, *, method: str = "uniform", scheme: str = "symmetric", granularity: str = "channel",
                 group_size: int | None = None):
        super().__init__()
        checks.check_choice(method, "method", WEIGHT_METHODS)
        checks.check_choice(scheme, "scheme", SCHEMES)
        self.group_size = _check_grouping(granularity, group_size)
        self.bits, self.method, self.scheme, self.granularity = checks.check_bits(bits), method, scheme, granularity
        if method == "uniform" and bits > 1:
            qrange(bits, scheme)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return _quantize_weight(w, self.bits, self.method, self.scheme, self.granularity, self.group_size, ste=True)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, method={self.method}, scheme={self.scheme}, granularity={self.granularity}"


def prepare_qat_(model: nn.Module, weight: Callable[[str, nn.Module], nn.Module] | nn.Module | None,
                 act_bits: int | None = None, *, skip_first_act: bool = False, act_clip: str = "ema") -> dict:
    """Attach a weight transform to every conv/linear layer (a module, copied per layer, e.g.
    ``FakeQuantWeight(4)``, or a factory ``weight(name, layer)``) with ``companion.reparam.attach``
    and, with ``act_bits``, activation quantizers in ``"qat"`` mode; in place. Train with
    :func:`companion.train.fit`, then :func:`bake_`. Returns ``{layer: ActQuant}``."""
    checks.check_model(model)
    if weight is not None and not isinstance(weight, nn.Module) and not callable(weight):
        raise TypeError(f"weight must be an nn.Module, a factory weight(name, layer) or None, got {type(weight).__name__}")
    for name, layer in reparam.weight_layers(model).items():
        if weight is not None:
            p = copy.deepcopy(weight) if isinstance(weight, nn.Module) else weight(name, layer)
            reparam.attach(layer, p, unsafe=True)
    acts = {}
    if act_bits is not None:
        acts = attach_activation_quant_(model, act_bits, skip_first=skip_first_act, clip=act_clip)
        for q in acts.values():
            q.mode = "qat"
    return acts


def quantized_size_bits(model: nn.Module, bits: int | Mapping[str, int], *, method: str = "uniform",
                        granularity: str = "channel", scheme: str = "symmetric", bias_bits: int = 32,
                        group_size: int = DEFAULT_GROUP_SIZE, layers: Sequence[metrics.LayerCost] | None = None) -> int:
    """Storage of ``model`` with ``bits``-bit weights, overheads included (shared ruler of
    :mod:`companion.metrics`).

    Per block a 32-bit scale (+ a ``bits``-bit zero point for affine), where the blocks are one
    per tensor, one per output channel, or — ``granularity="group"`` — ``ceil(row /
    group_size)`` per output channel (a last partial group has its own scale, as in
    :func:`quantize_weights`); ``binary`` no overhead, ``xnor`` one scale per output channel,
    ``ternary`` two scales per layer (``bits`` should then be 1, 1 and 2); for ``kmeans`` a
    codebook of ``2^bits`` 32-bit entries per layer, for ``log`` the exponent range (2 × 8
    bits); biases at ``bias_bits``. ``bits``: one width or ``{layer: bits}`` (unknown names
    raise; missing layers count at 32 bits). ``layers``: ``metrics.measure_layers(model)`` when
    already measured (saves a forward pass).
    """
    checks.check_choice(method, "method", SIZE_METHODS)
    checks.check_choice(granularity, "granularity", GRANULARITIES)
    checks.check_choice(scheme, "scheme", SCHEMES)
    bias_bits = checks.check_int(bias_bits, "bias_bits", minimum=1)
    group_size = checks.check_int(group_size, "group_size", minimum=1)
    costs = list(layers) if layers is not None else metrics.measure_layers(checks.check_model(model))
    widths = bits_per_layer(bits, {layer.name: layer for layer in costs}, default=32)
    total = 0
    for layer in costs:
        b = widths[layer.name]
        if b >= 32:
            total += metrics.storage_bits(layer.weights, 32) + metrics.storage_bits(layer.bias, bias_bits)
            continue
        out_c = layer.out_shape[0] if layer.kind == "conv" else layer.out_shape[-1]
        if method == "kmeans":
            over = metrics.storage_bits(0, 0, codebook_entries=2 ** b, codebook_bits=32)
        elif method == "log":
            over = 16
        elif method == "binary":  # BinaryConnect / BNN: signs only
            over = 0
        elif method == "xnor":  # one 32-bit alpha per output channel
            over = out_c * 32
        elif method == "ternary":  # TWN: one alpha per layer (TTQ: two)
            over = 64
        else:
            row = layer.weights // out_c
            n_blocks = {"tensor": 1, "channel": out_c, "group": out_c * math.ceil(row / group_size)}[granularity]
            over = n_blocks * (32 + (b if scheme == "affine" else 0))
        total += metrics.storage_bits(layer.weights, b) + over + metrics.storage_bits(layer.bias, bias_bits)
    return total


def bit_sensitivity(model: nn.Module, bits_list: Sequence[int], evaluate: Callable[[nn.Module], float], *,
                      method: str = "uniform", granularity: str = "channel") -> dict[str, dict[int, float]]:
    """Per-layer bit sensitivity: accuracy when *only* that layer is quantized to ``b`` bits
    (every other layer float), for each ``b`` in ``bits_list``: ``{layer: {bits: accuracy}}``."""
    checks.check_model(model)
    if isinstance(bits_list, (int, str)) or not list(bits_list):
        raise ValueError(f"bits_list must be a non-empty sequence of bit widths, got {bits_list!r}")
    bits_list = [checks.check_bits(b, "bits_list entry") for b in bits_list]
    if not callable(evaluate):
        raise TypeError(f"evaluate must be callable (model -> accuracy), got {type(evaluate).__name__}")
    out = {}
    for name in reparam.weight_layers(model):
        out[name] = {b: evaluate(quantize_weights(model, {name: b}, method=method, granularity=granularity))
                     for b in bits_list}
    return out


def assign_bits(sensitivity: Mapping[str, Mapping[int, float]], weights: Mapping[str, int], budget_bits: float,
                baseline_acc: float) -> dict[str, int]:
    """Greedy mixed precision: start every layer at its largest candidate width and repeatedly
    lower the layer whose next step down costs the least accuracy (measured drop, per bit saved)
    until the weights fit ``budget_bits``: ``Σ_l n_l·b_l ≤ budget``. Returns ``{layer: bits}``;
    raises ``ValueError`` when even the smallest widths do not fit."""
    if not isinstance(sensitivity, Mapping) or not sensitivity:
        raise ValueError("sensitivity must be a non-empty {layer: {bits: accuracy}} dict (from bit_sensitivity)")
    missing = [n for n in sensitivity if n not in weights]
    if missing:
        raise ValueError(f"weights has no count for layer(s) {missing}; give {{layer: number of weights}} for each")
    budget_bits = checks.check_float(budget_bits, "budget_bits", minimum=0.0, open_low=True)
    options = {n: sorted(s) for n, s in sensitivity.items()}
    choice = {n: opts[-1] for n, opts in options.items()}

    def size(c):
        return sum(weights[n] * b for n, b in c.items())

    if sum(weights[n] * opts[0] for n, opts in options.items()) > budget_bits:
        raise ValueError("budget too small: even the narrowest widths do not fit")
    while size(choice) > budget_bits:
        best, best_cost = None, math.inf
        for n, opts in options.items():
            i = opts.index(choice[n])
            if i == 0:
                continue
            b_new = opts[i - 1]
            drop = max(0.0, sensitivity[n][choice[n]] - sensitivity[n][b_new]) + 1e-3
            cost = drop / (weights[n] * (choice[n] - b_new))
            if cost < best_cost:
                best, best_cost = (n, b_new), cost
        choice[best[0]] = best[1]
    return choice


# --- what PyTorch really runs: int8 dynamic quantization on the CPU ------------------------------

def dynamic_int8(model: nn.Module) -> nn.Module:
    """PyTorch's own int8 path: ``torch.ao.quantization.quantize_dynamic`` of the ``nn.Linear``
    layers (int8 weights, activations quantized on the fly per batch)."""
    checks.check_model(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic
        return quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8)


def time_forward_ms(model: nn.Module, batch: int, *, repeats: int = 50, warmup: int = 10,
                    input_shape: Sequence[int] = (1, 28, 28), stat: str = "median") -> float:
    """Wall-clock milliseconds of one forward pass on a ``[batch, *input_shape]`` input:
    the ``"median"`` or the ``"min"`` of ``repeats`` runs — a thin wrapper over the library's
    one timer, ``companion.metrics.latency_ms`` (itself ``metrics.time_call_ms``)."""
    batch = checks.check_int(batch, "batch", minimum=1)
    return metrics.latency_ms(checks.check_model(model), (batch, *input_shape), repeats=repeats, warmup=warmup,
                              stat=stat)
