"""Structured and semi-structured sparsity: whole filters/neurons (Li et al. 2017), group lasso
(Wen et al. 2016) and N:M patterns (Mishra et al. 2021).

After the survey's section on network sparsification. Structured pruning removes whole output
channels, so the network becomes physically smaller and *dense* — every library runs it fast.
N:M keeps ``n`` of every ``m`` consecutive weights, the 2:4 pattern of NVIDIA's sparse tensor cores.
"""
from __future__ import annotations

import copy
from typing import Callable, Iterable, Mapping

import torch
from torch import nn

from .. import checks, reparam
from .masks import bake_masks_, check_sparsity, check_weight, magnitude_mask, prunable_layers, set_mask_

__all__ = ["channel_norms", "select_channels", "prune_channels", "zero_channels_", "group_lasso_penalty",
           "nm_mask", "prune_nm_"]


def channel_norms(weight: torch.Tensor, p: int = 1) -> torch.Tensor:
    """Lp norm of each output channel (filter) / neuron: ``‖W[c]‖_p`` over all but dim 0.

    ``weight``: ``[C_out, ...]`` (a conv's ``[C_out, C_in, k, k]`` or a linear's ``[out, in]``)
    → ``[C_out]``. Li et al. 2017 rank filters by the L1 norm.

    >>> channel_norms(torch.tensor([[1.0, -2.0], [0.0, 0.5]])).tolist()
    [3.0, 0.5]
    """
    weight = check_weight(weight)
    if weight.dim() < 2:
        raise ValueError(f"weight must have >= 2 dims [C_out, ...], got shape {tuple(weight.shape)}")
    checks.check_choice(p, "p", (1, 2))
    return weight.detach().reshape(weight.shape[0], -1).norm(p=p, dim=1)


def select_channels(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Indices (ascending) of the channels kept when a fraction ``sparsity`` of them with the
    smallest L1 norm is removed (ties: lower index removed first); at least one channel is kept."""
    norms = channel_norms(weight)
    keep = magnitude_mask(norms, sparsity)
    if not keep.any():
        keep[int(norms.argmax())] = True
    return torch.nonzero(keep).reshape(-1)


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
    chain = prunable_layers(model)
    names = list(chain)
    if isinstance(sparsity, Mapping):
        plan = {n: check_sparsity(s, f"sparsity of {n!r}") for n, s in sparsity.items()}
    else:
        s = check_sparsity(sparsity)
        plan = {n: s for n in (reparam.select_layers(model, layers) if layers is not None else names[:-1])}
    reparam.select_layers(model, list(plan))  # unknown names: ValueError listing the real ones
    if names[-1] in plan:
        raise ValueError(f"{names[-1]!r} is the classifier (last layer); its outputs cannot be removed")
    keep = {n: select_channels(chain[n].weight, s) for n, s in plan.items()}
    return _shrink(model, keep)


def _shrink(model: nn.Module, keep: Mapping[str, torch.Tensor]) -> nn.Module:
    new = bake_masks_(copy.deepcopy(model))
    chain = list(prunable_layers(new).items())
    modules = dict(new.named_modules())
    replaced: dict[str, nn.Module] = dict(chain)
    for i, (name, _) in enumerate(chain):
        if name not in keep:
            continue
        idx = keep[name]
        cur = replaced[name]
        nxt_name = chain[i + 1][0]
        nxt = replaced[nxt_name]
        with torch.no_grad():
            if isinstance(cur, nn.Conv2d):
                if cur.groups != 1:
                    raise ValueError(f"{name!r}: grouped convolutions are not supported")
                small = nn.Conv2d(cur.in_channels, len(idx), cur.kernel_size, cur.stride, cur.padding,
                                  cur.dilation, cur.groups, cur.bias is not None)
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
    layers = reparam.select_layers(checks.check_model(model), list(keep))
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
    strength = checks.check_float(strength, "strength", minimum=0.0)
    chosen = [layers] if isinstance(layers, str) else list(layers) if layers is not None else None

    def penalty(model: nn.Module) -> torch.Tensor:
        picked = reparam.select_layers(model, chosen) if chosen is not None else \
            dict(list(prunable_layers(model).items())[:-1])
        total = torch.zeros(())
        for m in picked.values():
            w = m.weight
            total = total.to(w.device) + w.reshape(w.shape[0], -1).norm(dim=1).sum()
        return strength * total
    return penalty


def nm_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Keep the ``n`` largest-magnitude weights in every group of ``m`` consecutive inputs.

    Groups run along the input dimension of ``weight`` viewed as ``[C_out, K]`` (``K`` = all
    but dim 0, row-major; for a conv ``C_in·k·k``), which must be divisible by ``m``. 2:4 is the
    pattern NVIDIA's Ampere sparse tensor cores run at twice the dense speed (Mishra et al. 2021).
    Sparsity is ``1 − n/m`` exactly. Ties: the lower index is kept.

    >>> nm_mask(torch.tensor([[0.1, -3.0, 2.0, 0.5]]), 2, 4).tolist()
    [[False, True, True, False]]
    """
    weight = check_weight(weight)
    n = checks.check_int(n, "n", minimum=1)
    m = checks.check_int(m, "m", minimum=1)
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
    """Attach :func:`nm_mask` masks to ``layers`` (default: every layer whose input size divides by ``m``);
    in place, returns ``model``. Bake with :func:`companion.sparsity.bake_masks_`."""
    checks.check_model(model)
    n = checks.check_int(n, "n", minimum=1)
    m = checks.check_int(m, "m", minimum=1)
    if layers is None:
        chosen = {k: v for k, v in prunable_layers(model).items() if v.weight[0].numel() % m == 0}
    else:
        chosen = reparam.select_layers(model, layers)
    with torch.no_grad():
        for mod in chosen.values():
            set_mask_(mod, nm_mask(mod.weight, n, m))
    return model
