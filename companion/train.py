"""Deterministic training and evaluation, and the trained baselines every chapter shares.

Every chapter starts from the same trained baselines (``baseline("lenet5")`` …), so every
method is compared against the same reference. Trained weights are kept in the verified cache
of :mod:`companion.cache` (:func:`cached_model` adds the training loop :func:`fit` to each key's
code fingerprint); its functions are re-exported here (``train.cached_result``, ``train.key_of`` …).
"""
from __future__ import annotations

import contextvars
import json
import os
import warnings
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn

from . import data, models
from .cache import (_KEY_ATTR, MISS, STALE_TMP_S, CacheWarning, _tag, cache_dir, cache_key, cached_result, canonical_json,
                    check_name, code_fingerprint, device, key_of, load_verified, pin_threads, save_atomic, store,
                    tensor_digest)

__all__ = ["TrainConfig", "BASELINES", "CacheWarning", "STALE_TMP_S", "device", "pin_threads", "cache_dir",
           "canonical_json", "tensor_digest", "code_fingerprint", "cache_key", "key_of", "baseline_key", "save_atomic",
           "cached_model", "cached_result", "shift_augment", "show_progress", "fit", "train_config", "evaluate",
           "predict", "baseline", "baseline_config"]

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


def cached_model(spec: Any, make: Callable[[], nn.Module], train: Callable[[nn.Module], Any] | None = None,
                 *, name: str = "model", refresh: bool = False, parents: Sequence[str] = (),
                 code: Sequence[Callable] = ()) -> nn.Module:
    """A model whose trained weights are cached: ``make()`` builds it, ``train(model)`` fits it.

    If ``make()`` returns a model from the cache (a baseline, another cached model), its key is a
    parent automatically. The key also fingerprints :func:`fit` (the training loop) and ``code``.
    The state dict is stored atomically with its checksum and loaded with ``weights_only=True``;
    the model is returned in eval mode on the CPU, tagged with its key (:func:`key_of`).

    A hit never builds, loads or trains a parent: ``make()`` first runs as a *skeleton* (every
    nested :func:`cached_model`, :func:`baseline` included, returns its untrained architecture
    tagged with its real key), which gives the key and a module to load the cached weights into.
    Only a miss (or a skeleton whose shapes do not fit the entry) runs ``make()`` for real.
    """
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
            for attempt in ("skeleton", "real"):
                try:
                    model.load_state_dict(state)
                    return _tag(model.eval(), key)
                except (RuntimeError, KeyError, TypeError, AttributeError) as e:
                    if attempt == "real":
                        warnings.warn(f"cache entry {path.name} does not fit the model ({type(e).__name__}: {e}): "
                                      "retraining", CacheWarning, stacklevel=2)
                    model = make()  # the skeleton's shapes can depend on trained weights (channel pruning)
        else:
            model = make()
    else:
        model = make()
    if train is not None:
        train(model)
    model = model.cpu().eval()
    store(model.state_dict(), path, key=key, meta={"spec": json.loads(canonical_json(spec)), "parents": parents})
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
