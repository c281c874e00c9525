"""Tests of companion.bench (delegation to the chapters' timers, ideal ratios, ranges, the CLI) and
companion.fairness (statistics on known inputs).

No test asserts a timing: speed depends on the machine.
"""
import inspect
import math
import statistics

import pytest
from hypothesis import given, settings, strategies as st

from companion import bench, compact, decomposition, fairness, metrics, models, quantization, sparsity
from companion.rows import Rows


# --- bench ----------------------------------------------------------------------------------

TINY = dict(rounds=1, repeats=1)


def _timings(**rounds_ms):
    return metrics.Timings({k: tuple(v) for k, v in rounds_ms.items()}, 1)


def test_bench_has_no_timer_of_its_own():
    """Issue 15: the local ``time_ms`` wrapper is gone; every timing comes from a chapter function."""
    assert not hasattr(bench, "time_ms")
    src = inspect.getsource(bench)
    assert "perf_counter" not in src and "time_call_ms(" not in src and "latency_ms(" not in src.replace(
        "compare_latency_ms(", "")


def test_ideal_ratios_follow_their_formulas_and_rows_are_consistent():
    rows = bench.bench_sparse_matmul(64, 4, (0.5, 0.9), **TINY)
    assert [r.ideal for r in rows] == pytest.approx([2.0, 10.0])
    assert [r.setting for r in rows] == ["64x64, 50% zeros", "64x64, 90% zeros"]
    low = bench.bench_lowrank(64, 4, (8,), **TINY)
    assert low[0].ideal == pytest.approx(64 * 64 / (2 * 64 * 8))
    (dw,) = bench.bench_depthwise(8, 6, 1, **TINY)
    assert dw.ideal == pytest.approx(9 * 64 / (9 * 8 + 64))
    (q,) = bench.bench_dynamic_int8(32, 2, 1, **TINY)
    assert q.ideal == 4.0 and q.basis == "bits"
    (s,) = bench.bench_structured_lenet((0.5,), 2, **TINY)
    small = models.LeNet5(channels=(10, 25), hidden=250)
    assert s.ideal == pytest.approx(metrics.measure_macs(models.LeNet5()) / metrics.measure_macs(small))
    for r in rows + low + [dw, q, s]:
        assert isinstance(r, bench.BenchRow)
        assert r.dense_ms > 0 and r.compressed_ms > 0
        assert r.speedup_low <= r.speedup <= r.speedup_high
        assert r.efficiency == pytest.approx(r.speedup / r.ideal)


def test_every_timing_goes_through_the_one_timer_single_threaded(monkeypatch):
    """Each benchmark times through ``time_calls_ms`` with one thread (issue 13: a busy core)."""
    from companion import timing
    real = timing.time_calls_ms
    calls = []

    def spy(fns, **kw):
        calls.append(kw.get("threads", 1))
        return real(fns, **kw)
    monkeypatch.setattr(timing, "time_calls_ms", spy)
    monkeypatch.setattr(metrics, "time_calls_ms", spy)
    for run in (lambda: bench.bench_sparse_matmul(32, 2, (0.5,), **TINY),
                lambda: bench.bench_dynamic_int8(16, 2, 1, **TINY),
                lambda: bench.bench_lowrank(16, 2, (4,), **TINY),
                lambda: bench.bench_depthwise(4, 4, 1, **TINY),
                lambda: bench.bench_structured_lenet((0.5,), 1, **TINY)):
        before = len(calls)
        run()
        assert len(calls) > before
    assert set(calls) == {1}


def test_sparse_matmul_delegates_to_time_sparse_linear(monkeypatch):
    seen = {}

    def fake(out_features, in_features, sparsities, batch_sizes, **kw):
        seen.update(shape=(out_features, in_features), sparsities=list(sparsities), batch_sizes=tuple(batch_sizes),
                    **kw)
        return Rows([sparsity.SparseTiming(s, batch_sizes[0], 800.0, 200.0, 3.5, 3.0, 4.5, 1 / (1 - s), kw["rounds"])
                     for s in sparsities])
    monkeypatch.setattr(sparsity, "time_sparse_linear", fake)
    rows = bench.bench_sparse_matmul(100, 7, (0.5, 0.75), rounds=4, repeats=6, seed=3)
    assert seen == dict(shape=(100, 100), sparsities=[0.5, 0.75], batch_sizes=(7,), repeats=6, rounds=4, seed=3)
    assert len(rows) == 2
    r = rows[1]
    assert (r.dense_ms, r.compressed_ms) == (0.8, 0.2)  # µs -> ms
    assert (r.speedup_low, r.speedup, r.speedup_high) == (3.0, 3.5, 4.5)
    assert r.ideal == 4.0 and r.efficiency == 3.5 / 4.0 and r.speedup_range == "3.0–4.5x"


