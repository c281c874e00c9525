"""The chapter's cached training recipes: QAT, binary and ternary networks, low-bit gradients,
and Deep Compression's trained quantization.

Each recipe builds on the cache of :mod:`companion.train`: its key holds the recipe's
arguments (the *spec*), the key of the baseline it starts from (a *parent*) and a fingerprint
of the code that trains it (``code=``: the recipe and the transforms it relies on), so
changing any of them retrains — there are no hand-bumped version counters. ``seed`` selects
the baseline (``train.baseline(name, seed=seed)``) and the fine-tuning seed; ``seed=0``
reproduces the book.
"""
from __future__ import annotations

import inspect

import torch
from torch import nn

from .. import checks, reparam
from .activations import ACT_CLIPS, ActQuant, GradQuant, attach_activation_quant_, attach_gradient_quant_
from .binary import BinaryWeight, TernaryWeight, TTQWeight, binarize, ternarize
from .codebook import SharedWeights, finetune_codebook, kmeans_codebook, share_weights_
from .model import FakeQuantWeight, _quantize_weight, prepare_qat_
from .primitives import FakeQuantSTE, choose_qparams, fake_quantize_ste, qparams_from_range, widen_range

__all__ = ["WEIGHT_KINDS", "RECIPES", "qat_sweep_recipe", "grad_sweep_recipe", "build_quantized",
           "train_quantized", "prefetch_quantized", "QAT_THREADS", "train_shared"]

#: Weight quantizers a recipe can train with.
WEIGHT_KINDS = ("float", "uniform", "binary", "xnor", "ternary", "ttq")


def _weight_factory(kind: str, bits: int | None):
    if kind == "float":
        return None
    if kind == "uniform":
        return FakeQuantWeight(bits)
    if kind == "binary":
        return BinaryWeight("none")
    if kind == "xnor":
        return BinaryWeight("xnor")
    if kind == "ternary":
        return TernaryWeight(0.7)
    if kind == "ttq":
        return lambda name, layer: TTQWeight(layer.weight)
    raise ValueError(f"weight kind must be one of {WEIGHT_KINDS}, got {kind!r}")


#: Torch threads of every quantization-aware training (LeNets gain little from more; a fixed
#: count keeps the weights independent of the core count and lets them train one per core).
QAT_THREADS = 1

#: Named training recipes of the chapter (keyword arguments of :func:`train_quantized`).
RECIPES: dict[str, dict] = {
    "qat4": dict(weight="uniform", bits=4, act_bits=4, act_clip="pact", epochs=2, lr=1e-4),
    "twn": dict(weight="ternary", bits=None, epochs=3, lr=1e-4),
    "ttq": dict(weight="ttq", bits=None, epochs=3, lr=1e-4),
    "binaryconnect": dict(weight="binary", bits=None, epochs=6),
    "xnor_weights": dict(weight="xnor", bits=None, epochs=6),
    "bnn": dict(weight="binary", bits=None, act_bits=1, act_clip="pact", epochs=6),
    "xnor_net": dict(weight="xnor", bits=None, act_bits=1, act_clip="pact", epochs=6),
}


def qat_sweep_recipe(bits: int) -> dict:
    """Weights-only QAT at ``bits`` (per-channel symmetric; 1 bit = sign·mean|w|), 2 epochs from the baseline."""
    return dict(weight="uniform", bits=checks.check_bits(bits), epochs=2, lr=1e-4)


def grad_sweep_recipe(grad_bits: int) -> dict:
    """DoReFa/WAGE-style training from scratch: 8-bit weights and activations, ``grad_bits``-bit errors."""
    return dict(weight="uniform", bits=8, act_bits=8, grad_bits=checks.check_bits(grad_bits, "grad_bits", low=2),
                epochs=3, from_baseline=False)


def build_quantized(model_name: str, weight: str = "uniform", bits: int | None = 4, *, act_bits: int | None = None,
                    grad_bits: int = 32, skip_first_act: bool = True, from_baseline: bool = True,
                    seed: int = 0, act_clip: str = "ema") -> nn.Module:
    """A ``model_name`` network ready for quantization-aware training (untrained wrappers).

    ``weight``: ``"float"``, ``"uniform"`` (``bits``-bit per-channel symmetric, STE),
    ``"binary"`` (BinaryConnect sign), ``"xnor"`` (sign · mean|w| per channel), ``"ternary"``
    (TWN), ``"ttq"`` (TTQ); ``act_bits``: fake-quantized layer inputs (EMA range or PACT clip,
    ``act_clip``), ``grad_bits`` < 32: quantized error gradients. Starts from the float
    baseline of ``seed`` (``from_baseline``) or from a fresh initialisation with ``seed``.
    """
    from .. import models as _models, train as _train
    checks.check_choice(weight, "weight", WEIGHT_KINDS)
    checks.check_choice(act_clip, "act_clip", ACT_CLIPS)
    seed = checks.check_int(seed, "seed", minimum=0)
    grad_bits = checks.check_bits(grad_bits, "grad_bits", low=2)
    if weight == "uniform":
        checks.check_bits(bits)
    if act_bits is not None:
        checks.check_bits(act_bits, "act_bits")
    model = _train.baseline(model_name, seed=seed, progress=False) if from_baseline \
        else _models.build(model_name, seed=seed)
    prepare_qat_(model, _weight_factory(weight, bits), act_bits, skip_first_act=skip_first_act, act_clip=act_clip)
    if grad_bits < 32:
        attach_gradient_quant_(model, grad_bits, seed=seed)
    return model


