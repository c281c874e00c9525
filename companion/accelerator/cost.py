"""The cost model: ``evaluate_layer(arch, workload) -> LayerReport`` and ``evaluate_network(...)``.

One pure function turns (architecture, workload) into cycles, accesses per level, energy per
level and latency (after the survey's section on accelerators; the structure of Timeloop /
Accelergy, the timing of SCALE-Sim). For one GEMM of ``groups`` x ``[M, K] @ [K, N]``:

1. **Reduction length.** Dense: ``K_eff = K``. N:M weights on an array with ``nm_support``:
   ``K_eff = ceil(K·n/m)``. Sparse engine: ``K_eff = effective_reduction(K, f, lanes=R·C)``
   with ``f = d_w`` (skip weights), ``d_a`` (skip activations) or ``d_w·d_a`` (both).
2. **Compute cycles** (:mod:`.dataflow`): ``groups · folds · fold_cycles(T_eff)`` on the
   GEMM ``[M, K_eff] @ [K_eff, N]``, where ``T_eff = ceil(T · precision_time_factor)``
   (bit-serial / bit-fusion engines stream faster with fewer bits).
3. **SRAM accesses**: the dataflow's table on the same GEMM; word sizes are the operand bits
   (+ ``index_bits`` for compressed operands). Partial sums written per row fold are read back.
4. **DRAM traffic**: every operand once (compressed sizes, real input size without im2col
   duplicates) plus refetch — the streamed operand (ifmap for OS/WS, filter for IS) is read
   once per column fold when it does not fit its buffer. Partial sums never spill: when a
   WS/IS fold's partial sums do not fit the ofmap buffer, the streamed dimension is cut into
   ``tiles`` that do, each extra tile paying the fold's fill/drain again. Those cycles are
   **not** in ``cycles`` (which stays SCALE-Sim's compute count whatever the buffer sizes) but
   in ``stall_cycles = groups · folds · (tiles − 1) · (fold_cycles(1) − 1)``; ``tiles = 1`` and
   ``stall_cycles = 0`` whenever the buffer holds a fold's partial sums.
5. **Energy** (pJ, :mod:`.energy`): MAC (only MACs with two non-zero operands: a dense array
   *gates* zeros, saving energy but not time), array (two neighbour hops and one register
   access per executed MAC slot), buffer (SRAM bits), DRAM (bits).
6. **Latency**: ``latency_cycles = max(cycles + stall_cycles, memory_cycles)`` with
   ``memory_cycles = DRAM bytes / bandwidth`` — a roofline point; compute and transfers are
   assumed to overlap perfectly (double buffering), so a compute-bound layer has
   ``latency_cycles = cycles + stall_cycles``.

What it does not capture (stated in the chapter): bank conflicts, NoC contention, control and
leakage energy, the exact sparse dataflows of EIE/SCNN (Cartesian products, accumulator
conflicts), layer fusion, and activation functions/pooling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Iterable

from . import dataflow as dfm
from .arch import Architecture
from .workload import Chain, Conv2d, Gemm, from_layers

__all__ = ["LayerReport", "NetworkReport", "evaluate_layer", "evaluate_network", "ENERGY_LEVELS"]

ENERGY_LEVELS = ("dram", "buffer", "array", "mac")


@dataclass(frozen=True)
class LayerReport:
    """Cost of one workload on one architecture (see the module docstring for the model).

    ``cycles``: compute cycles exactly as SCALE-Sim v3 counts them for any buffer size
    (its printed value + 1, see :attr:`scalesim_cycles`); ``stall_cycles``: the extra
    fill/drain of the ``tiles`` a too-small ofmap buffer forces (0 when it is large enough);
    ``latency_cycles = max(cycles + stall_cycles, memory_cycles)``; energies in pJ per level,
    ``energy_pj`` their sum.

    Two utilisations:

    * :attr:`utilization` = ``executed_macs / (R·C·cycles)``: the fraction of the PE-cycles of
      the compute cycles (``cycles``, stalls excluded) that execute a MAC (``executed_macs``:
      every dense MAC, zero operands included, on a dense engine; the MACs left after skipping
      on a sparse or N:M engine). For a dense OS layer it equals SCALE-Sim's compute
      utilisation; for WS and IS it is larger than SCALE-Sim's (0.02 to 6.9 pp on the
      reference table), since a fold's ``T + 2R + C − 2`` cycles lack SCALE-Sim's ``C − 1``
      drain cycles.
    * :attr:`scalesim_utilization`: SCALE-Sim v3's "Compute Util" as a fraction, the mean over
      folds of ``used·T / (R·C·span)`` with ``span = T + R + C − 2`` (OS) or
      ``T + 2R + 2C − 3`` (WS, IS), i.e. ``mapping_efficiency · T / span``
      (:func:`~companion.accelerator.dataflow.scalesim_compute_utilization`; Samajdar et al.,
      ISPASS 2020), on the GEMM the array executes (``k_eff``, and ``T`` scaled by the
      engine's precision factor). A combined report (Chain) averages its parts' over all folds.
    """

    name: str
    dataflow: str
    engine: str
    M: int
    K: int
    N: int
    groups: int
    k_eff: int
    macs: int
    nonzero_macs: float
    executed_macs: float
    row_folds: int
    col_folds: int
    cycles: int
    mapping_efficiency: float
    sram_ifmap_reads: int
    sram_filter_reads: int
    sram_ofmap_writes: int
    sram_psum_reads: int
    sram_bits: float
    dram_ifmap_bits: float
    dram_filter_bits: float
    dram_ofmap_bits: float
    memory_cycles: int
    latency_cycles: int
    pes: int
    clock_ghz: float
    energy_dram_pj: float
    energy_buffer_pj: float
    energy_array_pj: float
    energy_mac_pj: float
    scalesim_ofmap_writes: int = 0
    tiles: int = 1
    stall_cycles: int = 0
    gemms: int = 1
    parts: tuple = ()
    scalesim_utilization: float = 0.0

    @property
    def folds(self) -> int:
        """Tiles the array works through (groups included)."""
        return self.groups * self.row_folds * self.col_folds

    @property
    def scalesim_cycles(self) -> int:
        """What SCALE-Sim v3 prints as "Total Cycles" (the index of the last cycle): ``cycles − 1``
        per GEMM it simulates (a depthwise layer is one GEMM per channel)."""
        return self.cycles - self.gemms

    @property
    def utilization(self) -> float:
        """``executed_macs / (R·C·cycles)`` (see the class docstring; not SCALE-Sim's for WS / IS)."""
        return self.executed_macs / (self.pes * self.cycles)

    @property
    def energy_pj(self) -> float:
        return self.energy_dram_pj + self.energy_buffer_pj + self.energy_array_pj + self.energy_mac_pj

    @property
    def energy_breakdown(self) -> dict[str, float]:
        """``{"dram", "buffer", "array", "mac"}`` in pJ; sums to :attr:`energy_pj`."""
        return {"dram": self.energy_dram_pj, "buffer": self.energy_buffer_pj,
                "array": self.energy_array_pj, "mac": self.energy_mac_pj}

    @property
    def dram_bits(self) -> float:
        return self.dram_ifmap_bits + self.dram_filter_bits + self.dram_ofmap_bits

    @property
    def dram_bytes(self) -> float:
        return self.dram_bits / 8

    @property
    def latency_s(self) -> float:
        return self.latency_cycles / (self.clock_ghz * 1e9)

    @property
    def bound(self) -> str:
        """``"compute"`` or ``"memory"``: which side of the roofline sets the latency."""
        return "memory" if self.memory_cycles > self.cycles + self.stall_cycles else "compute"

    @property
    def intensity_ops_per_byte(self) -> float:
        """Operational intensity, dense-equivalent ops (2·MACs) per DRAM byte."""
        return 2 * self.macs / self.dram_bytes if self.dram_bytes else math.inf

    @property
    def throughput_gops(self) -> float:
        """Dense-equivalent GOPS (2·MACs / latency), as EIE reports its 3 TOPS."""
        return 2 * self.macs / self.latency_s / 1e9

    def __str__(self) -> str:
        share = ", ".join(f"{k} {100 * v / self.energy_pj:.0f}%" for k, v in self.energy_breakdown.items())
        return (f"{self.name or 'layer'} [{self.dataflow.upper()} {self.engine}]: {self.cycles:,} cycles "
                f"({self.groups * self.row_folds * self.col_folds} folds"
                f"{f', + {self.stall_cycles:,} stall cycles' if self.stall_cycles else ''}), utilisation {100 * self.utilization:.1f}%, "
                f"{self.bound}-bound, {self.energy_pj / 1e6:.3f} µJ ({share})")

    def as_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "parts"}
        d.update(utilization=self.utilization, energy_pj=self.energy_pj, dram_bytes=self.dram_bytes,
                 latency_s=self.latency_s, bound=self.bound, intensity_ops_per_byte=self.intensity_ops_per_byte)
        return d


def _evaluate_gemm(arch: Architecture, g: Gemm) -> LayerReport:
    R, C, df = arch.rows, arch.cols, arch.dataflow
    eng = arch.energy
    d_w = g.weight_density if g.nm is None else min(g.weight_density, g.nm[0] / g.nm[1])
    d_a = g.act_density
    w_bits, a_bits, p_bits = g.weight_bits, g.act_bits, arch.psum_bits
    w_word, a_word = float(w_bits), float(a_bits)
    filter_store_bits = g.weights * w_bits                      # DRAM/stored size of the weights
    ifmap_store_bits = g.inputs * a_bits

    # 1. reduction length and what is stored compressed
    K_eff = g.K
    if arch.engine == "dense" and arch.nm_support and g.nm is not None:
        n, m = g.nm
        K_eff = max(1, math.ceil(g.K * n / m))
        meta = math.ceil(math.log2(m)) if m > 1 else 0
        w_word = w_bits + meta
        filter_store_bits = g.groups * K_eff * g.N * w_word
        executed_per_mac = K_eff / g.K
    elif arch.engine == "sparse":
        f = {"weights": d_w, "activations": d_a, "both": d_w * d_a}[arch.skip]
        K_eff = dfm.effective_reduction(g.K, f, lanes=arch.pes)
        executed_per_mac = f
        if arch.skip in ("weights", "both"):
            w_word = w_bits + arch.index_bits
            filter_store_bits = g.weights * d_w * w_word
        if arch.skip in ("activations", "both"):
            a_word = a_bits + arch.index_bits
            ifmap_store_bits = g.inputs * d_a * a_word
    else:
        executed_per_mac = 1.0

    # 2. mapping: WS / IS keep a fold's partial sums (M x C or C x N at psum_bits) in the ofmap
    #    buffer while the row folds accumulate; when they do not fit, the streamed dimension is
    #    cut into `tiles` pieces that do — each extra piece pays the fold's fill/drain again
    #    (stall_cycles, kept apart from SCALE-Sim's compute cycles) and re-reads the stationary
    #    operand from SRAM (a mapper's choice; no partial sums spill).
    Sr, Sc, T = dfm.spatial_dims(df, g.M, K_eff, g.N)
    fr, fc = -(-Sr // R), -(-Sc // C)
    tiles = 1
    if df != "os" and fr > 1:
        tile_bits = (g.M * min(C, g.N) if df == "ws" else min(C, g.M) * g.N) * p_bits
        tiles = min(T, math.ceil(tile_bits / (arch.ofmap_kb * 8192)))
    scale = dfm.precision_time_factor(arch.engine, w_bits, a_bits, arch.base_bits)
    T_eff = max(1, math.ceil(T * scale - 1e-9))
    overhead = dfm.fold_cycles(df, 1, R, C) - 1
    cycles = g.groups * fr * fc * (T_eff + overhead)
    stall_cycles = g.groups * fr * fc * (tiles - 1) * overhead
    map_eff = (Sr / (fr * R)) * (Sc / (fc * C))
    scalesim_util = map_eff * T_eff / dfm.scalesim_fold_span_cycles(df, T_eff, R, C)

    # 3. SRAM accesses (words) and bits
    ifr, flr, ofw = dfm.sram_accesses(df, g.M, K_eff, g.N, R, C)
    if df == "ws":
        flr *= tiles
    elif df == "is":
        ifr *= tiles
    ifr, flr, ofw = g.groups * ifr, g.groups * flr, g.groups * ofw
    outputs = g.outputs
    psum_rd = ofw - outputs                      # partial sums read back for accumulation
    sram_bits = ifr * a_word + flr * w_word + outputs * a_bits + psum_rd * p_bits * 2

    # 4. DRAM traffic: each operand once; the streamed one again per column fold if it does not fit
    dram_if, dram_fl = ifmap_store_bits, filter_store_bits
    if df in ("os", "ws") and dram_if > arch.ifmap_kb * 8192:
        dram_if *= fc
    if df == "is" and dram_fl > arch.filter_kb * 8192:
        dram_fl *= fc
    dram_of = outputs * a_bits
    dram_bits = dram_if + dram_fl + dram_of
    memory_cycles = math.ceil(dram_bits / 8 / arch.dram_bytes_per_cycle)

    # 5. energy
    executed = g.macs * executed_per_mac
    hop_bits, rf_bits = {"os": (w_bits + a_bits, p_bits), "ws": (a_bits + p_bits, w_bits),
                         "is": (w_bits + p_bits, a_bits)}[df]
    e_mac = g.macs * d_w * d_a * eng.mac_pj(w_bits, a_bits, p_bits)
    e_array = executed * (hop_bits * eng.hop_pj_per_bit + rf_bits * eng.rf_pj_per_bit)  # two hops, one RF access
    e_buffer = sram_bits * eng.sram_pj_per_bit
    e_dram = dram_bits * eng.dram_pj_per_bit

    return LayerReport(
        name=g.name, dataflow=df, engine=arch.engine, M=g.M, K=g.K, N=g.N, groups=g.groups, k_eff=K_eff,
        macs=g.macs, nonzero_macs=g.macs * d_w * d_a, executed_macs=executed, row_folds=fr, col_folds=fc,
        cycles=cycles, mapping_efficiency=map_eff, sram_ifmap_reads=ifr, sram_filter_reads=flr,
        sram_ofmap_writes=ofw, sram_psum_reads=psum_rd, sram_bits=sram_bits, dram_ifmap_bits=dram_if,
        dram_filter_bits=dram_fl, dram_ofmap_bits=dram_of, tiles=tiles, stall_cycles=stall_cycles,
        gemms=g.groups, memory_cycles=memory_cycles, latency_cycles=max(cycles + stall_cycles, memory_cycles),
        pes=arch.pes,
        clock_ghz=arch.clock_ghz, energy_dram_pj=e_dram, energy_buffer_pj=e_buffer, energy_array_pj=e_array,
        energy_mac_pj=e_mac, scalesim_utilization=scalesim_util,
        scalesim_ofmap_writes=ofw + (g.groups * fr * fc * (R + C) if df == "os" else 0))


_SUMMED = ("macs", "nonzero_macs", "executed_macs", "cycles", "sram_ifmap_reads", "sram_filter_reads",
           "sram_ofmap_writes", "sram_psum_reads", "sram_bits", "dram_ifmap_bits", "dram_filter_bits",
           "dram_ofmap_bits", "memory_cycles", "latency_cycles", "stall_cycles", "energy_dram_pj",
           "energy_buffer_pj", "energy_array_pj", "energy_mac_pj", "scalesim_ofmap_writes", "gemms")


def _combine(name: str, arch: Architecture, parts: list[LayerReport]) -> LayerReport:
    sums = {k: sum(getattr(p, k) for p in parts) for k in _SUMMED}
    weight = sum(p.folds for p in parts)
    eff = sum(p.mapping_efficiency * p.folds for p in parts) / weight
    ss_util = sum(p.scalesim_utilization * p.folds for p in parts) / weight
    return LayerReport(name=name, dataflow=arch.dataflow, engine=arch.engine, M=0, K=0, N=0, groups=1,
                       k_eff=0, row_folds=weight, col_folds=1, mapping_efficiency=eff, pes=arch.pes,
                       scalesim_utilization=ss_util,
                       clock_ghz=arch.clock_ghz, parts=tuple(parts), **sums)


def evaluate_layer(arch: Architecture, workload) -> LayerReport:
    """Cycles, utilisation, accesses, energy and latency of ``workload`` on ``arch``.

    ``workload``: a :class:`Gemm`, a :class:`Conv2d` (lowered by im2col) or a :class:`Chain`
    (its layers run one after another; the report sums them, ``parts`` holds each).
    For a dense layer ``cycles`` follows SCALE-Sim v3's compute-cycle model: per fold
    ``T + R + C − 2`` (OS) or ``T + 2R + C − 2`` (WS, IS); SCALE-Sim prints ``cycles − 1``.

    >>> rep = evaluate_layer(Architecture(rows=4, cols=4, dataflow="os"), Gemm(M=4, K=4, N=4))
    >>> rep.cycles, round(rep.utilization, 2)
    (10, 0.4)
    """
    if not isinstance(arch, Architecture):
        raise TypeError(f"arch must be an Architecture, got {type(arch).__name__}")
    if isinstance(workload, Gemm):
        return _evaluate_gemm(arch, workload)
    if isinstance(workload, Conv2d):
        return _evaluate_gemm(arch, workload.to_gemm())
    if isinstance(workload, Chain):
        return _combine(workload.name, arch, [evaluate_layer(arch, l) for l in workload.layers])
    raise TypeError(f"workload must be a Gemm, Conv2d or Chain, got {type(workload).__name__}")


@dataclass(frozen=True)
class NetworkReport:
    """Per-layer reports of a whole network on one architecture, with totals.

    Layers run one after another: ``cycles``, ``latency_cycles``, energies and traffic add up.
    """

    name: str
    arch: Architecture
    layers: tuple[LayerReport, ...]

    def _sum(self, attr: str):
        return sum(getattr(l, attr) for l in self.layers)

    @property
    def cycles(self) -> int:
        return self._sum("cycles")

    @property
    def stall_cycles(self) -> int:
        """Fill/drain cycles of the extra tiles small ofmap buffers force (0 with large buffers)."""
        return self._sum("stall_cycles")

    @property
    def latency_cycles(self) -> int:
        return self._sum("latency_cycles")

    @property
    def latency_s(self) -> float:
        return self.latency_cycles / (self.arch.clock_ghz * 1e9)

    @property
    def energy_pj(self) -> float:
        return self._sum("energy_pj")

    @property
    def energy_breakdown(self) -> dict[str, float]:
        return {k: sum(l.energy_breakdown[k] for l in self.layers) for k in ENERGY_LEVELS}

    @property
    def macs(self) -> int:
        return self._sum("macs")

    @property
    def dram_bytes(self) -> float:
        return self._sum("dram_bytes")

    @property
    def utilization(self) -> float:
        return self._sum("executed_macs") / (self.arch.pes * self.cycles)

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def to_frame(self):
        """A pandas DataFrame, one row per layer: cycles, utilisation, latency, energy per level."""
        import pandas as pd
        rows = []
        for l in self.layers:
            rows.append({"layer": l.name, "M": l.M, "K": l.K, "N": l.N, "groups": l.groups, "macs": l.macs,
                         "cycles": l.cycles, "stall_cycles": l.stall_cycles, "tiles": l.tiles,
                         "utilization": l.utilization,
                         "mapping_efficiency": l.mapping_efficiency, "latency_cycles": l.latency_cycles,
                         "bound": l.bound, "intensity_ops_per_byte": l.intensity_ops_per_byte,
                         **{f"energy_{k}_pj": v for k, v in l.energy_breakdown.items()},
                         "energy_pj": l.energy_pj})
        return pd.DataFrame(rows).set_index("layer")

    def __str__(self) -> str:
        e = self.energy_breakdown
        share = ", ".join(f"{k} {100 * v / self.energy_pj:.0f}%" for k, v in e.items())
        return (f"{self.name} on {self.arch.label()}: {self.cycles:,} compute cycles, "
                f"{self.latency_s * 1e3:.3f} ms, utilisation {100 * self.utilization:.1f}%, "
                f"{self.energy_pj / 1e6:.2f} µJ ({share})")


def evaluate_network(arch: Architecture, layers: Iterable, densities=None, bits=None, *, act_densities=None,
                     act_bits=None, nm=None, batch: int = 1, name: str | None = None) -> NetworkReport:
    """Evaluate every conv/fc layer of a network; the budget knobs of automatic compression.

    ``layers``: ``companion.models.layer_table(name)``, ``metrics.module_layer_table(model,
    input_shape)``, a list of LayerSpec, or a list of workloads (:func:`.workload.from_module`
    gives one for any ``nn.Module`` with its measured densities). ``densities`` (weight
    density), ``bits`` (weight bits), ``act_densities``, ``act_bits``, ``nm``: ``None``
    (dense, 8-bit), one value, ``{layer name: value}`` or one value per conv/fc layer.

    >>> from companion.models import layer_table
    >>> rep = evaluate_network(Architecture(), layer_table("alexnet"), densities=0.5, bits=4)
    >>> len(rep), rep.energy_pj > 0
    (8, True)
    """
    if not isinstance(arch, Architecture):
        raise TypeError(f"arch must be an Architecture, got {type(arch).__name__}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be an int >= 1, got {batch!r}")
    workloads = from_layers(layers, batch=batch, densities=densities, bits=bits, act_densities=act_densities,
                            act_bits=act_bits, nm=nm)
    reports = tuple(evaluate_layer(arch, w) for w in workloads)
    return NetworkReport(name if name is not None else getattr(layers, "name", "network"), arch, reports)
