"""Oracle test: the accelerator model against the real SCALE-Sim v3.0.0.

``data/scalesim/reference.csv`` was produced by ``data/scalesim/make_reference.py`` running the
``scalesim`` package (large SRAMs, estimated bandwidth: no stalls). Dense compute cycles must
agree exactly up to SCALE-Sim's last-cycle convention (it prints ``cycles − 1``); SRAM read
and write counts and the mapping efficiency must agree exactly.
"""
import csv
from pathlib import Path

import pytest

from companion.accelerator import Architecture, Conv2d, Gemm, evaluate

REF = Path(__file__).resolve().parent.parent / "data" / "scalesim" / "reference.csv"


def _rows():
    with open(REF, newline="") as f:
        return list(csv.DictReader(f))


ROWS = _rows()


def _workload(r):
    if r["kind"] == "gemm":
        return Gemm(M=int(r["M"]), K=int(r["K"]), N=int(r["N"]))
    cin = int(r["in_channels"])
    depthwise = "DP" in r["name"]
    return Conv2d(in_h=int(r["in_h"]), in_w=int(r["in_w"]), kernel_h=int(r["kernel_h"]),
                  kernel_w=int(r["kernel_w"]), in_channels=cin,
                  out_channels=cin if depthwise else int(r["out_channels"]),
                  stride=int(r["stride"]), groups=cin if depthwise else 1)


def _id(r):
    return f"{r['name']}-{r['rows']}x{r['cols']}-{r['dataflow']}"


def test_reference_table_is_broad():
    kinds = {r["kind"] for r in ROWS}
    arrays = {(r["rows"], r["cols"]) for r in ROWS}
    dataflows = {r["dataflow"] for r in ROWS}
    assert kinds == {"conv", "gemm"} and dataflows == {"os", "ws", "is"} and len(arrays) >= 2
    assert len(ROWS) >= 100
    assert all(r["stall_cycles"] == "0" for r in ROWS)  # pure compute cycles


@pytest.mark.parametrize("r", ROWS, ids=_id)
def test_against_scalesim(r):
    arch = Architecture(rows=int(r["rows"]), cols=int(r["cols"]), dataflow=r["dataflow"],
                        ifmap_kb=4096, filter_kb=4096, ofmap_kb=4096)
    rep = evaluate(arch, _workload(r))
    assert rep.scalesim_cycles == int(r["total_cycles"])
    assert 0 <= rep.cycles - int(r["total_cycles"]) <= rep.gemms  # one last-cycle offset per simulated GEMM
    assert rep.sram_ifmap_reads == int(r["ifmap_sram_reads"])
    assert rep.sram_filter_reads == int(r["filter_sram_reads"])
    assert rep.scalesim_ofmap_writes == int(r["ofmap_sram_writes"])
    assert rep.mapping_efficiency * 100 == pytest.approx(float(r["mapping_eff_pct"]), abs=1e-3)
