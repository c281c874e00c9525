"""Tests of companion.recurrent: the row-by-row GRU/LSTM against torch.nn.GRU/LSTM, MACs, bad input."""
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from companion import metrics
from companion import recurrent as workloads  # chapter 8 module (was companion.workloads)


def _torch_rnn_like(model: workloads.RowRNN) -> nn.Module:
    """A torch.nn.GRU/LSTM with the same weights (the oracle)."""
    cls = nn.GRU if model.cell == "gru" else nn.LSTM
    ref = cls(model.row_size, model.rnn.hidden, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(model.ih.weight)
        ref.bias_ih_l0.copy_(model.ih.bias)
        ref.weight_hh_l0.copy_(model.rnn.hh.weight)
        ref.bias_hh_l0.copy_(model.rnn.hh.bias)
    return ref


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 1000), hidden=st.integers(1, 12), n=st.integers(1, 4))
def test_row_rnn_matches_torch_rnn(cell, seed, hidden, n):
    model = workloads.build_row_rnn(cell, hidden, seed)
    ref = _torch_rnn_like(model)
    x = torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ours = model.rnn(model.ih(x.reshape(n, 28, 28)))
        theirs, _ = ref(x.reshape(n, 28, 28))
        logits = model(x)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits, model.fc(theirs[:, -1]), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell,gates", [("gru", 3), ("lstm", 4)])
def test_macs_measured_by_shared_ruler_match_closed_form(cell, gates):
    model = workloads.build_row_rnn(cell, 16)
    layers = {l.name: l for l in metrics.measure_layers(model)}
    assert layers["ih"].macs == 28 * 28 * gates * 16
    assert layers["rnn"].macs == 28 * 16 * gates * 16
    assert layers["rnn"].weights == gates * 16 * 16
    assert metrics.measure_macs(model) == workloads.recurrent_macs(cell, 16)


def test_low_rank_recurrent_matrix_counts_factored_macs():
    from companion import decomposition as dec
    model = workloads.build_row_rnn("gru", 16)
    small = dec.decompose(model, {"rnn.hh": dec.SVD(rank=4)})
    layers = {l.name: l for l in metrics.measure_layers(small)}
    assert layers["rnn"].macs == 28 * 4 * (16 + 48)
    assert small(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_pruning_masks_apply_to_gate_matrices():
    from companion import sparsity
    model = workloads.build_row_rnn("lstm", 8)
    sparsity.prune_(model, {"ih": 0.5, "rnn.hh": 0.75})
    sparsity.bake_masks_(model)
    layers = {l.name: l for l in metrics.measure_layers(model)}
    assert layers["rnn"].nonzero_weights == 4 * 8 * 8 // 4
    assert layers["ih"].nonzero_weights == 28 * 32 // 2


def test_gate_layers_and_lstm_forget_bias():
    model = workloads.build_row_rnn("lstm", 5)
    assert set(workloads.gate_layers(model)) == {"ih", "rnn.hh"}
    assert torch.all(model.rnn.hh.bias[5:10] == 1.0)


def test_bad_input():
    with pytest.raises(ValueError, match="cell must be one of"):
        workloads.build_row_rnn("rnn")
    with pytest.raises(ValueError, match="hidden must be a positive int"):
        workloads.RowRNN(0)
    with pytest.raises(TypeError, match="RowRNN"):
        workloads.gate_layers(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="cell must be one of"):
        workloads.SeqConfig(cell="transformer")


# --- compress: one explicit keyword per method (issue 15: `level` used to mean three things) -------

def test_compress_each_method_by_its_keyword():
    from companion import sparsity
    model = workloads.build_row_rnn("gru", 8)
    layers = ["ih", "rnn.hh"]
    pruned = workloads.compress(model, layers, sparsity=0.75)
    assert sparsity.sparsity_of(pruned.rnn.hh.weight) == pytest.approx(0.75, abs=0.01)
    assert torch.count_nonzero(model.rnn.hh.weight) == model.rnn.hh.weight.numel()  # the original is untouched
    quant = workloads.compress(model, layers, bits=2)
    assert all(len(torch.unique(row)) <= 3 for row in quant.ih.weight)  # 2-bit symmetric: {-s, 0, s} per channel
    low = workloads.compress(model, layers, rank_fraction=0.25)
    assert metrics.measure_macs(low) < metrics.measure_macs(model)
    assert low(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


@pytest.mark.parametrize("kw,err,match", [
    ({}, ValueError, "exactly one of sparsity="),
    ({"sparsity": 0.5, "bits": 4}, ValueError, r"exactly one.*\['bits', 'sparsity'\]"),
    ({"sparsity": 1.0}, ValueError, r"sparsity must be a fraction in \[0, 1\)"),
    ({"sparsity": 50}, ValueError, "sparsity must be a fraction"),
    ({"bits": 4.5}, TypeError, "bits must be an int"),
    ({"bits": 1}, ValueError, r"bits must be in 2\.\.32"),
    ({"rank_fraction": 0}, ValueError, r"rank_fraction .* in \(0, 1\]"),
    ({"rank_fraction": 2}, ValueError, "rank_fraction"),
])
def test_compress_rejects_ambiguous_or_bad_arguments(kw, err, match):
    model = workloads.build_row_rnn("gru", 4)
    with pytest.raises(err, match=match):
        workloads.compress(model, ["ih"], **kw)


def test_compress_old_positional_form_fails_loudly():
    model = workloads.build_row_rnn("gru", 4)
    with pytest.raises(TypeError):
        workloads.compress(model, "prune", 0.5, ["ih"])
    with pytest.raises(ValueError, match="layers"):
        workloads.compress(model, "ih", bits=4)
    with pytest.raises(ValueError, match="not Linear/Conv2d"):
        workloads.compress(model, ["rnn"], bits=4)


def test_compression_sweep_maps_methods_to_keywords(monkeypatch):
    from companion import train
    monkeypatch.setattr(train, "evaluate", lambda m, split="test": 50.0)
    model = workloads.build_row_rnn("gru", 8)
    rows = workloads.compression_sweep(model, ["ih", "rnn.hh"], {"prune": [0.5], "quantize": [4], "low-rank": [0.5]})
    assert [(r["method"], r["level"]) for r in rows] == [("prune", 0.5), ("quantize", 4), ("low-rank", 0.5)]
    assert rows[0]["layer_ratio"] == pytest.approx(2, rel=0.05) and rows[1]["layer_ratio"] == 8
    with pytest.raises(ValueError, match="unknown sweep methods"):
        workloads.compression_sweep(model, ["ih"], {"distill": [1]})
