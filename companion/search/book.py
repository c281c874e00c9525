"""The search on the book's networks: applying a policy, its accelerator cost, its proxy score,
its fine-tuning, and the chapter's experiment (see :mod:`companion.search`)."""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

from torch import nn

from .. import metrics, quantization, sparsity, train

from .policies import (Policy, SearchSpace, best_uniform, evolutionary_search, protected_layers, repair)
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
    sparsity.bake_masks_(out)
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
    from ..accelerator import evaluate_network
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
        sparsity.bake_masks_(m)

    pruned = train.cached_model(spec, make, fit, name=f"ch8-ft-{model_name}",
                                code=(finetune_policy, sparsity.prune_, sparsity.bake_masks_))
    return quantization.quantize_weights(pruned, policy.bit_map, scheme="symmetric", granularity="channel",
                                         layers=list(policy.layers))


# --- the chapter's experiment ---------------------------------------------------------------

BOOK_BUDGET_FRACTION = 0.08  # of the dense 8-bit network's energy on the book's EIE-like accelerator


def book_architecture():
    """The accelerator of the chapter: a 16x16 weight-stationary array with an EIE-style sparse
    engine (zero weights skipped, compressed storage), so both sparsity and bits lower its energy."""
    from ..accelerator import Architecture
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


def book_layer_weights(model_name: str = "lenet300") -> dict[str, int]:
    """``{layer: weight count}`` of the baseline ``model_name`` (which end layers are small)."""
    return {l.name: int(l.weights) for l in metrics.measure_layers(train.baseline(model_name, progress=False))}


def compare_with_uniform(model_name: str = "lenet300", seeds: Sequence[int] = (0, 1, 2), *,
                         budget_fraction: float = BOOK_BUDGET_FRACTION, metric: str = "energy_pj",
                         population: int = 12, generations: int = 8, epochs: int = 2, lr: float = 5e-4,
                         protect_first_last: bool = True, protect_max_share: float = 0.1,
                         progress: bool = False) -> dict:
    """The chapter's experiment, cached: for each seed, search a per-layer policy (seeded
    evolution, started from the uniform references) and fine-tune it and the uniform reference
    with the same recipe and seed, from the same baseline (seed 0); report proxy and test
    accuracies and costs.

    The reference (``"uniform"``) is the best uniform policy whose first and last layers keep 8
    bits and stay dense where the budget allows, if they are small (at most ``protect_max_share``
    of the weights: :func:`protected_layers`; AMC and HAQ protect small, sensitive end layers)
    when ``protect_first_last``; ``"uniform_all"`` is the plain one (every layer at the
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
            "protect_max_share": float(protect_max_share),
            "space": [DEFAULT_SPACE.sparsities, DEFAULT_SPACE.bits], "arch": repr(book_architecture())}

    def compute():
        space, cost, score, budget = book_problem(model_name, budget_fraction=budget_fraction, metric=metric)
        plain = best_uniform(space, cost, score, budget)
        weights = book_layer_weights(model_name)
        fs, fb = (protected_layers(space, cost, budget, weights=weights, max_share=protect_max_share)
                  if protect_first_last else ({}, {}))
        uni = best_uniform(space, cost, score, budget, fixed_sparsity=fs, fixed_bits=fb)
        out = {"budget": budget, "dense_cost": cost(space.uniform(0.0, 8)), "layers": list(space.layers),
               "uniform": {"policy": uni.policy.as_spec(), "cost": uni.cost, "proxy": uni.score},
               "uniform_all": {"policy": plain.policy.as_spec(), "cost": plain.cost, "proxy": plain.score},
               "protected": {"sparsity": fs, "bits": fb}, "weights": weights, "runs": []}

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
                               code=(compare_with_uniform, book_problem, book_layer_weights, best_uniform,
                                     protected_layers,
                                     evolutionary_search, repair, apply_policy, finetune_policy))


def policy_from_spec(spec: Mapping) -> Policy:
    """The :class:`Policy` of :meth:`Policy.as_spec` output (e.g. from a cached result)."""
    return Policy(tuple(spec["layers"]), tuple(float(s) for s in spec["sparsity"]), tuple(int(b) for b in spec["bits"]))
