"""Energy per MAC and per access at each level of the memory hierarchy, from the embedded tables.

Sources (``data/energy_45nm.csv``, ``data/eyeriss_access_energy.csv``):

* Horowitz, "Computing's energy problem", ISSCC 2014 (45 nm, 0.9 V): int8 multiply 0.2 pJ,
  int32 multiply 3.1 pJ, int32 add 0.1 pJ, a 32-bit read of an 8 KB SRAM 5 pJ, a 32-bit DRAM
  read 640 pJ.
* Chen, Emer, Sze, "Eyeriss", ISCA 2016, Fig. 1: energy of one access relative to one MAC —
  register file 1x, neighbour PE 2x, global buffer 6x, DRAM 200x.

How they are combined (one consistent table, every step stated):

* multiply: ``E_mult(w, a) = E_int8_mult · (w·a) / 64`` — a multiplier's energy grows with the
  product of its operand widths (array multiplier area); anchored at Horowitz's int8 value it
  gives 3.2 pJ at 32x32 bits, close to his 3.1 pJ.
* accumulate: ``E_add(p) = E_int32_add · p / 32`` (an adder is linear in its width).
* buffer (SRAM) and DRAM: Horowitz's 32-bit values per bit, ``5/32`` and ``640/32`` pJ/bit.
* register file and neighbour-PE hop: Eyeriss's ratios *to the global buffer*,
  ``E_rf = E_sram/6`` and ``E_hop = 2·E_sram/6`` per bit (Eyeriss has no absolute anchor that
  matches Horowitz's; the buffer is the shared level).

Note the two sources disagree on DRAM: Horowitz's DRAM/SRAM ratio is 128, Eyeriss's 200/6 ≈ 33
(a larger global buffer costs more per access than an 8 KB SRAM). The table keeps Horowitz's
absolute values; the chapter discusses the difference.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = ["EnergyTable", "default_energy_table", "energy_sources"]


@dataclass(frozen=True)
class EnergyTable:
    """Energy constants in pJ (per operation, or per bit moved at a level)."""

    mult_int8_pj: float = 0.2
    add_int32_pj: float = 0.1
    rf_pj_per_bit: float = 5.0 / 32 / 6
    hop_pj_per_bit: float = 5.0 / 32 * 2 / 6
    sram_pj_per_bit: float = 5.0 / 32
    dram_pj_per_bit: float = 640.0 / 32

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
        """One MAC: multiply plus accumulate. ``mac_pj(8, 8, 32) == 0.3``."""
        return self.mult_pj(weight_bits, act_bits) + self.add_pj(psum_bits)


def _value(rows, operation: str, dtype: str, bits: str) -> float:
    for r in rows:
        if r["operation"] == operation and r["dtype"] == dtype and r["bits"] == bits:
            return float(r["energy_pj"])
    raise KeyError(f"no row {operation}/{dtype}/{bits} in data/energy_45nm.csv")


@lru_cache(maxsize=1)
def default_energy_table() -> EnergyTable:
    """The table built from ``data/energy_45nm.csv`` and ``data/eyeriss_access_energy.csv`` (see module doc)."""
    from ..data import read_csv_table
    h = read_csv_table("energy_45nm.csv")
    ey = {r["level"]: float(r["relative_energy"]) for r in read_csv_table("eyeriss_access_energy.csv")}
    sram_bit = _value(h, "sram_read", "word", "32") / 32
    return EnergyTable(
        mult_int8_pj=_value(h, "mult", "int", "8"),
        add_int32_pj=_value(h, "add", "int", "32"),
        rf_pj_per_bit=sram_bit * ey["register_file"] / ey["global_buffer"],
        hop_pj_per_bit=sram_bit * ey["neighbour_pe"] / ey["global_buffer"],
        sram_pj_per_bit=sram_bit,
        dram_pj_per_bit=_value(h, "dram_read", "word", "32") / 32,
    )


def energy_sources() -> list[dict[str, str]]:
    """The rows of both embedded tables with their sources (for a table in the chapter)."""
    from ..data import read_csv_table
    out = [{"quantity": f"{r['operation']} {r['dtype']}{r['bits']}", "value": f"{r['energy_pj']} pJ",
            "source": r["source"]} for r in read_csv_table("energy_45nm.csv")]
    out += [{"quantity": f"{r['level']} access", "value": f"{r['relative_energy']}x MAC", "source": r["source"]}
            for r in read_csv_table("eyeriss_access_energy.csv")]
    return out
