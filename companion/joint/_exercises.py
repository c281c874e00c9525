"""The exercises of chapter 6 (``ch6.*``), registered when :mod:`companion.joint` is imported."""
from __future__ import annotations

import numpy as np
import torch

from .. import exercises
from .experiments import deep_compression, float32_bytes
from .huffman import code_lengths

# --- exercises -----------------------------------------------------------------------------------

_EX_COUNTS = {"a": 45, "b": 13, "c": 12, "d": 16, "e": 9, "f": 5}


def _ex_avg_length() -> float:
    counts = np.array(list(_EX_COUNTS.values()))
    lengths = code_lengths(counts)
    return float((counts * lengths).sum() / counts.sum())


exercises.register(
    "ch6.huffman_average",
    "Symbols a..f occur 45, 13, 12, 16, 9 and 5 times. Build a Huffman code by hand: what is its average "
    "length in bits per symbol?",
    exercises.close_to(_ex_avg_length, rtol=1e-6, hint="merge the two rarest subtrees again and again (5+9, "
                       "then 12+13, ...); a symbol's code length is its depth; average = Σ count·length / Σ count.",
                       explain=lambda v: f"{v:.2f} bits per symbol, against 3 bits for a fixed-width code of 6 symbols."),
    "easy")

_EX_POSITIONS = (2, 5, 30, 31, 100)


def _ex_relative_bits() -> int:
    from .. import sparsity
    row = torch.zeros(128)
    row[list(_EX_POSITIONS)] = 1.0
    values, gaps = sparsity.relative_index_encode(row, 3)
    return int(values.numel()) * (4 + 3)


exercises.register(
    "ch6.relative_index_bits",
    "A row of 128 weights has non-zeros at positions 2, 5, 30, 31 and 100 (0-based). Stored with 4-bit codes and "
    "3-bit relative indices (filler zeros for longer runs, as Deep Compression does), how many bits does the row take?",
    exercises.close_to(_ex_relative_bits, rtol=0, atol=0.5, hint="a gap counts the zeros since the previous stored "
                       "entry; 3 bits hold at most 7, and a longer run inserts a filler zero (gap 7, value 0) that "
                       "itself covers one position; every stored entry costs 4 + 3 bits."),
    "medium")


def _ex_biggest_stage() -> str:
    res = deep_compression("lenet300", progress=False)
    sizes = [float(float32_bytes(res.model))] + [s.size_bytes for s in res.stages]
    saved = {name: sizes[i] - sizes[i + 1] for i, name in enumerate(["prune", "share", "encode"])}
    return max(saved, key=saved.get)


exercises.register(
    "ch6.biggest_saving",
    "In the LeNet-300-100 run of this chapter, which stage saves the most bytes: 'prune', 'share' or 'encode'?",
    exercises.one_of(_ex_biggest_stage, normalize=lambda a: str(a).strip().lower(),
                     hint="subtract consecutive sizes of the stage table (the dense float32 file comes first)."),
    "medium")


def _ex_huffman_bits_reference(counts) -> int:
    counts = np.asarray(counts, dtype=np.int64)
    return int((code_lengths(counts) * counts).sum())


def _ex_huffman_cases():
    rng = np.random.default_rng(6)
    return [(np.array([5, 2, 1, 1]),), (np.array([7]),), (np.array([1, 1, 1, 1, 1, 1, 1, 1]),),
            (rng.integers(1, 1000, 12),), (np.array([3, 0, 4, 0, 1]),)]


exercises.register(
    "ch6.huffman_bits",
    "Write huffman_bits(counts) -> int: the length in bits of a symbol stream with these symbol counts, coded with "
    "an optimal prefix (Huffman) code. Use heapq, not this module. (A lone symbol still costs 1 bit; count 0 = unused.)",
    exercises.same_function(_ex_huffman_bits_reference, _ex_huffman_cases,
                            hint="each merge of two subtrees with counts a and b adds a + b bits to the total "
                                 "(every symbol below goes one level deeper); handle the one-symbol case."),
    "hard")


def _ex_kd_reference(s, t, y, T, alpha):
    from ..distill import distillation_loss
    return distillation_loss(s, t, y, T=T, alpha=alpha)


def _ex_kd_cases():
    g = torch.Generator().manual_seed(14)
    for n, c, T, alpha in ((1, 2, 1.0, 0.5), (4, 10, 4.0, 0.9), (8, 3, 20.0, 0.0), (5, 6, 2.0, 1.0)):
        yield (3 * torch.randn(n, c, generator=g), 3 * torch.randn(n, c, generator=g),
               torch.randint(0, c, (n,), generator=g), T, alpha)


exercises.register(
    "ch6.kd_loss",
    "Write kd_loss(s, t, y, T, alpha): Hinton et al.'s distillation loss alpha * T^2 * KL(softmax(t/T) || "
    "softmax(s/T)) + (1 - alpha) * CE(s, y), both terms averaged over the batch, without companion.distill.",
    exercises.same_function(_ex_kd_reference, _ex_kd_cases, atol=1e-5,
                            hint="KL(p || q) = sum_k p_k (log p_k - log q_k); use torch.log_softmax for log q and "
                                 "log p, sum over classes, then average over the batch; CE is "
                                 "torch.nn.functional.cross_entropy(s, y)."),
    "medium")
