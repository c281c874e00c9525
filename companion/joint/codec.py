"""The Deep Compression file: a real encoder and decoder, with every overhead in the byte count.

A compressed model is a byte string (write it to a file if you like). Its size is the claim:
``ratio = float32 model bytes / len(data)`` — header, codebooks, Huffman tables and checksum
included (after the survey's discussion of fair comparison: count the overhead).

Layout (little-endian; ``str`` = u8 length + UTF-8)::

    magic  b"DCMP" | version u8 | total length u32 | architecture str | n_tensors u16
    n_tensors x tensor record
    CRC-32 of everything before it (u32)

    tensor record: name str | ndim u8 | shape u32 x ndim | value coding u8 | index bits u8
                   [index coding u8]                          if index bits > 0
                   n_entries u32                              (stored entries, fillers included)
                   float32 | float16: the entries, raw
                   fixed   | huffman: K u16 | codebook float32 x K
                              fixed:   the codes, ceil(log2 K) bits each, packed
                              huffman: K code lengths u8 | payload length u32 | payload
                   index stream (if index bits > 0), fixed (index_bits each) or huffman
                              (2^index_bits code lengths u8 | payload length u32 | payload)

A tensor is stored *dense* (``index_bits == 0``: every position is an entry) or *sparse*
with Deep Compression's relative indices (``index_bits = b``: each kept weight stores the
number of zeros since the previous one, in ``b`` bits; a longer run inserts a filler zero —
:func:`companion.sparsity.relative_index_encode`). The codebook is read off the tensor itself:
its distinct stored values (after k-means weight sharing, at most ``2^bits`` plus the zero of
the fillers), so writing then reading returns *exactly* the tensor that was written.

Truncated or corrupted data raises :class:`CorruptFileError` (a ``ValueError``) — never a
wrong model, never another exception: the length and the CRC-32 are checked before anything is
parsed, and past them the reader trusts no field (a forged file can carry a valid checksum).
Every size is checked against the bytes present *before* anything is allocated:

* ``n_entries`` is backed by the streams: raw values take exactly ``4 n`` / ``2 n`` bytes, fixed
  codes exactly ``ceil(n * w / 8)``, a Huffman stream between ``n * min(lengths)`` bits and
  ``ceil(n * max(lengths) / 8)`` bytes (the same for the relative indices);
* a dense tensor has ``numel == n_entries``; a sparse one ``n_entries <= numel <= n_entries *
  2^index_bits + MAX_TRAILING_ZEROS`` (each entry covers at most ``2^index_bits`` positions; the
  zeros after the last entry are not stored, and at most :data:`MAX_TRAILING_ZEROS` = 2^20 of
  them are accepted — :func:`encode_tensor` refuses to write more);
* codebooks are finite and strictly increasing (sorted distinct values), raw values finite,
  code tables valid prefix codes (lengths <= 255, Kraft), codes inside the codebook, relative
  indices inside the tensor, and every padding bit zero.

So decoding a file of ``B`` bytes into tensors of ``N`` elements in all needs ``O(B + N)``
memory, and ``N`` itself is bounded by the bytes: at most ``8 B`` for dense tensors (one bit per
element) and ``2^index_bits`` per stored entry (plus 2^20) for sparse ones.
"""
from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
from torch import nn

from . import huffman

__all__ = ["MAGIC", "VERSION", "Coding", "EncodedTensor", "CorruptFileError", "encode_tensor", "decode_tensor",
           "pack", "unpack", "write_model", "read_model", "size_breakdown", "describe", "pack_fixed", "best_index_bits",
           "unpack_fixed", "VALUE_CODINGS", "INDEX_CODINGS", "MAX_TRAILING_ZEROS", "FLOAT16_MAX"]

MAGIC = b"DCMP"
VERSION = 1
VALUE_CODINGS = ("float32", "float16", "fixed", "huffman")
INDEX_CODINGS = ("fixed", "huffman")
MAX_CODEBOOK = 65535
#: Zeros after the last stored entry of a sparse tensor are not stored; a reader accepts at most
#: this many beyond what the entries can reach (``numel <= n_entries * 2^index_bits + MAX_TRAILING_ZEROS``),
#: so a 40-byte file cannot declare a 20000 x 20000 tensor of zeros.
MAX_TRAILING_ZEROS = 1 << 20
#: The largest finite float16 value: ``"float16"`` coding refuses larger magnitudes (they would become inf).
FLOAT16_MAX = 65504.0
_PRELUDE = struct.Struct("<4sBI")  # magic, version, total length
_U32 = 1 << 32
_FIXED_CHUNK = 1 << 14  # values unpacked per step (bounded temporaries)

