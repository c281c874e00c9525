import copy

import pytest
import torch

from companion import models, train


@pytest.mark.slow
def test_baseline_floors():
    """The issue's floors on the embedded test split (trains once if the cache is cold)."""
    assert train.evaluate(train.baseline("lenet300", progress=False)) >= 94.0
    assert train.evaluate(train.baseline("lenet5", progress=False)) >= 96.5
    assert train.evaluate(train.baseline("cnn", progress=False)) >= 96.5


@pytest.mark.slow
def test_baseline_is_a_fresh_copy():
    a = train.baseline("lenet300", progress=False)
    with torch.no_grad():
        a.fc1.weight.zero_()
    b = train.baseline("lenet300", progress=False)
    assert b.fc1.weight.abs().sum() > 0


def test_baseline_bad_name():
    with pytest.raises(ValueError, match="allowed"):
        train.baseline("lenet")
    with pytest.raises(TypeError):
        train.baseline(5)


def test_fit_is_deterministic_and_cached(tmp_cache):
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    def make():
        return models.build("lenet300", seed=3)
    def fit(m):
        train.fit(m, epochs=2, lr=1e-2, train_data=(x, y), progress=False, seed=5)
    a = train.cached_model({"t": 1}, make, fit, name="t")
    files = list(tmp_cache.glob("t-*.pt"))
    assert len(files) == 1 and not list(tmp_cache.glob("*.tmp"))
    b = make()
    fit(b)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    calls = []
    c = train.cached_model({"t": 1}, make, lambda m: calls.append(1), name="t")
    assert not calls and torch.equal(c.fc1.weight, a.fc1.weight)


def test_cached_result_and_corruption(tmp_cache):
    calls = []
    def compute():
        calls.append(1)
        return {"acc": [1.0, 2.0], "t": torch.arange(3)}
    r1 = train.cached_result({"k": 1}, compute, name="r")
    r2 = train.cached_result({"k": 1}, compute, name="r")
    assert len(calls) == 1 and r1["acc"] == r2["acc"]
    path = next(tmp_cache.glob("r-*.pt"))
    path.write_bytes(b"garbage")
    with pytest.warns(train.CacheWarning, match="corrupted"):
        train.cached_result({"k": 1}, compute, name="r")
    assert len(calls) == 2


def test_save_atomic_leaves_nothing_half_written(tmp_path):
    class Boom:
        def __reduce__(self):
            raise RuntimeError("boom")
    with pytest.raises(RuntimeError):
        train.save_atomic({"x": Boom()}, tmp_path / "f.pt")
    assert list(tmp_path.iterdir()) == []


def test_cache_dir_env(tmp_cache):
    assert train.cache_dir() == tmp_cache and tmp_cache.is_dir()


def test_evaluate_counts_exactly():
    m = models.build("lenet300")
    x = torch.zeros(4, 1, 28, 28)
    pred = m(x).argmax(1)
    y = torch.stack([pred[0], pred[1], (pred[2] + 1) % 10, (pred[3] + 1) % 10])
    assert train.evaluate(m, (x, y)) == 50.0


def test_bad_inputs():
    m = models.build("lenet300")
    with pytest.raises(ValueError):
        train.fit(m, epochs=-1)
    with pytest.raises(ValueError):
        train.fit(m, lr=0)
    with pytest.raises(ValueError):
        train.fit(m, epochs=1, optimizer="rmsprop", progress=False)
    with pytest.raises(TypeError):
        train.fit("model")
    with pytest.raises(TypeError):
        train.evaluate(m, 123)
    with pytest.raises(ValueError):
        train.evaluate(m, "holdout")
    with pytest.raises(ValueError):
        train.TrainConfig("lenet300", epochs=0)


def test_shift_augment_keeps_shape_and_content():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 1, 28, 28)
    out = train.shift_augment(x, 2, g)
    assert out.shape == x.shape
    assert torch.equal(train.shift_augment(x, 0, g), x)


# --- issue 13: a cache that never returns something silently wrong ------------------------------

