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

import itertools
import random
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from . import exercises, metrics, quantization, sparsity, train

__all__ = ["Policy", "SearchSpace", "SearchResult", "repair", "evolutionary_search", "best_uniform",
           "protected_layers", "min_cost", "apply_policy", "policy_size_bits", "accelerator_cost", "proxy_score", "finetune_policy", "DEFAULT_SPACE",
           "BOOK_BUDGET_FRACTION", "book_architecture", "book_problem", "compare_with_uniform",
           "policy_from_spec"]


# --- policies and the search space -------------------------------------------------------------

@dataclass(frozen=True)
class Policy:
    """Per-layer ``sparsity`` (fraction of zero weights, in [0, 1)) and weight ``bits``, by layer name."""

    layers: tuple[str, ...]
    sparsity: tuple[float, ...]
    bits: tuple[int, ...]

    def __post_init__(self):
        if not (len(self.layers) == len(self.sparsity) == len(self.bits)) or not self.layers:
            raise ValueError(f"layers, sparsity and bits must have the same non-zero length, got "
                             f"{len(self.layers)}, {len(self.sparsity)}, {len(self.bits)}")

    @property
    def densities(self) -> dict[str, float]:
        """``{layer: 1 − sparsity}`` (what the accelerator model reads)."""
        return {n: 1.0 - s for n, s in zip(self.layers, self.sparsity)}

    @property
    def sparsities(self) -> dict[str, float]:
        return dict(zip(self.layers, self.sparsity))

    @property
    def bit_map(self) -> dict[str, int]:
        return dict(zip(self.layers, self.bits))

    def as_spec(self) -> dict:
        """JSON-able description (for cache keys)."""
        return {"layers": list(self.layers), "sparsity": list(self.sparsity), "bits": list(self.bits)}

    def __str__(self) -> str:
        return ", ".join(f"{n}: {s:.0%} zeros @ {b} bit" for n, s, b in zip(self.layers, self.sparsity, self.bits))


@dataclass(frozen=True)
class SearchSpace:
    """The grid a search may choose from: for every layer one of ``sparsities`` and one of ``bits``.

    Grids are sorted: ``sparsities`` ascending (less → more compressed), ``bits`` descending.
    """

    layers: tuple[str, ...]
    sparsities: tuple[float, ...] = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
    bits: tuple[int, ...] = (8, 6, 4, 3, 2)

    def __post_init__(self):
        if isinstance(self.layers, str) or not self.layers or len(set(self.layers)) != len(self.layers):
            raise ValueError(f"layers must be a non-empty tuple of distinct layer names, got {self.layers!r}")
        if not self.sparsities or any(isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 <= s < 1
                                      for s in self.sparsities):
            raise ValueError(f"sparsities must be numbers in [0, 1), got {self.sparsities!r}")
        if not self.bits or any(isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= 32 for b in self.bits):
            raise ValueError(f"bits must be ints in [1, 32], got {self.bits!r}")
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "sparsities", tuple(sorted(float(s) for s in set(self.sparsities))))
        object.__setattr__(self, "bits", tuple(sorted(set(self.bits), reverse=True)))

    def policy(self, s_idx: Sequence[int], b_idx: Sequence[int]) -> Policy:
        """The policy of grid indices (one sparsity index and one bits index per layer)."""
        return Policy(self.layers, tuple(self.sparsities[i] for i in s_idx), tuple(self.bits[i] for i in b_idx))

    def uniform(self, sparsity: float, bits: int) -> Policy:
        """Every layer at the same ``(sparsity, bits)``."""
        n = len(self.layers)
        return Policy(self.layers, (float(sparsity),) * n, (int(bits),) * n)

    def most_compressed(self) -> Policy:
        """Highest sparsity and fewest bits everywhere (the cheapest policy if cost is monotone)."""
        return self.uniform(self.sparsities[-1], self.bits[-1])

    def least_compressed(self) -> Policy:
        return self.uniform(self.sparsities[0], self.bits[0])

    def size(self) -> int:
        """Number of policies in the space, ``(|S|·|B|)^L``."""
        return (len(self.sparsities) * len(self.bits)) ** len(self.layers)


