"""Chapter 3's exercises (``companion.exercises.check("ch3.<name>", answer)``), registered on import."""
from __future__ import annotations

import math

import torch

from .. import exercises as _ex
from .svd import rank_for_compression, rank_for_energy
from .tt import tt_params, tt_to_matrix

def _ex_tt_params() -> int:
    return tt_params((4, 8, 8, 4), (4, 4, 4, 4), 6)


def _ex_svd_rank() -> int:
    return rank_for_compression(500, 800, 10)


def _ex_energy_rank() -> int:
    from .. import train
    return rank_for_energy(torch.linalg.svdvals(train.baseline("lenet5", progress=False).fc1.weight.detach().double()),
                           0.9)


_ex.register("ch3.tt_params",
             "How many weights do the cores of a TT matrix with in_modes (4, 8, 8, 4), out_modes (4, 4, 4, 4) "
             "and all inner ranks 6 hold? (an int)",
             _ex.close_to(_ex_tt_params, rtol=0, atol=0.5,
                          hint="core k has r_{k-1}·m_k·n_k·r_k entries; the boundary ranks r_0 = r_4 = 1"),
             level="easy")
_ex.register("ch3.svd_budget",
             "Largest SVD rank r for which a 500 x 800 Linear (LeNet-5's fc1, weights only) gets at least "
             "10x fewer weights (an int)",
             _ex.close_to(_ex_svd_rank, rtol=0, atol=0.5,
                          hint="the two factors hold r·(m + n) weights; solve r·(m + n) <= m·n / 10 and round down"),
             level="medium")
_ex.register("ch3.energy_rank",
             "Smallest rank that keeps 90 % of the energy (sum of squared singular values) of the trained "
             "LeNet-5 fc1 weight (an int)",
             _ex.close_to(_ex_energy_rank, rtol=0, atol=0.5,
                          hint="torch.linalg.svdvals, square, cumulative sum, divide by the total, first index >= 0.9, +1"),
             level="medium")
_ex.register("ch3.tt_matvec",
             "Write tt_forward(x, cores) -> y computing y = x W^T for W in TT format without forming W "
             "(x: [B, prod n_k]; cores[k]: [r_{k-1}, m_k, n_k, r_k])",
             _ex.same_function(lambda x, cores: x @ tt_to_matrix(cores).T,
                               lambda: _tt_cases(), atol=1e-4,
                               hint="reshape x to [B, n_1, ..., n_d] and contract one core at a time with einsum"),
             level="hard")


def _tt_cases():
    gen = torch.Generator().manual_seed(3)
    cases = []
    for in_modes, out_modes, ranks in (((2, 3), (3, 2), (1, 2, 1)), ((2, 2, 3), (3, 1, 2), (1, 3, 2, 1))):
        cores = [torch.randn(ranks[k], m, n, ranks[k + 1], generator=gen, dtype=torch.float64)
                 for k, (m, n) in enumerate(zip(out_modes, in_modes))]
        cases.append((torch.randn(4, math.prod(in_modes), generator=gen, dtype=torch.float64), cores))
    return cases
