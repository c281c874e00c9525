"""Unit, closed-form, property and bad-input tests of companion.accelerator (chapter 7).

The oracle test against the real SCALE-Sim lives in test_accelerator_scalesim.py.
"""
import math
import time

import pytest
import torch
from hypothesis import given, settings, strategies as st

from companion import exercises, metrics, models
from companion.accelerator import (Architecture, Chain, Conv2d, Gemm, dense_cycles, effective_reduction,
                                   evaluate_layer, evaluate_network, folds, from_layer_spec, from_module,
                                   precision_time_factor, spatial_dims)
from companion.accelerator.energy import default_energy_table

BIG = dict(ifmap_kb=4096, filter_kb=4096, ofmap_kb=4096)
FAST = settings(max_examples=40, deadline=None)
dims = st.integers(1, 80)
arrays = st.sampled_from([(4, 4), (8, 8), (16, 16), (8, 4), (32, 32)])
dataflows = st.sampled_from(["os", "ws", "is"])
densities = st.floats(0.01, 1.0)


# --- closed forms a student can count by hand ---------------------------------------------

def test_one_fold_by_hand():
    g = Gemm(M=4, K=4, N=4)
    assert evaluate_layer(Architecture(rows=4, cols=4, dataflow="os"), g).cycles == 4 + 4 + 4 - 2
    assert evaluate_layer(Architecture(rows=4, cols=4, dataflow="ws"), g).cycles == 4 + 8 + 4 - 2
    assert evaluate_layer(Architecture(rows=4, cols=4, dataflow="is"), g).cycles == 4 + 8 + 4 - 2


def test_folds_by_hand():
    # M=6, K=5, N=7 on 4x4 OS: ceil(6/4)*ceil(7/4) = 4 folds of 5 + 4 + 4 - 2 = 11 cycles
    rep = evaluate_layer(Architecture(rows=4, cols=4, dataflow="os"), Gemm(M=6, K=5, N=7))
    assert (rep.row_folds, rep.col_folds, rep.cycles) == (2, 2, 44)
    assert rep.utilization == pytest.approx(6 * 5 * 7 / (16 * 44))
    assert rep.scalesim_cycles == 43
    assert spatial_dims("ws", 6, 5, 7) == (5, 7, 6) and folds("is", 6, 5, 7, 4, 4) == (2, 2)


def test_conv_lowering_matches_unfold():
    conv = Conv2d(in_h=11, in_w=9, kernel_h=3, kernel_w=2, in_channels=5, out_channels=7, stride=2)
    g = conv.to_gemm()
    cols = torch.nn.functional.unfold(torch.zeros(1, 5, 11, 9), (3, 2), stride=2)  # [1, K, M]
    assert (g.K, g.M, g.N) == (cols.shape[1], cols.shape[2], 7)
    assert g.input_elements == 11 * 9 * 5


def test_conv_macs_match_torch_hooks():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.Conv2d(8, 8, 3, groups=8))
    work = from_module(net, (1, 3, 17, 17))
    assert sum(w.macs for w in work) == metrics.measure_macs(net, (1, 3, 17, 17))
    assert work[1].groups == 8 and work[1].to_gemm().N == 1


def test_layer_table_macs():
    for name in ("resnet50", "mobilenet_v1", "alexnet"):
        table = models.layer_table(name)
        rep = evaluate_network(Architecture(), table)
        assert rep.macs == table.macs
        assert len(rep) == sum(1 for l in table if l.type != "bn")


def test_depthwise_underuses_the_array():
    table = models.layer_table("mobilenet_v1")
    arch = Architecture(rows=32, cols=32, dataflow="ws")
    dw, pw = evaluate_layer(arch, from_layer_spec(table["conv2.dw"])), evaluate_layer(arch, from_layer_spec(table["conv2.pw"]))
    assert dw.mapping_efficiency == pytest.approx(9 / 32 * 1 / 32)
    assert dw.utilization < 0.01 < 0.3 < pw.utilization


def test_energy_table_from_the_csvs():
    e = default_energy_table()
    assert e.mac_pj(8, 8, 32) == pytest.approx(0.3)
    assert e.mult_pj(32, 32) == pytest.approx(3.2)
    assert e.dram_pj_per_bit == pytest.approx(20.0) and e.sram_pj_per_bit == pytest.approx(5 / 32)
    assert e.hop_pj_per_bit == pytest.approx(2 * e.rf_pj_per_bit)


