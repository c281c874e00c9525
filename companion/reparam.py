"""One mechanism for every weight transform and activation tap: attach, bake, remove.

Pruning masks, fake quantization, shared (k-means) weights and low-rank reconstructions all
change what a layer *sees* as its weight without throwing the trained weight away. They are all
``torch.nn.utils.parametrize`` parametrizations: a tiny module whose ``forward(w)`` returns the
transformed weight; the original stays in ``layer.parametrizations.weight.original`` and keeps
training. Activation and gradient quantizers are forward hooks. This module is the one place
that attaches, bakes and removes both kinds:

* :func:`attach` — add a transform to a layer's weight; returns a :class:`Handle` whose
  ``remove()`` takes that one transform off again (the others stay);
* :func:`bake_` — replace transforms by their current value (a plain ``nn.Parameter``);
* :func:`attach_input_hook` / :func:`attach_output_hook` — a *named* forward (pre-)hook:
  attaching under the same name again replaces the earlier hook, so hooks never stack;
* :func:`weight_layers` — the one enumeration of a model's compressible layers (``Linear`` and
  ``Conv2d`` by default), in definition order, with a clear error for unknown names.

After the design of ``torch.nn.utils.parametrize`` and ``torch.ao.pruning``'s ``FakeSparsity``
(``forward`` is ``mask * w``). Unlike ``torch.nn.utils.prune`` nothing is renamed behind the
reader's back: ``layer.weight`` always reads the transformed weight.

>>> from torch import nn
>>> layer = nn.Linear(3, 2)
>>> h = attach(layer, Scale(0.0))
>>> float(layer.weight.detach().abs().sum())
0.0
>>> h.remove(); is_transformed(layer)
False
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import torch
from torch import nn
from torch.nn.utils import parametrize

__all__ = ["LAYER_TYPES", "weight_layers", "select_layers", "attach", "transforms", "is_transformed",
           "bake_", "remove_", "Handle", "attach_input_hook", "attach_output_hook", "remove_hooks_", "hooks",
           "Scale"]

#: The layers every chapter compresses.
LAYER_TYPES: tuple[type, ...] = (nn.Linear, nn.Conv2d)


def weight_layers(model: nn.Module, types: tuple[type, ...] = LAYER_TYPES) -> dict[str, nn.Module]:
    """The model's layers of ``types`` (default ``Linear``/``Conv2d``) by module name, in definition order."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    return {n: m for n, m in model.named_modules() if isinstance(m, types)}


def select_layers(model: nn.Module, layers: Iterable[str] | Mapping[str, object] | str | None = None,
                  types: tuple[type, ...] = LAYER_TYPES) -> dict[str, nn.Module]:
    """:func:`weight_layers` restricted to ``layers`` (names, or a dict's keys; ``None``: all).

    Unknown names raise ``ValueError`` listing the layers that exist (``"fc1 "`` is not ``"fc1"``).
    """
    avail = weight_layers(model, types)
    if layers is None:
        return avail
    if isinstance(layers, str):
        layers = [layers]
    names = list(layers.keys()) if isinstance(layers, Mapping) else list(layers)
    unknown = [n for n in names if n not in avail]
    if unknown:
        raise ValueError(f"unknown layer name(s) {unknown}; layers of this model: {list(avail)}")
    if not names:
        raise ValueError("layers is empty; give at least one layer name (or None for all)")
    return {n: avail[n] for n in names}


@dataclass
class Handle:
    """What :func:`attach` and the hook helpers return: ``remove()`` undoes exactly that attachment."""

    _remove: Callable[[], None] = field(repr=False)
    description: str = ""

    def remove(self) -> None:
        self._remove()


