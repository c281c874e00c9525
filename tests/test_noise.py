"""Reproducible within the noise (tools/noise.py): the comparator, the record and the detector
of checked cells that depend on the exact bits of a trained model."""
import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import noise  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _cell(source, text, tag=None, glue=()):
    outputs = [{"output_type": "stream", "name": "stdout", "text": text}] if text else []
    for name, value in glue:
        outputs.append({"output_type": "display_data", "metadata": {"scrapbook": {"name": name, "mime_prefix": ""}},
                        "data": {"application/papermill.record/text/plain": value}})
    return {"cell_type": "code", "source": source, "metadata": {"tags": [tag] if tag else []}, "outputs": outputs}


SEED_ACC = ["97.3", "97.0", "97.4", "97.1", "97.2"]


# --- the comparator ------------------------------------------------------------------------------

def test_a_number_inside_its_prediction_interval_passes_outside_fails():
    assert noise.within_noise("97.25", SEED_ACC, printed=False) is None
    why = noise.within_noise("95.0", SEED_ACC, printed=False)
    assert why and "prediction interval" in why and "97.3" in why


def test_a_number_that_never_moved_must_not_move():
    seeds = ["layers: 3, MACs 266200"] * 5
    assert noise.within_noise("layers: 3, MACs 266200", seeds, printed=True) is None
    assert "deterministic" in noise.within_noise("layers: 3, MACs 266201", seeds, printed=False)


def test_printed_rounding_gets_one_unit_of_the_last_digit():
    seeds = ["acc 97.3 %"] * 5  # trained, but every seed printed the same rounded value
    assert noise.within_noise("acc 97.4 %", seeds, printed=True) is None
    assert noise.within_noise("acc 97.5 %", seeds, printed=True) is not None


def test_the_text_around_the_numbers_must_keep_its_shape():
    seeds = [f"best: dwsep {a} %" for a in SEED_ACC]
    assert noise.within_noise("best: dwsep 97.2 %", seeds, printed=True) is None
    assert "text changed" in noise.within_noise("best: fire 97.2 %", seeds, printed=True)


def test_a_verdict_that_varies_between_seeds_must_be_one_the_seeds_gave():
    seeds = ["'higher'", "'not distinguishable'", "'higher'", "'higher'", "'not distinguishable'"]
    assert noise.within_noise("'higher'", seeds, printed=False) is None
    assert noise.within_noise("'lower'", seeds, printed=False) is not None


def test_numbers_in_names_are_part_of_the_text():
    shape, numbers = noise.split_numbers("lenet300 fc1 W1A1: 97.3 % (−0.9 pp, 1e-3)")
    assert shape == "lenet300 fc1 W1A1: # % (# pp, #)" and numbers == ["97.3", "−0.9", "1e-3"]


def test_numpy_scalars_are_numbers():
    assert noise.split_numbers("np.float64(0.25)") == ("#", ["0.25"])


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=5, max_size=8, unique=True))
def test_every_recorded_seed_is_inside_its_own_interval(values):
    seeds = [repr(v) for v in values]
    for s in seeds:
        assert noise.within_noise(s, seeds, printed=False) is None


# --- the detector: a checked cell that depends on training ------------------------------------

def _record(cells_per_seed):
    return noise.merge({s: noise.snapshot(cells) for s, cells in enumerate(cells_per_seed)})


def test_an_exact_checked_cell_that_moves_between_seeds_is_caught():
    runs = [[_cell("print(acc)", f"accuracy {a} %\n", tag=noise.EXACT_TAG)] for a in SEED_ACC]
    problems = noise.check_notebook(runs[0], _record(runs))
    assert len(problems) == 1 and "depends on trained weights" in problems[0] and noise.NOISE_TAG in problems[0]


def test_the_same_cell_tagged_within_noise_passes():
    runs = [[_cell("print(acc)", f"accuracy {a} %\n", tag=noise.NOISE_TAG)] for a in SEED_ACC]
    assert noise.check_notebook(runs[0], _record(runs)) == []


def test_a_planted_contradicting_value_fails():
    runs = [[_cell("nb.glue('acc', acc)", "", glue=[("acc", a)])] for a in SEED_ACC]
    record = _record(runs)
    assert noise.check_notebook(runs[0], record) == []
    planted = [_cell("nb.glue('acc', acc)", "", glue=[("acc", "91.0")])]
    problems = noise.check_notebook(planted, record)
    assert problems and problems[0].startswith("glue acc:")


def test_a_glue_or_cell_missing_from_the_record_fails():
    runs = [[_cell("print(1)", "1\n", tag=noise.EXACT_TAG)] for _ in range(5)]
    record = _record(runs)
    new = [_cell("print(2)", "2\n", tag=noise.EXACT_TAG), _cell("x", "", glue=[("new_name", "1")])]
    problems = noise.check_notebook(new, record)
    assert any("new_name" in p for p in problems) and any("source changed" in p for p in problems)


def test_too_few_seeds_fail():
    runs = [[_cell("print(1)", "1\n", tag=noise.EXACT_TAG)] for _ in range(3)]
    assert any("seeds" in p for p in noise.check_notebook(runs[0], _record(runs)))


