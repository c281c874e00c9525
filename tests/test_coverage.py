"""Every function named on the coverage page exists; every chapter is covered."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import coverage_page as coverage  # noqa: E402

SECTIONS = coverage.load()


@pytest.mark.parametrize("dotted", [f for s in SECTIONS for t in s["techniques"] for f in t.get("functions", [])])
def test_function_exists(dotted):
    assert callable(coverage.resolve(dotted)) or coverage.resolve(dotted) is not None


def test_every_chapter_notebook_is_covered():
    covered = {s["notebook"] for s in SECTIONS}
    for nb in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"):
        if nb.stem[:2] != "00":
            assert nb.stem in covered
