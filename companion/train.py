"""Deterministic training and evaluation, and the trained baselines every chapter shares (one
reference for every method). Weights live in the verified cache of :mod:`companion.cache`, whose
functions are re-exported here; :func:`cached_model` adds :func:`fit` to each key's fingerprint."""
from __future__ import annotations

import contextvars
import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn

from . import data, models
from .cache import (_KEY_ATTR, MISS, PROBE, WouldCompute, STALE_TMP_S, CacheWarning, _tag, cache_dir, cache_key, cached_result, canonical_json,
                    check_name, code_fingerprint, device, key_of, load_verified, log_miss, num_threads, pin_threads, save_atomic, store,
                    tensor_digest)

__all__ = ["TrainConfig", "BASELINES", "CacheWarning", "STALE_TMP_S", "device", "pin_threads", "num_threads", "cache_dir",
           "canonical_json", "tensor_digest", "code_fingerprint", "cache_key", "key_of", "baseline_key", "save_atomic",
           "cached_model", "building_skeleton", "prefetch", "prefetch_jobs", "cached_result", "shift_augment", "show_progress", "fit", "train_config", "evaluate",
           "predict", "baseline", "baseline_config", "shipped_baseline", "shipped_fingerprint", "shipped_name", "SHIPPED_SEEDS"]

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


#: True while :func:`cached_model` builds a model only to learn its key and shape (see there).
_SKELETON = contextvars.ContextVar("companion_skeleton", default=False)


def building_skeleton() -> bool:
    """True while :func:`cached_model` runs ``make()`` only for a key and shapes: a slow step that
    only fills in weights (CP-ALS) may return a correctly shaped module at once."""
    return _SKELETON.get()


def cached_model(spec: Any, make: Callable[[], nn.Module], train: Callable[[nn.Module], Any] | None = None,
                 *, name: str = "model", refresh: bool = False, parents: Sequence[str] = (),
                 code: Sequence[Callable] = ()) -> nn.Module:
    """A model whose trained weights are cached: ``make()`` builds it, ``train(model)`` fits it.

    A model ``make()`` takes from the cache is a parent automatically; the key also fingerprints
    :func:`fit` and ``code``. Stored atomically with its checksum, loaded ``weights_only``, returned
    in eval mode on the CPU tagged with its key. A hit never builds, loads or trains a parent:
    ``make()`` first runs as a *skeleton* (nested cached models return their untrained architecture
    with their real key); only a miss (or a skeleton whose shapes do not fit) runs it for real."""
    skeleton_parent = _SKELETON.get()
    token = _SKELETON.set(True)
    try:
        model = make()
    finally:
        _SKELETON.reset(token)
    if not isinstance(model, nn.Module):
        raise TypeError(f"make() must return an nn.Module, got {type(model).__name__}")
    parents = list(parents)
    inherited = getattr(model, _KEY_ATTR, None)
    if inherited is not None and inherited not in parents:
        parents.append(inherited)
    key = cache_key(spec, parents=parents, code=(fit, *code))
    if skeleton_parent:  # a parent of a model being looked up: its key and shape are all that is needed
        return _tag(model.eval(), key)
    path = cache_dir() / f"{check_name(name)}-{key}.pt"
    if not refresh:
        state = load_verified(path, key)
        if state is not MISS:
            try:
                model.load_state_dict(state)
                return _tag(model.eval(), key)
            except (RuntimeError, KeyError, TypeError, AttributeError):
                model = make()  # the skeleton's shapes can depend on trained weights (channel pruning)
            try:
                model.load_state_dict(state)
                return _tag(model.eval(), key)
            except (RuntimeError, KeyError, TypeError, AttributeError) as e:
                warnings.warn(f"cache entry {path.name} does not fit the model ({type(e).__name__}: {e}): "
                              "retraining", CacheWarning, stacklevel=2)
    if PROBE.get():  # prefetch asks whether this call would train: it would
        raise WouldCompute(path.name)
    model = make()
    t0 = time.perf_counter()
    if train is not None:
        train(model)
    log_miss(path, time.perf_counter() - t0)
    model = model.cpu().eval()
    store(model.state_dict(), path, key=key, meta={"spec": json.loads(canonical_json(spec)), "parents": parents})
    return _tag(model, key)