# --- the committed notebooks against their records ---------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_within_the_noise_of_its_record(path):
    """Every glued value and tagged cell is recorded over >= 4 seeds; no exact-checked cell moved
    between seeds (it would depend on the exact bits of a trained model); what the notebook
    shows is inside the noise of the record."""
    cells = json.loads(path.read_text())["cells"]
    problems = noise.check_notebook(cells, noise.load_record(path.stem))
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:20])


def test_measured_glue_is_myst_nbs_record_marked_and_never_compared():
    """nb.glue(..., measured=True) emits what myst_nb.glue emits (the book reads it), plus the mark."""
    from IPython.core.interactiveshell import InteractiveShell
    from companion import nb
    shell = InteractiveShell.instance()
    seen = []
    shell.display_pub.publish = lambda data, metadata=None, **kw: seen.append((data, metadata))
    try:
        nb.glue("x_ms", 1.5, measured=True)
        from myst_nb import glue
        glue("y", 1.5, display=False)
    finally:
        InteractiveShell.clear_instance()
    (mine, mine_meta), (theirs, theirs_meta) = seen
    assert set(mine) == set(theirs) and mine_meta["scrapbook"]["mime_prefix"] == theirs_meta["scrapbook"]["mime_prefix"]
    out = {"output_type": "display_data", "data": mine, "metadata": mine_meta}
    assert noise.is_measured(out) and noise.glue_of(out) == ("x_ms", "1.5")
    cells = [{"cell_type": "code", "source": "t", "metadata": {}, "outputs": [out]}]
    assert noise.snapshot(cells)["glue"] == {}  # not recorded, so never compared


# --- end to end: pytest --nbval-lax with the plugin fails a planted contradiction ---------------

def _run_planted(tmp_path, value: str, tag: str | None = None, printed: str | None = None):
    import nbformat
    import os
    import subprocess
    cells = [nbformat.v4.new_code_cell(f"from companion import nb\nnb.glue('acc', {value})")]
    if printed is not None:
        cells.append(nbformat.v4.new_code_cell(f"print('accuracy {printed} %')", metadata={"tags": [tag]}))
    book = nbformat.v4.new_notebook(cells=cells)
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "zz_planted.ipynb"
    nbformat.write(book, path)
    spread = tmp_path / "spread"
    spread.mkdir(exist_ok=True)
    keys = noise.cell_keys([c.source for c in cells])
    record = {"seeds": list(range(5)), "glue": {"acc": SEED_ACC},
              "cells": {keys[-1]: [f"accuracy {a} %\n" for a in SEED_ACC]} if printed is not None else {}}
    (spread / "zz_planted.json").write_text(json.dumps(record))
    env = dict(os.environ, COMPANION_SPREAD_DIR=str(spread),
               PYTHONPATH=os.pathsep.join([str(ROOT / "tools"), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "noise_plugin",
                           "--nbval-lax", "--nbval-current-env", str(path)], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)


@pytest.mark.notebook
def test_a_planted_contradicting_glue_fails_the_notebook_run(tmp_path):
    ok = _run_planted(tmp_path, "97.25")
    assert ok.returncode == 0, ok.stdout[-2000:]
    bad = _run_planted(tmp_path, "91.0")
    assert bad.returncode != 0 and "glue acc" in bad.stdout and "prediction interval" in bad.stdout, bad.stdout[-2000:]


@pytest.mark.notebook
def test_a_planted_trained_print_outside_its_noise_fails(tmp_path):
    ok = _run_planted(tmp_path, "97.2", noise.NOISE_TAG, "97.1")
    assert ok.returncode == 0, ok.stdout[-2000:]
    bad = _run_planted(tmp_path, "97.2", noise.NOISE_TAG, "93.0")
    assert bad.returncode != 0 and "trained result" in bad.stdout, bad.stdout[-2000:]


def test_values_that_differ_only_in_their_last_digits_are_never_compared_at_16_digits():
    seeds = ["1.3372236229518361", "1.3372236229518359", "1.3372236229518361", "1.3372236229518361"]
    assert noise.within_noise("1.337223622951839", seeds, printed=False) is None
    assert noise.within_noise("1.3372236", seeds, printed=False) is not None


def test_a_table_whose_column_widths_change_keeps_its_shape():
    """pandas pads columns to the widest number: 9.5 vs 10.25 must not read as another text."""
    seeds = [f"stage   acc\npruning {a:>6}  {d}\n" for a, d in (("97.3", "0.6"), ("97.0", "0.9"), ("97.4", "0.5"), ("97.1", "0.8"))]
    assert noise.within_noise("stage   acc\npruning  97.25   0.7\n", seeds, printed=True) is None
    assert noise.within_noise("stage   acc\npruned  97.25   0.7\n", seeds, printed=True) is not None


def test_retag_moves_only_exact_cells_that_moved():
    runs = [[_cell("print(acc)", f"accuracy {a} %\n", tag=noise.EXACT_TAG),
             _cell("print(1)", "1\n", tag=noise.EXACT_TAG)] for a in SEED_ACC]
    cells = runs[0]
    assert noise.retag_cells(cells, _record(runs)) == ["print(acc)"]
    assert noise.tags(cells[0]) == [noise.NOISE_TAG] and noise.tags(cells[1]) == [noise.EXACT_TAG]
    assert noise.check_notebook(cells, _record(runs)) == []
