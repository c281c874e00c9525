"""pytest plugin: nbval cells are also checked *within the noise* (tools/noise.py).

After nbval has run a notebook cell, every glued value (not marked ``measured``) and, for a cell
tagged ``check-within-noise``, its text must agree with the chapter's seed-spread record
(``notebooks/spread/NN_name.json``, or ``$COMPANION_SPREAD_DIR``): exact where no seed moved,
inside the 99.9 % prediction interval where they did. nbval itself compares only the
``nbval-check-output`` cells, exactly. Loaded by ``tests/conftest.py`` (``-p noise_plugin``
with ``tools/`` on the path elsewhere).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import noise  # noqa: E402


def _nbval_cell(item) -> bool:
    return type(item).__name__ == "IPyNbCell" and hasattr(item, "cell")


def problems_of(item, outputs) -> list[str]:
    """What is outside the noise in one executed nbval cell (empty: fine)."""
    stem = Path(str(item.fspath)).stem
    record = noise.load_record(stem)
    where = noise.record_path(stem)
    problems = []
    for o in outputs:
        g = noise.glue_of(o)
        if g is None or noise.is_measured(o):  # a timing or another fact of this machine
            continue
        seeds = (record or {}).get("glue", {}).get(g[0])
        if seeds is None or any(s is None for s in seeds):
            problems.append(f"glue {g[0]} = {g[1]}: the seed-spread record {where} has no value for it "
                            "(run `python tools/chapters.py spread`)")
            continue
        why = noise.within_noise(g[1], seeds, printed=False)
        if why:
            problems.append(f"glue {g[0]}: {why}")
    if noise.NOISE_TAG in item.cell.get("metadata", {}).get("tags", []):
        code = [c for c in item.parent.nb.cells if c.cell_type == "code"]
        key = next(k for k, c in zip(noise.cell_keys([c.source for c in code]), code) if c is item.cell)
        seeds = (record or {}).get("cells", {}).get(key)
        if seeds is None or any(s is None for s in seeds):
            problems.append(f"this {noise.NOISE_TAG} cell is not in {where}")
        else:
            why = noise.within_noise(noise.cell_text(outputs), seeds, printed=True)
            if why:
                problems.append(f"trained result {why}")
    return problems


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    if _nbval_cell(item) and item.test_outputs is not None:
        problems = problems_of(item, list(item.test_outputs))
        if problems:
            pytest.fail(f"{Path(str(item.fspath)).stem}, cell {getattr(item, 'cell_num', '?')}: not within the noise "
                        "of its seeds:\n  " + "\n  ".join(problems), pytrace=False)
    return result
