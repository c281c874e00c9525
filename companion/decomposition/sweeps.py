"""Error curves, rank and budget sweeps (typed rows, cached), and measured speed-ups.

* :func:`error_vs_rank` — pure: relative reconstruction error of one weight per rank;
* :func:`rank_sweep` — one layer of a trained baseline, decomposed at each rank (no fine-tuning);
* :func:`budget_sweep` — a whole network at several per-layer compression ratios, before and
  after fine-tuning (:func:`~companion.decomposition.recipes.finetuned`);
* :func:`measure_latency_ms`, :func:`speedup_range` — thin wrappers over the one timer
  (:func:`companion.metrics.time_call_ms` / :func:`companion.metrics.latency_ms`).

Sweeps return :class:`SweepRows` (a list of frozen rows; ``rows[0]["error"]`` and
``rows[0].error`` both work, ``rows.to_frame()`` gives a DataFrame) and are cached with
:func:`companion.train.cached_result` (the rows are stored as plain dicts).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

from .. import checks, metrics, reparam, timing
from ..rows import Row, Rows
from ._common import relative_error
from .cp import cp_conv, cp_reconstruct
from .layers import CP, SVD, TT, CPConv2d, LowRankLinear, Tucker2, Tucker2Conv2d, TTLinear, decompose, \
    decompose_layer, plan_for_budget
from .recipes import _plan_spec, finetuned
from .svd import truncated_svd
from .tt import tt_matrix, tt_to_matrix
from .tucker import tucker2_conv, tucker2_reconstruct

__all__ = ["error_vs_rank", "RankSweepRow", "BudgetSweepRow", "SweepRows", "rank_sweep", "budget_sweep",
           "measure_latency_ms", "SpeedupRange", "speedup_range"]

METHODS = ("svd", "cp", "tucker2", "tt")


def error_vs_rank(weight: torch.Tensor, method: str, ranks: Sequence, **kw) -> list[float]:
    """Relative reconstruction error ``‖W − Ŵ_r‖_F / ‖W‖_F`` of ``weight`` for each rank ``r``.

    ``method``: ``svd`` (``weight`` [m, n], ranks ints), ``cp`` (a kernel, ranks ints; ``kw`` go
    to :func:`cp_conv`), ``tucker2`` (a kernel, ranks ints — R_out = R_in = r, each capped — or
    pairs), ``tt`` (a matrix, ranks ints, with ``in_modes=``, ``out_modes=`` keywords).
    """
    checks.check_choice(method, "method", METHODS)
    out = []
    for r in ranks:
        if method == "svd":
            a, b = truncated_svd(weight, r)
            approx = a @ b
        elif method == "cp":
            approx = cp_reconstruct(cp_conv(weight, r, **kw))
        elif method == "tucker2":
            pair = tuple(r) if isinstance(r, (tuple, list)) else (min(r, weight.shape[0]), min(r, weight.shape[1]))
            approx = tucker2_reconstruct(*tucker2_conv(weight, pair))
        else:
            approx = tt_to_matrix(tt_matrix(weight, kw["in_modes"], kw["out_modes"], r))
        out.append(relative_error(weight, approx))
    return out


@dataclass(frozen=True)
class RankSweepRow(Row):
    """One rank of :func:`rank_sweep`: the layer's cost (weights + bias, MACs per sample), its
    relative Frobenius ``error`` and the whole network's test ``accuracy`` (%)."""

    rank: int | tuple
    error: float
    params: int
    macs: int
    dense_params: int
    dense_macs: int
    accuracy: float


@dataclass(frozen=True)
class BudgetSweepRow(Row):
    """One ratio of :func:`budget_sweep` (ratios are baseline / decomposed; accuracies in %)."""

    ratio: float
    conv: str
    params: int
    macs: int
    param_ratio: float
    mac_ratio: float
    acc_before: float
    acc_after: float
    plan: dict = field(default_factory=dict)