# one class for the file and its Huffman streams (defined in huffman.py, the lowest layer)
CorruptFileError = huffman.CorruptFileError


@dataclass(frozen=True)
class Coding:
    """How one tensor is written.

    ``values``: ``"float32"`` / ``"float16"`` (raw entries) or ``"fixed"`` / ``"huffman"``
    (codebook indices, fixed width ``ceil(log2 K)`` or Huffman-coded). ``index_bits``: 0 =
    dense, else the width of Deep Compression's relative index (1..16). ``index``: how the
    relative indices are coded (``"fixed"`` or ``"huffman"``).
    """

    values: str = "huffman"
    index_bits: int = 0
    index: str = "huffman"

    def __post_init__(self):
        if self.values not in VALUE_CODINGS:
            raise ValueError(f"values coding must be one of {VALUE_CODINGS}, got {self.values!r}")
        if isinstance(self.index_bits, bool) or not isinstance(self.index_bits, int) or not 0 <= self.index_bits <= 16:
            raise ValueError(f"index_bits must be an int in [0, 16] (0 = dense), got {self.index_bits!r}")
        if self.index not in INDEX_CODINGS:
            raise ValueError(f"index coding must be one of {INDEX_CODINGS}, got {self.index!r}")


@dataclass(frozen=True)
class EncodedTensor:
    """One tensor as it lies in the file: ``shape``, the coding, the codebook and the two streams.

    ``values_payload`` holds raw floats, fixed-width codes or a Huffman stream;
    ``index_payload`` the relative indices (empty when dense).
    """

    shape: tuple[int, ...]
    coding: Coding
    n_entries: int
    codebook: np.ndarray          # float32 [K] (empty for raw values)
    value_lengths: np.ndarray     # uint8 [K] Huffman code lengths (empty unless values == "huffman")
    values_payload: bytes
    index_lengths: np.ndarray     # uint8 [2^index_bits] (empty unless index == "huffman" and sparse)
    index_payload: bytes

    @property
    def numel(self) -> int:
        return int(math.prod(self.shape))

    def parts_bytes(self) -> dict[str, int]:
        """Bytes of this record by part: header, codebook, tables, values, index."""
        c = self.coding
        header = 1 + 4 * len(self.shape) + 2 + (1 if c.index_bits else 0) + 4  # ndim, shape, codings, count
        codebook = (2 + 4 * self.codebook.size) if c.values in ("fixed", "huffman") else 0
        tables = 0
        if c.values == "huffman":
            tables += self.value_lengths.size + 4
        if c.index_bits and c.index == "huffman":
            tables += self.index_lengths.size + 4
        return {"header": header, "codebook": codebook, "tables": tables,
                "values": len(self.values_payload), "index": len(self.index_payload)}


# --- small pure helpers ------------------------------------------------------------------------

def pack_fixed(values, width: int) -> bytes:
    """Pack non-negative ints, ``width`` bits each (MSB first), into bytes (last byte zero-padded).

    >>> pack_fixed([1, 2, 3], 2).hex()           # 01 10 11 00
    '6c'
    """
    v = np.asarray(values, dtype=np.int64).reshape(-1)
    if not isinstance(width, (int, np.integer)) or not 0 <= width <= 32:
        raise ValueError(f"width must be an int in [0, 32], got {width!r}")
    if v.size and (v.min() < 0 or v.max() >= (1 << width)):
        raise ValueError(f"values must lie in [0, 2^{width}) for a {width}-bit field, got [{v.min()}, {v.max()}]")
    if width == 0 or v.size == 0:
        return b""
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
    bits = ((v[:, None] >> shifts[None, :]) & 1).astype(np.uint8).reshape(-1)
    return np.packbits(bits).tobytes()


def _check_fixed_stream(payload, width: int, n: int) -> None:
    """Length and padding of a fixed-width stream (no allocation); raises :class:`CorruptFileError`."""
    expected = (n * width + 7) // 8
    if len(payload) != expected:
        raise CorruptFileError(f"fixed-width stream has {len(payload)} bytes, expected {expected} "
                               f"for {n} values of {width} bits")
    tail = (n * width) % 8
    if tail and payload[-1] & ((1 << (8 - tail)) - 1):
        raise CorruptFileError(f"fixed-width stream: non-zero padding bits after the last of {n} values of {width} bits")


