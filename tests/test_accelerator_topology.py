"""SCALE-Sim's output-size convention and ``read_scalesim_topology`` (issue: odd strides).

SCALE-Sim v3.0.0 sizes a convolution's output ``ceil((in − k + s) / s)`` on the padded input,
PyTorch ``(in + 2p − k) // s + 1``. The library keeps PyTorch's size by default (``Conv2d``,
``from_layer_spec``) and lowers a SCALE-Sim topology CSV with SCALE-Sim's
(``read_scalesim_topology`` -> ``ScaleSimConv2d``) so that cycles and SRAM counts equal the
simulator's.
"""
import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.accelerator import (Architecture, Conv2d, ScaleSimConv2d, evaluate_layer, from_layer_spec,
                                   pytorch_output_size, read_scalesim_topology, scalesim_output_size)

DATA = Path(__file__).resolve().parent.parent / "data" / "scalesim"
HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


def _write(tmp_path, text, name="topo.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _topology_row(r):
    cols = ("name", "in_h", "in_w", "kernel_h", "kernel_w", "in_channels", "out_channels", "stride")
    return ", ".join(r[c] for c in cols) + ",\n"


# --- the two conventions ----------------------------------------------------------------------

sizes = st.tuples(st.integers(1, 40), st.integers(1, 9), st.integers(1, 5), st.integers(0, 3)).filter(
    lambda t: t[1] <= t[0] + 2 * t[3])


@settings(max_examples=200, deadline=None)
@given(sizes)
def test_scalesim_size_is_pytorch_size_or_one_more(t):
    in_px, k, s, p = t
    padded = in_px + 2 * p
    ours, theirs = pytorch_output_size(in_px, k, s, p), scalesim_output_size(padded, k, s)
    assert theirs - ours == (1 if (padded - k) % s else 0)
    assert ours == len(range(0, padded - k + 1, s))          # windows that fit the padded input
    assert theirs == -(-(padded - k) // s) + 1                 # ceil((in − k) / s) + 1


@settings(max_examples=40, deadline=None)
@given(sizes, sizes)
def test_default_lowering_gives_pytorchs_output_size(th, tw):
    """``from_layer_spec`` / ``Conv2d`` keep the real layer's (PyTorch's) output size, odd strides included."""
    import torch
    from companion.models import LayerSpec
    (h, kh, s, p), (w, kw, _, _) = th, tw
    if kw > w + 2 * p:
        return
    spec = LayerSpec(name="c", type="conv", in_c=1, in_h=h, in_w=w, out_c=1, k_h=kh, k_w=kw, stride=s, pad=p)
    conv = from_layer_spec(spec)
    out = torch.nn.functional.conv2d(torch.zeros(1, 1, h, w), torch.zeros(1, 1, kh, kw), stride=s, padding=p)
    assert (conv.out_h, conv.out_w) == tuple(out.shape[2:]) == (spec.out_h, spec.out_w)
    assert conv.to_gemm().M == out.shape[2] * out.shape[3]
    ss = ScaleSimConv2d(**{f: getattr(conv, f) for f in ("in_h", "in_w", "kernel_h", "kernel_w", "in_channels",
                                                         "out_channels", "stride")})
    assert (ss.out_h, ss.out_w) == (scalesim_output_size(h + 2 * p, kh, s), scalesim_output_size(w + 2 * p, kw, s))


def test_output_size_functions_reject_bad_input():
    with pytest.raises(ValueError, match="larger than the padded input"):
        pytorch_output_size(2, 3)
    with pytest.raises(ValueError, match="stride must be an int >= 1"):
        scalesim_output_size(5, 3, 0)


# --- the issue's SCALE-Sim 3.0.0 measurements ---------------------------------------------------

# 10x10x4 input, 3x3 kernel, stride 2 on a 16x16 OS array: SCALE-Sim 3.0.0 prints 131 cycles
# (5x5 = 25 output pixels -> 2 row folds); PyTorch's 4x4 = 16 pixels give 65. The number of
# filters does not change either value as long as it is <= 16 (one column fold).
ODD_OS16_SCALESIM, ODD_OS16_PYTORCH = 131, 65
# ResNet-50 layer4.0.conv2 (14x14 padded to 16x16, 512 -> 512, 3x3, stride 2) on a 32x32 WS
# array: SCALE-Sim 3.0.0 prints 364,031 (8x8 outputs); PyTorch's 7x7 give 329,471.
RESNET_WS32_SCALESIM, RESNET_WS32_PYTORCH = 364_031, 329_471


@pytest.mark.parametrize("filters", [1, 8, 16])
def test_issue_example_os16(tmp_path, filters):
    topo = _write(tmp_path, HEADER + f"conv_3x3_s2_odd, 10, 10, 3, 3, 4, {filters}, 2,\n")
    (layer,) = read_scalesim_topology(topo)
    arch = Architecture(rows=16, cols=16, dataflow="os")
    assert isinstance(layer, ScaleSimConv2d) and (layer.out_h, layer.out_w) == (5, 5)
    assert evaluate_layer(arch, layer).scalesim_cycles == ODD_OS16_SCALESIM
    default = Conv2d(in_h=10, in_w=10, kernel_h=3, kernel_w=3, in_channels=4, out_channels=filters, stride=2)
    assert (default.out_h, default.out_w) == (4, 4)
    assert evaluate_layer(arch, default).scalesim_cycles == ODD_OS16_PYTORCH


def test_issue_example_resnet50_layer4_0_conv2(tmp_path):
    from companion.models import layer_table
    spec = next(l for l in layer_table("resnet50") if l.name == "layer4.0.conv2")
    arch = Architecture(rows=32, cols=32, dataflow="ws")
    default = from_layer_spec(spec)
    assert (default.out_h, default.out_w) == (spec.out_h, spec.out_w) == (7, 7)
    assert evaluate_layer(arch, default).scalesim_cycles == RESNET_WS32_PYTORCH
    topo = _write(tmp_path, HEADER + "layer4.0.conv2, 16, 16, 3, 3, 512, 512, 2,\n")
    (layer,) = read_scalesim_topology(topo)
    assert (layer.out_h, layer.out_w) == (8, 8)
    assert evaluate_layer(arch, layer).scalesim_cycles == RESNET_WS32_SCALESIM


# --- the reader reproduces the whole reference table -------------------------------------------

with open(DATA / "reference.csv", newline="") as _f:
    CONV_ROWS = [r for r in csv.DictReader(_f) if r["kind"] == "conv"]
ODD_CSV = DATA / "odd_stride.csv"
ODD_ROWS = []
if ODD_CSV.exists():  # written by `make_reference.py --odd-stride` where SCALE-Sim is installed
    with open(ODD_CSV, newline="") as _f:
        ODD_ROWS = list(csv.DictReader(_f))


def _check_row(tmp_path, r):
    (layer,) = read_scalesim_topology(_write(tmp_path, HEADER + _topology_row(r)))
    arch = Architecture(rows=int(r["rows"]), cols=int(r["cols"]), dataflow=r["dataflow"],
                        ifmap_kb=4096, filter_kb=4096, ofmap_kb=4096)
    rep = evaluate_layer(arch, layer)
    assert rep.scalesim_cycles == int(r["total_cycles"])
    assert rep.sram_ifmap_reads == int(r["ifmap_sram_reads"])
    assert rep.sram_filter_reads == int(r["filter_sram_reads"])
    assert rep.scalesim_ofmap_writes == int(r["ofmap_sram_writes"])
    assert rep.mapping_efficiency * 100 == pytest.approx(float(r["mapping_eff_pct"]), abs=1e-3)
    assert rep.scalesim_utilization * 100 == pytest.approx(float(r["compute_util_pct"]), abs=1e-3)


@pytest.mark.parametrize("r", CONV_ROWS, ids=lambda r: f"{r['name']}-{r['rows']}x{r['cols']}-{r['dataflow']}")
def test_reader_reproduces_reference_conv_rows(tmp_path, r):
    _check_row(tmp_path, r)


@pytest.mark.skipif(not ODD_ROWS, reason="data/scalesim/odd_stride.csv not generated (needs scalesim 3.0.0)")
@pytest.mark.parametrize("r", ODD_ROWS or [None],
                         ids=lambda r: f"{r['name']}-{r['rows']}x{r['cols']}-{r['dataflow']}" if r else "none")
def test_reader_reproduces_odd_stride_rows(tmp_path, r):
    _check_row(tmp_path, r)


def test_reader_whole_file_depthwise_and_no_trailing_comma(tmp_path):
    text = ("Layer name,IFMAP Height,IFMAP Width,Filter Height,Filter Width,Channels,Num Filter,Strides\n"
            "conv7, 20, 14, 7, 7, 3, 6, 2\n\n"
            "DPconv, 10, 10, 3, 3, 6, 2, 2\n")
    a, b = read_scalesim_topology(_write(tmp_path, text))
    assert (a.name, a.out_h, a.out_w, a.groups, a.to_gemm().M) == ("conv7", 8, 5, 1, 40)
    g = b.to_gemm()  # SCALE-Sim: one layer per channel, each 1 channel x 2 filters
    assert (b.groups, g.M, g.K, g.N, b.out_channels) == (6, 25, 9, 2, 12)
    assert evaluate_layer(Architecture(rows=4, cols=4, dataflow="ws"), b).gemms == 6


# --- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, match", [
    ("", "empty file"),
    (HEADER, "no layer rows"),
    ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Strides,\nc,1,1,1,1,1,1,\n",
     r"row 1 \(header\).*missing \['Num Filter'\]"),
    (HEADER + "c, 10, ten, 3, 3, 4, 8, 1,\n", r"row 2 \(c\): 'IFMAP Width' must be an integer >= 1, got 'ten'"),
    (HEADER + "c, 10, 10, 3.5, 3, 4, 8, 1,\n", r"'Filter Height' must be an integer >= 1, got '3.5'"),
    (HEADER + "c, 10, 10, 3, 3, 4, 8, 0,\n", r"'Strides' must be an integer >= 1, got '0'"),
    (HEADER + "ok, 10, 10, 3, 3, 4, 8, 1,\nbig, 4, 10, 5, 3, 4, 8, 1,\n",
     r"row 3 \(big\): filter 5x3 is larger than the IFMAP 4x10.*Filter Height <= IFMAP Height"),
    (HEADER + "c, 10, 10, 3, 3, 4, 8,\n", r"row 2 \(c\): 'Strides' must be an integer >= 1, got '' \(missing\)"),
    (HEADER + "c, 10, 10, 3, 3, 4\n", r"row 2: expected 8 values"),
    (HEADER + "c, 10, 10, 3, 3, 4, 8, 1, 7,\n", r"row 2: 9 values, expected 8.*extra: \['7'\]"),
    (HEADER + ", 10, 10, 3, 3, 4, 8, 1,\n", r"row 2: empty 'Layer name'"),
])
def test_reader_rejects_bad_files(tmp_path, text, match):
    p = _write(tmp_path, text, "bad_topo.csv")
    with pytest.raises(ValueError, match=match) as e:
        read_scalesim_topology(p)
    assert "bad_topo.csv" in str(e.value)


def test_reader_rejects_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"nope\.csv.*no such file"):
        read_scalesim_topology(tmp_path / "nope.csv")
