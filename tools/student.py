"""The student edition of the chapters, and a grader for what students hand back.

    python tools/student.py build [--src notebooks] [--out .build/student]
    python tools/student.py grade SUBMISSIONS_DIR --out gradebook.csv [--cell-timeout 120] [--timeout 900]
                                  [--memory-mb 4096] [--file-mb 1024]

``build`` writes, per chapter, ``NN_name.ipynb`` with the solution cells (tag ``solution``)
removed and every output cleared; the exercise stubs (``answer = None``) and their
``check(...)`` cells stay. It also writes ``manifest.json`` (per notebook: the exercise ids of its
stubs, their level and points) and ``student-edition.zip`` (the notebooks, to hand out).

``grade`` expects one folder per student, ``SUBMISSIONS_DIR/<student>/NN_name.ipynb``. Each
notebook runs in a fresh kernel (nbclient) in a scratch copy of its folder, with a time limit per
cell (a cell over it is interrupted and the next one runs) and per notebook (past it the kernel is
killed; what was checked before counts). A cell that raises does not stop the run.

What counts is never the notebook's output. The grader puts one cell of its own before the
submission's cells: it calls :func:`companion.exercises.start_grading`, which imports the official
exercises, locks the registry (a submission cannot register its own checker under an official id)
and makes every ``check(id, answer)`` append its verdict to a results file the grader chose. An
exercise passes when at least one ``check`` of it passed. Which exercises a notebook has, and their
points, come from the manifest (the lecturer's copy), not from the submission.

Points: easy 1, medium 2, hard 3 (``companion.exercises.POINTS``).

The gradebook CSV has the columns ``student, notebook, exercise, level, passed, points,
max_points, note``: one row per exercise of each submitted notebook and one ``TOTAL`` row per
student (``passed`` there counts the passed exercises). ``note`` says why a notebook scored less
than its checks might suggest (``cell error``, ``cell timeout``, ``notebook timeout``,
``memory limit (N MB)``, ``kernel died``).

Limits: besides the time limits, each kernel runs under resource limits (``setrlimit``, Linux and
macOS): its address space (``--memory-mb``, default 4096: a cell that allocates more gets a
``MemoryError`` instead of swapping the grading machine to a halt) and the size of any file it
writes (``--file-mb``, default 1024). Its working folder is a scratch copy, deleted afterwards.

Not a sandbox: the submission's code still runs with the grader's rights (it can read and write
what the grader can, and use the network), and code that deliberately tampers with
``companion.exercises`` inside the kernel can defeat any in-process record. Run untrusted
submissions in a container or a throw-away account.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".build" / "student"
CHECK_CALL = re.compile(r"""\bcheck\(\s*["']([^"']+)["']""")
COLUMNS = ["student", "notebook", "exercise", "level", "passed", "points", "max_points", "note"]


def is_solution(cell) -> bool:
    """A solution cell: tagged ``solution`` (the convention of CONTRIBUTING.md)."""
    return "solution" in cell.get("metadata", {}).get("tags", [])


def strip_notebook(nb):
    """The student edition of a notebook (a new node; ``nb`` is not changed): solution cells
    removed, outputs and execution counts cleared, widget state dropped."""
    if not isinstance(nb, nbformat.NotebookNode) or "cells" not in nb:
        raise TypeError(f"nb must be a notebook read with nbformat, got {type(nb).__name__}")
    out = nbformat.from_dict(json.loads(json.dumps(nb)))
    out.cells = [c for c in out.cells if not is_solution(c)]
    for cell in out.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in ("execution", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
    out.metadata.pop("widgets", None)
    return out


def exercise_ids(nb) -> list[str]:
    """Exercise ids checked by the notebook's non-solution code cells, in order, each once."""
    seen = []
    for cell in nb.cells:
        if cell.cell_type == "code" and not is_solution(cell):
            for id in CHECK_CALL.findall(cell.source):
                if id not in seen:
                    seen.append(id)
    return seen


def manifest_entry(nb) -> list[dict]:
    """``[{"id", "level", "points"}]`` for the exercises of ``nb`` (levels from the registry)."""
    from companion import exercises
    rows = []
    for id in exercise_ids(nb):
        ex = exercises._lookup(id)
        rows.append({"id": id, "level": ex.level, "points": exercises.points(ex.level)})
    return rows


def build(src: Path = ROOT / "notebooks", out: Path = OUT) -> Path:
    """Write the student edition of every ``NN_*.ipynb`` in ``src`` to ``out``; return ``out``."""
    src, out = Path(src), Path(out)
    paths = sorted(src.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise ValueError(f"src: no chapter notebooks (NN_name.ipynb) in {src}")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    manifest = {}
    for p in paths:
        nb = nbformat.read(p, as_version=4)
        manifest[p.name] = manifest_entry(nb)
        nbformat.write(strip_notebook(nb), out / p.name)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    with zipfile.ZipFile(out / "student-edition.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for p in paths:
            z.write(out / p.name, f"student-edition/{p.name}")
    return out


# --- grading --------------------------------------------------------------------------------

@dataclass
class Run:
    """What happened when one submission ran: exercise id -> passed, plus notes."""
    passed: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _client_class():
    from nbclient import NotebookClient

    class Client(NotebookClient):
        """nbclient's client that remembers which cells ran over their time limit."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.timed_out = []

        async def _async_handle_timeout(self, timeout, cell=None):
            self.timed_out.append(cell)
            return await super()._async_handle_timeout(timeout, cell)

    return Client


def _grading_cell(ids: list[str], modules: list[str]):
    code = ("import companion.exercises as _companion_exercises\n"
            f"_companion_exercises.start_grading({ids!r}, {modules!r})\n"
            "del _companion_exercises")
    return nbformat.v4.new_code_cell(code)


MEMORY_MB, FILE_MB = 4096, 1024

#: The kernel's launcher: resource limits first, then the usual IPython kernel.
_LAUNCH = """import resource, sys
for res, mb in ((resource.RLIMIT_AS, {memory_mb}), (resource.RLIMIT_FSIZE, {file_mb})):
    if mb:
        hard = resource.getrlimit(res)[1]
        lim = mb * 1024 * 1024
        lim = lim if hard == resource.RLIM_INFINITY else min(lim, hard)
        resource.setrlimit(res, (lim, hard))
from ipykernel.kernelapp import launch_new_instance
launch_new_instance()
"""


def _limited_kernel(tmp: Path, memory_mb: int | None, file_mb: int | None):
    """An async kernel manager for a kernelspec in ``tmp`` that starts ipykernel under the limits."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    spec_dir = tmp / "kernels" / "graded"
    spec_dir.mkdir(parents=True)
    code = _LAUNCH.format(memory_mb=int(memory_mb or 0), file_mb=int(file_mb or 0))
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", code, "-f", "{connection_file}"],
        "display_name": "Python 3 (graded)", "language": "python"}))
    ksm = KernelSpecManager(kernel_dirs=[str(tmp / "kernels")], ensure_native_kernel=False)
    return AsyncKernelManager(kernel_name="graded", kernel_spec_manager=ksm)