def test_chain_sums_its_parts():
    arch = Architecture(rows=8, cols=8, dataflow="os")
    a, b = Gemm(M=10, K=300, N=20), Gemm(M=10, K=20, N=100)
    rep = evaluate_layer(arch, Chain((a, b), name="svd"))
    ra, rb = evaluate_layer(arch, a), evaluate_layer(arch, b)
    assert rep.cycles == ra.cycles + rb.cycles and rep.macs == ra.macs + rb.macs
    assert rep.energy_pj == pytest.approx(ra.energy_pj + rb.energy_pj) and len(rep.parts) == 2


def test_nm_shrinks_k_only_with_support():
    g = Gemm(M=64, K=64, N=32, nm=(2, 4))
    dense = Architecture(rows=8, cols=8, dataflow="os")
    nm = Architecture(rows=8, cols=8, dataflow="os", nm_support=True)
    assert evaluate_layer(dense, g).cycles == dense_cycles("os", 64, 64, 32, 8, 8)
    assert evaluate_layer(nm, g).k_eff == 32
    assert evaluate_layer(nm, g).cycles == dense_cycles("os", 64, 32, 32, 8, 8)
    # the dense array still gates the zero MACs: half the MAC energy, same time
    assert evaluate_layer(dense, g).energy_mac_pj == pytest.approx(0.5 * evaluate_layer(dense, Gemm(M=64, K=64, N=32)).energy_mac_pj)


def test_sparse_engine_at_full_density_is_the_dense_array():
    g = Gemm(M=50, K=300, N=40)
    for df in ("os", "ws", "is"):
        dense = evaluate_layer(Architecture(dataflow=df), g)
        sparse = evaluate_layer(Architecture(dataflow=df, engine="sparse"), g)
        assert sparse.cycles == dense.cycles


def test_load_imbalance():
    assert effective_reduction(1000, 0.1, lanes=1) == 100
    assert 100 < effective_reduction(1000, 0.1, lanes=1024) < 200
    assert effective_reduction(1000, 1.0, lanes=1024) == 1000


def test_bit_engines():
    assert precision_time_factor("bit_serial", 8, 4, 8) == 0.5
    assert precision_time_factor("bit_fusion", 4, 4, 8) == 0.25
    assert precision_time_factor("bit_fusion", 3, 5, 8) == 4 * 8 / 64  # rounded to bricks 4 and 8
    g8, g4 = Gemm(M=256, K=64, N=16), Gemm(M=256, K=64, N=16, weight_bits=4, act_bits=4)
    for engine in ("bit_serial", "bit_fusion"):
        arch = Architecture(rows=8, cols=8, dataflow="ws", engine=engine)
        assert evaluate_layer(arch, g8).cycles == evaluate_layer(Architecture(rows=8, cols=8, dataflow="ws"), g8).cycles
        assert evaluate_layer(arch, g4).cycles < evaluate_layer(arch, g8).cycles


def test_refetch_when_the_ifmap_does_not_fit():
    conv = Conv2d(in_h=58, in_w=58, kernel_h=3, kernel_w=3, in_channels=64, out_channels=256)
    fits = evaluate_layer(Architecture(dataflow="ws"), conv)
    small = evaluate_layer(Architecture(dataflow="ws", ifmap_kb=64), conv)
    assert fits.dram_ifmap_bits == 58 * 58 * 64 * 8
    assert small.dram_ifmap_bits == fits.dram_ifmap_bits * small.col_folds
    assert small.energy_dram_pj > fits.energy_dram_pj


def test_partial_sum_tiling():
    g = Gemm(M=3136, K=576, N=64)
    big = evaluate_layer(Architecture(dataflow="ws", ofmap_kb=4096), g)
    small = evaluate_layer(Architecture(dataflow="ws", ofmap_kb=64), g)
    assert big.tiles == 1 and small.tiles > 1
    # issue 13: the tiling is a stall, reported apart; `cycles` stays SCALE-Sim's compute count
    assert small.cycles == big.cycles == dense_cycles("ws", 3136, 576, 64, 32, 32)
    assert big.stall_cycles == 0 and small.stall_cycles == (small.tiles - 1) * small.folds * (2 * 32 + 32 - 2)
    assert small.latency_cycles == small.cycles + small.stall_cycles > big.latency_cycles
    assert "stall cycles" in str(small) and "stall" not in str(big)


@FAST
@given(M=dims, K=st.integers(1, 400), N=dims, df=dataflows, kb=st.sampled_from([1, 4, 16, 64, 128, 4096]))
def test_cycles_do_not_depend_on_buffer_sizes(M, K, N, df, kb):
    g = Gemm(M=M, K=K, N=N)
    small = evaluate_layer(Architecture(rows=8, cols=8, dataflow=df, ifmap_kb=kb, filter_kb=kb, ofmap_kb=kb), g)
    assert small.cycles == dense_cycles(df, M, K, N, 8, 8)
    assert small.latency_cycles == max(small.cycles + small.stall_cycles, small.memory_cycles)
    assert small.stall_cycles >= 0 and (small.stall_cycles == 0) == (small.tiles == 1)