def test_dynamic_int8_delegates_and_takes_the_median_of_within_round_ratios(monkeypatch):
    """Regression: the speed-up is the median of per-round ratios (4), not dense_ms / compressed_ms (3)."""
    seen = {}
    real_q = quantization.dynamic_int8

    def fake_compare(modules, shape, **kw):
        seen.update(names=list(modules), shape=tuple(shape), kw=kw, modules=modules)
        return _timings(float32=(4.0, 6.0, 10.0), int8=(1.0, 3.0, 2.0))  # ratios 4, 2, 5
    monkeypatch.setattr(metrics, "compare_latency_ms", fake_compare)
    monkeypatch.setattr(quantization, "dynamic_int8", lambda m: seen.setdefault("quantized", real_q(m)))
    (r,) = bench.bench_dynamic_int8(16, 3, 2, rounds=3, repeats=2)
    assert seen["names"] == ["float32", "int8"] and seen["shape"] == (3, 16)
    assert seen["kw"] == dict(rounds=3, repeats=2)
    assert seen["modules"]["int8"] is seen["quantized"]
    assert (r.speedup_low, r.speedup, r.speedup_high) == (2.0, 4.0, 5.0)
    assert (r.dense_ms, r.compressed_ms) == (6.0, 2.0)
    assert r.speedup != r.dense_ms / r.compressed_ms
    assert r.setting == "2x Linear(16,16), batch 3" and r.speedup_range == "2.0–5.0x"


def test_lowrank_delegates_to_speedup_range(monkeypatch):
    seen = []

    def fake(dense, small, shape, **kw):
        seen.append((dense.weight.shape, [m.weight.shape for m in small], tuple(shape), kw))
        return decomposition.SpeedupRange(1.5, 2.0, 2.5, 3.0, 1.4)
    monkeypatch.setattr(decomposition, "speedup_range", fake)
    rows = bench.bench_lowrank(16, 5, (4, 2), rounds=3, repeats=2)
    assert [s[1] for s in seen] == [[(4, 16), (16, 4)], [(2, 16), (16, 2)]]
    assert all(s[0] == (16, 16) and s[2] == (5, 16) and s[3] == dict(rounds=3, repeats=2, threads=1) for s in seen)
    r = rows[0]
    assert (r.speedup_low, r.speedup, r.speedup_high, r.dense_ms, r.compressed_ms) == (1.5, 2.0, 2.5, 3.0, 1.4)
    assert r.ideal == 2.0 and rows[1].ideal == 4.0 and r.setting == "16x16 → rank 4"


def test_depthwise_delegates_to_latency_comparison(monkeypatch):
    seen = {}

    def fake(c_in, c_out, side, **kw):
        seen.update(args=(c_in, c_out, side), kw=kw)
        return {"ms_standard": 9.0, "ms_separable": 3.0, "speedup_min": 2.5, "speedup_median": 2.75,
                "speedup_max": 3.25, "mac_ratio": 7.0, "speedup": 3.0}
    monkeypatch.setattr(compact, "latency_comparison", fake)
    (r,) = bench.bench_depthwise(12, 10, 2, rounds=4, repeats=3)
    assert seen == dict(args=(12, 12, 10), kw=dict(batch=2, repeats=12, rounds=4, stat="median"))
    assert (r.speedup_low, r.speedup, r.speedup_high, r.ideal) == (2.5, 2.75, 3.25, 7.0)
    assert (r.dense_ms, r.compressed_ms) == (9.0, 3.0) and r.efficiency == 2.75 / 7.0


