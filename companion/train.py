"""Deterministic training and evaluation, and a verified on-disk cache of trained models.

Every chapter starts from the same trained baselines (``baseline("lenet5")`` …), so every
method is compared against the same reference. Trained weights live in the user's cache
directory (``$COMPANION_CACHE``, else ``$XDG_CACHE_HOME/companion``, else
``~/.cache/companion``).

How the cache stays honest:

* **Keys.** An entry's key is the SHA-256 of a *canonical JSON* document holding the spec (plain
  JSON only: :func:`canonical_json` refuses tensors, sets and non-string keys — hash a tensor
  explicitly with :func:`tensor_digest`), the keys of its *parents* (baseline → fine-tuned →
  compressed: change a baseline and everything derived from it is recomputed), a fingerprint of
  the *code* that made it (:func:`code_fingerprint` of the recipe and, for trained models, of
  :func:`fit`), the data checksum, the device type and torch's version.
* **Integrity.** Beside each ``name-key.pt`` a ``name-key.json`` records its SHA-256 (and the
  spec, for provenance). A missing, unreadable or mismatching checksum, or a file ``torch.load``
  refuses, is a *miss with a visible* :class:`CacheWarning`: the artefact is recomputed and
  rewritten. Nothing is swallowed silently.
* **Atomic writes.** Files are written to a temporary name and renamed; temporary files left by
  a writer that was killed are removed once they are an hour old.
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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn

from . import data, models

__all__ = ["TrainConfig", "BASELINES", "CacheWarning", "device", "pin_threads", "cache_dir", "canonical_json",
           "tensor_digest", "code_fingerprint", "cache_key", "key_of", "baseline_key", "save_atomic",
           "cached_model", "cached_result", "shift_augment", "show_progress", "fit", "train_config", "evaluate",
           "predict", "baseline", "baseline_config"]

#: Temporary files older than this (seconds) belong to a writer that died: removed.
STALE_TMP_S = 3600.0


class CacheWarning(UserWarning):
    """A cache entry could not be trusted (corrupted, unreadable, no checksum): it is recomputed."""


@dataclass(frozen=True)
class TrainConfig:
    """What it takes to reproduce a training run (its hash is the cache key)."""

    model: str
    epochs: int = 15
    lr: float = 1e-3
    batch_size: int = 64
    optimizer: str = "adam"
    weight_decay: float = 0.0
    seed: int = 0
    shift_px: int = 0

    def __post_init__(self):
        if self.model not in models.MODEL_NAMES:
            raise ValueError(f"unknown model {self.model!r}; allowed: {sorted(models.MODEL_NAMES)}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive int, got {self.epochs!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")


BASELINES: dict[str, TrainConfig] = {
    "lenet300": TrainConfig("lenet300", epochs=30, lr=1e-3, weight_decay=1e-4, shift_px=2),
    "lenet5": TrainConfig("lenet5", epochs=15, lr=1e-3, weight_decay=1e-4),
    "cnn": TrainConfig("cnn", epochs=20, lr=1e-3, batch_size=32, weight_decay=1e-4),
}


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


_MISS = object()


def _load_verified(path: Path) -> Any:
    """The object stored at ``path`` if its checksum record vouches for it; else warn and return a miss."""
    if not path.is_file():
        return _MISS
    record_path = path.with_suffix(".json")
    try:
        expected = json.loads(record_path.read_text())["sha256"]
    except FileNotFoundError:
        warnings.warn(f"cache entry {path.name} has no checksum record (an older version or an interrupted "
                      "writer made it): recomputing it", CacheWarning, stacklevel=3)
        return _MISS
    except (OSError, ValueError, KeyError, TypeError) as e:
        warnings.warn(f"cache entry {path.name}: its checksum record is unreadable ({e}): recomputing it",
                      CacheWarning, stacklevel=3)
        return _MISS
    payload = path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != expected:
        warnings.warn(f"cache entry {path.name} is corrupted (SHA-256 does not match its record): recomputing it",
                      CacheWarning, stacklevel=3)
        return _MISS
    try:
        return torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any failure becomes a visible miss
        warnings.warn(f"cache entry {path.name} could not be loaded ({type(e).__name__}: {e}): recomputing it",
                      CacheWarning, stacklevel=3)
        return _MISS


def _check_name(name: str) -> str:
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
    path = cache_dir() / f"{_check_name(name)}-{key}.pt"
    if not refresh:
        hit = _load_verified(path)
        if hit is not _MISS:
            return hit
    result = compute()
    save_atomic(result, path, meta={"spec": json.loads(canonical_json(spec)), "parents": list(parents)})
    return result


def cached_model(spec: Any, make: Callable[[], nn.Module], train: Callable[[nn.Module], Any] | None = None,
                 *, name: str = "model", refresh: bool = False, parents: Sequence[str] = (),
                 code: Sequence[Callable] = ()) -> nn.Module:
    """A model whose trained weights are cached: ``make()`` builds it, ``train(model)`` fits it.

    If ``make()`` returns a model from the cache (a baseline, another cached model), its key is a
    parent automatically. The key also fingerprints :func:`fit` (the training loop) and ``code``.
    The state dict is stored atomically with its checksum and loaded with ``weights_only=True``;
    the model is returned in eval mode on the CPU, tagged with its key (:func:`key_of`).
    """
    model = make()
    if not isinstance(model, nn.Module):
        raise TypeError(f"make() must return an nn.Module, got {type(model).__name__}")
    parents = list(parents)
    inherited = getattr(model, _KEY_ATTR, None)
    if inherited is not None and inherited not in parents:
        parents.append(inherited)
    key = cache_key(spec, parents=parents, code=(fit, *code))
    path = cache_dir() / f"{_check_name(name)}-{key}.pt"
    if not refresh:
        state = _load_verified(path)
        if state is not _MISS:
            try:
                model.load_state_dict(state)
                return _tag(model.eval(), key)
            except (RuntimeError, KeyError, TypeError, AttributeError) as e:
                warnings.warn(f"cache entry {path.name} does not fit the model ({type(e).__name__}: {e}): "
                              "retraining", CacheWarning, stacklevel=2)
                model = make()
    if train is not None:
        train(model)
    model = model.cpu().eval()
    save_atomic(model.state_dict(), path, meta={"spec": json.loads(canonical_json(spec)), "parents": parents})
    return _tag(model, key)


def _as_xy(split_or_data) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(split_or_data, str):
        return data.load_mnist(split_or_data)
    if isinstance(split_or_data, (tuple, list)) and len(split_or_data) == 2:
        x, y = split_or_data
        if len(x) != len(y):
            raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
        return x, y
    raise TypeError(f"expected a split name {data.SPLITS} or an (x, y) pair, got {type(split_or_data).__name__}")


def shift_augment(x: torch.Tensor, max_shift_px: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by a random integer shift in [-max_shift_px, max_shift_px]² (zero-padded).

    ``x``: [N, C, H, W], normalised; the padding is the normalised background (pixel 0).
    """
    if max_shift_px == 0:
        return x
    n, _, h, w = x.shape
    background = (0.0 - data.MNIST_MEAN) / data.MNIST_STD if x.shape[1] == 1 else 0.0
    s = max_shift_px
    padded = nn.functional.pad(x, (s, s, s, s), value=background)
    dy = torch.randint(0, 2 * s + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * s + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :])  # [N, H]
    cols = (dx[:, None] + torch.arange(w)[None, :])  # [N, W]
    idx_n = torch.arange(n)[:, None, None]
    return padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def show_progress(requested: bool = True) -> bool:
    """Whether to draw a progress bar: not on pages built for the static website
    (``COMPANION_STATIC=1``: a dead widget there) and not when ``COMPANION_PROGRESS=0`` (the test
    suite: a bar would be an unexpected output in a checked cell when the cache is cold)."""
    static = os.environ.get("COMPANION_STATIC", "") not in ("", "0")
    return bool(requested) and not static and os.environ.get("COMPANION_PROGRESS", "1") != "0"


