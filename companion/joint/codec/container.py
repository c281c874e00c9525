"""The Deep Compression file around the tensors: envelope (magic, length, CRC-32), records,
whole models (the format is described in :mod:`companion.joint.codec`)."""
from __future__ import annotations

import math
import struct
import zlib
from typing import Mapping

import numpy as np
from torch import nn


from .tensor import (Coding, CorruptFileError, EncodedTensor, INDEX_CODINGS, MAGIC, VALUE_CODINGS, VERSION, _PRELUDE, _U32, _check_record, _code_width, decode_tensor, encode_tensor)

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
        from ... import models
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
