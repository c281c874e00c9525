"""The shipped baselines (data/baselines) and train.prefetch (issue "A fresh machine": cold start)."""
import os
import warnings

import pytest
import torch

from companion import compact, data, models, train


@pytest.mark.parametrize("name", sorted(train.BASELINES))
def test_shipped_baselines_are_current_and_checksummed(name):
    """Fails when the recipe, training loop, models or data changed since data/make_baselines.py ran."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", train.CacheWarning)
        state = train.shipped_baseline(name)
    assert state is not None, f"no shipped baseline {name}: run `python data/make_baselines.py`"
    data.verify(f"baselines/{name}.pt")
    model = train.baseline(name, progress=False)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    assert train.key_of(model) == train.baseline_key(name)


def test_shipped_baseline_accuracy_is_what_its_provenance_says():
    prov = train._shipped_provenance()
    for name in train.BASELINES:
        assert abs(train.evaluate(train.baseline(name, progress=False)) - prov[name]["test_accuracy_pct"]) <= 0.2


def test_a_stale_shipped_baseline_is_not_used_and_says_so(monkeypatch, tmp_cache):
    monkeypatch.setattr(train, "shipped_fingerprint", lambda name: "made-by-other-code")
    monkeypatch.setattr(train, "_STALE_WARNED", set())
    with pytest.warns(train.CacheWarning, match="other code"):
        assert train.shipped_baseline("lenet300") is None


def test_a_damaged_shipped_baseline_is_not_used_and_says_so(monkeypatch):
    def broken(name):
        raise data.DataFileError(f"data file {name} is corrupted")
    monkeypatch.setattr(data, "verify", broken)
    with pytest.warns(train.CacheWarning, match="cannot be used"):
        assert train.shipped_baseline("lenet5") is None


def test_other_seeds_and_seed_offsets_never_use_the_shipped_file(monkeypatch, tmp_cache):
    calls = []
    monkeypatch.setattr(train, "shipped_baseline", lambda name: calls.append(name))
    monkeypatch.setenv("COMPANION_SEED", "1")
    key = train.baseline_key("lenet300")
    monkeypatch.delenv("COMPANION_SEED")
    assert key != train.baseline_key("lenet300")  # the seed offset is part of every key
    assert not calls


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
