"""The verified on-disk cache of trained models and slow results (the hall's storage room).

Cached artefacts live in ``$COMPANION_CACHE``, else ``$XDG_CACHE_HOME/companion``, else
``~/.cache/companion``.

* **Keys.** An entry's key is the SHA-256 of a *canonical JSON* document holding the spec (plain
  JSON only: :func:`canonical_json` refuses tensors, sets and non-string keys — hash a tensor
  explicitly with :func:`tensor_digest`), the keys of its *parents* (baseline → fine-tuned →
  compressed: change a baseline and everything derived from it is recomputed), a fingerprint of
  the *code* that made it (:func:`code_fingerprint`: the recipe's source and every ``companion``
  module in its import closure), the data checksum, the device type, the
  thread count and torch's version. No hand-bumped version counters.
* **Integrity.** Beside each ``name-key.pt`` a ``name-key.json`` records its SHA-256 (and the
  spec, for provenance). A missing, unreadable or mismatching checksum, or a file ``torch.load``
  refuses, is a *miss with a visible* :class:`CacheWarning`: the artefact is recomputed and
  rewritten. Nothing is swallowed silently.
* **Bound to the key.** The record also holds the key: a ``.pt``/``.json`` pair copied or
  renamed under another key is a visible miss, never another recipe's weights.
* **Atomic writes.** Files are written to a temporary name (``.companion-partial-…tmp``) and
  renamed; such files left by a writer that was killed are removed once they are an hour old
  (only those: the cache folder may hold other files).
* **Read-only or full.** A result that cannot be stored is returned all the same, with a
  :class:`CacheWarning` (computed again next time).

Trained models go through :func:`companion.train.cached_model` (which adds the training loop to
the fingerprint); everything else through :func:`cached_result`.
"""
from __future__ import annotations

import ast
import contextlib
import contextvars
import functools
import hashlib
import inspect
import io
import json
import math
import os
import re
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from . import data, models

__all__ = ["CacheWarning", "STALE_TMP_S", "device", "pin_threads", "cache_dir", "canonical_json", "tensor_digest",
           "import_closure", "code_fingerprint", "cache_key", "key_of", "save_atomic", "store", "load_verified", "cached_result"]

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


@contextlib.contextmanager
def num_threads(n: int):
    """Run the block on ``n`` torch threads, then restore the count. Recipes that train small
    networks pin a fixed count (1) so that their weights do not depend on the machine's core
    count, and :func:`companion.train.prefetch` can train one per core, bit for bit alike."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(old)


#: Temporary files of :func:`save_atomic` are named ``.companion-partial-<target><random>.tmp``,
#: where ``<target>`` is an entry's file name (``name-<24 hex>.pt`` or ``.json``).
_TMP_PREFIX = ".companion-partial-"
_OWN_TMP = re.compile(r"\.companion-partial-[^/\\]+-[0-9a-f]{24}\.(pt|json)[A-Za-z0-9_]+\.tmp")


def _remove_stale_tmp(path: Path) -> None:
    """Remove temporary files this cache wrote (:data:`_OWN_TMP`) that are over an hour old.

    Only those: ``COMPANION_CACHE`` may point at a folder that holds other programs' files."""
    now = time.time()
    for tmp in path.glob(_TMP_PREFIX + "*.tmp"):
        if not _OWN_TMP.fullmatch(tmp.name):
            continue
        try:
            if tmp.is_file() and not tmp.is_symlink() and now - tmp.stat().st_mtime > STALE_TMP_S:
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
    try:
        path.mkdir(parents=True, exist_ok=True)
        _remove_stale_tmp(path)
    except OSError as e:  # a read-only home: every lookup misses, every store warns (see _store)
        warnings.warn(f"the model cache {path} cannot be created ({e}): nothing will be cached; "
                      "set COMPANION_CACHE to a writable folder", CacheWarning, stacklevel=2)
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


_PACKAGE = __name__.rpartition(".")[0]  # "companion"
_PACKAGE_DIR = Path(__file__).resolve().parent


