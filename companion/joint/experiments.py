"""The experiments of chapter 6: Deep Compression runs, the sparsity × bits grid, the cached
sensitivity, and every method of chapters 2–6 (and knowledge distillation) on one plot.

Deep Compression (Han, Mao, Dally, ICLR 2016): prune (Han et al. 2015) → share weights by
k-means with codebook fine-tuning → Huffman-code the codes and the relative indices;
LeNet-300-100 40x, LeNet-5 39x, AlexNet 35x, VGG-16 49x with no accuracy loss.

Everything that trains is cached (:func:`companion.train.cached_model` /
:func:`~companion.train.cached_result`, keyed by the spec, the parent models and the source of
the functions below: no version counters). Every recipe takes ``seed`` (0: the book's results),
which selects the baseline's seed and the retraining's.
"""
from __future__ import annotations

import math
from dataclasses import asdict

import torch

from .. import metrics, train
from .codec import Coding, read_model, size_breakdown, write_model
from .recipes import Recipe, RecipeResult, layer_names, run
from .sensitivity import Sensitivity, layer_sensitivity

__all__ = ["DEEP_COMPRESSION", "PAPER", "PAPER_RECIPE", "deep_compression", "stage_table", "recipe_summary",
           "float32_bytes", "prune_share_grid", "cached_sensitivity", "RETRAIN_EPOCHS", "PARETO_RECIPES",
           "retrain_epochs", "pareto_results", "compact_results", "distillation_results"]

#: The chapter's Deep Compression recipes. Layer sparsities follow the paper's per-layer
#: pattern (Han et al. 2016, Table 2 and 3: the big FC layer is pruned hardest, conv1 least);
#: conv layers share 8 bits, FC layers 5 bits. The relative-index width of each layer is chosen by
#: the encoder (``"auto"``: the width giving the smallest file,
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

#: The paper's per-layer recipe (Han et al. 2016, Tables 2 and 3): fraction of weights kept → sparsity, bits.
PAPER_RECIPE = {
    "lenet300": {"sparsity": {"fc1": 0.92, "fc2": 0.91, "fc3": 0.74}, "bits": {"fc1": 6, "fc2": 6, "fc3": 6}},
    "lenet5": {"sparsity": {"conv1": 0.34, "conv2": 0.88, "fc1": 0.92, "fc2": 0.81},
               "bits": {"conv1": 8, "conv2": 8, "fc1": 5, "fc2": 5}},
}


def float32_bytes(model: torch.nn.Module) -> int:
    """Bytes of the dense float32 model: 4 · parameters (the baseline of every ratio)."""
    return metrics.model_size_bits(model, 32) // 8


def deep_compression(model_name: str, *, seed: int = 0, progress: bool = True) -> RecipeResult:
    """Run :data:`DEEP_COMPRESSION` ``[model_name]`` (cached: seconds once trained)."""
    if model_name not in DEEP_COMPRESSION:
        raise ValueError(f"no Deep Compression recipe for {model_name!r}; allowed: {sorted(DEEP_COMPRESSION)}")
    return run(DEEP_COMPRESSION[model_name], seed=seed, progress=progress)


def recipe_summary(model_name: str, *, seed: int = 0) -> dict:
    """Our Deep Compression recipe beside the paper's, for the chapter's reproduction table:
    ``{"ours": {"sparsity", "bits", "baseline_error", "epochs"}, "paper": {"sparsity", "bits",
    "baseline_error"}}`` (sparsities as fractions, errors in %; ``epochs`` = retraining epochs)."""
    if model_name not in DEEP_COMPRESSION:
        raise ValueError(f"no Deep Compression recipe for {model_name!r}; allowed: {sorted(DEEP_COMPRESSION)}")
    steps = {s.method: s.params for s in DEEP_COMPRESSION[model_name].steps}
    names = layer_names(train.baseline(model_name, seed=seed, progress=False))

    def per_layer(v):
        return dict(v) if isinstance(v, dict) else {n: v for n in names}
    base_err = 100.0 - train.evaluate(train.baseline(model_name, seed=seed, progress=False))
    ours = {"sparsity": per_layer(steps["prune"]["sparsity"]), "bits": per_layer(steps["share"]["bits"]),
            "baseline_error": round(base_err, 2), "epochs": retrain_epochs(DEEP_COMPRESSION[model_name].to_dict())}
    return {"ours": ours, "paper": {**PAPER_RECIPE[model_name], "baseline_error": PAPER[model_name]["error_before"]}}


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

