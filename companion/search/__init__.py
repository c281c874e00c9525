"""Automatic compression: search per-layer sparsity and bitwidth under an accelerator budget.

After the survey's discussion of *automatic compression*. AMC (He et al. 2018) lets an RL agent
choose each layer's pruning ratio under a FLOPs or latency budget, rewarded by the validation
accuracy of the compressed network *without* fine-tuning; HAQ (Wang et al. 2019) chooses each
layer's bitwidth with the latency / energy of a hardware simulator in the loop. Here an
evolutionary search (no RL agent is needed for a handful of layers) does both at once:

* a **policy** gives every layer a sparsity ``s_l`` (fraction of zeros) and a weight bitwidth
  ``b_l`` from a small grid (:class:`SearchSpace`);
* its **cost** is the energy (or latency) that the accelerator model of chapter 7 predicts
  (:func:`companion.accelerator.evaluate_network` with ``densities = 1 − s`` and ``bits = b``);
* its **score** is a proxy of accuracy, e.g. the validation accuracy of the baseline pruned by
  magnitude (chapter 5) and quantized per channel (chapter 4), without fine-tuning (AMC's reward);
* the search maximises the score subject to ``cost(policy) ≤ budget``: a population of policies
  is mutated and recombined; an over-budget child is *repaired* by greedily compressing the
  layer step that saves the most cost until it fits (:func:`repair`).

The fair reference is the best **uniform** policy (one ``(s, b)`` for every layer) under the same
budget (:func:`best_uniform`). Both are then fine-tuned with the same short recipe and compared
on the test split over several seeds (:func:`finetune_policy`).

The pure search functions take any ``cost(policy) -> float`` and ``score(policy) -> float``, so
the tests run them on toy problems; the model-level helpers tie them to the book's networks.
"""
from __future__ import annotations

from . import _exercises  # noqa: F401  (registers the ch8 search exercises)
from .book import (apply_policy, policy_size_bits, accelerator_cost, proxy_score, finetune_policy, DEFAULT_SPACE, BOOK_BUDGET_FRACTION, book_architecture, book_layer_weights, book_problem, compare_with_uniform, policy_from_spec)
from .policies import (Policy, SearchSpace, SearchResult, repair, evolutionary_search, best_uniform, protected_layers, min_cost)

__all__ = ["Policy", "SearchSpace", "SearchResult", "repair", "evolutionary_search", "best_uniform",
           "protected_layers", "min_cost", "apply_policy", "policy_size_bits", "accelerator_cost", "proxy_score", "finetune_policy", "DEFAULT_SPACE",
           "BOOK_BUDGET_FRACTION", "book_architecture", "book_layer_weights", "book_problem", "compare_with_uniform",
           "policy_from_spec"]
