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


# --- hostile and malformed files (issue 13): the readers must refuse them with a clear error -----

def _cifar_batch(n=4, labels=None, protocol=pickle.HIGHEST_PROTOCOL, **extra):
    rng = np.random.default_rng(3)
    batch = {b"batch_label": b"testing batch 1 of 1", b"data": rng.integers(0, 256, size=(n, 3072)).astype(np.uint8),
             b"labels": list(range(n)) if labels is None else labels,
             b"filenames": [f"img_{i}.png".encode() for i in range(n)], **extra}
    return pickle.dumps(batch, protocol=protocol)


@pytest.mark.parametrize("protocol", [3, 4, 5])  # real batches: Python 2 protocol 2 (no _codecs)
def test_cifar_reader_accepts_real_batch_layout_every_protocol(tmp_path, protocol):
    (tmp_path / "test_batch").write_bytes(_cifar_batch(6, protocol=protocol))
    x, y = data.load_cifar10(tmp_path, "test")
    assert x.shape == (6, 3, 32, 32) and x.dtype == torch.float32 and y.tolist() == list(range(6))


class _Evil:
    """Unpickling this calls os.system (what an unrestricted pickle.load would do)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def test_cifar_reader_refuses_code_in_pickle(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": _Evil(marker)})
    (tmp_path / "test_batch").write_bytes(payload)
    with pytest.raises(ValueError, match=r"not a CIFAR-10 python batch.*refusing to load global (posix|os|nt)\.system"):
        data.load_cifar10(tmp_path, "test")
    assert not marker.exists()  # nothing ran


@pytest.mark.parametrize("module,name", [("builtins", "eval"), ("subprocess", "Popen"), ("numpy", "load"),
                                         ("numpy.lib.npyio", "load"), ("builtins", "getattr")])
def test_cifar_unpickler_allows_only_array_reconstruction(module, name):
    import io
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        data._CifarUnpickler(io.BytesIO(b"")).find_class(module, name)


@pytest.mark.parametrize("batch,match", [
    ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2]}, "4 images but 3 labels"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, r"labels must lie in 0\.\.9"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [-1, 3]}, r"labels must lie in 0\.\.9"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, r"uint8 array of shape \[N, 3072\]"),
    ({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}, r"uint8 array of shape \[N, 3072\]"),
    ({b"data": [[0] * 3072], b"labels": [0]}, "got a list"),
    ({b"labels": [0]}, "no 'data' entry"),
    ({b"data": np.zeros((1, 3072), np.uint8), b"labels": ["cat"]}, "list of ints"),
    ([1, 2, 3], "is a dict"),
])
def test_cifar_reader_validates_contents(tmp_path, batch, match):
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch))
    with pytest.raises(ValueError, match=match):
        data.load_cifar10(tmp_path, "test")


def test_cifar_reader_truncated_pickle(tmp_path):
    (tmp_path / "test_batch").write_bytes(_cifar_batch(3)[:100])
    with pytest.raises(ValueError, match="CIFAR-10"):
        data.load_cifar10(tmp_path, "test")


@pytest.mark.parametrize("raw,match", [
    (b"\x00\x00\x08", "magic"),                                   # shorter than the 4-byte magic
    (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated IDX header"),  # 3 dims, 1 size given
    (b"\x00\x00\x08\x00", "dimensions"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "type code 0x07"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 3) + b"\x00\x01\x02\x03", "trailing bytes"),
    (b"\x00\x00\x0c\x01" + struct.pack(">I", 2) + b"\x00" * 6, "truncated"),   # int32: needs 8 bytes
    (b"\x00\x00\x08\x02" + struct.pack(">II", 2 ** 31, 2 ** 31) + b"\x00", "truncated"),  # huge dims
])
def test_idx_header_errors(tmp_path, raw, match):
    (tmp_path / "f").write_bytes(raw)
    with pytest.raises(ValueError, match=match):
        data.read_idx(tmp_path / "f")


def test_idx_corrupt_gzip(tmp_path):
    (tmp_path / "f.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(ValueError, match="gzip"):
        data.read_idx(tmp_path / "f.gz")


def test_full_mnist_reader_rejects_bad_labels_and_counts(tmp_path):
    imgs = np.zeros((3, 28, 28), np.uint8)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", imgs)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 1, 12], np.uint8))
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.9"):
        data.load_mnist_idx(tmp_path, "test")
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 1], np.uint8))
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        data.load_mnist_idx(tmp_path, "test")
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 1, 2], np.uint8))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28), np.uint8))
    with pytest.raises(ValueError, match=r"shape \[N, 28, 28\]"):
        data.load_mnist_idx(tmp_path, "test")
