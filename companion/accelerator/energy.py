"""The one energy table of the book: energy per operation and per access (chapters 1 and 7).

Both chapter 1's first-order model (:mod:`companion.why_compress`) and chapter 7's accelerator
model (:mod:`companion.accelerator.cost`) read their constants from here, so an int8 MAC costs
the same in both.

Sources (primary; the constants below are copied from them, with nothing else in between):

* :data:`HOROWITZ_45NM_PJ` — M. Horowitz, "Computing's energy problem (and what we can do about
  it)", ISSCC 2014, Fig. 1.1.9 (45 nm, 0.9 V): 8-bit int add 0.03 pJ, 32-bit int add 0.1 pJ,
  8-bit int mult 0.2 pJ, 32-bit int mult 3.1 pJ, 16/32-bit float add 0.4/0.9 pJ, mult 1.1/3.7
  pJ, a 32-bit read of an 8 KB SRAM 5 pJ, a 32-bit DRAM read 640 pJ.
* :data:`EYERISS_RELATIVE_ENERGY` — Y.-H. Chen, J. Emer, V. Sze, "Eyeriss: a spatial
  architecture for energy-efficient dataflow for convolutional neural networks", ISCA 2016,
  Fig. 1: energy of one access relative to one MAC — register file 1x, neighbour PE 2x,
  global buffer 6x, DRAM 200x.

How they are combined (one rule for every caller, every step stated):

* multiply: ``E_mult(w, a) = E_int8_mult · w·a / 64`` — a multiplier's energy grows with the
  product of its operand widths (array multiplier area); anchored at Horowitz's int8 value it
  gives 3.2 pJ at 32x32 bits, close to his measured 3.1 pJ.
* accumulate: ``E_add(p) = E_int32_add · p / 32`` at the accumulator width ``p`` (32 bits by
  default: an int8 product is summed into a 32-bit partial sum, as in every int8 datapath).
  So one int8 MAC is ``0.2 + 0.1 = 0.3`` pJ.
* a float MAC (16 or 32 bits) is Horowitz's float multiply plus float add at that width
  (fp32: ``3.7 + 0.9 = 4.6`` pJ).
* buffer (SRAM) and DRAM: Horowitz's 32-bit values per bit, ``5/32`` and ``640/32`` pJ/bit.
* register file and neighbour-PE hop: Eyeriss's ratios *to the global buffer*,
  ``E_rf = E_sram/6`` and ``E_hop = 2·E_sram/6`` per bit (Eyeriss has no absolute anchor that
  matches Horowitz's; the buffer is the shared level).

Note the two sources disagree on DRAM: Horowitz's DRAM/SRAM ratio is 128, Eyeriss's 200/6 ≈ 33
(a larger global buffer costs more per access than an 8 KB SRAM). The table keeps Horowitz's
absolute values; chapter 7 discusses the difference.

>>> round(default_energy_table().mac_pj(8, 8), 6), round(mac_energy_pj(32, dtype="float"), 6)
(0.3, 4.6)
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

__all__ = ["HOROWITZ_45NM_PJ", "EYERISS_RELATIVE_ENERGY", "SOURCES", "EnergyTable", "default_energy_table",
           "mac_energy_pj", "energy_sources"]

_HOROWITZ = "Horowitz, ISSCC 2014, Fig. 1.1.9 (45 nm, 0.9 V)"
_EYERISS = "Chen, Emer, Sze, ISCA 2016 (Eyeriss), Fig. 1: energy of one access normalised to one MAC"

#: Horowitz's 45 nm energies in pJ, keyed by ``(operation, dtype, bits)``.
HOROWITZ_45NM_PJ = MappingProxyType({
    ("add", "int", 8): 0.03,
    ("add", "int", 16): 0.05,
    ("add", "int", 32): 0.1,
    ("add", "float", 16): 0.4,
    ("add", "float", 32): 0.9,
    ("mult", "int", 8): 0.2,
    ("mult", "int", 32): 3.1,
    ("mult", "float", 16): 1.1,
    ("mult", "float", 32): 3.7,
    ("sram_read", "word", 32): 5.0,    # 8 KB SRAM, 64-bit access quoted per 32-bit word
    ("dram_read", "word", 32): 640.0,  # DRAM, one 32-bit word
})

#: Eyeriss: energy of one access relative to one MAC, per level of the hierarchy.
EYERISS_RELATIVE_ENERGY = MappingProxyType({
    "mac": 1.0, "register_file": 1.0, "neighbour_pe": 2.0, "global_buffer": 6.0, "dram": 200.0,
})

#: Where each table comes from (printed with the tables in chapters 1 and 7).
SOURCES = MappingProxyType({"horowitz": _HOROWITZ, "eyeriss": _EYERISS})


def _check_bits(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name} must be a number of bits, got {type(v).__name__} {v!r}")
    if not 1 <= v <= 64:
        raise ValueError(f"{name} must be in 1..64 bits, got {v!r}")
    return v


@dataclass(frozen=True)
class EnergyTable:
    """Energy constants in pJ (per operation, or per bit moved at a level); see the module doc."""

    mult_int8_pj: float = HOROWITZ_45NM_PJ[("mult", "int", 8)]
    add_int32_pj: float = HOROWITZ_45NM_PJ[("add", "int", 32)]
    rf_pj_per_bit: float = (HOROWITZ_45NM_PJ[("sram_read", "word", 32)] / 32 * EYERISS_RELATIVE_ENERGY["register_file"]
                            / EYERISS_RELATIVE_ENERGY["global_buffer"])
    hop_pj_per_bit: float = (HOROWITZ_45NM_PJ[("sram_read", "word", 32)] / 32 * EYERISS_RELATIVE_ENERGY["neighbour_pe"]
                             / EYERISS_RELATIVE_ENERGY["global_buffer"])
    sram_pj_per_bit: float = HOROWITZ_45NM_PJ[("sram_read", "word", 32)] / 32
    dram_pj_per_bit: float = HOROWITZ_45NM_PJ[("dram_read", "word", 32)] / 32

    def __post_init__(self):
        for name in ("mult_int8_pj", "add_int32_pj", "rf_pj_per_bit", "hop_pj_per_bit", "sram_pj_per_bit",
                     "dram_pj_per_bit"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise ValueError(f"EnergyTable.{name} must be a number >= 0 (pJ), got {v!r}")

    def mult_pj(self, weight_bits: float, act_bits: float) -> float:
        """``E_int8_mult · w·a / 64``: one multiply of a ``weight_bits`` by an ``act_bits`` operand."""
        return self.mult_int8_pj * weight_bits * act_bits / 64.0

    def add_pj(self, psum_bits: float) -> float:
        """``E_int32_add · p / 32``: one accumulation at ``psum_bits``."""
        return self.add_int32_pj * psum_bits / 32.0

    def mac_pj(self, weight_bits: float, act_bits: float, psum_bits: float = 32) -> float:
        """One integer MAC: multiply plus accumulate. ``mac_pj(8, 8, 32) == 0.3``."""
        return self.mult_pj(weight_bits, act_bits) + self.add_pj(psum_bits)


@lru_cache(maxsize=1)
def default_energy_table() -> EnergyTable:
    """The table of the module docstring (Horowitz 45 nm + Eyeriss ratios)."""
    return EnergyTable()


def mac_energy_pj(weight_bits: int, act_bits: int | None = None, *, psum_bits: int = 32,
                  dtype: str = "int") -> float:
    """Energy of one multiply-accumulate in pJ (45 nm), the book's single rule.

    ``dtype="int"``: ``E_mult(w, a) + E_add(psum_bits)`` (:meth:`EnergyTable.mac_pj`; int8 with a
    32-bit accumulator: 0.3 pJ). ``dtype="float"``: Horowitz's float multiply + float add at
    16 or 32 bits (fp32: 4.6 pJ); other float widths raise ``ValueError``. ``act_bits``
    defaults to ``weight_bits``.
    """
    act_bits = weight_bits if act_bits is None else act_bits
    _check_bits("weight_bits", weight_bits)
    _check_bits("act_bits", act_bits)
    _check_bits("psum_bits", psum_bits)
    if dtype == "int":
        return default_energy_table().mac_pj(weight_bits, act_bits, psum_bits)
    if dtype == "float":
        if weight_bits != act_bits or weight_bits not in (16, 32):
            raise ValueError(f"a float MAC is tabulated for 16x16 and 32x32 bits only, got {weight_bits}x{act_bits}")
        b = int(weight_bits)
        return HOROWITZ_45NM_PJ[("mult", "float", b)] + HOROWITZ_45NM_PJ[("add", "float", b)]
    raise ValueError(f"dtype must be 'int' or 'float', got {dtype!r}")


def energy_sources() -> list[dict[str, str]]:
    """Every constant of both tables with its source (for a table in the chapter)."""
    out = [{"quantity": f"{op} {dtype}{bits}", "value": f"{pj} pJ", "source": _HOROWITZ}
           for (op, dtype, bits), pj in HOROWITZ_45NM_PJ.items()]
    out += [{"quantity": f"{level} access", "value": f"{rel:g}x MAC", "source": _EYERISS}
            for level, rel in EYERISS_RELATIVE_ENERGY.items()]
    return out
