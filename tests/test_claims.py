"""Claims are code (issue "Every claim true"): comparing sentences are produced from their numbers
or checked against them, and a false one stops the chapter (hence the notebook tests and the book)."""
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from companion import claims, nb, stats

ROOT = Path(__file__).resolve().parent.parent


def test_a_true_claim_returns_its_sentence_and_is_recorded():
    n = len(claims.CLAIMS)
    assert claims.claim("8 bits lose less than a point", 0.3 < 1.0, drop=0.3) == "8 bits lose less than a point"
    assert claims.CLAIMS[n].numbers == {"drop": 0.3} and claims.CLAIMS[n].holds


def test_a_false_claim_names_the_sentence_and_the_numbers():
    with pytest.raises(claims.ClaimError, match=r"no more than a few points.*dense = 23.1.*pruned = 42.7"):
        claims.claim("no more than a few points", abs(42.7 - 23.1) <= 3, dense=23.1, pruned=42.7)


def test_a_claim_needs_an_evaluated_predicate_not_a_truthy_object():
    with pytest.raises(TypeError, match="holds must be a bool"):
        claims.claim("always true", "yes")
    with pytest.raises(ValueError, match="sentence"):
        claims.claim("  ", True)
    assert claims.claim("numpy booleans are fine", np.float64(2.0) > 1)


def test_nb_claim_glues_the_checked_sentence():
    assert nb.claim("ch_test_claim", "QAT is higher", 98.3 > 97.1, qat=98.3, ptq=97.1) == "QAT is higher"
    assert nb.GLUED["ch_test_claim"] == "QAT is higher"
    with pytest.raises(claims.ClaimError):
        nb.claim("ch_test_claim2", "QAT is higher", 98.3 > 98.3, qat=98.3, ptq=98.3)
    assert "ch_test_claim2" not in nb.GLUED  # nothing glued for a false sentence


@given(st.floats(-50, 50, allow_nan=False), st.floats(0, 1))
def test_verdict_is_one_of_three_and_follows_the_sign_only_when_significant(d, p):
    v = claims.verdict(d, p)
    assert v in claims.VERDICTS
    if p >= claims.ALPHA or d == 0:
        assert v == "not distinguishable"
    else:
        assert v == ("higher" if d > 0 else "lower")


@given(st.floats(-10, 10), st.floats(0, 10))
def test_interval_verdict_agrees_with_zero_inside_the_interval(low, width):
    high = low + width
    v = claims.interval_verdict(low, high)
    assert (v == "not distinguishable") == (low <= 0 <= high)


def test_verdict_rejects_nonsense():
    with pytest.raises(ValueError):
        claims.verdict(1.0, 1.5)
    with pytest.raises(ValueError):
        claims.verdict(math.nan, 0.01)
    with pytest.raises(ValueError):
        claims.interval_verdict(1.0, 0.0)


def test_compare_accuracies_on_paired_images_uses_mcnemar():
    rng = np.random.default_rng(0)
    a = rng.random(1000) < 0.97
    b = a.copy()
    b[:40] = False  # B misses 40 images A gets right (some of them A already missed)
    only_a = int((a & ~b).sum())
    assert claims.compare_accuracies(100 * a.mean(), 100 * b.mean(), 1000, correct_a=a, correct_b=b) == "higher"
    assert stats.mcnemar_exact(a, b).only_a == only_a
    assert claims.compare_accuracies(97.0, 96.8, 1000) == "not distinguishable"  # 0.2 pp on 1,000 images
    assert claims.compare_accuracies(23.1, 42.7, 1000) == "lower"  # ch. 8's FGSM dense vs pruned


@pytest.mark.notebook
def test_a_planted_false_claim_fails_the_notebook_run(tmp_path):
    """The notebook tests execute every chapter: a sentence contradicted by its number fails them."""
    import nbformat

    def run(value):
        cell = nbformat.v4.new_code_cell(
            "from companion import nb\n"
            f"fgsm_dense, fgsm_pruned = 23.1, {value}\n"
            "nb.claim('ch_robust', 'pruning changes FGSM accuracy by no more than a few points',\n"
            "         abs(fgsm_pruned - fgsm_dense) <= 3, dense=fgsm_dense, pruned=fgsm_pruned)")
        book = nbformat.v4.new_notebook(cells=[cell])
        book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = tmp_path / "zz_claim.ipynb"
        nbformat.write(book, path)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                               "--nbval-current-env", str(path)], capture_output=True, text=True, cwd=tmp_path,
                              env=env, timeout=300)

    ok = run(24.0)
    assert ok.returncode == 0, ok.stdout[-2000:]
    bad = run(42.7)
    assert bad.returncode != 0 and "ClaimError" in bad.stdout and "no more than a few points" in bad.stdout, \
        bad.stdout[-2000:]


def test_a_planted_false_claim_stops_the_chapter_runner(tmp_path):
    """tools/chapters.py (which the book build and `run --all` use) raises on the false sentence."""
    sys.path.insert(0, str(ROOT / "tools"))
    import nbformat
    from nbconvert.preprocessors import CellExecutionError, ExecutePreprocessor
    cell = nbformat.v4.new_code_cell("from companion import nb\nnb.claim('x', 'binary beats float', 96.8 > 97.7, "
                                     "binary=96.8, float=97.7)")
    book = nbformat.v4.new_notebook(cells=[cell])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with pytest.raises(CellExecutionError, match="binary beats float"):
        ExecutePreprocessor(timeout=120, kernel_name="python3").preprocess(book, {"metadata": {"path": str(ROOT)}})


def test_the_book_build_stops_on_a_cell_error_so_on_a_false_claim(monkeypatch):
    """The website build executes every chapter with allow_errors off and warnings as errors: a
    ClaimError raised by a chapter (the planted runs above) fails `./run.sh book`."""
    import types
    import yaml
    cfg = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    assert cfg["execute"]["execute_notebooks"] == "force" and cfg["execute"]["allow_errors"] is False
    sys.path.insert(0, str(ROOT / "tools"))
    import build_book
    seen = []
    monkeypatch.setattr(build_book, "stage", lambda: None)
    monkeypatch.setattr(build_book.subprocess, "run", lambda cmd, env: seen.append(cmd) or types.SimpleNamespace(returncode=1))
    with pytest.raises(SystemExit, match="the book build failed"):
        build_book.build(execute=True)
    assert "-W" in seen[0]  # a failed cell is a warning of jupyter-book; -W makes it an error
