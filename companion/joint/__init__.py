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
* :mod:`~companion.joint.experiments` — the chapter's experiments: the Deep Compression recipes
  (:data:`DEEP_COMPRESSION`, :func:`deep_compression`), the sparsity × bits grid behind the widget
  and the ablation (:func:`prune_share_grid`), the cached sensitivity, and every method on one
  Pareto plot at one retraining budget (:func:`pareto_results`, :func:`compact_results`,
  :func:`distillation_results`);
* :mod:`~companion.joint.figures` — the chapter's figures (imported on demand: it loads Matplotlib).

This package only re-exports; importing it registers the chapter's exercises (``ch6.*``).

Deep Compression (Han, Mao, Dally, ICLR 2016): prune (Han et al. 2015) → share weights by
k-means with codebook fine-tuning → Huffman-code the codes and the relative indices;
LeNet-300-100 40x, LeNet-5 39x, AlexNet 35x, VGG-16 49x with no accuracy loss.
"""
from __future__ import annotations

from . import codec, experiments, huffman, recipes, sensitivity
from . import _exercises  # noqa: F401  (registers ch6.*)
from .codec import Coding, CorruptFileError, decode_tensor, describe, encode_tensor, read_model, size_breakdown, \
    write_model
from .experiments import DEEP_COMPRESSION, PAPER, PAPER_RECIPE, PARETO_RECIPES, RETRAIN_EPOCHS, cached_sensitivity, \
    compact_results, deep_compression, distillation_results, float32_bytes, pareto_results, prune_share_grid, \
    recipe_summary, retrain_epochs, stage_table
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
    "DEEP_COMPRESSION", "PAPER", "PAPER_RECIPE", "deep_compression", "stage_table", "recipe_summary",
    "prune_share_grid", "float32_bytes", "RETRAIN_EPOCHS", "PARETO_RECIPES", "retrain_epochs", "pareto_results",
    "cached_sensitivity", "compact_results", "distillation_results",
    # submodules
    "codec", "huffman", "recipes", "sensitivity", "experiments",
]
