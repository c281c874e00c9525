"""Policies, the search space and the pure evolutionary search (any cost, any score):
see :mod:`companion.search`."""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence





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
                     bits: int = 8, weights: Mapping[str, int] | None = None,
                     max_share: float = 0.1) -> tuple[dict[str, float], dict[str, int]]:
    """The ``(fixed_sparsity, fixed_bits)`` of a uniform baseline that protects the first and last
    layers as AMC (He et al. 2018) and HAQ (Wang et al. 2019) do: both keep ``bits`` and stay dense.

    They protect them for a reason: in their CNNs those layers are *small and sensitive* (a few
    percent of the weights, and errors there reach every later layer or the output directly).
    With ``weights`` (``{layer: weight count}``), a first or last layer that holds more than
    ``max_share`` of all weights is not protected at all (in LeNet-300-100 the first layer holds
    88 % of them: protecting it would spend most of the budget on the least sensitive layer).
    If a protected layer kept dense still cannot fit the budget with every other layer at its most
    compressed setting, it keeps its ``bits`` but takes the uniform sparsity; the layers are
    released largest cost first.
    """
    if not isinstance(space, SearchSpace):
        raise TypeError(f"space must be a SearchSpace, got {type(space).__name__}")
    if bits not in space.bits or 0.0 not in space.sparsities:
        raise ValueError(f"bits must be on the grid {list(space.bits)} and the grid must hold sparsity 0, "
                         f"got bits={bits!r}, sparsities={list(space.sparsities)}")
    budget = _check_budget(space, cost, budget)
    ends = list(dict.fromkeys((space.layers[0], space.layers[-1])))
    if weights is not None:
        missing = [n for n in space.layers if n not in weights]
        if missing:
            raise ValueError(f"weights lacks the layer(s) {missing}; it must map every layer of the space to its count")
        if not 0.0 < float(max_share) <= 1.0:
            raise ValueError(f"max_share must be in (0, 1], got {max_share!r}")
        total = sum(int(weights[n]) for n in space.layers)
        ends = [n for n in ends if int(weights[n]) <= max_share * total]
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