def fit(model: nn.Module, *, epochs: int = 10, lr: float = 1e-3, batch_size: int = 64,
        optimizer: str = "adam", weight_decay: float = 0.0, seed: int = 0, shift_px: int = 0,
        train_data: str | tuple = "train", regularizer: Callable[[nn.Module], torch.Tensor] | None = None,
        callbacks: Sequence[Callable[[int, nn.Module], None]] = (), params: Iterable[nn.Parameter] | None = None,
        progress: bool = True, desc: str | None = None,
        loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> list[dict[str, float]]:
    """Train ``model`` in place with cross-entropy (+ ``regularizer(model)``); deterministic for a seed.

    ``loss(logits, targets, inputs)`` replaces the cross-entropy (e.g. a distillation loss that
    runs a teacher on ``inputs``).

    ``callbacks`` are called as ``cb(step, model)`` after every optimiser step (pruning
    schedules use this). Returns one ``{"epoch", "loss", "train_acc"}`` dict per epoch.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if loss is not None and not callable(loss):
        raise TypeError(f"loss must be callable as loss(logits, targets, inputs), got {type(loss).__name__}")
    x, y = _as_xy(train_data)
    dev = device()
    model.to(dev)
    params = list(params) if params is not None else [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    history, step = [], 0
    from tqdm.auto import tqdm
    bar = tqdm(range(epochs), desc=desc or type(model).__name__, disable=not show_progress(progress), leave=False)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(x), generator=gen)
        total_loss, correct = 0.0, 0
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            xb = shift_augment(x[idx], shift_px, gen) if shift_px else x[idx]
            xb, yb = xb.to(dev), y[idx].to(dev)
            out = model(xb)
            objective = nn.functional.cross_entropy(out, yb) if loss is None else loss(out, yb, xb)
            if regularizer is not None:
                objective = objective + regularizer(model)
            opt.zero_grad(set_to_none=True)
            objective.backward()
            opt.step()
            step += 1
            for cb in callbacks:
                cb(step, model)
            total_loss += float(objective.detach()) * len(idx)
            correct += int((out.argmax(1) == yb).sum())
        history.append({"epoch": epoch + 1, "loss": total_loss / len(x), "train_acc": 100.0 * correct / len(x)})
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", acc=f"{history[-1]['train_acc']:.1f}")
    model.eval()
    return history


@torch.no_grad()
def predict(model: nn.Module, split: str | tuple = "test", batch_size: int = 1000) -> torch.Tensor:
    """Logits of ``model`` on a split (or an ``(x, y)`` pair), computed in eval mode."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    x, _ = _as_xy(split)
    was_training = model.training
    model.eval()
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    outs = [model(x[i:i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(outs)


def evaluate(model: nn.Module, split: str | tuple = "test", batch_size: int = 1000) -> float:
    """Top-1 accuracy in percent on a split of the embedded MNIST (or an ``(x, y)`` pair)."""
    _, y = _as_xy(split)
    logits = predict(model, split, batch_size)
    correct = int((logits.argmax(1) == y).sum())
    return round(100.0 * correct / len(y), 6)


def baseline_config(name: str, seed: int = 0) -> TrainConfig:
    """The training configuration of a baseline (``"lenet300"``, ``"lenet5"``, ``"cnn"``).

    ``seed`` 0 is the book's baseline; other seeds give independently trained baselines of the
    same recipe (for comparisons over several seeds that vary baseline training too).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of {sorted(BASELINES)}; got {type(name).__name__}")
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; allowed: {sorted(BASELINES)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return replace(BASELINES[name], seed=seed)


def train_config(config: TrainConfig, progress: bool = True) -> nn.Module:
    """Train a model from scratch according to ``config`` (no cache)."""
    model = models.build(config.model, seed=config.seed)
    fit(model, epochs=config.epochs, lr=config.lr, batch_size=config.batch_size, optimizer=config.optimizer,
        weight_decay=config.weight_decay, seed=config.seed, shift_px=config.shift_px, progress=progress,
        desc=f"training {config.model}")
    return model.cpu().eval()


def _baseline_spec(config: TrainConfig) -> dict:
    return {"baseline": asdict(config)}


def baseline_key(name: str, *, seed: int = 0) -> str:
    """The cache key of ``baseline(name, seed=seed)`` (without loading or training it)."""
    return cache_key(_baseline_spec(baseline_config(name, seed)), code=(fit,))


def baseline(name: str, *, seed: int = 0, retrain: bool = False, progress: bool = True) -> nn.Module:
    """The trained baseline ``name`` (``"lenet300"``, ``"lenet5"``, ``"cnn"``), from the cache or by training.

    A fresh copy each call (eval mode, CPU, tagged with its cache key): changing it never changes
    the cached weights. ``seed`` selects the initialisation and data order (0: the book's baseline).
    """
    config = baseline_config(name, seed)
    return cached_model(_baseline_spec(config), lambda: models.build(config.model, seed=config.seed),
                        lambda m: fit(m, epochs=config.epochs, lr=config.lr, batch_size=config.batch_size,
                                      optimizer=config.optimizer, weight_decay=config.weight_decay,
                                      seed=config.seed, shift_px=config.shift_px, progress=progress,
                                      desc=f"training {name}" + (f" (seed {seed})" if seed else "")),
                        name=f"baseline-{name}" + (f"-s{seed}" if seed else ""), refresh=retrain)
