"""Regenerate ``data/scalesim/reference.csv`` with the real SCALE-Sim (v3.0.0).

The reference table that ``tests/test_accelerator_scalesim.py`` checks the companion's
accelerator model against: dense compute cycles and SRAM access counts of a set of conv and
GEMM layers x the three dataflows (os / ws / is) x several array sizes.

SCALE-Sim needs ``numpy<2.4``, so run this script in a venv of its own (never the book's)::

    python3 -m venv /tmp/ssim && /tmp/ssim/bin/pip install scalesim==3.0.0 "numpy<2.4"
    /tmp/ssim/bin/python data/scalesim/make_reference.py            # writes reference.csv
    /tmp/ssim/bin/python data/scalesim/make_reference.py --buffer-sweep   # writes buffer_sweep.csv
    /tmp/ssim/bin/python data/scalesim/make_reference.py --odd-stride     # writes odd_stride.csv

Pitfalls it handles (see the project's TOOLING notes): every topology row ends with a comma;
a layout file must exist even though no custom layout is used; the simulator writes large
traces, so it runs in a temporary folder with traces off. SRAMs are made large (so no layer
refetches from DRAM) and the interface bandwidth is estimated (``CALC``) so there are no
stall cycles: the table records pure compute cycles.

Columns: kind (conv | gemm), name, the layer's dimensions (conv: in_h, in_w, kernel_h,
kernel_w, in_channels, out_channels, stride; gemm: M, K, N), rows, cols, dataflow, then
SCALE-Sim's outputs: total_cycles ("Total Cycles" of COMPUTE_REPORT.csv: compute cycles, no
prefetch), stall_cycles, mapping_eff_pct, compute_util_pct, ifmap_sram_reads,
filter_sram_reads, ofmap_sram_writes (DETAILED_ACCESS_REPORT.csv).
"""
from __future__ import annotations

import csv
import io
import os
import sys
import tempfile
from contextlib import redirect_stdout
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (name, in_h, in_w, kernel_h, kernel_w, in_channels, out_channels, stride) — inputs already padded
CONV_LAYERS = [
    ("conv_3x3_small", 10, 10, 3, 3, 4, 8, 1),
    ("conv_5x5_s2", 15, 15, 5, 5, 3, 12, 2),
    ("conv_1x1", 8, 8, 1, 1, 16, 20, 1),
    ("lenet_conv2", 12, 12, 5, 5, 20, 50, 1),
    ("conv_3x3_wide", 9, 9, 3, 3, 8, 40, 1),
    ("DPconv_3x3", 10, 10, 3, 3, 6, 1, 1),  # "DP" in the name: SCALE-Sim splits it into one layer per channel
]
# Odd-stride layers: (in − kernel) is not a multiple of the stride (in one or both dimensions),
# where SCALE-Sim's output size ceil((in − k + s) / s) is one more than PyTorch's
# (in − k) // s + 1. Written to odd_stride.csv by ``--odd-stride`` (every array and dataflow),
# plus ResNet-50's layer4.0.conv2 (14x14 padded to 16x16, 512 -> 512, 3x3, stride 2) on the
# 32x32 WS array only (it is slow to simulate).
ODD_STRIDE_LAYERS = [
    ("conv_3x3_s2_odd", 10, 10, 3, 3, 4, 16, 2),     # 7 % 2 = 1: 5x5 vs PyTorch's 4x4
    ("conv_5x5_s3_odd", 16, 16, 5, 5, 3, 8, 3),      # 11 % 3 = 2: 5x5 vs 4x4
    ("conv_7x7_s2_rect", 20, 14, 7, 7, 3, 6, 2),     # 13 % 2 = 1, 7 % 2 = 1: 8x5 vs 7x4
    ("conv_2x2_s3_mixed", 11, 12, 2, 2, 5, 7, 3),    # height 9 % 3 = 0 (4 = 4), width 10 % 3 = 1: 5 vs 4
    ("DPconv_3x3_s2_odd", 10, 10, 3, 3, 6, 1, 2),    # depthwise, 7 % 2 = 1
]
ODD_STRIDE_RESNET = ("resnet50_layer4.0.conv2", 16, 16, 3, 3, 512, 512, 2)

# (name, M, K, N)
GEMM_LAYERS = [
    ("gemm_tiny", 4, 4, 4),
    ("gemm_odd", 7, 13, 5),
    ("gemm_fc", 6, 100, 10),
    ("gemm_tall", 70, 9, 24),
    ("gemm_wide", 12, 40, 66),
]
ARRAYS = [(4, 4), (8, 8), (16, 16), (8, 4), (32, 32)]
DATAFLOWS = ["os", "ws", "is"]