def test_network_report_and_per_layer_budgets():
    table = models.layer_table("alexnet")
    arch = Architecture(engine="sparse", skip="weights")
    dense = evaluate_network(arch, table)
    names = [l.name for l in table if l.type != "bn"]
    pruned = evaluate_network(arch, table, densities={"fc6": 0.09, "fc7": 0.09}, bits=[8] * 5 + [4] * 3)
    assert pruned.cycles < dense.cycles and pruned.energy_pj < dense.energy_pj
    assert sum(pruned.energy_breakdown.values()) == pytest.approx(pruned.energy_pj)
    df = pruned.to_frame()
    assert list(df.index) == names and df["energy_pj"].sum() == pytest.approx(pruned.energy_pj)
    assert pruned.latency_s == pytest.approx(pruned.latency_cycles / 1e9)
    assert "alexnet" in str(pruned)


def test_resnet50_is_fast():
    arch, table = Architecture(), models.layer_table("resnet50")
    evaluate_network(arch, table)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        evaluate_network(arch, table)
        times.append(time.perf_counter() - t0)
    assert min(times) < 0.05  # the slider budget (measured in the chapter)


def test_exercise_solutions():
    from companion.accelerator import dense_cycles as dc
    exercises.check("ch7.gemm_cycles_4x4", 44)  # raises ExerciseError when wrong
    exercises.check("ch7.ws_cycles", lambda M, K, N, R, C: dc("ws", M, K, N, R, C))
    with pytest.raises(exercises.ExerciseError):
        exercises.check("ch7.gemm_cycles_4x4", 43)
    with pytest.raises(exercises.ExerciseError):
        exercises.check("ch7.dataflow_1x1", "nonsense")
    assert len(exercises.exercises("ch7")) >= 3


# --- properties ----------------------------------------------------------------------------

@FAST
@given(M=dims, K=dims, N=dims, rc=arrays, df=dataflows)
def test_breakdown_sums_and_bounds(M, K, N, rc, df):
    rep = evaluate_layer(Architecture(rows=rc[0], cols=rc[1], dataflow=df), Gemm(M=M, K=K, N=N))
    assert sum(rep.energy_breakdown.values()) == pytest.approx(rep.energy_pj)
    assert 0 < rep.utilization <= rep.mapping_efficiency <= 1
    assert rep.cycles >= math.ceil(M * K * N / (rc[0] * rc[1]))
    assert rep.latency_cycles >= rep.cycles + rep.stall_cycles


@FAST
@given(M=dims, K=st.integers(1, 400), N=dims, df=dataflows, skip=st.sampled_from(["weights", "activations", "both"]),
       d1=densities, d2=densities, da=densities)
def test_more_sparsity_never_costs_more_on_a_sparse_engine(M, K, N, df, skip, d1, d2, da):
    arch = Architecture(rows=8, cols=8, dataflow=df, engine="sparse", skip=skip)
    lo, hi = sorted((d1, d2))
    sparse = evaluate_layer(arch, Gemm(M=M, K=K, N=N, weight_density=lo, act_density=da))
    denser = evaluate_layer(arch, Gemm(M=M, K=K, N=N, weight_density=hi, act_density=da))
    assert sparse.cycles <= denser.cycles
    assert sparse.energy_pj <= denser.energy_pj * (1 + 1e-12)


@FAST
@given(M=dims, K=dims, N=dims, df=dataflows, engine=st.sampled_from(["dense", "sparse", "bit_serial", "bit_fusion"]),
       b1=st.integers(1, 16), b2=st.integers(1, 16), wa=st.booleans())
def test_fewer_bits_never_cost_more(M, K, N, df, engine, b1, b2, wa):
    arch = Architecture(rows=8, cols=8, dataflow=df, engine=engine)
    lo, hi = sorted((b1, b2))
    field = "weight_bits" if wa else "act_bits"
    narrow = evaluate_layer(arch, Gemm(M=M, K=K, N=N, **{field: lo}))
    wide = evaluate_layer(arch, Gemm(M=M, K=K, N=N, **{field: hi}))
    assert narrow.energy_pj <= wide.energy_pj * (1 + 1e-12)
    assert narrow.cycles <= wide.cycles


