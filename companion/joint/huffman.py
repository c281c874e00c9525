"""Canonical Huffman coding: the last, lossless stage of Deep Compression.

After pruning and weight sharing a layer is two streams of small integers — the codebook
indices of the kept weights and the relative indices (gaps) between them. Their values are far
from uniform (a few centroids near zero hold most weights; short gaps are common), so a
variable-length prefix code saves another 20–30 % (Han et al. 2016, "Deep Compression",
Section 4; the survey discusses it with joint-way compression).

Huffman (1952): repeatedly merge the two least frequent subtrees; a symbol's code length is its
depth. The expected length satisfies ``H(p) <= L < H(p) + 1`` (``H`` the entropy in bits).
*Canonical* codes need only the code lengths to be rebuilt: symbols sorted by
``(length, symbol)`` receive consecutive binary numbers, shifted left whenever the length grows.
So a file stores one small integer per symbol (the table), never the tree.

Conventions: symbols are non-negative ints below ``alphabet_size``; ``lengths[s] == 0`` means
``s`` never occurs; bits are packed most significant bit first, the last byte zero-padded.
"""
from __future__ import annotations

import heapq
from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["code_lengths", "canonical_codes", "huffman_encode", "huffman_decode", "encoded_bits",
           "entropy_bits", "MAX_CODE_LENGTH"]

#: The longest code length a table may hold (one byte per table entry in the file format).
MAX_CODE_LENGTH = 255
_TABLE_BITS = 16  # decode with a lookup table when every code fits in this many bits


def _as_symbols(symbols, name: str = "symbols") -> np.ndarray:
    if isinstance(symbols, (str, bytes)):
        raise TypeError(f"{name} must be a sequence or array of non-negative ints, got {type(symbols).__name__}")
    arr = np.asarray(symbols.detach().cpu() if hasattr(symbols, "detach") else symbols)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "b" or arr.dtype.kind not in "f" or not np.all(np.mod(arr, 1) == 0):
            raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.min() < 0:
        raise ValueError(f"{name} must be >= 0, got a minimum of {int(arr.min())}")
    return arr


def _check_lengths(lengths) -> np.ndarray:
    arr = np.asarray(lengths)
    if arr.ndim != 1:
        raise ValueError(f"code lengths must be a 1-D array (one entry per symbol), got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"code lengths must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() > MAX_CODE_LENGTH):
        raise ValueError(f"code lengths must lie in [0, {MAX_CODE_LENGTH}], got [{arr.min()}, {arr.max()}]")
    used = arr[arr > 0]
    # Kraft: sum 2^-l <= 1 (exact in integers, scaled by 2^max)
    if used.size:
        top = int(used.max())
        kraft = sum(1 << (top - int(l)) for l in used)
        if kraft > (1 << top):
            raise ValueError("code lengths violate the Kraft inequality (sum of 2^-length > 1): not a prefix code")
    return arr


