"""The exercises of chapter 5 (registered with :mod:`companion.exercises` when the package is imported)."""
from __future__ import annotations

import math
from typing import Mapping

import torch

from .. import exercises
from .analysis import sparsities_from_sensitivity
from .formats import csr_encode, csr_size_bits, relative_index_encode
from .masks import magnitude_mask
from .recipes import SWEEP_SPARSITIES, baseline_sensitivity

__all__ = ["EXERCISE_MATRIX", "EXERCISE_ROW"]

#: The matrix of exercise ``ch5.csr_bits`` (a pruned 4 x 6 weight matrix).
EXERCISE_MATRIX = torch.tensor([[0.0, 0.7, 0.0, 0.0, 0.0, -1.2],
                                [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                                [2.1, 0.0, 0.0, 0.4, 0.0, 0.0],
                                [0.0, 0.0, -0.3, 0.0, 0.0, 0.9]])

#: The flattened row of exercise ``ch5.padding_zeros``.
EXERCISE_ROW = torch.tensor([0.0] * 3 + [0.5] + [0.0] * 20 + [-0.8, 0.3] + [0.0] * 40 + [1.1] + [0.0] * 8 + [0.2])


def _mask_cases():
    gen = torch.Generator().manual_seed(5)
    return [(torch.randn(6, 7, generator=gen), 0.5), (torch.randn(30, generator=gen), 0.9),
            (torch.randn(3, 4, 5, generator=gen), 0.25), (torch.randn(8, 8, generator=gen), 0.0)]


def _check_sensitivity_answer(answer) -> str | None:
    if not isinstance(answer, Mapping):
        raise exercises.ExerciseError(f"expected a dict {{layer: sparsity}}, got {type(answer).__name__}")
    sweep = baseline_sensitivity("lenet300")
    base = sweep["fc1"][0]  # sparsity 0 = the baseline itself
    want = sparsities_from_sensitivity(sweep, SWEEP_SPARSITIES, base, 1.0)
    if set(answer) != set(want):
        raise exercises.ExerciseError(f"give one sparsity for each of {sorted(want)}")
    for n, s in want.items():
        if not math.isclose(float(answer[n]), s, abs_tol=1e-9):
            hint = "too high: some accuracy at or below it drops more than 1 point" if answer[n] > s else \
                "you can go higher: the curve stays within 1 point further"
            raise exercises.ExerciseError(f"{n}: {answer[n]} is {hint}.")
    return "Sensitive layers (the small classifier fc3) keep more weights, as in Han et al.'s 8%/9%/26%."


exercises.register(
    "ch5.magnitude_mask",
    "Write mask(weight, sparsity) -> bool tensor that zeroes the round(sparsity·n) smallest |w| (True = kept).",
    exercises.same_function(magnitude_mask, _mask_cases,
                            hint="sort |w| (flattened), mark the first k = round(sparsity * n) as pruned, reshape"),
    "easy")
exercises.register(
    "ch5.csr_bits",
    "Size in bits of sparsity.EXERCISE_MATRIX in CSR: 32-bit values, narrowest column indices and row pointers.",
    exercises.close_to(lambda: csr_size_bits(csr_encode(EXERCISE_MATRIX), 32), rtol=0,
                       hint="nnz·32 + nnz·⌈log2(columns)⌉ + (rows + 1)·⌈log2(nnz + 1)⌉"),
    "medium")
exercises.register(
    "ch5.padding_zeros",
    "How many padding zeros does sparsity.EXERCISE_ROW need in the relative-index format with 3-bit gaps?",
    exercises.close_to(lambda: int((relative_index_encode(EXERCISE_ROW, 3)[0] == 0).sum()), rtol=0,
                       hint="a run of z zeros before a non-zero needs z // 8 padding entries when gaps have 3 bits"),
    "medium")
exercises.register(
    "ch5.sensitivity_pick",
    "From the LeNet-300-100 sensitivity sweep (validation accuracy, sparsity.SWEEP_SPARSITIES), give each layer "
    "the highest swept sparsity up to which every accuracy stays within 1 point of the baseline.",
    _check_sensitivity_answer, "hard")
