"""Data quantization: from 32-bit floats to 8, 4, 2 and 1 bit (chapter 4).

After the survey's section on data quantization (Deng et al. 2020). Read the modules in order:

1. :mod:`.primitives` — uniform quantizers: :func:`choose_qparams` → :class:`QParams`,
   :func:`quantize`, :func:`dequantize`, :func:`fake_quantize`; affine or symmetric; per-tensor,
   per-channel and per-group under *one* granularity convention, ``block_size`` (as in
   torchao's ``quant_primitives``); rounding to nearest or **stochastic** (Gupta et al. 2015);
   the straight-through estimator :class:`FakeQuantSTE`, a ten-line ``autograd.Function``.
2. :mod:`.codebook` — non-uniform quantizers: power-of-two levels (:func:`log_quantize`,
   INQ-style) and k-means weight sharing (:func:`kmeans_codebook`, :class:`SharedWeights`,
   :func:`finetune_codebook`; Deep Compression, Han et al. 2016).
3. :mod:`.binary` — :func:`binarize` (BinaryConnect / BNN sign, XNOR-Net scale),
   :func:`ternarize` (TWN: threshold 0.7·mean|w|), :class:`TTQWeight` (learned scales).
4. :mod:`.activations` — calibration (:func:`calibrate_range`: min/max, percentile, MSE),
   activation quantizers (:class:`ActQuant`, :func:`attach_activation_quant_`: EMA or PACT),
   gradient quantization (:func:`attach_gradient_quant_`, the DoReFa/WAGE idea).
5. :mod:`.model` — whole networks: post-training quantization (:func:`quantize_weights`,
   :func:`ptq`), quantization-aware training (:func:`prepare_qat_`, :func:`bake_`), mixed
   precision (:func:`bit_sensitivity`, :func:`assign_bits`), sizes
   (:func:`quantized_size_bits`), PyTorch's int8 kernels (:func:`dynamic_int8`).
6. :mod:`.recipes` — the chapter's cached trainings (:func:`train_quantized`,
   :func:`train_shared`, :data:`RECIPES`); :mod:`.exercises` — its exercises.

Weight transforms and hooks go through :mod:`companion.reparam` (attach / bake / remove;
named, non-stacking hooks), arguments through :mod:`companion.checks`.

Granularity is one ``block_size`` convention (a block shares one scale): per tensor, per output
channel, per group — the table of examples is in :mod:`companion.quantization.primitives`.

>>> from companion import quantization as Q
>>> Q.fake_quantize(torch.tensor([-1.0, 0.1, 2.0]), 2).tolist()
[-1.0, 0.0, 2.0]
"""
from __future__ import annotations

import torch  # noqa: F401  (the docstring example)

from . import exercises as _exercises  # noqa: F401  (registers the chapter's exercises)
from .activations import (ACT_CLIPS, ACT_HOOK, CALIBRATIONS, GRAD_HOOK, ActQuant, GradQuant,
                          attach_activation_quant_, attach_gradient_quant_, calibrate_activations_, calibrate_range,
                          remove_activation_quant_, remove_gradient_quant_)
from .binary import BINARY_SCALES, BinaryWeight, TernaryWeight, TTQWeight, binarize, ternarize
from .codebook import (KMEANS_INITS, SharedWeights, decode_codebook, finetune_codebook, kmeans_codebook, log_levels,
                       log_quantize, nearest_level, share_weights_, shared_weight)
from .model import (DEFAULT_GROUP_SIZE, GRANULARITIES, SIZE_METHODS, WEIGHT_METHODS, FakeQuantWeight, assign_bits,
                    bake_, dynamic_int8, bit_sensitivity, prepare_qat_, ptq, quant_layers, quantize_weights,
                    quantized_size_bits, time_forward_ms)
from .primitives import (ROUNDINGS, SCHEMES, FakeQuantSTE, QParams, SignSTE, bits_per_layer, choose_qparams,
                         dequantize, fake_quantize, fake_quantize_ste, per_channel, per_group, per_tensor,
                         qparams_from_range, qrange, quantization_error, quantize, sign_ste, widen_range)
from .recipes import (QAT_THREADS, RECIPES, WEIGHT_KINDS, build_quantized, grad_sweep_recipe, prefetch_quantized,
                      qat_sweep_recipe, train_quantized, train_shared)

__all__ = [
    # primitives: uniform quantizers and the STE
    "SCHEMES", "ROUNDINGS", "QParams", "qrange", "per_tensor", "per_channel", "per_group", "widen_range",
    "choose_qparams", "qparams_from_range", "quantize", "dequantize", "fake_quantize", "quantization_error",
    "bits_per_layer", "FakeQuantSTE", "fake_quantize_ste", "SignSTE", "sign_ste",
    # codebook: non-uniform
    "KMEANS_INITS", "log_levels", "log_quantize", "nearest_level", "kmeans_codebook", "decode_codebook",
    "shared_weight", "SharedWeights", "share_weights_", "finetune_codebook",
    # binary / ternary
    "BINARY_SCALES", "binarize", "ternarize", "TTQWeight", "BinaryWeight", "TernaryWeight",
    # activations and gradients
    "CALIBRATIONS", "ACT_CLIPS", "ACT_HOOK", "GRAD_HOOK", "calibrate_range", "ActQuant", "attach_activation_quant_",
    "remove_activation_quant_", "calibrate_activations_", "GradQuant", "attach_gradient_quant_",
    "remove_gradient_quant_",
    # model level
    "WEIGHT_METHODS", "GRANULARITIES", "SIZE_METHODS", "DEFAULT_GROUP_SIZE", "quant_layers", "quantize_weights",
    "ptq", "FakeQuantWeight", "prepare_qat_", "bake_", "quantized_size_bits", "bit_sensitivity", "assign_bits",
    "dynamic_int8", "time_forward_ms",
    # recipes
    "WEIGHT_KINDS", "RECIPES", "qat_sweep_recipe", "grad_sweep_recipe", "build_quantized", "train_quantized",
    "prefetch_quantized", "QAT_THREADS", "train_shared",
]