def _would_train(recipe: Callable[..., Any], kwargs: dict) -> bool:
    token = PROBE.set(True)
    try:
        recipe(**kwargs)
        return False
    except WouldCompute:
        return True
    finally:
        PROBE.reset(token)


def _prefetch_main() -> None:
    """Worker of :func:`prefetch`: run length-prefixed pickled jobs from stdin, answer ``ok`` each."""
    import importlib
    import pickle
    import sys
    proto = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # a recipe's prints must not corrupt the protocol
    stdin = sys.stdin.buffer
    while True:
        head = stdin.read(8)
        if len(head) < 8 or int.from_bytes(head, "big") == 0:
            return
        threads, module, qualname, kwargs = pickle.loads(stdin.read(int.from_bytes(head, "big")))
        pin_threads(threads)  # the parent's count: the same cache keys
        recipe = importlib.import_module(module)
        for part in qualname.split("."):
            recipe = getattr(recipe, part)
        recipe(**kwargs)
        proto.write(b"ok\n")


def _run_jobs(jobs: list[bytes], n: int) -> None:
    """Run the pickled jobs on ``n`` worker processes kept for many jobs each (starting Python with
    torch costs seconds), in the given order; raise with the worker's error if one fails."""
    import selectors
    import subprocess
    import sys
    import tempfile
    cmd = [sys.executable, "-c", "import companion.train as t; t._prefetch_main()"]
    todo = list(enumerate(jobs))
    sel = selectors.DefaultSelector()
    failed: list[str] = []
    workers = []

    def send(w) -> None:
        if todo and not failed:
            i, job = todo.pop(0)
            w["job"] = i
            w["proc"].stdin.write(len(job).to_bytes(8, "big") + job)
        else:
            w["job"] = None
            w["proc"].stdin.write((0).to_bytes(8, "big"))
        w["proc"].stdin.flush()

    try:
        for _ in range(min(n, len(todo))):
            err = tempfile.TemporaryFile()
            p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
            w = {"proc": p, "err": err, "job": None}
            workers.append(w)
            sel.register(p.stdout, selectors.EVENT_READ, w)
            send(w)
        open_pipes = len(workers)
        while open_pipes:
            for key, _ in sel.select():
                w = key.data
                line = w["proc"].stdout.readline()
                if line == b"ok\n":
                    try:
                        send(w)
                    except BrokenPipeError:
                        pass
                    continue
                sel.unregister(w["proc"].stdout)  # EOF: the worker ended
                open_pipes -= 1
                rc = w["proc"].wait()
                if rc != 0 or w["job"] is not None:
                    w["err"].seek(0)
                    failed.append(f"job {w['job']}: exit {rc}\n{w['err'].read().decode(errors='replace')[-2000:]}")
    finally:
        for w in workers:
            if w["proc"].poll() is None:
                w["proc"].kill()
                w["proc"].wait()
            w["err"].close()
    if failed:
        raise RuntimeError("prefetch: a worker failed:\n" + "\n".join(failed))


def prefetch(recipe: Callable[..., Any], calls: Sequence[dict], *, threads_per_call: int = 1,
             workers: int | None = None) -> int:
    """Train the cache misses among ``recipe(**kwargs)`` side by side in worker processes (for
    recipes pinned to few threads); returns how many were trained. Bit for bit what the calls
    would train here; hits are probed without training (:data:`companion.cache.PROBE`), so a warm
    run starts no process. ``recipe`` must be module-level; :func:`prefetch_jobs` mixes recipes."""
    return prefetch_jobs([(recipe, c) for c in calls], threads_per_call=threads_per_call, workers=workers)


