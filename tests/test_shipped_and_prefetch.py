"""The shipped baselines (data/baselines) and train.prefetch (issue "A fresh machine": cold start)."""
import os
import warnings

import pytest
import torch

from companion import compact, data, models, train


@pytest.mark.parametrize("seed", train.SHIPPED_SEEDS)
@pytest.mark.parametrize("name", sorted(train.BASELINES))
def test_shipped_baselines_are_current_and_checksummed(name, seed):
    """Fails when the recipe, training loop, models or data changed since data/make_baselines.py ran."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", train.CacheWarning)
        state = train.shipped_baseline(name, seed)
    assert state is not None, f"no shipped baseline {name} seed {seed}: run `python data/make_baselines.py`"
    data.verify(f"baselines/{train.shipped_name(name, seed)}.pt")
    model = train.baseline(name, seed=seed, progress=False)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    assert train.key_of(model) == train.baseline_key(name, seed=seed)


def test_shipped_seeds_are_different_models():
    a, b = train.shipped_baseline("lenet300", 0), train.shipped_baseline("lenet300", 1)
    assert not torch.equal(a["fc1.weight"] if "fc1.weight" in a else next(iter(a.values())),
                           b["fc1.weight"] if "fc1.weight" in b else next(iter(b.values())))


def test_shipped_baseline_accuracy_is_what_its_provenance_says():
    prov = train._shipped_provenance()
    for name in train.BASELINES:
        for seed in train.SHIPPED_SEEDS:
            acc = train.evaluate(train.baseline(name, seed=seed, progress=False))
            assert abs(acc - prov[train.shipped_name(name, seed)]["test_accuracy_pct"]) <= 0.2


def test_a_stale_shipped_baseline_is_not_used_and_says_so(monkeypatch, tmp_cache):
    monkeypatch.setattr(train, "shipped_fingerprint", lambda name, seed=0: "made-by-other-code")
    monkeypatch.setattr(train, "_STALE_WARNED", set())
    with pytest.warns(train.CacheWarning, match="other code"):
        assert train.shipped_baseline("lenet300") is None


def test_a_damaged_shipped_baseline_is_not_used_and_says_so(monkeypatch):
    def broken(name):
        raise data.DataFileError(f"data file {name} is corrupted")
    monkeypatch.setattr(data, "verify", broken)
    with pytest.warns(train.CacheWarning, match="cannot be used"):
        assert train.shipped_baseline("lenet5") is None


def test_unshipped_seeds_and_seed_offsets_never_use_the_shipped_file(monkeypatch, tmp_cache):
    shipped, trained = [], []
    monkeypatch.setattr(train, "shipped_baseline", lambda name, seed=0: shipped.append((name, seed)))
    monkeypatch.setattr(train, "cached_model", lambda spec, *a, **k: trained.append(spec["baseline"]["seed"]))
    monkeypatch.setenv("COMPANION_SEED", "1")
    key = train.baseline_key("lenet300")
    train.baseline("lenet300")
    monkeypatch.delenv("COMPANION_SEED")
    assert key != train.baseline_key("lenet300")  # the seed offset is part of every key
    assert not shipped and trained == [0]
    train.baseline("lenet300", seed=max(train.SHIPPED_SEEDS) + 1)  # a seed that is not shipped trains
    assert not shipped and trained == [0, max(train.SHIPPED_SEEDS) + 1]
    train.baseline("lenet300", seed=1)  # a shipped seed asks for its file (None here: then it trains)
    assert shipped == [("lenet300", 1)]


def test_seed_offset_is_validated(monkeypatch):
    monkeypatch.setenv("COMPANION_SEED", "-1")
    with pytest.raises(ValueError, match="COMPANION_SEED"):
        models.build("lenet300")


# --- prefetch ------------------------------------------------------------------------------------

def test_prefetch_trains_side_by_side_bit_for_bit_and_warm_starts_nothing(tmp_cache):
    cfgs = compact.MNIST_VARIANTS[:2]
    assert compact.prefetch_compact(cfgs, seeds=(0,), epochs=1) == 2  # two worker processes
    assert compact.prefetch_compact(cfgs, seeds=(0,), epochs=1) == 0  # all hits: no process
    from_workers = [compact.train_compact(c, epochs=1, progress=False) for c in cfgs]
    for p in tmp_cache.glob("compact-*"):
        p.unlink()
    in_process = [compact.train_compact(c, epochs=1, progress=False) for c in cfgs]
    for a, b in zip(from_workers, in_process):
        assert train.key_of(a) == train.key_of(b)
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_prefetch_bad_arguments_fail_before_any_worker_starts(tmp_cache):
    with pytest.raises(ValueError, match="epochs"):
        train.prefetch(compact.train_compact, [dict(config=c, epochs=-1) for c in compact.MNIST_VARIANTS[:2]],
                       workers=2)


def test_a_failing_worker_is_reported_with_its_error():
    with pytest.raises(RuntimeError, match="worker failed(.|\n)*pickle"):
        train._run_jobs([b"not a pickled job", b"nor this"], 2)


def test_prefetch_refuses_what_cannot_be_sent():
    with pytest.raises(TypeError, match="module-level"):
        train.prefetch(lambda: None, [{}])
    with pytest.raises(ValueError, match="threads_per_call"):
        train.prefetch(compact.train_compact, [], threads_per_call=0)


def test_a_probe_never_computes_a_cached_result(tmp_cache):
    from companion import cache
    ran = []
    token = cache.PROBE.set(True)
    try:
        with pytest.raises(cache.WouldCompute):
            train.cached_result({"probe": 1}, lambda: ran.append(1) or 7, name="probe")
    finally:
        cache.PROBE.reset(token)
    assert not ran
    assert train.cached_result({"probe": 1}, lambda: 7, name="probe") == 7
    token = cache.PROBE.set(True)
    try:  # a hit is returned under the probe
        assert train.cached_result({"probe": 1}, lambda: ran.append(1) or 8, name="probe") == 7
    finally:
        cache.PROBE.reset(token)
    assert not ran


def test_prefetch_runs_a_search_beside_the_trainings_and_each_job_once(tmp_cache):
    search = dict(n_candidates=2, mac_budget=None, proxy_epochs=1, strategy="random", seed=0)
    cfg = compact.MNIST_VARIANTS[0]
    assert compact.prefetch_compact([cfg, cfg], seeds=(0,), search=search, epochs=1) == 2  # the repeat runs once
    assert compact.prefetch_compact([cfg], seeds=(0,), search=search, epochs=1) == 0
    found = compact.run_search(**search, progress=False)  # a hit: the workers' result
    assert len(found) == 2


def test_prefetch_quantized_checks_its_calls():
    from companion import quantization as Q
    with pytest.raises(TypeError, match="unknown argument"):
        Q.prefetch_quantized([dict(model_name="lenet5", bitz=4)])
    with pytest.raises(TypeError, match="model_name"):
        Q.prefetch_quantized([dict(bits=4)])


def test_workers_run_many_jobs_each_and_a_recipe_that_prints_does_not_break_them():
    """Each worker process is kept for several jobs (starting Python with torch takes seconds);
    what a recipe prints goes to stderr, never into the workers' protocol pipe."""
    import pickle
    jobs = [pickle.dumps((1, "builtins", "print", {"end": f"noise {i}\n"})) for i in range(7)]
    train._run_jobs(jobs, 2)  # 7 jobs on 2 workers, each printing: no error
    with pytest.raises(RuntimeError, match="job 3: exit 1(.|\n)*truediv expected 2 arguments"):
        train._run_jobs(jobs[:3] + [pickle.dumps((1, "operator", "truediv", {}))] + jobs[3:], 1)
