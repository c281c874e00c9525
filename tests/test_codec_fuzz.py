"""Fuzz tests of the Deep Compression file reader (issue 13): hostile bytes raise CorruptFileError.

Two kinds of damage, on small valid files that cover every coding (dense and sparse; float32,
float16, fixed and Huffman values; fixed and Huffman indices; Huffman codes longer than the
16-bit lookup table):

(a) raw bytes: random flips, truncations, extensions, insertions and deletions — first as they
    are (the envelope, length and CRC-32, catches them), then with the envelope repaired, so
    the parser behind it sees them;
(b) header fields (string lengths, counts, shapes, codings, bit widths, codebook sizes and
    values, payload lengths, padding bits) set to boundary and random values, envelope repaired.

Each damaged file goes through every reader (``unpack``, ``decode_tensor``, ``describe``,
``size_breakdown``, ``read_model``). Allowed outcomes: :class:`CorruptFileError` whose message
names the damaged part, or a decode of a consistent file (float32, finite, the declared shape).
Memory: every record that passes the structural checks declares at most what its bytes can
back (``numel <= 8 * file bytes`` dense, ``<= n * 2^bits + MAX_TRAILING_ZEROS`` sparse), and the
peak of ``decode_tensor`` (NumPy allocations, seen by tracemalloc; the decoder allocates no torch
memory) stays under ``10 x file bytes + 5 x the dense output + 4 MiB`` (the Huffman table is
at most ~2.5 MiB whatever the file declares).
"""
from __future__ import annotations

import dataclasses
import math
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from torch import nn

from companion import models
from companion.joint import codec, huffman

MIB = 1 << 20


# --- valid files -------------------------------------------------------------------------------

