"""The student edition (solutions stripped) and the grader (tools/student.py).

The grading tests use a tiny synthetic chapter whose exercises a test module registers, so each
submission runs in a fresh kernel in about a second, without training anything.
"""
import csv
import json
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import student  # noqa: E402

from companion import exercises  # noqa: E402

CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


# --- the student edition of the real chapters (no execution) --------------------------------

@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_strips_solutions_keeps_checks_and_clears_outputs(path):
    nb = nbformat.read(path, as_version=4)
    solutions = [c for c in nb.cells if student.is_solution(c)]
    assert solutions, f"{path.name} has no solution cell: the convention changed?"
    kept_lines = {l.strip() for c in nb.cells if not student.is_solution(c) for l in c.source.splitlines()}
    solution_only = {l.strip() for c in solutions for l in c.source.splitlines()} - kept_lines - {""}
    assert solution_only, "every solution line also appears elsewhere: this test could not fail"

    out = student.strip_notebook(nb)
    lines = {l.strip() for c in out.cells for l in c.source.splitlines()}
    assert not solution_only & lines, "solution code left in the student edition"
    assert not any(student.is_solution(c) for c in out.cells)
    assert student.exercise_ids(out) == student.exercise_ids(nb) and student.exercise_ids(out)
    for cell in out.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert "widgets" not in out.metadata
    assert len(nb.cells) == len(out.cells) + len(solutions)  # the original is untouched
    nbformat.validate(out)


def test_strip_rejects_a_non_notebook():
    with pytest.raises(TypeError, match="nb must be a notebook"):
        student.strip_notebook({"cells": []})


def test_build_writes_notebooks_manifest_and_zip(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    import shutil
    shutil.copy2(ROOT / "notebooks" / "00_preface.ipynb", src)
    shutil.copy2(ROOT / "notebooks" / "01_why_compress.ipynb", src)
    out = student.build(src, tmp_path / "student")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["00_preface.ipynb"] == [{"id": "ch0.digit_bytes", "level": "easy", "points": 1}]
    assert [e["id"] for e in manifest["01_why_compress.ipynb"]] == [
        "ch1.vgg_fc6_params", "ch1.vgg_fc_share", "ch1.alexnet_dram_share", "ch1.alexnet_dram_share_w4a8"]
    assert [e["points"] for e in manifest["01_why_compress.ipynb"]] == [
        exercises.points(exercises._lookup(e["id"]).level) for e in manifest["01_why_compress.ipynb"]]
    import zipfile
    names = zipfile.ZipFile(out / "student-edition.zip").namelist()
    assert sorted(names) == ["student-edition/00_preface.ipynb", "student-edition/01_why_compress.ipynb"]
    stripped = nbformat.read(out / "00_preface.ipynb", as_version=4)
    assert not any(student.is_solution(c) for c in stripped.cells)


def test_build_rejects_an_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="src: no chapter notebooks"):
        student.build(tmp_path, tmp_path / "out")


def test_points_follow_the_level():
    assert [exercises.points(l) for l in ("easy", "medium", "hard")] == [1, 2, 3]
    with pytest.raises(ValueError, match="level must be easy, medium or hard"):
        exercises.points("trivial")


# --- grading a synthetic chapter ------------------------------------------------------------

TOY = '''
from companion.exercises import register, close_to, same_function
register("ch99.add", "2 + 3", close_to(5.0, rtol=1e-9), level="easy")
register("ch99.mul", "6 * 7", close_to(42.0, rtol=1e-9), level="medium")
register("ch99.square", "a function that squares", same_function(lambda x: x * x, lambda: [(2.0,), (3.0,)]),
         level="hard")
'''


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, src, *tags in cells:
        c = nbformat.v4.new_code_cell(textwrap.dedent(src)) if kind == "code" else nbformat.v4.new_markdown_cell(src)
        if tags:
            c.metadata["tags"] = list(tags)
        nb.cells.append(c)
    return nb


