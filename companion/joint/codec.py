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
wrong model: the length and the CRC-32 are checked before anything is parsed, and the parser
checks every count against what remains.
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
           "unpack_fixed", "VALUE_CODINGS", "INDEX_CODINGS"]

MAGIC = b"DCMP"
VERSION = 1
VALUE_CODINGS = ("float32", "float16", "fixed", "huffman")
INDEX_CODINGS = ("fixed", "huffman")
MAX_CODEBOOK = 65535
_PRELUDE = struct.Struct("<4sBI")  # magic, version, total length


class CorruptFileError(ValueError):
    """The bytes are not a complete, intact compressed model (truncated, corrupted, or another format)."""


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


def unpack_fixed(payload: bytes, width: int, n: int) -> np.ndarray:
    """Inverse of :func:`pack_fixed`: ``n`` ints of ``width`` bits; raises ``ValueError`` if the length is wrong."""
    expected = (n * width + 7) // 8
    if len(payload) != expected:
        raise CorruptFileError(f"fixed-width stream has {len(payload)} bytes, expected {expected} "
                               f"for {n} values of {width} bits")
    if width == 0 or n == 0:
        return np.zeros(n, dtype=np.int64)
    bits = np.unpackbits(np.frombuffer(bytes(payload), dtype=np.uint8))[: n * width].astype(np.int64)
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
    return (bits.reshape(n, width) << shifts[None, :]).sum(1)


def _code_width(k: int) -> int:
    return max(1, math.ceil(math.log2(k))) if k > 1 else (1 if k == 1 else 0)


def _relative_encode(flat: torch.Tensor, index_bits: int) -> tuple[torch.Tensor, np.ndarray]:
    """Entries (fillers included) and gaps of a flat tensor, via chapter 5's relative index."""
    from .. import sparsity
    values, gaps = sparsity.relative_index_encode(flat, index_bits)
    values = torch.as_tensor(values).reshape(-1).to(torch.float32)
    gaps = np.asarray(torch.as_tensor(gaps).reshape(-1), dtype=np.int64)
    return values, gaps


def _relative_decode(values: torch.Tensor, gaps: np.ndarray, numel: int, index_bits: int) -> torch.Tensor:
    """Dense flat tensor from entries and gaps; checks the positions fit in ``numel``."""
    if values.numel() != gaps.size:
        raise CorruptFileError(f"{values.numel()} entries but {gaps.size} relative indices")
    if gaps.size and (gaps.min() < 0 or gaps.max() >= (1 << index_bits)):
        raise CorruptFileError(f"relative index outside [0, 2^{index_bits})")
    positions = np.cumsum(gaps + 1) - 1
    if positions.size and positions[-1] >= numel:
        raise CorruptFileError(f"relative indices point past the end of a tensor of {numel} elements")
    from .. import sparsity
    out = sparsity.relative_index_decode(values, torch.as_tensor(gaps), numel)
    return torch.as_tensor(out, dtype=torch.float32).reshape(-1)


# --- one tensor ----------------------------------------------------------------------------------

def encode_tensor(weight: torch.Tensor, coding: Coding = Coding()) -> EncodedTensor:
    """Encode one tensor (a weight after pruning and weight sharing, or a bias) as ``coding`` says.

    With ``"fixed"`` / ``"huffman"`` values the codebook is the sorted distinct values of the
    stored entries (``K <= 65535``), so a weight-shared tensor is stored losslessly; a tensor with
    more distinct values should be weight-shared first (or stored as ``"float32"``).
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
    if coding.index_bits:
        entries, gaps = _relative_encode(flat, coding.index_bits)
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


def decode_tensor(enc: EncodedTensor) -> torch.Tensor:
    """The float32 tensor an :class:`EncodedTensor` stands for (exact unless values were float16)."""
    if not isinstance(enc, EncodedTensor):
        raise TypeError(f"expected an EncodedTensor, got {type(enc).__name__}")
    c, n = enc.coding, enc.n_entries
    if c.values in ("float32", "float16"):
        size = 4 if c.values == "float32" else 2
        if len(enc.values_payload) != n * size:
            raise CorruptFileError(f"{len(enc.values_payload)} bytes of {c.values} values, expected {n * size}")
        entries = np.frombuffer(enc.values_payload, dtype="<f4" if size == 4 else "<f2").astype(np.float32)
    else:
        k = enc.codebook.size
        if n and k == 0:
            raise CorruptFileError("entries without a codebook")
        if c.values == "fixed":
            codes = unpack_fixed(enc.values_payload, _code_width(k), n)
        else:
            codes = huffman.huffman_decode(enc.values_payload, enc.value_lengths.astype(np.int64), n)
        if codes.size and codes.max() >= k:
            raise CorruptFileError(f"a code ({int(codes.max())}) points outside the codebook of {k} entries")
        entries = enc.codebook[codes] if codes.size else np.zeros(0, dtype=np.float32)
    entries_t = torch.from_numpy(np.ascontiguousarray(entries, dtype=np.float32))
    if c.index_bits:
        if c.index == "fixed":
            gaps = unpack_fixed(enc.index_payload, c.index_bits, n)
        else:
            gaps = huffman.huffman_decode(enc.index_payload, enc.index_lengths.astype(np.int64), n)
        flat = _relative_decode(entries_t, gaps, enc.numel, c.index_bits)
    else:
        if n != enc.numel:
            raise CorruptFileError(f"a dense tensor of {enc.numel} elements with {n} entries")
        flat = entries_t
    return flat.reshape(enc.shape).clone()


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
    checksum mismatch, or any inconsistent count.
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
        tensors[name] = EncodedTensor(shape, coding, n, codebook, vlen, payload, ilen, ipayload)
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
    Every tensor of the template must be in the file with the same shape, and nothing else.
    """
    arch, tensors = unpack(data)
    if model is None:
        from .. import models
        if arch not in models.MODEL_NAMES:
            raise ValueError(f"the file's architecture {arch!r} is not one of {sorted(models.MODEL_NAMES)}: "
                             "pass a template model")
        model = models.build(arch)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    state = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
    missing, extra = sorted(set(state) - set(tensors)), sorted(set(tensors) - set(state))
    if missing or extra:
        raise ValueError(f"the file does not match the model: missing {missing}, unexpected {extra}")
    new_state = {}
    for k, enc in tensors.items():
        if tuple(state[k].shape) != enc.shape:
            raise ValueError(f"{k}: the file holds shape {enc.shape}, the model expects {tuple(state[k].shape)}")
        new_state[k] = decode_tensor(enc)
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
