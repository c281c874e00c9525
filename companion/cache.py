"""The verified on-disk cache of trained models and slow results (the hall's storage room).

Cached artefacts live in ``$COMPANION_CACHE``, else ``$XDG_CACHE_HOME/companion``, else
``~/.cache/companion``.

* **Keys.** An entry's key is the SHA-256 of a *canonical JSON* document holding the spec (plain
  JSON only: :func:`canonical_json` refuses tensors, sets and non-string keys — hash a tensor
  explicitly with :func:`tensor_digest`), the keys of its *parents* (baseline → fine-tuned →
  compressed: change a baseline and everything derived from it is recomputed), a fingerprint of
  the *code* that made it (:func:`code_fingerprint`), the data checksum, the device type, the
  thread count and torch's version. No hand-bumped version counters.
* **Integrity.** Beside each ``name-key.pt`` a ``name-key.json`` records its SHA-256 (and the
  spec, for provenance). A missing, unreadable or mismatching checksum, or a file ``torch.load``
  refuses, is a *miss with a visible* :class:`CacheWarning`: the artefact is recomputed and
  rewritten. Nothing is swallowed silently.
* **Atomic writes.** Files are written to a temporary name and renamed; temporary files left by
  a writer that was killed are removed once they are an hour old.

Trained models go through :func:`companion.train.cached_model` (which adds the training loop to
the fingerprint); everything else through :func:`cached_result`.
"""
from __future__ import annotations

import hashlib
import inspect
import io
import json
import math
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from . import data

__all__ = ["CacheWarning", "STALE_TMP_S", "device", "pin_threads", "cache_dir", "canonical_json", "tensor_digest",
           "code_fingerprint", "cache_key", "key_of", "save_atomic", "load_verified", "cached_result"]

#: Temporary files older than this (seconds) belong to a writer that died: removed.
STALE_TMP_S = 3600.0


class CacheWarning(UserWarning):
    """A cache entry could not be trusted (corrupted, unreadable, no checksum): it is recomputed."""


def device() -> torch.device:
    """The device of training and evaluation: the CPU unless ``COMPANION_DEVICE`` asks for another.

    CUDA is used only when asked (``COMPANION_DEVICE=cuda``): results, cached models and the
    book's checked outputs are made on the CPU, where runs are bit-for-bit repeatable.
    """
    want = os.environ.get("COMPANION_DEVICE", "").strip()
    if not want:
        return torch.device("cpu")
    try:
        dev = torch.device(want)
    except RuntimeError as e:
        raise ValueError(f"COMPANION_DEVICE={want!r} is not a device torch knows ({e}); use 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("COMPANION_DEVICE asks for CUDA but torch.cuda.is_available() is False")
    return dev


def pin_threads(n: int | None = None) -> int:
    """Fix torch's intra-op thread count (``n``, else ``$COMPANION_THREADS``, else leave it); returns it.

    The test suite and the book build pin it (floating-point reductions, hence trained weights,
    depend on the thread count).
    """
    if n is None:
        env = os.environ.get("COMPANION_THREADS", "").strip()
        if not env:
            return torch.get_num_threads()
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"COMPANION_THREADS must be a positive integer, got {env!r}")
        n = int(env)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def _remove_stale_tmp(path: Path) -> None:
    now = time.time()
    for tmp in path.glob("*.tmp"):
        try:
            if now - tmp.stat().st_mtime > STALE_TMP_S:
                tmp.unlink()
        except OSError:  # another process removed or renamed it first
            pass


def cache_dir() -> Path:
    """Folder of cached artefacts (created on demand; stale temporary files are cleaned)."""
    root = os.environ.get("COMPANION_CACHE")
    if root:
        path = Path(root)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "companion"
    path.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(path)
    return path


