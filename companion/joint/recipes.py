"""Compression recipes: what to apply, to which layers, with which parameters, in which order.

A :class:`Recipe` is a small declarative object (or the equivalent dict / YAML text)::

    name: deep-compression-lenet300
    model: lenet300
    steps:
      - method: prune                    # chapter 5: iterative magnitude pruning with retraining
        sparsity: {fc1: 0.95, fc2: 0.9, fc3: 0.7}
        rounds: 3
        epochs_per_round: 4
      - method: share                    # chapter 4: k-means weight sharing + codebook fine-tuning
        bits: 5
        epochs: 3
      - method: encode                   # this chapter: relative indices + Huffman, a real file
        index_bits: 5

:func:`validate` checks *everything* before anything runs — the method names, every parameter
(name, type, range), every layer name against the network the earlier steps leave behind, the
order (``encode`` last) — and raises a ``ValueError`` that says what is wrong and what is
allowed. :func:`run` applies the steps (each training step cached on disk with
:func:`companion.train.cached_model`) and returns a :class:`RecipeResult` whose
:class:`~companion.metrics.CompressionReport` holds the measured size (the bytes of the written
file when the recipe encodes), the hook-measured MACs and the test accuracy *after decoding*.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from .. import metrics, models, train
from . import codec

__all__ = ["Step", "Recipe", "RecipeResult", "METHODS", "validate", "run", "layer_names", "stage_codings"]

# --- parameter checks ----------------------------------------------------------------------------


def _fraction(v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v < 1.0:
        raise ValueError(f"must be a number in [0, 1), got {v!r}")
    return float(v)


def _int_in(lo: int, hi: int) -> Callable[[Any], int]:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"must be an int in [{lo}, {hi}], got {v!r}")
        return v
    return check


def _index_bits(v):
    if v == "auto":
        return v
    try:
        return _int_in(0, 16)(v)
    except ValueError:
        raise ValueError(f"must be an int in [0, 16] or 'auto', got {v!r}") from None


def _positive(v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
        raise ValueError(f"must be a number > 0, got {v!r}")
    return float(v)


def _choice(*allowed: str) -> Callable[[Any], str]:
    def check(v):
        if v not in allowed:
            raise ValueError(f"must be one of {list(allowed)}, got {v!r}")
        return v
    return check


def _svd_plan(v) -> dict:
    if not isinstance(v, Mapping) or not v:
        raise ValueError(f"must be a non-empty mapping {{layer: rank}}, got {v!r}")
    for layer, rank in v.items():
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise ValueError(f"rank of {layer!r} must be a positive int, got {rank!r}")
    return dict(v)


@dataclass(frozen=True)
class _Param:
    check: Callable[[Any], Any]
    default: Any = None
    per_layer: bool = False      # a scalar for every selected layer, or a {layer: value} mapping
    required: bool = False
    doc: str = ""


@dataclass(frozen=True)
class _Method:
    doc: str
    params: Mapping[str, _Param]
    trains: bool                 # changes the weights (cached)


METHODS: dict[str, _Method] = {
    "prune": _Method("iterative magnitude pruning with retraining (Han et al. 2015; companion.sparsity)", {
        "sparsity": _Param(_fraction, per_layer=True, required=True, doc="fraction of zeros, per layer"),
        "rounds": _Param(_int_in(1, 20), 3, doc="prune -> retrain rounds (geometric schedule)"),
        "epochs_per_round": _Param(_int_in(0, 50), 3, doc="retraining epochs after each round"),
        "lr": _Param(_positive, 5e-4, doc="retraining learning rate"),
    }, True),
    "share": _Method("k-means weight sharing + codebook fine-tuning (Han et al. 2016; companion.quantization)", {
        "bits": _Param(_int_in(1, 8), per_layer=True, required=True, doc="codebook of 2^bits shared values, per layer"),
        "epochs": _Param(_int_in(0, 50), 3, doc="codebook fine-tuning epochs"),
        "lr": _Param(_positive, 1e-4, doc="fine-tuning learning rate"),
        "init": _Param(_choice("linear", "density", "random"), "linear", doc="centroid initialisation"),
    }, True),
    "quantize": _Method("post-training uniform/log quantization of the weights (companion.quantization)", {
        "bits": _Param(_int_in(1, 16), per_layer=True, required=True, doc="bits per weight, per layer"),
        "method": _Param(_choice("uniform", "log", "kmeans"), "uniform", doc="quantizer"),
        "granularity": _Param(_choice("tensor", "channel"), "tensor",
                              doc="one scale per tensor / channel (the file stores the levels as a codebook)"),
    }, True),
    "decompose": _Method("truncated SVD of fully connected layers + fine-tuning (companion.decomposition)", {
        "svd_rank": _Param(_svd_plan, required=True, doc="{layer: rank}"),
        "epochs": _Param(_int_in(0, 50), 3, doc="fine-tuning epochs"),
        "lr": _Param(_positive, 5e-4, doc="fine-tuning learning rate"),
    }, True),
    "encode": _Method("write the compressed file: relative indices + Huffman coding (this chapter)", {
        "index_bits": _Param(_index_bits, 0, per_layer=True,
                             doc="relative-index width per layer (0 = dense; 'auto' = the width giving the smallest file)"),
        "values": _Param(_choice(*codec.VALUE_CODINGS), "huffman", doc="coding of the weight values"),
        "index": _Param(_choice(*codec.INDEX_CODINGS), "huffman", doc="coding of the relative indices"),
        "bias": _Param(_choice("float32", "float16"), "float32", doc="how biases are stored"),
    }, False),
}


# --- recipe objects ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One step: ``method`` (a key of :data:`METHODS`), its parameters, and optionally the layers.

    ``layers``: the layer names a scalar per-layer parameter applies to (default: every conv /
    fully connected layer of the network at this point).
    """

    method: str
    params: Mapping[str, Any] = field(default_factory=dict)
    layers: tuple[str, ...] | None = None

    def to_dict(self) -> dict:
        d = {"method": self.method, **{k: (dict(v) if isinstance(v, Mapping) else v) for k, v in self.params.items()}}
        if self.layers is not None:
            d["layers"] = list(self.layers)
        return d


