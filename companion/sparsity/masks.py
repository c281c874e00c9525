"""Unstructured magnitude pruning: keep-masks, the :class:`Mask` transform, prune / bake / inspect.

After the survey's section on network sparsification; Han et al. 2015, "Learning both Weights
and Connections for Efficient Neural Networks". A mask is a bool tensor of the weight's shape,
``True`` = kept; ``sparsity`` is the fraction of **zeros** in [0, 1).

The mask is attached through :func:`companion.reparam.attach` (the library's one mechanism for
weight transforms): the layer's ``weight`` reads ``original · mask``, so pruned weights stay
exactly zero while the network is retrained (their gradient is multiplied by the mask), and
:func:`bake_masks_` (``reparam.bake_(model, only=Mask)``) turns them back into plain weights with the
zeros kept.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import torch
from torch import nn

from .. import checks, reparam

__all__ = ["magnitude_mask", "global_magnitude_masks", "Mask", "prunable_layers", "prune_", "bake_masks_", "masks",
           "sparsity_of", "layer_sparsities", "weight_ratio"]


# --- argument checks shared by the package ---------------------------------------------------

def check_sparsity(sparsity, name: str = "sparsity") -> float:
    """``sparsity`` as a float in ``[0, 1)`` (1 would remove every weight)."""
    try:
        return checks.check_fraction(sparsity, name, open_high=True)
    except ValueError:  # same check, with the whole allowed range in the message
        raise ValueError(f"{name} must be in [0, 1) (the fraction of weights set to zero), got {sparsity!r}") from None


def check_weight(t, name: str = "weight") -> torch.Tensor:
    """A non-empty real (float or integer, not bool/complex) tensor."""
    checks.check_tensor(t, name)
    if t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{name} must be a real float/int tensor, got dtype {t.dtype}")
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(t.shape)}")
    return t


# --- masks of tensors ------------------------------------------------------------------------

def _n_prune(n: int, sparsity: float) -> int:
    # same rounding as torch.nn.utils.prune (round half to even), so both prune the same count
    return int(round(sparsity * n))


def magnitude_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Keep-mask that zeroes the ``round(sparsity·n)`` smallest-magnitude entries of ``weight``.

    ``mask = |w| > t`` with the threshold ``t`` chosen so that exactly ``k = round(sparsity·n)``
    entries are pruned (Han et al. 2015, after the survey's section on network sparsification).
    Ties are broken deterministically: among equal magnitudes the entry with the lower flat
    (row-major) index is pruned first. Same result as ``torch.nn.utils.prune.l1_unstructured``
    whenever magnitudes are distinct.

    Shapes: ``weight`` any shape ``S`` → bool mask of shape ``S`` (``True`` = kept).

    >>> magnitude_mask(torch.tensor([[0.1, -2.0], [0.5, -0.05]]), 0.5)
    tensor([[False,  True],
            [ True, False]])
    """
    weight = check_weight(weight)
    k = _n_prune(weight.numel(), check_sparsity(sparsity))
    flat = weight.detach().abs().reshape(-1)
    keep = torch.ones(flat.numel(), dtype=torch.bool, device=weight.device)
    if k > 0:
        order = torch.sort(flat, stable=True).indices  # ascending magnitude, ties by index
        keep[order[:k]] = False
    return keep.reshape(weight.shape)


def global_magnitude_masks(weights: Mapping[str, torch.Tensor], sparsity: float) -> dict[str, torch.Tensor]:
    """One threshold over several tensors: prune the ``round(sparsity·N)`` smallest of all ``N`` entries.

    Layers with small weights (often the large ones) then lose more than the others. Ties are
    broken by the order of ``weights`` and then by flat index. ``{name: [S_i]}`` → ``{name: bool [S_i]}``.
    """
    if not isinstance(weights, Mapping) or not weights:
        raise ValueError(f"weights must be a non-empty mapping name -> tensor, got {type(weights).__name__}")
    flat = torch.cat([check_weight(w, f"weight {n!r}").detach().reshape(-1) for n, w in weights.items()])
    keep = magnitude_mask(flat, sparsity)
    out, i = {}, 0
    for n, w in weights.items():
        out[n] = keep[i:i + w.numel()].reshape(w.shape)
        i += w.numel()
    return out


class Mask(nn.Module):
    """The pruning transform ``weight = original · mask`` (``mask``: a bool buffer of the weight's shape).

    The gradient reaching ``original`` is multiplied by the mask, so pruned weights stay zero
    during retraining. The pattern of ``torch.ao.pruning``'s ``FakeSparsity``; attach it with
    :func:`companion.reparam.attach`.
    """

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        checks.check_tensor(mask, "mask")
        self.register_buffer("mask", mask.detach().clone().bool())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask.to(x.dtype)


# --- masks on a model -------------------------------------------------------------------------