def _module_file(module: str) -> Path | None:
    """The source file of a ``companion`` module (``companion.sparsity.masks``), else None."""
    if module != _PACKAGE and not module.startswith(_PACKAGE + "."):
        return None
    rel = module.split(".")[1:]
    base = _PACKAGE_DIR.joinpath(*rel)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return tree


@functools.lru_cache(maxsize=None)
def _parse_module(path: Path, mtime_ns: int) -> tuple[str, tuple[str, ...]]:
    """(digest of the module's code without comments and docstrings, the companion modules it imports)."""
    src = path.read_text(encoding="utf-8")
    tree = ast.parse(src, filename=str(path))
    here = [_PACKAGE, *path.relative_to(_PACKAGE_DIR).parts[:-1]]  # the package a relative import starts from
    imports: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            imports.add(target)
            for a in node.names:  # `from . import masks` imports the submodule masks
                imports.add(f"{target}.{a.name}")
    deps = tuple(sorted(m for m in imports if _module_file(m) is not None))
    digest = hashlib.sha256(ast.dump(_strip_docstrings(tree)).encode()).hexdigest()
    return digest, deps


def import_closure(module: str) -> list[str]:
    """The ``companion`` modules ``module`` imports, transitively, itself included (sorted).

    Read statically from the import statements (``import``, ``from … import``, relative forms);
    a package's ``__init__`` is in it only where a module imports the package itself.
    """
    seen: set[str] = set()
    todo = [module]
    while todo:
        m = todo.pop()
        path = _module_file(m)
        if m in seen or path is None:
            continue
        seen.add(m)
        todo.extend(_parse_module(path, path.stat().st_mtime_ns)[1])
    return sorted(seen)


def _closure_of(obj: Any) -> set[str]:
    """Companion modules an object's result may depend on: its own module's import closure or,
    for code outside ``companion`` (a notebook cell), the closures of the companion objects and
    modules its global names refer to."""
    module = getattr(obj, "__module__", None) or ""
    if _module_file(module) is not None:
        return set(import_closure(module))
    out: set[str] = set()
    for value in getattr(inspect.unwrap(obj), "__globals__", {}).values():
        name = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
        if isinstance(name, str) and _module_file(name) is not None:
            out.update(import_closure(name))
    return out


def code_fingerprint(*objs: Callable | type) -> str:
    """SHA-256 over what the code of ``objs`` can depend on: each object's source text
    (``inspect.getsource``) and every ``companion`` module in its import closure
    (:func:`import_closure`; each module's code without comments or docstrings).

    A change anywhere a recipe can reach (``models.py``, a mask rule, the training loop) gives a
    new key, so nothing made by older code is reused: no hand-kept lists, no version counters.
    Comments and docstrings do not count (editing prose retrains nothing).
    """
    h = hashlib.sha256()
    modules: set[str] = set()
    for obj in objs:
        target = inspect.unwrap(obj) if callable(obj) else obj
        try:
            src = inspect.getsource(target)
        except (OSError, TypeError) as e:
            raise TypeError(f"cannot fingerprint {obj!r}: its source is not available ({e}); "
                            "pass functions or classes defined in .py files or notebook cells") from None
        h.update(f"{getattr(target, '__qualname__', '?')}\n{src}\n".encode())
        modules |= _closure_of(target)
    for m in sorted(modules):
        path = _module_file(m)
        h.update(f"module {m} {_parse_module(path, path.stat().st_mtime_ns)[0]}\n".encode())
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
    if models.seed_offset():  # COMPANION_SEED: a re-run of the book from other seeds
        payload["seed_offset"] = models.seed_offset()
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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX + path.name, suffix=".tmp")
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


