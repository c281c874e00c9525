"""The mapping: how a GEMM lands on an R x C systolic array, fold by fold (pure functions).

For ``[M, K] @ [K, N]`` (M output pixels, K = F_h·F_w·C_in, N filters) each dataflow pins two
dimensions to the array and streams the third (SCALE-Sim, Samajdar et al., ISPASS 2020; the
survey's section on accelerators):

========  =====================  =====================  ===============  ====================
dataflow  stationary in the PEs  rows Sr (over R)       cols Sc (over C)  streamed T
========  =====================  =====================  ===============  ====================
``os``    outputs (partial sums) M                      N                K
``ws``    weights                K                      N                M
``is``    inputs                 K                      M                N
========  =====================  =====================  ===============  ====================

The array works in ``folds = ceil(Sr/R)·ceil(Sc/C)`` tiles. One fold costs (SCALE-Sim v3's
compute model, which the tests check exactly against the real simulator):

* OS: ``T + R + C − 2`` cycles — operands skew in over R + C − 1 cycles while T partial
  products accumulate; outputs leave as the next fold fills;
* WS / IS: ``T + 2R + C − 2`` — R extra cycles to load the stationary tile first.

SCALE-Sim reports the *index of the last cycle*, one less than the count used here.

SRAM accesses (words; SCALE-Sim's counting, im2col duplicates included):

====  ===================  ===================  ========================
      ifmap reads          filter reads         ofmap writes
====  ===================  ===================  ========================
os    ceil(N/C)·M·K        ceil(M/R)·K·N        M·N
ws    ceil(N/C)·M·K        K·N                  ceil(K/R)·M·N
is    K·M                  ceil(M/C)·K·N        ceil(K/R)·M·N
====  ===================  ===================  ========================

(WS and IS write a partial sum per row fold; SCALE-Sim's OS counter also adds R + C per fold,
a bookkeeping artefact that :func:`scalesim_ofmap_writes` reproduces for the tests.)

Row-stationary (Eyeriss) keeps a filter *row* and an input row in each PE's register file
and reuses both across a 2-D PE set; it is explained in the chapter but not modelled here: its
mapping search is beyond a closed form.
"""
from __future__ import annotations

import math

__all__ = ["spatial_dims", "fold_cycles", "folds", "dense_cycles", "mapping_efficiency", "sram_accesses",
           "scalesim_ofmap_writes", "scalesim_fold_span_cycles", "scalesim_compute_utilization",
           "effective_reduction", "precision_time_factor", "pow2_bits"]

_DF = ("os", "ws", "is")


def _check(dataflow: str, **dims) -> None:
    if dataflow not in _DF:
        raise ValueError(f"unknown dataflow {dataflow!r}; allowed: {_DF}")
    for k, v in dims.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{k} must be an int >= 1, got {v!r}")


def spatial_dims(dataflow: str, M: int, K: int, N: int) -> tuple[int, int, int]:
    """``(Sr, Sc, T)``: the dimensions mapped on rows, on columns, and streamed in time.

    >>> spatial_dims("ws", M=64, K=36, N=8)
    (36, 8, 64)
    """
    _check(dataflow, M=M, K=K, N=N)
    return {"os": (M, N, K), "ws": (K, N, M), "is": (K, M, N)}[dataflow]


def fold_cycles(dataflow: str, T: int, R: int, C: int) -> int:
    """Cycles of one fold: ``T + R + C − 2`` (os) or ``T + 2R + C − 2`` (ws, is)."""
    _check(dataflow, T=T, R=R, C=C)
    return T + R + C - 2 + (R if dataflow != "os" else 0)