def _tiny_model_cache(calls):
    x, y = torch.randn(32, 1, 28, 28, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 10

    def make():
        return models.build("lenet300", seed=3)

    def fit(m):
        calls.append(1)
        train.fit(m, epochs=1, lr=1e-2, train_data=(x, y), progress=False, seed=5)
    return make, fit


def _flip_one_bit_in_tensor_data(path):
    """Flip a bit inside a stored tensor's bytes (the zip's CRCs are not checked by torch.load)."""
    import zipfile
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
        offset = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw = bytearray(path.read_bytes())
    raw[offset + info.file_size // 2] ^= 0x10
    path.write_bytes(bytes(raw))


def test_flipped_bit_in_tensor_data_is_a_visible_miss(tmp_cache):
    calls = []
    make, fit = _tiny_model_cache(calls)
    a = train.cached_model({"t": "bitflip"}, make, fit, name="t")
    path = next(tmp_cache.glob("t-*.pt"))
    _flip_one_bit_in_tensor_data(path)
    # torch itself would load the damaged file without complaint:
    torch.load(path, weights_only=True)
    with pytest.warns(train.CacheWarning, match="corrupted"):
        b = train.cached_model({"t": "bitflip"}, make, fit, name="t")
    assert len(calls) == 2
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    # and the rewritten entry is trusted again
    train.cached_model({"t": "bitflip"}, make, fit, name="t")
    assert len(calls) == 2


def test_entry_without_checksum_record_is_a_visible_miss(tmp_cache):
    calls = []
    r = train.cached_result({"k": "rec"}, lambda: calls.append(1) or 7, name="r")
    next(tmp_cache.glob("r-*.json")).unlink()
    with pytest.warns(train.CacheWarning, match="no checksum record"):
        assert train.cached_result({"k": "rec"}, lambda: calls.append(1) or 7, name="r") == r
    assert len(calls) == 2


def test_state_dict_that_does_not_fit_is_retrained_with_warning(tmp_cache):
    calls = []
    make, fit = _tiny_model_cache(calls)
    train.cached_model({"t": "fit"}, make, fit, name="t")
    path = next(tmp_cache.glob("t-*.pt"))
    train.save_atomic({"nonsense": torch.zeros(2)}, path, key=path.stem.rsplit("-", 1)[1])  # valid checksum, wrong content
    with pytest.warns(train.CacheWarning, match="does not fit"):
        train.cached_model({"t": "fit"}, make, fit, name="t")
    assert len(calls) == 2


def test_stale_tmp_files_are_cleaned_fresh_ones_kept(tmp_cache):
    import os
    import time
    tmp_cache.mkdir(parents=True, exist_ok=True)
    stale = tmp_cache / f".companion-partial-x-{'a' * 24}.pt123abc.tmp"
    fresh = tmp_cache / f".companion-partial-y-{'b' * 24}.json456def.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    old = time.time() - 2 * train.STALE_TMP_S
    os.utime(stale, (old, old))
    train.cache_dir()
    assert not stale.exists() and fresh.exists()


@pytest.mark.parametrize("bad, err", [
    ({"w": torch.zeros(3)}, TypeError), ({"s": {1, 2}}, TypeError), ({1: "a"}, TypeError),
    ({"x": float("nan")}, ValueError), ({"x": float("inf")}, ValueError), ({"x": object()}, TypeError),
])
def test_spec_must_be_plain_json(bad, err):
    with pytest.raises(err, match="spec"):
        train.cache_key(bad)


def test_large_tensors_no_longer_collide():
    """json.dumps(default=str) printed both tensors as the same abbreviated text."""
    a = torch.zeros(2000)
    b = a.clone()
    b[1000] = 1.0
    assert str(a) == str(b)  # why the old key collided
    assert train.cache_key({"w": train.tensor_digest(a)}) != train.cache_key({"w": train.tensor_digest(b)})


def test_key_is_canonical():
    assert train.cache_key({"a": 1, "b": [1, 2]}) == train.cache_key({"b": (1, 2), "a": 1})
    assert train.cache_key({"a": 1}) != train.cache_key({"a": 1.5})


def test_keys_hold_parents_and_code(tmp_cache):
    def recipe_a():
        return 1

    def recipe_b():
        return 2
    base = train.cache_key({"s": 1})
    assert train.cache_key({"s": 1}, parents=[base]) != base
    assert train.cache_key({"s": 1}, code=[recipe_a]) != train.cache_key({"s": 1}, code=[recipe_b])
    with pytest.raises(TypeError, match="parents"):
        train.cache_key({"s": 1}, parents="abc")


def test_derived_model_is_retrained_when_its_parent_changes(tmp_cache):
    """baseline → fine-tuned: a changed parent gives the child a new key (so it is retrained)."""
    calls = []
    make, fit = _tiny_model_cache(calls)
    parent1 = train.cached_model({"parent": 1}, make, fit, name="p")
    parent2 = train.cached_model({"parent": 2}, make, fit, name="p")
    child_calls = []
    c1 = train.cached_model({"child": 1}, lambda: copy.deepcopy(parent1), lambda m: child_calls.append(1), name="c")
    c1_again = train.cached_model({"child": 1}, lambda: copy.deepcopy(parent1), lambda m: child_calls.append(1), name="c")
    c2 = train.cached_model({"child": 1}, lambda: copy.deepcopy(parent2), lambda m: child_calls.append(1), name="c")
    assert len(child_calls) == 2
    assert train.key_of(c1) == train.key_of(c1_again) != train.key_of(c2)
    with pytest.raises(ValueError, match="did not come from the cache"):
        train.key_of(models.build("lenet300"))


def test_baseline_seeds_and_keys():
    assert train.baseline_config("lenet5").seed == 0
    assert train.baseline_config("lenet5", 2).seed == 2
    assert train.baseline_key("lenet5") != train.baseline_key("lenet5", seed=1)
    with pytest.raises(ValueError, match="seed"):
        train.baseline_config("lenet5", -1)


def test_device_is_cpu_unless_asked(monkeypatch):
    monkeypatch.delenv("COMPANION_DEVICE", raising=False)
    assert train.device().type == "cpu"
    monkeypatch.setenv("COMPANION_DEVICE", "nonsense")
    with pytest.raises(ValueError, match="COMPANION_DEVICE"):
        train.device()


def test_pin_threads(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("COMPANION_THREADS", "1")
        assert train.pin_threads() == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("COMPANION_THREADS", "zero")
        with pytest.raises(ValueError, match="COMPANION_THREADS"):
            train.pin_threads()
    finally:
        torch.set_num_threads(before)


def test_key_holds_the_thread_count():
    """A model trained with 1 thread differs from one trained with 2: they must not share an entry."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        k1 = train.cache_key({"s": 1})
        torch.set_num_threads(2)
        k2 = train.cache_key({"s": 1})
    finally:
        torch.set_num_threads(before)
    assert k1 != k2


def test_cosine_schedule_anneals_the_learning_rate_to_zero_and_constant_keeps_it(monkeypatch):
    """fit(lr_schedule="cosine"): step t+1 runs at lr · ½(1 + cos(π t / T)) (SGDR without restarts)."""
    import math
    import torch
    from companion import train
    x = torch.randn(40, 1, 28, 28)
    y = torch.randint(0, 10, (40,))
    used = []
    step = torch.optim.Adam.step

    def recording_step(self, *a, **k):
        used.append(self.param_groups[0]["lr"])
        return step(self, *a, **k)
    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    train.fit(model, epochs=2, lr=0.1, batch_size=16, train_data=(x, y), progress=False, lr_schedule="cosine")
    total = 2 * math.ceil(40 / 16)
    assert len(used) == total
    assert used == pytest.approx([0.1 * 0.5 * (1 + math.cos(math.pi * t / total)) for t in range(total)], abs=1e-12)
    assert used[0] == 0.1 and used[-1] < 0.1 * 0.1  # from the full rate down to a tenth of it and less
    used.clear()
    train.fit(model, epochs=1, lr=0.1, batch_size=16, train_data=(x, y), progress=False)
    assert used == [0.1] * math.ceil(40 / 16)  # the default keeps the rate
    with pytest.raises(ValueError, match="lr_schedule"):
        train.fit(model, epochs=1, train_data=(x, y), progress=False, lr_schedule="linear")