def save_atomic(obj: Any, path: str | os.PathLike, *, meta: dict | None = None, key: str | None = None) -> Path:
    """``torch.save`` into a temporary file in the same folder, then rename (never half-written).

    A ``.json`` beside it records the file's SHA-256, the cache ``key`` it was made for (and
    ``meta``); :func:`cached_model` and :func:`cached_result` refuse an entry whose bytes do not
    match it, or that was made for another key.
    """
    path = Path(path)
    payload = _serialize(obj)
    record = {"sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload), **(meta or {})}
    if key is not None:
        record["key"] = key
    _write_atomic(payload, path)
    _write_atomic(json.dumps(record, sort_keys=True, indent=1).encode(), path.with_suffix(".json"))
    return path


MISS = object()  #: what :func:`load_verified` returns for a miss


def log_miss(path: Path, seconds: float) -> None:
    """Append ``name<TAB>seconds`` to ``$COMPANION_CACHE_LOG`` (when set) for every computed entry:
    the profile of a cold run (``tools/chapters.py times --cold`` sums it per chapter)."""
    log = os.environ.get("COMPANION_CACHE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{path.name}\t{seconds:.2f}\n")


def store(obj: Any, path: Path, *, key: str, meta: dict) -> bool:
    """:func:`save_atomic` for a freshly computed artefact; True if it was stored.

    A read-only or full cache is not a reason to throw the computation away: the caller keeps
    its result, and a :class:`CacheWarning` says it was not cached (it will be recomputed)."""
    try:
        save_atomic(obj, path, meta=meta, key=key)
        return True
    except OSError as e:
        warnings.warn(f"could not store cache entry {path.name} in {path.parent} ({type(e).__name__}: {e}); "
                      "using the fresh result without caching it (it will be recomputed next time)",
                      CacheWarning, stacklevel=3)
        return False


def load_verified(path: Path, key: str | None = None) -> Any:
    """The object stored at ``path`` if its checksum record vouches for it (and, given ``key``,
    records that same key); else warn and return a miss."""
    if not path.is_file():
        return MISS
    record_path = path.with_suffix(".json")
    try:
        record = json.loads(record_path.read_text())
        expected = record["sha256"]
    except FileNotFoundError:
        warnings.warn(f"cache entry {path.name} has no checksum record (an older version or an interrupted "
                      "writer made it): recomputing it", CacheWarning, stacklevel=3)
        return MISS
    except (OSError, ValueError, KeyError, TypeError) as e:
        warnings.warn(f"cache entry {path.name}: its checksum record is unreadable ({e}): recomputing it",
                      CacheWarning, stacklevel=3)
        return MISS
    if key is not None and record.get("key") != key:
        warnings.warn(f"cache entry {path.name} was made for another key ({record.get('key')!r}, not {key!r}): "
                      "a copied or renamed file; recomputing it", CacheWarning, stacklevel=3)
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


#: True while :func:`companion.train.prefetch` asks which calls would miss: a miss raises
#: :class:`WouldCompute` instead of computing (in :func:`cached_result` and ``cached_model``).
PROBE = contextvars.ContextVar("companion_probe", default=False)


class WouldCompute(Exception):
    """Raised by a cache lookup under :data:`PROBE` instead of computing the missing entry."""


def cached_result(spec: Any, compute: Callable[[], Any], *, name: str = "result", refresh: bool = False,
                  parents: Sequence[str] = (), code: Sequence[Callable] = ()) -> Any:
    """Compute once, then load: for sweeps and tables made of tensors, numbers, lists and dicts.

    ``spec`` (plain JSON) must identify the computation completely; ``parents`` are the cache
    keys of the models it reads (:func:`key_of`); ``code`` the functions whose source it depends on.
    """
    key = cache_key(spec, parents=parents, code=code)
    path = cache_dir() / f"{check_name(name)}-{key}.pt"
    if not refresh:
        hit = load_verified(path, key)
        if hit is not MISS:
            return hit
    if PROBE.get():
        raise WouldCompute(path.name)
    t0 = time.perf_counter()
    result = compute()
    log_miss(path, time.perf_counter() - t0)
    store(result, path, key=key, meta={"spec": json.loads(canonical_json(spec)), "parents": list(parents)})
    return result
