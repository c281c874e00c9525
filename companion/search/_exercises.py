"""Chapter 8 exercises on automatic compression (registered when :mod:`companion.search` is imported)."""
from __future__ import annotations


import torch

from .. import exercises, train

from .policies import (Policy, SearchSpace, best_uniform, protected_layers)
from .book import (BOOK_BUDGET_FRACTION, DEFAULT_SPACE, apply_policy, book_architecture, book_layer_weights, book_problem)
# --- exercises -----------------------------------------------------------------------------------

def _ex_space_size() -> int:
    return SearchSpace(("conv1", "conv2", "fc1", "fc2")).size()


def _check_beats_uniform(policy) -> str:
    if not isinstance(policy, Policy):
        raise exercises.ExerciseError(f"expected a Policy (e.g. space.policy(...) or Policy(layers, sparsity, bits)), "
                                      f"got {type(policy).__name__}")
    space, cost, score, budget = book_problem()
    if policy.layers != space.layers:
        raise exercises.ExerciseError(f"the policy must name the layers {space.layers}")
    c = cost(policy)
    if c > budget:
        raise exercises.ExerciseError(f"over budget: {c / 1e6:.2f} µJ > {budget / 1e6:.2f} µJ. Hint: the big layer "
                                      "holds most of the energy; compress it harder and spare the small ones")
    uni_score, plain_score = _book_uniform_scores()
    s = score(policy)
    if s <= uni_score:
        raise exercises.ExerciseError(
            f"{s:.1f} % does not beat the best uniform policy with its small end layers protected "
            f"({uni_score:.1f} %; the plain uniform one scores {plain_score:.1f} %). Hint: which layer is most "
            "sensitive, and which one costs the most?")
    return (f"{s:.1f} % vs {uni_score:.1f} % for the best uniform policy with its small end layers "
            f"protected (plain uniform: {plain_score:.1f} %), at {c / 1e6:.2f} µJ.")


def _book_uniform_scores() -> tuple[float, float]:
    """Proxy scores of the best uniform policies of :func:`book_problem` under its budget: the one
    that protects the first and last layers as AMC/HAQ do (:func:`protected_layers`, the fair
    reference) and the plain one (every layer alike). Cached on disk."""
    spec = {"ch8": "book_uniform", "budget_fraction": BOOK_BUDGET_FRACTION,
            "space": [DEFAULT_SPACE.sparsities, DEFAULT_SPACE.bits], "arch": repr(book_architecture())}

    def compute():
        space, cost, score, budget = book_problem()
        fs, fb = protected_layers(space, cost, budget, weights=book_layer_weights())
        protected = best_uniform(space, cost, score, budget, fixed_sparsity=fs, fixed_bits=fb)
        return [protected.score, best_uniform(space, cost, score, budget).score]
    protected, plain = train.cached_result(spec, compute, name="ch8-uniform", parents=[train.baseline_key("lenet300")],
                                           code=(_book_uniform_scores, book_problem, book_layer_weights, best_uniform,
                                                 protected_layers,
                                                 apply_policy))
    return float(protected), float(plain)


exercises.register(
    "ch8.space_size",
    "How many per-layer policies does the default grid (7 sparsities x 5 bitwidths) hold for LeNet-5's "
    "four layers? Count by hand, then compare with SearchSpace(...).size().",
    exercises.close_to(_ex_space_size, rtol=0, atol=0.5,
                       hint="each layer picks one (sparsity, bits) pair out of 7*5; the layers choose independently"),
    "easy")

exercises.register(
    "ch8.fgsm_linf",
    "With pixel_range=None, what is the largest change (in pixel units) that FGSM with eps = 0.1 makes to any "
    "pixel? Measure it on test images of the baseline (mind the normalisation: pixel = input * std + mean).",
    exercises.close_to(0.1, rtol=1e-4, atol=1e-5,
                       hint="FGSM adds (eps / std) * sign(gradient) to the normalised input"),
    "easy")


def _linear_fgsm_reference(weight, bias, x, y, eps):
    from ..robustness import linear_fgsm_closed_form
    return linear_fgsm_closed_form(weight, bias, x, y, eps)


def _linear_cases():
    g = torch.Generator().manual_seed(8)
    for n, d, c in ((1, 3, 2), (5, 7, 4), (16, 20, 10)):
        yield (torch.randn(c, d, generator=g), torch.randn(c, generator=g), torch.randn(n, d, generator=g),
               torch.randint(0, c, (n,), generator=g), 0.25)


exercises.register(
    "ch8.linear_fgsm",
    "Write fgsm_linear(W, b, x, y, eps) -> x_adv for a linear softmax classifier z = x W^T + b WITHOUT autograd: "
    "derive the input gradient of the cross-entropy by hand.",
    exercises.same_function(_linear_fgsm_reference, _linear_cases, atol=1e-5,
                            hint="dL/dz = softmax(z) - onehot(y), and dz/dx = W"),
    "medium")

exercises.register(
    "ch8.beat_uniform",
    "Hand-design a Policy for LeNet-300-100 that meets the chapter's energy budget and whose proxy accuracy "
    "(validation, no fine-tuning) beats the best uniform policy under the same budget — the fair one, which "
    "keeps the small end layers (here the classifier fc3) at 8 bits and dense, as AMC and HAQ protect their small, sensitive end layers.",
    _check_beats_uniform, "hard")
