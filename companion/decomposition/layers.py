"""Factorized layers and the model-level transform :func:`decompose`.

Each factorized layer is a chain of small standard layers equal to the dense layer whose weight
is the product of its factors: :class:`LowRankLinear` (truncated SVD), :class:`CPConv2d` (CP,
Lebedev et al. 2015), :class:`Tucker2Conv2d` (Tucker-2, Kim et al. 2016), :class:`TTLinear`
(tensor train, Novikov et al. 2015). Every one defines ``dense_weight()`` (the reconstructed
dense weight) and ``compute_macs(x, y)`` (so :func:`companion.metrics.measure_layers` counts it).

A *plan* names layers and how to factorize them (:class:`SVD`, :class:`CP`, :class:`Tucker2`,
:class:`TT`); :func:`decompose` applies it to a copy of a model, :func:`plan_for_budget`
writes one for a per-layer compression ratio.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import nn

from .. import checks, models, reparam
from ..train import building_skeleton
from ._common import check_rank, check_ratio
from .cp import cp_conv, cp_conv_macs, cp_max_rank, cp_rank_for_compression, cp_reconstruct
from .svd import choose_svd_rank, truncated_svd
from .tt import _check_modes, _check_tt_ranks, tt_macs, tt_matrix, tt_matvec, tt_to_matrix
from .tucker import tucker2_conv, tucker2_macs, tucker2_ranks_for_compression, tucker2_ranks_for_energy, \
    tucker2_reconstruct

__all__ = ["LowRankLinear", "CPConv2d", "Tucker2Conv2d", "TTLinear", "SVD", "CP", "Tucker2", "TT",
           "decompose_layer", "decompose", "plan_for_budget"]


def _linear_macs(m: nn.Linear) -> int:
    return m.in_features * m.out_features


def _conv_macs(m: nn.Conv2d, y: torch.Tensor) -> int:
    return y.shape[-2] * y.shape[-1] * m.weight[0].numel() * m.out_channels


class LowRankLinear(nn.Module):
    """``y = A (B x) + b``: a Linear factorized by truncated SVD (``first``: B, ``last``: A + bias).

    Parameters ``r·(in + out) + out``; MACs ``r·(in + out)`` per sample. Denton et al. 2014.
    """

    def __init__(self, in_features: int, out_features: int, rank: int, bias: bool = True):
        super().__init__()
        self.rank = check_rank(rank, "rank", min(in_features, out_features))
        self.first = nn.Linear(in_features, rank, bias=False)
        self.last = nn.Linear(rank, out_features, bias=bias)

    @classmethod
    def from_linear(cls, linear: nn.Linear, rank: int) -> "LowRankLinear":
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"expected nn.Linear, got {type(linear).__name__}")
        a, b = truncated_svd(linear.weight.detach(), rank)
        layer = cls(linear.in_features, linear.out_features, rank, bias=linear.bias is not None)
        with torch.no_grad():
            layer.first.weight.copy_(b)
            layer.last.weight.copy_(a)
            if linear.bias is not None:
                layer.last.bias.copy_(linear.bias)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.first(x))

    def dense_weight(self) -> torch.Tensor:
        return self.last.weight @ self.first.weight

    def compute_macs(self, x: torch.Tensor, y: torch.Tensor) -> int:
        rows = y.numel() // y.shape[-1] // y.shape[0]
        return rows * (_linear_macs(self.first) + _linear_macs(self.last))


def _check_plain_conv(conv: nn.Conv2d, name: str = "conv") -> None:
    """Refuse what the factorized chains cannot reproduce: groups, dilation, string padding, and any
    ``padding_mode`` but ``"zeros"`` (the chains pad each small conv with zeros, so reflect/replicate/
    circular borders would silently come out wrong)."""
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"{name}: expected nn.Conv2d, got {type(conv).__name__}")
    if conv.groups != 1 or conv.dilation != (1, 1) or not isinstance(conv.padding, tuple):
        raise ValueError(f"{name}: only convolutions with groups=1, dilation=1 and numeric padding can be "
                         f"decomposed, got groups={conv.groups}, dilation={conv.dilation}, padding={conv.padding!r}")
    if conv.padding_mode != "zeros":
        raise ValueError(f"{name}: padding_mode={conv.padding_mode!r} cannot be decomposed (the factorized chain "
                         "pads every small conv with zeros, so the borders would differ); allowed: 'zeros'")


class CPConv2d(nn.Module):
    """Lebedev et al. 2015: 1x1 (C_in→R), k_h x 1 depthwise, 1 x k_w depthwise, 1x1 (R→C_out) + bias.

    Equal to ``nn.Conv2d`` with kernel ``Σ_r O[:,r] ∘ I[:,r] ∘ V[:,r] ∘ H[:,r]`` (same stride and
    padding: the vertical conv carries the vertical stride/padding, the horizontal the other).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int], rank: int,
                 stride: tuple[int, int] = (1, 1), padding: tuple[int, int] = (0, 0), bias: bool = True):
        super().__init__()
        kh, kw = kernel_size
        self.rank = check_rank(rank, "rank", cp_max_rank((out_channels, in_channels, kh, kw)))
        self.pointwise_in = nn.Conv2d(in_channels, rank, 1, bias=False)
        self.vertical = nn.Conv2d(rank, rank, (kh, 1), stride=(stride[0], 1), padding=(padding[0], 0),
                                  groups=rank, bias=False)
        self.horizontal = nn.Conv2d(rank, rank, (1, kw), stride=(1, stride[1]), padding=(0, padding[1]),
                                    groups=rank, bias=False)
        self.pointwise_out = nn.Conv2d(rank, out_channels, 1, bias=bias)

    @classmethod
    def from_factors(cls, factors, stride=(1, 1), padding=(0, 0), bias: torch.Tensor | None = None) -> "CPConv2d":
        o, i, v, h = factors
        layer = cls(i.shape[0], o.shape[0], (v.shape[0], h.shape[0]), o.shape[1], stride, padding, bias is not None)
        with torch.no_grad():
            layer.pointwise_in.weight.copy_(i.T[:, :, None, None])
            layer.vertical.weight.copy_(v.T[:, None, :, None])
            layer.horizontal.weight.copy_(h.T[:, None, None, :])
            layer.pointwise_out.weight.copy_(o[:, :, None, None])
            if bias is not None:
                layer.pointwise_out.bias.copy_(bias)
        return layer

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, rank: int, *, name: str = "conv", **kw) -> "CPConv2d":
        """Factorize a trained ``conv`` (``name`` is used in error messages); ``kw`` go to :func:`cp_conv`."""
        _check_plain_conv(conv, name)
        if building_skeleton():  # only the shape is wanted (a cache hit's weights replace these): skip CP-ALS
            return cls(conv.in_channels, conv.out_channels, conv.kernel_size, rank, conv.stride, conv.padding,
                       conv.bias is not None)
        factors = cp_conv(conv.weight.detach(), rank, **kw)
        return cls.from_factors(factors, conv.stride, conv.padding,
                                conv.bias.detach() if conv.bias is not None else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_out(self.horizontal(self.vertical(self.pointwise_in(x))))

    def factors(self) -> tuple[torch.Tensor, ...]:
        return (self.pointwise_out.weight[:, :, 0, 0], self.pointwise_in.weight[:, :, 0, 0].T,
                self.vertical.weight[:, 0, :, 0].T, self.horizontal.weight[:, 0, 0, :].T)

    def dense_weight(self) -> torch.Tensor:
        return cp_reconstruct(self.factors())

    def compute_macs(self, x: torch.Tensor, y: torch.Tensor) -> int:
        hi, wi = x.shape[-2:]
        kh, _ = self.vertical.kernel_size
        sh, ph = self.vertical.stride[0], self.vertical.padding[0]
        hm = (hi + 2 * ph - kh) // sh + 1
        return cp_conv_macs(self.pointwise_out.out_channels, self.pointwise_in.in_channels, kh,
                            self.horizontal.kernel_size[1], self.rank, (hi, wi), (hm, wi), tuple(y.shape[-2:]))


class Tucker2Conv2d(nn.Module):
    """Kim et al. 2016: 1x1 (C_in→R_in), k_h x k_w core (R_in→R_out, original stride/padding), 1x1 (R_out→C_out) + bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int], ranks: tuple[int, int],
                 stride: tuple[int, int] = (1, 1), padding: tuple[int, int] = (0, 0), bias: bool = True):
        super().__init__()
        r_out = check_rank(ranks[0], "R_out", out_channels)
        r_in = check_rank(ranks[1], "R_in", in_channels)
        self.ranks = (r_out, r_in)
        self.pointwise_in = nn.Conv2d(in_channels, r_in, 1, bias=False)
        self.core = nn.Conv2d(r_in, r_out, kernel_size, stride=stride, padding=padding, bias=False)
        self.pointwise_out = nn.Conv2d(r_out, out_channels, 1, bias=bias)

    @classmethod
    def from_factors(cls, core, u, s, stride=(1, 1), padding=(0, 0), bias=None) -> "Tucker2Conv2d":
        layer = cls(s.shape[0], u.shape[0], tuple(core.shape[2:]), (core.shape[0], core.shape[1]), stride, padding,
                    bias is not None)
        with torch.no_grad():
            layer.pointwise_in.weight.copy_(s.T[:, :, None, None])
            layer.core.weight.copy_(core)
            layer.pointwise_out.weight.copy_(u[:, :, None, None])
            if bias is not None:
                layer.pointwise_out.bias.copy_(bias)
        return layer

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, ranks: tuple[int, int], *, name: str = "conv") -> "Tucker2Conv2d":
        """Factorize a trained ``conv`` (``name`` is used in error messages)."""
        _check_plain_conv(conv, name)
        core, u, s = tucker2_conv(conv.weight.detach(), ranks)
        return cls.from_factors(core, u, s, conv.stride, conv.padding,
                                conv.bias.detach() if conv.bias is not None else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_out(self.core(self.pointwise_in(x)))

    def dense_weight(self) -> torch.Tensor:
        return tucker2_reconstruct(self.core.weight, self.pointwise_out.weight[:, :, 0, 0],
                                   self.pointwise_in.weight[:, :, 0, 0].T)

    def compute_macs(self, x: torch.Tensor, y: torch.Tensor) -> int:
        kh, kw = self.core.kernel_size
        return tucker2_macs(self.pointwise_out.out_channels, self.pointwise_in.in_channels, kh, kw, *self.ranks,
                            tuple(x.shape[-2:]), tuple(y.shape[-2:]))


class TTLinear(nn.Module):
    """A fully connected layer whose [∏ m_k, ∏ n_k] weight is a tensor train (Novikov et al. 2015).

    ``forward`` runs :func:`tt_matvec` (the cores are contracted with the input one by one; the
    dense matrix is never formed). Build it from a trained Linear (:meth:`from_linear`, TT-SVD)
    or from scratch (the constructor: random cores scaled so the layer starts with roughly
    Kaiming-uniform output variance).
    """

    def __init__(self, in_modes: Sequence[int], out_modes: Sequence[int], ranks: int | Sequence[int],
                 bias: bool = True, seed: int = 0):
        super().__init__()
        self.in_modes, self.out_modes = _check_modes(in_modes, out_modes)
        self.ranks = _check_tt_ranks(ranks, self.in_modes, self.out_modes)
        self.in_features, self.out_features = math.prod(self.in_modes), math.prod(self.out_modes)
        gen = torch.Generator().manual_seed(models.run_seed(seed))
        d = len(self.in_modes)
        # Var(W_ij) = Π_k Var(g)·r_k  (products of d independent cores summed over the ranks);
        # choose Var(g) so Var(W_ij) = 1 / (3·in) as for nn.Linear's default init.
        target = 1.0 / (3 * self.in_features)
        inner = math.prod(self.ranks[1:-1])
        std = (target / inner) ** (1 / (2 * d))
        self.cores = nn.ParameterList(
            nn.Parameter(torch.randn(self.ranks[k], m, n, self.ranks[k + 1], generator=gen) * std)
            for k, (m, n) in enumerate(zip(self.out_modes, self.in_modes)))
        self.bias = nn.Parameter(torch.zeros(self.out_features)) if bias else None

    @classmethod
    def from_linear(cls, linear: nn.Linear, in_modes: Sequence[int], out_modes: Sequence[int],
                    ranks: int | Sequence[int]) -> "TTLinear":
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"expected nn.Linear, got {type(linear).__name__}")
        cores = tt_matrix(linear.weight.detach(), in_modes, out_modes, ranks)
        layer = cls(in_modes, out_modes, tuple([1] + [c.shape[3] for c in cores]), bias=linear.bias is not None)
        with torch.no_grad():
            for p, c in zip(layer.cores, cores):
                p.copy_(c)
            if linear.bias is not None:
                layer.bias.copy_(linear.bias)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        y = tt_matvec(x.reshape(-1, x.shape[-1]), list(self.cores))
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)

    def dense_weight(self) -> torch.Tensor:
        return tt_to_matrix(list(self.cores))

    def compute_macs(self, x: torch.Tensor, y: torch.Tensor) -> int:
        rows = y.numel() // y.shape[-1] // y.shape[0]
        return rows * tt_macs(self.in_modes, self.out_modes, self.ranks)

    def extra_repr(self) -> str:
        return f"in_modes={self.in_modes}, out_modes={self.out_modes}, ranks={self.ranks}"


# --- model-level transforms --------------------------------------------------------------------

@dataclass(frozen=True)
class SVD:
    """Plan entry: truncated SVD of a Linear; exactly one of ``rank``, ``energy``, ``compression``."""

    rank: int | None = None
    energy: float | None = None
    compression: float | None = None


@dataclass(frozen=True)
class CP:
    """Plan entry: rank-``rank`` CP of a Conv2d (Lebedev et al. 2015)."""

    rank: int
    n_iter_max: int = 200


@dataclass(frozen=True)
class Tucker2:
    """Plan entry: Tucker-2 of a Conv2d with ``(r_out, r_in)`` ranks, each capped at the layer's channels;
    or ``energy`` (then the ranks are chosen by :func:`tucker2_ranks_for_energy`)."""

    r_out: int | None = None
    r_in: int | None = None
    energy: float | None = None


@dataclass(frozen=True)
class TT:
    """Plan entry: a Linear as a :class:`TTLinear` with the given modes and ranks."""

    in_modes: tuple[int, ...]
    out_modes: tuple[int, ...]
    ranks: int | tuple[int, ...]


def decompose_layer(layer: nn.Module, spec, *, name: str = "layer") -> nn.Module:
    """The decomposed replacement of one ``nn.Linear`` / ``nn.Conv2d`` under a plan entry.

    ``name`` (the layer's name in its model) is used in error messages.
    """
    if isinstance(spec, SVD):
        if not isinstance(layer, nn.Linear):
            raise TypeError(f"{name}: SVD applies to nn.Linear, got {type(layer).__name__}")
        r = choose_svd_rank(layer.weight, rank=spec.rank, energy=spec.energy, compression=spec.compression)
        return LowRankLinear.from_linear(layer, r)
    if isinstance(spec, TT):
        if not isinstance(layer, nn.Linear):
            raise TypeError(f"{name}: TT applies to nn.Linear, got {type(layer).__name__}")
        return TTLinear.from_linear(layer, tuple(spec.in_modes), tuple(spec.out_modes),
                                    spec.ranks if isinstance(spec.ranks, int) else tuple(spec.ranks))
    if isinstance(spec, CP):
        return CPConv2d.from_conv(layer, spec.rank, name=name, n_iter_max=spec.n_iter_max)
    if isinstance(spec, Tucker2):
        _check_plain_conv(layer, name)
        if spec.energy is not None:
            ranks = tucker2_ranks_for_energy(layer.weight, spec.energy)
        else:
            if spec.r_out is None:
                raise ValueError(f"{name}: Tucker2 needs r_out (and optionally r_in) or energy")
            r_in = spec.r_in if spec.r_in is not None else spec.r_out
            ranks = (min(spec.r_out, layer.out_channels), min(r_in, layer.in_channels))
        return Tucker2Conv2d.from_conv(layer, ranks, name=name)
    raise TypeError(f"{name}: plan entries must be SVD, CP, Tucker2 or TT, got {type(spec).__name__}")


def decompose(model: nn.Module, plan: Mapping[str, object]) -> nn.Module:
    """A copy of ``model`` with the layers named in ``plan`` replaced by their decomposed form.

    ``plan``: ``{"fc1": SVD(rank=32), "conv2": Tucker2(8, 8), "conv1": CP(4), ...}``; the
    original model is left unchanged. Names are those of :func:`companion.reparam.weight_layers`
    (unknown names raise ``ValueError`` listing the real ones).
    """
    checks.check_model(model)
    if not isinstance(plan, Mapping) or not plan:
        raise ValueError("plan must be a non-empty mapping of layer name -> SVD/CP/Tucker2/TT")
    reparam.select_layers(model, plan)  # validates the names
    out = copy.deepcopy(model).cpu()
    for name, spec in plan.items():
        parent_name, _, attr = name.rpartition(".")
        parent = out.get_submodule(parent_name) if parent_name else out
        setattr(parent, attr, decompose_layer(getattr(parent, attr), spec, name=name))
    return out.eval()


def plan_for_budget(model: nn.Module, ratio: float, *, conv: str = "tucker2",
                    skip: Sequence[str] = ()) -> dict[str, object]:
    """A plan giving every Linear (SVD) and Conv2d (``conv``: "tucker2" or "cp") ``ratio`` times fewer weights.

    Linear: ``r = ⌊m·n / (ratio·(m + n))⌋``; conv: :func:`cp_rank_for_compression` or
    :func:`tucker2_ranks_for_compression`. Layers named in ``skip`` stay dense (e.g. the first
    conv with one input channel, and the classifier; names absent from ``model`` are ignored, so
    one ``skip`` can serve several networks). Each layer gets the largest rank within its budget
    (at least rank 1), so a layer can miss the ratio when even rank 1 is too big.
    """
    checks.check_choice(conv, "conv", ("tucker2", "cp"))
    ratio = check_ratio(ratio)
    layers = reparam.weight_layers(model)
    if isinstance(skip, str):
        skip = (skip,)
    plan: dict[str, object] = {}
    for name, m in layers.items():
        if name in skip:
            continue
        if isinstance(m, nn.Linear):
            r = max(1, min(int(m.in_features * m.out_features / (ratio * (m.in_features + m.out_features))),
                           min(m.in_features, m.out_features)))
            plan[name] = SVD(rank=r)
        elif isinstance(m, nn.Conv2d):
            o, i, kh, kw = m.weight.shape
            if conv == "cp":
                plan[name] = CP(cp_rank_for_compression(o, i, kh, kw, ratio))
            else:
                plan[name] = Tucker2(*tucker2_ranks_for_compression(o, i, kh, kw, ratio))
    return plan