def test_structured_lenet_times_all_sizes_in_one_interleaved_comparison(monkeypatch):
    seen = {}

    def fake_compare(modules, shape, **kw):
        seen.update(channels={n: m.conv1.out_channels for n, m in modules.items()}, shape=tuple(shape), kw=kw)
        return _timings(**{"dense": (8.0, 9.0), "keep 50%": (4.0, 3.0), "keep 25%": (1.0, 2.0)})
    monkeypatch.setattr(metrics, "compare_latency_ms", fake_compare)
    rows = bench.bench_structured_lenet((0.5, 0.25), 3, rounds=2, repeats=4)
    assert seen["channels"] == {"dense": 20, "keep 50%": 10, "keep 25%": 5}
    assert seen["shape"] == (3, 1, 28, 28) and seen["kw"] == dict(rounds=2, repeats=4)
    assert (rows[0].speedup_low, rows[0].speedup, rows[0].speedup_high) == (2.0, 2.5, 3.0)  # 8/4, 9/3
    assert (rows[1].speedup_low, rows[1].speedup, rows[1].speedup_high) == (4.5, 6.25, 8.0)  # 8/1, 9/2
    assert rows[0].dense_ms == 8.5 and rows[1].compressed_ms == 1.5
    assert rows[0].setting == "keep 50% of channels/units, batch 3"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0.01, 100.0), st.floats(0.01, 100.0)), min_size=1, max_size=9))
def test_speedup_is_the_median_of_round_ratios(pairs):
    dense, fast = zip(*pairs)
    spread = metrics.Timings({"d": dense, "c": fast}, 1).ratio("d", "c")
    r = bench.BenchRow.measured("e", "s", statistics.median(dense), statistics.median(fast), spread, 2.0)
    ratios = [d / c for d, c in pairs]
    assert r.speedup == pytest.approx(statistics.median(ratios))
    assert (r.speedup_low, r.speedup_high) == (pytest.approx(min(ratios)), pytest.approx(max(ratios)))
    assert r.speedup_spread == spread and r.efficiency == pytest.approx(r.speedup / 2.0)


def test_to_frame_columns_range_text_and_bad_rows():
    rows = [bench.BenchRow("x", "y", 2.0, 1.0, 5.0, 4.8, 5.3, 10.0), bench.BenchRow("z", "w", 1.0, 2.0, 0.5, 0.45, 0.5,
                                                                                      2.0, "bits")]
    df = bench.to_frame(rows)
    assert list(df.columns) == ["experiment", "setting", "dense_ms", "compressed_ms", "speedup", "speedup_low",
                                "speedup_high", "speedup_range", "ideal", "basis", "efficiency"]
    assert df.loc[0, "speedup"] == 5.0 and df.loc[0, "efficiency"] == 0.5
    assert list(df.speedup_range) == ["4.8–5.3x", "0.45–0.50x"]
    assert df.loc[1, "basis"] == "bits" and list(bench.to_frame([]).columns) == bench.COLUMNS
    with pytest.raises(TypeError, match="BenchRow"):
        bench.to_frame([{"a": 1}])


def test_bench_row_rejects_inconsistent_values():
    with pytest.raises(ValueError, match="speedup_low <= speedup <= speedup_high"):
        bench.BenchRow("x", "y", 1.0, 1.0, 2.0, 2.5, 3.0, 4.0)
    with pytest.raises(ValueError, match="BenchRow.ideal must be > 0"):
        bench.BenchRow("x", "y", 1.0, 1.0, 2.0, 2.0, 2.0, 0.0)
    with pytest.raises(ValueError, match="BenchRow.dense_ms must be finite"):
        bench.BenchRow("x", "y", float("inf"), 1.0, 2.0, 2.0, 2.0, 1.0)
    with pytest.raises(TypeError, match="BenchRow.setting must be a str"):
        bench.BenchRow("x", 3, 1.0, 1.0, 2.0, 2.0, 2.0, 1.0)
    with pytest.raises(TypeError, match="Spread"):
        bench.BenchRow.measured("x", "y", 1.0, 1.0, 2.0, 1.0)


def test_bad_benchmark_arguments():
    with pytest.raises(ValueError, match=r"sparsity must be < 1.0, got 1.0"):
        bench.bench_sparse_matmul(8, 2, (1.0,))
    with pytest.raises(ValueError, match="sparsities must not be empty"):
        bench.bench_sparse_matmul(8, 2, ())
    with pytest.raises(ValueError, match=r"n must be in \[1, inf\], got 0"):
        bench.bench_lowrank(0, 2, (1,))
    with pytest.raises(ValueError, match=r"rank must be in \[1, 8\], got 9"):
        bench.bench_lowrank(8, 2, (9,))
    with pytest.raises(ValueError, match="keep fraction must be > 0"):
        bench.bench_structured_lenet((0.0,))
    with pytest.raises(TypeError, match="batch must be an int"):
        bench.bench_dynamic_int8(8, 2.0)
    with pytest.raises(ValueError, match=r"rounds must be in \[1, inf\]"):
        bench.bench_depthwise(4, 4, 1, rounds=0)
    with pytest.raises(TypeError, match="repeats must be an int"):
        bench.bench_depthwise(4, 4, 1, repeats=True)
    with pytest.raises(TypeError, match="quick must be a bool"):
        bench.run_all(quick="yes")