class Scale(nn.Module):
    """The smallest transform: ``w ↦ factor·w`` (for examples and tests)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = float(factor)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.factor * w


def _check_layer(layer, name: str) -> None:
    if not isinstance(layer, nn.Module):
        raise TypeError(f"layer must be an nn.Module, got {type(layer).__name__}")
    if not isinstance(getattr(layer, name, None), torch.Tensor) and not parametrize.is_parametrized(layer, name):
        raise ValueError(f"{type(layer).__name__} has no tensor named {name!r} to transform")


def transforms(layer: nn.Module, name: str = "weight") -> list[nn.Module]:
    """The transforms attached to ``layer.<name>``, in application order (empty if none)."""
    if parametrize.is_parametrized(layer, name):
        return list(layer.parametrizations[name])
    return []


def is_transformed(layer: nn.Module, name: str = "weight") -> bool:
    """Whether ``layer.<name>`` carries at least one transform."""
    return parametrize.is_parametrized(layer, name)


def attach(layer: nn.Module, transform: nn.Module, name: str = "weight", *, unsafe: bool = False) -> Handle:
    """Add ``transform`` to ``layer.<name>`` (after any already attached); returns a :class:`Handle`.

    ``unsafe=True`` lets the transform change the shape or dtype (e.g. a shared-weight codebook
    returning a differently-laid-out tensor); see ``torch.nn.utils.parametrize``.
    """
    _check_layer(layer, name)
    if not isinstance(transform, nn.Module):
        raise TypeError(f"transform must be an nn.Module (forward(w) -> w'), got {type(transform).__name__}")
    parametrize.register_parametrization(layer, name, transform, unsafe=unsafe)

    def remove() -> None:
        plist = transforms(layer, name)
        if not any(p is transform for p in plist):
            return  # already removed or baked
        if len(plist) == 1:
            parametrize.remove_parametrizations(layer, name, leave_parametrized=False)
            return
        # torch cannot remove one of several: rebuild the list without it, on the same original
        original = layer.parametrizations[name].original
        rest = [p for p in plist if p is not transform]
        with torch.no_grad():
            keep = original.detach().clone()
        parametrize.remove_parametrizations(layer, name, leave_parametrized=False)
        with torch.no_grad():
            getattr(layer, name).copy_(keep)
        for p in rest:
            parametrize.register_parametrization(layer, name, p, unsafe=unsafe)

    return Handle(remove, f"{type(transform).__name__} on {type(layer).__name__}.{name}")


def bake_(model: nn.Module, name: str = "weight", *, only: type | tuple[type, ...] | None = None) -> nn.Module:
    """Replace the transforms of every layer by their current value, in place; returns ``model``.

    ``only`` restricts baking to layers whose transforms include an instance of ``only`` (e.g.
    only the pruning masks); a layer's transforms are always baked together, in order.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    for m in list(model.modules()):
        if not parametrize.is_parametrized(m, name):
            continue
        if only is not None and not any(isinstance(p, only) for p in transforms(m, name)):
            continue
        parametrize.remove_parametrizations(m, name, leave_parametrized=True)
    return model


def remove_(model: nn.Module, name: str = "weight") -> nn.Module:
    """Take every transform off, restoring the untransformed originals; in place; returns ``model``."""
    for m in list(model.modules()):
        if parametrize.is_parametrized(m, name):
            parametrize.remove_parametrizations(m, name, leave_parametrized=False)
    return model


_HOOKS_ATTR = "_companion_hooks"


def _named_hook(layer: nn.Module, key: str, register: Callable[[], object]) -> Handle:
    if not isinstance(layer, nn.Module):
        raise TypeError(f"layer must be an nn.Module, got {type(layer).__name__}")
    if not isinstance(key, str) or not key:
        raise ValueError(f"hook key must be a non-empty str, got {key!r}")
    table: dict = layer.__dict__.setdefault(_HOOKS_ATTR, {})
    if key in table:
        table.pop(key).remove()  # attaching again replaces: hooks never stack
    torch_handle = register()
    table[key] = torch_handle

    def remove() -> None:
        if table.get(key) is torch_handle:
            table.pop(key).remove()

    return Handle(remove, f"{key} hook on {type(layer).__name__}")


class _InputHook:
    """A pre-hook object (not a closure): ``copy.deepcopy`` of the model copies ``fn`` too, so a
    copied model's hook calls the copy's quantizer, not the original's."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, module, args):
        return (self.fn(args[0]),) + tuple(args[1:])


class _OutputHook:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, module, args, out):
        return self.fn(out)


def attach_input_hook(layer: nn.Module, key: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> Handle:
    """Transform the layer's first input with ``fn`` on every forward (a named pre-hook).

    Attaching under the same ``key`` again replaces the earlier hook. Pass a module (e.g. the
    quantizer) as ``fn`` so that a deep copy of the model hooks its own copy.
    """
    return _named_hook(layer, key, lambda: layer.register_forward_pre_hook(_InputHook(fn)))


def attach_output_hook(layer: nn.Module, key: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> Handle:
    """Transform the layer's output with ``fn`` on every forward (a named hook); same ``key`` replaces."""
    return _named_hook(layer, key, lambda: layer.register_forward_hook(_OutputHook(fn)))


def hooks(layer: nn.Module) -> list[str]:
    """Keys of the named hooks attached to ``layer`` by this module."""
    return list(layer.__dict__.get(_HOOKS_ATTR, {}))


def remove_hooks_(model: nn.Module, key: str | None = None) -> nn.Module:
    """Remove the named hooks (all, or those under ``key``) from every module; in place."""
    for m in model.modules():
        table = m.__dict__.get(_HOOKS_ATTR, {})
        for k in [k for k in table if key is None or k == key]:
            table.pop(k).remove()
    return model
