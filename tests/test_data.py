import gzip
import pickle
import shutil
import struct

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from companion import data


def test_splits_shapes_and_balance():
    sizes = {"train": 3500, "val": 500, "test": 1000}
    seen = []
    for split, n in sizes.items():
        x, y = data.load_mnist(split)
        assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32
        assert y.shape == (n,) and y.dtype == torch.int64
        assert np.bincount(y.numpy(), minlength=10).tolist() == [n // 10] * 10
        seen.append(x)
    # splits are disjoint: no test image appears in train
    train = {bytes(v.numpy().tobytes()) for v in seen[0]}
    assert not any(bytes(v.numpy().tobytes()) in train for v in seen[2][:200])


def test_normalisation():
    x, _ = data.load_mnist("train")
    assert abs(float(x.mean())) < 0.2 and 0.8 < float(x.std()) < 1.2
    assert torch.isclose(x.min(), torch.tensor((0 - data.MNIST_MEAN) / data.MNIST_STD))


def test_deterministic():
    a, _ = data.load_mnist("test")
    data._load_split.cache_clear()
    data._split_indices.cache_clear()
    b, _ = data.load_mnist("test")
    assert torch.equal(a, b)


@pytest.mark.parametrize("bad", ["training", "TEST", ""])
def test_bad_split_value(bad):
    with pytest.raises(ValueError, match="allowed"):
        data.load_mnist(bad)


def test_bad_split_type():
    with pytest.raises(TypeError):
        data.load_mnist(3)


def _with_data_dir(monkeypatch, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(data.DATA_DIR, copy)
    monkeypatch.setattr(data, "DATA_DIR", copy)
    data._manifest.cache_clear()
    data.mnist_arrays.cache_clear()
    data._split_indices.cache_clear()
    data._load_split.cache_clear()
    return copy


def test_missing_file_names_it(monkeypatch, tmp_path):
    copy = _with_data_dir(monkeypatch, tmp_path)
    (copy / "mnist_5k.npz").unlink()
    with pytest.raises(data.DataFileError, match="mnist_5k.npz.*missing.*git checkout"):
        data.load_mnist("train")
    data.mnist_arrays.cache_clear()


def test_corrupted_file_is_rejected(monkeypatch, tmp_path):
    copy = _with_data_dir(monkeypatch, tmp_path)
    raw = bytearray((copy / "mnist_5k.npz").read_bytes())
    raw[1000] ^= 0xFF
    (copy / "mnist_5k.npz").write_bytes(bytes(raw))
    with pytest.raises(data.DataFileError, match="corrupted"):
        data.load_mnist("train")
    data.mnist_arrays.cache_clear()


def test_every_manifest_entry_verifies():
    for name in data._manifest():
        assert data.verify(name).is_file()


def _write_idx(path, arr, gz=False):
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + b"".join(struct.pack(">I", s) for s in arr.shape)
    raw = header + arr.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(raw)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=3), st.booleans())
def test_idx_round_trip(tmp_path_factory, shape, gz):
    arr = np.random.default_rng(0).integers(0, 256, size=shape).astype(np.uint8)
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if gz else "a.idx")
    _write_idx(path, arr, gz)
    assert np.array_equal(data.read_idx(path), arr)


def test_idx_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="magic"):
        data.read_idx(tmp_path / "bad")
    arr = np.zeros((4, 3), np.uint8)
    _write_idx(tmp_path / "short", arr)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-2])
    with pytest.raises(ValueError, match="truncated"):
        data.read_idx(tmp_path / "short")
    with pytest.raises(FileNotFoundError):
        data.read_idx(tmp_path / "nope")


def test_full_mnist_reader(tmp_path):
    imgs = np.random.default_rng(1).integers(0, 256, size=(6, 28, 28)).astype(np.uint8)
    labels = np.arange(6, dtype=np.uint8)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", imgs, gz=True)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    x, y = data.load_mnist_idx(tmp_path, "test")
    assert x.shape == (6, 1, 28, 28) and y.tolist() == list(range(6))
    with pytest.raises(FileNotFoundError, match="train-images"):
        data.load_mnist_idx(tmp_path, "train")
    with pytest.raises(ValueError):
        data.load_mnist_idx(tmp_path, "val")


def test_cifar_reader(tmp_path):
    rng = np.random.default_rng(2)
    batch = {b"data": rng.integers(0, 256, size=(4, 3072)).astype(np.uint8), b"labels": [0, 1, 2, 3]}
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump(batch, f)
    x, y = data.load_cifar10(tmp_path, "test")
    assert x.shape == (4, 3, 32, 32) and float(x.max()) <= 1.0 and y.tolist() == [0, 1, 2, 3]
    with pytest.raises(FileNotFoundError):
        data.load_cifar10(tmp_path, "train")