def unpack_fixed(payload: bytes, width: int, n: int, *, dtype=np.int64) -> np.ndarray:
    """Inverse of :func:`pack_fixed`: ``n`` ints of ``width`` bits, as a ``dtype`` array ``[n]``.

    Raises :class:`CorruptFileError` (a ``ValueError``) if the length is not ``ceil(n * width / 8)``
    bytes or a padding bit is set. Works in blocks, so its memory is the output plus a constant.
    """
    if not isinstance(width, (int, np.integer)) or isinstance(width, bool) or not 0 <= width <= 32:
        raise ValueError(f"width must be an int in [0, 32], got {width!r}")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
    width, n = int(width), int(n)
    _check_fixed_stream(payload, width, n)
    if width == 0 or n == 0:
        return np.zeros(n, dtype=dtype)
    # value i starts at bit i * width; the 40 bits from its first byte hold it (width <= 32, offset <= 7)
    data = np.frombuffer(bytes(payload) + bytes(4), dtype=np.uint8)
    out = np.empty(n, dtype=dtype)
    mask = np.uint64((1 << width) - 1)
    for a in range(0, n, _FIXED_CHUNK):
        bit = np.arange(a, min(n, a + _FIXED_CHUNK), dtype=np.uint64) * np.uint64(width)
        byte = (bit >> np.uint64(3)).astype(np.intp)
        word = np.zeros(byte.size, dtype=np.uint64)
        for t in range(5):
            word <<= np.uint64(8)
            word |= data[byte + t]
        out[a: a + byte.size] = (word >> (np.uint64(40 - width) - (bit & np.uint64(7)))) & mask
    return out


def _code_width(k: int) -> int:
    return max(1, math.ceil(math.log2(k))) if k > 1 else (1 if k == 1 else 0)


def _relative_encode(flat: torch.Tensor, index_bits: int) -> tuple[torch.Tensor, np.ndarray]:
    """Entries (fillers included) and gaps of a flat tensor, via chapter 5's relative index."""
    from .. import sparsity
    values, gaps = sparsity.relative_index_encode(flat, index_bits)
    values = torch.as_tensor(values).reshape(-1).to(torch.float32)
    gaps = np.asarray(torch.as_tensor(gaps).reshape(-1), dtype=np.int64)
    return values, gaps


def _relative_positions(gaps: np.ndarray, numel: int, index_bits: int) -> np.ndarray:
    """Positions ``cumsum(gaps + 1) - 1`` of the stored entries (int64); checks they fit in ``numel``.

    The inverse of :func:`companion.sparsity.relative_index_encode` (same as its
    ``relative_index_decode``), in NumPy and in place, so a reader's memory stays ``O(n)``.
    """
    if gaps.size and int(gaps.max()) >= (1 << index_bits):
        raise CorruptFileError(f"relative index {int(gaps.max())} outside [0, 2^{index_bits})")
    positions = gaps.astype(np.int64)
    positions += 1
    np.cumsum(positions, out=positions)
    positions -= 1
    if positions.size and positions[-1] >= numel:
        raise CorruptFileError(f"relative indices point past the end of a tensor of {numel} elements "
                               f"(the last entry lands at position {int(positions[-1])})")
    return positions


# --- one tensor ----------------------------------------------------------------------------------