def _weight(shape=(12, 20)):
    """A weight-shared, pruned matrix (9 levels, ~70 % zeros, a long zero run), without an RNG."""
    n = math.prod(shape)
    i = torch.arange(n, dtype=torch.float32)
    w = ((i * 7) % 9 - 4) * 0.25
    w[(i * 13) % 10 < 7] = 0.0
    w[n // 3: n // 3 + 40] = 0.0
    return w.reshape(shape)


CODINGS = [codec.Coding("huffman", 5), codec.Coding("fixed", 3, "fixed"), codec.Coding("float32", 4, "huffman"),
           codec.Coding("float16", 2, "fixed"), codec.Coding("huffman", 0), codec.Coding("fixed", 0),
           codec.Coding("float32"), codec.Coding("float16"), codec.Coding("huffman", 1, "huffman")]


def _long_code_tensor() -> codec.EncodedTensor:
    """A dense record with a Huffman table of 1..20-bit codes (decoded bit by bit, not by table)."""
    lengths = np.array(list(range(1, 21)) + [20], dtype=np.uint8)
    codes = np.array([0, 0, 1, 2, 0, 20, 19, 3, 0, 1, 0, 5, 0, 0, 18, 0], dtype=np.int64)
    payload, _ = huffman.huffman_encode(codes, 21, lengths)
    book = np.linspace(-1, 1, 21).astype(np.float32)
    return codec.EncodedTensor((4, 4), codec.Coding("huffman"), 16, book, lengths, payload,
                               np.zeros(0, np.uint8), b"")


def _valid_files() -> dict[str, bytes]:
    w = _weight()
    mixed = {f"t{j}.weight": codec.encode_tensor(w, c) for j, c in enumerate(CODINGS)}
    mixed["bias"] = codec.encode_tensor(torch.linspace(-0.5, 0.5, 12), codec.Coding("float32"))
    mixed["long"] = _long_code_tensor()
    empty = {"zeros": codec.encode_tensor(torch.zeros(3, 5), codec.Coding("huffman", 3)),
             "scalar": codec.encode_tensor(torch.tensor(2.5), codec.Coding("fixed")),
             "none": codec.encode_tensor(torch.zeros(0, 4), codec.Coding("float16"))}
    files = {"mixed": codec.pack(mixed, "x"), "edge": codec.pack(empty, "")}
    # one tensor per file, for the field-by-field mutations (each decode is then cheap)
    files.update({f"{name}.{enc.coding.values}.{enc.coding.index_bits}": codec.pack({name: enc}, "x")
                  for name, enc in {**mixed, **empty}.items()})
    return files


FILES = _valid_files()
SINGLE = sorted(k for k in FILES if k not in ("mixed", "edge"))


class _Flat(nn.Module):
    """A template whose state-dict names keep their dots (``t0.weight``)."""

    def __init__(self, data: bytes):
        super().__init__()
        self._shapes = {k: e.shape for k, e in codec.unpack(data)[1].items()}

    def state_dict(self, *args, **kwargs):
        return {k: torch.zeros(s) for k, s in self._shapes.items()}

    def load_state_dict(self, state, strict=True):
        self.loaded = state


TEMPLATES = {k: _Flat(v) for k, v in FILES.items()}


# --- the file's fields, and a valid envelope around damaged contents ---------------------------

def _fields(data: bytes) -> list[tuple[int, str, str]]:
    """``(offset, struct format, label)`` of every header field of a valid file (mirrors the format)."""
    out, pos = [], 9

    def field(fmt, label):
        nonlocal pos
        out.append((pos, fmt, label))
        (v,) = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v

    skip = field("B", "arch length")
    pos += skip
    n_tensors = field("H", "tensor count")
    for _ in range(n_tensors):
        skip = field("B", "name length")
        pos += skip
        ndim = field("B", "ndim")
        for _ in range(ndim):
            field("I", "shape")
        vcode = field("B", "value coding")
        bits = field("B", "index bits")
        icode = field("B", "index coding") if bits else 1
        n = field("I", "entry count")
        values = codec.VALUE_CODINGS[vcode]
        if values in ("float32", "float16"):
            size = 4 if values == "float32" else 2
            for j in range(min(n, 2)):
                out.append((pos + j * size, "f" if size == 4 else "e", "raw value"))
            pos += n * size
        else:
            k = field("H", "codebook size")
            for j in range(min(k, 3)):
                out.append((pos + 4 * j, "f", "codebook value"))
            pos += 4 * k
            if values == "fixed":
                plen = (n * codec._code_width(k) + 7) // 8
            else:
                for j in range(min(k, 3)):
                    out.append((pos + j, "B", "code length"))
                pos += k
                plen = field("I", "payload length")
            if plen:
                out.append((pos + plen - 1, "B", "last payload byte"))
            pos += plen
        if bits:
            if codec.INDEX_CODINGS[icode] == "fixed":
                plen = (n * bits + 7) // 8
            else:
                for j in (0, 1, (1 << bits) - 1):
                    out.append((pos + j, "B", "index code length"))
                pos += 1 << bits
                plen = field("I", "index payload length")
            if plen:
                out.append((pos + plen - 1, "B", "last index byte"))
            pos += plen
    assert pos == len(data) - 4, "the test's walker disagrees with the format"
    return out


def _seal(body: bytes | bytearray) -> bytes:
    """A valid envelope (total length, CRC-32) around ``body`` = the file without its CRC."""
    body = bytearray(body)
    if len(body) >= 9:
        body[5:9] = struct.pack("<I", len(body) + 4)
    return bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))


def _set_field(data: bytes, offset: int, fmt: str, value) -> bytes:
    body = bytearray(data[:-4])
    body[offset: offset + struct.calcsize(fmt)] = struct.pack("<" + fmt, value)
    return _seal(body)


def _values_for(fmt: str, old, rng) -> list:
    if fmt in "fe":
        return [float("nan"), float("inf"), -float("inf"), 0.0, 1e30 if fmt == "f" else 65504.0]
    top = {"B": 255, "H": 65535, "I": 2 ** 32 - 1}[fmt]
    cands = {0, 1, 2, top, top - 1, old - 1, old + 1, old * 2, old // 2, 2 ** 16, 2 ** 20, 17,
             int(rng.integers(0, top + 1))}
    cands = sorted(v for v in cands if 0 <= v <= top and v != old)
    return [cands[i] for i in sorted(rng.choice(len(cands), min(len(cands), 5), replace=False))]


# --- the readers, and what they may do -----------------------------------------------------------