@dataclass(frozen=True)
class Recipe:
    """A named, ordered list of :class:`Step` applied to the baseline ``model`` (a ``train.baseline`` name)."""

    name: str
    model: str
    steps: tuple[Step, ...]

    @classmethod
    def from_dict(cls, d: Mapping) -> "Recipe":
        """From ``{"name", "model", "steps": [{"method": ..., <params>, "layers": [...]}, ...]}``."""
        if not isinstance(d, Mapping):
            raise TypeError(f"a recipe must be a mapping, got {type(d).__name__}")
        unknown = set(d) - {"name", "model", "steps"}
        if unknown:
            raise ValueError(f"unknown recipe keys {sorted(unknown)}; allowed: name, model, steps")
        if "model" not in d or "steps" not in d:
            raise ValueError("a recipe needs 'model' and 'steps'")
        steps = d["steps"]
        if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence):
            raise ValueError(f"'steps' must be a list of steps, got {type(steps).__name__}")
        out = []
        for i, s in enumerate(steps):
            if not isinstance(s, Mapping) or "method" not in s:
                raise ValueError(f"step {i} must be a mapping with a 'method', got {s!r}")
            s = dict(s)
            method, layers = s.pop("method"), s.pop("layers", None)
            out.append(Step(method, s, tuple(layers) if layers is not None else None))
        return cls(str(d.get("name", "recipe")), d["model"], tuple(out))

    @classmethod
    def from_yaml(cls, text_or_path: str | Path) -> "Recipe":
        """From YAML text or a ``.yaml`` / ``.yml`` file."""
        import yaml
        if isinstance(text_or_path, Path) or (isinstance(text_or_path, str) and text_or_path.endswith((".yaml", ".yml"))
                                              and "\n" not in text_or_path):
            text_or_path = Path(text_or_path).read_text()
        if not isinstance(text_or_path, str):
            raise TypeError(f"expected YAML text or a path, got {type(text_or_path).__name__}")
        return cls.from_dict(yaml.safe_load(text_or_path))

    def to_dict(self) -> dict:
        return {"name": self.name, "model": self.model, "steps": [s.to_dict() for s in self.steps]}

    def to_yaml(self) -> str:
        import yaml
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# --- validation ------------------------------------------------------------------------------