#: The sweeps' result list: the library's :class:`companion.rows.Rows` (``to_frame()``).
SweepRows = Rows


def _spec_for(method: str, r, kw) -> object:
    if method == "svd":
        return SVD(rank=r)
    if method == "cp":
        return CP(r, **kw)
    if method == "tucker2":
        return Tucker2(r, r)
    return TT(tuple(kw["in_modes"]), tuple(kw["out_modes"]), r)


def rank_sweep(model_name: str, layer: str, method: str, ranks: Sequence, *, seed: int = 0, **kw) -> SweepRows:
    """Decompose one layer of the trained baseline (``seed``) at each rank, no fine-tuning (cached).

    ``method``: "svd", "cp", "tucker2" (ranks: ints, Tucker pairs ``(r, r)`` capped per mode) or
    "tt" (ranks: ints; ``in_modes=``, ``out_modes=`` keywords). One :class:`RankSweepRow` per
    rank: ``error`` = ``‖W − Ŵ‖_F / ‖W‖_F``, the layer's ``params``/``macs`` against
    ``dense_params``/``dense_macs``, and the network's test ``accuracy`` (%).
    """
    from .. import train
    checks.check_choice(method, "method", METHODS)
    seed = checks.check_int(seed, "seed", minimum=0)
    ranks = [list(r) if isinstance(r, tuple) else r for r in ranks]
    base = train.baseline(model_name, seed=seed, progress=False)
    reparam.select_layers(base, [layer])

    def compute() -> list[dict]:
        dense = next(l for l in metrics.measure_layers(base) if l.name == layer)
        w = base.get_submodule(layer).weight.detach()
        rows = []
        for r in ranks:
            model = decompose(base, {layer: _spec_for(method, tuple(r) if isinstance(r, list) else r, kw)})
            cost = next(l for l in metrics.measure_layers(model) if l.name == layer)
            rows.append({"rank": r, "error": relative_error(w, model.get_submodule(layer).dense_weight()),
                         "params": cost.params, "macs": cost.macs, "dense_params": dense.params,
                         "dense_macs": dense.macs, "accuracy": train.evaluate(model)})
        return rows

    spec = {"rank_sweep": {"model": model_name, "layer": layer, "method": method, "ranks": ranks,
                           "kw": {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()}, "seed": seed}}
    rows = train.cached_result(spec, compute, name="ch3-rank-sweep", parents=(train.key_of(base),),
                               code=(rank_sweep, _spec_for, decompose, decompose_layer, relative_error, LowRankLinear,
                                     CPConv2d, Tucker2Conv2d, TTLinear, truncated_svd, cp_conv, tucker2_conv,
                                     tt_matrix))
    return SweepRows(RankSweepRow(**{**r, "rank": tuple(r["rank"]) if isinstance(r["rank"], list) else r["rank"]})
                     for r in rows)