def _plain(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cache spec {where} is {value}: only finite numbers are allowed")
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"cache spec {where} has a key {k!r} of type {type(k).__name__}: keys must be str")
            out[k] = _plain(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    hint = " (hash it explicitly with train.tensor_digest)" if isinstance(value, (torch.Tensor,)) or \
        type(value).__module__.startswith("numpy") else ""
    raise TypeError(f"cache spec {where} is a {type(value).__name__}: only dict (str keys), list, tuple, str, "
                    f"int, finite float, bool and None are allowed{hint}")


def canonical_json(spec: Any) -> str:
    """The one JSON text of ``spec``: sorted keys, no spaces; anything not plain JSON is refused.

    >>> canonical_json({"b": [1, 2.5], "a": None})
    '{"a":null,"b":[1,2.5]}'
    """
    return json.dumps(_plain(spec, "spec"), sort_keys=True, separators=(",", ":"), allow_nan=False)


def tensor_digest(t: torch.Tensor) -> str:
    """SHA-256 of a tensor's dtype, shape and every value (for specs that depend on a tensor)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"t must be a torch.Tensor, got {type(t).__name__}")
    t = t.detach().cpu().contiguous()
    h = hashlib.sha256(f"{t.dtype}|{tuple(t.shape)}|".encode())
    h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def code_fingerprint(*objs: Callable | type) -> str:
    """SHA-256 over the source text of functions/classes (``inspect.getsource``): a recipe that
    changes gets a new key, so nothing trained by older code is reused (no version counters)."""
    h = hashlib.sha256()
    for obj in objs:
        target = inspect.unwrap(obj) if callable(obj) else obj
        try:
            src = inspect.getsource(target)
        except (OSError, TypeError) as e:
            raise TypeError(f"cannot fingerprint {obj!r}: its source is not available ({e}); "
                            "pass functions or classes defined in .py files or notebook cells") from None
        h.update(f"{getattr(target, '__qualname__', '?')}\n{src}\n".encode())
    return h.hexdigest()


def cache_key(spec: Any, *, parents: Sequence[str] = (), code: Sequence[Callable] = ()) -> str:
    """Hex digest identifying an artefact: canonical ``spec``, ``parents``' keys, ``code`` fingerprint,
    the data checksum, the device type, torch's intra-op thread count and major.minor version.

    The thread count is part of the key because a model trained with 1 thread differs from the
    same recipe trained with 2 (reduction order): each setting gets its own, exact, entry."""
    if isinstance(parents, str) or not all(isinstance(p, str) and p for p in parents):
        raise TypeError(f"parents must be a sequence of cache keys (str), got {parents!r}")
    payload = {
        "spec": json.loads(canonical_json(spec)),
        "parents": list(parents),
        "code": code_fingerprint(*code) if code else None,
        "data": data._manifest().get("mnist_5k.npz"),
        "device": device().type,
        "threads": torch.get_num_threads(),  # float reductions, hence trained weights, depend on it
        "torch": ".".join(torch.__version__.split(".")[:2]),
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:24]


_KEY_ATTR = "_companion_cache_key"


def _tag(model: nn.Module, key: str) -> nn.Module:
    model.__dict__[_KEY_ATTR] = key  # a plain attribute: survives deepcopy, not part of the state dict
    return model


def key_of(model: nn.Module) -> str:
    """The cache key of a model returned by :func:`baseline` or :func:`cached_model` (its lineage)."""
    key = getattr(model, _KEY_ATTR, None) if isinstance(model, nn.Module) else None
    if key is None:
        raise ValueError("this model did not come from the cache (baseline()/cached_model()): it has no key; "
                         "pass the parent's key explicitly")
    return key


def _serialize(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _write_atomic(payload: bytes, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_atomic(obj: Any, path: str | os.PathLike, *, meta: dict | None = None) -> Path:
    """``torch.save`` into a temporary file in the same folder, then rename (never half-written).

    A ``.json`` beside it records the file's SHA-256 (and ``meta``); :func:`cached_model` and
    :func:`cached_result` refuse an entry whose bytes do not match it.
    """
    path = Path(path)
    payload = _serialize(obj)
    record = {"sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload), **(meta or {})}
    _write_atomic(payload, path)
    _write_atomic(json.dumps(record, sort_keys=True, indent=1).encode(), path.with_suffix(".json"))
    return path


MISS = object()  #: what :func:`load_verified` returns for a miss


def load_verified(path: Path) -> Any:
    """The object stored at ``path`` if its checksum record vouches for it; else warn and return a miss."""
    if not path.is_file():
        return MISS
    record_path = path.with_suffix(".json")
    try:
        expected = json.loads(record_path.read_text())["sha256"]
    except FileNotFoundError:
        warnings.warn(f"cache entry {path.name} has no checksum record (an older version or an interrupted "
                      "writer made it): recomputing it", CacheWarning, stacklevel=3)
        return MISS
    except (OSError, ValueError, KeyError, TypeError) as e:
        warnings.warn(f"cache entry {path.name}: its checksum record is unreadable ({e}): recomputing it",
                      CacheWarning, stacklevel=3)
        return MISS
    payload = path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != expected:
        warnings.warn(f"cache entry {path.name} is corrupted (SHA-256 does not match its record): recomputing it",
                      CacheWarning, stacklevel=3)
        return MISS
    try:
        return torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any failure becomes a visible miss
        warnings.warn(f"cache entry {path.name} could not be loaded ({type(e).__name__}: {e}): recomputing it",
                      CacheWarning, stacklevel=3)
        return MISS


def check_name(name: str) -> str:
    if not isinstance(name, str) or not name or any(c in name for c in "/\\\0") or name.startswith("."):
        raise ValueError(f"name must be a plain file-name prefix (no '/', '\\\\', leading '.'), got {name!r}")
    return name


def cached_result(spec: Any, compute: Callable[[], Any], *, name: str = "result", refresh: bool = False,
                  parents: Sequence[str] = (), code: Sequence[Callable] = ()) -> Any:
    """Compute once, then load: for sweeps and tables made of tensors, numbers, lists and dicts.

    ``spec`` (plain JSON) must identify the computation completely; ``parents`` are the cache
    keys of the models it reads (:func:`key_of`); ``code`` the functions whose source it depends on.
    """
    key = cache_key(spec, parents=parents, code=code)
    path = cache_dir() / f"{check_name(name)}-{key}.pt"
    if not refresh:
        hit = load_verified(path)
        if hit is not MISS:
            return hit
    result = compute()
    save_atomic(result, path, meta={"spec": json.loads(canonical_json(spec)), "parents": list(parents)})
    return result
