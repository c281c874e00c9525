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

from ..huffman import CorruptFileError
from .container import describe, pack, read_model, size_breakdown, unpack, write_model
from .tensor import (FLOAT16_MAX, INDEX_CODINGS, MAGIC, MAX_TRAILING_ZEROS, VALUE_CODINGS, VERSION, Coding, EncodedTensor,
                     best_index_bits, decode_tensor, encode_tensor, pack_fixed, unpack_fixed)
from .tensor import _code_width  # noqa: F401 (tests use it)

__all__ = ["MAGIC", "VERSION", "Coding", "EncodedTensor", "CorruptFileError", "encode_tensor", "decode_tensor",
           "pack", "unpack", "write_model", "read_model", "size_breakdown", "describe", "pack_fixed", "best_index_bits",
           "unpack_fixed", "VALUE_CODINGS", "INDEX_CODINGS", "MAX_TRAILING_ZEROS", "FLOAT16_MAX"]
