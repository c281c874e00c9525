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

The decoder reads untrusted bytes (a file), so it checks sizes *before* it allocates: ``n``
symbols need at least ``n * min(lengths)`` bits and at most ``n * max(lengths)`` (rounded up to
whole bytes), and the padding bits must be zero. Its working memory is the output (``n`` ints)
plus a constant (a lookup table of at most ``2^16`` entries and a window of a few thousand bits);
every malformed stream raises :class:`CorruptFileError`.
"""
from __future__ import annotations

import heapq
from typing import Mapping, Sequence

import numpy as np

__all__ = ["code_lengths", "canonical_codes", "huffman_encode", "huffman_decode", "encoded_bits",
           "entropy_bits", "MAX_CODE_LENGTH", "CorruptFileError"]

#: The longest code length a table may hold (one byte per table entry in the file format).
MAX_CODE_LENGTH = 255
_TABLE_BITS = 16  # decode with a lookup table when every code fits in this many bits
_CHUNK_BITS = 8192  # the table decoder looks at this many bit positions at a time (bounded memory)


class CorruptFileError(ValueError):
    """The bytes are not a complete, intact compressed model or stream (truncated, corrupted, or another format).

    Defined here, in the lowest module that reads untrusted bytes, so that the Huffman decoder
    raises it too; :mod:`companion.joint.codec` re-exports it (``codec.CorruptFileError`` is
    this class). A ``ValueError``, so ``except ValueError`` still catches it.
    """


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
    # Kraft: sum 2^-l <= 1 (exact in Python integers, scaled by 2^max; lengths may exceed 63)
    if used.size:
        top = int(used.max())
        per_length = np.bincount(used, minlength=top + 1)
        kraft = sum(int(c) << (top - l) for l, c in enumerate(per_length.tolist()) if c)
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
    starting from 0. Unused symbols (length 0) get code 0. The array is ``int64`` when every
    length is at most 63 bits, else ``object`` (Python ints: a code word of 64+ bits does not fit).

    >>> [format(int(c), f"0{l}b") for c, l in zip(canonical_codes([1, 2, 3, 3]), [1, 2, 3, 3])]
    ['0', '10', '110', '111']
    """
    lengths = _check_lengths(lengths)
    wide = lengths.size and int(lengths.max()) > 63
    codes = np.zeros(lengths.size, dtype=object if wide else np.int64)
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


def _windows(payload: bytes, start: int, count: int, width: int) -> list[int]:
    """The ``width``-bit numbers starting at bit positions ``start .. start + count - 1`` (zeros past the end)."""
    b0, off = start >> 3, start & 7
    b1 = min(len(payload), ((start + count + width + 7) >> 3) + 1)
    bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8, count=b1 - b0, offset=b0))
    need = off + count + width - 1
    if bits.size < need:
        bits = np.concatenate([bits, np.zeros(need - bits.size, dtype=np.uint8)])
    w = np.zeros(count, dtype=np.int64)
    for j in range(width):
        w <<= 1
        w |= bits[off + j: off + j + count]
    return w.tolist()