def encode_tensor(weight: torch.Tensor, coding: Coding = Coding()) -> EncodedTensor:
    """Encode one tensor (a weight after pruning and weight sharing, or a bias) as ``coding`` says.

    With ``"fixed"`` / ``"huffman"`` values the codebook is the sorted distinct values of the
    stored entries (``K <= 65535``), so a weight-shared tensor is stored losslessly; a tensor with
    more distinct values should be weight-shared first (or stored as ``"float32"``).

    Raises ``ValueError`` for values a reader would refuse: NaN/inf, magnitudes above
    :data:`FLOAT16_MAX` with ``"float16"`` values (they would become inf), or a sparse tensor whose
    unstored trailing zeros exceed :data:`MAX_TRAILING_ZEROS` (``numel > n_entries * 2^index_bits
    + MAX_TRAILING_ZEROS``: store it dense).
    """
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    if not isinstance(coding, Coding):
        raise TypeError(f"coding must be a Coding, got {type(coding).__name__}")
    if not weight.is_floating_point():
        raise TypeError(f"weight must be a floating-point tensor, got {weight.dtype}")
    w = weight.detach().cpu().to(torch.float32)
    if not torch.isfinite(w).all():
        raise ValueError("weight holds NaN or inf: nothing sensible to store")
    flat = w.reshape(-1)
    if coding.values == "float16" and flat.numel():
        big = flat.abs().max().item()
        if big > FLOAT16_MAX:
            raise ValueError(f"float16 coding: a value of magnitude {big:g} exceeds the float16 limit {FLOAT16_MAX:g} "
                             "(it would be stored as inf): scale the tensor or store it as 'float32'")
    if coding.index_bits:
        entries, gaps = _relative_encode(flat, coding.index_bits)
        reach = entries.numel() * (1 << coding.index_bits) + MAX_TRAILING_ZEROS
        if flat.numel() > reach:
            raise ValueError(f"a sparse tensor of {flat.numel()} elements with only {entries.numel()} stored entries "
                             f"({coding.index_bits}-bit relative indices): at most n_entries * 2^index_bits + "
                             f"{MAX_TRAILING_ZEROS} = {reach} elements are allowed (the trailing zeros are not stored); "
                             "store it dense (index_bits=0)")
    else:
        entries, gaps = flat, np.zeros(0, dtype=np.int64)
    empty = np.zeros(0, dtype=np.uint8)
    codebook = np.zeros(0, dtype=np.float32)
    value_lengths = empty
    if coding.values == "float32":
        values_payload = entries.numpy().astype("<f4").tobytes()
    elif coding.values == "float16":
        values_payload = entries.numpy().astype("<f2").tobytes()
    else:
        codebook = np.unique(entries.numpy().astype(np.float32))
        if codebook.size > MAX_CODEBOOK:
            raise ValueError(f"the tensor has {codebook.size} distinct values (at most {MAX_CODEBOOK} fit a codebook): "
                             "share its weights first (k-means), or store it as 'float32'")
        codes = np.searchsorted(codebook, entries.numpy().astype(np.float32))
        if coding.values == "fixed":
            values_payload = pack_fixed(codes, _code_width(codebook.size))
        else:
            values_payload, lengths = huffman.huffman_encode(codes, codebook.size)
            value_lengths = lengths.astype(np.uint8)
    index_lengths, index_payload = empty, b""
    if coding.index_bits:
        if coding.index == "fixed":
            index_payload = pack_fixed(gaps, coding.index_bits)
        else:
            index_payload, lengths = huffman.huffman_encode(gaps, 1 << coding.index_bits)
            index_lengths = lengths.astype(np.uint8)
    return EncodedTensor(tuple(int(s) for s in w.shape), coding, int(entries.numel()), codebook, value_lengths,
                         values_payload, index_lengths, index_payload)


def _check_record(enc: EncodedTensor, name: str = "tensor") -> None:
    """Every structural check of one record that needs no decoding; raises :class:`CorruptFileError`.

    Sizes against sizes (see the module docstring): cheap, and done before anything is allocated,
    by :func:`unpack` (so :func:`describe` and :func:`size_breakdown` refuse a forged file too) and
    again by :func:`decode_tensor` (which also accepts hand-made records).
    """
    def bad(msg: str):
        return CorruptFileError(f"corrupted file: {name}: {msg}")

    c, n, shape = enc.coding, enc.n_entries, enc.shape
    if not isinstance(c, Coding):
        raise bad(f"coding must be a Coding, got {type(c).__name__}")
    if not isinstance(shape, tuple) or len(shape) > 255 or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and 0 <= d < _U32 for d in shape):
        raise bad(f"shape must be a tuple of at most 255 ints in [0, 2^32), got {shape!r}")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not 0 <= n < _U32:
        raise bad(f"entry count must be an int in [0, 2^32), got {n!r}")
    n, numel = int(n), enc.numel
    if c.index_bits == 0:
        if n != numel:
            raise bad(f"a dense tensor of shape {shape} ({numel} elements) with {n} entries")
    else:
        if n > numel:  # every entry (filler or weight) occupies its own position
            raise bad(f"{n} entries for {numel} elements")
        reach = n * (1 << c.index_bits) + MAX_TRAILING_ZEROS
        if numel > reach:
            raise bad(f"shape {shape} ({numel} elements) is more than {n} entries with {c.index_bits}-bit relative "
                      f"indices can reach (at most n_entries * 2^index_bits + {MAX_TRAILING_ZEROS} = {reach})")
    for field in ("codebook", "value_lengths", "index_lengths"):
        arr = getattr(enc, field)
        if not isinstance(arr, np.ndarray) or arr.ndim != 1:
            raise bad(f"{field} must be a 1-D NumPy array, got {type(arr).__name__}")
    for field in ("values_payload", "index_payload"):
        if not isinstance(getattr(enc, field), (bytes, bytearray, memoryview)):
            raise bad(f"{field} must be bytes, got {type(getattr(enc, field)).__name__}")
    # the values
    payload, k = enc.values_payload, enc.codebook.size
    if c.values in ("float32", "float16"):
        size = 4 if c.values == "float32" else 2
        if k or enc.value_lengths.size:
            raise bad(f"{c.values} values with a codebook of {k} entries")
        if len(payload) != n * size:
            raise bad(f"{len(payload)} bytes of {c.values} values, expected {n * size} for {n} entries")
        if not np.isfinite(np.frombuffer(payload, dtype="<f4" if size == 4 else "<f2")).all():
            raise bad(f"the {c.values} values hold NaN or inf")
    else:
        if enc.codebook.dtype.kind != "f" or k > MAX_CODEBOOK:
            raise bad(f"the codebook must hold at most {MAX_CODEBOOK} floats, got {k} of {enc.codebook.dtype}")
        if n and k == 0:
            raise bad(f"{n} entries without a codebook")
        book = enc.codebook.astype(np.float32)
        if not np.isfinite(book).all():
            raise bad("the codebook holds NaN or inf")
        if k > 1 and not np.all(book[1:] > book[:-1]):
            raise bad("the codebook is not strictly increasing (sorted distinct values)")
        if c.values == "fixed":
            if enc.value_lengths.size:
                raise bad("fixed-width codes with a Huffman table")
            try:
                _check_fixed_stream(payload, _code_width(k), n)
            except CorruptFileError as e:
                raise bad(f"value codes: {e}") from None
        else:
            _check_huffman_sizes(enc.value_lengths, k, payload, n, bad, "value")
    # the relative indices
    if c.index_bits == 0 or c.index == "fixed":
        if enc.index_lengths.size:
            raise bad(f"an index code table of {enc.index_lengths.size} entries without Huffman-coded indices")
    if c.index_bits == 0:
        if len(enc.index_payload):
            raise bad(f"a dense tensor with {len(enc.index_payload)} bytes of relative indices")
    elif c.index == "fixed":
        try:
            _check_fixed_stream(enc.index_payload, c.index_bits, n)
        except CorruptFileError as e:
            raise bad(f"relative indices: {e}") from None
    else:
        _check_huffman_sizes(enc.index_lengths, 1 << c.index_bits, enc.index_payload, n, bad, "index")


