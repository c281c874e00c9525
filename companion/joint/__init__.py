"""Joint-way compression (chapter 6): Deep Compression end to end, recipes, sensitivity.

After the survey's sections on joint-way compression and sensitivity analysis (Deng et al.
2020). The pieces, each in its own module:

* :mod:`~companion.joint.huffman` — canonical Huffman coding (code lengths, codes, encode, decode);
* :mod:`~companion.joint.codec` — the compressed file: relative indices, codebooks, Huffman
  streams, a checksum; :func:`write_model` / :func:`read_model` give bytes and a working model back;
* :mod:`~companion.joint.recipes` — declarative compression recipes, validated before they run;
  :func:`run` returns one :class:`~companion.metrics.CompressionReport` (real file size, MACs,
  accuracy after decoding);
* :mod:`~companion.joint.sensitivity` — per-layer sensitivity to pruning and to bits, and the
  rule that turns it into per-layer settings;
* :mod:`~companion.joint.figures` — the chapter's figures (imported on demand: it loads Matplotlib).

This module adds the Deep Compression recipes of the chapter (:data:`DEEP_COMPRESSION`,
:func:`deep_compression`), the sparsity × bits grid behind the chapter's widget and ablation
(:func:`prune_share_grid`), and the chapter's exercises (``ch6.*``).

Deep Compression (Han, Mao, Dally, ICLR 2016): prune (Han et al. 2015) → share weights by
k-means with codebook fine-tuning → Huffman-code the codes and the relative indices;
LeNet-300-100 40x, LeNet-5 39x, AlexNet 35x, VGG-16 49x with no accuracy loss.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch

from .. import exercises, metrics, train
from . import codec, huffman, recipes, sensitivity
from .codec import Coding, CorruptFileError, decode_tensor, describe, encode_tensor, read_model, size_breakdown, \
    write_model
from .huffman import canonical_codes, code_lengths, encoded_bits, entropy_bits, huffman_decode, huffman_encode
from .recipes import METHODS, Recipe, RecipeResult, Step, run, validate
from .sensitivity import Sensitivity, layer_sensitivity, settings_from_sensitivity

__all__ = [
    # Huffman
    "code_lengths", "canonical_codes", "huffman_encode", "huffman_decode", "encoded_bits", "entropy_bits",
    # file
    "Coding", "CorruptFileError", "encode_tensor", "decode_tensor", "write_model", "read_model", "size_breakdown",
    "describe",
    # recipes
    "Step", "Recipe", "RecipeResult", "METHODS", "validate", "run",
    # sensitivity
    "Sensitivity", "layer_sensitivity", "settings_from_sensitivity",
    # the chapter's experiments
    "DEEP_COMPRESSION", "PAPER", "deep_compression", "stage_table", "prune_share_grid", "float32_bytes",
    "PARETO_RECIPES", "pareto_results", "cached_sensitivity", "compact_results",
    # submodules
    "codec", "huffman", "recipes", "sensitivity",
]

#: The chapter's Deep Compression recipes. Layer sparsities follow the paper's per-layer
#: pattern (Han et al. 2016, Table 2 and 3: the big FC layer is pruned hardest, conv1 least);
#: conv layers share 8 bits, FC layers 5 bits (the paper's widths). The relative-index width of
#: each layer is chosen by the encoder (``"auto"``: the width giving the smallest file,
#: :func:`~companion.joint.codec.best_index_bits`); the intermediate stages are measured with the
#: paper's fixed 5-bit (FC) / 8-bit (conv) indices.
DEEP_COMPRESSION: dict[str, Recipe] = {
    "lenet300": Recipe.from_dict({
        "name": "Deep Compression, LeNet-300-100", "model": "lenet300", "steps": [
            {"method": "prune", "sparsity": {"fc1": 0.95, "fc2": 0.9, "fc3": 0.7}, "rounds": 4,
             "epochs_per_round": 5},
            {"method": "share", "bits": 5, "epochs": 5},
            {"method": "encode", "index_bits": "auto"}]}),
    "lenet5": Recipe.from_dict({
        "name": "Deep Compression, LeNet-5", "model": "lenet5", "steps": [
            {"method": "prune", "sparsity": {"conv1": 0.34, "conv2": 0.88, "fc1": 0.95, "fc2": 0.81}, "rounds": 3,
             "epochs_per_round": 3},
            {"method": "share", "bits": {"conv1": 8, "conv2": 8, "fc1": 5, "fc2": 5}, "epochs": 3},
            {"method": "encode", "index_bits": "auto"}]}),
}

#: Deep Compression's published ratios per stage (Han et al. 2016, Table 1 and Sections 2–4).
PAPER = {
    "lenet300": {"prune": 12.0, "share": 32.0, "encode": 40.0, "error_before": 1.64, "error_after": 1.58},
    "lenet5": {"prune": 12.0, "share": 33.0, "encode": 39.0, "error_before": 0.80, "error_after": 0.74},
}


def float32_bytes(model: torch.nn.Module) -> int:
    """Bytes of the dense float32 model: 4 · parameters (the baseline of every ratio)."""
    return metrics.model_size_bits(model, 32) // 8


def deep_compression(model_name: str, *, progress: bool = True) -> RecipeResult:
    """Run :data:`DEEP_COMPRESSION` ``[model_name]`` (cached: seconds once trained)."""
    if model_name not in DEEP_COMPRESSION:
        raise ValueError(f"no Deep Compression recipe for {model_name!r}; allowed: {sorted(DEEP_COMPRESSION)}")
    return run(DEEP_COMPRESSION[model_name], progress=progress)


def stage_table(result: RecipeResult, paper: dict | None = None):
    """Per-stage sizes and ratios of a Deep Compression run (pandas), with the paper's ratios beside.

    Rows: pruning (float32 values + fixed 5/8-bit relative indices), + weight sharing (fixed-width
    codes), + Huffman coding (the final file). Every size is the length of a file actually written.
    """
    import pandas as pd
    labels = {"prune": "pruning", "share": "+ weight sharing", "quantize": "+ quantization",
              "encode": "+ Huffman coding", "decompose": "decomposition"}
    rows = []
    for s in result.stages:
        row = {"stage": labels.get(s.name, s.name), "size (KB)": s.size_bytes / 1024, "ratio": s.compression_ratio,
               "accuracy (%)": s.accuracy, "drop (pp)": s.acc_drop}
        if paper:
            row["paper ratio"] = paper.get(s.name, math.nan)
        rows.append(row)
    return pd.DataFrame(rows).set_index("stage")


# --- the sparsity x bits grid (widget and ablation) -------------------------------------------

GRID_VERSION = 1


def _grid_point(model: torch.nn.Module, bits: int, index_bits: int, pruned: bool) -> dict:
    from .. import quantization
    if bits >= 32:
        shared = model
        values = "float32"
    else:
        shared = quantization.bake_(quantization.finetune_codebook(model, bits, epochs=0, prune_zeros=pruned))
        values = "huffman"
    codings = {n: Coding(values, index_bits if pruned else 0) for n in recipes.layer_names(shared)}
    data = write_model(shared, codings)
    return {"accuracy": train.evaluate(shared), "bytes": len(data), "parts": size_breakdown(data)}


def prune_share_grid(model_name: str = "lenet300", sparsities=(0.0, 0.8, 0.9, 0.95), bit_widths=(2, 3, 4, 5, 6, 32),
                     *, retrain_epochs: int = 2, index_bits: int = 5, progress: bool = True) -> list[dict]:
    """Accuracy and file size for every (sparsity, bits): the ablation of Han et al. 2016 (Fig. 6).

    Per sparsity: one-shot magnitude pruning of every layer + ``retrain_epochs`` of retraining
    (chapter 5); per bit width: k-means weight sharing *without* codebook fine-tuning (chapter 4),
    ``bits = 32`` meaning float32 values; then the file is written (Huffman-coded codes,
    ``index_bits``-bit relative indices for pruned layers, dense codes at sparsity 0) and measured.
    Each sparsity's row is cached on its own. Returns ``[{"sparsity", "bits", "accuracy", "bytes",
    "parts": {header, codebook, tables, weights, index, other}}]``.
    """
    from .. import sparsity as sp
    cfg = train.baseline_config(model_name)
    rows = []
    for s in [float(v) for v in sparsities]:
        spec = {"ch6_grid_row": GRID_VERSION, "model": model_name, "sparsity": s, "bits": [int(b) for b in bit_widths],
                "retrain_epochs": retrain_epochs, "index_bits": index_bits}

        def compute(s=s):
            model = train.baseline(model_name, progress=progress)
            if s > 0:
                sp.iterative_prune(model, s, steps=1, epochs_per_step=retrain_epochs, shift_px=cfg.shift_px,
                                   batch_size=cfg.batch_size, progress=progress)
                sp.bake_(model)
            return [{"sparsity": s, "bits": int(b), **_grid_point(model, int(b), index_bits, s > 0)}
                    for b in bit_widths]

        rows += train.cached_result(spec, compute, name=f"ch6-grid-{model_name}")
    return rows


# --- sensitivity, cached -------------------------------------------------------------------------

def cached_sensitivity(model_name: str, *, sparsities=(0.5, 0.7, 0.8, 0.9, 0.95, 0.98), bit_widths=(1, 2, 3, 4, 5, 6, 8),
                       split: str = "val", progress: bool = True) -> Sensitivity:
    """:func:`layer_sensitivity` of ``train.baseline(model_name)``, computed once and cached on disk."""
    sparsities, bit_widths = tuple(float(s) for s in sparsities), tuple(int(b) for b in bit_widths)
    spec = {"ch6_sensitivity": 1, "model": model_name, "sparsities": list(sparsities), "bits": list(bit_widths),
            "split": split}

    def compute():
        s = layer_sensitivity(train.baseline(model_name, progress=progress), sparsities=sparsities,
                              bit_widths=bit_widths, split=split)
        return {"baseline": s.baseline, "pruning": {k: list(v) for k, v in s.pruning.items()},
                "bits": {k: list(v) for k, v in s.bits.items()}}

    d = train.cached_result(spec, compute, name=f"ch6-sensitivity-{model_name}")
    return Sensitivity(float(d["baseline"]), sparsities, bit_widths, {k: tuple(v) for k, v in d["pruning"].items()},
                       {k: tuple(v) for k, v in d["bits"].items()}, split)


# --- every method on one plot ------------------------------------------------------------------

#: Recipes of chapters 3–5 and their combinations for the chapter's Pareto plots (LeNet-300-100).
#: Steps shared by several recipes (the same prefix) are trained once: the cache key is the prefix.
PARETO_RECIPES: dict[str, dict] = {
    "8-bit uniform (ch. 4)": {"steps": [{"method": "quantize", "bits": 8},
                                        {"method": "encode", "values": "fixed"}]},
    "4-bit uniform (ch. 4)": {"steps": [{"method": "quantize", "bits": 4},
                                        {"method": "encode", "values": "fixed"}]},
    "4-bit k-means + fine-tuning (ch. 4)": {"steps": [{"method": "share", "bits": 4, "epochs": 2},
                                                      {"method": "encode", "values": "fixed"}]},
    "pruning 90 % (ch. 5)": {"steps": [{"method": "prune", "sparsity": 0.9, "rounds": 2, "epochs_per_round": 2},
                                       {"method": "encode", "index_bits": 5, "index": "fixed"}]},
    "pruning 90 % + 4-bit k-means": {"steps": [
        {"method": "prune", "sparsity": 0.9, "rounds": 2, "epochs_per_round": 2},
        {"method": "share", "bits": 4, "epochs": 1}, {"method": "encode", "index_bits": 5, "values": "fixed",
                                                       "index": "fixed"}]},
    "SVD rank 32 (ch. 3)": {"steps": [{"method": "decompose", "svd_rank": {"fc1": 32, "fc2": 32}, "epochs": 3},
                                      {"method": "encode"}]},
    "SVD rank 32 + 8-bit uniform": {"steps": [
        {"method": "decompose", "svd_rank": {"fc1": 32, "fc2": 32}, "epochs": 3},
        {"method": "quantize", "bits": 8}, {"method": "encode", "values": "fixed"}]},
    "SVD rank 32 + pruning 70 %": {"steps": [
        {"method": "decompose", "svd_rank": {"fc1": 32, "fc2": 32}, "epochs": 3},
        {"method": "prune", "sparsity": 0.7, "rounds": 1, "epochs_per_round": 2},
        {"method": "encode", "index_bits": 5, "index": "fixed"}]},
}


def pareto_results(model_name: str = "lenet300", *, progress: bool = True,
                   include_deep_compression: bool = True) -> dict[str, RecipeResult]:
    """Run every recipe of :data:`PARETO_RECIPES` on ``model_name`` (cached), plus Deep Compression."""
    out = {}
    for name, r in PARETO_RECIPES.items():
        out[name] = run(Recipe.from_dict({"name": name, "model": model_name, **r}), progress=progress)
    if include_deep_compression and model_name in DEEP_COMPRESSION:
        out["Deep Compression (ch. 6)"] = deep_compression(model_name, progress=progress)
    return out


def compact_results(baseline_name: str = "lenet300", labels=("dwsep w1 d2", "fire w0.75 d2"),
                    bit_widths=(32, 8), *, progress: bool = True) -> dict[str, metrics.CompressionReport]:
    """Chapter 2's compact networks (``compact.MNIST_VARIANTS``, trained and cached by chapter 2),
    stored as float32 or with ``b``-bit uniform per-tensor weights (chapter 4), written to a file,
    read back and measured against ``train.baseline(baseline_name)`` (cached)."""
    from dataclasses import asdict

    from .. import compact, quantization
    configs = {c.label: c for c in compact.MNIST_VARIANTS}
    unknown = [l for l in labels if l not in configs]
    if unknown:
        raise ValueError(f"unknown compact variant(s) {unknown}; allowed: {sorted(configs)}")
    spec = {"ch6_compact": 1, "baseline": baseline_name, "labels": list(labels), "bits": [int(b) for b in bit_widths],
            "configs": [asdict(configs[l]) for l in labels]}

    def compute():
        base = train.baseline(baseline_name, progress=progress)
        base_acc = train.evaluate(base)
        rows = []
        for label in labels:
            cfg = configs[label]
            model = compact.train_compact(cfg, progress=progress)
            for b in bit_widths:
                m = model if b >= 32 else quantization.quantize_weights(model, b, granularity="tensor")
                codings = {n: Coding("float32" if b >= 32 else "fixed") for n in recipes.layer_names(m)}
                data = write_model(m, codings)
                back = read_model(data, compact.build_compact(cfg))
                name = f"compact {label} (ch. 2)" + ("" if b >= 32 else f" + {b}-bit uniform")
                r = metrics.make_report(name, back, base, accuracy=train.evaluate(back), baseline_accuracy=base_acc,
                                        size_bits=8 * len(data),
                                        breakdown={k: 8 * v for k, v in size_breakdown(data).items()},
                                        nonzero_macs=True)
                d = asdict(r)
                d["breakdown"] = [list(x) for x in r.breakdown]
                rows.append(d)
        return rows

    rows = train.cached_result(spec, compute, name="ch6-compact")
    return {d["name"]: metrics.CompressionReport(**{**d, "breakdown": tuple(tuple(x) for x in d["breakdown"])})
            for d in rows}


# --- exercises -----------------------------------------------------------------------------------

_EX_COUNTS = {"a": 45, "b": 13, "c": 12, "d": 16, "e": 9, "f": 5}


def _ex_avg_length() -> float:
    counts = np.array(list(_EX_COUNTS.values()))
    lengths = code_lengths(counts)
    return float((counts * lengths).sum() / counts.sum())


exercises.register(
    "ch6.huffman_average",
    "Symbols a..f occur 45, 13, 12, 16, 9 and 5 times. Build a Huffman code by hand: what is its average "
    "length in bits per symbol?",
    exercises.close_to(_ex_avg_length, rtol=1e-6, hint="merge the two rarest subtrees again and again (5+9, "
                       "then 12+13, ...); a symbol's code length is its depth; average = Σ count·length / Σ count.",
                       explain=lambda v: f"{v:.2f} bits per symbol, against 3 bits for a fixed-width code of 6 symbols."),
    "easy")

_EX_POSITIONS = (2, 5, 30, 31, 100)


def _ex_relative_bits() -> int:
    from .. import sparsity
    row = torch.zeros(128)
    row[list(_EX_POSITIONS)] = 1.0
    values, gaps = sparsity.relative_index_encode(row, 3)
    return int(values.numel()) * (4 + 3)


exercises.register(
    "ch6.relative_index_bits",
    "A row of 128 weights has non-zeros at positions 2, 5, 30, 31 and 100 (0-based). Stored with 4-bit codes and "
    "3-bit relative indices (filler zeros for longer runs, as Deep Compression does), how many bits does the row take?",
    exercises.close_to(_ex_relative_bits, rtol=0, atol=0.5, hint="a gap counts the zeros since the previous stored "
                       "entry; 3 bits hold at most 7, and a longer run inserts a filler zero (gap 7, value 0) that "
                       "itself covers one position; every stored entry costs 4 + 3 bits."),
    "medium")


def _ex_biggest_stage() -> str:
    res = deep_compression("lenet300", progress=False)
    sizes = [float(float32_bytes(res.model))] + [s.size_bytes for s in res.stages]
    saved = {name: sizes[i] - sizes[i + 1] for i, name in enumerate(["prune", "share", "encode"])}
    return max(saved, key=saved.get)


exercises.register(
    "ch6.biggest_saving",
    "In the LeNet-300-100 run of this chapter, which stage saves the most bytes: 'prune', 'share' or 'encode'?",
    exercises.one_of(_ex_biggest_stage, normalize=lambda a: str(a).strip().lower(),
                     hint="subtract consecutive sizes of the stage table (the dense float32 file comes first)."),
    "medium")


def _ex_huffman_bits_reference(counts) -> int:
    counts = np.asarray(counts, dtype=np.int64)
    return int((code_lengths(counts) * counts).sum())


def _ex_huffman_cases():
    rng = np.random.default_rng(6)
    return [(np.array([5, 2, 1, 1]),), (np.array([7]),), (np.array([1, 1, 1, 1, 1, 1, 1, 1]),),
            (rng.integers(1, 1000, 12),), (np.array([3, 0, 4, 0, 1]),)]


exercises.register(
    "ch6.huffman_bits",
    "Write huffman_bits(counts) -> int: the length in bits of a symbol stream with these symbol counts, coded with "
    "an optimal prefix (Huffman) code. Use heapq, not this module. (A lone symbol still costs 1 bit; count 0 = unused.)",
    exercises.same_function(_ex_huffman_bits_reference, _ex_huffman_cases,
                            hint="each merge of two subtrees with counts a and b adds a + b bits to the total "
                                 "(every symbol below goes one level deeper); handle the one-symbol case."),
    "hard")
