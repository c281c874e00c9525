"""Tests of companion.joint: Huffman coding, the compressed file, recipes, sensitivity (chapter 6)."""
from __future__ import annotations

import heapq
import math
import zlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from companion import exercises, models, sparsity
from companion.joint import codec, huffman, recipes
from companion.joint import sensitivity as sens_mod
from companion import joint


# --- Huffman ----------------------------------------------------------------------------------

def test_code_lengths_textbook_example():
    # CLRS 16.3: a..f with frequencies 45, 13, 12, 16, 9, 5 -> 0, 101, 100, 111, 1101, 1100
    assert huffman.code_lengths([45, 13, 12, 16, 9, 5]).tolist() == [1, 3, 3, 3, 4, 4]


def test_canonical_codes_are_consecutive():
    codes = huffman.canonical_codes([2, 1, 3, 3])
    words = [format(int(c), f"0{l}b") for c, l in zip(codes, [2, 1, 3, 3])]
    assert words == ["10", "0", "110", "111"]


def test_one_symbol_and_empty():
    payload, lengths = huffman.huffman_encode([4, 4, 4])
    assert lengths.tolist() == [0, 0, 0, 0, 1] and len(payload) == 1
    assert huffman.huffman_decode(payload, lengths, 3).tolist() == [4, 4, 4]
    payload, lengths = huffman.huffman_encode([])
    assert payload == b"" and huffman.huffman_decode(payload, lengths, 0).size == 0
    assert huffman.code_lengths([]).size == 0


def _brute_force_optimal_bits(counts):
    """Oracle: the cost of an optimal prefix code = sum of the merged weights (heap merging)."""
    c = [x for x in counts if x > 0]
    if len(c) == 1:
        return c[0]
    heapq.heapify(c)
    total = 0
    while len(c) > 1:
        a, b = heapq.heappop(c), heapq.heappop(c)
        total += a + b
        heapq.heappush(c, a + b)
    return total


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=0, max_size=400), st.integers(0, 3))
def test_huffman_roundtrip_property(symbols, extra_alphabet):
    alphabet = (max(symbols) + 1 if symbols else 0) + extra_alphabet
    payload, lengths = huffman.huffman_encode(symbols, alphabet)
    assert lengths.size == alphabet
    out = huffman.huffman_decode(payload, lengths, len(symbols))
    assert out.tolist() == list(symbols)
    bits = huffman.encoded_bits(symbols, lengths)
    assert len(payload) == (bits + 7) // 8
    if symbols:
        # optimal (oracle), and within the entropy bound H <= L < H + 1
        assert bits == _brute_force_optimal_bits(np.bincount(symbols).tolist())
        h = huffman.entropy_bits(symbols)
        assert h - 1e-9 <= bits / len(symbols) < h + 1 + 1e-9


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 10**6), min_size=2, max_size=40))
def test_code_lengths_form_complete_prefix_code(counts):
    lengths = huffman.code_lengths(counts)
    assert math.isclose(sum(2.0 ** -int(l) for l in lengths), 1.0)   # Huffman codes are complete
    codes = huffman.canonical_codes(lengths)
    words = [format(int(c), f"0{int(l)}b") for c, l in zip(codes, lengths)]
    for i, a in enumerate(words):  # prefix-free
        for j, b in enumerate(words):
            assert i == j or not b.startswith(a)


def test_long_codes_use_bitwise_decoder():
    counts = [int(1.7 ** i) + 1 for i in range(24)]  # Fibonacci-like counts: code lengths beyond 16 bits
    lengths = huffman.code_lengths(counts)
    assert lengths.max() > 16
    rng = np.random.default_rng(0)
    symbols = rng.integers(0, 24, 300)
    payload, lengths = huffman.huffman_encode(symbols, 24, lengths)
    assert huffman.huffman_decode(payload, lengths, 300).tolist() == symbols.tolist()


