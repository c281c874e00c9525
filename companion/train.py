"""Deterministic training and evaluation, and an on-disk cache of trained models.

Every chapter starts from the same trained baselines (``baseline("lenet5")`` …), so every
method is compared against the same reference. Trained weights live in the user's cache
directory (``$COMPANION_CACHE``, else ``$XDG_CACHE_HOME/companion``, else
``~/.cache/companion``), keyed by a hash of the training configuration, written atomically
and read back with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn

from . import data, models

__all__ = ["TrainConfig", "BASELINES", "device", "cache_dir", "cache_key", "save_atomic",
           "cached_model", "cached_result", "shift_augment", "show_progress", "fit", "train_config", "evaluate", "predict", "baseline",
           "baseline_config", "CACHE_VERSION"]

#: Bump to invalidate every cached artefact (e.g. after a change to the training loop).
CACHE_VERSION = 1


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
    """``cuda`` when a GPU is present (and ``COMPANION_DEVICE`` does not say otherwise), else CPU."""
    want = os.environ.get("COMPANION_DEVICE")
    if want:
        return torch.device(want)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cache_dir() -> Path:
    """Folder of cached artefacts (created on demand)."""
    root = os.environ.get("COMPANION_CACHE")
    if root:
        path = Path(root)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "companion"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_key(spec: Any) -> str:
    """Hex digest of a JSON-able spec, the data checksum, the device type and :data:`CACHE_VERSION`."""
    payload = {
        "spec": spec,
        "version": CACHE_VERSION,
        "data": data._manifest().get("mnist_5k.npz"),
        "device": device().type,
        "torch": ".".join(torch.__version__.split(".")[:2]),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def cached_result(spec: Any, compute: Callable[[], Any], *, name: str = "result", refresh: bool = False) -> Any:
    """Compute once, then load: for sweeps and tables made of tensors, numbers, lists and dicts.

    ``spec`` must identify the computation completely (it is hashed into the file name).
    """
    path = cache_dir() / f"{name}-{cache_key(spec)}.pt"
    if path.is_file() and not refresh:
        try:
            return torch.load(path, weights_only=True)
        except Exception:  # a corrupted or foreign file: recompute
            pass
    result = compute()
    save_atomic(result, path)
    return result


def cached_model(spec: Any, make: Callable[[], nn.Module], train: Callable[[nn.Module], Any] | None = None,
                 *, name: str = "model", refresh: bool = False) -> nn.Module:
    """A model whose trained weights are cached: ``make()`` builds it, ``train(model)`` fits it.

    The state dict is stored (atomically) and loaded with ``weights_only=True``; the model is
    returned in eval mode on the CPU.
    """
    model = make()
    path = cache_dir() / f"{name}-{cache_key(spec)}.pt"
    if path.is_file() and not refresh:
        try:
            model.load_state_dict(torch.load(path, weights_only=True, map_location="cpu"))
            return model.eval()
        except Exception:
            model = make()
    if train is not None:
        train(model)
    model = model.cpu().eval()
    save_atomic(model.state_dict(), path)
    return model


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
        progress: bool = True, desc: str | None = None) -> list[dict[str, float]]:
    """Train ``model`` in place with cross-entropy (+ ``regularizer(model)``); deterministic for a seed.

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
            loss = nn.functional.cross_entropy(out, yb)
            if regularizer is not None:
                loss = loss + regularizer(model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            for cb in callbacks:
                cb(step, model)
            total_loss += float(loss.detach()) * len(idx)
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


def baseline_config(name: str) -> TrainConfig:
    """The training configuration of a baseline (``"lenet300"``, ``"lenet5"``, ``"cnn"``)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of {sorted(BASELINES)}; got {type(name).__name__}")
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; allowed: {sorted(BASELINES)}")
    return BASELINES[name]


def train_config(config: TrainConfig, progress: bool = True) -> nn.Module:
    """Train a model from scratch according to ``config`` (no cache)."""
    model = models.build(config.model, seed=config.seed)
    fit(model, epochs=config.epochs, lr=config.lr, batch_size=config.batch_size, optimizer=config.optimizer,
        weight_decay=config.weight_decay, seed=config.seed, shift_px=config.shift_px, progress=progress,
        desc=f"training {config.model}")
    return model.cpu().eval()


def baseline(name: str, *, retrain: bool = False, progress: bool = True) -> nn.Module:
    """The trained baseline ``name`` (``"lenet300"``, ``"lenet5"``, ``"cnn"``), from the cache or by training.

    A fresh copy each call (eval mode, CPU): changing it never changes the cached weights.
    """
    config = baseline_config(name)
    return cached_model({"baseline": asdict(config)}, lambda: models.build(config.model, seed=config.seed),
                        lambda m: fit(m, epochs=config.epochs, lr=config.lr, batch_size=config.batch_size,
                                      optimizer=config.optimizer, weight_decay=config.weight_decay,
                                      seed=config.seed, shift_px=config.shift_px, progress=progress,
                                      desc=f"training {name}"),
                        name=f"baseline-{name}", refresh=retrain)