def _grid_point(model: torch.nn.Module, bits: int, index_bits: int, pruned: bool) -> dict:
    from .. import quantization
    if bits >= 32:
        shared = model
        values = "float32"
    else:
        shared = quantization.bake_(quantization.finetune_codebook(model, bits, epochs=0, prune_zeros=pruned))
        values = "huffman"
    codings = {n: Coding(values, index_bits if pruned else 0) for n in layer_names(shared)}
    data = write_model(shared, codings)
    return {"accuracy": train.evaluate(shared), "bytes": len(data), "parts": size_breakdown(data)}


def prune_share_grid(model_name: str = "lenet300", sparsities=(0.0, 0.8, 0.9, 0.95), bit_widths=(2, 3, 4, 5, 6, 32),
                     *, retrain_epochs: int = 2, index_bits: int = 5, seed: int = 0,
                     progress: bool = True) -> list[dict]:
    """Accuracy and file size for every (sparsity, bits): the ablation of Han et al. 2016 (Fig. 6).

    Per sparsity: one-shot magnitude pruning of every layer + ``retrain_epochs`` of retraining
    (chapter 5); per bit width: k-means weight sharing *without* codebook fine-tuning (chapter 4),
    ``bits = 32`` meaning float32 values; then the file is written (Huffman-coded codes,
    ``index_bits``-bit relative indices for pruned layers, dense codes at sparsity 0) and measured.
    Each sparsity's row is cached on its own. Returns ``[{"sparsity", "bits", "accuracy", "bytes",
    "parts": {header, codebook, tables, weights, index, other}}]``.
    """
    from .. import quantization
    from .. import sparsity as sp
    cfg = train.baseline_config(model_name, seed)
    rows = []
    for s in [float(v) for v in sparsities]:
        spec = {"ch6_grid_row": model_name, "sparsity": s, "bits": [int(b) for b in bit_widths],
                "retrain_epochs": retrain_epochs, "index_bits": index_bits, "seed": seed}

        def compute(s=s):
            model = train.baseline(model_name, seed=seed, progress=progress)
            if s > 0:
                sp.iterative_prune(model, s, steps=1, epochs_per_step=retrain_epochs, shift_px=cfg.shift_px,
                                   batch_size=cfg.batch_size, seed=seed, progress=progress)
                sp.bake_masks_(model)
            return [{"sparsity": s, "bits": int(b), **_grid_point(model, int(b), index_bits, s > 0)}
                    for b in bit_widths]

        rows += train.cached_result(spec, compute, name=f"ch6-grid-{model_name}",
                                    parents=[train.baseline_key(model_name, seed=seed)],
                                    code=(prune_share_grid, _grid_point, sp.iterative_prune,
                                          quantization.finetune_codebook, write_model))
    return rows


# --- sensitivity, cached -------------------------------------------------------------------------

def cached_sensitivity(model_name: str, *, sparsities=(0.5, 0.7, 0.8, 0.9, 0.95, 0.98), bit_widths=(1, 2, 3, 4, 5, 6, 8),
                       split: str = "val", seed: int = 0, progress: bool = True) -> Sensitivity:
    """:func:`layer_sensitivity` of ``train.baseline(model_name, seed=seed)``, computed once and cached on disk."""
    sparsities, bit_widths = tuple(float(s) for s in sparsities), tuple(int(b) for b in bit_widths)
    spec = {"ch6_sensitivity": model_name, "sparsities": list(sparsities), "bits": list(bit_widths), "split": split,
            "seed": seed}

    def compute():
        s = layer_sensitivity(train.baseline(model_name, seed=seed, progress=progress), sparsities=sparsities,
                              bit_widths=bit_widths, split=split)
        return {"baseline": s.baseline, "pruning": {k: list(v) for k, v in s.pruning.items()},
                "bits": {k: list(v) for k, v in s.bits.items()}}

    d = train.cached_result(spec, compute, name=f"ch6-sensitivity-{model_name}",
                            parents=[train.baseline_key(model_name, seed=seed)], code=(layer_sensitivity,))
    return Sensitivity(float(d["baseline"]), sparsities, bit_widths, {k: tuple(v) for k, v in d["pruning"].items()},
                       {k: tuple(v) for k, v in d["bits"].items()}, split)


# --- every method on one plot ------------------------------------------------------------------

