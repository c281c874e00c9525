"""Network sparsification: magnitude pruning, structured pruning, N:M sparsity, sparse formats.

After the survey's section on network sparsification (Deng et al. 2020). Three granularities:

* **unstructured** — zero single weights by magnitude (Han et al. 2015, "Learning both Weights
  and Connections"): :func:`magnitude_mask`, :func:`prune_`, :func:`iterative_prune`, and the
  gradual polynomial schedule of Zhu & Gupta 2017 (:func:`polynomial_schedule`,
  :func:`gradual_prune`);
* **structured** — remove whole filters / neurons by their L1 norm (Li et al. 2017, "Pruning
  Filters for Efficient ConvNets"), physically shrinking the layers (:func:`prune_channels`),
  helped by group-lasso regularisation (Wen et al. 2016, structured sparsity learning,
  :func:`group_lasso_penalty`);
* **semi-structured N:M** — at most N non-zeros in every group of M consecutive weights
  (:func:`nm_mask`, :func:`prune_nm_`), the 2:4 pattern of NVIDIA's sparse tensor cores.

Masks are attached with ``torch.nn.utils.parametrize``: the layer's ``weight`` becomes
``original * mask``, so pruned weights stay exactly zero while the network is retrained (their
gradient is multiplied by the mask), and :func:`bake_` turns them back into plain weights with
the zeros kept. Sparse weights are stored in CSR/CSC (:func:`csr_encode`) or in Deep
Compression's relative-index format with padding zeros (Han et al. 2016,
:func:`relative_index_encode`); the size functions count every index bit through
:func:`companion.metrics.storage_bits`.

Conventions: ``sparsity`` is the fraction of **zeros** in [0, 1); a mask is a bool tensor,
``True`` = weight kept. Functions that change a model in place end in ``_``.
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize

from . import exercises, metrics, train

__all__ = [
    # unstructured
    "magnitude_mask", "global_magnitude_masks", "Mask", "prunable_layers", "prune_", "bake_", "masks",
    "sparsity_of", "layer_sparsities", "weight_ratio", "geometric_schedule", "polynomial_schedule",
    "iterative_prune", "gradual_prune",
    # structured and N:M
    "channel_norms", "select_channels", "prune_channels", "zero_channels_", "group_lasso_penalty",
    "nm_mask", "prune_nm_",
    # activations
    "activation_sparsity", "input_sparsity",
    # formats and sizes
    "CSR", "csr_encode", "csr_decode", "csc_encode", "csc_decode", "csr_size_bits",
    "relative_index_encode", "relative_index_decode", "relative_index_size_bits", "bitmask_size_bits",
    "sparse_size_bits", "sparse_storage", "FORMATS",
    # analysis and speed
    "sensitivity_sweep", "sparsities_from_sensitivity", "time_sparse_linear", "baseline_sensitivity",
    # cached recipes of the chapter
    "METHODS", "pruned_model", "channel_pruned_model", "group_lasso_model", "nm_pruned_model",
    "SWEEP_SPARSITIES", "EXERCISE_MATRIX", "EXERCISE_ROW",
]

_LAYER_TYPES = (nn.Linear, nn.Conv2d)


# --- checks ----------------------------------------------------------------------------------

def _check_sparsity(sparsity, name: str = "sparsity") -> float:
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1), got {type(sparsity).__name__} {sparsity!r}")
    s = float(sparsity)
    if not 0.0 <= s < 1.0:
        raise ValueError(f"{name} must be in [0, 1) (the fraction of weights set to zero), got {sparsity!r}")
    return s


def _check_tensor(t, name: str = "weight") -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    if t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{name} must be a real float/int tensor, got dtype {t.dtype}")
    return t


def _check_model(model) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    return model


# --- unstructured magnitude pruning ------------------------------------------------------------

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
    weight = _check_tensor(weight)
    s = _check_sparsity(sparsity)
    k = _n_prune(weight.numel(), s)
    flat = weight.detach().abs().reshape(-1)
    keep = torch.ones(flat.numel(), dtype=torch.bool, device=weight.device)
    if k > 0:
        order = torch.sort(flat, stable=True).indices  # ascending magnitude, ties by index
        keep[order[:k]] = False
    return keep.reshape(weight.shape)


def global_magnitude_masks(weights: Mapping[str, torch.Tensor], sparsity: float) -> dict[str, torch.Tensor]:
    """One threshold over several tensors: prune the ``round(sparsity·N)`` smallest of all ``N`` entries.

    Layers with small weights (often the large ones) then lose more than the others. Ties are
    broken by the order of ``weights`` and then by flat index.
    """
    if not isinstance(weights, Mapping) or not weights:
        raise ValueError("weights must be a non-empty mapping name -> tensor")
    flat = torch.cat([_check_tensor(w, f"weight {n!r}").detach().reshape(-1) for n, w in weights.items()])
    keep = magnitude_mask(flat, sparsity)
    out, i = {}, 0
    for n, w in weights.items():
        out[n] = keep[i:i + w.numel()].reshape(w.shape)
        i += w.numel()
    return out


class Mask(nn.Module):
    """Parametrization ``weight = original · mask`` (``mask``: a bool buffer of the weight's shape).

    The gradient reaching ``original`` is multiplied by the mask, so pruned weights stay zero
    during retraining. The pattern of ``torch.ao.pruning``'s ``FakeSparsity``.
    """

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask.detach().clone().bool())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask.to(x.dtype)


def prunable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The model's ``nn.Linear`` and ``nn.Conv2d`` modules by name, in definition order."""
    _check_model(model)
    return {n: m for n, m in model.named_modules() if isinstance(m, _LAYER_TYPES)}


def _select_layers(model: nn.Module, layers: Iterable[str] | None) -> dict[str, nn.Module]:
    avail = prunable_layers(model)
    if layers is None:
        return avail
    if isinstance(layers, str):
        layers = [layers]
    out = {}
    for n in layers:
        if n not in avail:
            raise ValueError(f"unknown layer {n!r}; prunable layers of this model: {list(avail)}")
        out[n] = avail[n]
    if not out:
        raise ValueError("layers is empty; give at least one layer name")
    return out


def _mask_param(module: nn.Module) -> Mask | None:
    if parametrize.is_parametrized(module, "weight"):
        for p in module.parametrizations["weight"]:
            if isinstance(p, Mask):
                return p
    return None


def _set_mask(module: nn.Module, mask: torch.Tensor) -> None:
    existing = _mask_param(module)
    if existing is not None:
        existing.mask.copy_(mask)  # in place: an optimiser holding ``original`` stays valid
    else:
        parametrize.register_parametrization(module, "weight", Mask(mask))


def prune_(model: nn.Module, sparsity: float | Mapping[str, float], *, scope: str = "layer",
           layers: Iterable[str] | None = None) -> nn.Module:
    """Attach magnitude masks to the weights of ``model`` (in place); returns ``model``.

    * ``scope="layer"``: every layer gets its own threshold — ``sparsity`` is one number for all
      selected layers or a dict ``{layer name: sparsity}`` (Han et al. 2015 prune per layer);
    * ``scope="global"``: one threshold over all selected layers together (one number only).

    ``layers`` selects layers by module name (default: every ``Linear``/``Conv2d``; with a dict
    the dict's keys). Masks are computed on the *current* (already masked) weights, so calling
    again with a higher sparsity prunes further and never revives a pruned weight. Biases are
    never pruned. Pruned weights stay zero during retraining; :func:`bake_` makes them plain.

    >>> m = nn.Linear(4, 2); _ = prune_(m, 0.5); int((m.weight == 0).sum())
    4
    """
    _check_model(model)
    if scope not in ("layer", "global"):
        raise ValueError(f"scope must be 'layer' or 'global', got {scope!r}")
    if isinstance(sparsity, Mapping):
        if scope == "global":
            raise ValueError("scope='global' takes one sparsity for all layers, not a dict")
        if layers is not None and set(layers) != set(sparsity):
            raise ValueError(f"layers {list(layers)} and the sparsity dict's keys {list(sparsity)} differ")
        chosen = _select_layers(model, list(sparsity))
        per_layer = {n: _check_sparsity(s, f"sparsity of {n!r}") for n, s in sparsity.items()}
    else:
        s = _check_sparsity(sparsity)
        chosen = _select_layers(model, layers)
        per_layer = {n: s for n in chosen}
    with torch.no_grad():
        if scope == "global":
            new = global_magnitude_masks({n: m.weight for n, m in chosen.items()}, per_layer[next(iter(chosen))])
        else:
            new = {n: magnitude_mask(m.weight, per_layer[n]) for n, m in chosen.items()}
        for n, m in chosen.items():
            _set_mask(m, new[n])
    return model


def bake_(model: nn.Module) -> nn.Module:
    """Remove every mask parametrization, keeping the masked (zeroed) weights as plain parameters."""
    _check_model(model)
    for m in model.modules():
        if _mask_param(m) is not None:
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
    return model


def masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """The attached keep-masks by layer name (bool tensors; ``True`` = kept). Empty once baked —
    use ``{n: m.weight != 0 for n, m in prunable_layers(model).items()}`` for a baked model."""
    _check_model(model)
    return {n: p.mask.clone() for n, m in model.named_modules() if (p := _mask_param(m)) is not None}


def sparsity_of(t: torch.Tensor) -> float:
    """Fraction of exact zeros in ``t``."""
    t = _check_tensor(t, "tensor")
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


# --- schedules -------------------------------------------------------------------------------

def geometric_schedule(final_sparsity: float, steps: int) -> list[float]:
    """Sparsities of ``steps`` prune → retrain rounds that keep the same *fraction* each round:
    density after round ``i`` is ``(1 − s_f)^(i/steps)`` (Han et al. 2015's iterative pruning)."""
    s = _check_sparsity(final_sparsity, "final_sparsity")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    return [1.0 - (1.0 - s) ** (i / steps) for i in range(1, steps + 1)]


def polynomial_schedule(step: int, final_sparsity: float, *, begin_step: int, end_step: int,
                        initial_sparsity: float = 0.0, power: int = 3) -> float:
    """Zhu & Gupta 2017's gradual schedule ``s_t = s_f + (s_i − s_f)·(1 − (t − t_0)/(t_1 − t_0))^power``.

    Before ``begin_step`` it is ``initial_sparsity``, after ``end_step`` ``final_sparsity``: prune
    fast while the network is redundant, slowly as fewer weights remain.

    >>> polynomial_schedule(50, 0.9, begin_step=0, end_step=100)
    0.7875
    """
    s_f = _check_sparsity(final_sparsity, "final_sparsity")
    s_i = _check_sparsity(initial_sparsity, "initial_sparsity")
    if not (isinstance(begin_step, int) and isinstance(end_step, int)) or end_step <= begin_step or begin_step < 0:
        raise ValueError(f"need integer steps with 0 <= begin_step < end_step, got {begin_step!r}, {end_step!r}")
    if not isinstance(power, int) or power < 1:
        raise ValueError(f"power must be a positive int, got {power!r}")
    t = min(max(step, begin_step), end_step)
    frac = (t - begin_step) / (end_step - begin_step)
    return s_f + (s_i - s_f) * (1.0 - frac) ** power


def _targets(model: nn.Module, targets) -> dict[str, float]:
    if isinstance(targets, Mapping):
        _select_layers(model, list(targets))
        return {n: _check_sparsity(s, f"target of {n!r}") for n, s in targets.items()}
    s = _check_sparsity(targets, "targets")
    return {n: s for n in prunable_layers(model)}


def iterative_prune(model: nn.Module, targets: float | Mapping[str, float], *, steps: int, epochs_per_step: int,
                    lr: float = 5e-4, weight_decay: float = 0.0, seed: int = 0, shift_px: int = 0,
                    batch_size: int = 64, progress: bool = True, eval_split: str = "val") -> list[dict]:
    """Han et al. 2015's loop: ``steps`` rounds of *prune → retrain* up to the target sparsities.

    Round ``i`` prunes every layer to its :func:`geometric_schedule` sparsity, then retrains
    ``epochs_per_step`` epochs with the masks attached (so pruned weights stay zero).
    ``targets``: one sparsity for every prunable layer or ``{layer: sparsity}``. The model is
    changed in place and keeps its masks (call :func:`bake_` when done). Returns one dict per
    round: ``{"step", "sparsity": {layer: s}, "ratio", "acc_pruned", "acc_retrained"}`` (accuracies
    in % on ``eval_split``, right after pruning and after retraining).
    """
    _check_model(model)
    tg = _targets(model, targets)
    if not isinstance(epochs_per_step, int) or epochs_per_step < 0:
        raise ValueError(f"epochs_per_step must be a non-negative int, got {epochs_per_step!r}")
    schedules = {n: geometric_schedule(s, steps) for n, s in tg.items()}
    history = []
    for i in range(steps):
        current = {n: schedules[n][i] for n in tg}
        prune_(model, current)
        acc_pruned = train.evaluate(model, eval_split)
        if epochs_per_step:
            train.fit(model, epochs=epochs_per_step, lr=lr, weight_decay=weight_decay, seed=seed + i,
                      shift_px=shift_px, batch_size=batch_size, progress=progress,
                      desc=f"prune step {i + 1}/{steps}")
        history.append({"step": i + 1, "sparsity": current, "ratio": weight_ratio(model),
                        "acc_pruned": acc_pruned, "acc_retrained": train.evaluate(model, eval_split)})
    return history


def gradual_prune(model: nn.Module, targets: float | Mapping[str, float], *, epochs: int,
                  prune_fraction: float = 0.75, frequency: int = 10, lr: float = 5e-4, weight_decay: float = 0.0,
                  seed: int = 0, shift_px: int = 0, batch_size: int = 64, progress: bool = True) -> list[dict]:
    """Zhu & Gupta 2017: raise the sparsity while training along :func:`polynomial_schedule`.

    Training runs ``epochs`` epochs; the sparsity rises from 0 to the targets during the first
    ``prune_fraction`` of the optimiser steps, re-pruning every ``frequency`` steps, and the rest
    fine-tunes at the final sparsity. In place, masks kept. Returns ``[{"step", "sparsity"}]``,
    one entry per re-pruning (the mean target-weighted sparsity over layers).
    """
    _check_model(model)
    tg = _targets(model, targets)
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not 0 < prune_fraction <= 1:
        raise ValueError(f"prune_fraction must be in (0, 1], got {prune_fraction!r}")
    if not isinstance(frequency, int) or frequency < 1:
        raise ValueError(f"frequency must be a positive int, got {frequency!r}")
    x, _ = train._as_xy("train")
    steps_per_epoch = math.ceil(len(x) / batch_size)
    end = max(1, int(prune_fraction * epochs * steps_per_epoch))
    prune_(model, {n: 0.0 for n in tg})  # attach masks before the optimiser is built
    log: list[dict] = []

    def callback(step: int, m: nn.Module) -> None:
        if step % frequency == 0 and step <= end or step == end:
            cur = {n: polynomial_schedule(step, s, begin_step=0, end_step=end) for n, s in tg.items()}
            prune_(m, cur)
            log.append({"step": step, "sparsity": cur})

    train.fit(model, epochs=epochs, lr=lr, weight_decay=weight_decay, seed=seed, shift_px=shift_px,
              batch_size=batch_size, callbacks=[callback], progress=progress, desc="gradual pruning")
    prune_(model, tg)  # exactly the targets at the end
    return log


# --- structured pruning ----------------------------------------------------------------------

def channel_norms(weight: torch.Tensor, p: int = 1) -> torch.Tensor:
    """Lp norm of each output channel (filter) / neuron: ``‖W[c]‖_p`` over all but dim 0.

    ``weight``: ``[C_out, ...]`` (a conv's ``[C_out, C_in, k, k]`` or a linear's ``[out, in]``)
    → ``[C_out]``. Li et al. 2017 rank filters by the L1 norm.
    """
    weight = _check_tensor(weight)
    if weight.dim() < 2:
        raise ValueError(f"weight must have >= 2 dims [C_out, ...], got shape {tuple(weight.shape)}")
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p!r}")
    return weight.detach().reshape(weight.shape[0], -1).norm(p=p, dim=1)