def _declared_bound(enc: codec.EncodedTensor, file_bytes: int) -> None:
    """Explicit size check: what a record that passed the structural checks may make the decoder allocate."""
    c = enc.coding
    if c.index_bits == 0:
        assert enc.numel == enc.n_entries <= 8 * file_bytes
    else:
        assert enc.n_entries <= enc.numel <= enc.n_entries * (1 << c.index_bits) + codec.MAX_TRAILING_ZEROS
    assert len(enc.values_payload) + len(enc.index_payload) <= file_bytes


def _peak_decode(enc: codec.EncodedTensor):
    """``(tensor or the CorruptFileError, peak NumPy/Python bytes)`` of one decode_tensor call."""
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    try:
        out = codec.decode_tensor(enc)
    except codec.CorruptFileError as e:
        out = e
    _, peak = tracemalloc.get_traced_memory()
    return out, peak - before


_CALLS = [0]
_FILE_ERRORS = ("corrupted file: ", "truncated file: ", "not a Deep Compression file", "unsupported format version")
_STREAM_ERRORS = ("value codes: ", "relative indices: ")


def _read_everything(data: bytes, template: nn.Module | None = None) -> str:
    """Run every reader on ``data``; ``"ok"`` or ``"corrupt: <message>"``; any other exception escapes."""
    try:
        arch, tensors = codec.unpack(data)
    except codec.CorruptFileError as e:
        msg = str(e)
        assert len(msg) < 600 and msg.startswith(_FILE_ERRORS), msg  # says where: "corrupted file: fc1.weight: ..."
        # nothing downstream may disagree
        for reader in (codec.describe, codec.size_breakdown):
            with pytest.raises(codec.CorruptFileError):
                reader(data)
        return f"corrupt: {msg}"
    assert sum(codec.size_breakdown(data).values()) == len(data)
    _CALLS[0] += 1
    if _CALLS[0] % 8 == 1:  # describe builds a DataFrame (slow); what it reads is what size_breakdown read
        assert len(codec.describe(data)) == len(tensors)
    result = "ok"
    for name, enc in tensors.items():
        _declared_bound(enc, len(data))
        out, peak = _peak_decode(enc)
        limit = 10 * len(data) + 5 * 4 * enc.numel + 4 * MIB
        assert peak <= limit, f"{name}: decoding took {peak} bytes (limit {limit}) for a {len(data)}-byte file"
        if isinstance(out, codec.CorruptFileError):
            assert str(out).startswith(_STREAM_ERRORS), out  # says which stream: "value codes: ..."
            result = f"corrupt: {out}"
            continue
        assert out.dtype == torch.float32 and tuple(out.shape) == enc.shape
        assert torch.isfinite(out).all()
    if template is not None:
        try:
            codec.read_model(data, template)
        except codec.CorruptFileError as e:
            assert result != "ok", f"read_model refused what decode_tensor accepted: {e}"
        except ValueError as e:  # a consistent file that does not fit the caller's template (names, shapes)
            assert "does not match the model" in str(e) or "the model expects" in str(e), e
        else:
            assert result == "ok", "read_model accepted what decode_tensor refused"
    return result


@pytest.fixture(autouse=True)
def _tracemalloc():
    tracemalloc.start()
    yield
    tracemalloc.stop()


# --- the tests ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(FILES))
def test_valid_files_read_back(name):
    data = FILES[name]
    assert _read_everything(data, TEMPLATES[name]) == "ok"
    assert _fields(data)  # the walker understands the file


@pytest.mark.parametrize("name", ["mixed", "edge"])
def test_raw_damage_is_caught_by_the_envelope(name):
    data, rng = FILES[name], np.random.default_rng(1)
    damaged = [data[:cut] for cut in rng.integers(0, len(data), 20)] + [data + b"\x00", data + data, b"", data[:-4]]
    for _ in range(60):
        bad = bytearray(data)
        for pos in rng.integers(0, len(data), rng.integers(1, 4)):
            bad[pos] ^= int(rng.integers(1, 256))
        damaged.append(bytes(bad))
    for bad in damaged:
        assert _read_everything(bad, TEMPLATES[name]).startswith("corrupt"), bad[:16]


