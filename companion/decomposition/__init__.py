"""Tensor decomposition: truncated SVD, CP, Tucker-2 and tensor-train (TT) layers.

After the survey's section on tensor decomposition (Deng et al., 2020). A trained weight
tensor is replaced by a few small factors whose product approximates it; the layer becomes a
chain of small layers (or, for TT, a sequence of small contractions).

========================  ====================================================  ======================
format                    model of the weight                                   primary paper
========================  ====================================================  ======================
truncated SVD (FC)        ``W[m,n] ≈ A[m,r] · B[r,n]``                          Denton et al. 2014,
                                                                                Xue et al. 2013
CP (conv)                 ``K[o,i,h,w] ≈ Σ_r O[o,r] I[i,r] V[h,r] H[w,r]``      Lebedev et al. 2015
Tucker-2 (conv)           ``K[o,i,h,w] ≈ Σ U[o,p] C[p,q,h,w] S[i,q]``           Kim et al. 2016
TT matrix (FC)            ``W[(o1..od),(i1..id)] ≈ G1[o1,i1] ⋯ Gd[od,id]``      Novikov et al. 2015
========================  ====================================================  ======================

Layout, one module per idea (pure tensor-in, tensor-out functions first, modules after):

* :mod:`~companion.decomposition.svd`, :mod:`~companion.decomposition.cp`,
  :mod:`~companion.decomposition.tucker`, :mod:`~companion.decomposition.tt` — decompose,
  reconstruct, count parameters and MACs of one format;
* :mod:`~companion.decomposition.layers` — the factorized ``nn.Module`` layers
  (:class:`LowRankLinear`, :class:`CPConv2d`, :class:`Tucker2Conv2d`, :class:`TTLinear`), plan
  entries and the model-level :func:`decompose` / :func:`plan_for_budget` other chapters reuse;
* :mod:`~companion.decomposition.recipes` — cached fine-tuning (:func:`finetuned`);
* :mod:`~companion.decomposition.sweeps` — error curves, rank/budget sweeps, measured speed-ups;
* :mod:`~companion.decomposition.figures` — tensor-network diagrams.

For example::

    from companion import decomposition as dec
    model = dec.decompose(train.baseline("lenet5"), {"conv2": dec.Tucker2(8, 8), "fc1": dec.SVD(32)})

CP, Tucker and TT use TensorLy with its PyTorch backend, always inside
``tensorly.backend_context("pytorch")`` (never a global ``set_backend``). Decompositions run
in float64 and return float32 factors.
"""

from __future__ import annotations

from . import _exercises  # noqa: F401  (registers the ch3.* exercises)
from . import cp, figures, layers, recipes, svd, sweeps, tt, tucker
from ._common import relative_error
from .cp import cp_conv, cp_conv_macs, cp_conv_params, cp_max_rank, cp_rank_for_compression, cp_reconstruct
from .figures import draw_tensor_network, tensor_network_figure
from .layers import CP, SVD, TT, CPConv2d, LowRankLinear, Tucker2, Tucker2Conv2d, TTLinear, decompose, \
    decompose_layer, plan_for_budget
from .recipes import finetuned
from .svd import choose_svd_rank, rank_for_compression, rank_for_energy, svd_macs, svd_max_rank, svd_params, \
    truncated_svd
from .sweeps import BudgetSweepRow, RankSweepRow, SpeedupRange, SweepRows, budget_sweep, error_vs_rank, \
    measure_latency_ms, rank_sweep, speedup_range
from .tt import factorize, tt_macs, tt_matrix, tt_matvec, tt_max_ranks, tt_params, tt_to_matrix
from .tucker import tucker2_conv, tucker2_macs, tucker2_params, tucker2_ranks_for_compression, \
    tucker2_ranks_for_energy, tucker2_reconstruct

__all__ = [
    # pure functions
    "relative_error", "svd_max_rank", "truncated_svd", "rank_for_energy", "rank_for_compression",
    "choose_svd_rank", "svd_params", "svd_macs",
    "cp_max_rank", "cp_conv", "cp_reconstruct", "cp_conv_params", "cp_conv_macs",
    "tucker2_conv", "tucker2_reconstruct", "tucker2_params", "tucker2_macs", "tucker2_ranks_for_energy",
    "factorize", "tt_max_ranks", "tt_matrix", "tt_to_matrix", "tt_matvec", "tt_params", "tt_macs",
    "error_vs_rank",
    # layers
    "LowRankLinear", "CPConv2d", "Tucker2Conv2d", "TTLinear",
    # model level
    "SVD", "CP", "Tucker2", "TT", "decompose_layer", "decompose", "plan_for_budget", "cp_rank_for_compression",
    "tucker2_ranks_for_compression", "finetuned",
    # sweeps and timing
    "rank_sweep", "budget_sweep", "RankSweepRow", "BudgetSweepRow", "SweepRows", "measure_latency_ms",
    "SpeedupRange", "speedup_range",
    # figures
    "draw_tensor_network", "tensor_network_figure",
]