@dataclass(frozen=True)
class SearchResult:
    """Best policy found, its cost and score, and the best score after each generation."""

    policy: Policy
    cost: float
    score: float
    budget: float
    history: tuple[float, ...] = ()
    evaluations: int = 0
    population: tuple[tuple[Policy, float, float], ...] = field(default=(), repr=False)

    @property
    def budget_met(self) -> bool:
        return self.cost <= self.budget


# --- the pure search ---------------------------------------------------------------------------

def _check_budget(space: SearchSpace, cost: Callable[[Policy], float], budget) -> float:
    if not callable(cost):
        raise TypeError(f"cost must be a callable policy -> float, got {type(cost).__name__}")
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0:
        raise ValueError(f"budget must be a number > 0 (same unit as cost), got {budget!r}")
    lowest = min_cost(space, cost)
    if budget < lowest:
        raise ValueError(f"budget {budget:g} is below the smallest achievable cost {lowest:g} (every layer at "
                         f"{space.sparsities[-1]:.0%} zeros and {space.bits[-1]} bits); raise the budget or widen "
                         f"the search space")
    return float(budget)


def min_cost(space: SearchSpace, cost: Callable[[Policy], float]) -> float:
    """Cost of the most compressed policy (the lowest achievable cost when cost is monotone)."""
    if not isinstance(space, SearchSpace):
        raise TypeError(f"space must be a SearchSpace, got {type(space).__name__}")
    return float(cost(space.most_compressed()))


def _indices(space: SearchSpace, policy: Policy) -> tuple[list[int], list[int]]:
    return ([space.sparsities.index(s) for s in policy.sparsity], [space.bits.index(b) for b in policy.bits])


def repair(space: SearchSpace, policy: Policy, cost: Callable[[Policy], float], budget: float) -> Policy:
    """Compress ``policy`` step by step until ``cost ≤ budget``: each step moves one layer one grid
    step (more sparsity or fewer bits), choosing the move that saves the most cost. Returns the
    policy unchanged when it already fits; ends at the most compressed policy at worst."""
    s_idx, b_idx = _indices(space, policy)
    current = policy
    c = cost(current)
    while c > budget:
        best = None
        for l in range(len(space.layers)):
            for which in ("s", "b"):
                s2, b2 = list(s_idx), list(b_idx)
                if which == "s" and s2[l] + 1 < len(space.sparsities):
                    s2[l] += 1
                elif which == "b" and b2[l] + 1 < len(space.bits):
                    b2[l] += 1
                else:
                    continue
                cand = space.policy(s2, b2)
                cc = cost(cand)
                if best is None or cc < best[0]:
                    best = (cc, s2, b2, cand)
        if best is None:  # nothing left to compress
            break
        c, s_idx, b_idx, current = best
    return current