@pytest.mark.parametrize("name", ["mixed", "edge"])
def test_raw_damage_behind_a_valid_envelope(name):
    """Flips, insertions and deletions inside the body with length and CRC recomputed."""
    data, rng = FILES[name], np.random.default_rng(2)
    body = data[:-4]
    outcomes = []
    for trial in range(80):
        bad = bytearray(body)
        kind = trial % 4
        pos = int(rng.integers(9, len(bad)))
        if kind == 0:
            bad[pos] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:
            bad[pos] = int(rng.integers(0, 256))
        elif kind == 2:
            bad[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 9))).astype(np.uint8).tobytes()
        else:
            del bad[pos: pos + int(rng.integers(1, 9))]
        outcomes.append(_read_everything(_seal(bad), TEMPLATES[name]))
    assert sum(o.startswith("corrupt") for o in outcomes) > len(outcomes) // 2


@pytest.mark.parametrize("name", SINGLE)
def test_every_header_field_mutated(name):
    """Each header field set to boundary and random values (envelope repaired): a clear error or a consistent file."""
    data, rng = FILES[name], np.random.default_rng(3)
    n_corrupt = n_total = 0
    for offset, fmt, label in _fields(data):
        (old,) = struct.unpack_from("<" + fmt, data, offset)
        for value in _values_for(fmt, old, rng):
            outcome = _read_everything(_set_field(data, offset, fmt, value), TEMPLATES[name])
            n_total += 1
            n_corrupt += outcome.startswith("corrupt")
    assert n_corrupt >= n_total // 2, (n_corrupt, n_total)  # most reach a check (the rest are consistent files)


_MIXED_FIELDS = _fields(FILES["mixed"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(_MIXED_FIELDS) - 1), st.integers(0, 2 ** 32 - 1)),
                min_size=1, max_size=3))
def test_header_field_combinations_property(changes):
    """Several fields changed at once (values reduced modulo the field's range)."""
    data = FILES["mixed"]
    for i, raw in changes:
        offset, fmt, _ = _MIXED_FIELDS[i]
        if fmt in "fe":
            value = float(np.frombuffer(struct.pack("<I", raw)[: struct.calcsize(fmt)], "<f4" if fmt == "f" else "<f2")[0])
        else:
            value = raw % (1 << (8 * struct.calcsize(fmt)))
        data = _set_field(data, offset, fmt, value)
    _read_everything(data, TEMPLATES["mixed"])


# --- targeted attacks: the examples, and messages that name the field -------------------

def _one_tensor_file(enc: codec.EncodedTensor, name="w") -> bytes:
    return codec.pack({name: enc}, "x")


def test_big_payload_on_a_small_tensor_is_refused_before_allocating():
    """Issue 13: a CRC-valid 4 MB Huffman payload on a 10-entry tensor used to cost > 1 GB."""
    enc = codec.encode_tensor(torch.tensor([0.0, 1, 1, 2, 1, 1, 0, 1, 1, 2]), codec.Coding("huffman"))
    data = _one_tensor_file(dataclasses.replace(enc, values_payload=enc.values_payload + bytes(4_000_000)))
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    with pytest.raises(codec.CorruptFileError, match=r"w: value code stream of 4000002 bytes, more than 10 codes of at most 2 bits can fill \(3 bytes\)"):
        codec.unpack(data)
    with pytest.raises(codec.CorruptFileError, match="value code stream"):
        codec.decode_tensor(dataclasses.replace(enc, values_payload=enc.values_payload + bytes(4_000_000)))
    assert tracemalloc.get_traced_memory()[1] - before < 2 * len(data) + MIB


def test_tiny_file_declaring_a_huge_sparse_tensor_is_refused():
    """Issue 13: a 40-byte file declaring a 20000 x 20000 sparse tensor of zeros used to allocate 1.6 GB."""
    enc = codec.EncodedTensor((20000, 20000), codec.Coding("huffman", 5), 0, np.zeros(0, np.float32),
                              np.zeros(0, np.uint8), b"", np.zeros(32, np.uint8), b"")
    data = _one_tensor_file(enc)
    assert len(data) < 100
    with pytest.raises(codec.CorruptFileError, match=r"w: shape \(20000, 20000\) \(400000000 elements\) is more than 0"):
        codec.unpack(data)
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    with pytest.raises(codec.CorruptFileError, match="at most n_entries"):
        codec.decode_tensor(enc)
    assert tracemalloc.get_traced_memory()[1] - before < MIB
    # the writer refuses what the reader would: no file it cannot read back
    with pytest.raises(ValueError, match="trailing zeros"):
        codec.encode_tensor(torch.zeros(2000, 1000), codec.Coding("huffman", 5))
    small = codec.encode_tensor(torch.zeros(1000, 1000), codec.Coding("huffman", 5))  # up to 2^20 zeros: fine
    assert torch.equal(codec.decode_tensor(codec.unpack(_one_tensor_file(small))[1]["w"]), torch.zeros(1000, 1000))