def _chapter():
    return _nb(("md", "# 99. Toy chapter"),
               ("code", "import toy_exercises\nfrom companion.exercises import check"),
               ("md", "**1 (easy).** 2 + 3"),
               ("code", "answer_1 = None  # your number\ncheck('ch99.add', answer_1)"),
               ("code", "answer_1 = 5\ncheck('ch99.add', answer_1)", "hide-cell", "solution"),
               ("md", "**2 (medium).** 6 * 7"),
               ("code", "answer_2 = None\ncheck('ch99.mul', answer_2)"),
               ("code", "answer_2 = 6 * 7\ncheck('ch99.mul', answer_2)", "hide-cell", "solution"),
               ("md", "**3 (hard).** square"),
               ("code", "answer_3 = None\ncheck('ch99.square', answer_3)"),
               ("code", "answer_3 = lambda x: x ** 2\ncheck('ch99.square', answer_3)", "hide-cell", "solution"))


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A synthetic chapter 99 (source with solutions), its student edition and manifest."""
    mod = tmp_path / "mods"
    mod.mkdir()
    (mod / "toy_exercises.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(mod))
    monkeypatch.setenv("PYTHONPATH", str(mod))
    import importlib
    importlib.import_module("toy_exercises")
    src = tmp_path / "src"
    src.mkdir()
    nbformat.write(_chapter(), src / "99_toy.ipynb")
    out = student.build(src, tmp_path / "student")
    yield out
    for id in ("ch99.add", "ch99.mul", "ch99.square"):
        exercises._REGISTRY.pop(id, None)
    sys.modules.pop("toy_exercises", None)


def _submit(root, name, edits):
    """A copy of the student edition with the stub cells replaced as ``edits`` says (index -> source)."""
    nb = nbformat.read(root.parent / "student" / "99_toy.ipynb", as_version=4)
    stubs = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "check(" in c.source]
    for k, src in edits.items():
        if k == "append":
            for s in src:
                nb.cells.append(nbformat.v4.new_code_cell(textwrap.dedent(s)))
        else:
            nb.cells[stubs[k]].source = textwrap.dedent(src)
    d = root / name
    d.mkdir(parents=True)
    nbformat.write(nb, d / "99_toy.ipynb")


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_student_edition_of_the_toy_chapter(toy):
    nb = nbformat.read(toy / "99_toy.ipynb", as_version=4)
    assert "answer_1 = 5" not in "".join(c.source for c in nb.cells)
    assert student.exercise_ids(nb) == ["ch99.add", "ch99.mul", "ch99.square"]
    assert json.loads((toy / "manifest.json").read_text())["99_toy.ipynb"] == [
        {"id": "ch99.add", "level": "easy", "points": 1}, {"id": "ch99.mul", "level": "medium", "points": 2},
        {"id": "ch99.square", "level": "hard", "points": 3}]


def test_grade_partly_solved_cheating_failing_and_looping_submissions(toy, tmp_path):
    subs = tmp_path / "submissions"
    # alice: 1 right, 2 wrong (the check raises: a cell error), 3 right -> 1 + 3 = 4 of 6
    _submit(subs, "alice", {0: "check('ch99.add', 2 + 3)", 1: "check('ch99.mul', 41)",
                            2: "check('ch99.square', lambda x: x * x)"})
    # bob prints what a passing check prints, replaces a checker, and forges the grading log: 0 points
    _submit(subs, "bob", {0: "print('✅ ch99.add: correct!')",
                          1: """
                             from companion.exercises import register
                             register('ch99.mul', 'mine', lambda a: None)
                             """,
                          2: """
                             import json, os
                             line = json.dumps({'id': 'ch99.square', 'level': 'hard', 'outcome': 'passed'})
                             print(line)
                             p = os.environ.get('COMPANION_GRADING_LOG')
                             if p:  # the results file must be hidden from the submission
                                 open(p, 'a').write(line + '\\n')
                             """,
                          "append": ["check('ch99.mul', 1)"]})
    # carol: a cell that raises, then one that loops forever (interrupted), then a right answer
    _submit(subs, "carol", {0: "raise RuntimeError('oops')", 1: "while True:\n    pass",
                            2: "check('ch99.square', lambda x: x * x)"})
    # dave: right answer first, then a loop that swallows the interrupt: the notebook limit kills it
    _submit(subs, "dave", {0: "check('ch99.add', 5)", 1: """
                             import time
                             while True:
                                 try:
                                     time.sleep(0.05)
                                 except KeyboardInterrupt:
                                     pass
                             """, 2: "check('ch99.square', lambda x: x * x)"})
    out = tmp_path / "gradebook.csv"
    student.grade(subs, out, manifest=toy / "manifest.json", cell_timeout=3, timeout=20,
                  modules=("toy_exercises",), log=lambda *a: None)
    rows = _rows(out)
    assert list(rows[0]) == student.COLUMNS
    got = {(r["student"], r["exercise"]): (int(r["passed"]), int(r["points"]), int(r["max_points"]))
           for r in rows if r["notebook"] != "TOTAL"}
    assert got == {
        ("alice", "ch99.add"): (1, 1, 1), ("alice", "ch99.mul"): (0, 0, 2), ("alice", "ch99.square"): (1, 3, 3),
        ("bob", "ch99.add"): (0, 0, 1), ("bob", "ch99.mul"): (0, 0, 2), ("bob", "ch99.square"): (0, 0, 3),
        ("carol", "ch99.add"): (0, 0, 1), ("carol", "ch99.mul"): (0, 0, 2), ("carol", "ch99.square"): (1, 3, 3),
        ("dave", "ch99.add"): (1, 1, 1), ("dave", "ch99.mul"): (0, 0, 2), ("dave", "ch99.square"): (0, 0, 3),
    }
    totals = {r["student"]: (int(r["passed"]), int(r["points"]), int(r["max_points"])) for r in rows
              if r["notebook"] == "TOTAL"}
    assert totals == {"alice": (2, 4, 6), "bob": (0, 0, 6), "carol": (1, 3, 6), "dave": (1, 1, 6)}
    notes = {r["student"]: r["note"] for r in rows if r["notebook"] == "99_toy.ipynb"}
    assert "cell error" in notes["alice"] and "cell error" in notes["bob"]
    assert "cell timeout" in notes["carol"] and "cell error" in notes["carol"]
    assert "cell timeout" in notes["dave"]


def test_notebook_time_limit_kills_the_kernel_and_keeps_earlier_checks(toy, tmp_path):
    _submit(tmp_path / "subs", "erin", {0: "check('ch99.add', 5)", 1: """
                             import time
                             while True:
                                 try:
                                     time.sleep(0.05)
                                 except KeyboardInterrupt:
                                     pass
                             """, 2: "check('ch99.mul', 42)"})
    run = student.run_submission(tmp_path / "subs" / "erin" / "99_toy.ipynb", ["ch99.add", "ch99.mul"],
                                 cell_timeout=600, timeout=10, modules=("toy_exercises",))
    assert run.passed == {"ch99.add": True, "ch99.mul": False}
    assert "notebook timeout" in run.notes


def test_kernel_runs_under_memory_and_file_size_limits(toy, tmp_path):
    # each check passes only if the limit stopped the cell's allocation or write
    _submit(tmp_path / "subs", "frank", {
        0: "check('ch99.add', 5)",
        1: """
           try:
               x = bytearray(3 * 1024 ** 3)  # 3 GB: fine without a limit on most machines
           except MemoryError:
               check('ch99.mul', 42)
           """,
        2: """
           try:
               with open('big.bin', 'wb') as f:
                   f.write(b'0' * (100 * 1024 ** 2))
           except OSError:
               check('ch99.square', lambda x: x * x)
           """,
        "append": ["y = bytearray(3 * 1024 ** 3)"]})
    run = student.run_submission(tmp_path / "subs" / "frank" / "99_toy.ipynb", ["ch99.add", "ch99.mul", "ch99.square"],
                                 cell_timeout=60, timeout=120, modules=("toy_exercises",), memory_mb=2048, file_mb=64)
    assert run.passed == {"ch99.add": True, "ch99.mul": True, "ch99.square": True}, run.notes
    assert "memory limit (2048 MB)" in run.notes and "cell error" in run.notes
    assert not (tmp_path / "subs" / "frank" / "big.bin").exists()  # it ran in a scratch copy
    with pytest.raises(ValueError, match="memory_mb must be an int >= 64"):
        student.run_submission(tmp_path / "subs" / "frank" / "99_toy.ipynb", ["ch99.add"], memory_mb=10)
    with pytest.raises(ValueError, match="file_mb"):
        student.grade(tmp_path / "subs", tmp_path / "g.csv", file_mb="1 GB")


def test_grade_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="submissions must be a folder"):
        student.grade(tmp_path / "missing", tmp_path / "g.csv")
    with pytest.raises(ValueError, match="no student folders"):
        student.grade(tmp_path, tmp_path / "g.csv")
    (tmp_path / "s").mkdir()
    with pytest.raises(ValueError, match="cell_timeout and timeout must be > 0"):
        student.grade(tmp_path, tmp_path / "g.csv", cell_timeout=0)


def test_check_records_results_only_when_asked(tmp_path, monkeypatch):
    log = tmp_path / "log.jsonl"
    exercises.check("ch0.digit_bytes", 98)  # no variable: nothing recorded, nothing raised
    assert not log.exists()
    monkeypatch.setenv(exercises.GRADING_LOG_ENV, str(log))
    exercises.check("ch0.digit_bytes", None)
    exercises.check("ch0.digit_bytes", 98)
    with pytest.raises(exercises.ExerciseError):
        exercises.check("ch0.digit_bytes", 99)
    recs = [json.loads(l) for l in log.read_text().splitlines()]
    assert [r["outcome"] for r in recs] == ["unanswered", "passed", "failed"]
    assert {r["id"] for r in recs} == {"ch0.digit_bytes"} and recs[0]["level"] == "easy"
