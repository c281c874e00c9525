"""Measured CPU latency of compact blocks: thin wrappers over the library's one timer.

Every number here comes from :func:`companion.metrics.time_call_ms` (no local timing loop).
:func:`companion.metrics.time_calls_ms` times several callables in interleaved rounds, so that a
busy machine slows all of them alike, and returns every round's time: a speed-up is then reported
as a range (min / median / max over rounds), which prose can quote honestly.
"""
from __future__ import annotations

import statistics

import torch
from torch import nn

from .. import checks, metrics
from ._common import pos_int
from .costs import conv_cost, depthwise_separable_cost

__all__ = ["latency_comparison"]

_STATS = {"min": min, "median": statistics.median}


def latency_comparison(c_in: int, c_out: int, side: int, *, k: int = 3, batch: int = 1, repeats: int = 30,
                       rounds: int | None = None, threads: int | None = 1, stat: str = "min") -> dict[str, float]:
    """Measured CPU time of a standard kxk conv against a depthwise-separable one of the same
    output shape (``[batch, c_out, side, side]``, stride 1, no BN/ReLU), with their MACs.

    Returns ``macs_standard``, ``macs_separable``, ``mac_ratio`` (``1 / (1/c_out + 1/k²)`` for
    ``c_in = c_out``, Howard et al. 2017), ``ms_standard``, ``ms_depthwise``, ``ms_pointwise``,
    ``ms_separable`` (``stat`` over the rounds: ``"min"`` the least disturbed, ``"median"`` the
    typical), ``speedup = ms_standard / ms_separable``, and the measured range of the speed-up
    over the rounds: ``speedup_min``, ``speedup_median``, ``speedup_max``. The ``repeats`` runs
    of each module are split into ``rounds`` interleaved rounds (:func:`companion.metrics.time_calls_ms`; default
    ``min(5, repeats)``).
    """
    for nm, v in (("c_in", c_in), ("c_out", c_out), ("side", side), ("k", k), ("batch", batch)):
        pos_int(nm, v)
    checks.check_choice(stat, "stat", sorted(_STATS))
    repeats = pos_int("repeats", repeats)
    rounds = min(5, repeats) if rounds is None else pos_int("rounds", rounds)
    if rounds > repeats:
        raise ValueError(f"rounds must be <= repeats (each round times every module at least once), "
                         f"got rounds={rounds}, repeats={repeats}")
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(0)
    std = nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False)
    dw = nn.Conv2d(c_in, c_in, k, padding=k // 2, groups=c_in, bias=False)
    pw = nn.Conv2d(c_in, c_out, 1, bias=False)
    torch.random.set_rng_state(gen_state)
    out = {"macs_standard": conv_cost(c_in, c_out, side, side, k).macs,
           "macs_separable": depthwise_separable_cost(c_in, c_out, side, side, k=k, norm=False).macs}
    out["mac_ratio"] = out["macs_standard"] / out["macs_separable"]
    x = torch.randn((batch, c_in, side, side), generator=torch.Generator().manual_seed(0))
    sep = nn.Sequential(dw, pw)
    fns = {"standard": lambda: std(x), "depthwise": lambda: dw(x), "pointwise": lambda: pw(x),
           "separable": lambda: sep(x)}
    t = metrics.time_calls_ms(fns, rounds=rounds, repeats=repeats // rounds, warmup=1, threads=threads)
    for name, ts in t.rounds_ms.items():
        out[f"ms_{name}"] = _STATS[stat](ts)
    out["speedup"] = out["ms_standard"] / out["ms_separable"]
    r = t.ratio("standard", "separable")
    out.update(speedup_min=r.low, speedup_median=r.mid, speedup_max=r.high)
    return out
