import os

import pytest
import torch

from companion import models, train


def test_baseline_floors():
    """The issue's floors on the embedded test split (trains once if the cache is cold)."""
    assert train.evaluate(train.baseline("lenet300", progress=False)) >= 94.0
    assert train.evaluate(train.baseline("lenet5", progress=False)) >= 96.5
    assert train.evaluate(train.baseline("cnn", progress=False)) >= 96.5


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