def _check_huffman_sizes(lengths: np.ndarray, alphabet: int, payload, n: int, bad, what: str) -> None:
    """A Huffman table of ``alphabet`` entries and a stream of ``n`` codes: sizes only (the decoder checks the bits)."""
    if lengths.size != alphabet:
        raise bad(f"the {what} code table has {lengths.size} entries, expected {alphabet}")
    if lengths.dtype.kind not in "iu":
        raise bad(f"the {what} code table must hold ints, got {lengths.dtype}")
    try:
        huffman._check_lengths(lengths)
    except ValueError as e:
        raise bad(f"the {what} code table: {e}") from None
    used = lengths[lengths > 0]
    if n == 0:
        if len(payload):
            raise bad(f"{len(payload)} bytes of {what} codes for 0 entries")
        return
    if not used.size:
        raise bad(f"{n} entries but the {what} code table is empty")
    lo, hi = n * int(used.min()), (n * int(used.max()) + 7) // 8
    if 8 * len(payload) < lo:
        raise bad(f"truncated {what} codes: {n} entries need at least {lo} bits, the stream has {8 * len(payload)}")
    if len(payload) > hi:
        raise bad(f"{what} code stream of {len(payload)} bytes, more than {n} codes of at most "
                  f"{int(used.max())} bits can fill ({hi} bytes)")


def decode_tensor(enc: EncodedTensor) -> torch.Tensor:
    """The float32 tensor an :class:`EncodedTensor` stands for (exact unless values were float16).

    Checks the record first (:func:`_check_record`: sizes, codebook, tables), then decodes the
    streams and checks codes and positions; any inconsistency raises :class:`CorruptFileError`.
    Memory: the dense output (``4 numel`` bytes) plus about ``16 n_entries`` bytes of temporaries.
    """
    if not isinstance(enc, EncodedTensor):
        raise TypeError(f"expected an EncodedTensor, got {type(enc).__name__}")
    _check_record(enc)
    c, n, numel = enc.coding, int(enc.n_entries), enc.numel
    positions = None
    if c.index_bits:  # positions first: they are checked before the dense output is allocated
        try:
            if c.index == "fixed":
                gaps = unpack_fixed(enc.index_payload, c.index_bits, n, dtype=np.uint16)
            else:
                gaps = huffman.huffman_decode(enc.index_payload, enc.index_lengths, n, dtype=np.uint16)
            positions = _relative_positions(gaps, numel, c.index_bits)
        except CorruptFileError as e:
            raise CorruptFileError(f"relative indices: {e}") from None
        del gaps
    if c.values in ("float32", "float16"):
        entries = np.frombuffer(enc.values_payload, dtype="<f4" if c.values == "float32" else "<f2")
    else:
        k = enc.codebook.size
        try:
            if c.values == "fixed":
                codes = unpack_fixed(enc.values_payload, _code_width(k), n, dtype=np.uint16)
            else:
                codes = huffman.huffman_decode(enc.values_payload, enc.value_lengths, n, dtype=np.uint16)
        except CorruptFileError as e:
            raise CorruptFileError(f"value codes: {e}") from None
        if codes.size and int(codes.max()) >= k:
            raise CorruptFileError(f"value codes: a code ({int(codes.max())}) points outside the codebook of {k} entries")
        entries = enc.codebook.astype(np.float32, copy=False)[codes]
    if positions is None:  # raw entries are a read-only view of the payload: copy them; codebook lookups are fresh
        out = entries.astype(np.float32) if c.values in ("float32", "float16") else entries
    else:
        out = np.zeros(numel, dtype=np.float32)
        out[positions] = entries
    return torch.from_numpy(out).reshape(enc.shape)


