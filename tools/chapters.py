"""Build the chapter notebooks from their sources, executed.

Sources live in ``notebooks/src/NN_name.py`` (jupytext percent format: ``# %%`` code cells,
``# %% [markdown]`` text cells, ``# %% tags=["hide-input"]`` for cell tags). The executed
notebook ``notebooks/NN_name.ipynb`` (outputs included) is what is committed and checked.

    python tools/chapters.py run notebooks/src/05_sparsification.py [...]   # execute and write .ipynb
    python tools/chapters.py run --all                                      # every chapter
    python tools/chapters.py check                                          # sources and notebooks agree
    python tools/chapters.py spread --seeds 1 2 3 [paths]                   # measure the seed-to-seed spread
                                      # (re-execute with COMPANION_SEED=s; seed 0 is the committed notebook;
                                      # writes notebooks/spread/NN_name.json, which the tests check against)
    python tools/chapters.py retag [paths]                                  # a cell tagged nbval-check-output whose
                                      # output moved between the recorded seeds becomes check-within-noise
    python tools/chapters.py times [--cold] [--record]                      # run every chapter, print a time table
                                      # --cold: from an empty model cache (trains everything once)
                                      # --cold --each: every chapter from its own empty cache
                                      # --record: save the table to book/run_times.json (cited by the book)
                                                                      # (committed notebooks are not touched)

Execution is pinned: ``COMPANION_DEVICE=cpu`` and ``COMPANION_THREADS=2`` unless the caller set
them. Deterministic outputs are checked exactly; trained results within the noise of their
recorded seeds (``tools/noise.py``), so the notebooks check out on any CPU and thread count.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
NB_DIR = ROOT / "notebooks"
SRC_DIR = NB_DIR / "src"


def sources() -> list[Path]:
    return sorted(SRC_DIR.glob("[0-9][0-9]_*.py"))


def target(src: Path) -> Path:
    return NB_DIR / (src.stem + ".ipynb")


def load_source(src: Path) -> nbformat.NotebookNode:
    nb = jupytext.read(src)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.pop("jupytext", None)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def pin_environment() -> None:
    """CPU and a fixed thread count for every kernel started from here (unless already set)."""
    os.environ.setdefault("COMPANION_DEVICE", "cpu")
    os.environ.setdefault("COMPANION_THREADS", "2")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")  # see companion.OPENMP_ENV: survives a busy core


def glued_values(nb: nbformat.NotebookNode) -> dict:
    """``{glue name: text/plain value}`` of an executed notebook (what the prose cites)."""
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                data = o.get("data", {})
                out[name] = next((v for k, v in data.items() if k.endswith("text/plain")), None)
    return out


def execute(src: Path, timeout: int = 3600, static: bool = False, write: bool = True,
            executed: list | None = None) -> float:
    """Execute a chapter source; write the executed notebook next to the others when ``write``;
    append the executed notebook to ``executed`` when given."""
    nb = load_source(src)
    pin_environment()
    os.environ.pop("MPLBACKEND", None)  # the kernel must use the inline backend
    env_static = os.environ.get("COMPANION_STATIC")
    if not static:
        os.environ.pop("COMPANION_STATIC", None)
    t0 = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(NB_DIR)}}).execute()
    finally:
        if env_static is not None:
            os.environ["COMPANION_STATIC"] = env_static
    elapsed = time.perf_counter() - t0
    for i, cell in enumerate(nb.cells):
        cell.id = f"c{i:03d}"  # stable ids: small diffs
        cell.metadata.pop("execution", None)
        cell.metadata.pop("lines_to_next_cell", None)
    if write:
        nbformat.write(nb, target(src))
    if executed is not None:
        executed.append(nb)
    return elapsed


def check() -> int:
    bad = 0
    for src in sources():
        tgt = target(src)
        if not tgt.is_file():
            print(f"{tgt.relative_to(ROOT)}: missing — run `python tools/chapters.py run {src.relative_to(ROOT)}`")
            bad += 1
            continue
        want = [(c.cell_type, c.source) for c in load_source(src).cells]
        have = [(c.cell_type, c.source) for c in nbformat.read(tgt, as_version=4).cells]
        if want != have:
            print(f"{tgt.relative_to(ROOT)}: differs from {src.relative_to(ROOT)} — re-run it")
            bad += 1
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("paths", nargs="*")
    r.add_argument("--all", action="store_true")
    r.add_argument("--record", action="store_true", help="with --all: record the run times (warm, or cold with --cold)")
    r.add_argument("--cold", action="store_true", help="start from an empty model cache (a temporary folder, printed)")
    sub.add_parser("check")
    sp = sub.add_parser("spread", help="re-execute chapters under other seeds and record what they show")
    sp.add_argument("paths", nargs="*")
    sp.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3])
    sp.add_argument("--merge-only", action="store_true", help="only merge the per-seed runs in .build/spread")
    rt = sub.add_parser("retag", help="exact-checked cells that moved between seeds become check-within-noise")
    rt.add_argument("paths", nargs="*")
    t = sub.add_parser("times")
    t.add_argument("--cold", action="store_true", help="start from an empty model cache (a temporary folder)")
    t.add_argument("--record", action="store_true", help="write the result into book/run_times.json")
    t.add_argument("--each", action="store_true",
                   help="with --cold: every chapter from its own empty cache (a student who opens it first)")
    args = ap.parse_args(argv)
    if args.cmd in ("times", "run") and args.cold:
        import tempfile
        os.environ["COMPANION_CACHE"] = tempfile.mkdtemp(prefix="companion-cold-cache-")
        print(f"cold cache: {os.environ['COMPANION_CACHE']}", flush=True)
    if args.cmd == "check":
        return 1 if check() else 0
    if args.cmd == "retag":
        return retag([Path(p).resolve() for p in args.paths] or sources())
    if args.cmd == "spread":
        return spread([Path(p).resolve() for p in args.paths] or sources(), args.seeds, args.merge_only)
    paths = sources() if args.cmd == "times" or args.all else [Path(p).resolve() for p in args.paths]
    if not paths:
        ap.error("name notebook sources or --all")
    rows = []
    for p in paths:
        if p.suffix == ".ipynb":
            p = SRC_DIR / (p.stem + ".py")
        if args.cmd == "times" and args.cold and getattr(args, "each", False):
            import tempfile
            os.environ["COMPANION_CACHE"] = tempfile.mkdtemp(prefix="companion-cold-cache-")
        dt = execute(p, write=args.cmd != "times")
        rows.append((p.stem, dt))
        print(f"{p.stem:40s} {dt:7.1f} s", flush=True)
    if len(rows) > 1:
        print(f"{'total':40s} {sum(d for _, d in rows):7.1f} s")
    if args.cmd == "run" and args.all and args.record:
        record_times("cold" if args.cold else "warm", rows,
                     command=f"python tools/chapters.py run --all{' --cold' if args.cold else ''} --record")
    if args.cmd == "times" and args.record:
        record_times(("cold_each" if args.each else "cold") if args.cold else "warm", rows)
    return 0


SPREAD_RUNS = ROOT / ".build" / "spread"


def _library_digest(src: Path) -> str:
    """Digest of the code a record measured: every ``companion`` module (its code, without
    comments or docstrings, as the cache's fingerprint reads it) and the chapter's code cells."""
    import hashlib
    from companion import cache
    h = hashlib.sha256()
    for cell in load_source(src).cells:
        if cell.cell_type == "code":
            h.update(cell.source.encode())
    for f in sorted((ROOT / "companion").rglob("*.py")):
        h.update(f"{f.relative_to(ROOT)} {cache._parse_module(f, f.stat().st_mtime_ns)[0]}".encode())
    return h.hexdigest()[:16]


def spread(paths: list[Path], seeds: list[int], merge_only: bool = False) -> int:
    """Re-execute each chapter with ``COMPANION_SEED=s`` for every seed (not written over the
    committed notebook), keep what each run shows in ``.build/spread/``, and merge those runs with
    the committed notebook (seed 0) into ``notebooks/spread/NN_name.json`` (tools/noise.py)."""
    import datetime
    import noise
    if any(s < 1 for s in seeds):
        raise SystemExit("--seeds are the extra seeds (>= 1); seed 0 is the committed notebook")
    SPREAD_RUNS.mkdir(parents=True, exist_ok=True)
    for src in paths:
        if src.suffix == ".ipynb":
            src = SRC_DIR / (src.stem + ".py")
        digest = _library_digest(src)
        if not merge_only:
            for s in seeds:
                os.environ["COMPANION_SEED"] = str(s)
                runs: list = []
                try:
                    dt = execute(src, write=False, executed=runs)
                finally:
                    os.environ.pop("COMPANION_SEED", None)
                snap = noise.snapshot(runs[0].cells)
                snap.update(seed=s, library=digest, threads=os.environ.get("COMPANION_THREADS"))
                (SPREAD_RUNS / f"{src.stem}-seed{s}.json").write_text(json.dumps(snap, indent=1, sort_keys=True))
                print(f"{src.stem:40s} seed {s}: {dt:7.1f} s", flush=True)
        committed = nbformat.read(target(src), as_version=4)
        snaps = {0: noise.snapshot(committed.cells)}
        for s in seeds:
            run = SPREAD_RUNS / f"{src.stem}-seed{s}.json"
            if not run.is_file():
                print(f"{src.stem}: no run for seed {s} in {SPREAD_RUNS}", file=sys.stderr)
                return 1
            snap = json.loads(run.read_text())
            if snap.get("library") != digest:
                print(f"{src.stem}: the seed-{s} run measured other code (library {snap.get('library')}, now {digest}): "
                      "run it again", file=sys.stderr)
                return 1
            snaps[s] = snap
        record = noise.merge(snaps)
        record.update(notebook=src.stem, library=digest, measured=datetime.date.today().isoformat(),
                      threads={str(s): snaps[s].get("threads") for s in seeds},
                      command="python tools/chapters.py spread --seeds " + " ".join(map(str, seeds)),
                      rule="tools/noise.py: exact where no seed moved, else the "
                           f"{100 * noise.CONFIDENCE:g} % prediction interval over the seeds")
        noise.RECORD_DIR.mkdir(parents=True, exist_ok=True)
        noise.record_path(src.stem).write_text(json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        problems = noise.check_notebook(committed.cells, record)
        print(f"{src.stem}: recorded {len(record['glue'])} glued values and {len(record['cells'])} tagged cells over "
              f"seeds {record['seeds']}; {len(problems)} problem(s)", flush=True)
        for p in problems:
            print("   ", p)
    return 0


def retag(paths: list[Path]) -> int:
    """In each chapter source and its executed notebook (outputs kept), a cell tagged
    ``nbval-check-output`` whose recorded output moved between seeds (it depends on trained
    weights) is retagged ``check-within-noise`` (:func:`noise.retag_cells`)."""
    import jupytext
    import noise
    for src in paths:
        record = noise.load_record(src.stem)
        if record is None:
            print(f"{src.stem}: no record; run `python tools/chapters.py spread` first", file=sys.stderr)
            return 1
        nb = jupytext.read(src)
        changed = noise.retag_cells(nb.cells, record)
        for first_line in changed:
            print(f"{src.stem}: {first_line!r} -> {noise.NOISE_TAG}")
        if changed:
            jupytext.write(nb, src, fmt="py:percent")
            if target(src).is_file():
                book = nbformat.read(target(src), as_version=4)
                noise.retag_cells(book.cells, record)
                nbformat.write(book, target(src))
    return 0


RUN_TIMES = ROOT / "book" / "run_times.json"


def record_times(kind: str, rows: list[tuple[str, float]], command: str | None = None) -> None:
    """Save a measured time table into book/run_times.json (``kind``: "warm"; "cold", the whole book
    from one empty cache; "cold_each", every chapter from its own empty cache)."""
    import datetime
    import platform
    data = json.loads(RUN_TIMES.read_text()) if RUN_TIMES.is_file() else {}
    data[kind] = {"chapters_s": {name: round(dt, 1) for name, dt in rows}, "total_s": round(sum(d for _, d in rows), 1),
                  "measured": datetime.date.today().isoformat(), "cpu_cores": os.cpu_count(),
                  "torch_threads": int(os.environ.get("COMPANION_THREADS", "0") or 0) or None,
                  "machine": platform.machine(), "command": command or "python tools/chapters.py times"
                  + {"warm": "", "cold": " --cold", "cold_each": " --cold --each"}[kind] + " --record"}
    RUN_TIMES.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"recorded in {RUN_TIMES.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
