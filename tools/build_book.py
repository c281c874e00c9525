"""Build the website (Jupyter Book 1.x) offline, from freshly executed notebooks.

1. Vendor the JavaScript the pages need (ipywidgets' HTML manager, RequireJS, MathJax) from
   the npm registry into ``.vendor/`` once — served from the site itself, never from a CDN.
2. Stage ``book/`` + ``notebooks/*.ipynb`` + the vendored files into ``.build/book``.
3. ``jupyter-book build`` with warnings as errors; notebooks are executed afresh with
   ``COMPANION_STATIC=1`` so every widget is rendered as its kernel-free static twin.

    python tools/build_book.py            # prints the path of index.html
    python tools/build_book.py --no-execute   # reuse the committed outputs (fast preview)
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
VENDOR = ROOT / ".vendor"
STAGE = ROOT / ".build" / "book"
HTML = STAGE / "_build" / "html"
PACKAGES = {  # npm package -> files to keep (relative to the package folder)
    "@jupyter-widgets/html-manager@1.0.6": "dist",
    "requirejs@2.3.7": "require.js",
    "mathjax@3.2.2": "es5",
}


def _npm_pack(spec: str, dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=tmp, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"`npm pack {spec}` failed (npm and the npm registry are needed once):\n{out.stderr}")
        tgz = Path(tmp) / out.stdout.strip().splitlines()[-1]
        with tarfile.open(tgz) as tar:
            tar.extractall(dest / "pkg", filter="data")


def vendor() -> Path:
    """Download (once) and lay out the vendored JavaScript in ``.vendor/site``; return that folder."""
    site = VENDOR / "site"
    stamp = VENDOR / ".complete"
    if stamp.is_file():
        return site
    shutil.rmtree(VENDOR, ignore_errors=True)
    site.mkdir(parents=True)
    for spec, keep in PACKAGES.items():
        work = VENDOR / "tmp"
        shutil.rmtree(work, ignore_errors=True)
        _npm_pack(spec, work)
        src = work / "pkg" / "package" / keep
        if spec.startswith("@jupyter-widgets"):
            for f in src.iterdir():
                if not f.name.endswith(".map"):
                    shutil.copy2(f, site / f.name)
        elif spec.startswith("requirejs"):
            shutil.copy2(src, site / "require.js")
        else:
            shutil.copytree(src, site / "mathjax")
        shutil.rmtree(work)
    stamp.write_text("ok\n")
    return site


def stage() -> Path:
    shutil.rmtree(STAGE, ignore_errors=True)
    shutil.copytree(ROOT / "book", STAGE, ignore=shutil.ignore_patterns("_build"))
    (STAGE / "notebooks").mkdir()
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        shutil.copy2(nb, STAGE / "notebooks" / nb.name)
    shutil.copytree(vendor(), STAGE / "_vendor")
    import coverage_page as coverage  # tools/coverage_page.py: the coverage page from book/coverage.yml + the exercise registry
    if (STAGE / "coverage.yml").is_file():
        (STAGE / "coverage.md").write_text(coverage.render(coverage.load(STAGE / "coverage.yml")))
    merged = merge_bibliographies([STAGE / "references.bib", *sorted((STAGE / "bib").glob("*.bib"))])
    (STAGE / "references.bib").write_text(merged)
    shutil.rmtree(STAGE / "bib", ignore_errors=True)
    return STAGE


def merge_bibliographies(paths: list[Path]) -> str:
    """One BibTeX text with each key once (the first definition wins: references.bib, then chapters)."""
    import re
    seen, out = set(), []
    for path in paths:
        if not path.is_file():
            continue
        for entry in re.split(r"\n(?=@)", "\n" + path.read_text()):
            m = re.match(r"\s*@\w+\s*\{\s*([^,\s]+)\s*,", entry)
            if m and m.group(1).lower() not in seen:
                seen.add(m.group(1).lower())
                out.append(entry.strip())
    return "\n\n".join(out) + "\n"


def _place_widget_fonts(html: Path) -> None:
    """The widget manager loads its icon fonts relative to the page
    (``<page dir>/@jupyter-widgets/html-manager/dist/``): put a copy beside every page folder."""
    fonts = [f for f in (html / "_static").iterdir() if f.suffix in (".woff", ".woff2", ".ttf", ".eot", ".svg")
             and len(f.stem) == 20]
    for folder in {p.parent for p in html.rglob("*.html") if "_static" not in p.parts}:
        dest = folder / "@jupyter-widgets" / "html-manager" / "dist"
        dest.mkdir(parents=True, exist_ok=True)
        for f in fonts:
            shutil.copy2(f, dest / f.name)


def build(execute: bool = True) -> Path:
    stage()
    if not execute:
        cfg = (STAGE / "_config.yml").read_text().replace("execute_notebooks: force", "execute_notebooks: \"off\"")
        (STAGE / "_config.yml").write_text(cfg)
    env = dict(os.environ, COMPANION_STATIC="1", PYTHONHASHSEED="0")
    env.setdefault("COMPANION_DEVICE", "cpu")  # pinned: the pages show the checked CPU results
    env.setdefault("COMPANION_THREADS", "2")
    env.pop("MPLBACKEND", None)
    jb = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jb), "build", str(STAGE), "-W", "--keep-going"]
    print("==", " ".join(cmd), flush=True)
    result = subprocess.run(cmd, env=env)
    if result.returncode != 0:
        raise SystemExit(f"the book build failed (exit {result.returncode}); see the log above")
    _place_widget_fonts(HTML)
    index = HTML / "index.html"
    if not index.is_file():
        raise SystemExit(f"the build finished but {index} is missing")
    return index


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-execute", action="store_true", help="use the committed notebook outputs")
    args = ap.parse_args()
    index = build(execute=not args.no_execute)
    print(f"\nThe website is ready: {index}\nOpen it with: python -m http.server -d {index.parent} 8000")
