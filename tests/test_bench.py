"""Tests of companion.bench (shapes, ideal ratios, the CLI) and companion.fairness (statistics on known inputs).

No test asserts a timing: speed depends on the machine.
"""
import math
import statistics

import pytest
from hypothesis import given, settings, strategies as st

from companion import bench, fairness, metrics, models


# --- bench ----------------------------------------------------------------------------------

def test_time_ms_positive_and_checks_input():
    assert bench.time_ms(lambda: sum(range(100)), repeats=3, warmup=1) > 0
    with pytest.raises(TypeError, match="callable"):
        bench.time_ms(3)
    with pytest.raises(ValueError, match="repeats must be"):
        bench.time_ms(lambda: None, repeats=0)


def test_ideal_ratios_follow_their_formulas():
    rows = bench.bench_sparse_matmul(64, 4, (0.5, 0.9), repeats=1)
    assert [r.ideal for r in rows] == pytest.approx([2.0, 10.0])
    rows = bench.bench_lowrank(64, 4, (8,), repeats=1)
    assert rows[0].ideal == pytest.approx(64 * 64 / (2 * 64 * 8))
    (dw,) = bench.bench_depthwise(8, 6, 1, repeats=1)
    assert dw.ideal == pytest.approx(9 * 64 / (9 * 8 + 64))
    (q,) = bench.bench_dynamic_int8(32, 2, 1, repeats=1)
    assert q.ideal == 4.0 and q.basis == "bits"
    (s,) = bench.bench_structured_lenet((0.5,), 2, repeats=1)
    small = models.LeNet5(channels=(10, 25), hidden=250)
    assert s.ideal == pytest.approx(metrics.measure_macs(models.LeNet5()) / metrics.measure_macs(small))
    for r in rows + [dw, q, s]:
        assert r.dense_ms > 0 and r.compressed_ms > 0
        assert r.speedup == pytest.approx(r.dense_ms / r.compressed_ms)
        assert r.efficiency == pytest.approx(r.speedup / r.ideal)


def test_to_frame_columns_and_bad_rows():
    df = bench.to_frame([bench.BenchRow("x", "y", 2.0, 1.0, 4.0)])
    assert list(df.columns) == ["experiment", "setting", "dense_ms", "compressed_ms", "speedup", "ideal", "basis",
                                "efficiency"]
    assert df.loc[0, "speedup"] == 2.0 and df.loc[0, "efficiency"] == 0.5
    with pytest.raises(TypeError, match="BenchRow"):
        bench.to_frame([{"a": 1}])


def test_bad_benchmark_arguments():
    with pytest.raises(ValueError, match=r"sparsity must be a number in \[0, 1\)"):
        bench.bench_sparse_matmul(8, 2, (1.0,))
    with pytest.raises(ValueError, match="n must be a positive int"):
        bench.bench_lowrank(0, 2, (1,))
    with pytest.raises(ValueError, match="keep fraction"):
        bench.bench_structured_lenet((0.0,))


def test_cli_quick_prints_a_table(capsys, monkeypatch, tmp_path):
    small = [bench.BenchRow("sparse matmul (CSR)", "s", 1.0, 2.0, 2.0)]
    monkeypatch.setattr(bench, "run_all", lambda quick, seed=0: small)
    assert bench.main(["--quick", "--csv", str(tmp_path / "t.csv")]) == 0
    out = capsys.readouterr().out
    assert "experiment" in out and "sparse matmul (CSR)" in out and "efficiency" in out
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