def best_index_bits(weight: torch.Tensor, values: str = "huffman", index: str = "huffman",
                    candidates=range(2, 11)) -> int:
    """The relative-index width (among ``candidates``) that gives ``weight`` its smallest record.

    A narrow index needs many filler zeros (each a whole entry: a code *and* an index); a wide one
    costs bits per entry — unless the index is Huffman-coded, when the width matters only through
    the fillers and the size of the code table (one byte per symbol, ``2^bits``). So with Huffman
    coding the best width is usually wider than the fixed-width optimum (Deep Compression used
    5 bits for FC layers and 8 for conv layers with fixed-width accounting).
    """
    cands = list(candidates)
    if not cands or any(isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= 16 for b in cands):
        raise ValueError(f"candidates must be ints in [1, 16], got {cands}")
    sizes = {b: sum(encode_tensor(weight, Coding(values, b, index)).parts_bytes().values()) for b in cands}
    return min(sizes, key=lambda b: (sizes[b], b))


# --- the file --------------------------------------------------------------------------------

def _str(s: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > 255:
        raise ValueError(f"name too long for the file format (max 255 UTF-8 bytes): {s[:40]!r}...")
    return struct.pack("<B", len(b)) + b


def _tensor_bytes(name: str, enc: EncodedTensor) -> bytes:
    c = enc.coding
    if len(enc.shape) > 255 or any(not 0 <= d < _U32 for d in enc.shape):
        raise ValueError(f"{name}: shape {enc.shape} does not fit the file format (at most 255 dims, each < 2^32)")
    if not 0 <= enc.n_entries < _U32:
        raise ValueError(f"{name}: {enc.n_entries} entries do not fit the file format (at most 2^32 - 1)")
    out = [_str(name), struct.pack("<B", len(enc.shape)), struct.pack(f"<{len(enc.shape)}I", *enc.shape),
           struct.pack("<BB", VALUE_CODINGS.index(c.values), c.index_bits)]
    if c.index_bits:
        out.append(struct.pack("<B", INDEX_CODINGS.index(c.index)))
    out.append(struct.pack("<I", enc.n_entries))
    if c.values in ("fixed", "huffman"):
        out.append(struct.pack("<H", enc.codebook.size) + enc.codebook.astype("<f4").tobytes())
        if c.values == "huffman":
            out.append(enc.value_lengths.astype(np.uint8).tobytes() + struct.pack("<I", len(enc.values_payload)))
    out.append(enc.values_payload)
    if c.index_bits:
        if c.index == "huffman":
            out.append(enc.index_lengths.astype(np.uint8).tobytes() + struct.pack("<I", len(enc.index_payload)))
        out.append(enc.index_payload)
    return b"".join(out)


def pack(tensors: Mapping[str, EncodedTensor], arch: str = "") -> bytes:
    """Serialise named encoded tensors (and the architecture name) into one checksummed byte string."""
    if not isinstance(tensors, Mapping):
        raise TypeError(f"tensors must be a mapping name -> EncodedTensor, got {type(tensors).__name__}")
    if len(tensors) > 65535:
        raise ValueError("at most 65535 tensors fit the file format")
    for k, v in tensors.items():
        if not isinstance(k, str) or not isinstance(v, EncodedTensor):
            raise TypeError(f"tensors must map str -> EncodedTensor, got {type(k).__name__} -> {type(v).__name__}")
    body = _str(arch) + struct.pack("<H", len(tensors)) + b"".join(_tensor_bytes(k, v) for k, v in tensors.items())
    total = _PRELUDE.size + len(body) + 4
    head = _PRELUDE.pack(MAGIC, VERSION, total) + body
    return head + struct.pack("<I", zlib.crc32(head))


class _Reader:
    def __init__(self, data: bytes, start: int, end: int):
        self.data, self.pos, self.end = data, start, end

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise CorruptFileError(f"corrupted file: {what} needs {n} bytes at offset {self.pos}, "
                                   f"only {self.end - self.pos} left")
        b = self.data[self.pos: self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt: str, what: str):
        s = struct.Struct("<" + fmt)
        return s.unpack(self.take(s.size, what))

    def string(self, what: str) -> str:
        (n,) = self.unpack("B", what)
        try:
            return self.take(n, what).decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptFileError(f"corrupted file: {what} is not UTF-8") from None


def _check_envelope(data) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _PRELUDE.size + 4:
        raise CorruptFileError(f"truncated file: {len(data)} bytes is shorter than the smallest valid file")
    magic, version, total = _PRELUDE.unpack_from(data)
    if magic != MAGIC:
        raise CorruptFileError(f"not a Deep Compression file: magic {magic!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise CorruptFileError(f"unsupported format version {version} (this reader knows version {VERSION})")
    if total != len(data):
        kind = "truncated" if len(data) < total else "corrupted"
        raise CorruptFileError(f"{kind} file: the header says {total} bytes, got {len(data)}")
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    if crc != zlib.crc32(data[:-4]):
        raise CorruptFileError("corrupted file: CRC-32 checksum mismatch")
    return data


def unpack(data: bytes) -> tuple[str, dict[str, EncodedTensor]]:
    """Parse a byte string written by :func:`pack`; returns ``(arch, {name: EncodedTensor})``.

    Raises :class:`CorruptFileError` for a wrong magic number or version, a wrong length, a
    checksum mismatch, or any inconsistent field (every record passes the size checks of the
    module docstring; the streams themselves are decoded, and checked, by :func:`decode_tensor`).
    """
    data = _check_envelope(data)
    r = _Reader(data, _PRELUDE.size, len(data) - 4)
    arch = r.string("architecture name")
    (n_tensors,) = r.unpack("H", "tensor count")
    tensors: dict[str, EncodedTensor] = {}
    empty = np.zeros(0, dtype=np.uint8)
    for _ in range(n_tensors):
        name = r.string("tensor name")
        (ndim,) = r.unpack("B", f"{name}: ndim")
        shape = tuple(r.unpack(f"{ndim}I", f"{name}: shape"))
        vcode, index_bits = r.unpack("BB", f"{name}: coding")
        if vcode >= len(VALUE_CODINGS) or index_bits > 16:
            raise CorruptFileError(f"corrupted file: {name}: unknown coding ({vcode}, {index_bits})")
        icode = 1
        if index_bits:
            (icode,) = r.unpack("B", f"{name}: index coding")
            if icode >= len(INDEX_CODINGS):
                raise CorruptFileError(f"corrupted file: {name}: unknown index coding {icode}")
        coding = Coding(VALUE_CODINGS[vcode], index_bits, INDEX_CODINGS[icode])
        (n,) = r.unpack("I", f"{name}: entry count")
        numel = int(math.prod(shape))
        if n > numel:  # every entry (filler or weight) occupies its own position
            raise CorruptFileError(f"corrupted file: {name}: {n} entries for {numel} elements")
        codebook, vlen = np.zeros(0, dtype=np.float32), empty
        if coding.values in ("float32", "float16"):
            payload = r.take(n * (4 if coding.values == "float32" else 2), f"{name}: values")
        else:
            (k,) = r.unpack("H", f"{name}: codebook size")
            codebook = np.frombuffer(r.take(4 * k, f"{name}: codebook"), dtype="<f4").astype(np.float32)
            if coding.values == "fixed":
                payload = r.take((n * _code_width(k) + 7) // 8, f"{name}: codes")
            else:
                vlen = np.frombuffer(r.take(k, f"{name}: code table"), dtype=np.uint8).copy()
                (plen,) = r.unpack("I", f"{name}: payload length")
                payload = r.take(plen, f"{name}: codes")
        ilen, ipayload = empty, b""
        if index_bits:
            if coding.index == "fixed":
                ipayload = r.take((n * index_bits + 7) // 8, f"{name}: relative indices")
            else:
                ilen = np.frombuffer(r.take(1 << index_bits, f"{name}: index table"), dtype=np.uint8).copy()
                (plen,) = r.unpack("I", f"{name}: index payload length")
                ipayload = r.take(plen, f"{name}: relative indices")
        if name in tensors:
            raise CorruptFileError(f"corrupted file: tensor {name!r} appears twice")
        enc = EncodedTensor(shape, coding, n, codebook, vlen, payload, ilen, ipayload)
        _check_record(enc, name)
        tensors[name] = enc
    if r.pos != r.end:
        raise CorruptFileError(f"corrupted file: {r.end - r.pos} unexpected bytes after the last tensor")
    return arch, tensors


# --- models ----------------------------------------------------------------------------------------

def write_model(model: nn.Module, codings: Mapping[str, Coding] | None = None, *, arch: str = "",
                default: Coding = Coding("float32")) -> bytes:
    """Write every tensor of ``model.state_dict()``: ``codings[name]`` if given, else ``default``.

    ``codings`` keys are state-dict names (``"fc1.weight"``) or layer names (``"fc1"``, meaning
    its weight). ``arch`` names a :func:`companion.models.build` architecture so that
    :func:`read_model` can rebuild the network without a template. A model still carrying
    parametrizations (masks, shared weights) must be baked first.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    state = model.state_dict()
    if any("parametrizations" in k.split(".") for k in state):
        raise ValueError("the model still carries parametrizations (masks or shared weights): bake it first")
    codings = dict(codings or {})
    resolved: dict[str, Coding] = {}
    for key, c in codings.items():
        if not isinstance(c, Coding):
            raise TypeError(f"codings[{key!r}] must be a Coding, got {type(c).__name__}")
        name = key if key in state else f"{key}.weight"
        if name not in state:
            raise ValueError(f"no tensor {key!r} in the model; tensors: {sorted(state)}")
        resolved[name] = c
    encoded = {k: encode_tensor(v, resolved.get(k, default)) for k, v in state.items() if v.is_floating_point()}
    return pack(encoded, arch)


def read_model(data: bytes, model: nn.Module | None = None) -> nn.Module:
    """A working PyTorch model from bytes written by :func:`write_model` (eval mode, CPU).

    ``model``: a template whose tensors are overwritten (default: ``models.build(arch)``).
    Every tensor of the template must be in the file with the same shape, and nothing else;
    shapes are compared before anything is decoded, so the template bounds the memory.

    Raises :class:`CorruptFileError` for a damaged file, or one whose tensors contradict its own
    architecture (``model=None``); a plain ``ValueError`` for an architecture this library does not
    know (pass a template) or a file that does not fit the template you passed.
    """
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    arch, tensors = unpack(data)
    # a file that contradicts its own architecture is corrupt; one that does not fit the caller's template is not
    mismatch = ValueError if model is not None else CorruptFileError
    if model is None:
        from .. import models
        if arch not in models.MODEL_NAMES:
            raise ValueError(f"the file's architecture {arch!r} is not one of {sorted(models.MODEL_NAMES)}: "
                             "pass a template model")
        model = models.build(arch)
    state = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
    missing, extra = sorted(set(state) - set(tensors)), sorted(set(tensors) - set(state))
    if missing or extra:
        raise mismatch(f"the file does not match the model: missing {missing}, unexpected {extra}")
    for k, enc in tensors.items():  # shapes first: the template bounds what decoding allocates
        if tuple(state[k].shape) != enc.shape:
            raise mismatch(f"{k}: the file holds shape {enc.shape}, the model expects {tuple(state[k].shape)}")
    new_state = {}
    for k, enc in tensors.items():
        try:
            new_state[k] = decode_tensor(enc)
        except CorruptFileError as e:
            raise CorruptFileError(f"corrupted file: {k}: {e}") from None
    model.load_state_dict(new_state, strict=False)
    return model.cpu().eval()


def size_breakdown(data: bytes) -> dict[str, int]:
    """Bytes of a file by part: ``header`` (prelude, names, shapes, counts, checksum), ``codebook``,
    ``tables`` (Huffman), ``weights`` (weight values / codes), ``index`` (relative indices),
    ``other`` (biases and other dense tensors). The parts add up to ``len(data)``."""
    arch, tensors = unpack(data)
    out = {"header": _PRELUDE.size + 1 + len(arch.encode()) + 2 + 4, "codebook": 0, "tables": 0, "weights": 0,
           "index": 0, "other": 0}
    for name, enc in tensors.items():
        parts = enc.parts_bytes()
        out["header"] += parts["header"] + 1 + len(name.encode())
        out["codebook"] += parts["codebook"]
        out["tables"] += parts["tables"]
        out["index"] += parts["index"]
        out["weights" if name.endswith("weight") else "other"] += parts["values"]
    assert sum(out.values()) == len(data), (out, len(data))
    return out


def describe(data: bytes):
    """A pandas DataFrame: one row per tensor (shape, coding, entries, codebook size, bytes per part)."""
    import pandas as pd
    _, tensors = unpack(data)
    rows = []
    for name, enc in tensors.items():
        c = enc.coding
        row = {"tensor": name, "shape": "x".join(map(str, enc.shape)), "values": c.values,
               "index": f"{c.index} {c.index_bits} b" if c.index_bits else "dense", "entries": enc.n_entries,
               "codebook": int(enc.codebook.size)}
        row.update({f"{k} (B)": v for k, v in enc.parts_bytes().items()})
        row["total (B)"] = sum(enc.parts_bytes().values()) + 1 + len(name.encode())
        rows.append(row)
    return pd.DataFrame(rows).set_index("tensor")
