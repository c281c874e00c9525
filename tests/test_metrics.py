import math

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from companion import metrics, models


@settings(max_examples=25, deadline=None)
@given(cin=st.integers(1, 6), cout=st.integers(1, 6), k=st.integers(1, 4), hw=st.integers(4, 10),
       stride=st.integers(1, 2), pad=st.integers(0, 1), bias=st.booleans())
def test_conv_macs_closed_form(cin, cout, k, hw, stride, pad, bias):
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=bias)
    (l,) = metrics.measure_layers(conv, (1, cin, hw, hw))
    out = (hw + 2 * pad - k) // stride + 1
    assert l.macs == out * out * cout * cin * k * k
    assert l.params == cout * cin * k * k + (cout if bias else 0)
    spec = models.LayerSpec("c", "conv", cin, hw, hw, cout, k, k, stride, pad, 1, bias)
    assert spec.macs == l.macs and spec.params == l.params


def test_linear_and_nonzero_macs():
    lin = nn.Linear(10, 4)
    with torch.no_grad():
        lin.weight[:, :5] = 0
    (l,) = metrics.measure_layers(lin, (1, 10))
    assert (l.macs, l.nonzero_macs, l.nonzero_weights, l.bias) == (40, 20, 20, 4)
    assert l.density == 0.5


def test_custom_module_compute_macs():
    class Factored(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(8, 2, bias=False), nn.Linear(2, 8)
        def forward(self, x):
            return self.b(self.a(x))
        def compute_macs(self, x, y):
            return 8 * 2 + 2 * 8
    layers = metrics.measure_layers(nn.Sequential(Factored()), (1, 8))
    assert len(layers) == 1 and layers[0].macs == 32 and layers[0].params == 16 + 16 + 8


def test_batch_does_not_change_per_sample_macs():
    m = models.build("lenet5")
    assert metrics.measure_macs(m, (1, 1, 28, 28)) == metrics.measure_macs(m, (4, 1, 28, 28)) == 2_293_000


@settings(max_examples=50, deadline=None)
@given(n=st.integers(0, 10_000), vb=st.integers(1, 32), ni=st.integers(0, 10_000), ib=st.integers(0, 16),
       cb=st.integers(0, 256))
def test_storage_bits_formula(n, vb, ni, ib, cb):
    assert metrics.storage_bits(n, vb, n_indices=ni, index_bits=ib, codebook_entries=cb) == n * vb + ni * ib + cb * 32


def test_storage_bits_bad_input():
    with pytest.raises(ValueError):
        metrics.storage_bits(-1, 8)
    with pytest.raises(TypeError):
        metrics.storage_bits("10", 8)
    with pytest.raises(ValueError):
        metrics.storage_bits(10, 0)
    with pytest.raises(ValueError):
        metrics.storage_bits(10, 100)


def test_report_ratios():
    base = models.build("lenet5")
    rep = metrics.make_report("x", base, base, accuracy=97.0, baseline_accuracy=98.4, size_bits=431_080 * 4,
                              breakdown={"weights": 431_080 * 4})
    assert math.isclose(rep.compression_ratio, 8.0)
    assert math.isclose(rep.acc_drop, 1.4)
    assert rep.mac_reduction == 1.0
    assert "8.0x smaller" in str(rep)
    assert metrics.compare([rep]).loc["x", "ratio"] == pytest.approx(8.0)
    with pytest.raises(ValueError):
        metrics.compression_ratio(0, 1)
    with pytest.raises(TypeError):
        metrics.compare(["not a report"])


def test_model_size_bits_per_layer_bits():
    m = models.build("lenet300")
    bits = metrics.model_size_bits(m, {"fc1": 8, "fc2": 8, "fc3": 8}, bias_bits=32)
    assert bits == (784 * 300 + 300 * 100 + 100 * 10) * 8 + (300 + 100 + 10) * 32


def test_measure_layers_bad_input():
    with pytest.raises(TypeError):
        metrics.measure_layers("model")
    with pytest.raises(ValueError):
        metrics.measure_layers(models.build("lenet5"), (0, 1, 28, 28))


# --- the one timer (issue 13): structure, never speed --------------------------------------------

def test_time_calls_interleaves_rounds_and_restores_threads():
    import torch
    from companion import metrics
    order = []
    before = torch.get_num_threads()
    seen_threads = []
    fns = {"a": lambda: order.append("a") or seen_threads.append(torch.get_num_threads()),
           "b": lambda: order.append("b"), "c": lambda: order.append("c")}
    t = metrics.time_calls_ms(fns, rounds=3, repeats=2, warmup=1, threads=1)
    assert torch.get_num_threads() == before and set(seen_threads) == {1}
    # each round: 1 warm-up + 2 timed calls per callable; the starting callable rotates
    firsts = [order[i * 9] for i in range(3)]
    assert firsts == ["a", "b", "c"]
    assert all(len(v) == 3 and all(x >= 0 for x in v) for v in t.rounds_ms.values())
    r = t.ratio("a", "b")
    assert r.low <= r.mid <= r.high
    assert set(t.to_frame().index) == {"a", "b", "c"}
    with pytest.raises(KeyError, match="no timing named"):
        t.ratio("a", "z")


def test_spread_text():
    from companion import metrics
    assert metrics.Spread(4.84, 5.0, 5.31).text(".1f", "x") == "4.8–5.3x"
    assert metrics.Spread(5.01, 5.02, 5.04).text(".1f", "x") == "5.0x"


@pytest.mark.parametrize("kw", [{"repeats": 0}, {"warmup": -1}, {"rounds": 0}, {"threads": 0}, {"threads": True}])
def test_timer_rejects_bad_arguments(kw):
    from companion import metrics
    with pytest.raises(ValueError):
        metrics.time_calls_ms({"f": lambda: None}, **kw)
    with pytest.raises((ValueError, TypeError)):
        metrics.time_calls_ms({})
    with pytest.raises(TypeError):
        metrics.time_calls_ms({"f": 3})


def test_compare_latency_restores_training_mode():
    from torch import nn
    from companion import metrics
    m = nn.Linear(4, 2).train()
    t = metrics.compare_latency_ms({"m": m, "n": nn.Linear(4, 2)}, (1, 4), rounds=2, repeats=1, warmup=0)
    assert m.training and len(t.rounds_ms["m"]) == 2