def test_huffman_rejects_bad_input():
    with pytest.raises(ValueError, match=">= 0"):
        huffman.huffman_encode([1, -1])
    with pytest.raises(TypeError, match="integers"):
        huffman.huffman_encode([0.5, 1.0])
    with pytest.raises(TypeError):
        huffman.huffman_encode("abc")
    with pytest.raises(ValueError, match="Kraft"):
        huffman.canonical_codes([1, 1, 1])
    with pytest.raises(ValueError, match="outside the alphabet"):
        huffman.huffman_encode([0, 5], alphabet_size=3)
    with pytest.raises(ValueError, match="no code"):
        huffman.huffman_encode([0, 2], 3, lengths=[1, 1, 0])
    payload, lengths = huffman.huffman_encode([0, 1, 2, 2, 2, 1])
    with pytest.raises(ValueError, match="truncated"):
        huffman.huffman_decode(payload, lengths, 40)
    with pytest.raises(ValueError, match="unexpected bits"):
        huffman.huffman_decode(payload + b"\x00", lengths, 6)
    with pytest.raises(ValueError, match="n_symbols"):
        huffman.huffman_decode(payload, lengths, -1)


# --- the file ---------------------------------------------------------------------------------

def _pruned_shared(seed=0, shape=(40, 60), sparsity=0.9, k=8):
    g = torch.Generator().manual_seed(seed)
    centroids = torch.linspace(-2, 2, k)
    w = centroids[torch.randint(0, k, shape, generator=g)]
    w[torch.rand(*shape, generator=g) < sparsity] = 0.0
    return w


@pytest.mark.parametrize("coding", [codec.Coding("huffman", 5), codec.Coding("fixed", 3, "fixed"),
                                    codec.Coding("float32", 4, "huffman"), codec.Coding("huffman", 0),
                                    codec.Coding("fixed", 0), codec.Coding("float32"), codec.Coding("huffman", 1)])
def test_encode_decode_tensor_exact(coding):
    w = _pruned_shared()
    enc = codec.encode_tensor(w, coding)
    assert torch.equal(codec.decode_tensor(enc), w)


def test_relative_stream_matches_chapter5_oracle():
    w = _pruned_shared(1)
    enc = codec.encode_tensor(w, codec.Coding("fixed", 3, "fixed"))
    values, gaps = sparsity.relative_index_encode(w.reshape(-1), 3)
    assert enc.n_entries == values.numel()
    assert codec.unpack_fixed(enc.index_payload, 3, enc.n_entries).tolist() == gaps.tolist()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([(7,), (5, 9), (3, 2, 3, 3)]), st.floats(0.0, 0.99),
       st.integers(1, 64), st.integers(0, 8), st.sampled_from(codec.VALUE_CODINGS), st.sampled_from(codec.INDEX_CODINGS))
def test_file_roundtrip_property(seed, shape, sparsity_, k, index_bits, values, index):
    w = _pruned_shared(seed, shape, sparsity_, k)
    enc = {"w": codec.encode_tensor(w, codec.Coding(values, index_bits, index))}
    arch, back = codec.unpack(codec.pack(enc, "x"))
    out = codec.decode_tensor(back["w"])
    if values == "float16":
        assert torch.allclose(out, w.half().float())
    else:
        assert torch.equal(out, w)


def _small_model():
    torch.manual_seed(0)
    m = models.build("lenet300")
    sparsity.prune_(m, {"fc1": 0.95, "fc2": 0.9, "fc3": 0.5})
    sparsity.bake_masks_(m)
    from companion import quantization
    quantization.share_weights_(m, 4, iters=5, prune_zeros=True)
    return quantization.bake_(m).eval()


@pytest.fixture(scope="module")
def shared_model():
    return _small_model()


@pytest.fixture(scope="module")
def written(shared_model):
    codings = {n: codec.Coding("huffman", 5) for n in ("fc1", "fc2", "fc3")}
    return codec.write_model(shared_model, codings, arch="lenet300")


def test_written_file_decodes_to_exactly_the_pipeline_weights(shared_model, written):
    back = codec.read_model(written)
    assert isinstance(back, models.LeNet300)
    for k, v in shared_model.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(back(x), shared_model.eval()(x))


def test_size_breakdown_adds_up_and_is_small(shared_model, written):
    parts = codec.size_breakdown(written)
    assert sum(parts.values()) == len(written)
    assert joint.float32_bytes(shared_model) / len(written) > 30
    df = codec.describe(written)
    assert set(df.index) == set(shared_model.state_dict())