@FAST
@given(a=st.integers(1, 4), b=st.integers(1, 4), fr=st.integers(1, 4), fc=st.integers(1, 4),
       T=st.integers(1, 100), df=dataflows)
def test_a_bigger_array_is_never_slower_on_a_layer_that_fills_it(a, b, fr, fc, T, df):
    R, C = 4, 4
    Sr, Sc = fr * a * R, fc * b * C  # multiples of the bigger array
    M, K, N = {"os": (Sr, T, Sc), "ws": (T, Sr, Sc), "is": (Sc, Sr, T)}[df]
    small = evaluate_layer(Architecture(rows=R, cols=C, dataflow=df, **BIG), Gemm(M=M, K=K, N=N))
    big = evaluate_layer(Architecture(rows=a * R, cols=b * C, dataflow=df, **BIG), Gemm(M=M, K=K, N=N))
    assert big.cycles <= small.cycles


def test_a_bigger_array_can_be_slower_on_a_tiny_layer():
    g = Gemm(M=4, K=4, N=4)  # fill/drain dominates: the honest counter-example
    assert evaluate_layer(Architecture(rows=32, cols=32, dataflow="os"), g).cycles > \
        evaluate_layer(Architecture(rows=4, cols=4, dataflow="os"), g).cycles


# --- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("kw, exc, words", [
    (dict(rows=0), ValueError, "rows"),
    (dict(cols=-3), ValueError, "cols"),
    (dict(rows=2.5), TypeError, "rows"),
    (dict(dataflow="rs"), ValueError, "dataflow"),
    (dict(engine="tpu"), ValueError, "engine"),
    (dict(skip="zeros"), ValueError, "skip"),
    (dict(clock_ghz=0), ValueError, "clock_ghz"),
])
def test_bad_architecture(kw, exc, words):
    with pytest.raises(exc, match=words):
        Architecture(**kw)


@pytest.mark.parametrize("kw, words", [
    (dict(weight_density=0.0), "weight_density"),
    (dict(weight_density=1.5), "weight_density"),
    (dict(act_density=-0.1), "act_density"),
    (dict(weight_bits=0), "weight_bits"),
    (dict(act_bits=0), "act_bits"),
    (dict(nm=(3, 2)), "nm"),
    (dict(M=0), "M"),
])
def test_bad_workload(kw, words):
    base = dict(M=4, K=4, N=4)
    base.update(kw)
    with pytest.raises(ValueError, match=words):
        Gemm(**base)


def test_bad_conv_and_calls():
    with pytest.raises(ValueError, match="larger than"):
        Conv2d(in_h=2, in_w=2, kernel_h=3, kernel_w=3, in_channels=1, out_channels=1)
    with pytest.raises(ValueError, match="groups"):
        Conv2d(in_h=5, in_w=5, kernel_h=3, kernel_w=3, in_channels=3, out_channels=4, groups=2)
    with pytest.raises(TypeError, match="workload"):
        evaluate_layer(Architecture(), "conv1")
    with pytest.raises(TypeError, match="arch"):
        evaluate_layer("32x32", Gemm(M=1, K=1, N=1))
    with pytest.raises(ValueError, match="densities"):
        evaluate_network(Architecture(), models.layer_table("alexnet"), densities=[0.5, 0.5])
    with pytest.raises(ValueError, match="unknown layer"):
        evaluate_network(Architecture(), models.layer_table("alexnet"), bits={"conv99": 4})
    with pytest.raises(ValueError, match="in \\(0, 1\\]"):
        evaluate_network(Architecture(), models.layer_table("alexnet"), densities=0)


def test_network_level_nm_and_module_densities():
    table = models.layer_table("resnet18")
    arch = Architecture(dataflow="os", nm_support=True)
    dense, nm = evaluate_network(arch, table), evaluate_network(arch, table, nm=(2, 4))
    assert nm.cycles < dense.cycles and all(l.k_eff == -(-l.K // 2) for l in nm)
    model = models.build("lenet300")
    with torch.no_grad():
        model.fc1.weight[:, :392] = 0  # half of fc1's weights
    work = from_module(model, act_density={"fc2": 0.5})
    assert work[0].weight_density == pytest.approx(0.5) and work[1].act_density == 0.5
    assert work[0].act_density == 1.0


def test_input_densities_measures_relu_zeros():
    from companion.accelerator import input_densities
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    d = input_densities(model, torch.randn(64, 4, generator=torch.Generator().manual_seed(0)))
    assert d["0"] == 1.0 and 0 < d["2"] < 1
    with pytest.raises(TypeError, match="nn.Module"):
        input_densities("lenet", torch.zeros(1))