def _check_limit(value, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 64:
        raise ValueError(f"{name} must be an int >= 64 (MB) or None (no limit), got {value!r}")
    return value


def run_submission(path: Path, ids: list[str], *, cell_timeout: float = 120, timeout: float = 900,
                   modules: tuple[str, ...] = (), memory_mb: int | None = MEMORY_MB,
                   file_mb: int | None = FILE_MB) -> Run:
    """Execute the submission at ``path`` in a fresh kernel; return which of ``ids`` passed.

    The kernel's address space is limited to ``memory_mb`` and the files it writes to ``file_mb``
    (``None``: no limit). Never raises for what the submission does (errors, timeouts, running
    out of its memory, a dead kernel): those become notes.
    """
    from companion.exercises import GRADING_LOG_ENV
    memory_mb, file_mb = _check_limit(memory_mb, "memory_mb"), _check_limit(file_mb, "file_mb")
    _Client = _client_class()

    run = Run({id: False for id in ids})
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as e:  # an unreadable file scores 0
        run.notes.append(f"unreadable notebook ({type(e).__name__})")
        return run
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        work = Path(tmp) / "work"
        shutil.copytree(path.parent, work, ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
        log = Path(tmp) / "results.jsonl"
        log.touch()
        nb.cells = [_grading_cell(ids, list(modules))] + [c for c in nb.cells if c.cell_type != "raw"]
        for c in nb.cells:
            if c.cell_type == "code":
                c.outputs = []
        client = _Client(nb, km=_limited_kernel(Path(tmp), memory_mb, file_mb), timeout=int(cell_timeout),
                         allow_errors=True, interrupt_on_timeout=True, shutdown_kernel="immediate",
                                error_on_timeout={"ename": "CellTimeout", "evalue": f"cell ran over {cell_timeout} s",
                                                  "traceback": []},
                                resources={"metadata": {"path": str(work)}})
        env = {**os.environ, GRADING_LOG_ENV: str(log), "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]])}
        start = time.monotonic()
        try:
            asyncio.run(asyncio.wait_for(client.async_execute(env=env), timeout))
        except Exception as e:  # the deadline, DeadKernelError and friends: keep what was recorded
            if time.monotonic() - start >= timeout:  # cancelling may surface as DeadKernelError
                run.notes.append("notebook timeout")
            else:
                run.notes.append("kernel died" if "Dead" in type(e).__name__ else f"{type(e).__name__}")
        setup = nb.cells[0].get("outputs", [])
        if any(o.get("output_type") == "error" for o in setup):
            run.notes.append("grading setup failed: " + next(o["ename"] + ": " + o["evalue"] for o in setup
                                                              if o.get("output_type") == "error"))
        errors = [o for c in nb.cells[1:] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        timed_out = ("CellTimeout", "KeyboardInterrupt")  # the grader's interrupt shows as KeyboardInterrupt
        if client.timed_out or any(o.get("ename") in timed_out for o in errors):
            run.notes.append("cell timeout")
        if any(o.get("ename") == "MemoryError" for o in errors):
            run.notes.append(f"memory limit ({memory_mb} MB)")
        if any(o.get("ename") not in timed_out for o in errors):
            run.notes.append("cell error")
        for line in log.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and rec.get("id") in run.passed and rec.get("outcome") == "passed":
                run.passed[rec["id"]] = True
    return run


def load_manifest(manifest: Path | None, src: Path = ROOT / "notebooks") -> dict[str, list[dict]]:
    """The manifest written by :func:`build`, or one made from the chapters in ``src``."""
    if manifest is not None:
        data = json.loads(Path(manifest).read_text())
        if not isinstance(data, dict):
            raise ValueError(f"manifest {manifest}: expected a JSON object notebook -> exercises")
        return data
    return {p.name: manifest_entry(nbformat.read(p, as_version=4)) for p in sorted(Path(src).glob("[0-9][0-9]_*.ipynb"))}


def grade(submissions: Path, out: Path, *, manifest: Path | None = None, cell_timeout: float = 120,
          timeout: float = 900, modules: tuple[str, ...] = (), memory_mb: int | None = MEMORY_MB,
          file_mb: int | None = FILE_MB, log=print) -> list[dict]:
    """Grade every ``<student>/NN_name.ipynb`` under ``submissions``; write the CSV ``out``; return its rows."""
    _check_limit(memory_mb, "memory_mb"), _check_limit(file_mb, "file_mb")
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise ValueError(f"submissions must be a folder with one sub-folder per student, got {submissions}")
    if cell_timeout <= 0 or timeout <= 0:
        raise ValueError(f"cell_timeout and timeout must be > 0 seconds, got {cell_timeout} and {timeout}")
    students = sorted(d for d in submissions.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not students:
        raise ValueError(f"submissions: no student folders in {submissions} (expected <student>/NN_name.ipynb)")
    book = load_manifest(manifest)
    rows = []
    for student in students:
        total = {"passed": 0, "points": 0, "max_points": 0}
        for nb_path in sorted(student.glob("*.ipynb")):
            entries = book.get(nb_path.name)
            if entries is None:
                log(f"{student.name}/{nb_path.name}: not a chapter of the manifest, skipped")
                continue
            run = run_submission(nb_path, [e["id"] for e in entries], cell_timeout=cell_timeout,
                                 timeout=timeout, modules=modules, memory_mb=memory_mb, file_mb=file_mb)
            note = "; ".join(run.notes)
            for e in entries:
                ok = run.passed[e["id"]]
                rows.append({"student": student.name, "notebook": nb_path.name, "exercise": e["id"],
                             "level": e["level"], "passed": int(ok), "points": e["points"] if ok else 0,
                             "max_points": e["points"], "note": note})
                total["passed"] += int(ok)
                total["points"] += e["points"] if ok else 0
                total["max_points"] += e["points"]
            log(f"{student.name}/{nb_path.name}: {sum(run.passed.values())}/{len(entries)} passed"
                + (f" ({note})" if note else ""))
        rows.append({"student": student.name, "notebook": "TOTAL", "exercise": "", "level": "", **total, "note": ""})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="write the student edition")
    b.add_argument("--src", type=Path, default=ROOT / "notebooks")
    b.add_argument("--out", type=Path, default=OUT)
    g = sub.add_parser("grade", help="run the submissions and write a gradebook CSV")
    g.add_argument("submissions", type=Path)
    g.add_argument("--out", type=Path, default=Path("gradebook.csv"))
    g.add_argument("--manifest", type=Path, default=None,
                   help=f"default: {OUT.relative_to(ROOT)}/manifest.json if built, else made from notebooks/")
    g.add_argument("--cell-timeout", type=float, default=120, help="seconds per cell (default 120)")
    g.add_argument("--timeout", type=float, default=900, help="seconds per notebook (default 900)")
    g.add_argument("--memory-mb", type=int, default=MEMORY_MB,
                   help=f"address-space limit of each kernel in MB (default {MEMORY_MB}; 0: none)")
    g.add_argument("--file-mb", type=int, default=FILE_MB,
                   help=f"largest file a kernel may write, in MB (default {FILE_MB}; 0: none)")
    g.add_argument("--exercises-module", action="append", default=[],
                   help="extra module that registers exercises (imported in the grader and each kernel)")
    a = ap.parse_args(argv)
    if a.cmd == "build":
        out = build(a.src, a.out)
        print(f"student edition: {out}  (hand out {out / 'student-edition.zip'})")
        return 0
    import importlib
    for m in a.exercises_module:
        importlib.import_module(m)
    manifest = a.manifest or (OUT / "manifest.json" if (OUT / "manifest.json").is_file() else None)
    rows = grade(a.submissions, a.out, manifest=manifest, cell_timeout=a.cell_timeout, timeout=a.timeout,
                 modules=tuple(a.exercises_module), memory_mb=a.memory_mb or None, file_mb=a.file_mb or None)
    for r in rows:
        if r["notebook"] == "TOTAL":
            print(f"{r['student']}: {r['points']}/{r['max_points']} points")
    print(f"gradebook: {a.out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