CONFIG = """[general]
run_name = ref

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:    {buffer_kb}
FilterSramSzkB:   {buffer_kb}
OfmapSramSzkB:    {buffer_kb}
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Dataflow : {dataflow}
Bandwidth : 10
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

CONV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
GEMM_HEADER = "Layer, M, N, K,\n"


def _read_report(path: Path) -> list[list[str]]:
    rows = []
    with open(path) as f:
        next(f)
        for line in f:
            if line.strip():
                rows.append([c.strip() for c in line.strip().rstrip(",").split(",")])
    return rows


def simulate(kind: str, layers: list[tuple], rows: int, cols: int, dataflow: str,
             buffer_kb: int = 4096) -> list[dict]:
    """Run SCALE-Sim on ``layers`` (all of one kind) for one array, every SRAM ``buffer_kb``
    kilobytes; one dict per layer."""
    from scalesim.scale_sim import scalesim
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "cfg.cfg").write_text(CONFIG.format(rows=rows, cols=cols, dataflow=dataflow, buffer_kb=buffer_kb))
        topo = tmp / "topo.csv"
        with open(topo, "w") as f:
            if kind == "conv":
                f.write(CONV_HEADER)
                for name, *dims in layers:
                    f.write(", ".join([name] + [str(d) for d in dims]) + ",\n")
            else:
                f.write(GEMM_HEADER)
                for name, m, k, n in layers:  # SCALE-Sim's GEMM rows are M, N, K
                    f.write(f"{name}, {m}, {n}, {k},\n")
        layout = tmp / "layout.csv"
        layout.write_text(CONV_HEADER)  # must exist; no custom layout is used
        with redirect_stdout(io.StringIO()):
            sim = scalesim(save_disk_space=True, verbose=False, config=str(tmp / "cfg.cfg"),
                           topology=str(topo), layout=str(layout), input_type_gemm=(kind == "gemm"))
            sim.run_scale(top_path=str(tmp / "out"))
        compute = _read_report(tmp / "out" / "ref" / "COMPUTE_REPORT.csv")
        detail = _read_report(tmp / "out" / "ref" / "DETAILED_ACCESS_REPORT.csv")
    # a depthwise ("DP") layer comes back as one report row per channel: sum them
    per_layer = []
    i = 0
    for layer in layers:
        n = layer[5] if "DP" in layer[0] else 1
        c_rows, d_rows = compute[i:i + n], detail[i:i + n]
        i += n
        c = [0.0] * len(c_rows[0])
        d = [0.0] * len(d_rows[0])
        for cr, dr in zip(c_rows, d_rows):
            for j in range(1, len(cr)):
                c[j] += float(cr[j]) / (n if j >= 4 else 1)  # percentages: the mean over channels
            for j in range(1, len(dr)):
                d[j] += float(dr[j])
        per_layer.append((layer, c, d))
    assert i == len(compute), f"{len(compute)} report rows for {i} expected"
    out = []
    for layer, c, d in per_layer:
        name, *dims = layer
        row = {"kind": kind, "name": name}
        if kind == "conv":
            row.update(dict(zip(("in_h", "in_w", "kernel_h", "kernel_w", "in_channels", "out_channels", "stride"), dims)))
        else:
            row.update(dict(zip(("M", "K", "N"), dims)))
        row.update(rows=rows, cols=cols, dataflow=dataflow,
                   total_cycles=int(float(c[2])), stall_cycles=int(float(c[3])),
                   mapping_eff_pct=round(float(c[5]), 4), compute_util_pct=round(float(c[6]), 4),
                   ifmap_sram_reads=int(float(d[3])), filter_sram_reads=int(float(d[6])),
                   ofmap_sram_writes=int(float(d[9])))
        out.append(row)
    return out


FIELDS = ["kind", "name", "in_h", "in_w", "kernel_h", "kernel_w", "in_channels", "out_channels", "stride",
          "M", "K", "N", "rows", "cols", "dataflow", "total_cycles", "stall_cycles", "mapping_eff_pct",
          "compute_util_pct", "ifmap_sram_reads", "filter_sram_reads", "ofmap_sram_writes"]


# Issue 13: compute cycles must not depend on the buffer sizes. AlexNet conv1 (227x227x3, 11x11,
# stride 4, 96 filters) on a 32x32 WS array with every SRAM at each size (64 KB is SCALE-Sim's
# own small-buffer setting; 16 KB forces the model's partial-sum tiling hard). About 70 s per run.
BUFFER_SWEEP_LAYER = ("alexnet_conv1", 227, 227, 11, 11, 3, 96, 4)
BUFFER_SWEEP_KB = [4096, 64, 16]


def buffer_sweep(path: Path = HERE / "buffer_sweep.csv") -> None:
    """Write ``buffer_sweep.csv``: the reference columns plus ``buffer_kb``."""
    rows = []
    for kb in BUFFER_SWEEP_KB:
        for row in simulate("conv", [BUFFER_SWEEP_LAYER], 32, 32, "ws", buffer_kb=kb):
            rows.append({**row, "buffer_kb": kb})
            print(f"{BUFFER_SWEEP_LAYER[0]} 32x32 ws, {kb} KB buffers: {row['total_cycles']} cycles", file=sys.stderr)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS + ["buffer_kb"], restval="")
        w.writeheader()
        w.writerows(rows)


def odd_stride(path: Path = HERE / "odd_stride.csv") -> None:
    """Write ``odd_stride.csv`` (the reference columns): :data:`ODD_STRIDE_LAYERS` on every array
    and dataflow, and :data:`ODD_STRIDE_RESNET` on the 32x32 WS array."""
    import scalesim  # noqa: F401
    rows = []
    for r, c in ARRAYS:
        for df in DATAFLOWS:
            rows += simulate("conv", ODD_STRIDE_LAYERS, r, c, df)
    rows += simulate("conv", [ODD_STRIDE_RESNET], 32, 32, "ws")
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, restval="")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {path}", file=sys.stderr)


def main(path: Path = HERE / "reference.csv") -> None:
    import scalesim  # noqa: F401  (fail early with a clear message if it is missing)
    rows = []
    for r, c in ARRAYS:
        for df in DATAFLOWS:
            rows += simulate("conv", CONV_LAYERS, r, c, df)
            rows += simulate("gemm", GEMM_LAYERS, r, c, df)
            print(f"array {r}x{c} {df}: done", file=sys.stderr)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, restval="")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {path}", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--buffer-sweep"]:  # only the (slow) buffer-size table
        buffer_sweep()
    elif sys.argv[1:2] == ["--odd-stride"]:  # only the odd-stride table
        odd_stride()
    else:
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "reference.csv")
