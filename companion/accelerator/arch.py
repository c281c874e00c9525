"""The architecture: an R x C PE array, its dataflow, buffers, DRAM link, clock and energy table.

After the survey's section on neural network accelerators. The split into *architecture*
(this module), *workload* (:mod:`.workload`) and *mapping* (:mod:`.dataflow`) follows
Timeloop/Accelergy (Parashar et al., ISPASS 2019; Wu et al., ICCAD 2019): compression reaches
the cost model only through the workload's fields; the hardware's ability to exploit it is a
field of the architecture (``engine``, ``nm_support``).

Engines (what the array does with zeros and with narrow operands):

=============== ===========================================================================
``"dense"``     systolic array; every MAC takes a slot, MACs with a zero operand are only
                *gated* (no multiplier energy, same time). With ``nm_support=True`` an
                N:M-sparse weight stream shrinks the reduction length K by n/m (Sparse
                Tensor Core / SCALE-Sim v3 style).
``"sparse"``    EIE / Cnvlutin / SCNN-style: zero weights (``skip="weights"``, EIE), zero
                activations (``"activations"``, Cnvlutin) or both (``"both"``, SCNN's
                Cartesian product) are skipped; operands are stored compressed (value +
                ``index_bits``); unstructured zeros are unevenly spread over the PEs, which
                costs a load-imbalance factor (:func:`.dataflow.effective_reduction`).
``"bit_serial"`` Stripes: activations enter one bit per cycle, with ``base_bits`` times more
                (narrower) lanes in the same area: streaming time ∝ activation bits / base_bits.
``"bit_fusion"`` Bit Fusion: 2-bit BitBricks fuse into wider multipliers; at ``base_bits`` = 8 an
                8x8-bit MAC takes the whole fused PE, 4x4 runs 4 per PE, 2x2 runs 16:
                streaming time ∝ (w_bits · a_bits) / base_bits² (bits rounded up to 2, 4, 8, 16).
=============== ===========================================================================
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .energy import EnergyTable, default_energy_table

__all__ = ["DATAFLOWS", "ENGINES", "SKIPS", "Architecture"]

DATAFLOWS = ("os", "ws", "is")
ENGINES = ("dense", "sparse", "bit_serial", "bit_fusion")
SKIPS = ("weights", "activations", "both")


def _positive_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"Architecture.{name} must be an int >= 1, got {type(v).__name__} {v!r}")
    if v < 1:
        raise ValueError(f"Architecture.{name} must be >= 1 (an array needs at least one PE row/column), got {v}")
    return v


def _positive_number(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"Architecture.{name} must be a number > 0, got {type(v).__name__} {v!r}")
    if not v > 0:
        raise ValueError(f"Architecture.{name} must be > 0, got {v!r}")
    return float(v)


@dataclass(frozen=True)
class Architecture:
    """An R x C PE array with a dataflow, three on-chip buffers, a DRAM link and an energy table.

    ``rows`` x ``cols`` PEs (``rows`` = R maps the GEMM's spatial row dimension Sr, ``cols`` = C
    maps Sc; see :mod:`.dataflow`). ``dataflow``: ``"os"`` output-, ``"ws"`` weight- or ``"is"``
    input-stationary. Buffers (``*_kb``, kilobytes) hold ifmap, filter and ofmap/partial sums;
    an operand that does not fit is re-fetched from DRAM once per column fold. DRAM delivers
    ``dram_bytes_per_cycle``; ``clock_ghz`` converts cycles to seconds. ``psum_bits`` is the
    accumulator width (partial sums in the array and in the ofmap buffer).

    >>> Architecture(rows=32, cols=32, dataflow="ws").peak_macs_per_cycle
    1024
    """

    rows: int = 32
    cols: int = 32
    dataflow: str = "ws"
    engine: str = "dense"
    skip: str = "both"
    nm_support: bool = False
    index_bits: int = 4
    base_bits: int = 8
    psum_bits: int = 32
    ifmap_kb: float = 256.0
    filter_kb: float = 256.0
    ofmap_kb: float = 128.0
    dram_bytes_per_cycle: float = 32.0
    clock_ghz: float = 1.0
    energy: EnergyTable = field(default_factory=default_energy_table)
    name: str = ""

    def __post_init__(self):
        _positive_int("rows", self.rows)
        _positive_int("cols", self.cols)
        if not isinstance(self.dataflow, str) or self.dataflow not in DATAFLOWS:
            raise ValueError(f"unknown dataflow {self.dataflow!r}; allowed: {DATAFLOWS} "
                             "(output-, weight-, input-stationary)")
        if not isinstance(self.engine, str) or self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; allowed: {ENGINES}")
        if not isinstance(self.skip, str) or self.skip not in SKIPS:
            raise ValueError(f"unknown skip {self.skip!r}; allowed: {SKIPS}")
        if not isinstance(self.nm_support, bool):
            raise TypeError(f"nm_support must be a bool, got {self.nm_support!r}")
        for name in ("index_bits", "base_bits", "psum_bits"):
            _positive_int(name, getattr(self, name))
        for name in ("ifmap_kb", "filter_kb", "ofmap_kb", "dram_bytes_per_cycle", "clock_ghz"):
            _positive_number(name, getattr(self, name))
        if not isinstance(self.energy, EnergyTable):
            raise TypeError(f"energy must be an EnergyTable, got {type(self.energy).__name__}")

    @property
    def pes(self) -> int:
        """Number of processing elements, R·C."""
        return self.rows * self.cols

    @property
    def peak_macs_per_cycle(self) -> int:
        """R·C MACs per cycle (a dense array at full utilisation)."""
        return self.rows * self.cols

    @property
    def peak_gops(self) -> float:
        """Peak throughput in GOPS (one MAC = 2 operations)."""
        return 2 * self.pes * self.clock_ghz

    @property
    def dram_gbytes_per_s(self) -> float:
        return self.dram_bytes_per_cycle * self.clock_ghz

    @property
    def ridge_ops_per_byte(self) -> float:
        """Roofline ridge point: peak ops / DRAM bandwidth (Williams et al. 2009)."""
        return self.peak_gops / self.dram_gbytes_per_s

    def label(self) -> str:
        extra = {"dense": "", "sparse": f", skip {self.skip}", "bit_serial": "", "bit_fusion": ""}[self.engine]
        return self.name or f"{self.rows}x{self.cols} {self.dataflow.upper()} {self.engine}{extra}"