def _clip_latent(limit: float):
    def callback(step, model):  # BinaryConnect keeps the real-valued latent weights in [-1, 1]
        with torch.no_grad():
            for layer in reparam.weight_layers(model).values():
                if reparam.is_transformed(layer):
                    layer.parametrizations.weight.original.clamp_(-limit, limit)
    return callback


#: The code a quantized training depends on (fingerprinted into the cache key).
_QAT_CODE = (build_quantized, _weight_factory, _clip_latent, prepare_qat_, attach_activation_quant_, ActQuant,
             attach_gradient_quant_, GradQuant, FakeQuantWeight, _quantize_weight, BinaryWeight, TernaryWeight,
             TTQWeight, binarize, ternarize, FakeQuantSTE, fake_quantize_ste, choose_qparams, qparams_from_range,
             widen_range)


def train_quantized(model_name: str, weight: str = "uniform", bits: int | None = 4, *, act_bits: int | None = None,
                    grad_bits: int = 32, epochs: int = 3, lr: float = 1e-3, from_baseline: bool = True,
                    skip_first_act: bool = True, seed: int = 0, act_clip: str = "ema",
                    progress: bool = True) -> nn.Module:
    """Train (or load from the cache) a quantized network: :func:`build_quantized`, then
    :func:`companion.train.fit` for ``epochs`` with Adam at ``lr``. Binary/ternary latent
    weights are clipped to [−1, 1] after each step (BinaryConnect). The returned model keeps
    its quantization wrappers (its forward is the quantized network); ``bake_`` freezes it.

    Training runs on :data:`QAT_THREADS` torch threads, whatever the machine's core count, so
    :func:`prefetch_quantized` can train one network per core with the same bits."""
    from .. import train as _train
    spec = {"ch4": "train_quantized", "model": model_name, "weight": weight, "bits": bits,
            "act_bits": act_bits, "grad_bits": grad_bits, "epochs": epochs, "lr": lr,
            "from_baseline": from_baseline, "skip_first_act": skip_first_act, "seed": seed, "act_clip": act_clip}
    make = lambda: build_quantized(model_name, weight, bits, act_bits=act_bits, grad_bits=grad_bits,  # noqa: E731
                                   skip_first_act=skip_first_act, from_baseline=from_baseline, seed=seed,
                                   act_clip=act_clip)
    callbacks = [_clip_latent(1.0)] if weight in ("binary", "xnor", "ternary", "ttq") else []
    label = f"{model_name} W{bits if weight == 'uniform' else weight}" + (f"A{act_bits}" if act_bits else "") + \
        (f"G{grad_bits}" if grad_bits < 32 else "")

    def fit(model):
        with _train.num_threads(QAT_THREADS):
            _train.fit(model, epochs=epochs, lr=lr, seed=seed, callbacks=callbacks, progress=progress, desc=label)

    model = _train.cached_model(spec, make, fit, name=f"ch4-{model_name}-{weight}", code=(train_quantized, *_QAT_CODE))
    for q in model.modules():
        if isinstance(q, ActQuant):
            q.mode = "qat"
    return model


def prefetch_quantized(calls) -> int:
    """Make sure ``train_quantized(**kwargs)`` is cached for each ``kwargs`` in ``calls``; returns
    how many were trained. The missing ones train side by side, one per CPU core
    (:func:`companion.train.prefetch`), bit for bit as the calls one by one would train them."""
    from .. import train as _train
    calls = [dict(c) for c in calls]
    unknown = sorted({k for c in calls for k in c} - set(inspect.signature(train_quantized).parameters))
    if unknown:
        raise TypeError(f"unknown argument(s) of train_quantized: {unknown}")
    if any("model_name" not in c for c in calls):
        raise TypeError("every call needs a model_name")
    return _train.prefetch(train_quantized, [{**c, "progress": False} for c in calls], threads_per_call=QAT_THREADS)


def train_shared(model_name: str, bits: int, *, epochs: int = 1, lr: float = 1e-4, init: str = "linear",
                 seed: int = 0, progress: bool = True) -> nn.Module:
    """Deep Compression's trained quantization of a baseline, cached: k-means weight sharing
    (``bits`` per layer, ``init``) then ``epochs`` of codebook fine-tuning by summed gradients
    (:func:`finetune_codebook`). Returns a plain model whose layers hold ≤ ``2^bits`` values."""
    from .. import train as _train
    seed = checks.check_int(seed, "seed", minimum=0)
    spec = {"ch4": "train_shared", "model": model_name, "bits": bits, "epochs": epochs, "lr": lr,
            "init": init, "seed": seed}

    def fit(model):
        tuned = finetune_codebook(model, bits, epochs=epochs, lr=lr, init=init, seed=seed, progress=progress)
        model.load_state_dict(tuned.state_dict())

    return _train.cached_model(spec, lambda: _train.baseline(model_name, seed=seed, progress=False), fit,
                               name=f"ch4-{model_name}-shared",
                               code=(train_shared, finetune_codebook, share_weights_, kmeans_codebook, SharedWeights))