def huffman_decode(payload: bytes, lengths, n_symbols: int, *, dtype=np.int64) -> np.ndarray:
    """Decode ``n_symbols`` symbols from ``payload`` with the canonical code of ``lengths``.

    Raises :class:`CorruptFileError` (a ``ValueError``) when the code table is invalid (a length
    above ``MAX_CODE_LENGTH``, the Kraft inequality violated, no code at all), when the payload is
    too short or too long for ``n_symbols`` codes (checked before anything is allocated), holds a
    bit pattern that is no code word, or has non-zero padding / trailing bytes — a corrupted
    stream never decodes silently. Returns an array ``[n_symbols]`` of ``dtype`` (an integer type
    wide enough for every symbol of the table; ``int64`` by default).
    """
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
    if not isinstance(n_symbols, (int, np.integer)) or isinstance(n_symbols, bool) or n_symbols < 0:
        raise ValueError(f"n_symbols must be a non-negative int, got {n_symbols!r}")
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise TypeError(f"dtype must be an integer type, got {dtype}")
    try:
        lengths = _check_lengths(lengths)
    except ValueError as e:
        raise CorruptFileError(f"corrupted Huffman code table: {e}") from None
    if lengths.size > int(np.iinfo(dtype).max) + 1:
        raise ValueError(f"dtype {dtype} cannot hold the {lengths.size} symbols of the table")
    payload = bytes(payload)
    n_symbols, n_bytes = int(n_symbols), len(payload)
    if n_symbols == 0:
        if n_bytes:
            raise CorruptFileError(f"corrupted Huffman stream: {n_bytes} bytes for 0 symbols")
        return np.zeros(0, dtype=dtype)
    used = lengths[lengths > 0]
    if not used.size:
        raise CorruptFileError(f"corrupted Huffman code table: {n_symbols} symbols but no symbol has a code")
    min_len, max_len = int(used.min()), int(used.max())
    # sizes first: every symbol costs between min_len and max_len bits
    if n_symbols * min_len > 8 * n_bytes:
        raise CorruptFileError(f"truncated Huffman stream: {n_symbols} symbols need at least {n_symbols * min_len} "
                               f"bits (shortest code {min_len} bits), the payload has {8 * n_bytes}")
    if n_bytes > (n_symbols * max_len + 7) // 8:
        raise CorruptFileError(f"corrupted Huffman stream: unexpected bits after the last symbol (the payload has "
                               f"{n_bytes} bytes; {n_symbols} symbols of at most {max_len} bits fill at most "
                               f"{(n_symbols * max_len + 7) // 8})")
    out = np.empty(n_symbols, dtype=dtype)
    n_bits = 8 * n_bytes
    pos = 0
    if max_len <= _TABLE_BITS:
        # lookup table: every max_len-bit window starting with a code word maps to symbol * 32 + length
        # canonical codes count up in (length, symbol) order, so the table is one run per symbol, in
        # that order, then -1 (no code word) for an incomplete code; a run repeats one int object, so
        # the list costs 8 bytes per entry (at most 512 KiB) plus one int per symbol
        table: list[int] = []
        for l, s in sorted((int(lengths[s]), int(s)) for s in np.flatnonzero(lengths).tolist()):
            table.extend([s * 32 + l] * (1 << (max_len - l)))
        table.extend([-1] * ((1 << max_len) - len(table)))
        i = 0
        while i < n_symbols:
            if pos >= n_bits:
                raise CorruptFileError(f"truncated Huffman stream: it ends after {i} of {n_symbols} symbols")
            lo, hi = pos, min(pos + _CHUNK_BITS, n_bits)
            win = _windows(payload, lo, hi - lo, max_len)
            buf = []
            stop = n_symbols - i
            while pos < hi and len(buf) < stop:
                t = table[win[pos - lo]]
                if t < 0:
                    raise CorruptFileError(f"corrupted Huffman stream: no code word at bit {pos}")
                buf.append(t >> 5)
                pos += t & 31
            out[i: i + len(buf)] = buf
            i += len(buf)
        if pos > n_bits:
            raise CorruptFileError(f"truncated Huffman stream: the last code word runs {pos - n_bits} bits past the end")
    else:
        # canonical decoding, bit by bit, in Python ints (codes may be longer than 64 bits):
        # the codes of length l are first[l], first[l] + 1, ... for the symbols sorted by (length, symbol)
        per_length = np.bincount(used, minlength=max_len + 1).tolist()
        order = [s for _, s in sorted((int(lengths[s]), int(s)) for s in np.flatnonzero(lengths).tolist())]
        first, offset = [0] * (max_len + 1), [0] * (max_len + 1)
        code, index = 0, 0
        for l in range(1, max_len + 1):
            code = (code + per_length[l - 1]) << 1 if l > 1 else 0
            first[l], offset[l] = code, index
            index += per_length[l]
        for i in range(n_symbols):
            code, l = 0, 0
            while True:
                if pos >= n_bits:
                    raise CorruptFileError(f"truncated Huffman stream: it ends inside symbol {i} of {n_symbols}")
                code = (code << 1) | ((payload[pos >> 3] >> (7 - (pos & 7))) & 1)
                pos += 1
                l += 1
                d = code - first[l]
                if 0 <= d < per_length[l]:
                    out[i] = order[offset[l] + d]
                    break
                if l >= max_len:
                    raise CorruptFileError(f"corrupted Huffman stream: no code word at bit {pos - l}")
    if (pos + 7) // 8 != n_bytes:
        raise CorruptFileError(f"corrupted Huffman stream: unexpected bits after the last symbol "
                               f"({n_bytes - (pos + 7) // 8} bytes past bit {pos})")
    if pos % 8 and payload[-1] & ((1 << (8 - pos % 8)) - 1):
        raise CorruptFileError(f"corrupted Huffman stream: non-zero padding bits after the last symbol (bit {pos})")
    return out