def test_run_all_quick_calls_every_benchmark(monkeypatch):
    called = []
    for name in ("bench_sparse_matmul", "bench_dynamic_int8", "bench_lowrank", "bench_depthwise",
                 "bench_structured_lenet"):
        monkeypatch.setattr(bench, name, lambda *a, _n=name, **kw: called.append((_n, kw)) or
                            [bench.BenchRow(_n, "s", 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)])
    rows = bench.run_all(quick=True, seed=2)
    assert [r.experiment for r in rows] == [c[0] for c in called] and len(rows) == 5
    assert all(kw["rounds"] >= 3 and kw.get("seed", 2) == 2 for _, kw in called)


def test_cli_quick_prints_a_table_with_ranges(capsys, monkeypatch, tmp_path):
    small = [bench.BenchRow("sparse matmul (CSR)", "s", 1.0, 2.0, 0.5, 0.4, 0.6, 2.0)]
    monkeypatch.setattr(bench, "run_all", lambda quick, seed=0: small)
    assert bench.main(["--quick", "--csv", str(tmp_path / "t.csv")]) == 0
    out = capsys.readouterr().out
    assert "experiment" in out and "sparse matmul (CSR)" in out and "efficiency" in out
    assert "0.40–0.60x" in out and "speedup_range" in out
    assert (tmp_path / "t.csv").read_text().startswith("experiment,")


# --- fairness -------------------------------------------------------------------------------

def test_mean_std_known_values():
    s = fairness.mean_std([97.0, 97.2, 97.4])
    assert s.mean == pytest.approx(97.2) and s.std == pytest.approx(0.2) and s.n == 3
    assert (s.min, s.max) == (97.0, 97.4)
    assert s.sem == pytest.approx(0.2 / math.sqrt(3))
    assert str(s) == "97.20 ± 0.20"
    one = fairness.mean_std([5])
    assert one.std == 0.0 and one.mean == 5.0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=20))
def test_mean_std_agrees_with_statistics_module(xs):
    s = fairness.mean_std(xs)
    assert s.mean == pytest.approx(statistics.fmean(xs), abs=1e-9)
    assert s.std == pytest.approx(statistics.stdev(xs), rel=1e-7, abs=1e-7)


def test_run_seeds_and_summarize():
    runs = fairness.run_seeds(lambda seed: {"accuracy": 90.0 + seed, "size_bits": 100}, [0, 1, 2], name="m")
    assert runs.values("accuracy") == [90.0, 91.0, 92.0]
    assert runs.stat("accuracy").std == pytest.approx(1.0)
    other = fairness.run_seeds(lambda seed: {"accuracy": 95.0, "size_bits": 50}, [0, 1, 2], name="n")
    df = fairness.summarize([runs, other])
    assert df.loc["m", "accuracy mean"] == pytest.approx(91.0) and df.loc["n", "size_bits std"] == 0.0
    assert df.loc["m", "runs"] == 3
    assert fairness.distinguishable(runs.stat("accuracy"), other.stat("accuracy"))  # 4 > 2*1
    assert not fairness.distinguishable(runs.stat("accuracy"), fairness.mean_std([91.5, 92.5]))


def test_fairness_bad_input():
    with pytest.raises(ValueError, match="empty"):
        fairness.mean_std([])
    with pytest.raises(TypeError, match="real number"):
        fairness.mean_std([1.0, float("nan")])
    with pytest.raises(TypeError, match="sequence"):
        fairness.mean_std(3.0)
    with pytest.raises(ValueError, match="distinct"):
        fairness.run_seeds(lambda s: {"a": 1}, [0, 0])
    with pytest.raises(ValueError, match="non-negative ints"):
        fairness.run_seeds(lambda s: {"a": 1}, [])
    with pytest.raises(ValueError, match="returned metrics"):
        fairness.run_seeds(lambda s: {"a": 1} if s == 0 else {"b": 1}, [0, 1])
    with pytest.raises(TypeError, match="SeedRuns"):
        fairness.summarize([{"a": 1}])
    with pytest.raises(KeyError, match="no metric"):
        fairness.run_seeds(lambda s: {"a": 1}, [0]).stat("b")