def budget_sweep(model_name: str, ratios: Sequence[float], *, conv: str = "tucker2", skip: Sequence[str] = (),
                 epochs: int = 3, lr: float = 5e-4, finetune: Sequence[float] | None = None, seed: int = 0,
                 progress: bool = True) -> SweepRows:
    """Accuracy vs compression of a whole network (cached): for each per-layer ``ratio``,
    :func:`plan_for_budget`, test accuracy before and after :func:`finetuned` (``epochs``, ``seed``).

    ``finetune``: the ratios to fine-tune (default: all); the others get ``acc_after = nan``.
    One :class:`BudgetSweepRow` per ratio: ``params``, ``macs``, ``param_ratio`` and
    ``mac_ratio`` (baseline / decomposed), ``acc_before``, ``acc_after``, ``plan`` (layer → spec as text).
    """
    from .. import train
    checks.check_choice(conv, "conv", ("tucker2", "cp"))
    seed = checks.check_int(seed, "seed", minimum=0)
    ratios = list(ratios)  # kept as given (2 stays 2): the rows print them
    for r in ratios:
        checks.check_float(r, "ratio", minimum=0.0, open_low=True)
    tuned = ratios if finetune is None else list(finetune)
    base = train.baseline(model_name, seed=seed, progress=False)

    def compute() -> list[dict]:
        base_params, base_macs = metrics.count_params(base), metrics.measure_macs(base)
        rows = []
        for ratio in ratios:
            plan = plan_for_budget(base, ratio, conv=conv, skip=skip)
            before = decompose(base, plan)
            params, macs = metrics.count_params(before), metrics.measure_macs(before)
            acc_after = float("nan")
            if ratio in tuned:
                acc_after = train.evaluate(finetuned(model_name, plan, epochs=epochs, lr=lr, seed=seed,
                                                     progress=progress))
            rows.append({"ratio": ratio, "conv": conv, "params": params, "macs": macs,
                         "param_ratio": base_params / params, "mac_ratio": base_macs / macs,
                         "acc_before": train.evaluate(before), "acc_after": acc_after,
                         "plan": {k: repr(v) for k, v in plan.items()}})
        return rows

    spec = {"budget_sweep": {"model": model_name, "ratios": ratios, "conv": conv, "skip": list(skip),
                             "epochs": epochs, "lr": lr, "finetune": tuned, "seed": seed}}
    rows = train.cached_result(spec, compute, name="ch3-budget-sweep", parents=(train.key_of(base),),
                               code=(budget_sweep, plan_for_budget, decompose, decompose_layer, finetuned, _plan_spec,
                                     LowRankLinear, CPConv2d, Tucker2Conv2d, cp_conv, tucker2_conv))
    return SweepRows(BudgetSweepRow(**r) for r in rows)


def measure_latency_ms(module: nn.Module, input_shape: Sequence[int], *, repeats: int = 30,
                       warmup: int = 5) -> float:
    """Fastest wall-clock milliseconds of one forward pass over ``repeats`` (no grad, eval mode):
    :func:`companion.metrics.latency_ms` with ``stat="min"``.

    The minimum, not the mean: on a shared machine the other runs measure the neighbours too
    (as ``timeit`` recommends). Uses the current torch thread count.
    """
    return metrics.latency_ms(module, input_shape, repeats=repeats, warmup=warmup, stat="min")


@dataclass(frozen=True)
class SpeedupRange(timing.Spread):
    """Measured ``dense / factorized`` time ratio over interleaved rounds — a
    :class:`companion.timing.Spread` (``low`` ≤ ``mid`` ≤ ``high``, ``.text()`` for prose) that
    also carries each module's fastest time (ms)."""

    dense_ms: float
    small_ms: float

    @property
    def median(self) -> float:
        """The median speed-up (``mid``)."""
        return self.mid


def speedup_range(dense: nn.Module, small: nn.Module, input_shape: Sequence[int], *, rounds: int = 5,
                  repeats: int = 8, threads: int | None = None) -> SpeedupRange:
    """How much faster ``small`` runs than ``dense`` on a seeded input of ``input_shape``, as a range.

    A thin wrapper of :func:`companion.timing.compare_latency_ms`: ``rounds`` interleaved rounds
    (both modules see the same machine load), each module's fastest of ``repeats`` runs per
    round, and the speed-up of a round is ``t_dense / t_small``. Prose can then state a range.
    """
    checks.check_model(dense)
    checks.check_model(small)
    shape = tuple(checks.check_int(s, "input_shape entry", minimum=1) for s in input_shape)
    t = timing.compare_latency_ms({"dense": dense, "small": small}, shape, rounds=rounds, repeats=repeats,
                                  warmup=1, threads=threads)
    r = t.ratio("dense", "small")
    return SpeedupRange(r.low, r.mid, r.high, t.best_ms("dense"), t.best_ms("small"))