def select_channels(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Indices (ascending) of the channels kept when a fraction ``sparsity`` of them with the
    smallest L1 norm is removed (ties: lower index removed first); at least one channel is kept."""
    norms = channel_norms(weight)
    keep = magnitude_mask(norms, sparsity)
    if not keep.any():
        keep[int(norms.argmax())] = True
    return torch.nonzero(keep).reshape(-1)


def _chain(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return list(prunable_layers(model).items())


def prune_channels(model: nn.Module, sparsity: float | Mapping[str, float], *,
                   layers: Iterable[str] | None = None) -> nn.Module:
    """A physically smaller copy of ``model`` with the lowest-L1 filters/neurons removed (Li et al. 2017).

    For each pruned layer ``L`` (a ``Conv2d``'s output channels or a ``Linear``'s output
    neurons), the kept rows of ``L.weight``/``L.bias`` are copied into a smaller layer, and the
    next layer loses the matching inputs: a conv its input channels, a linear its input
    features (after a flatten, ``features = channels · H · W``, channel-major). Assumes a chain
    network whose ``Linear``/``Conv2d`` layers run in definition order (LeNet-300-100, LeNet-5,
    the small CNN). The last layer (the classifier) cannot be pruned. ``sparsity``: one fraction
    for ``layers`` (default: every layer but the last) or ``{layer: fraction}``. The original
    model is not changed; the copy computes exactly what the original computes with the removed
    channels' weights and biases set to zero (see :func:`zero_channels_`).
    """
    _check_model(model)
    chain = _chain(model)
    names = [n for n, _ in chain]
    if isinstance(sparsity, Mapping):
        plan = {n: _check_sparsity(s, f"sparsity of {n!r}") for n, s in sparsity.items()}
    else:
        s = _check_sparsity(sparsity)
        plan = {n: s for n in (layers if layers is not None else names[:-1])}
    for n in plan:
        if n not in names:
            raise ValueError(f"unknown layer {n!r}; layers of this model: {names}")
        if n == names[-1]:
            raise ValueError(f"{n!r} is the classifier (last layer); its outputs cannot be removed")
    keep = {n: select_channels(dict(chain)[n].weight, s) for n, s in plan.items()}
    return _shrink(model, keep)


def _shrink(model: nn.Module, keep: Mapping[str, torch.Tensor]) -> nn.Module:
    new = copy.deepcopy(model)
    bake_(new)
    chain = _chain(new)
    modules = dict(new.named_modules())
    replaced: dict[str, nn.Module] = {n: m for n, m in chain}
    for i, (name, _) in enumerate(chain):
        if name not in keep:
            continue
        idx = keep[name]
        cur = replaced[name]
        nxt_name = chain[i + 1][0]
        nxt = replaced[nxt_name]
        with torch.no_grad():
            if isinstance(cur, nn.Conv2d):
                small = nn.Conv2d(cur.in_channels, len(idx), cur.kernel_size, cur.stride, cur.padding,
                                  cur.dilation, cur.groups, cur.bias is not None)
                if cur.groups != 1:
                    raise ValueError(f"{name!r}: grouped convolutions are not supported")
            else:
                small = nn.Linear(cur.in_features, len(idx), cur.bias is not None)
            small.weight.copy_(cur.weight[idx])
            if cur.bias is not None:
                small.bias.copy_(cur.bias[idx])
            out_ch = cur.weight.shape[0]
            if isinstance(nxt, nn.Conv2d):
                nsmall = nn.Conv2d(len(idx), nxt.out_channels, nxt.kernel_size, nxt.stride, nxt.padding,
                                   nxt.dilation, nxt.groups, nxt.bias is not None)
                nsmall.weight.copy_(nxt.weight[:, idx])
            else:
                if nxt.in_features % out_ch:
                    raise ValueError(f"cannot map {out_ch} channels of {name!r} onto {nxt.in_features} inputs of "
                                     f"{nxt_name!r}")
                per = nxt.in_features // out_ch  # spatial positions per channel after flatten
                cols = (idx[:, None] * per + torch.arange(per)[None, :]).reshape(-1)
                nsmall = nn.Linear(len(cols), nxt.out_features, nxt.bias is not None)
                nsmall.weight.copy_(nxt.weight[:, cols])
            if nxt.bias is not None:
                nsmall.bias.copy_(nxt.bias)
        replaced[name], replaced[nxt_name] = small, nsmall
    for name, m in replaced.items():
        parent_name, _, attr = name.rpartition(".")
        parent = modules[parent_name] if parent_name else new
        setattr(parent, attr, m)
    return new.eval()


def zero_channels_(model: nn.Module, keep: Mapping[str, torch.Tensor]) -> nn.Module:
    """Zero the weights and biases of every channel *not* in ``keep[layer]`` (in place): the
    dense twin of :func:`prune_channels`, for tests and for comparing the two."""
    layers = _select_layers(model, list(keep))
    with torch.no_grad():
        for n, m in layers.items():
            drop = torch.ones(m.weight.shape[0], dtype=torch.bool)
            drop[keep[n]] = False
            m.weight[drop] = 0
            if m.bias is not None:
                m.bias[drop] = 0
    return model


def group_lasso_penalty(strength: float, layers: Iterable[str] | None = None) -> Callable[[nn.Module], torch.Tensor]:
    """Regulariser for :func:`companion.train.fit`: ``λ · Σ_layers Σ_c ‖W[c]‖_2`` (one group per filter/neuron).

    Structured sparsity learning (Wen et al. 2016): the L2 norm of a group is not differentiable
    at 0 and its gradient has constant length, so whole groups are driven to (near) zero — which
    makes filters cheap to remove afterwards with :func:`prune_channels`. The default ``layers``
    are all but the last.
    """
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or strength < 0:
        raise ValueError(f"strength must be a number >= 0, got {strength!r}")
    chosen = list(layers) if layers is not None else None

    def penalty(model: nn.Module) -> torch.Tensor:
        avail = prunable_layers(model)
        names = chosen if chosen is not None else list(avail)[:-1]
        total = torch.zeros(())
        for n in names:
            if n not in avail:
                raise ValueError(f"unknown layer {n!r}; layers of this model: {list(avail)}")
            w = avail[n].weight
            total = total.to(w.device) + w.reshape(w.shape[0], -1).norm(dim=1).sum()
        return strength * total
    return penalty


# --- N:M semi-structured -----------------------------------------------------------------------

def nm_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Keep the ``n`` largest-magnitude weights in every group of ``m`` consecutive inputs.

    Groups run along the input dimension of ``weight`` viewed as ``[C_out, K]`` (``K`` = all
    but dim 0, row-major; for a conv ``C_in·k·k``), which must be divisible by ``m``. 2:4 is the
    pattern NVIDIA's Ampere sparse tensor cores run at twice the dense speed (Mishra et al. 2021).
    Sparsity is ``1 − n/m`` exactly. Ties: the lower index is kept.
    """
    weight = _check_tensor(weight)
    for nm_, v in (("n", n), ("m", m)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{nm_} must be a positive int, got {v!r}")
    if n > m:
        raise ValueError(f"N:M needs n <= m (keep n of every m weights), got n={n}, m={m}")
    if weight.dim() < 2:
        raise ValueError(f"weight must have >= 2 dims [C_out, K], got shape {tuple(weight.shape)}")
    k = weight[0].numel()
    if k % m:
        raise ValueError(f"the input size {k} of weight {tuple(weight.shape)} is not divisible by m={m}")
    groups = weight.detach().abs().reshape(-1, m)
    # stable descending sort: equal magnitudes keep the lower index first
    order = torch.sort(groups, dim=1, descending=True, stable=True).indices
    keep = torch.zeros_like(groups, dtype=torch.bool)
    keep.scatter_(1, order[:, :n], True)
    return keep.reshape(weight.shape)


def prune_nm_(model: nn.Module, n: int, m: int, *, layers: Iterable[str] | None = None) -> nn.Module:
    """Attach :func:`nm_mask` masks to ``layers`` (default: every layer whose input size divides by ``m``)."""
    _check_model(model)
    if layers is None:
        chosen = {k: v for k, v in prunable_layers(model).items() if v.weight[0].numel() % m == 0}
    else:
        chosen = _select_layers(model, layers)
    with torch.no_grad():
        for name, mod in chosen.items():
            _set_mask(mod, nm_mask(mod.weight, n, m))
    return model


# --- activation sparsity ------------------------------------------------------------------------

def _trace(model: nn.Module, x: torch.Tensor, which: str) -> dict[str, float]:
    _check_model(model)
    x = _check_tensor(x, "x")
    layers = prunable_layers(model)
    out: dict[str, float] = {}

    def hook_for(name):
        def hook(mod, inputs, output):
            t = inputs[0] if which == "input" else output
            out[name] = float((t <= 0).sum() if which == "relu" else (t == 0).sum()) / t.numel()
        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in layers.items()]
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    return out


def activation_sparsity(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Fraction of each hidden layer's outputs that a following ReLU sets to zero (output ≤ 0), on inputs ``x``.

    The last layer (logits, no ReLU) is left out. This is the "free" sparsity that Cnvlutin
    and EIE skip in hardware (after the survey's section on sparse accelerators).
    """
    result = _trace(model, x, "relu")
    last = list(prunable_layers(model))[-1]
    result.pop(last, None)
    return result


def input_sparsity(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Fraction of exact zeros in each layer's *input* (after ReLU and pooling), on inputs ``x``."""
    return _trace(model, x, "input")


# --- sparse formats ----------------------------------------------------------------------------

@dataclass(frozen=True)
class CSR:
    """Compressed sparse row (``format="csr"``) or column (``"csc"``) storage of a 2-D matrix.

    CSR: ``values[j]`` and ``indices[j]`` (its column) for the non-zeros in row-major order;
    row ``r`` owns ``values[ptr[r]:ptr[r+1]]``. CSC is the same for the transpose (EIE stores
    weights column-wise so that a zero activation skips a whole column).
    """

    values: torch.Tensor
    indices: torch.Tensor
    ptr: torch.Tensor
    shape: tuple[int, int]
    format: str = "csr"

    @property
    def nnz(self) -> int:
        return int(self.values.numel())


def _as_2d(dense: torch.Tensor) -> torch.Tensor:
    dense = _check_tensor(dense, "dense")
    if dense.dim() < 2:
        raise ValueError(f"need a matrix (>= 2 dims; more are flattened to [rows, -1]), got shape {tuple(dense.shape)}")
    return dense.detach().reshape(dense.shape[0], -1)


def csr_encode(dense: torch.Tensor) -> CSR:
    """CSR of a matrix (``[rows, ...]`` is flattened to ``[rows, cols]``); zeros are not stored.

    ``values`` (nnz), ``indices`` (nnz column indices, int64), ``ptr`` (rows + 1, int64).
    Same arrays as ``torch.Tensor.to_sparse_csr()``.
    """
    d = _as_2d(dense)
    nz = d != 0
    rc = torch.nonzero(nz)
    ptr = torch.zeros(d.shape[0] + 1, dtype=torch.int64)
    ptr[1:] = torch.cumsum(nz.sum(1), 0)
    return CSR(d[nz], rc[:, 1].to(torch.int64), ptr, (int(d.shape[0]), int(d.shape[1])), "csr")


def csr_decode(csr: CSR) -> torch.Tensor:
    """The dense matrix back from :func:`csr_encode` (or from :func:`csc_encode`)."""
    if not isinstance(csr, CSR):
        raise TypeError(f"expected a CSR, got {type(csr).__name__}")
    if csr.format == "csc":
        return csc_decode(csr)
    rows, cols = csr.shape
    counts = csr.ptr[1:] - csr.ptr[:-1]
    row_idx = torch.repeat_interleave(torch.arange(rows), counts)
    out = torch.zeros(rows, cols, dtype=csr.values.dtype)
    out[row_idx, csr.indices] = csr.values
    return out


def csc_encode(dense: torch.Tensor) -> CSR:
    """Compressed sparse column: CSR of the transpose (``indices`` are row indices, ``ptr`` per column)."""
    d = _as_2d(dense)
    t = csr_encode(d.t().contiguous())
    return CSR(t.values, t.indices, t.ptr, (int(d.shape[0]), int(d.shape[1])), "csc")


def csc_decode(csc: CSR) -> torch.Tensor:
    """The dense matrix back from :func:`csc_encode`."""
    if not isinstance(csc, CSR) or csc.format != "csc":
        raise TypeError("expected a CSR object with format='csc'")
    rows, cols = csc.shape
    return csr_decode(CSR(csc.values, csc.indices, csc.ptr, (cols, rows), "csr")).t().contiguous()


def _bits_for(n: int) -> int:
    """Bits of an unsigned index that can hold the values 0 … n−1 (at least 1)."""
    return max(1, math.ceil(math.log2(max(n, 2))))


def csr_size_bits(csr: CSR, value_bits: int | float = 32, *, index_bits: int | None = None,
                  pointer_bits: int | None = None) -> int:
    """Bits of a CSR/CSC matrix: ``nnz·value_bits + nnz·index_bits + (rows+1)·pointer_bits``.

    Defaults are the narrowest widths that work: ``index_bits = ⌈log2(cols)⌉`` (CSC: rows),
    ``pointer_bits = ⌈log2(nnz + 1)⌉``. (``torch``'s own CSR uses 64-bit indices and pointers.)
    """
    if not isinstance(csr, CSR):
        raise TypeError(f"expected a CSR, got {type(csr).__name__}")
    inner = csr.shape[1] if csr.format == "csr" else csr.shape[0]
    ib = _bits_for(inner) if index_bits is None else index_bits
    pb = _bits_for(csr.nnz + 1) if pointer_bits is None else pointer_bits
    return metrics.storage_bits(csr.nnz, value_bits, n_indices=csr.nnz, index_bits=ib) + \
        metrics.storage_bits(0, 1, n_indices=csr.ptr.numel(), index_bits=pb)


def relative_index_encode(flat_values: torch.Tensor, index_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deep Compression's relative-index format: each stored value with the number of zeros before it.

    ``gaps[j]`` counts the zeros skipped since the previous stored entry, in ``index_bits`` bits,
    so at most ``g_max = 2**index_bits − 1``. A longer run of zeros is bridged by *padding
    zeros*: a stored value 0 with gap ``g_max`` (Han et al. 2016, Fig. 2: with 3-bit indices a
    jump of more than 8 positions inserts a filler zero). Trailing zeros are not stored
    (give ``length`` to :func:`relative_index_decode`).

    ``flat_values``: 1-D (other shapes are flattened) → ``(values, gaps)``, both ``[n_stored]``;
    ``values`` keeps the dtype (floats, or integer cluster indices after weight sharing),
    ``gaps`` is int64.

    >>> relative_index_encode(torch.tensor([0., 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]), 3)
    (tensor([3., 0., 5.]), tensor([1, 7, 1]))
    """
    t = _check_tensor(flat_values, "flat_values").detach().reshape(-1)
    if isinstance(index_bits, bool) or not isinstance(index_bits, int) or not 1 <= index_bits <= 32:
        raise ValueError(f"index_bits must be an int in [1, 32], got {index_bits!r}")
    g_max = 2 ** index_bits - 1
    pos = torch.nonzero(t != 0).reshape(-1)
    if pos.numel() == 0:
        return t[:0].clone(), torch.zeros(0, dtype=torch.int64)
    prev = torch.cat([torch.tensor([-1]), pos[:-1]])
    zeros = pos - prev - 1
    pads = zeros // (g_max + 1)  # each padding entry covers g_max zeros and itself
    rest = zeros % (g_max + 1)
    counts = pads + 1
    where = torch.cumsum(counts, 0) - 1
    total = int(counts.sum())
    values = torch.zeros(total, dtype=t.dtype)
    gaps = torch.full((total,), g_max, dtype=torch.int64)
    values[where] = t[pos]
    gaps[where] = rest
    return values, gaps


def relative_index_decode(values: torch.Tensor, gaps: torch.Tensor, length: int | None = None) -> torch.Tensor:
    """The flat dense vector back from :func:`relative_index_encode` (padded with zeros to ``length``)."""
    if not isinstance(values, torch.Tensor) or not isinstance(gaps, torch.Tensor):
        raise TypeError("values and gaps must be torch tensors")
    if values.shape != gaps.shape or values.dim() != 1:
        raise ValueError(f"values and gaps must be 1-D of equal length, got {tuple(values.shape)}, {tuple(gaps.shape)}")
    if gaps.numel() and int(gaps.min()) < 0:
        raise ValueError("gaps must be >= 0")
    positions = torch.cumsum(gaps.to(torch.int64) + 1, 0) - 1
    end = int(positions[-1]) + 1 if positions.numel() else 0
    n = end if length is None else int(length)
    if n < end:
        raise ValueError(f"length {length} is shorter than the {end} positions encoded")
    out = torch.zeros(n, dtype=values.dtype)
    out[positions] = values
    return out


def relative_index_size_bits(values: torch.Tensor, gaps: torch.Tensor, value_bits: int | float,
                             index_bits: int) -> int:
    """``n_stored · (value_bits + index_bits)``: every stored entry, padding zeros included."""
    if values.numel() != gaps.numel():
        raise ValueError("values and gaps must have the same length")
    return metrics.storage_bits(values.numel(), value_bits, n_indices=gaps.numel(), index_bits=index_bits)


def bitmask_size_bits(weight: torch.Tensor, value_bits: int | float = 32) -> int:
    """One presence bit per position plus the non-zero values: ``n + nnz·value_bits``."""
    weight = _check_tensor(weight)
    return metrics.storage_bits(int((weight != 0).sum()), value_bits, n_indices=weight.numel(), index_bits=1)


FORMATS = ("dense", "csr", "csc", "relative", "bitmask")


def sparse_size_bits(weight: torch.Tensor, fmt: str = "csr", *, value_bits: int | float = 32,
                     index_bits: int | None = None) -> int:
    """Bits to store ``weight`` in format ``fmt`` (one of :data:`FORMATS`), index overhead included.

    ``index_bits`` is the CSR/CSC column/row index width (default: the narrowest) or the
    relative-index gap width (default 5 for fully-connected, 8 for conv, as Deep Compression's).
    Conv weights are viewed as ``[C_out, C_in·k·k]`` (CSR) or flattened (relative).
    """
    weight = _check_tensor(weight)
    if fmt == "dense":
        return metrics.storage_bits(weight.numel(), value_bits)
    if fmt == "csr":
        return csr_size_bits(csr_encode(weight), value_bits, index_bits=index_bits)
    if fmt == "csc":
        return csr_size_bits(csc_encode(weight), value_bits, index_bits=index_bits)
    if fmt == "relative":
        b = index_bits if index_bits is not None else (8 if weight.dim() > 2 else 5)
        v, g = relative_index_encode(weight.reshape(-1), b)
        return relative_index_size_bits(v, g, value_bits, b)
    if fmt == "bitmask":
        return bitmask_size_bits(weight, value_bits)
    raise ValueError(f"unknown format {fmt!r}; allowed: {FORMATS}")


def sparse_storage(model: nn.Module, fmt: str = "csr", *, value_bits: int | float = 32,
                   index_bits: int | None = None, bias_bits: int = 32) -> list[metrics.LayerStorage]:
    """Per-layer :class:`companion.metrics.LayerStorage` of a (pruned) model stored in ``fmt``:
    ``weight_bits`` the non-zero values, ``index_bits`` all the overhead (indices, row pointers,
    presence bits, and the padding zeros of the relative format, values included)."""
    _check_model(model)
    out = []
    for n, m in prunable_layers(model).items():
        w = m.weight.detach()
        total = sparse_size_bits(w, fmt, value_bits=value_bits, index_bits=index_bits)
        if fmt == "dense":
            vals = total
        else:
            vals = metrics.storage_bits(int((w != 0).sum()), value_bits)
        bias = metrics.storage_bits(m.bias.numel(), bias_bits) if m.bias is not None else 0
        out.append(metrics.LayerStorage(n, weight_bits=vals, index_bits=total - vals, bias_bits=bias))
    return out


# --- sensitivity and speed -------------------------------------------------------------------

def sensitivity_sweep(model: nn.Module, sparsities: Sequence[float], *, layers: Iterable[str] | None = None,
                      split: str = "val") -> dict[str, list[float]]:
    """Prune one layer at a time (no retraining) at each sparsity; accuracy (%) on ``split``.

    Returns ``{layer: [accuracy at sparsities[0], ...]}``. The model is not changed. A layer
    whose curve stays flat to high sparsity is redundant; a steep one is sensitive (Han et al.
    2015, Fig. 6).
    """
    _check_model(model)
    sps = [_check_sparsity(s) for s in sparsities]
    chosen = list(_select_layers(model, layers))
    out: dict[str, list[float]] = {}
    for n in chosen:
        accs = []
        for s in sps:
            m = copy.deepcopy(model)
            prune_(m, {n: s})
            accs.append(train.evaluate(m, split))
        out[n] = accs
    return out


def sparsities_from_sensitivity(sweep: Mapping[str, Sequence[float]], sparsities: Sequence[float],
                                baseline_accuracy: float, max_drop: float) -> dict[str, float]:
    """Per layer, the highest swept sparsity up to which *every* swept accuracy stays within
    ``max_drop`` points of ``baseline_accuracy`` (0.0 when even the first one does not)."""
    if max_drop < 0:
        raise ValueError(f"max_drop must be >= 0, got {max_drop!r}")
    out = {}
    for n, accs in sweep.items():
        if len(accs) != len(sparsities):
            raise ValueError(f"layer {n!r}: {len(accs)} accuracies for {len(sparsities)} sparsities")
        best = 0.0
        for s, a in zip(sparsities, accs):
            if a < baseline_accuracy - max_drop - 1e-9:
                break
            best = float(s)
        out[n] = best
    return out


def time_sparse_linear(out_features: int, in_features: int, sparsities: Sequence[float],
                       batch_sizes: Sequence[int] = (1, 64), *, repeats: int = 50, seed: int = 0) -> list[dict]:
    """Measured CPU time of ``y = W x`` for a random pruned ``W``: dense ``torch.mm`` vs ``torch.sparse`` CSR.

    Returns one dict per (sparsity, batch): ``dense_us``, ``sparse_us`` (median µs over
    ``repeats``), ``speedup = dense/sparse`` and ``ideal = 1/density`` (what skipping every
    zero would give). Timings depend on the machine: print them, never assert them.
    """
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(out_features, in_features, generator=gen)
    rows = []
    for s in sparsities:
        s = _check_sparsity(s)
        ws = w * magnitude_mask(w, s)
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore")
            w_csr = ws.to_sparse_csr()
        for b in batch_sizes:
            x = torch.randn(in_features, b, generator=gen)

            def med(fn):
                for _ in range(3):
                    fn()
                ts = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    fn()
                    ts.append(time.perf_counter() - t0)
                ts.sort()
                return 1e6 * ts[len(ts) // 2]

            with torch.no_grad():
                d = med(lambda: torch.mm(ws, x))
                sp = med(lambda: torch.mm(w_csr, x))
            rows.append({"sparsity": s, "batch": b, "dense_us": d, "sparse_us": sp, "speedup": d / sp,
                         "ideal": 1.0 / (1.0 - s)})
    return rows



# --- cached recipes (what the chapter trains; each result is cached on disk) ------------------

METHODS = ("one-shot", "iterative", "gradual")


def _baseline_key(name: str) -> str:
    return train.cache_key({"baseline": asdict(train.baseline_config(name))})


def pruned_model(name: str, targets: float | Mapping[str, float], *, method: str = "gradual", epochs: int = 6,
                 steps: int = 3, lr: float = 5e-4, weight_decay: float = 1e-4, seed: int = 0,
                 progress: bool = True) -> nn.Module:
    """The baseline ``name`` pruned to ``targets`` and retrained, baked and cached on disk.

    ``method``: ``"one-shot"`` (prune once, retrain ``epochs``; ``epochs=0`` = no retraining),
    ``"iterative"`` (:func:`iterative_prune`, ``steps`` rounds sharing the ``epochs``) or
    ``"gradual"`` (:func:`gradual_prune` over ``epochs``). Same epoch budget for all three.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    if method == "iterative" and (epochs % steps or epochs == 0):
        raise ValueError(f"iterative pruning shares epochs over steps: {epochs} is not a positive multiple of {steps}")
    if method == "gradual" and epochs == 0:
        raise ValueError("gradual pruning needs epochs >= 1")
    tg = dict(targets) if isinstance(targets, Mapping) else float(targets)
    spec = {"pruned": name, "baseline": _baseline_key(name), "targets": tg, "method": method, "epochs": epochs,
            "steps": steps if method == "iterative" else None, "lr": lr, "weight_decay": weight_decay, "seed": seed}

    def run(model: nn.Module) -> None:
        kw = dict(lr=lr, weight_decay=weight_decay, seed=seed, progress=progress)
        if method == "one-shot":
            prune_(model, tg)
            if epochs:
                train.fit(model, epochs=epochs, desc=f"retraining {name}", **kw)
        elif method == "iterative":
            iterative_prune(model, tg, steps=steps, epochs_per_step=epochs // steps, **kw)
        else:
            gradual_prune(model, tg, epochs=epochs, **kw)
        bake_(model)

    return train.cached_model(spec, lambda: train.baseline(name, progress=progress), run, name=f"pruned-{name}")


def channel_pruned_model(name: str, sparsity: float | Mapping[str, float], *, epochs: int = 3, lr: float = 5e-4,
                         weight_decay: float = 1e-4, seed: int = 0, base: nn.Module | None = None,
                         base_key: str | None = None, progress: bool = True) -> nn.Module:
    """The baseline ``name`` (or ``base``, identified by ``base_key``) with its lowest-L1 filters /
    neurons removed by :func:`prune_channels`, fine-tuned ``epochs`` epochs; cached on disk."""
    if (base is None) != (base_key is None):
        raise ValueError("give both base and base_key (a string that identifies base) or neither")
    plan = dict(sparsity) if isinstance(sparsity, Mapping) else float(sparsity)
    spec = {"channel_pruned": name, "baseline": base_key or _baseline_key(name), "plan": plan, "epochs": epochs,
            "lr": lr, "weight_decay": weight_decay, "seed": seed}
    source = base if base is not None else train.baseline(name, progress=progress)

    def fine_tune(model: nn.Module) -> None:
        if epochs:
            train.fit(model, epochs=epochs, lr=lr, weight_decay=weight_decay, seed=seed, progress=progress,
                      desc=f"fine-tuning {name}")

    return train.cached_model(spec, lambda: prune_channels(source, plan), fine_tune, name=f"chpruned-{name}")


def group_lasso_model(name: str, strength: float, *, epochs: int = 4, lr: float = 5e-4, seed: int = 0,
                      progress: bool = True) -> nn.Module:
    """The baseline ``name`` retrained ``epochs`` epochs with :func:`group_lasso_penalty` (cached)."""
    spec = {"group_lasso": name, "baseline": _baseline_key(name), "strength": strength, "epochs": epochs,
            "lr": lr, "seed": seed}
    return train.cached_model(spec, lambda: train.baseline(name, progress=progress),
                              lambda m: train.fit(m, epochs=epochs, lr=lr, seed=seed, progress=progress,
                                                  regularizer=group_lasso_penalty(strength),
                                                  desc=f"group lasso {name}"),
                              name=f"grouplasso-{name}")



def nm_pruned_model(name: str, n: int, m: int, *, epochs: int = 2, lr: float = 5e-4, weight_decay: float = 1e-4,
                    seed: int = 0, progress: bool = True) -> nn.Module:
    """The baseline ``name`` with N:M masks (:func:`prune_nm_`, every layer whose input size divides
    by ``m``), retrained ``epochs`` epochs with the masks attached, baked and cached."""
    spec = {"nm_pruned": name, "baseline": _baseline_key(name), "n": n, "m": m, "epochs": epochs, "lr": lr,
            "weight_decay": weight_decay, "seed": seed}

    def run(model: nn.Module) -> None:
        prune_nm_(model, n, m)
        if epochs:
            train.fit(model, epochs=epochs, lr=lr, weight_decay=weight_decay, seed=seed, progress=progress,
                      desc=f"{n}:{m} retraining {name}")
        bake_(model)

    return train.cached_model(spec, lambda: train.baseline(name, progress=progress), run, name=f"nmpruned-{name}")


#: The sparsities of the chapter's sensitivity sweep.
SWEEP_SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99)


def baseline_sensitivity(name: str, sparsities: Sequence[float] = SWEEP_SPARSITIES, split: str = "val",
                         progress: bool = False) -> dict[str, list[float]]:
    """:func:`sensitivity_sweep` of the cached baseline ``name`` (cached on disk; a few seconds the first time)."""
    spec = {"sensitivity": name, "sparsities": list(sparsities), "split": split, "baseline": _baseline_key(name)}
    return train.cached_result(spec, lambda: sensitivity_sweep(train.baseline(name, progress=progress),
                                                               sparsities, split=split),
                               name=f"sensitivity-{name}")


# --- exercises ------------------------------------------------------------------------------------

#: The matrix of exercise ``ch5.csr_bits`` (a pruned 4 x 6 weight matrix).
EXERCISE_MATRIX = torch.tensor([[0.0, 0.7, 0.0, 0.0, 0.0, -1.2],
                                [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                                [2.1, 0.0, 0.0, 0.4, 0.0, 0.0],
                                [0.0, 0.0, -0.3, 0.0, 0.0, 0.9]])

#: The flattened row of exercise ``ch5.padding_zeros``.
EXERCISE_ROW = torch.tensor([0.0] * 3 + [0.5] + [0.0] * 20 + [-0.8, 0.3] + [0.0] * 40 + [1.1] + [0.0] * 8 + [0.2])


def _mask_cases():
    gen = torch.Generator().manual_seed(5)
    return [(torch.randn(6, 7, generator=gen), 0.5), (torch.randn(30, generator=gen), 0.9),
            (torch.randn(3, 4, 5, generator=gen), 0.25), (torch.randn(8, 8, generator=gen), 0.0)]


def _check_sensitivity_answer(answer) -> str | None:
    if not isinstance(answer, Mapping):
        raise exercises.ExerciseError(f"expected a dict {{layer: sparsity}}, got {type(answer).__name__}")
    sweep = baseline_sensitivity("lenet300")
    base = sweep["fc1"][0]  # sparsity 0 = the baseline itself
    want = sparsities_from_sensitivity(sweep, SWEEP_SPARSITIES, base, 1.0)
    if set(answer) != set(want):
        raise exercises.ExerciseError(f"give one sparsity for each of {sorted(want)}")
    for n, s in want.items():
        if not math.isclose(float(answer[n]), s, abs_tol=1e-9):
            hint = "too high: some accuracy at or below it drops more than 1 point" if answer[n] > s else \
                "you can go higher: the curve stays within 1 point further"
            raise exercises.ExerciseError(f"{n}: {answer[n]} is {hint}.")
    return "Sensitive layers (the small classifier fc3) keep more weights, as in Han et al.'s 8%/9%/26%."


exercises.register(
    "ch5.magnitude_mask",
    "Write mask(weight, sparsity) -> bool tensor that zeroes the round(sparsity·n) smallest |w| (True = kept).",
    exercises.same_function(magnitude_mask, _mask_cases,
                            hint="sort |w| (flattened), mark the first k = round(sparsity * n) as pruned, reshape"),
    "easy")
exercises.register(
    "ch5.csr_bits",
    "Size in bits of sparsity.EXERCISE_MATRIX in CSR: 32-bit values, narrowest column indices and row pointers.",
    exercises.close_to(lambda: csr_size_bits(csr_encode(EXERCISE_MATRIX), 32), rtol=0,
                       hint="nnz·32 + nnz·⌈log2(columns)⌉ + (rows + 1)·⌈log2(nnz + 1)⌉"),
    "medium")
exercises.register(
    "ch5.padding_zeros",
    "How many padding zeros does sparsity.EXERCISE_ROW need in the relative-index format with 3-bit gaps?",
    exercises.close_to(lambda: int((relative_index_encode(EXERCISE_ROW, 3)[0] == 0).sum()), rtol=0,
                       hint="a run of z zeros before a non-zero needs z // 8 padding entries when gaps have 3 bits"),
    "medium")
exercises.register(
    "ch5.sensitivity_pick",
    "From the LeNet-300-100 sensitivity sweep (validation accuracy, sparsity.SWEEP_SPARSITIES), give each layer "
    "the highest swept sparsity up to which every accuracy stays within 1 point of the baseline.",
    _check_sensitivity_answer, "hard")