@pytest.mark.parametrize("field, value, message", [
    ("codebook", np.array([0.0, np.nan, 1.0], np.float32), "codebook holds NaN"),
    ("codebook", np.array([0.0, np.inf, 1.0], np.float32), "codebook holds NaN or inf"),
    ("codebook", np.array([0.0, 2.0, 1.0], np.float32), "not strictly increasing"),
    ("codebook", np.array([1.0, 1.0, 2.0], np.float32), "not strictly increasing"),
    ("value_lengths", np.array([1, 1, 1], np.uint8), "Kraft"),
    ("value_lengths", np.array([0, 0, 0], np.uint8), "code table is empty"),
])
def test_bad_codebooks_and_tables_are_named(field, value, message):
    enc = codec.encode_tensor(torch.tensor([0.0, 1, 1, 2, 1, 1, 0, 1]), codec.Coding("huffman"))
    bad = dataclasses.replace(enc, **{field: value})
    with pytest.raises(codec.CorruptFileError, match=message):
        codec.unpack(_one_tensor_file(bad))
    with pytest.raises(codec.CorruptFileError, match=message):
        codec.decode_tensor(bad)


def test_non_finite_raw_values_are_refused():
    for values, raw in (("float32", np.float32(np.nan).tobytes()), ("float16", np.float16(np.inf).tobytes())):
        enc = codec.encode_tensor(torch.tensor([1.0, 2.0]), codec.Coding(values))
        bad = dataclasses.replace(enc, values_payload=raw + enc.values_payload[len(raw):])
        with pytest.raises(codec.CorruptFileError, match=f"{values} values hold NaN or inf"):
            codec.unpack(_one_tensor_file(bad))


@pytest.mark.parametrize("coding, stream", [(codec.Coding("fixed", 3, "fixed"), "values_payload"),
                                            (codec.Coding("fixed", 3, "fixed"), "index_payload"),
                                            (codec.Coding("huffman", 3, "huffman"), "values_payload"),
                                            (codec.Coding("huffman", 3, "huffman"), "index_payload")])
def test_non_zero_padding_bits_are_refused(coding, stream):
    enc = codec.encode_tensor(torch.tensor([0.0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 1, 0, 0, 4, 1, 1]), coding)
    payload = getattr(enc, stream)
    last = payload[-1]
    assert last & 1 == 0 and codec.decode_tensor(enc) is not None, "the test needs a padded last byte"
    bad = dataclasses.replace(enc, **{stream: payload[:-1] + bytes([last | 1])})
    with pytest.raises(codec.CorruptFileError, match="padding bits"):
        codec.decode_tensor(codec.unpack(_one_tensor_file(bad))[1]["w"])


def test_code_lengths_beyond_64_bits_raise_corrupt_not_overflow():
    """A table with 70-bit codes (valid Kraft) used to raise OverflowError in canonical_codes."""
    lengths = np.array(list(range(1, 71)) + [70], dtype=np.uint8)
    book = np.linspace(-1, 1, 71).astype(np.float32)
    payload, _ = huffman.huffman_encode([70, 0, 69, 1], 71, lengths)
    enc = codec.EncodedTensor((4,), codec.Coding("huffman"), 4, book, lengths, payload, np.zeros(0, np.uint8), b"")
    assert codec.decode_tensor(codec.unpack(_one_tensor_file(enc))[1]["w"]).tolist() == book[[70, 0, 69, 1]].tolist()
    garbage = dataclasses.replace(enc, values_payload=b"\xff" * len(payload))
    with pytest.raises(codec.CorruptFileError, match="value codes: (corrupted|truncated) Huffman stream"):
        codec.decode_tensor(garbage)


