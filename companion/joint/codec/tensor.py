"""One tensor of the Deep Compression file: codings, encode and decode, with every bound checked
(the format is described in :mod:`companion.joint.codec`)."""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
import torch

from .. import huffman


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
    from ... import sparsity
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
