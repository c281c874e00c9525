"""Network sparsification: magnitude pruning, structured pruning, N:M sparsity, sparse formats.

After the survey's section on network sparsification (Deng et al. 2020). Three granularities:

* **unstructured** — zero single weights by magnitude (Han et al. 2015, "Learning both Weights
  and Connections"): :func:`magnitude_mask`, :func:`prune_`, :func:`iterative_prune_`, and the
  gradual polynomial schedule of Zhu & Gupta 2017 (:func:`polynomial_schedule`,
  :func:`gradual_prune_`);
* **structured** — remove whole filters / neurons by their L1 norm (Li et al. 2017, "Pruning
  Filters for Efficient ConvNets"), physically shrinking the layers (:func:`prune_channels`),
  helped by group-lasso regularisation (Wen et al. 2016, structured sparsity learning,
  :func:`group_lasso_penalty`);
* **semi-structured N:M** — at most N non-zeros in every group of M consecutive weights
  (:func:`nm_mask`, :func:`prune_nm_`), the 2:4 pattern of NVIDIA's sparse tensor cores.

A pruning mask is a :class:`Mask` transform attached with :func:`companion.reparam.attach`: the
layer's ``weight`` reads ``original · mask``, so pruned weights stay exactly zero while the
network is retrained, and :func:`bake_masks_` turns them back into plain weights with the zeros kept.
Sparse weights are stored in CSR/CSC (:func:`csr_encode`) or in Deep Compression's
relative-index format with padding zeros (Han et al. 2016, :func:`relative_index_encode`); the
size functions count every index bit through :func:`companion.metrics.storage_bits`.

The package, one seam per module:

==================  ==============================================================================
``masks``           magnitude masks, the :class:`Mask` transform, :func:`prune_`, :func:`bake_masks_`, :func:`masks`
``schedules``       iterative (Han et al.) and gradual (Zhu & Gupta, AGP) pruning and their schedules
``structured``      channel/filter pruning, group lasso, N:M masks
``analysis``        activation sparsity and the one-layer-at-a-time sensitivity sweep
``formats``         CSR/CSC, relative indices, bitmask, sizes in bits, sparse-vs-dense timing
``recipes``         the chapter's cached recipes (pruned, channel-pruned, group-lasso, N:M models)
``exercises``       the chapter's exercises
==================  ==============================================================================

Conventions: ``sparsity`` is the fraction of **zeros** in [0, 1); a mask is a bool tensor,
``True`` = weight kept. Functions that change a model in place end in ``_``. Sweeps return
typed rows (frozen dataclasses) in a list with ``to_frame()``.
"""
from __future__ import annotations

from ..rows import Row, Rows
from .analysis import (SensitivityPoint, SensitivitySweep, activation_sparsity, input_sparsity, sensitivity_sweep,
                       sparsities_from_sensitivity)
from .formats import (CSR, FORMATS, SparseTiming, bitmask_size_bits, csc_decode, csc_encode, csr_decode, csr_encode,
                      csr_size_bits, relative_index_decode, relative_index_encode, relative_index_size_bits,
                      sparse_size_bits, sparse_storage, time_sparse_linear)
from .masks import (Mask, bake_masks_, global_magnitude_masks, layer_sparsities, magnitude_mask, masks, prunable_layers,
                    prune_, sparsity_of, weight_ratio)
from .recipes import (PRUNING_METHODS, SWEEP_SPARSITIES, baseline_sensitivity, channel_pruned_model, group_lasso_model,
                      nm_pruned_model, pruned_model)
from .schedules import (GradualStep, PruneRound, geometric_schedule, gradual_prune, gradual_prune_, iterative_prune,
                        iterative_prune_, polynomial_schedule)
from .structured import (channel_norms, group_lasso_penalty, nm_mask, prune_channels, prune_nm_, select_channels,
                         zero_channels_)
from . import exercises  # registers the chapter's exercises
from .exercises import EXERCISE_MATRIX, EXERCISE_ROW

__all__ = [
    # unstructured
    "magnitude_mask", "global_magnitude_masks", "Mask", "prunable_layers", "prune_", "bake_masks_", "masks",
    "sparsity_of", "layer_sparsities", "weight_ratio", "geometric_schedule", "polynomial_schedule",
    "iterative_prune_", "gradual_prune_", "iterative_prune", "gradual_prune", "PruneRound", "GradualStep",
    # structured and N:M
    "channel_norms", "select_channels", "prune_channels", "zero_channels_", "group_lasso_penalty",
    "nm_mask", "prune_nm_",
    # activations and sensitivity
    "activation_sparsity", "input_sparsity", "sensitivity_sweep", "sparsities_from_sensitivity",
    "SensitivitySweep", "SensitivityPoint",
    # formats, sizes and speed
    "CSR", "csr_encode", "csr_decode", "csc_encode", "csc_decode", "csr_size_bits",
    "relative_index_encode", "relative_index_decode", "relative_index_size_bits", "bitmask_size_bits",
    "sparse_size_bits", "sparse_storage", "FORMATS", "time_sparse_linear", "SparseTiming",
    # cached recipes of the chapter
    "PRUNING_METHODS", "pruned_model", "channel_pruned_model", "group_lasso_model", "nm_pruned_model",
    "baseline_sensitivity", "SWEEP_SPARSITIES", "EXERCISE_MATRIX", "EXERCISE_ROW",
    # result containers
    "Row", "Rows",
]