def layer_names(model: nn.Module) -> list[str]:
    """Names of the ``nn.Linear`` / ``nn.Conv2d`` modules of ``model`` (what steps may name)."""
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def _structure(recipe_model: str, steps: Sequence[Step]) -> nn.Module:
    """An untrained network with the structure the structural steps (decompose) leave behind."""
    from .. import decomposition
    m = models.build(recipe_model)
    for s in steps:
        if s.method == "decompose":
            for name, rank in s.params["svd_rank"].items():
                parent_name, _, attr = name.rpartition(".")
                parent = m.get_submodule(parent_name) if parent_name else m
                old = getattr(parent, attr)
                if not isinstance(old, nn.Linear):
                    raise ValueError(f"svd_rank: {name!r} is a {type(old).__name__}; truncated SVD applies to "
                                     "nn.Linear layers only")
                # the same structure decomposition.decompose builds, without computing an SVD
                setattr(parent, attr, decomposition.LowRankLinear(old.in_features, old.out_features, rank,
                                                                  bias=old.bias is not None))
    return m


def _resolve(step: Step, names: list[str], where: str) -> dict[str, Any]:
    """Checked parameters of one step with defaults filled in; per-layer ones as ``{layer: value}``."""
    spec = METHODS[step.method]
    if not isinstance(step.params, Mapping):
        raise ValueError(f"{where}: params must be a mapping, got {type(step.params).__name__}")
    unknown = set(step.params) - set(spec.params)
    if unknown:
        raise ValueError(f"{where}: unknown parameter(s) {sorted(unknown)} for {step.method!r}; "
                         f"allowed: {sorted(spec.params)}")
    if step.layers is not None:
        bad = [n for n in step.layers if n not in names]
        if bad or not step.layers:
            raise ValueError(f"{where}: unknown layer(s) {bad or '(empty list)'}; layers of this network: {names}")
    selected = list(step.layers) if step.layers is not None else names
    out: dict[str, Any] = {}
    for pname, p in spec.params.items():
        if pname not in step.params:
            if p.required:
                raise ValueError(f"{where}: {step.method!r} needs the parameter {pname!r} ({p.doc})")
            value = p.default
        else:
            value = step.params[pname]
        try:
            if p.per_layer:
                if isinstance(value, Mapping):
                    bad = [n for n in value if n not in names]
                    if bad:
                        raise ValueError(f"unknown layer(s) {bad}; layers of this network: {names}")
                    value = {n: p.check(v) for n, v in value.items()}
                else:
                    value = {n: p.check(value) for n in selected}
            else:
                value = p.check(value)
        except ValueError as e:
            raise ValueError(f"{where}: parameter {pname!r} {e}") from None
        if pname == "svd_rank":
            bad = [n for n in value if n not in names]
            if bad:
                raise ValueError(f"{where}: unknown layer(s) {bad} in svd_rank; layers of this network: {names}")
        out[pname] = value
    return out


def validate(recipe: Recipe | Mapping | str) -> Recipe:
    """Check a recipe completely before anything runs; return it as a :class:`Recipe`.

    Raises ``ValueError`` (``TypeError`` for a wrong object) naming the step, the parameter or
    the layer that is wrong, and what is allowed.
    """
    if isinstance(recipe, str):
        recipe = Recipe.from_yaml(recipe)
    elif isinstance(recipe, Mapping):
        recipe = Recipe.from_dict(recipe)
    if not isinstance(recipe, Recipe):
        raise TypeError(f"expected a Recipe, a mapping or YAML text, got {type(recipe).__name__}")
    if recipe.model not in train.BASELINES:
        raise ValueError(f"unknown model {recipe.model!r}; allowed: {sorted(train.BASELINES)}")
    if not recipe.steps:
        raise ValueError("a recipe needs at least one step")
    for i, step in enumerate(recipe.steps):
        where = f"step {i} ({step.method!r})"
        if not isinstance(step, Step):
            raise TypeError(f"step {i} must be a Step, got {type(step).__name__}")
        if step.method not in METHODS:
            raise ValueError(f"step {i}: unknown method {step.method!r}; allowed: {sorted(METHODS)}")
        if step.method == "encode" and i != len(recipe.steps) - 1:
            raise ValueError(f"{where}: 'encode' writes the file and must be the last step")
        if step.method == "decompose" and any(s.method in ("prune", "share", "quantize") for s in recipe.steps[:i]):
            raise ValueError(f"{where}: 'decompose' must come before prune / share / quantize")
        names = layer_names(_structure(recipe.model, recipe.steps[:i]))
        _resolve(step, names, where)
    return recipe


