"""Tests of companion.search: budget always met (property), seeded reproducibility, elitism over the
uniform start, repair, bad input, policies applied to a real network, the chapter's exercises."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

from companion import exercises, search, sparsity, train

LAYERS = ("a", "b", "c")
SPACE = search.SearchSpace(LAYERS, sparsities=(0.0, 0.5, 0.8, 0.9), bits=(8, 4, 2))


def toy_cost(weights):
    """Separable, monotone: Σ w_l · (1 − s_l) · b_l (like memory traffic of a sparse engine)."""
    return lambda p: sum(w * (1 - s) * b for w, s, b in zip(weights, p.sparsity, p.bits))


def toy_score(sens):
    """Higher is better; each layer loses accuracy with sparsity and with fewer bits, by its sensitivity."""
    return lambda p: 100 - sum(k * (s ** 2 + (8 - b) / 8) for k, s, b in zip(sens, p.sparsity, p.bits))


weights_st = st.lists(st.floats(1.0, 100.0), min_size=3, max_size=3)
sens_st = st.lists(st.floats(0.1, 10.0), min_size=3, max_size=3)


@settings(max_examples=25, deadline=None)
@given(w=weights_st, k=sens_st, frac=st.floats(0.0, 1.0), seed=st.integers(0, 10_000))
def test_search_respects_budget_and_beats_its_uniform_start(w, k, frac, seed):
    cost, score = toy_cost(w), toy_score(k)
    lo, hi = search.min_cost(SPACE, cost), cost(SPACE.least_compressed())
    budget = lo + frac * (hi - lo)
    uni = search.best_uniform(SPACE, cost, score, budget)
    assert uni.cost <= budget and uni.budget_met
    res = search.evolutionary_search(SPACE, cost, score, budget, population=6, generations=3, seed=seed,
                                     start=[uni.policy])
    assert res.cost <= budget + 1e-9 and res.budget_met
    assert res.score >= uni.score  # elitism: the uniform start is never lost
    assert list(res.history) == sorted(res.history)  # best score never decreases


@settings(max_examples=10, deadline=None)
@given(w=weights_st, k=sens_st, seed=st.integers(0, 1000))
def test_search_is_reproducible_with_a_seed(w, k, seed):
    cost, score = toy_cost(w), toy_score(k)
    budget = 0.3 * cost(SPACE.least_compressed())
    budget = max(budget, search.min_cost(SPACE, cost))
    a = search.evolutionary_search(SPACE, cost, score, budget, population=6, generations=4, seed=seed)
    b = search.evolutionary_search(SPACE, cost, score, budget, population=6, generations=4, seed=seed)
    assert a.policy == b.policy and a.history == b.history and a.evaluations == b.evaluations


def test_search_finds_the_exhaustive_optimum_on_a_small_problem():
    cost, score = toy_cost([50.0, 5.0, 1.0]), toy_score([1.0, 5.0, 10.0])
    budget = 0.25 * cost(SPACE.least_compressed())
    best = max((SPACE.policy(si, bi) for si in __import__("itertools").product(range(4), repeat=3)
                for bi in __import__("itertools").product(range(3), repeat=3)),
               key=lambda p: (score(p) if cost(p) <= budget else -1e9))
    res = search.evolutionary_search(SPACE, cost, score, budget, population=16, generations=15, seed=0)
    assert res.score == pytest.approx(score(best))
    uni = search.best_uniform(SPACE, cost, score, budget)
    assert res.score > uni.score  # the heterogeneous layers reward a per-layer policy


def test_repair_only_compresses_until_it_fits():
    cost = toy_cost([10.0, 10.0, 10.0])
    p = SPACE.least_compressed()
    assert search.repair(SPACE, p, cost, cost(p)) == p
    budget = 0.5 * cost(p)
    q = search.repair(SPACE, p, cost, budget)
    assert cost(q) <= budget
    assert all(s2 >= s1 for s1, s2 in zip(p.sparsity, q.sparsity)) and all(b2 <= b1 for b1, b2 in zip(p.bits, q.bits))


def test_budget_below_smallest_cost_is_a_clear_error():
    cost, score = toy_cost([1.0, 1.0, 1.0]), toy_score([1.0, 1.0, 1.0])
    lowest = search.min_cost(SPACE, cost)
    with pytest.raises(ValueError, match="below the smallest achievable cost"):
        search.evolutionary_search(SPACE, cost, score, 0.5 * lowest)
    with pytest.raises(ValueError, match="below the smallest achievable cost"):
        search.best_uniform(SPACE, cost, score, 0.5 * lowest)
    with pytest.raises(ValueError, match="budget must be a number > 0"):
        search.evolutionary_search(SPACE, cost, score, -1.0)


def test_bad_arguments():
    cost, score = toy_cost([1.0, 1.0, 1.0]), toy_score([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="population must be"):
        search.evolutionary_search(SPACE, cost, score, 10.0, population=1)
    with pytest.raises(ValueError, match="mutation must be"):
        search.evolutionary_search(SPACE, cost, score, 10.0, mutation=2.0)
    with pytest.raises(TypeError, match="score must be"):
        search.evolutionary_search(SPACE, cost, None, 10.0)
    with pytest.raises(TypeError, match="space must be"):
        search.evolutionary_search("fc1", cost, score, 10.0)
    with pytest.raises(ValueError, match="sparsities must be"):
        search.SearchSpace(LAYERS, sparsities=(0.5, 1.0))
    with pytest.raises(ValueError, match="bits must be"):
        search.SearchSpace(LAYERS, bits=(0, 4))
    with pytest.raises(ValueError, match="distinct layer names"):
        search.SearchSpace(("a", "a"))
    with pytest.raises(ValueError, match="same non-zero length"):
        search.Policy(("a",), (0.5, 0.5), (4,))
    with pytest.raises(ValueError, match="start policies"):
        search.evolutionary_search(SPACE, cost, score, 10.0, start=[search.SearchSpace(("x",)).uniform(0, 8)])


def test_space_size_and_grid_order():
    space = search.SearchSpace(("x", "y"), sparsities=(0.9, 0.0, 0.5), bits=(2, 8))
    assert space.sparsities == (0.0, 0.5, 0.9) and space.bits == (8, 2)
    assert space.size() == 36
    assert space.most_compressed() == search.Policy(("x", "y"), (0.9, 0.9), (2, 2))


@pytest.mark.slow
def test_apply_policy_on_lenet300():
    base = train.baseline("lenet300", progress=False)
    pol = search.Policy(("fc1", "fc2", "fc3"), (0.9, 0.5, 0.0), (2, 4, 8))
    out = search.apply_policy(base, pol)
    sp = sparsity.layer_sparsities(out)
    # quantization may round further small weights to zero (never revives a pruned one)
    assert sp["fc1"] >= 0.9 - 1e-6 and sp["fc2"] >= 0.5 - 1e-6 and sp["fc3"] < 0.5
    for name, bits in pol.bit_map.items():
        w = getattr(out, name).weight.detach()
        for row in w[:5]:  # per output channel: at most 2^b distinct levels, zero included
            assert len(torch.unique(row)) <= 2 ** bits
    assert torch.equal(base.fc1.weight, train.baseline("lenet300", progress=False).fc1.weight)  # original untouched
    with pytest.raises(ValueError, match="lacks"):
        search.apply_policy(base, search.Policy(("conv1",), (0.5,), (4,)))


@pytest.mark.slow
def test_accelerator_cost_is_monotone_in_sparsity_and_bits():
    from companion import metrics
    table = metrics.module_layer_table(train.baseline("lenet300", progress=False))
    cost = search.accelerator_cost(search.book_architecture(), table)
    sp = search.DEFAULT_SPACE
    assert cost(sp.uniform(0.9, 4)) < cost(sp.uniform(0.5, 4)) < cost(sp.uniform(0.5, 8))
    lat = search.accelerator_cost(search.book_architecture(), table, metric="latency_cycles")
    assert lat(sp.uniform(0.9, 8)) <= lat(sp.uniform(0.0, 8))
    with pytest.raises(ValueError, match="metric must be"):
        search.accelerator_cost(search.book_architecture(), table, metric="area")


def test_policy_spec_round_trip():
    p = search.Policy(("fc1", "fc2"), (0.9, 0.5), (3, 8))
    assert search.policy_from_spec(p.as_spec()) == p


@pytest.mark.slow
def test_chapter_exercises_accept_the_solutions(capsys):
    from companion import robustness
    exercises.check("ch8.space_size", 35 ** 4)
    exercises.check("ch8.fgsm_linf", 0.1)
    exercises.check("ch8.linear_fgsm", robustness.linear_fgsm_closed_form)
    assert capsys.readouterr().out.count("correct") == 3
    with pytest.raises(exercises.ExerciseError):
        exercises.check("ch8.space_size", 35 * 4)
    with pytest.raises(exercises.ExerciseError):
        exercises.check("ch8.linear_fgsm", lambda W, b, x, y, eps: x)
    exercises.check("ch8.beat_uniform", None)
    assert "not answered yet" in capsys.readouterr().out
    with pytest.raises(exercises.ExerciseError, match="over budget"):
        exercises.check("ch8.beat_uniform", search.DEFAULT_SPACE.uniform(0.0, 8))


@pytest.mark.slow
def test_beat_uniform_is_judged_against_the_protected_reference(capsys):
    space, cost, score, budget = search.book_problem()
    fs, fb = search.protected_layers(space, cost, budget, weights=search.book_layer_weights())
    assert fs == {"fc3": 0.0} and fb == {"fc3": 8}  # the small classifier, not fc1 (88 % of the weights)
    fair = search.best_uniform(space, cost, score, budget, fixed_sparsity=fs, fixed_bits=fb)
    plain = search.best_uniform(space, cost, score, budget)
    assert fair.score > plain.score  # protecting the ends is the stronger reference
    # within budget and above the plain uniform score, but not above the fair one: refused
    between = [p for p, c, sc in fair.population[1:] if plain.score < sc < fair.score and c <= budget]
    assert between, "the book problem should hold a policy between the two references"
    with pytest.raises(exercises.ExerciseError, match="small end layers protected"):
        exercises.check("ch8.beat_uniform", between[0])
    exercises.check("ch8.beat_uniform", search.Policy(("fc1", "fc2", "fc3"), (0.95, 0.5, 0.0), (4, 4, 8)))
    assert "correct" in capsys.readouterr().out


@pytest.mark.slow
def test_policy_size_bits_counts_csr_overhead_and_picks_the_cheaper_format():
    from companion import metrics
    base = train.baseline("lenet300", progress=False)
    dense_pol = search.DEFAULT_SPACE.uniform(0.0, 32)
    assert search.policy_size_bits(base, dense_pol) == metrics.model_size_bits(base)  # dense beats CSR when dense
    assert search.policy_size_bits(base, dense_pol, fmt="csr") > metrics.model_size_bits(base)
    pol = search.DEFAULT_SPACE.uniform(0.9, 4)
    small = search.apply_policy(base, pol)
    size = search.policy_size_bits(small, pol)
    nz = sum(int((m.weight != 0).sum()) for m in sparsity.prunable_layers(small).values())
    assert size > nz * 4  # values plus index overhead
    with pytest.raises(ValueError, match="fmt must be"):
        search.policy_size_bits(small, pol, fmt="coo")


# --- the uniform reference protects the first and last layers (AMC / HAQ) -------------------------

def test_best_uniform_keeps_fixed_layers_and_still_meets_the_budget():
    cost, score = toy_cost([50.0, 10.0, 1.0]), toy_score([1.0, 1.0, 5.0])
    budget = 0.3 * cost(SPACE.uniform(0.0, 8))
    res = search.best_uniform(SPACE, cost, score, budget, fixed_sparsity={"c": 0.0}, fixed_bits={"a": 8, "c": 8})
    assert res.policy.sparsities["c"] == 0.0 and res.policy.bit_map["a"] == 8 and res.policy.bit_map["c"] == 8
    assert res.cost <= budget
    assert res.policy.sparsity[0] == res.policy.sparsity[1]  # the others share one setting
    with pytest.raises(ValueError, match="lacks"):
        search.best_uniform(SPACE, cost, score, budget, fixed_bits={"z": 8})
    with pytest.raises(ValueError, match="grid"):
        search.best_uniform(SPACE, cost, score, budget, fixed_bits={"a": 5})
    with pytest.raises(ValueError, match="no uniform policy"):
        search.best_uniform(SPACE, cost, score, min(search.min_cost(SPACE, cost) * 1.01, budget),
                            fixed_sparsity={"a": 0.0}, fixed_bits={"a": 8})


def test_protected_layers_keeps_first_and_last_dense_when_the_budget_allows():
    cost = toy_cost([1.0, 50.0, 1.0])           # small first and last layers, as in a CNN
    budget = 0.3 * cost(SPACE.uniform(0.0, 8))
    fs, fb = search.protected_layers(SPACE, cost, budget)
    assert fs == {"a": 0.0, "c": 0.0} and fb == {"a": 8, "c": 8}


def test_protected_layers_protects_only_small_end_layers_when_weights_are_given():
    cost = toy_cost([100.0, 5.0, 1.0])
    budget = 0.2 * cost(SPACE.uniform(0.0, 8))
    weights = {"a": 235_200, "b": 30_000, "c": 1_000}  # LeNet-300-100's shares
    fs, fb = search.protected_layers(SPACE, cost, budget, weights=weights)
    assert fs == {"c": 0.0} and fb == {"c": 8}          # a holds 88 %: not protected at all
    fs, fb = search.protected_layers(SPACE, cost, budget, weights=weights, max_share=0.9)
    assert fb == {"a": 8, "c": 8}                       # with a loose share the old rule returns
    with pytest.raises(ValueError, match="lacks the layer"):
        search.protected_layers(SPACE, cost, budget, weights={"a": 1})
    with pytest.raises(ValueError, match="max_share"):
        search.protected_layers(SPACE, cost, budget, weights=weights, max_share=0.0)


def test_protected_layers_releases_the_sparsity_of_a_first_layer_that_holds_the_bytes():
    cost = toy_cost([100.0, 5.0, 1.0])          # LeNet-300-100: the first layer holds most weights
    budget = 0.2 * cost(SPACE.uniform(0.0, 8))
    fs, fb = search.protected_layers(SPACE, cost, budget)
    assert fs == {"c": 0.0} and fb == {"a": 8, "c": 8}
    res = search.best_uniform(SPACE, cost, lambda p: 0.0, budget, fixed_sparsity=fs, fixed_bits=fb)
    assert res.cost <= budget
    with pytest.raises(ValueError, match="grid"):
        search.protected_layers(SPACE, cost, budget, bits=5)


@pytest.mark.slow
def test_finetune_policy_seed_selects_the_baseline_unless_baseline_seed_is_given(monkeypatch):
    seen = []
    base = train.baseline("lenet300", progress=False)

    def fake_cached_model(spec, make, fit=None, **kw):
        m = make()
        seen.append(spec["seed"])
        return m

    monkeypatch.setattr(train, "baseline", lambda name, seed=0, **kw: seen.append(("base", seed)) or base)
    monkeypatch.setattr(train, "cached_model", fake_cached_model)
    pol = search.DEFAULT_SPACE.uniform(0.5, 8)
    search.finetune_policy("lenet300", pol, seed=2)
    search.finetune_policy("lenet300", pol, seed=2, baseline_seed=0)
    assert seen == [("base", 2), 2, ("base", 0), 2]
    with pytest.raises(ValueError, match="baseline_seed"):
        search.finetune_policy("lenet300", pol, baseline_seed=-1)