def test_read_model_names_the_tensor_and_blames_the_file_for_its_own_architecture():
    torch.manual_seed(0)
    data = codec.write_model(models.build("lenet300"), {"fc1": codec.Coding("float16", 5, "fixed")}, arch="lenet300")
    fields = _fields(data)
    shape_off = next(off for off, fmt, label in fields if label == "shape")
    with pytest.raises(codec.CorruptFileError, match="the model expects"):
        codec.read_model(_set_field(data, shape_off, "I", 301))
    with pytest.raises(ValueError, match="the model expects") as info:  # a caller's template: not corruption
        codec.read_model(_set_field(data, shape_off, "I", 301), models.build("lenet300"))
    assert not isinstance(info.value, codec.CorruptFileError)
    # a Huffman stream that parses but does not decode: the error names the tensor and the stream
    enc = codec.encode_tensor(torch.tensor([0.0, 1, 1, 2, 1, 1, 0, 1]), codec.Coding("huffman"))
    bad = dataclasses.replace(enc, values_payload=enc.values_payload[:-1] + bytes([enc.values_payload[-1] | 1]))
    with pytest.raises(codec.CorruptFileError, match=r"corrupted file: w: value codes: .* non-zero padding bits"):
        codec.read_model(_one_tensor_file(bad), _Flat(_one_tensor_file(enc)))


def test_huffman_decoder_checks_sizes_before_allocating():
    payload, lengths = huffman.huffman_encode([0, 1, 2, 2, 2, 1])
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    with pytest.raises(huffman.CorruptFileError, match="truncated Huffman stream: 1000000000 symbols need"):
        huffman.huffman_decode(payload, lengths, 10 ** 9)
    with pytest.raises(huffman.CorruptFileError, match="unexpected bits"):
        huffman.huffman_decode(payload + bytes(10 ** 6), lengths, 6)
    assert tracemalloc.get_traced_memory()[1] - before < 2 * 10 ** 6 + MIB
    assert codec.CorruptFileError is huffman.CorruptFileError


def test_widest_index_alphabet():
    """16-bit relative indices: a Huffman table of 2^16 entries, symbols up to 65535 (uint16 decoding)."""
    w = torch.zeros(70000)
    w[[3, 65538, 69999]] = torch.tensor([1.0, -2.0, 0.5])
    data = _one_tensor_file(codec.encode_tensor(w, codec.Coding("huffman", 16, "huffman")))
    assert _read_everything(data) == "ok"
    assert torch.equal(codec.decode_tensor(codec.unpack(data)[1]["w"]), w)
    fields = [f for f in _fields(data) if f[2] in ("index code length", "entry count", "shape", "last index byte")]
    for offset, fmt, _ in fields:
        (old,) = struct.unpack_from("<" + fmt, data, offset)
        for value in _values_for(fmt, old, np.random.default_rng(4)):
            _read_everything(_set_field(data, offset, fmt, value))


@pytest.mark.parametrize("coding", [codec.Coding("huffman"), codec.Coding("huffman", 5), codec.Coding("fixed", 2, "fixed"),
                                    codec.Coding("float16", 3, "huffman")])
def test_decoding_memory_of_real_sized_tensors(coding):
    """A valid 300 x 500 tensor: the decoder needs at most 10 x the file plus 5 x its float32 output.

    (The old Huffman decoder held ~300 bytes per payload byte: every bit as an int64, every
    16-bit window as an int64 and again as a Python int.)"""
    g = torch.Generator().manual_seed(0)
    keep = 0.5 if coding.index_bits == 0 else 0.1
    w = torch.linspace(-1, 1, 16)[torch.randint(0, 16, (300, 500), generator=g)]
    w = w * (torch.rand(300, 500, generator=g) < keep)
    data = _one_tensor_file(codec.encode_tensor(w, coding))
    out, peak = _peak_decode(codec.unpack(data)[1]["w"])
    assert torch.equal(out, w.half().float() if coding.values == "float16" else w)
    assert peak <= 10 * len(data) + 5 * 4 * w.numel() + MIB, (peak, len(data))