def evolutionary_search(space: SearchSpace, cost: Callable[[Policy], float], score: Callable[[Policy], float],
                        budget: float, *, population: int = 12, generations: int = 8, mutation: float = 0.3,
                        seed: int = 0, start: Sequence[Policy] = ()) -> SearchResult:
    """Maximise ``score(policy)`` subject to ``cost(policy) ≤ budget`` by a seeded evolutionary search.

    Each generation keeps the best half of the population (elitism), and fills the rest with
    children: uniform crossover of two parents, then each layer's sparsity/bits index moves
    ±1 with probability ``mutation``; an over-budget child is :func:`repair`-ed. The initial
    population is ``start`` (e.g. the best uniform policy) plus random repaired policies.
    Every policy's score is computed once (memoised). Same ``seed`` → same result.

    Returns a :class:`SearchResult`; its ``cost ≤ budget`` always holds (a ``ValueError`` is raised
    up front when even the most compressed policy is over budget).
    """
    if not isinstance(space, SearchSpace):
        raise TypeError(f"space must be a SearchSpace, got {type(space).__name__}")
    if not callable(score):
        raise TypeError(f"score must be a callable policy -> float, got {type(score).__name__}")
    budget = _check_budget(space, cost, budget)
    for name, v, lo in (("population", population, 2), ("generations", generations, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
    if not 0 <= mutation <= 1:
        raise ValueError(f"mutation must be a probability in [0, 1], got {mutation!r}")
    rng = random.Random(seed)
    n_layers, n_s, n_b = len(space.layers), len(space.sparsities), len(space.bits)
    scores: dict[Policy, float] = {}
    costs: dict[Policy, float] = {}

    def cost_of(p):
        if p not in costs:
            costs[p] = float(cost(p))
        return costs[p]

    def score_of(p):
        if p not in scores:
            scores[p] = float(score(p))
        return scores[p]

    def fit(p):
        return repair(space, p, cost_of, budget)

    pop: list[Policy] = []
    for p in start:
        if not isinstance(p, Policy) or p.layers != space.layers:
            raise ValueError(f"start policies must be Policy objects over the layers {space.layers}")
        pop.append(fit(p))
    while len(pop) < population:
        pop.append(fit(space.policy([rng.randrange(n_s) for _ in range(n_layers)],
                                    [rng.randrange(n_b) for _ in range(n_layers)])))
    history = []
    for _ in range(generations):
        ranked = sorted(set(pop), key=lambda p: (-score_of(p), cost_of(p), p.sparsity, p.bits))
        history.append(score_of(ranked[0]))
        elite = ranked[:max(1, population // 2)]
        children = []
        while len(elite) + len(children) < population:
            a, b = rng.choice(elite), rng.choice(elite)
            (sa, ba), (sb, bb) = _indices(space, a), _indices(space, b)
            s_idx = [sa[l] if rng.random() < 0.5 else sb[l] for l in range(n_layers)]
            b_idx = [ba[l] if rng.random() < 0.5 else bb[l] for l in range(n_layers)]
            for l in range(n_layers):
                if rng.random() < mutation:
                    s_idx[l] = min(n_s - 1, max(0, s_idx[l] + rng.choice((-1, 1))))
                if rng.random() < mutation:
                    b_idx[l] = min(n_b - 1, max(0, b_idx[l] + rng.choice((-1, 1))))
            children.append(fit(space.policy(s_idx, b_idx)))
        pop = elite + children
    ranked = sorted(set(pop), key=lambda p: (-score_of(p), cost_of(p), p.sparsity, p.bits))
    best = ranked[0]
    history.append(score_of(best))
    return SearchResult(best, cost_of(best), score_of(best), budget, tuple(history), len(scores),
                        tuple((p, cost_of(p), score_of(p)) for p in ranked))


def _fixed(space: SearchSpace, values: Mapping | None, name: str, allowed: tuple) -> dict:
    values = dict(values or {})
    bad = [n for n in values if n not in space.layers]
    if bad:
        raise ValueError(f"{name} names layers {bad} that the space lacks; layers: {list(space.layers)}")
    off = {n: v for n, v in values.items() if v not in allowed}
    if off:
        raise ValueError(f"{name} values {off} are not on the grid {list(allowed)}")
    return values


def best_uniform(space: SearchSpace, cost: Callable[[Policy], float], score: Callable[[Policy], float],
                 budget: float, *, fixed_sparsity: Mapping[str, float] | None = None,
                 fixed_bits: Mapping[str, int] | None = None) -> SearchResult:
    """The best *uniform* policy (one ``(s, b)`` for all layers) with ``cost ≤ budget`` — the fair
    reference for a per-layer search. Exhaustive over the ``|S|·|B|`` uniform policies.

    ``fixed_sparsity`` / ``fixed_bits`` (``{layer: value}``, values on the grid) keep some layers
    out of the uniform setting, as AMC and HAQ keep the first and last layers dense / at 8 bits
    (:func:`protected_layers`). A ``ValueError`` says so when no uniform policy fits the budget."""
    if not isinstance(space, SearchSpace):
        raise TypeError(f"space must be a SearchSpace, got {type(space).__name__}")
    budget = _check_budget(space, cost, budget)
    fs = _fixed(space, fixed_sparsity, "fixed_sparsity", space.sparsities)
    fb = _fixed(space, fixed_bits, "fixed_bits", space.bits)
    feasible = []
    for s, b in itertools.product(space.sparsities, space.bits):
        p = Policy(space.layers, tuple(float(fs.get(n, s)) for n in space.layers),
                   tuple(int(fb.get(n, b)) for n in space.layers))
        c = float(cost(p))
        if c <= budget:
            feasible.append((p, c))
    if not feasible:
        raise ValueError(f"no uniform policy with fixed_sparsity={fs} and fixed_bits={fb} fits the budget "
                         f"{budget:g}; protect fewer layers (protected_layers) or raise the budget")
    scored = sorted(((p, c, float(score(p))) for p, c in feasible), key=lambda t: (-t[2], t[1], t[0].sparsity))
    p, c, sc = scored[0]
    return SearchResult(p, c, sc, budget, (sc,), len(scored), tuple(scored))


def protected_layers(space: SearchSpace, cost: Callable[[Policy], float], budget: float, *,
                     bits: int = 8) -> tuple[dict[str, float], dict[str, int]]:
    """The ``(fixed_sparsity, fixed_bits)`` of a uniform baseline that protects the first and last
    layers as AMC (He et al. 2018) and HAQ (Wang et al. 2019) do: both keep ``bits`` and stay dense.

    If a protected layer kept dense cannot fit the budget even with every other layer at its most
    compressed setting (in LeNet-300-100 the first layer holds 88 % of the weights), that layer
    keeps its ``bits`` but takes the uniform sparsity; the layers are released largest cost first.
    """
    if not isinstance(space, SearchSpace):
        raise TypeError(f"space must be a SearchSpace, got {type(space).__name__}")
    if bits not in space.bits or 0.0 not in space.sparsities:
        raise ValueError(f"bits must be on the grid {list(space.bits)} and the grid must hold sparsity 0, "
                         f"got bits={bits!r}, sparsities={list(space.sparsities)}")
    budget = _check_budget(space, cost, budget)
    ends = list(dict.fromkeys((space.layers[0], space.layers[-1])))
    fixed_bits = {n: bits for n in ends}
    dense = list(ends)

    def cheapest(dense_layers):
        return float(cost(Policy(space.layers, tuple(0.0 if n in dense_layers else space.sparsities[-1]
                                                     for n in space.layers),
                                 tuple(fixed_bits.get(n, space.bits[-1]) for n in space.layers))))
    while dense and cheapest(dense) > budget:
        # release the protected layer whose density costs the most
        dense.remove(max(dense, key=lambda n: cheapest(dense) - cheapest([d for d in dense if d != n])))
    if cheapest(dense) > budget:
        raise ValueError(f"even with only the bits of {ends} protected, no uniform policy fits the budget {budget:g}")
    return {n: 0.0 for n in dense}, fixed_bits


# --- the book's networks: applying a policy, its cost, its proxy score, its fine-tuning ----------

DEFAULT_SPACE = SearchSpace(("fc1", "fc2", "fc3"))


def _check_policy_layers(model: nn.Module, policy: Policy) -> None:
    if not isinstance(policy, Policy):
        raise TypeError(f"policy must be a Policy, got {type(policy).__name__}")
    layers = sparsity.prunable_layers(model)
    missing = [n for n in policy.layers if n not in layers]
    if missing:
        raise ValueError(f"policy names layers {missing} that the model lacks; layers: {list(layers)}")


def apply_policy(model: nn.Module, policy: Policy) -> nn.Module:
    """A copy of ``model`` pruned by magnitude to the policy's per-layer sparsity (chapter 5), then
    quantized per output channel, symmetric, to its per-layer bits (chapter 4; symmetric keeps
    zeros exactly zero). Bits ≥ 32 leave a layer in float. At 2–3 bits the rounding sends more
    small weights to zero, so the real sparsity may exceed the policy's (the cost the accelerator
    model charges for the nominal density is then a slight over-estimate)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    _check_policy_layers(model, policy)
    import copy
    out = copy.deepcopy(model)
    sparsity.prune_(out, {n: s for n, s in policy.sparsities.items()})
    sparsity.bake_(out)
    return quantization.quantize_weights(out, policy.bit_map, scheme="symmetric", granularity="channel",
                                         layers=list(policy.layers))


def policy_size_bits(model: nn.Module, policy: Policy, *, fmt: str = "auto") -> int:
    """Storage of ``model``'s policy layers with every overhead: each weight matrix in ``fmt``
    (``"csr"``: values at the policy's bits + column indices + row pointers, chapter 5's
    :func:`~companion.sparsity.sparse_size_bits`; ``"dense"``; ``"auto"``: the smaller of the two
    per layer, as an encoder would choose), plus float32 biases."""
    if fmt not in ("auto", "csr", "dense"):
        raise ValueError(f"fmt must be 'auto', 'csr' or 'dense', got {fmt!r}")
    _check_policy_layers(model, policy)
    layers = sparsity.prunable_layers(model)
    total = 0
    for name, bits in policy.bit_map.items():
        m = layers[name]
        w, b = m.weight.detach(), min(bits, 32)
        sizes = {f: sparsity.sparse_size_bits(w, f, value_bits=b) for f in ("csr", "dense") if fmt in (f, "auto")}
        total += min(sizes.values())
        total += metrics.storage_bits(m.bias.numel(), 32) if m.bias is not None else 0
    return total


def accelerator_cost(arch, layers, *, metric: str = "energy_pj") -> Callable[[Policy], float]:
    """``cost(policy)``: the accelerator model's ``metric`` (``"energy_pj"`` or ``"latency_cycles"``)
    for the network ``layers`` (a layer table) with densities ``1 − s`` and weight bits ``b``."""
    from .accelerator import evaluate_network
    if metric not in ("energy_pj", "latency_cycles"):
        raise ValueError(f"metric must be 'energy_pj' or 'latency_cycles', got {metric!r}")

    def cost(policy: Policy) -> float:
        rep = evaluate_network(arch, layers, densities=policy.densities, bits=policy.bit_map)
        return float(getattr(rep, metric))
    return cost


def proxy_score(model: nn.Module, split: str | tuple = "val") -> Callable[[Policy], float]:
    """``score(policy)``: top-1 % on ``split`` of :func:`apply_policy` (model, policy), no fine-tuning
    (AMC's reward)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")

    def score(policy: Policy) -> float:
        return train.evaluate(apply_policy(model, policy), split)
    return score


def finetune_policy(model_name: str, policy: Policy, *, epochs: int = 2, lr: float = 5e-4, seed: int = 0,
                    baseline_seed: int | None = None, progress: bool = False) -> nn.Module:
    """The baseline ``model_name`` pruned to the policy, retrained ``epochs`` with its masks fixed
    (seed ``seed``), then quantized to the policy's bits (prune → retrain → quantize, as in Deep
    Compression). ``seed`` also selects the baseline (``train.baseline(model_name, seed=seed)``)
    unless ``baseline_seed`` is given (comparisons "from the same baseline" pass 0). Cached on
    disk; returns a plain model (masks baked)."""
    if not isinstance(policy, Policy):
        raise TypeError(f"policy must be a Policy, got {type(policy).__name__}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    base_seed = seed if baseline_seed is None else baseline_seed
    if isinstance(base_seed, bool) or not isinstance(base_seed, int) or base_seed < 0:
        raise ValueError(f"baseline_seed must be a non-negative int or None, got {baseline_seed!r}")
    # the retrained (pruned, float) model depends on the sparsities only; bits are applied after
    spec = {"ch8": "finetune_policy", "model": model_name, "layers": list(policy.layers),
            "sparsity": list(policy.sparsity), "epochs": epochs, "lr": lr, "seed": seed}

    def make():
        m = train.baseline(model_name, seed=base_seed, progress=False)
        _check_policy_layers(m, policy)
        return m

    def fit(m):
        sparsity.prune_(m, policy.sparsities)
        if epochs:
            cfg = train.baseline_config(model_name)
            train.fit(m, epochs=epochs, lr=lr, seed=seed, shift_px=cfg.shift_px, progress=progress,
                      desc="fine-tuning a policy")
        sparsity.bake_(m)

    pruned = train.cached_model(spec, make, fit, name=f"ch8-ft-{model_name}",
                                code=(finetune_policy, sparsity.prune_, sparsity.bake_))
    return quantization.quantize_weights(pruned, policy.bit_map, scheme="symmetric", granularity="channel",
                                         layers=list(policy.layers))


# --- the chapter's experiment ---------------------------------------------------------------

BOOK_BUDGET_FRACTION = 0.08  # of the dense 8-bit network's energy on the book's EIE-like accelerator


def book_architecture():
    """The accelerator of the chapter: a 16x16 weight-stationary array with an EIE-style sparse
    engine (zero weights skipped, compressed storage), so both sparsity and bits lower its energy."""
    from .accelerator import Architecture
    return Architecture(rows=16, cols=16, dataflow="ws", engine="sparse", skip="weights", name="16x16 sparse (EIE-like)")


def book_problem(model_name: str = "lenet300", *, budget_fraction: float = BOOK_BUDGET_FRACTION,
                 metric: str = "energy_pj", split: str = "val"):
    """``(space, cost, score, budget)`` of the chapter: per-layer sparsity/bits of the baseline
    ``model_name`` on :func:`book_architecture`, the budget a fraction of the dense 8-bit cost."""
    if not 0 < budget_fraction <= 1:
        raise ValueError(f"budget_fraction must be in (0, 1], got {budget_fraction!r}")
    base = train.baseline(model_name, progress=False)
    table = metrics.module_layer_table(base)
    space = SearchSpace(tuple(l.name for l in table))
    cost = accelerator_cost(book_architecture(), table, metric=metric)
    return space, cost, proxy_score(base, split), budget_fraction * cost(space.uniform(0.0, 8))


def compare_with_uniform(model_name: str = "lenet300", seeds: Sequence[int] = (0, 1, 2), *,
                         budget_fraction: float = BOOK_BUDGET_FRACTION, metric: str = "energy_pj",
                         population: int = 12, generations: int = 8, epochs: int = 2, lr: float = 5e-4,
                         protect_first_last: bool = True, progress: bool = False) -> dict:
    """The chapter's experiment, cached: for each seed, search a per-layer policy (seeded
    evolution, started from the uniform references) and fine-tune it and the uniform reference
    with the same recipe and seed, from the same baseline (seed 0); report proxy and test
    accuracies and costs.

    The reference (``"uniform"``) is the best uniform policy whose first and last layers keep 8
    bits and stay dense where the budget allows (:func:`protected_layers`; AMC and HAQ protect
    them too) when ``protect_first_last``; ``"uniform_all"`` is the plain one (every layer at the
    same ``(s, b)``), kept for comparison. Returns ``{"budget", "dense_cost", "layers", "uniform":
    {...}, "uniform_all": {...}, "protected": {"sparsity", "bits"}, "runs": [{"seed", "policy", "cost",
    "proxy", "test", "uniform_test", "uniform_all_test", "history"}, ...], "gain_pp": [...],
    "gain_all_pp": [...]}`` (plain lists and numbers; gains are ``test − uniform_test``).
    """
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"seeds must be distinct non-negative ints, got {seeds!r}")
    if not isinstance(protect_first_last, bool):
        raise TypeError(f"protect_first_last must be a bool, got {type(protect_first_last).__name__}")
    spec = {"ch8": "compare_with_uniform", "model": model_name, "seeds": seeds,
            "budget_fraction": budget_fraction, "metric": metric, "population": population,
            "generations": generations, "epochs": epochs, "lr": lr, "protect_first_last": protect_first_last,
            "space": [DEFAULT_SPACE.sparsities, DEFAULT_SPACE.bits], "arch": repr(book_architecture())}

    def compute():
        space, cost, score, budget = book_problem(model_name, budget_fraction=budget_fraction, metric=metric)
        plain = best_uniform(space, cost, score, budget)
        fs, fb = protected_layers(space, cost, budget) if protect_first_last else ({}, {})
        uni = best_uniform(space, cost, score, budget, fixed_sparsity=fs, fixed_bits=fb)
        out = {"budget": budget, "dense_cost": cost(space.uniform(0.0, 8)), "layers": list(space.layers),
               "uniform": {"policy": uni.policy.as_spec(), "cost": uni.cost, "proxy": uni.score},
               "uniform_all": {"policy": plain.policy.as_spec(), "cost": plain.cost, "proxy": plain.score},
               "protected": {"sparsity": fs, "bits": fb}, "runs": []}

        def test_acc(policy, seed):
            return train.evaluate(finetune_policy(model_name, policy, epochs=epochs, lr=lr, seed=seed,
                                                  baseline_seed=0, progress=progress))
        for seed in seeds:
            res = evolutionary_search(space, cost, score, budget, population=population, generations=generations,
                                      seed=seed, start=list(dict.fromkeys([uni.policy, plain.policy])))
            out["runs"].append({"seed": seed, "policy": res.policy.as_spec(), "cost": res.cost, "proxy": res.score,
                                "test": test_acc(res.policy, seed), "uniform_test": test_acc(uni.policy, seed),
                                "uniform_all_test": test_acc(plain.policy, seed), "history": list(res.history),
                                "evaluations": res.evaluations})
        out["gain_pp"] = [r["test"] - r["uniform_test"] for r in out["runs"]]
        out["gain_all_pp"] = [r["test"] - r["uniform_all_test"] for r in out["runs"]]
        return out

    return train.cached_result(spec, compute, name=f"ch8-autocomp-{model_name}",
                               parents=[train.baseline_key(model_name)],
                               code=(compare_with_uniform, book_problem, best_uniform, protected_layers,
                                     evolutionary_search, repair, apply_policy, finetune_policy))


def policy_from_spec(spec: Mapping) -> Policy:
    """The :class:`Policy` of :meth:`Policy.as_spec` output (e.g. from a cached result)."""
    return Policy(tuple(spec["layers"]), tuple(float(s) for s in spec["sparsity"]), tuple(int(b) for b in spec["bits"]))


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
    uni_score = _book_uniform_score()
    s = score(policy)
    if s <= uni_score:
        raise exercises.ExerciseError(f"{s:.1f} % does not beat the best uniform policy ({uni_score:.1f} %). Hint: "
                                      "which layer is most sensitive, and which one costs the most?")
    return f"{s:.1f} % vs {uni_score:.1f} % for the best uniform policy, at {c / 1e6:.2f} µJ."


def _book_uniform_score() -> float:
    """Proxy score of the best uniform policy of :func:`book_problem` (cached on disk)."""
    spec = {"ch8": "book_uniform", "budget_fraction": BOOK_BUDGET_FRACTION,
            "space": [DEFAULT_SPACE.sparsities, DEFAULT_SPACE.bits], "arch": repr(book_architecture())}

    def compute():
        space, cost, score, budget = book_problem()
        return best_uniform(space, cost, score, budget).score
    return float(train.cached_result(spec, compute, name="ch8-uniform", parents=[train.baseline_key("lenet300")],
                                     code=(_book_uniform_score, book_problem, best_uniform, apply_policy)))


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
    from .robustness import linear_fgsm_closed_form
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
    "(validation, no fine-tuning) beats the best uniform policy under the same budget.",
    _check_beats_uniform, "hard")
