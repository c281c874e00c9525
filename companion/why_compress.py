"""Chapter 1 — why compress: what a network costs in parameters, MACs, bytes and energy.

After the survey's introduction and its discussion of evaluation metrics. Energy numbers are
Horowitz's 45 nm table (ISSCC 2014) and the Eyeriss access-energy ratios (Chen et al., ISCA
2016), both kept in ``data/`` with their sources.

The energy model here is deliberately first-order (chapter 7 has the detailed accelerator):

* every MAC costs one multiply and one add at the operands' bitwidth;
* every MAC reads its two operands from an on-chip SRAM (``sram_pj`` per 32-bit word, scaled by bits);
* every weight and every input/output activation crosses DRAM exactly once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from . import data, exercises, models

__all__ = ["energy_table", "access_energy_ratios", "mac_energy_pj", "LayerCostRow", "layer_costs",
           "network_summary", "arithmetic_intensity", "roofline_macs_per_s", "ridge_point",
           "energy_breakdown_pj"]

_BITS = (1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32)


@lru_cache(maxsize=1)
def energy_table() -> dict[tuple[str, str, int], float]:
    """Horowitz 45 nm energies in pJ keyed by ``(operation, dtype, bits)``, e.g. ``("mult", "int", 8)``."""
    return {(r["operation"], r["dtype"], int(r["bits"])): float(r["energy_pj"])
            for r in data.read_csv_table("energy_45nm.csv")}


@lru_cache(maxsize=1)
def access_energy_ratios() -> dict[str, float]:
    """Eyeriss energy per access relative to one MAC: register file 1, neighbour PE 2, buffer 6, DRAM 200."""
    return {r["level"]: float(r["relative_energy"]) for r in data.read_csv_table("eyeriss_access_energy.csv")}


def _check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise TypeError(f"bits must be an int, got {type(bits).__name__}")
    if not 1 <= bits <= 32:
        raise ValueError(f"bits must be in 1..32, got {bits}")
    return bits


def mac_energy_pj(bits: int, dtype: str = "int") -> float:
    """Energy of one multiply-accumulate in pJ (45 nm).

    Table values where Horowitz gives them (int8, int32, fp16, fp32 mult + add). Other integer
    widths scale from int8: multiplier energy ∝ bits² (an array multiplier has bits² cells),
    adder energy ∝ bits — the same scaling predicts int32 mult 0.2·16 = 3.2 pJ against the
    measured 3.1 pJ.
    """
    bits = _check_bits(bits)
    if dtype not in ("int", "float"):
        raise ValueError(f"dtype must be 'int' or 'float', got {dtype!r}")
    t = energy_table()
    if ("mult", dtype, bits) in t and ("add", dtype, bits) in t:
        return t[("mult", dtype, bits)] + t[("add", dtype, bits)]
    if dtype == "float":
        raise ValueError(f"float MAC energy is tabulated for 16 and 32 bits only, got {bits}")
    return t[("mult", "int", 8)] * (bits / 8) ** 2 + t[("add", "int", 8)] * bits / 8


@dataclass(frozen=True)
class LayerCostRow:
    """First-order cost of one layer at given bitwidths (batch 1)."""

    name: str
    type: str
    params: int
    macs: int
    weight_bytes: float
    activation_bytes: float
    intensity_macs_per_byte: float
    mac_pj: float
    sram_pj: float
    dram_pj: float

    @property
    def energy_pj(self) -> float:
        return self.mac_pj + self.sram_pj + self.dram_pj


def arithmetic_intensity(macs: float, bytes_moved: float) -> float:
    """MACs per byte of DRAM traffic (the roofline's x axis)."""
    if bytes_moved <= 0:
        raise ValueError(f"bytes_moved must be > 0, got {bytes_moved}")
    return macs / bytes_moved


def layer_costs(table: models.LayerTable | str, weight_bits: int = 32, act_bits: int | None = None,
                dtype: str | None = None) -> list[LayerCostRow]:
    """Per-layer parameters, MACs, bytes, intensity and first-order energy of a layer table.

    ``weight_bits``/``act_bits`` (default: same as weights) set storage and MAC width;
    ``dtype`` defaults to ``"float"`` at 16/32 bits and ``"int"`` below. Energy per layer:
    ``MACs·E_mac + 2·MACs·E_sram(bits) + (weights·w_bits + (in+out)·a_bits)/32·E_dram``.
    """
    if isinstance(table, str):
        table = models.layer_table(table)
    if not isinstance(table, models.LayerTable):
        raise TypeError(f"table must be a LayerTable or a network name, got {type(table).__name__}")
    wb = _check_bits(weight_bits)
    ab = _check_bits(act_bits if act_bits is not None else weight_bits)
    mac_bits = max(wb, ab)
    kind = dtype or ("float" if mac_bits in (16, 32) else "int")
    e_mac = mac_energy_pj(mac_bits, kind)
    t = energy_table()
    sram_word, dram_word = t[("sram_read", "word", 32)], t[("dram_read", "word", 32)]
    rows = []
    for l in table:
        w_bytes = l.params * wb / 8
        a_bytes = (l.in_activations + l.out_activations) * ab / 8
        rows.append(LayerCostRow(
            name=l.name, type=l.type, params=l.params, macs=l.macs, weight_bytes=w_bytes, activation_bytes=a_bytes,
            intensity_macs_per_byte=arithmetic_intensity(l.macs, w_bytes + a_bytes),
            mac_pj=l.macs * e_mac,
            sram_pj=2 * l.macs * sram_word * mac_bits / 32,
            dram_pj=(l.params * wb + (l.in_activations + l.out_activations) * ab) / 32 * dram_word))
    return rows


def energy_breakdown_pj(rows: list[LayerCostRow]) -> dict[str, float]:
    """Total energy split into ``{"MAC", "SRAM", "DRAM"}`` in pJ."""
    return {"MAC": sum(r.mac_pj for r in rows), "SRAM": sum(r.sram_pj for r in rows),
            "DRAM": sum(r.dram_pj for r in rows)}


def network_summary(name: str, weight_bits: int = 32, act_bits: int | None = None) -> dict[str, float]:
    """Totals for a network: params, MACs, weight MB, energy per image (µJ) and its DRAM share."""
    rows = layer_costs(models.layer_table(name), weight_bits, act_bits)
    e = energy_breakdown_pj(rows)
    total = sum(e.values())
    return {"params": sum(r.params for r in rows), "macs": sum(r.macs for r in rows),
            "weight_mb": sum(r.weight_bytes for r in rows) / 1e6, "energy_uj": total / 1e6,
            "dram_share": e["DRAM"] / total}


def ridge_point(peak_macs_per_s: float, bandwidth_bytes_per_s: float) -> float:
    """Intensity (MACs/byte) where a roofline turns from memory- to compute-bound: peak / bandwidth."""
    if peak_macs_per_s <= 0 or bandwidth_bytes_per_s <= 0:
        raise ValueError("peak and bandwidth must be > 0")
    return peak_macs_per_s / bandwidth_bytes_per_s


def roofline_macs_per_s(intensity: float, peak_macs_per_s: float, bandwidth_bytes_per_s: float) -> float:
    """Attainable throughput ``min(peak, intensity · bandwidth)`` (Williams et al. 2009)."""
    if intensity < 0:
        raise ValueError(f"intensity must be >= 0, got {intensity}")
    ridge_point(peak_macs_per_s, bandwidth_bytes_per_s)
    return min(peak_macs_per_s, intensity * bandwidth_bytes_per_s)


# --- exercises -----------------------------------------------------------------------------

def _vgg_fc6_params() -> int:
    return models.layer_table("vgg16")["fc6"].params


def _vgg_fc_share() -> float:
    t = models.layer_table("vgg16")
    return sum(l.params for l in t if l.type == "fc") / t.params


def _alexnet_dram_share_8bit() -> float:
    return network_summary("alexnet", 8)["dram_share"]


exercises.register(
    "ch1.vgg_fc6_params", "how many parameters (weights and biases) has VGG-16's fc6 (25,088 inputs, 4,096 outputs)?",
    exercises.close_to(_vgg_fc6_params, rtol=0, hint="an FC layer has inputs × outputs weights, plus one bias per output"),
    level="easy")
exercises.register(
    "ch1.vgg_fc_share", "what fraction (0..1) of VGG-16's parameters sits in its three FC layers?",
    exercises.close_to(_vgg_fc_share, rtol=1e-3, hint="sum params over rows whose type is 'fc' and divide by the total"),
    level="medium")
exercises.register(
    "ch1.alexnet_dram_share", "with 8-bit weights and activations, what fraction (0..1) of AlexNet's first-order energy is DRAM?",
    exercises.close_to(_alexnet_dram_share_8bit, rtol=1e-3,
                       hint="use layer_costs('alexnet', 8) and energy_breakdown_pj; DRAM / (MAC + SRAM + DRAM)"),
    level="hard")