def code_lengths(counts: Sequence[int] | np.ndarray | Mapping[int, int], alphabet_size: int | None = None) -> np.ndarray:
    """Huffman code length of every symbol from its count; ``lengths[s] == 0`` when ``counts[s] == 0``.

    ``counts``: a 1-D array ``[alphabet_size]`` of non-negative counts, or a ``{symbol: count}``
    mapping. One used symbol gets length 1 (a code must have at least one bit); ties are broken
    by symbol, so the result is deterministic.

    >>> code_lengths([5, 2, 1, 1]).tolist()      # a: 0, b: 10, c: 110, d: 111
    [1, 2, 3, 3]
    """
    if isinstance(counts, Mapping):
        if alphabet_size is None:
            alphabet_size = (max(counts) + 1) if counts else 0
        arr = np.zeros(alphabet_size, dtype=np.int64)
        for s, c in counts.items():
            if not isinstance(s, (int, np.integer)) or s < 0 or s >= alphabet_size:
                raise ValueError(f"symbol {s!r} is not an int in [0, {alphabet_size})")
            arr[s] = c
    else:
        arr = np.asarray(counts)
        if arr.ndim != 1:
            raise ValueError(f"counts must be 1-D (one count per symbol), got shape {arr.shape}")
        if arr.size and arr.dtype.kind not in "iu":
            raise TypeError(f"counts must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        if alphabet_size is not None:
            if alphabet_size < arr.size:
                raise ValueError(f"alphabet_size {alphabet_size} is smaller than the {arr.size} counts given")
            arr = np.concatenate([arr, np.zeros(alphabet_size - arr.size, dtype=np.int64)])
    if arr.size and arr.min() < 0:
        raise ValueError(f"counts must be >= 0, got {int(arr.min())}")
    lengths = np.zeros(arr.size, dtype=np.int64)
    used = np.flatnonzero(arr)
    if used.size == 1:
        lengths[used[0]] = 1
        return lengths
    # heap of (count, tie-break, symbols in the subtree); merging deepens every symbol by one
    heap = [(int(arr[s]), int(s), [int(s)]) for s in used]
    heapq.heapify(heap)
    while len(heap) > 1:
        c1, t1, s1 = heapq.heappop(heap)
        c2, t2, s2 = heapq.heappop(heap)
        for s in s1:
            lengths[s] += 1
        for s in s2:
            lengths[s] += 1
        heapq.heappush(heap, (c1 + c2, min(t1, t2), s1 + s2))
    if lengths.size and lengths.max() > MAX_CODE_LENGTH:  # needs > 2^255 symbols: cannot happen in practice
        raise ValueError(f"a code length exceeds {MAX_CODE_LENGTH}")
    return lengths


def canonical_codes(lengths: Sequence[int] | np.ndarray) -> np.ndarray:
    """The canonical code (an int whose ``lengths[s]`` low bits are the code word) of every symbol.

    Symbols sorted by ``(length, symbol)`` get ``code = (previous code + 1) << (length − previous length)``,
    starting from 0. Unused symbols (length 0) get code 0.

    >>> [format(int(c), f"0{l}b") for c, l in zip(canonical_codes([1, 2, 3, 3]), [1, 2, 3, 3])]
    ['0', '10', '110', '111']
    """
    lengths = _check_lengths(lengths)
    codes = np.zeros(lengths.size, dtype=np.int64)
    order = sorted((int(l), s) for s, l in enumerate(lengths) if l > 0)
    code, prev = 0, 0
    for i, (l, s) in enumerate(order):
        if i:
            code = (code + 1) << (l - prev)
        else:
            code = 0
        codes[s] = code
        prev = l
    return codes


def encoded_bits(symbols, lengths) -> int:
    """Length in bits of the Huffman-coded stream (without padding): ``sum_i lengths[symbols[i]]``."""
    symbols = _as_symbols(symbols)
    lengths = _check_lengths(lengths)
    if symbols.size and symbols.max() >= lengths.size:
        raise ValueError(f"symbol {int(symbols.max())} is outside the table of {lengths.size} symbols")
    return int(lengths[symbols].sum()) if symbols.size else 0


def entropy_bits(symbols) -> float:
    """Shannon entropy ``H = −Σ p log2 p`` of the empirical symbol distribution, in bits per symbol."""
    symbols = _as_symbols(symbols)
    if symbols.size == 0:
        return 0.0
    p = np.bincount(symbols) / symbols.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def huffman_encode(symbols, alphabet_size: int | None = None, lengths=None) -> tuple[bytes, np.ndarray]:
    """Encode a stream of symbols; return ``(payload, lengths)``.

    ``symbols``: 1-D ints in ``[0, alphabet_size)`` (``alphabet_size`` defaults to ``max + 1``).
    ``lengths``: a code-length table to use (default: the Huffman lengths of this stream).
    ``payload`` holds ``encoded_bits(symbols, lengths)`` bits, MSB first, padded to whole bytes.
    Decoding needs the table and the number of symbols: :func:`huffman_decode`.

    >>> payload, lengths = huffman_encode([0, 0, 0, 1, 2])
    >>> lengths.tolist(), len(payload)          # 0 -> '0', 1 -> '10', 2 -> '11': 7 bits
    ([1, 2, 2], 1)
    """
    symbols = _as_symbols(symbols)
    if alphabet_size is None:
        alphabet_size = int(symbols.max()) + 1 if symbols.size else (len(lengths) if lengths is not None else 0)
    if not isinstance(alphabet_size, (int, np.integer)) or alphabet_size < 0:
        raise ValueError(f"alphabet_size must be a non-negative int, got {alphabet_size!r}")
    if symbols.size and symbols.max() >= alphabet_size:
        raise ValueError(f"symbol {int(symbols.max())} is outside the alphabet [0, {alphabet_size})")
    if lengths is None:
        lengths = code_lengths(np.bincount(symbols, minlength=alphabet_size) if symbols.size
                               else np.zeros(alphabet_size, dtype=np.int64))
    lengths = _check_lengths(lengths)
    if lengths.size != alphabet_size:
        raise ValueError(f"the length table has {lengths.size} entries but the alphabet has {alphabet_size} symbols")
    if symbols.size == 0:
        return b"", lengths
    lens = lengths[symbols]
    if np.any(lens == 0):
        bad = int(symbols[np.argmax(lens == 0)])
        raise ValueError(f"symbol {bad} has no code (length 0) in the table")
    codes = canonical_codes(lengths)[symbols]
    starts = np.cumsum(lens) - lens
    bits = np.zeros(int(lens.sum()), dtype=np.uint8)
    for j in range(int(lens.max())):  # j-th bit (from the most significant) of every code longer than j
        sel = lens > j
        bits[starts[sel] + j] = (codes[sel] >> (lens[sel] - 1 - j)) & 1
    return np.packbits(bits).tobytes(), lengths


def huffman_decode(payload: bytes, lengths, n_symbols: int) -> np.ndarray:
    """Decode ``n_symbols`` symbols from ``payload`` with the canonical code of ``lengths``.

    Raises ``ValueError`` when the payload is too short, holds a bit pattern that is no code word,
    or has non-zero padding / trailing bytes — a corrupted stream never decodes silently.
    Returns an ``int64`` array ``[n_symbols]``.
    """
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
    if not isinstance(n_symbols, (int, np.integer)) or isinstance(n_symbols, bool) or n_symbols < 0:
        raise ValueError(f"n_symbols must be a non-negative int, got {n_symbols!r}")
    lengths = _check_lengths(lengths)
    n_symbols = int(n_symbols)
    if n_symbols == 0:
        if len(payload):
            raise ValueError(f"corrupted Huffman stream: {len(payload)} bytes for 0 symbols")
        return np.zeros(0, dtype=np.int64)
    if not np.any(lengths > 0):
        raise ValueError("cannot decode symbols with an empty code table")
    bits = np.unpackbits(np.frombuffer(bytes(payload), dtype=np.uint8)).astype(np.int64)
    codes = canonical_codes(lengths)
    max_len = int(lengths.max())
    out = np.empty(n_symbols, dtype=np.int64)
    n_bits = bits.size
    if max_len <= _TABLE_BITS:
        # lookup table: every max_len-bit window starting with a code word maps to (symbol, length)
        table_sym = np.full(1 << max_len, -1, dtype=np.int64)
        table_len = np.zeros(1 << max_len, dtype=np.int64)
        for s in np.flatnonzero(lengths):
            l = int(lengths[s])
            lo = int(codes[s]) << (max_len - l)
            table_sym[lo: lo + (1 << (max_len - l))] = s
            table_len[lo: lo + (1 << (max_len - l))] = l
        padded = np.concatenate([bits, np.zeros(max_len, dtype=np.int64)])
        weights = 1 << np.arange(max_len - 1, -1, -1, dtype=np.int64)
        windows = np.lib.stride_tricks.sliding_window_view(padded, max_len)[: n_bits] @ weights
        windows = windows.tolist()
        tsym, tlen = table_sym.tolist(), table_len.tolist()
        pos = 0
        for i in range(n_symbols):
            if pos >= n_bits:
                raise ValueError(f"truncated Huffman stream: it ends after {i} of {n_symbols} symbols")
            w = windows[pos]
            s = tsym[w]
            if s < 0:
                raise ValueError(f"corrupted Huffman stream: no code word at bit {pos}")
            out[i] = s
            pos += tlen[w]
        if pos > n_bits:
            raise ValueError(f"truncated Huffman stream: the last code word runs {pos - n_bits} bits past the end")
    else:
        # bit by bit: a prefix code is a dict from (length, code) to symbol
        lookup = {(int(lengths[s]), int(codes[s])): int(s) for s in np.flatnonzero(lengths)}
        pos, bl = 0, bits.tolist()
        for i in range(n_symbols):
            code, l = 0, 0
            while True:
                if pos >= n_bits:
                    raise ValueError(f"truncated Huffman stream: it ends inside symbol {i} of {n_symbols}")
                code = (code << 1) | bl[pos]
                pos += 1
                l += 1
                s = lookup.get((l, code))
                if s is not None:
                    out[i] = s
                    break
                if l >= max_len:
                    raise ValueError(f"corrupted Huffman stream: no code word at bit {pos - l}")
    if (pos + 7) // 8 != len(payload) or np.any(bits[pos:]):
        raise ValueError("corrupted Huffman stream: unexpected bits after the last symbol")
    return out