# --- running -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecipeResult:
    """What :func:`run` returns: the final model (decoded from ``data`` when the recipe encodes),
    the file bytes (or ``None``), the final report and one report per step (``stages``)."""

    recipe: Recipe
    model: nn.Module
    data: bytes | None
    report: metrics.CompressionReport
    stages: tuple[metrics.CompressionReport, ...]

    @property
    def size_bytes(self) -> int:
        return len(self.data) if self.data is not None else int(self.report.size_bytes)


def _apply(step: Step, p: Mapping[str, Any], model: nn.Module, cfg, progress: bool) -> nn.Module:
    """Apply one weight-changing step to a copy of ``model`` (training included; ``cfg.seed`` seeds it)."""
    from .. import decomposition, quantization, sparsity
    model = copy.deepcopy(model)
    if step.method == "prune":
        sparsity.iterative_prune(model, p["sparsity"], steps=p["rounds"], epochs_per_step=p["epochs_per_round"],
                                 lr=p["lr"], shift_px=cfg.shift_px, batch_size=cfg.batch_size, seed=cfg.seed,
                                 progress=progress)
        return sparsity.bake_masks_(model)
    if step.method == "share":
        pruned = any(bool((m.weight == 0).any()) for n, m in model.named_modules() if n in p["bits"])
        return _finetune_codebook(model, p, pruned, progress, seed=cfg.seed)
    if step.method == "quantize":
        return quantization.quantize_weights(model, p["bits"], method=p["method"], granularity=p["granularity"],
                                             layers=list(p["bits"]))
    if step.method == "decompose":
        model = decomposition.decompose(model, {k: decomposition.SVD(rank=r) for k, r in p["svd_rank"].items()})
        if p["epochs"]:
            train.fit(model, epochs=p["epochs"], lr=p["lr"], batch_size=cfg.batch_size, shift_px=cfg.shift_px,
                      seed=cfg.seed, progress=progress, desc="fine-tuning the decomposed layers")
        return model.eval()
    raise ValueError(f"step {step.method!r} does not change weights")


def _finetune_codebook(model: nn.Module, p: Mapping[str, Any], pruned: bool, progress: bool, *,
                       seed: int = 0) -> nn.Module:
    """Chapter 4's k-means sharing + codebook fine-tuning, on the layers named in ``p["bits"]`` only.

    ``quantization.finetune_codebook`` shares every layer of a model; a recipe may share some,
    so this calls the same chapter 4 pieces (``share_weights_`` with ``layers=``, ``bake_``) and
    trains the codebooks (and the biases) by their summed gradients, as Deep Compression does.
    """
    from .. import quantization
    model = copy.deepcopy(model)
    shared = quantization.share_weights_(model, p["bits"], init=p["init"], prune_zeros=pruned,
                                         layers=list(p["bits"]))
    params = [s.codebook for s in shared.values()]
    params += [m.bias for m in quantization.quant_layers(model).values() if m.bias is not None]
    if p["epochs"]:
        train.fit(model, epochs=p["epochs"], lr=p["lr"], params=params, seed=seed, progress=progress,
                  desc="codebook fine-tuning")
    return quantization.bake_(model).eval()


def stage_codings(model: nn.Module, done: Mapping[str, set], index_bits: Mapping[str, int]) -> dict[str, codec.Coding]:
    """The natural file coding of a model after the steps in ``done`` (``{layer: {"prune", "share", ...}}``):
    pruned → relative index of fixed width (``index_bits[layer]``, default Deep Compression's 5 bits
    for FC and 8 for conv layers); shared/quantized → fixed-width codes; else float32."""
    out = {}
    for n in layer_names(model):
        kinds = done.get(n, set())
        ib = index_bits.get(n, 0) if "prune" in kinds else 0
        if ib == 0 and "prune" in kinds:
            ib = 8 if isinstance(dict(model.named_modules())[n], nn.Conv2d) else 5
        values = "fixed" if kinds & {"share", "quantize"} else "float32"
        out[n] = codec.Coding(values, ib, "fixed")
    return out


def _report(name: str, model: nn.Module, base: nn.Module, base_acc: float, data: bytes) -> metrics.CompressionReport:
    parts = codec.size_breakdown(data)
    return metrics.make_report(name, model, base, accuracy=train.evaluate(model), baseline_accuracy=base_acc,
                               size_bits=8 * len(data), breakdown={k: 8 * v for k, v in parts.items()},
                               nonzero_macs=True)