def prefetch_jobs(jobs: Sequence[tuple[Callable[..., Any], dict]], *, threads_per_call: int = 1,
                  workers: int | None = None) -> int:
    """:func:`prefetch` for ``(recipe, kwargs)`` pairs, in the given order (longest first), each
    distinct job once. Returns how many were computed."""
    jobs = [(r, dict(c)) for r, c in jobs]
    for recipe, _ in jobs:
        if not callable(recipe) or getattr(recipe, "__qualname__", "").count("<"):
            raise TypeError(f"recipe must be a module-level function, got {recipe!r}")
    if isinstance(threads_per_call, bool) or not isinstance(threads_per_call, int) or threads_per_call < 1:
        raise ValueError(f"threads_per_call must be a positive int, got {threads_per_call!r}")
    n = workers if workers is not None else max(1, (os.cpu_count() or 1) // threads_per_call)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    unique, seen = [], set()
    for recipe, c in jobs:
        ident = (recipe.__module__, recipe.__qualname__, repr(sorted(c.items())))
        if ident not in seen:
            seen.add(ident)
            unique.append((recipe, c))
    misses = [(r, c) for r, c in unique if _would_train(r, c)]
    n = min(n, len(misses))
    if n <= 1:
        for recipe, c in misses:
            recipe(**c)
        return len(misses)
    import pickle
    _run_jobs([pickle.dumps((torch.get_num_threads(), r.__module__, r.__qualname__, c)) for r, c in misses], n)
    return len(misses)


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
    """Shift each image of ``x`` ([N, C, H, W], normalised) by a random integer offset in
    [-max_shift_px, max_shift_px]², padding with the normalised background (pixel 0)."""
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
    """Whether to draw a progress bar: not on the static website (``COMPANION_STATIC=1``) and not
    when ``COMPANION_PROGRESS=0`` (the tests: a bar would be an output in a checked cell)."""
    static = os.environ.get("COMPANION_STATIC", "") not in ("", "0")
    return bool(requested) and not static and os.environ.get("COMPANION_PROGRESS", "1") != "0"


def fit(model: nn.Module, *, epochs: int = 10, lr: float = 1e-3, batch_size: int = 64,
        optimizer: str = "adam", weight_decay: float = 0.0, seed: int = 0, shift_px: int = 0,
        train_data: str | tuple = "train", regularizer: Callable[[nn.Module], torch.Tensor] | None = None,
        callbacks: Sequence[Callable[[int, nn.Module], None]] = (), params: Iterable[nn.Parameter] | None = None,
        progress: bool = True, desc: str | None = None,
        loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        channels_last: bool = False, lr_schedule: str = "constant") -> list[dict[str, float]]:
    """Train ``model`` in place with cross-entropy (+ ``regularizer(model)``); deterministic for a seed.

    ``lr_schedule``: ``"constant"`` keeps ``lr``; ``"cosine"`` anneals it within the run,
    lr_t = lr · ½ (1 + cos(π t / T)) for step t of T (Loshchilov & Hutter, SGDR, ICLR 2017, without
    restarts), so the final weights do not carry the noise of a last large step.

    ``loss(logits, targets, inputs)`` replaces the cross-entropy (e.g. a distillation loss that
    runs a teacher on ``inputs``).

    ``callbacks`` are called as ``cb(step, model)`` after every optimiser step (pruning
    schedules use this). ``channels_last`` trains convolutions in channels-last memory layout
    (faster for depthwise/grouped convs on the CPU; other rounding, so other bits). Returns one
    ``{"epoch", "loss", "train_acc"}`` dict per epoch.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
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
    gen = torch.Generator().manual_seed(models.run_seed(seed))
    torch.manual_seed(models.run_seed(seed))
    # channels_last: depthwise and grouped convolutions train 1.6-2x faster on the CPU in
    # channels-last layout (chapter 2's compact networks); the model goes back to the default
    # layout when training ends, so nothing outside fit() sees the difference.
    channels_last = bool(channels_last) and any(isinstance(m, nn.Conv2d) for m in model.modules())
    if channels_last:
        model.to(memory_format=torch.channels_last)
    history, step = [], 0
    total_steps = epochs * -(-len(x) // batch_size)
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
            if channels_last and xb.dim() == 4:
                xb = xb.contiguous(memory_format=torch.channels_last)
            out = model(xb)
            objective = nn.functional.cross_entropy(out, yb) if loss is None else loss(out, yb, xb)
            if regularizer is not None:
                objective = objective + regularizer(model)
            opt.zero_grad(set_to_none=True)
            objective.backward()
            opt.step()
            step += 1
            if lr_schedule == "cosine":
                for group in opt.param_groups:
                    group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
            for cb in callbacks:
                cb(step, model)
            total_loss += float(objective.detach()) * len(idx)
            correct += int((out.argmax(1) == yb).sum())
        history.append({"epoch": epoch + 1, "loss": total_loss / len(x), "train_acc": 100.0 * correct / len(x)})
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", acc=f"{history[-1]['train_acc']:.1f}")
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
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
    """The training configuration of a baseline; ``seed`` 0 is the book's, others train the same
    recipe independently (comparisons over seeds that vary the baseline too)."""
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


#: Where the shipped baselines live (``data/baselines``: state dicts made by ``data/make_baselines.py``).
SHIPPED_DIR = "baselines"


#: Seeds of each baseline shipped with the book: 0 (every chapter), 1 and 2 (the seed tests).
SHIPPED_SEEDS = (0, 1, 2)


def shipped_name(name: str, seed: int = 0) -> str:
    """The file stem (and provenance entry) of a shipped baseline: ``lenet5``, ``lenet5-s1`` …"""
    return name if seed == 0 else f"{name}-s{seed}"


def shipped_fingerprint(name: str, seed: int = 0) -> str:
    """What a shipped baseline must have been made by: its spec (with the seed), the fingerprint of
    :func:`fit` and the data; never the machine or thread count (a shipped file is the same bits)."""
    import hashlib
    config = baseline_config(name, seed)
    payload = {"spec": _baseline_spec(config), "code": code_fingerprint(fit),
               "data": data._manifest().get("mnist_5k.npz")}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:24]


def _shipped_provenance() -> dict:
    path = data.data_path(f"{SHIPPED_DIR}/provenance.json")
    return json.loads(path.read_text()) if path.is_file() else {}


_STALE_WARNED: set[str] = set()


def shipped_baseline(name: str, seed: int = 0) -> dict | None:
    """The state dict of the shipped baseline ``name`` at ``seed``, or None (none shipped, or made by
    other code than this checkout's: a visible :class:`CacheWarning`, and it is trained)."""
    stem = shipped_name(name, seed)
    entry = _shipped_provenance().get(stem)
    if entry is None:
        return None
    if entry.get("fingerprint") != shipped_fingerprint(name, seed):
        if stem not in _STALE_WARNED:
            _STALE_WARNED.add(stem)
            warnings.warn(f"the shipped baseline {stem!r} was made by other code than this checkout's (its recipe, "
                          "training loop, model or data changed): training it instead; refresh the shipped files "
                          "with `python data/make_baselines.py`", CacheWarning, stacklevel=3)
        return None
    try:
        path = data.verify(f"{SHIPPED_DIR}/{stem}.pt")
        return torch.load(path, weights_only=True, map_location="cpu")
    except (data.DataFileError, OSError, RuntimeError) as e:
        warnings.warn(f"the shipped baseline {stem!r} cannot be used ({e}): training it instead",
                      CacheWarning, stacklevel=3)
        return None


def baseline(name: str, *, seed: int = 0, retrain: bool = False, progress: bool = True) -> nn.Module:
    """The trained baseline ``name``, from the shipped files, the cache or by training; a fresh copy
    each call (eval mode, CPU, tagged with its key). ``seed`` selects initialisation and data order.

    Seeds :data:`SHIPPED_SEEDS` ship in ``data/baselines`` (made by this recipe with
    ``data/make_baselines.py``, checksummed, used only while :func:`shipped_fingerprint` matches);
    ``retrain=True``, another seed or ``COMPANION_SEED`` train."""
    config = baseline_config(name, seed)
    if seed in SHIPPED_SEEDS and not retrain and not models.seed_offset() and not _SKELETON.get():
        state = shipped_baseline(name, seed)
        if state is not None:
            model = models.build(config.model, seed=seed)
            model.load_state_dict(state)
            return _tag(model.eval(), baseline_key(name, seed=seed))
    return cached_model(_baseline_spec(config), lambda: models.build(config.model, seed=config.seed),
                        lambda m: fit(m, epochs=config.epochs, lr=config.lr, batch_size=config.batch_size,
                                      optimizer=config.optimizer, weight_decay=config.weight_decay,
                                      seed=config.seed, shift_px=config.shift_px, progress=progress,
                                      desc=f"training {name}" + (f" (seed {seed})" if seed else "")),
                        name=f"baseline-{name}" + (f"-s{seed}" if seed else ""), refresh=retrain)