def test_truncated_file_is_rejected(written):
    for cut in (0, 5, 12, len(written) // 2, len(written) - 1):
        with pytest.raises(codec.CorruptFileError, match="truncated"):
            codec.read_model(written[:cut])


def test_corrupted_file_is_rejected(written):
    rng = np.random.default_rng(0)
    for pos in rng.integers(13, len(written) - 4, 20).tolist() + [len(written) - 1]:
        bad = bytearray(written)
        bad[pos] ^= 0x10
        with pytest.raises(codec.CorruptFileError, match="checksum"):
            codec.read_model(bytes(bad))
    with pytest.raises(codec.CorruptFileError, match="magic"):
        codec.read_model(b"PK\x03\x04" + written[4:])
    with pytest.raises(codec.CorruptFileError):
        codec.read_model(written + b"\x00")


def _forge(data: bytes, offset: int, new: bytes) -> bytes:
    """Overwrite bytes and recompute the CRC: a file that passes the checksum but lies inside."""
    body = bytearray(data[:-4])
    body[offset: offset + len(new)] = new
    return bytes(body) + zlib.crc32(bytes(body)).to_bytes(4, "little")


def test_consistent_crc_but_wrong_counts_is_rejected(written):
    """Past the checksum the parser still checks every count, so a forged file fails loudly."""
    arch, tensors = codec.unpack(written)
    name = next(iter(tensors))
    enc = tensors[name]
    # prelude 9 | arch str | n_tensors 2 | name str | ndim 1 | shape 4*ndim | codings 2 | [index coding 1] | n u32
    coding_off = 9 + 1 + len(arch) + 2 + 1 + len(name) + 1 + 4 * len(enc.shape)
    off = coding_off + 2 + (1 if enc.coding.index_bits else 0)
    assert int.from_bytes(written[off: off + 4], "little") == enc.n_entries
    for n in (enc.n_entries + 3, enc.n_entries - 3, 10**9):
        with pytest.raises(codec.CorruptFileError):
            codec.read_model(_forge(written, off, n.to_bytes(4, "little")))
    with pytest.raises(codec.CorruptFileError, match="unknown coding"):
        codec.read_model(_forge(written, coding_off, bytes([9])))
    with pytest.raises(codec.CorruptFileError, match="version"):
        codec.read_model(_forge(written, 4, bytes([2])))


def test_read_model_checks_the_template(written):
    with pytest.raises(ValueError, match="does not match"):
        codec.read_model(written, models.build("lenet5"))
    data = codec.write_model(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="architecture"):
        codec.read_model(data)
    assert isinstance(codec.read_model(data, nn.Linear(3, 2)), nn.Linear)


def test_write_model_bad_input(shared_model):
    with pytest.raises(ValueError, match="no tensor"):
        codec.write_model(shared_model, {"conv9": codec.Coding()})
    with pytest.raises(TypeError):
        codec.write_model(shared_model, {"fc1": "huffman"})
    with pytest.raises(ValueError, match="distinct values"):
        codec.encode_tensor(torch.randn(300, 300), codec.Coding("huffman"))
    with pytest.raises(ValueError, match="values coding"):
        codec.Coding("gzip")
    with pytest.raises(ValueError, match="index_bits"):
        codec.Coding("huffman", 17)
    with pytest.raises(ValueError, match="NaN"):
        codec.encode_tensor(torch.tensor([1.0, float("nan")]))
    m = nn.Linear(4, 4)
    sparsity.prune_(m, 0.5)
    with pytest.raises(ValueError, match="bake"):
        codec.write_model(m)


def _pinned_tensors():
    """RNG-free: a weight-shared, pruned 12 x 20 matrix (9 levels, ~70 % zeros, a 40-zero run) and a bias."""
    i = torch.arange(240, dtype=torch.float32)
    w = ((i * 7) % 9 - 4) * 0.25
    w[(i * 13) % 10 < 7] = 0.0
    w[100:140] = 0.0
    return w.reshape(12, 20), torch.linspace(-0.5, 0.5, 12)


def test_encoded_bytes_are_pinned():
    """The file format must not drift: the book's ratios (dc_lenet300_ratio, ...) are measured from these bytes.

    The digests were computed with the codec as it stood before the hardening of issue 13."""
    import hashlib
    w, b = _pinned_tensors()
    codings = [codec.Coding("huffman", 5), codec.Coding("fixed", 3, "fixed"), codec.Coding("float32", 4, "huffman"),
               codec.Coding("float16", 2, "fixed"), codec.Coding("huffman", 0), codec.Coding("fixed", 0),
               codec.Coding("float32"), codec.Coding("float16"), codec.Coding("huffman", 1, "huffman")]
    enc = {f"t{j}.weight": codec.encode_tensor(w, c) for j, c in enumerate(codings)}
    enc["bias"] = codec.encode_tensor(b, codec.Coding("float32"))
    data = codec.pack(enc, "pinned")
    assert len(data) == 2756
    assert hashlib.sha256(data).hexdigest() == "d103b8e9e13185cd702f3169a9f5ee11552002ad23cae2033221b0b75468266e"
    m = nn.Linear(20, 12)
    with torch.no_grad():
        m.weight.copy_(w)
        m.bias.copy_(b)
    model_bytes = codec.write_model(m, {"weight": codec.Coding("huffman", 5)})
    assert len(model_bytes) == 224
    assert hashlib.sha256(model_bytes).hexdigest() == "bd762b5db3802ab1d750f452eed9dfa6db87181aa4dd3146cc01949a2a6a9d89"
    back = codec.read_model(model_bytes, nn.Linear(20, 12))
    assert torch.equal(back.weight, w) and torch.equal(back.bias, b)


def test_float16_overflow_is_refused_at_encode_time():
    """|v| > 65504 used to be written as inf (and read back as inf)."""
    codec.encode_tensor(torch.tensor([65504.0, -65504.0]), codec.Coding("float16"))  # the limit itself is fine
    for coding in (codec.Coding("float16"), codec.Coding("float16", 4, "fixed")):
        with pytest.raises(ValueError, match=r"magnitude 70000 exceeds the float16 limit 65504"):
            codec.encode_tensor(torch.tensor([0.0, 1.0, -7e4]), coding)


def test_decoded_positions_match_chapter5_oracle():
    w = _pruned_shared(2, (30, 50), 0.95)
    for bits in (1, 3, 8):
        enc = codec.encode_tensor(w, codec.Coding("float32", bits, "fixed"))
        values, gaps = sparsity.relative_index_encode(w.reshape(-1), bits)
        oracle = sparsity.relative_index_decode(values, gaps, w.numel())
        assert torch.equal(codec.decode_tensor(enc).reshape(-1), oracle)


def test_huffman_codes_longer_than_64_bits():
    """Code lengths up to 255 are valid in the table; they used to overflow int64 in canonical_codes."""
    lengths = list(range(1, 100)) + [99]
    codes = huffman.canonical_codes(lengths)
    assert codes[99] == (1 << 99) - 1 and codes[98] == (1 << 99) - 2 and codes[0] == 0
    symbols = [99, 0, 98, 50, 1, 99]
    payload, _ = huffman.huffman_encode(symbols, 100, lengths)
    assert len(payload) == (sum(lengths[s] for s in symbols) + 7) // 8
    assert huffman.huffman_decode(payload, lengths, len(symbols)).tolist() == symbols


def test_huffman_decode_raises_corrupt_file_error():
    """Malformed tables and streams raise CorruptFileError (a ValueError), checked before allocating."""
    payload, lengths = huffman.huffman_encode([0, 1, 2, 2, 2, 1])
    with pytest.raises(huffman.CorruptFileError, match="Kraft"):
        huffman.huffman_decode(payload, [1, 1, 1], 6)
    with pytest.raises(huffman.CorruptFileError, match=r"code lengths must lie in \[0, 255\]"):
        huffman.huffman_decode(payload, [1, 2, 300], 6)
    with pytest.raises(huffman.CorruptFileError, match="no symbol has a code"):
        huffman.huffman_decode(payload, [0, 0, 0], 6)
    with pytest.raises(huffman.CorruptFileError, match="non-zero padding"):
        huffman.huffman_decode(payload[:-1] + bytes([payload[-1] | 1]), lengths, 6)
    with pytest.raises(huffman.CorruptFileError, match="truncated Huffman stream: 1000000000 symbols need"):
        huffman.huffman_decode(payload, lengths, 10 ** 9)
    assert huffman.huffman_decode(payload, lengths, 6, dtype=np.uint8).dtype == np.uint8
    with pytest.raises(ValueError, match="cannot hold"):
        huffman.huffman_decode(payload, [2, 2, 1] + [0] * 254, 6, dtype=np.uint8)


def test_unpack_fixed_rejects_padding_and_bad_arguments():
    payload = codec.pack_fixed([1, 2, 3], 2)  # 6 bits + 2 zero padding bits
    with pytest.raises(codec.CorruptFileError, match="non-zero padding bits"):
        codec.unpack_fixed(bytes([payload[0] | 1]), 2, 3)
    with pytest.raises(codec.CorruptFileError, match="expected 1"):
        codec.unpack_fixed(payload + b"\x00", 2, 3)
    with pytest.raises(ValueError, match="width"):
        codec.unpack_fixed(payload, 33, 3)
    with pytest.raises(ValueError, match="n must be"):
        codec.unpack_fixed(payload, 2, -1)
    vals = np.random.default_rng(5).integers(0, 2 ** 32, 1000)
    assert codec.unpack_fixed(codec.pack_fixed(vals, 32), 32, 1000).tolist() == vals.tolist()


def test_pack_fixed_oracle():
    assert codec.pack_fixed([1, 2, 3], 2) == bytes([0b01101100])
    vals = np.random.default_rng(1).integers(0, 32, 101)
    assert codec.unpack_fixed(codec.pack_fixed(vals, 5), 5, 101).tolist() == vals.tolist()
    with pytest.raises(ValueError):
        codec.pack_fixed([4], 2)


# --- recipes ------------------------------------------------------------------------------------

GOOD = {"name": "t", "model": "lenet300", "steps": [
    {"method": "prune", "sparsity": {"fc1": 0.9}, "rounds": 1, "epochs_per_round": 0},
    {"method": "share", "bits": 4, "epochs": 0, "layers": ["fc1", "fc2"]},
    {"method": "encode", "index_bits": {"fc1": 5}}]}


def test_recipe_roundtrip_yaml_and_validate():
    r = recipes.Recipe.from_dict(GOOD)
    assert recipes.validate(r) is r
    again = recipes.Recipe.from_yaml(r.to_yaml())
    assert again == r
    assert recipes.validate(r.to_yaml()) == r


@pytest.mark.parametrize("patch, message", [
    ({"model": "resnet9"}, "unknown model"),
    ({"steps": []}, "at least one step"),
    ({"steps": [{"method": "distill"}]}, "unknown method"),
    ({"steps": [{"method": "prune", "sparsity": {"fc9": 0.5}}]}, "unknown layer"),
    ({"steps": [{"method": "prune", "sparsity": 0.5, "layers": ["conv1"]}]}, "unknown layer"),
    ({"steps": [{"method": "prune", "sparsity": 1.5}]}, "sparsity"),
    ({"steps": [{"method": "prune"}]}, "needs the parameter 'sparsity'"),
    ({"steps": [{"method": "prune", "sparsity": 0.5, "epochs": 3}]}, "unknown parameter"),
    ({"steps": [{"method": "share", "bits": 0}]}, "bits"),
    ({"steps": [{"method": "encode"}, {"method": "share", "bits": 4}]}, "last step"),
    ({"steps": [{"method": "prune", "sparsity": 0.5}, {"method": "decompose", "svd_rank": {"fc1": 8}}]}, "before"),
    ({"steps": [{"method": "decompose", "svd_rank": {"fc4": 8}}]}, "unknown layer"),
    ({"steps": [{"method": "decompose", "svd_rank": {"fc1": 8}}, {"method": "share", "bits": {"fc1": 4}}]},
     "unknown layer"),
    ({"steps": [{"method": "encode", "values": "zip"}]}, "values"),
])
def test_recipe_rejected_before_running(monkeypatch, patch, message):
    def boom(*a, **k):
        raise AssertionError("a step ran although the recipe is invalid")
    monkeypatch.setattr(recipes, "_apply", boom)
    monkeypatch.setattr(recipes.train, "baseline", boom)
    with pytest.raises(ValueError, match=message):
        recipes.run({**GOOD, **patch})


def test_decompose_then_share_names_new_layers():
    r = {"model": "lenet300", "steps": [{"method": "decompose", "svd_rank": {"fc1": 8}},
                                        {"method": "share", "bits": {"fc1.first": 4, "fc1.last": 4}}]}
    assert recipes.validate(r).steps[1].params["bits"]["fc1.first"] == 4


def test_recipe_bad_types():
    with pytest.raises(TypeError):
        recipes.validate(42)
    with pytest.raises(ValueError, match="unknown recipe keys"):
        recipes.Recipe.from_dict({**GOOD, "optimizer": "sgd"})
    with pytest.raises(ValueError, match="method"):
        recipes.Recipe.from_dict({"model": "lenet300", "steps": [{"bits": 4}]})


def test_stage_codings():
    m = models.build("lenet5")
    c = recipes.stage_codings(m, {"conv1": {"prune"}, "fc1": {"prune", "share"}}, {"fc1": 4})
    assert c["conv1"] == codec.Coding("float32", 8, "fixed")
    assert c["fc1"] == codec.Coding("fixed", 4, "fixed")
    assert c["fc2"] == codec.Coding("float32", 0, "fixed")


# --- sensitivity rule ----------------------------------------------------------------------------

def test_settings_from_sensitivity_rule():
    s = sens_mod.Sensitivity(97.0, (0.5, 0.9, 0.95), (2, 4, 8),
                             {"a": (97.0, 96.5, 90.0), "b": (96.0, 95.0, 90.0)},
                             {"a": (80.0, 96.8, 97.0), "b": (96.9, 97.0, 97.0)})
    out = sens_mod.settings_from_sensitivity(s, 0.5)
    assert out == {"a": {"sparsity": 0.9, "bits": 4}, "b": {"sparsity": 0.0, "bits": 2}}
    assert sens_mod.settings_from_sensitivity(s, 0.5, min_bits=3)["b"]["bits"] == 3
    assert set(s.to_frame().columns) >= {"layer", "method", "setting", "drop"}
    with pytest.raises(ValueError, match="max_drop"):
        sens_mod.settings_from_sensitivity(s, -1)
    with pytest.raises(TypeError):
        sens_mod.settings_from_sensitivity({}, 1)


# --- exercises -----------------------------------------------------------------------------------

def test_exercises_registered_and_solvable():
    ids = {e.id for e in exercises.exercises("ch6")}
    assert {"ch6.huffman_average", "ch6.relative_index_bits", "ch6.huffman_bits", "ch6.biggest_saving"} <= ids
    exercises.check("ch6.huffman_average", 2.24)
    exercises.check("ch6.relative_index_bits", 16 * 7)
    with pytest.raises(exercises.ExerciseError):
        exercises.check("ch6.relative_index_bits", 5 * 7)

    def huffman_bits(counts):
        return _brute_force_optimal_bits(list(counts))
    exercises.check("ch6.huffman_bits", huffman_bits)


def test_best_index_bits_is_the_smallest_record():
    w = _pruned_shared(3, (60, 80), 0.97, 16)
    best = codec.best_index_bits(w, candidates=range(2, 9))
    sizes = {b: sum(codec.encode_tensor(w, codec.Coding("huffman", b)).parts_bytes().values()) for b in range(2, 9)}
    assert sizes[best] == min(sizes.values())
    with pytest.raises(ValueError, match="candidates"):
        codec.best_index_bits(w, candidates=[0])


def test_encode_index_bits_auto_validates():
    r = {"model": "lenet300", "steps": [{"method": "encode", "index_bits": "auto"}]}
    assert recipes.validate(r).steps[0].params["index_bits"] == "auto"
    with pytest.raises(ValueError, match="'auto'"):
        recipes.validate({"model": "lenet300", "steps": [{"method": "encode", "index_bits": "best"}]})


@pytest.mark.slow
def test_layer_sensitivity_small_sweep():
    from companion import train
    base = train.baseline("lenet300", progress=False)
    s = sens_mod.layer_sensitivity(base, sparsities=(0.5,), bit_widths=(6,), split="val")
    assert set(s.pruning) == {"fc1", "fc2", "fc3"} and len(s.bits["fc1"]) == 1
    assert abs(s.bits["fc1"][0] - s.baseline) <= 1.0        # 6-bit sharing of one layer is nearly free
    with pytest.raises(ValueError, match="bit_widths"):
        sens_mod.layer_sensitivity(base, bit_widths=(0,))
    with pytest.raises(TypeError):
        sens_mod.layer_sensitivity("lenet300")


def test_quantize_step_touches_only_its_layers():
    m = models.build("lenet300")
    step = recipes.Step("quantize", {"bits": 3}, ("fc2",))
    p = recipes._resolve(step, recipes.layer_names(m), "test")
    out = recipes._apply(step, p, m, None, False)
    assert torch.unique(out.fc2.weight).numel() <= 8
    assert torch.equal(out.fc1.weight, m.fc1.weight) and torch.equal(out.fc3.weight, m.fc3.weight)