def prunable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The model's ``nn.Linear`` and ``nn.Conv2d`` modules by name, in definition order.

    A thin alias of :func:`companion.reparam.weight_layers`, the library's one layer enumeration.
    """
    return reparam.weight_layers(checks.check_model(model))


def mask_of(layer: nn.Module) -> Mask | None:
    """The :class:`Mask` attached to ``layer.weight``, or ``None``."""
    return next((t for t in reparam.transforms(layer) if isinstance(t, Mask)), None)


def set_mask_(layer: nn.Module, mask: torch.Tensor) -> None:
    """Attach ``mask`` to ``layer.weight``, or overwrite the attached one in place (an optimiser
    holding the layer's ``original`` parameter stays valid, and masks never stack)."""
    existing = mask_of(layer)
    if existing is not None:
        existing.mask.copy_(mask)
    else:
        reparam.attach(layer, Mask(mask))


def prune_(model: nn.Module, sparsity: float | Mapping[str, float], *, scope: str = "layer",
           layers: Iterable[str] | None = None) -> nn.Module:
    """Attach magnitude masks to the weights of ``model`` (in place); returns ``model``.

    * ``scope="layer"``: every layer gets its own threshold — ``sparsity`` is one number for all
      selected layers or a dict ``{layer name: sparsity}`` (Han et al. 2015 prune per layer);
    * ``scope="global"``: one threshold over all selected layers together (one number only).

    ``layers`` selects layers by module name (default: every ``Linear``/``Conv2d``; with a dict
    the dict's keys). Masks are computed on the *current* (already masked) weights, so calling
    again with a higher sparsity prunes further and never revives a pruned weight. Biases are
    never pruned. Pruned weights stay zero during retraining; :func:`bake_masks_` makes them plain.

    >>> m = nn.Linear(4, 2); _ = prune_(m, 0.5); int((m.weight == 0).sum())
    4
    """
    checks.check_model(model)
    checks.check_choice(scope, "scope", ("layer", "global"))
    if isinstance(layers, str):
        layers = [layers]
    if isinstance(sparsity, Mapping):
        if scope == "global":
            raise ValueError("scope='global' takes one sparsity for all layers, not a dict")
        if layers is not None and set(layers) != set(sparsity):
            raise ValueError(f"layers {list(layers)} and the sparsity dict's keys {list(sparsity)} differ")
        chosen = reparam.select_layers(model, list(sparsity))
        per_layer = {n: check_sparsity(s, f"sparsity of {n!r}") for n, s in sparsity.items()}
    else:
        s = check_sparsity(sparsity)
        chosen = reparam.select_layers(model, layers)
        per_layer = {n: s for n in chosen}
    with torch.no_grad():
        if scope == "global":
            new = global_magnitude_masks({n: m.weight for n, m in chosen.items()}, per_layer[next(iter(chosen))])
        else:
            new = {n: magnitude_mask(m.weight, per_layer[n]) for n, m in chosen.items()}
        for n, m in chosen.items():
            set_mask_(m, new[n])
    return model


def bake_masks_(model: nn.Module) -> nn.Module:
    """Replace every layer's pruning mask by its value: plain weights with the zeros kept (in place).

    ``reparam.bake_(model, only=Mask)``; returns ``model``.
    """
    return reparam.bake_(checks.check_model(model), only=Mask)


def masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """The attached keep-masks by layer name (bool tensors; ``True`` = kept). Empty once baked —
    use ``{n: m.weight != 0 for n, m in prunable_layers(model).items()}`` for a baked model."""
    checks.check_model(model)
    return {n: p.mask.clone() for n, m in model.named_modules() if (p := mask_of(m)) is not None}


def sparsity_of(t: torch.Tensor) -> float:
    """Fraction of exact zeros in ``t``: ``#{t == 0} / t.numel()``."""
    t = check_weight(t, "tensor")
    return float((t == 0).sum()) / t.numel()


def layer_sparsities(model: nn.Module) -> dict[str, float]:
    """Fraction of zero weights of every ``Linear``/``Conv2d`` layer (masks applied)."""
    return {n: sparsity_of(m.weight.detach()) for n, m in prunable_layers(model).items()}


def weight_ratio(model: nn.Module, *, include_bias: bool = False) -> float:
    """``weights / non-zero weights`` over the prunable layers (Han et al.'s "compression rate" of
    pruning); ``include_bias=True`` counts the (never pruned) biases in both."""
    total = nonzero = 0
    for m in prunable_layers(model).values():
        w = m.weight.detach()
        total += w.numel()
        nonzero += int((w != 0).sum())
        if include_bias and m.bias is not None:
            total += m.bias.numel()
            nonzero += int((m.bias != 0).sum())
    if nonzero == 0:
        raise ValueError("the model has no non-zero weight left")
    return total / nonzero