#: Retraining budget (epochs over the 3,500 training images) of every recipe of the Pareto plot
#: that retrains: the same for all, so the plot compares methods, not training budgets.
RETRAIN_EPOCHS = 4

#: Recipes of chapters 3–6 and their combinations for the chapter's Pareto plots (LeNet-300-100).
#: Each one that retrains gets :data:`RETRAIN_EPOCHS` epochs in total, split between its steps;
#: the uniform post-training quantizers have nothing to retrain (0 epochs).
PARETO_RECIPES: dict[str, dict] = {
    "8-bit uniform (ch. 4)": {"steps": [{"method": "quantize", "bits": 8},
                                        {"method": "encode", "values": "fixed"}]},
    "4-bit uniform (ch. 4)": {"steps": [{"method": "quantize", "bits": 4},
                                        {"method": "encode", "values": "fixed"}]},
    "4-bit k-means + fine-tuning (ch. 4)": {"steps": [{"method": "share", "bits": 4, "epochs": 4},
                                                      {"method": "encode", "values": "fixed"}]},
    "pruning 90 % (ch. 5)": {"steps": [{"method": "prune", "sparsity": 0.9, "rounds": 2, "epochs_per_round": 2},
                                       {"method": "encode", "index_bits": 5, "index": "fixed"}]},
    "pruning 90 % + 4-bit k-means": {"steps": [
        {"method": "prune", "sparsity": 0.9, "rounds": 2, "epochs_per_round": 1},
        {"method": "share", "bits": 4, "epochs": 2}, {"method": "encode", "index_bits": 5, "values": "fixed",
                                                       "index": "fixed"}]},
    "SVD rank 32 (ch. 3)": {"steps": [{"method": "decompose", "svd_rank": {"fc1": 32, "fc2": 32}, "epochs": 4},
                                      {"method": "encode"}]},
    "SVD rank 32 + 8-bit uniform": {"steps": [
        {"method": "decompose", "svd_rank": {"fc1": 32, "fc2": 32}, "epochs": 4},
        {"method": "quantize", "bits": 8}, {"method": "encode", "values": "fixed"}]},
    "SVD rank 32 + pruning 70 %": {"steps": [
        {"method": "decompose", "svd_rank": {"fc1": 32, "fc2": 32}, "epochs": 2},
        {"method": "prune", "sparsity": 0.7, "rounds": 1, "epochs_per_round": 2},
        {"method": "encode", "index_bits": 5, "index": "fixed"}]},
    "Deep Compression, 4 epochs (ch. 6)": {"steps": [
        {"method": "prune", "sparsity": {"fc1": 0.95, "fc2": 0.9, "fc3": 0.7}, "rounds": 2, "epochs_per_round": 1},
        {"method": "share", "bits": 5, "epochs": 2}, {"method": "encode", "index_bits": "auto"}]},
}


def retrain_epochs(recipe: Recipe | dict) -> int:
    """Total retraining epochs of a recipe: prune ``rounds · epochs_per_round`` + share / decompose
    ``epochs`` (defaults as in :data:`~companion.joint.recipes.METHODS`); post-training steps count 0."""
    from .recipes import METHODS
    steps = recipe.to_dict()["steps"] if isinstance(recipe, Recipe) else recipe["steps"]
    total = 0
    for s in steps:
        params = METHODS[s["method"]].params

        def get(k):
            return s.get(k, params[k].default)
        if s["method"] == "prune":
            total += get("rounds") * get("epochs_per_round")
        elif s["method"] in ("share", "decompose"):
            total += get("epochs")
    return int(total)


def pareto_results(model_name: str = "lenet300", *, seed: int = 0, progress: bool = True,
                   include_deep_compression: bool = True) -> dict[str, RecipeResult]:
    """Run every recipe of :data:`PARETO_RECIPES` on ``model_name`` (cached), plus Deep Compression
    with its full budget (:data:`DEEP_COMPRESSION`)."""
    out = {}
    for name, r in PARETO_RECIPES.items():
        out[name] = run(Recipe.from_dict({"name": name, "model": model_name, **r}), seed=seed, progress=progress)
    if include_deep_compression and model_name in DEEP_COMPRESSION:
        out["Deep Compression (ch. 6)"] = deep_compression(model_name, seed=seed, progress=progress)
    return out


