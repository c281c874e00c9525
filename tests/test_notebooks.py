"""The committed notebooks: executed, checked, in sync with their sources, in the book, small."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# Glue names other checks rely on (contracts from the issues), per chapter notebook.
CONTRACT_GLUE = {
    "02_compact_models": ["compact_mac_ratio", "compact_param_ratio", "compact_acc_drop", "mbv1_macs_m"],
    "03_tensor_decomposition": ["tt_fc1_param_ratio", "tt_fc1_acc_drop"],
    "04_quantization": ["ptq8_lenet5_acc_drop", "qat4_lenet5_acc_drop", "twn_lenet5_acc_drop", "bnn_lenet5_acc"],
    "05_sparsification": ["prune_lenet300_ratio", "prune_lenet300_acc_drop", "prune_lenet5_ratio",
                          "prune_lenet5_acc_drop"],
    "06_joint_compression": ["dc_lenet300_ratio", "dc_lenet300_acc_drop", "dc_lenet5_ratio", "dc_lenet5_acc_drop"],
    "08_discussion": ["autocomp_acc_gain", "autocomp_budget_met"],
}


def _cells(path):
    return json.loads(path.read_text())["cells"]


def glued(path) -> dict:
    out = {}
    for c in _cells(path):
        for o in c.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                data = o["data"]
                out[name] = data.get("application/papermill.record/text/plain")
    return out


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 2


def test_sources_and_notebooks_agree():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "chapters.py"), "check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_executed_checked_and_small(path):
    cells = _cells(path)
    code = [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    unrun = [i for i, c in enumerate(code) if c.get("execution_count") is None]
    assert not unrun, f"{len(unrun)} code cells were never executed"
    checked = [c for c in code if {"nbval-check-output", "check-within-noise"} & set(c.get("metadata", {}).get("tags", []))]
    assert checked, "no cell is tagged nbval-check-output or check-within-noise"
    assert all(c.get("outputs") for c in checked), "a checked cell has no stored output (nbval would skip it)"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors[0].get("ename")
    assert path.stat().st_size < 3 * 1024 * 1024, f"{path.name} is {path.stat().st_size / 1e6:.1f} MB"
    stem = path.stem
    chapter = int(stem[:2])
    assert f"ch{chapter}_runtime_s" in glued(path), "the chapter must glue its measured run time"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_contract_glue_names(path):
    missing = [g for g in CONTRACT_GLUE.get(path.stem, []) if g not in glued(path)]
    assert not missing, f"glue names missing: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_have_stub_and_hidden_solution(path):
    if path.stem.startswith("00"):
        return
    cells = _cells(path)
    stubs = [c for c in cells if c["cell_type"] == "code" and "check(" in "".join(c["source"])
             and "solution" not in c.get("metadata", {}).get("tags", [])]
    solutions = [c for c in cells if "solution" in c.get("metadata", {}).get("tags", [])]
    assert len(stubs) >= 3 and len(solutions) >= 3
    assert all("hide-cell" in c["metadata"]["tags"] for c in solutions)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_nbval_markers_are_tags_not_code(path):
    """Readers (book, slides, student edition) never see NBVAL_* comments: they are cell tags."""
    for c in _cells(path):
        if c["cell_type"] == "code":
            assert "NBVAL_" not in "".join(c["source"]), "an nbval marker comment is left in a code cell"


def test_every_notebook_is_in_the_book():
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = {ch["file"] for part in toc["parts"] for ch in part["chapters"]}
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in files, f"{path.stem} is not in book/_toc.yml"