def folds(dataflow: str, M: int, K: int, N: int, R: int, C: int) -> tuple[int, int]:
    """``(row_folds, col_folds) = (ceil(Sr/R), ceil(Sc/C))``."""
    Sr, Sc, _ = spatial_dims(dataflow, M, K, N)
    _check(dataflow, R=R, C=C)
    return -(-Sr // R), -(-Sc // C)


def dense_cycles(dataflow: str, M: int, K: int, N: int, R: int, C: int) -> int:
    """Compute cycles of a dense GEMM: ``folds · fold_cycles`` (SCALE-Sim's value + 1).

    >>> dense_cycles("os", M=4, K=4, N=4, R=4, C=4)    # one fold: 4 + 4 + 4 - 2
    10
    """
    Sr, Sc, T = spatial_dims(dataflow, M, K, N)
    fr, fc = folds(dataflow, M, K, N, R, C)
    return fr * fc * fold_cycles(dataflow, T, R, C)


def mapping_efficiency(dataflow: str, M: int, K: int, N: int, R: int, C: int) -> float:
    """Mean over folds of the fraction of PEs mapped: ``(Sr / (ceil(Sr/R)·R)) · (Sc / (ceil(Sc/C)·C))``."""
    Sr, Sc, _ = spatial_dims(dataflow, M, K, N)
    fr, fc = folds(dataflow, M, K, N, R, C)
    return (Sr / (fr * R)) * (Sc / (fc * C))


def sram_accesses(dataflow: str, M: int, K: int, N: int, R: int, C: int) -> tuple[int, int, int]:
    """``(ifmap_reads, filter_reads, ofmap_writes)`` in words (table in the module docstring)."""
    fr, fc = folds(dataflow, M, K, N, R, C)
    if dataflow == "os":
        return fc * M * K, fr * K * N, M * N
    if dataflow == "ws":
        return fc * M * K, K * N, fr * M * N
    return K * M, fc * K * N, fr * M * N


def scalesim_ofmap_writes(dataflow: str, M: int, K: int, N: int, R: int, C: int) -> int:
    """SCALE-Sim v3's ofmap-write counter (OS adds ``R + C`` per fold; WS / IS as ours)."""
    writes = sram_accesses(dataflow, M, K, N, R, C)[2]
    if dataflow == "os":
        fr, fc = folds(dataflow, M, K, N, R, C)
        writes += fr * fc * (R + C)
    return writes


def scalesim_fold_span_cycles(dataflow: str, T: int, R: int, C: int) -> int:
    """The cycles SCALE-Sim v3 charges one fold *when it computes utilisation*:

    * OS: ``T + R + C − 2`` (= :func:`fold_cycles`);
    * WS / IS: ``T + 2R + 2C − 3`` — the stationary-operand demand matrix of a fold has
      ``2R + C + T − 2`` rows and SCALE-Sim takes ``rows + C − 1`` (the skew of the
      C columns), i.e. ``C − 1`` cycles more than :func:`fold_cycles` (the cycle count, which
      SCALE-Sim's "Total Cycles" confirms, overlaps that drain with the next fold).

    (``systolic_compute_{os,ws,is}.py``, ``cycles_this_fold``; Samajdar et al., ISPASS 2020.)
    """
    _check(dataflow, T=T, R=R, C=C)
    return T + R + C - 2 if dataflow == "os" else T + 2 * R + 2 * C - 3


def scalesim_compute_utilization(dataflow: str, M: int, K: int, N: int, R: int, C: int) -> float:
    """SCALE-Sim v3's "Compute Util" (COMPUTE_REPORT.csv, as a fraction, not %): the mean over
    folds of ``used · T / (R · C · span)``, with ``used`` the PEs a fold maps and ``span`` =
    :func:`scalesim_fold_span_cycles`. Every fold has the same ``T`` and the ``used`` sum to
    ``Sr · Sc``, so in closed form

        util = mapping_efficiency · T / span

    For OS this equals executed MACs / (R·C·cycles) (``LayerReport.utilization``); for WS and
    IS it is smaller, since ``span`` has ``C − 1`` cycles more than a fold's cycle count.

    >>> round(scalesim_compute_utilization("ws", M=64, K=36, N=8, R=4, C=4), 6)  # 64 / 77
    0.831169
    """
    Sr, Sc, T = spatial_dims(dataflow, M, K, N)
    return mapping_efficiency(dataflow, M, K, N, R, C) * T / scalesim_fold_span_cycles(dataflow, T, R, C)


def effective_reduction(K: int, fraction: float, lanes: int = 1) -> int:
    """Reduction length a sparse engine needs when only ``fraction`` of the K terms are non-zero.

    Each of ``lanes`` parallel PEs gets its own random share of non-zeros; the array waits for
    the slowest. With the non-zeros per lane ~ Binomial(K, f), the expected maximum over
    ``lanes`` is about ``K·f + sqrt(2·ln(lanes)·K·f·(1 − f))`` (Gaussian tail bound), so

        K_eff = min(K, ceil(K·f + sqrt(2·ln(lanes)·K·f·(1 − f))))

    ``lanes = 1`` is a perfectly balanced engine; ``K_eff / (K·f)`` is the load-imbalance
    factor (EIE reports the same effect and balances it with queues; Han et al., ISCA 2016).
    Non-decreasing in ``fraction`` and in ``K``.

    >>> effective_reduction(1000, 0.1, lanes=1), effective_reduction(1000, 0.1, lanes=1024)
    (100, 136)
    """
    if isinstance(K, bool) or not isinstance(K, int) or K < 1:
        raise ValueError(f"K must be an int >= 1, got {K!r}")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
        raise ValueError(f"lanes must be an int >= 1, got {lanes!r}")
    mean = K * fraction
    spread = math.sqrt(2.0 * math.log(lanes) * mean * (1.0 - fraction))
    return max(1, min(K, math.ceil(mean + spread - 1e-9)))


def pow2_bits(bits: int) -> int:
    """Bits rounded up to a Bit Fusion brick multiple: 2, 4, 8, 16, 32, 64."""
    if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
        raise ValueError(f"bits must be an int >= 1, got {bits!r}")
    return max(2, 1 << (bits - 1).bit_length())


def precision_time_factor(engine: str, weight_bits: int, act_bits: int, base_bits: int = 8) -> float:
    """How much longer (>1) or shorter (<1) the streamed dimension takes than at ``base_bits``.

    * ``"bit_serial"`` (Stripes, Judd et al., MICRO 2016): ``act_bits / base_bits`` — one
      activation bit per cycle on ``base_bits`` times as many lanes.
    * ``"bit_fusion"`` (Sharma et al., ISCA 2018): ``pow2(w)·pow2(a) / base_bits²`` — 2-bit
      bricks fuse; a base x base multiply uses all of them.
    * anything else: 1.
    """
    if engine == "bit_serial":
        return act_bits / base_bits
    if engine == "bit_fusion":
        return pow2_bits(weight_bits) * pow2_bits(act_bits) / (base_bits * base_bits)
    return 1.0