def _file_reports(models: dict, base: torch.nn.Module, base_acc: float, template) -> list[dict]:
    """Write each ``{name: (model, bits)}`` to a file (float32 or ``bits``-bit uniform per tensor),
    read it back into ``template(name)`` and measure it against ``base`` (rows as plain dicts)."""
    from .. import quantization
    rows = []
    for name, (model, b) in models.items():
        m = model if b >= 32 else quantization.quantize_weights(model, b, granularity="tensor")
        codings = {n: Coding("float32" if b >= 32 else "fixed") for n in layer_names(m)}
        data = write_model(m, codings)
        back = read_model(data, template(name))
        r = metrics.make_report(name, back, base, accuracy=train.evaluate(back), baseline_accuracy=base_acc,
                                size_bits=8 * len(data), breakdown={k: 8 * v for k, v in size_breakdown(data).items()},
                                nonzero_macs=True)
        d = asdict(r)
        d["breakdown"] = [list(x) for x in r.breakdown]
        rows.append(d)
    return rows


def _as_reports(rows: list[dict]) -> dict[str, metrics.CompressionReport]:
    return {d["name"]: metrics.CompressionReport(**{**d, "breakdown": tuple(tuple(x) for x in d["breakdown"])})
            for d in rows}


def compact_results(baseline_name: str = "lenet300", labels=("dwsep w1 d2", "fire w0.75 d2"),
                    bit_widths=(32, 8), *, progress: bool = True) -> dict[str, metrics.CompressionReport]:
    """Chapter 2's compact networks (``compact.MNIST_VARIANTS``, trained and cached by chapter 2),
    stored as float32 or with ``b``-bit uniform per-tensor weights (chapter 4), written to a file,
    read back and measured against ``train.baseline(baseline_name)`` (cached)."""
    from .. import compact
    configs = {c.label: c for c in compact.MNIST_VARIANTS}
    unknown = [l for l in labels if l not in configs]
    if unknown:
        raise ValueError(f"unknown compact variant(s) {unknown}; allowed: {sorted(configs)}")
    spec = {"ch6_compact": baseline_name, "labels": list(labels), "bits": [int(b) for b in bit_widths],
            "configs": [asdict(configs[l]) for l in labels]}

    def compute():
        base = train.baseline(baseline_name, progress=progress)
        todo, templates = {}, {}
        for label in labels:
            model = compact.train_compact(configs[label], progress=progress)
            for b in bit_widths:
                name = f"compact {label} (ch. 2)" + ("" if b >= 32 else f" + {b}-bit uniform")
                todo[name], templates[name] = (model, int(b)), configs[label]
        return _file_reports(todo, base, train.evaluate(base), lambda n: compact.build_compact(templates[n]))

    rows = train.cached_result(spec, compute, name="ch6-compact", parents=[train.baseline_key(baseline_name)],
                               code=(compact_results, _file_reports, compact.train_compact))
    return _as_reports(rows)


def distillation_results(baseline_name: str = "lenet300", *, teacher: str = "lenet5",
                         student_name: str = "lenet5-tiny", bit_widths=(32, 8), seed: int = 0,
                         progress: bool = True) -> dict[str, metrics.CompressionReport]:
    """The knowledge-distillation student (:mod:`companion.distill`) and the same student trained
    alone, at the same budget, written to a file (float32, or ``b``-bit uniform weights) and
    measured against ``train.baseline(baseline_name)`` like every other point of the plot (cached)."""
    from .. import distill
    spec = {"ch6_distill": baseline_name, "teacher": teacher, "student": student_name,
            "bits": [int(b) for b in bit_widths], "seed": seed, "T": distill.DEFAULT_T, "alpha": distill.DEFAULT_ALPHA}

    def compute():
        base = train.baseline(baseline_name, progress=progress)
        todo = {}
        for d, label in ((True, "distilled from LeNet-5"), (False, "trained alone")):
            model = distill.student(teacher=teacher, student_name=student_name, distilled=d, seed=seed,
                                    progress=progress)
            for b in bit_widths:
                todo[f"small LeNet-5, {label}" + ("" if b >= 32 else f" + {b}-bit uniform")] = (model, int(b))
        return _file_reports(todo, base, train.evaluate(base), lambda n: distill.build_student(student_name))

    rows = train.cached_result(spec, compute, name="ch6-distill", parents=[train.baseline_key(baseline_name)],
                               code=(distillation_results, _file_reports, distill.student, distill.distill,
                                     distill.soft_term))
    return _as_reports(rows)