def _step_code() -> tuple:
    """The functions whose source a cached step depends on (fingerprinted into its key)."""
    from .. import decomposition, quantization, sparsity
    return (run, _apply, _finetune_codebook, _structure, sparsity.iterative_prune, quantization.share_weights_,
            quantization.quantize_weights, decomposition.decompose)


def _lineage(model: nn.Module) -> list[str]:
    """The cache key of the model a step starts from (the baseline or the previous step), if it has one."""
    try:
        return [train.key_of(model)]
    except ValueError:  # a model that did not come from the cache (e.g. a test's stand-in)
        return []


def run(recipe: Recipe | Mapping | str, *, seed: int = 0, progress: bool = True, cache: bool = True) -> RecipeResult:
    """Validate, then apply the recipe to ``train.baseline(recipe.model, seed=seed)``; see the module docstring.

    ``seed`` selects the baseline and seeds every retraining (0: the book's results). Every
    weight-changing step is cached (key: the steps so far, the parent model's key and the source
    of the step functions, :func:`_step_code`). After each step the model is written with :func:`stage_codings`
    (or, for ``encode``, as the step says) and measured: ``stages[i]`` is the report after step
    ``i``. The baseline size is the float32 size of the dense model (``4 · params`` bytes).
    """
    recipe = validate(recipe)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    cfg = train.baseline_config(recipe.model, seed)
    base = train.baseline(recipe.model, seed=seed, progress=progress)
    base_acc = train.evaluate(base)
    model = base
    done: dict[str, set] = {}
    encode_step = recipe.steps[-1] if recipe.steps[-1].method == "encode" else None
    stages, data = [], None
    for i, step in enumerate(recipe.steps):
        names = layer_names(model)
        p = _resolve(step, names, f"step {i}")
        if METHODS[step.method].trains:
            spec = {"joint_recipe": recipe.model, "seed": seed,
                    "steps": json.loads(json.dumps([s.to_dict() for s in recipe.steps[: i + 1]], default=str))}
            structure = _structure(recipe.model, recipe.steps[: i + 1])
            prev = model
            model = train.cached_model(spec, lambda: copy.deepcopy(structure),
                                       lambda m, prev=prev, step=step, p=p: m.load_state_dict(
                                           _apply(step, p, prev, cfg, progress).state_dict()),
                                       name=f"ch6-{recipe.model}", refresh=not cache,
                                       parents=_lineage(prev), code=_step_code())
            for n in (p.get("sparsity") or p.get("bits") or {}):
                done.setdefault(n, set()).add(step.method)
            codings = stage_codings(model, done, {})  # intermediate files: Deep Compression's 5 / 8-bit widths
            data = codec.write_model(model, codings, arch=recipe.model)
            stages.append(_report(f"{step.method}", model, base, base_acc, data))
        else:  # encode
            codings = {}
            for n in names:
                kinds = done.get(n, set())
                values = p["values"] if kinds & {"share", "quantize"} else "float32"
                ib = p["index_bits"].get(n, 0)
                if ib == "auto":
                    ib = codec.best_index_bits(dict(model.named_modules())[n].weight.detach(), values, p["index"])
                codings[n] = codec.Coding(values, ib, p["index"])
            default = codec.Coding(p["bias"])
            data = codec.write_model(model, codings, arch=recipe.model, default=default)
            decoded = codec.read_model(data, copy.deepcopy(_structure(recipe.model, recipe.steps)))
            if p["bias"] == "float32" and p["values"] != "float16":  # lossless: check it, every run
                written, read = model.state_dict(), decoded.state_dict()
                bad = [k for k, v in written.items() if v.is_floating_point() and not torch.equal(v, read[k])]
                if bad:
                    raise RuntimeError(f"the file does not decode to the weights that were written: {bad}")
            model = decoded
            stages.append(_report("encode", model, base, base_acc, data))
    final = stages[-1]
    report = metrics.CompressionReport(recipe.name, final.size_bits, final.baseline_size_bits, final.macs,
                                       final.baseline_macs, final.accuracy, final.baseline_accuracy, final.params,
                                       final.nonzero_params, final.breakdown)
    return RecipeResult(recipe, model, data if encode_step else None, report, tuple(stages))
