"""Chapter 1 — why compress: what a network costs in parameters, MACs, bytes and energy.

After the survey's introduction and its discussion of evaluation metrics (notebook
``01_why_compress``). The energy constants are the book's one table,
:mod:`companion.accelerator.energy` (Horowitz, ISSCC 2014, 45 nm; Eyeriss access-energy ratios,
Chen et al., ISCA 2016), the same that chapter 7's accelerator model uses.

The energy model here is deliberately first-order (chapter 7 has the detailed accelerator):

* every MAC costs one multiply at the operands' bitwidth and one 32-bit accumulate
  (:func:`companion.accelerator.energy.mac_energy_pj`; int8: 0.2 + 0.1 = 0.3 pJ; fp32: 4.6 pJ);
* every MAC reads its two operands from an on-chip SRAM (5 pJ per 32-bit word, scaled by bits);
* every weight and every input/output activation crosses DRAM exactly once (640 pJ per 32 bits).
"""
from __future__ import annotations

from dataclasses import dataclass

from . import exercises, models
from .accelerator import energy as _energy

__all__ = ["energy_table", "access_energy_ratios", "mac_pj", "LayerCostRow", "layer_costs",
           "network_summary", "arithmetic_intensity", "roofline_macs_per_s", "ridge_point",
           "energy_breakdown_pj"]

_BITS = (1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32)


def energy_table() -> dict[tuple[str, str, int], float]:
    """Horowitz 45 nm energies in pJ keyed by ``(operation, dtype, bits)``, e.g. ``("mult", "int", 8)``
    (a copy of :data:`companion.accelerator.energy.HOROWITZ_45NM_PJ`)."""
    return dict(_energy.HOROWITZ_45NM_PJ)


def access_energy_ratios() -> dict[str, float]:
    """Eyeriss energy per access relative to one MAC: register file 1, neighbour PE 2, buffer 6, DRAM 200."""
    return dict(_energy.EYERISS_RELATIVE_ENERGY)


def _check_bits(bits, name: str = "bits") -> int:
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise TypeError(f"{name} must be an int, got {type(bits).__name__}")
    if not 1 <= bits <= 32:
        raise ValueError(f"{name} must be in 1..32, got {bits}")
    return bits


def mac_pj(bits: int, dtype: str = "int") -> float:
    """Energy of one multiply-accumulate of two ``bits``-bit operands in pJ (45 nm).

    The book's single rule (:func:`companion.accelerator.energy.mac_energy_pj`): integer
    ``E_int8_mult · bits² / 64 + E_int32_add`` (an array multiplier has bits² cells; the product
    is accumulated at 32 bits) — int8 0.3 pJ, and the bits² scaling predicts int32 multiply
    0.2·16 = 3.2 pJ against Horowitz's measured 3.1 pJ; float (16 or 32 bits) is Horowitz's
    float multiply + add (fp32 4.6 pJ).
    """
    bits = _check_bits(bits)
    if dtype not in ("int", "float"):
        raise ValueError(f"dtype must be 'int' or 'float', got {dtype!r}")
    if dtype == "float" and bits not in (16, 32):
        raise ValueError(f"float MAC energy is tabulated for 16 and 32 bits only, got {bits}")
    return _energy.mac_energy_pj(bits, bits, dtype=dtype)


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
    ``MACs·E_mac + 2·MACs·bits·e_sram + (weights·w_bits + (in+out)·a_bits)·e_dram`` with
    ``bits = max(w_bits, a_bits)`` and the per-bit SRAM and DRAM energies of
    :func:`companion.accelerator.energy.default_energy_table` (5/32 and 640/32 pJ).
    """
    if isinstance(table, str):
        table = models.layer_table(table)
    if not isinstance(table, models.LayerTable):
        raise TypeError(f"table must be a LayerTable or a network name, got {type(table).__name__}")
    wb = _check_bits(weight_bits, "weight_bits")
    ab = _check_bits(act_bits if act_bits is not None else weight_bits, "act_bits")
    mac_bits = max(wb, ab)
    kind = dtype or ("float" if mac_bits in (16, 32) else "int")
    e_mac = mac_pj(mac_bits, kind)
    t = _energy.default_energy_table()
    sram_bit, dram_bit = t.sram_pj_per_bit, t.dram_pj_per_bit
    rows = []
    for l in table:
        w_bytes = l.params * wb / 8
        a_bytes = (l.in_activations + l.out_activations) * ab / 8
        rows.append(LayerCostRow(
            name=l.name, type=l.type, params=l.params, macs=l.macs, weight_bytes=w_bytes, activation_bytes=a_bytes,
            intensity_macs_per_byte=arithmetic_intensity(l.macs, w_bytes + a_bytes),
            mac_pj=l.macs * e_mac,
            sram_pj=2 * l.macs * sram_bit * mac_bits,
            dram_pj=(l.params * wb + (l.in_activations + l.out_activations) * ab) * dram_bit))
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


def _alexnet_dram_share_w4a8() -> float:
    return network_summary("alexnet", 4, 8)["dram_share"]


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
exercises.register(
    "ch1.alexnet_dram_share_w4a8", "with 4-bit weights and 8-bit activations, what fraction (0..1) of AlexNet's "
    "first-order energy is DRAM?",
    exercises.close_to(_alexnet_dram_share_w4a8, rtol=1e-3,
                       hint="layer_costs('alexnet', 4, 8): weights and activations now have different widths"),
    level="hard")
