"""Workloads: a layer lowered to a GEMM, with the densities and bitwidths of its operands.

A convolution becomes a GEMM by im2col (after the survey's section on accelerators; the
SCALE-Sim convention, Samajdar et al., ISPASS 2020):

    M = batch · H_out · W_out   (output pixels),   K = F_h · F_w · C_in / groups,   N = C_out / groups

with ``H_out = (H_in − F_h) // stride + 1`` on an *already padded* input (PyTorch's size,
:func:`pytorch_output_size`: the real layer). SCALE-Sim sizes the output differently,
``ceil((H_in − F_h + stride) / stride)`` (:func:`scalesim_output_size`), one pixel more
whenever ``H_in − F_h`` is not a multiple of the stride; :class:`ScaleSimConv2d` and
:func:`companion.accelerator.read_scalesim_topology` lower a layer that way, to reproduce the
simulator's numbers. A grouped or depthwise
convolution is ``groups`` independent GEMMs run one after another (depthwise: K = F_h·F_w,
N = 1 — the reason it under-uses an array). A fully connected layer is ``Gemm(M=batch,
K=in_features, N=out_features)``; a decomposed layer is a :class:`Chain` of small ones.

Compression enters only through these fields: ``weight_density`` and ``act_density`` in (0, 1]
(fraction of non-zeros), ``nm`` (N:M structured weight sparsity, n kept of every m along K),
``weight_bits`` and ``act_bits`` (>= 1).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Sequence, Union

__all__ = ["Gemm", "Conv2d", "ScaleSimConv2d", "Chain", "Workload", "from_layer_spec", "from_layers", "from_module",
           "input_densities", "pytorch_output_size", "scalesim_output_size"]


def _check_size_args(in_px, kernel_px, stride, pad) -> None:
    for name, v, minimum in (("in_px", in_px, 1), ("kernel_px", kernel_px, 1), ("stride", stride, 1),
                             ("pad", pad, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ValueError(f"{name} must be an int >= {minimum}, got {v!r}")
    if kernel_px > in_px + 2 * pad:
        raise ValueError(f"kernel_px={kernel_px} is larger than the padded input in_px + 2·pad = {in_px + 2 * pad}")


def pytorch_output_size(in_px: int, kernel_px: int, stride: int = 1, pad: int = 0) -> int:
    """Output size of one spatial dimension as PyTorch's ``nn.Conv2d`` computes it (dilation 1):

        out = floor((in + 2·pad − kernel) / stride) + 1

    The window never hangs over the padded input; this is the size :class:`Conv2d` uses.

    >>> pytorch_output_size(10, 3, stride=2), pytorch_output_size(14, 3, stride=2, pad=1)
    (4, 7)
    """
    _check_size_args(in_px, kernel_px, stride, pad)
    return (in_px + 2 * pad - kernel_px) // stride + 1


def scalesim_output_size(in_px: int, kernel_px: int, stride: int = 1) -> int:
    """Output size of one spatial dimension as SCALE-Sim computes it on an already padded input:

        out = ceil((in − kernel + stride) / stride) = ceil((in − kernel) / stride) + 1

    (``topology_utils.topo_calc_hyperparams`` of SCALE-Sim v2/v3; Samajdar et al., "SCALE-Sim:
    Systolic CNN Accelerator Simulator", arXiv 2018, and ISPASS 2020). It equals
    :func:`pytorch_output_size` when ``in − kernel`` is a multiple of ``stride`` and is one
    larger otherwise (the last window hangs over the input's edge).

    >>> scalesim_output_size(10, 3, stride=2), scalesim_output_size(16, 3, stride=2)
    (5, 8)
    """
    _check_size_args(in_px, kernel_px, stride, 0)
    return -(-(in_px - kernel_px + stride) // stride)


def _check_int(owner: str, name: str, v, minimum: int = 1) -> None:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{owner}.{name} must be an int >= {minimum}, got {type(v).__name__} {v!r}")
    if v < minimum:
        raise ValueError(f"{owner}.{name} must be >= {minimum}, got {v}")


def _check_compression(owner: str, w) -> None:
    for name in ("weight_density", "act_density"):
        d = getattr(w, name)
        if isinstance(d, bool) or not isinstance(d, (int, float)):
            raise TypeError(f"{owner}.{name} must be a number in (0, 1], got {type(d).__name__} {d!r}")
        if not 0 < d <= 1:
            raise ValueError(f"{owner}.{name} must be in (0, 1] (fraction of non-zeros), got {d!r}")
    for name in ("weight_bits", "act_bits"):
        b = getattr(w, name)
        if isinstance(b, bool) or not isinstance(b, int):
            raise TypeError(f"{owner}.{name} must be an int >= 1, got {type(b).__name__} {b!r}")
        if not 1 <= b <= 64:
            raise ValueError(f"{owner}.{name} must be in [1, 64] bits, got {b}")
    if w.nm is not None:
        if (not isinstance(w.nm, tuple) or len(w.nm) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in w.nm)
                or not 1 <= w.nm[0] <= w.nm[1]):
            raise ValueError(f"{owner}.nm must be None or a tuple (n, m) of ints with 1 <= n <= m "
                             f"(e.g. (2, 4)), got {w.nm!r}")


@dataclass(frozen=True)
class Gemm:
    """``groups`` independent GEMMs ``[M, K] @ [K, N]`` with operand densities and bitwidths.

    ``input_elements``: distinct input values behind the ``[M, K]`` operand (im2col repeats
    pixels; DRAM moves each once). ``None`` means ``M·K`` per group.

    >>> Gemm(M=64, K=1024, N=1000).macs
    65536000
    """

    M: int
    K: int
    N: int
    groups: int = 1
    weight_density: float = 1.0
    act_density: float = 1.0
    weight_bits: int = 8
    act_bits: int = 8
    nm: tuple[int, int] | None = None
    input_elements: int | None = None
    name: str = ""

    def __post_init__(self):
        for f in ("M", "K", "N", "groups"):
            _check_int("Gemm", f, getattr(self, f))
        if self.input_elements is not None:
            _check_int("Gemm", "input_elements", self.input_elements)
        _check_compression("Gemm", self)

    @property
    def macs(self) -> int:
        """Dense MACs, ``groups·M·K·N``."""
        return self.groups * self.M * self.K * self.N

    @property
    def nonzero_macs(self) -> float:
        """Expected MACs with both operands non-zero, ``macs · d_w · d_a`` (independent zeros)."""
        return self.macs * self.weight_density * self.act_density

    @property
    def weights(self) -> int:
        return self.groups * self.K * self.N

    @property
    def inputs(self) -> int:
        """Distinct input values (see ``input_elements``)."""
        return self.input_elements if self.input_elements is not None else self.groups * self.M * self.K

    @property
    def outputs(self) -> int:
        return self.groups * self.M * self.N

    def to_gemm(self) -> "Gemm":
        return self

    def with_compression(self, **kw) -> "Gemm":
        """A copy with other ``weight_density``, ``act_density``, ``nm``, ``weight_bits``, ``act_bits``."""
        return replace(self, **kw)


@dataclass(frozen=True)
class Conv2d:
    """A 2-D convolution on an already padded ``in_h x in_w`` input; lowered by :meth:`to_gemm`.

    ``out = (in − kernel) // stride + 1`` (PyTorch's size; :class:`ScaleSimConv2d` has SCALE-Sim's);
    ``groups`` = ``in_channels`` is a depthwise conv.

    >>> g = Conv2d(in_h=10, in_w=10, kernel_h=3, kernel_w=3, in_channels=4, out_channels=8).to_gemm()
    >>> (g.M, g.K, g.N)
    (64, 36, 8)
    """

    in_h: int
    in_w: int
    kernel_h: int
    kernel_w: int
    in_channels: int
    out_channels: int
    stride: int = 1
    groups: int = 1
    batch: int = 1
    weight_density: float = 1.0
    act_density: float = 1.0
    weight_bits: int = 8
    act_bits: int = 8
    nm: tuple[int, int] | None = None
    name: str = ""

    def __post_init__(self):
        for f in ("in_h", "in_w", "kernel_h", "kernel_w", "in_channels", "out_channels", "stride", "groups", "batch"):
            _check_int("Conv2d", f, getattr(self, f))
        if self.kernel_h > self.in_h or self.kernel_w > self.in_w:
            raise ValueError(f"Conv2d kernel {self.kernel_h}x{self.kernel_w} is larger than the (padded) input "
                             f"{self.in_h}x{self.in_w}; pass the padded input size")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"Conv2d channels {self.in_channels}->{self.out_channels} are not divisible by "
                             f"groups={self.groups}")
        _check_compression("Conv2d", self)

    @property
    def out_h(self) -> int:
        return (self.in_h - self.kernel_h) // self.stride + 1

    @property
    def out_w(self) -> int:
        return (self.in_w - self.kernel_w) // self.stride + 1

    def to_gemm(self) -> Gemm:
        """The im2col GEMM (see the module docstring)."""
        return Gemm(
            M=self.batch * self.out_h * self.out_w,
            K=self.kernel_h * self.kernel_w * self.in_channels // self.groups,
            N=self.out_channels // self.groups, groups=self.groups,
            weight_density=self.weight_density, act_density=self.act_density,
            weight_bits=self.weight_bits, act_bits=self.act_bits, nm=self.nm,
            input_elements=self.batch * self.in_h * self.in_w * self.in_channels, name=self.name)

    @property
    def macs(self) -> int:
        return self.to_gemm().macs

    def with_compression(self, **kw) -> "Conv2d":
        return replace(self, **kw)


@dataclass(frozen=True)
class ScaleSimConv2d(Conv2d):
    """A :class:`Conv2d` sized by SCALE-Sim's output convention instead of PyTorch's.

    ``out = ceil((in − kernel + stride) / stride)`` per dimension (:func:`scalesim_output_size`);
    everything else (im2col lowering, ``K``, ``N``, groups, compression fields) is
    :class:`Conv2d`'s, so :func:`~companion.accelerator.evaluate_layer` gives exactly the cycles
    and SRAM counts SCALE-Sim v3 reports for the same topology row. Use it to compare with the
    simulator; use :class:`Conv2d` (the real layer's size) for everything else.
    :func:`~companion.accelerator.read_scalesim_topology` returns these.

    >>> c = dict(in_h=10, in_w=10, kernel_h=3, kernel_w=3, in_channels=4, out_channels=16, stride=2)
    >>> Conv2d(**c).to_gemm().M, ScaleSimConv2d(**c).to_gemm().M
    (16, 25)
    """

    @property
    def out_h(self) -> int:
        return scalesim_output_size(self.in_h, self.kernel_h, self.stride)

    @property
    def out_w(self) -> int:
        return scalesim_output_size(self.in_w, self.kernel_w, self.stride)


@dataclass(frozen=True)
class Chain:
    """Layers run one after another, e.g. the factors of a decomposed layer (TT / CP / SVD)."""

    layers: tuple
    name: str = ""

    def __post_init__(self):
        if not isinstance(self.layers, tuple) or not self.layers:
            raise ValueError("Chain.layers must be a non-empty tuple of Gemm / Conv2d / Chain")
        for l in self.layers:
            if not isinstance(l, (Gemm, Conv2d, Chain)):
                raise TypeError(f"Chain.layers holds {type(l).__name__}; allowed: Gemm, Conv2d, Chain")

    @property
    def macs(self) -> int:
        return sum(l.macs for l in self.layers)

    def with_compression(self, **kw) -> "Chain":
        return replace(self, layers=tuple(l.with_compression(**kw) for l in self.layers))


Workload = Union[Gemm, Conv2d, Chain]


def from_layer_spec(spec, *, batch: int = 1, weight_density: float = 1.0, act_density: float = 1.0,
                    weight_bits: int = 8, act_bits: int = 8, nm: tuple[int, int] | None = None):
    """A :class:`companion.models.LayerSpec` (conv or fc) as a :class:`Conv2d` / :class:`Gemm`.

    Padding is applied to the input size (``in + 2·pad``). ``bn`` rows fold into the preceding
    conv at inference and give ``None``.
    """
    kind = getattr(spec, "type", None)
    if kind not in ("conv", "fc", "bn"):
        raise TypeError(f"expected a LayerSpec with type conv/fc/bn, got {type(spec).__name__}")
    comp = dict(weight_density=weight_density, act_density=act_density, weight_bits=weight_bits,
                act_bits=act_bits, nm=nm, name=spec.name)
    if kind == "bn":
        return None
    if kind == "fc":
        return Gemm(M=batch, K=spec.in_c, N=spec.out_c, **comp)
    return Conv2d(in_h=spec.in_h + 2 * spec.pad, in_w=spec.in_w + 2 * spec.pad, kernel_h=spec.k_h,
                  kernel_w=spec.k_w, in_channels=spec.in_c, out_channels=spec.out_c, stride=spec.stride,
                  groups=spec.groups, batch=batch, **comp)


def _per_layer(value, names: Sequence[str], what: str, default):
    """A scalar, a mapping name -> value (missing names get ``default``) or a sequence, as a list."""
    if value is None:
        return [default] * len(names)
    if isinstance(value, dict):
        unknown = set(value) - set(names)
        if unknown:
            raise ValueError(f"{what}: unknown layer names {sorted(unknown)}; layers: {list(names)}")
        return [value.get(n, default) for n in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"{what}: {len(value)} values for {len(names)} layers ({list(names)})")
        return list(value)
    return [value] * len(names)


def from_layers(layers: Iterable, *, batch: int = 1, densities=None, bits=None, act_densities=None,
                act_bits=None, nm=None) -> list:
    """Workloads of a layer table (``companion.models.layer_table(name)``, a
    ``metrics.module_layer_table(...)``) or an iterable of LayerSpec / workloads.

    ``densities`` (weights), ``act_densities``, ``bits`` (weights), ``act_bits`` and ``nm``:
    ``None`` (dense, 8 bits), one value for every layer, a dict ``{layer name: value}`` or a
    sequence with one value per conv/fc layer. BatchNorm rows are dropped.
    """
    items = [l for l in layers if getattr(l, "type", None) != "bn"]
    if not items:
        raise ValueError("no conv/fc layers to evaluate_layer")
    names = [getattr(l, "name", "") or f"layer{i}" for i, l in enumerate(items)]
    d_w = _per_layer(densities, names, "densities", 1.0)
    d_a = _per_layer(act_densities, names, "act_densities", 1.0)
    b_w = _per_layer(bits, names, "bits", 8)
    b_a = _per_layer(act_bits, names, "act_bits", 8)
    one_nm = isinstance(nm, tuple) and len(nm) == 2 and all(isinstance(x, int) for x in nm)
    nms = [nm] * len(names) if one_nm else _per_layer(nm, names, "nm", None)
    given = {"weight_density": densities, "act_density": act_densities, "weight_bits": bits,
             "act_bits": act_bits, "nm": nm}
    out = []
    for l, dw, da, bw, ba, n in zip(items, d_w, d_a, b_w, b_a, nms):
        comp = dict(weight_density=dw, act_density=da, weight_bits=bw, act_bits=ba, nm=n)
        if isinstance(l, (Gemm, Conv2d, Chain)):
            # a ready workload keeps its own fields unless an argument says otherwise
            explicit = {k: v for k, v in comp.items() if given[k] is not None}
            out.append(l.with_compression(**explicit) if explicit else l)
        else:
            out.append(from_layer_spec(l, batch=batch, **comp))
    return out


def from_module(model, input_shape=(1, 1, 28, 28), *, act_density=None, bits: int = 8, act_bits: int = 8) -> list:
    """Workloads of any ``nn.Module`` of the companion, traced on one forward pass.

    Shapes come from :func:`companion.metrics.module_layer_table`, each layer's weight density
    from its non-zero weights (:func:`companion.metrics.measure_layers`); ``act_density`` (one
    value or a dict by layer name) is the density of each layer's *input* (e.g. measured ReLU
    sparsity). Batch = ``input_shape[0]``. Imports torch lazily.
    """
    from .. import metrics
    table = metrics.module_layer_table(model, input_shape)
    costs = {c.name: c for c in metrics.measure_layers(model, input_shape)}
    names = [l.name for l in table]
    dens = [max(costs[n].density, 1e-9) for n in names]
    return from_layers(table, batch=int(input_shape[0]), densities=dens, act_densities=act_density,
                       bits=bits, act_bits=act_bits)


def input_densities(model, x) -> dict[str, float]:
    """Fraction of non-zero *inputs* of every ``nn.Conv2d`` / ``nn.Linear`` of ``model`` on batch ``x``.

    ``{layer name: density}``, measured with forward pre-hooks (e.g. ReLU makes about half of
    a layer's inputs zero; a normalised image has none). Imports torch lazily.
    """
    import torch
    from torch import nn
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    counts: dict[str, list[int]] = {}

    def hook_for(name):
        def hook(m, inputs):
            t = inputs[0]
            c = counts.setdefault(name, [0, 0])
            c[0] += int((t != 0).sum())
            c[1] += t.numel()
        return hook

    handles = [m.register_forward_pre_hook(hook_for(n)) for n, m in model.named_modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(x)
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    return {n: nz / total for n, (nz, total) in counts.items()}
