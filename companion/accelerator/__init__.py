"""A simplified neural-network accelerator model, validated against SCALE-Sim (chapter 7).

After the survey's section on neural network accelerators. Three frozen specifications and
one pure function, in Timeloop's separation:

* :class:`Architecture` (:mod:`.arch`) — R x C PE array, dataflow (``"os"``, ``"ws"``,
  ``"is"``), engine (dense, sparse, bit-serial, bit-fusion), buffers, DRAM link, clock,
  energy table (:mod:`.energy`: Horowitz 45 nm + Eyeriss ratios);
* :class:`Gemm`, :class:`Conv2d`, :class:`Chain` (:mod:`.workload`) — a layer lowered to a
  GEMM with its weight/activation densities and bits (:class:`ScaleSimConv2d` and
  :func:`read_scalesim_topology` (:mod:`.topology`) lower a layer with SCALE-Sim's output size
  ``ceil((in − k + s) / s)`` instead of PyTorch's, to reproduce the simulator);
* the mapping (:mod:`.dataflow`) — folds, fill/drain cycles and SRAM accesses in closed form;
* :func:`evaluate_layer` (:mod:`.cost`) -> :class:`LayerReport` (``.cycles``, ``.utilization``,
  ``.scalesim_utilization``,
  ``.energy_pj``, ``.energy_breakdown``, ``.latency_s``, …) and :func:`evaluate_network`
  -> :class:`NetworkReport` for whole networks with per-layer densities and bits.

>>> from companion.accelerator import Architecture, Gemm, evaluate_layer
>>> rep = evaluate_layer(Architecture(rows=32, cols=32, dataflow="ws"), Gemm(M=64, K=1024, N=1000))
>>> rep.cycles
161792
"""
from __future__ import annotations

from .arch import DATAFLOWS, ENGINES, SKIPS, Architecture
from .cost import ENERGY_LEVELS, LayerReport, NetworkReport, evaluate_layer, evaluate_network
from .dataflow import (dense_cycles, effective_reduction, fold_cycles, folds, mapping_efficiency,
                       precision_time_factor, scalesim_compute_utilization, scalesim_fold_span_cycles,
                       scalesim_ofmap_writes, spatial_dims, sram_accesses)
from .energy import EnergyTable, default_energy_table, energy_sources
from .topology import SCALESIM_TOPOLOGY_COLUMNS, parse_scalesim_row, read_scalesim_topology
from .workload import (Chain, Conv2d, Gemm, ScaleSimConv2d, from_layer_spec, from_layers, from_module,
                       input_densities, pytorch_output_size, scalesim_output_size)

__all__ = ["Architecture", "Gemm", "Conv2d", "Chain", "evaluate_layer", "evaluate_network", "LayerReport",
           "NetworkReport", "EnergyTable", "default_energy_table", "energy_sources", "from_layer_spec",
           "from_layers", "from_module", "input_densities", "spatial_dims", "fold_cycles", "folds", "dense_cycles",
           "mapping_efficiency", "sram_accesses", "scalesim_ofmap_writes", "effective_reduction",
           "precision_time_factor", "DATAFLOWS", "ENGINES", "SKIPS", "ENERGY_LEVELS",
           "ScaleSimConv2d", "pytorch_output_size", "scalesim_output_size", "read_scalesim_topology",
           "parse_scalesim_row", "SCALESIM_TOPOLOGY_COLUMNS", "scalesim_compute_utilization",
           "scalesim_fold_span_cycles"]


# --- exercises (checked with companion.exercises.check("ch7.<name>", answer)) --------------

def _register_exercises() -> None:
    from ..exercises import close_to, one_of, register, same_function

    register(
        "ch7.gemm_cycles_4x4",
        "A GEMM with M=6, K=5, N=7 runs on a 4x4 output-stationary array. How many compute cycles "
        "does it take (count cycles, not SCALE-Sim's last-cycle index)?",
        close_to(lambda: dense_cycles("os", 6, 5, 7, 4, 4), rtol=0, atol=0.5,
                 hint="count the folds ceil(M/R)·ceil(N/C), then T + R + C − 2 cycles per fold with T = K."),
        "easy")

    def _dram_share() -> float:
        from ..models import layer_table
        rep = evaluate_network(Architecture(rows=32, cols=32, dataflow="ws"), layer_table("resnet50"))
        return rep.energy_breakdown["dram"] / rep.energy_pj

    register(
        "ch7.dram_share",
        "On the default 32x32 weight-stationary array (8-bit, dense), what fraction (0..1) of "
        "ResNet-50's energy goes to DRAM?",
        close_to(_dram_share, rtol=1e-3,
                 hint="evaluate_network(...).energy_breakdown['dram'] divided by .energy_pj."),
        "medium")

    def _best_1x1() -> str:
        from ..models import layer_table
        layer = from_layer_spec(layer_table("mobilenet_v1")["conv14.pw"])
        cycles = {df: evaluate_layer(Architecture(rows=16, cols=16, dataflow=df), layer).cycles for df in DATAFLOWS}
        return min(cycles, key=cycles.get)

    register(
        "ch7.dataflow_1x1",
        "MobileNet-v1's last pointwise (1x1) layer conv14.pw (7x7 pixels, 1024 -> 1024 channels) runs on a "
        "16x16 array. Which dataflow ('os', 'ws' or 'is') needs the fewest compute cycles?",
        one_of(_best_1x1, normalize=lambda a: str(a).strip().lower(),
               hint="M = 49 pixels is small, K = N = 1024 are large: which dimension do you want to stream?"),
        "medium")

    def _cases():
        return [(6, 5, 7, 4, 4), (64, 36, 8, 8, 8), (1, 1000, 10, 16, 16), (49, 1024, 1024, 32, 32),
                (100, 9, 1, 4, 8)]

    register(
        "ch7.ws_cycles",
        "Write ws_cycles(M, K, N, R, C) -> int: the compute cycles of a dense GEMM on an R x C "
        "weight-stationary array (SCALE-Sim's model, counting cycles).",
        same_function(lambda M, K, N, R, C: dense_cycles("ws", M, K, N, R, C), _cases, atol=0,
                      hint="WS maps K on rows and N on columns and streams M; each fold costs T + 2R + C − 2."),
        "hard")


_register_exercises()
