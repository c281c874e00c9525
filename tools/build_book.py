"""Build the website (Jupyter Book 1.x) offline, from freshly executed notebooks.

1. Vendor the JavaScript the pages need (ipywidgets' HTML manager, RequireJS, MathJax) from
   the npm registry into ``.vendor/`` once — served from the site itself, never from a CDN.
2. Stage ``book/`` + ``notebooks/*.ipynb`` + the vendored files into ``.build/book``.
3. ``jupyter-book build`` with warnings as errors; notebooks are executed afresh with
   ``COMPANION_STATIC=1`` so every widget is rendered as its kernel-free static twin.
4. Publish every chapter's lecture decks (``tools/slides.py``, full and ``--short``) under
   ``_static/slides``; the instructors page links them.

    python tools/build_book.py            # prints the path of index.html
    python tools/build_book.py --no-execute   # reuse the committed outputs (fast preview)
"""
from __future__ import annotations

import argparse
import contextlib
import io
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
    copy_vendored(vendor(), STAGE / "_vendor")
    sync_cell_metadata(sorted((STAGE / "notebooks").glob("*.ipynb")), ROOT / "notebooks" / "src")
    import coverage_page as coverage  # tools/coverage_page.py: the coverage page from book/coverage.yml + the exercise registry
    if (STAGE / "coverage.yml").is_file():
        (STAGE / "coverage.md").write_text(coverage.render(coverage.load(STAGE / "coverage.yml")))
    merged = merge_bibliographies([STAGE / "references.bib", *sorted((STAGE / "bib").glob("*.bib"))])
    (STAGE / "references.bib").write_text(merged)
    shutil.rmtree(STAGE / "bib", ignore_errors=True)
    add_run_time_substitutions(STAGE / "_config.yml", ROOT / "book" / "run_times.json")
    return STAGE


def run_time_substitutions(record: dict) -> dict[str, str]:
    """MyST substitutions (``{{ cold_book_min }}`` …) from a run-time record written by
    ``tools/chapters.py times [--cold] --record``: the pages cite measured times, never typed ones."""
    out = {}
    for kind in ("warm", "cold", "cold_each"):
        r = record.get(kind)
        if not r:
            out.update({f"{kind}_book_min": "(not measured yet)", f"{kind}_chapter_max_s": "(not measured yet)",
                        f"{kind}_measured": "", f"{kind}_cores": "2"})
            out.update({f"{kind}_{p.stem[:2]}_s": "(not measured yet)" for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")})
            continue
        out[f"{kind}_book_min"] = f"{r['total_s'] / 60:.0f}"
        out[f"{kind}_chapter_max_s"] = f"{max(r['chapters_s'].values()):.0f}"
        out[f"{kind}_measured"] = r["measured"]
        out[f"{kind}_cores"] = str(r["cpu_cores"])
        for stem, seconds in r["chapters_s"].items():  # {{ cold_each_04_s }}: chapter 4 from its own empty cache
            out[f"{kind}_{stem[:2]}_s"] = f"{seconds:.0f}"
    return out


def add_run_time_substitutions(config: Path, record_path: Path) -> None:
    import json
    import yaml
    cfg = yaml.safe_load(config.read_text())
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    cfg.setdefault("parse", {}).setdefault("myst_substitutions", {}).update(run_time_substitutions(record))
    config.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))


# What the pages load from the vendored packages; nothing else is published (the npm packages
# hold ~40 MB of alternatives: other MathJax bundles, the non-AMD widget manager, source maps).
MATHJAX_KEEP = (
    "tex-chtml.js",                   # the one bundle the pages load (TeX in, CommonHTML out, menu)
    "output/chtml/fonts/woff-v2",     # its fonts
    "input/tex/extensions",           # TeX packages it autoloads (\\require, \\color, ...)
    "ui",                             # the right-click menu's lazily loaded parts
    "a11y", "sre",                    # what the menu's accessibility options (explorer, speech) load
)
WIDGET_JS = ("require.js", "embed-amd.js")  # only pages with a live widget view load these
WIDGET_FONT_SUFFIXES = (".woff2", ".woff")  # icon fonts of the widget manager (every browser takes one)


def copy_vendored(site: Path, dest: Path) -> None:
    """Copy the vendored files the pages actually load (see ``MATHJAX_KEEP``, ``WIDGET_JS``)."""
    dest.mkdir(parents=True)
    for name in WIDGET_JS:
        shutil.copy2(site / name, dest / name)
    for rel in MATHJAX_KEEP:
        src = site / "mathjax" / rel
        if src.is_dir():
            shutil.copytree(src, dest / "mathjax" / rel, ignore=shutil.ignore_patterns("*.map"))
        else:
            (dest / "mathjax" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / "mathjax" / rel)


def sync_cell_metadata(notebooks: list[Path], src_dir: Path) -> int:
    """Copy cell metadata (figure captions, alt text, tags) from the jupytext sources onto ``notebooks``.

    The sources are the truth for metadata, so a caption edit never needs a re-execution. Cells are
    paired by position when the two notebooks have the same cell types and sources (what
    ``tools/chapters.py check`` guarantees), else by identical source text; unpaired cells are left alone.
    Solution cells (tag ``solution``) get the toggle text "Show solution" / "Hide solution".
    Returns the number of cells whose metadata changed; the notebooks are rewritten in place.
    """
    import json
    import jupytext
    changed = 0
    for path in notebooks:
        src = src_dir / (path.stem + ".py")
        nb = json.loads(path.read_text())
        cells = nb.get("cells", [])
        src_cells = jupytext.read(src).cells if src.is_file() else []

        def text(c):
            s = c.get("source", "")
            return ("".join(s) if isinstance(s, list) else s).strip()

        same = len(src_cells) == len(cells) and all(
            a.cell_type == b.get("cell_type") and text(a) == text(b) for a, b in zip(src_cells, cells))
        def first_line(s):  # the first line that is code, not a comment or an NBVAL marker
            return next((ln.strip() for ln in s.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")

        by_text, by_first = {}, {}
        for a in src_cells:
            by_text.setdefault((a.cell_type, text(a)), a)
            by_first.setdefault((a.cell_type, first_line(a.source)), []).append(a)
        firsts = [(c.get("cell_type"), first_line(text(c))) for c in cells]
        for i, cell in enumerate(cells):
            before = json.dumps(cell.get("metadata", {}), sort_keys=True)
            meta = cell.setdefault("metadata", {})
            match = src_cells[i] if same else by_text.get((cell.get("cell_type"), text(cell)))
            if match is None and firsts[i][1] and firsts.count(firsts[i]) == 1 and len(by_first.get(firsts[i], [])) == 1:
                match = by_first[firsts[i]][0]  # an edited cell not yet re-executed: same first code line
            if match is not None:
                for key, value in match.metadata.items():
                    if key not in ("execution", "jupyter"):
                        meta[key] = json.loads(json.dumps(value))
            if "solution" in meta.get("tags", []):
                mystnb = meta.setdefault("mystnb", {})
                mystnb.setdefault("code_prompt_show", "Show solution")
                mystnb.setdefault("code_prompt_hide", "Hide solution")
            changed += json.dumps(meta, sort_keys=True) != before
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return changed


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


def _place_widget_fonts(html: Path, site: Path | None = None) -> None:
    """The widget manager loads its icon fonts relative to the page
    (``<page dir>/@jupyter-widgets/html-manager/dist/``): put a copy beside every page that shows
    a live widget view (none on the executed website, where every explorer is a static player)."""
    site = site or vendor()
    fonts = [f for f in site.iterdir() if f.suffix in WIDGET_FONT_SUFFIXES and len(f.stem) == 20]
    folders = {p.parent for p in html.rglob("*.html") if "_static" not in p.parts
               and "application/vnd.jupyter.widget-view+json" in p.read_text(errors="replace")}
    for folder in folders:  # its two stylesheets resolve the same fonts against two bases
        for dest in (folder / "@jupyter-widgets" / "html-manager" / "dist", folder / "@jupyter-widgets"):
            dest.mkdir(parents=True, exist_ok=True)
            for f in fonts:
                shutil.copy2(f, dest / f.name)


SLIDES = "_static/slides"  # where the site publishes the decks (linked from the instructors page)


def publish_slides(site: Path) -> Path:
    """Every chapter's lecture decks (full and the 30-minute cut, :mod:`slides`) into
    ``site/_static/slides``, with their vendored reveal.js and MathJax: a lecturer can open them
    from the website, offline like the rest. Made from the committed (checked) notebooks."""
    import slides
    out = site / SLIDES
    shutil.rmtree(out, ignore_errors=True)
    with contextlib.redirect_stdout(io.StringIO()):  # main() prints a line per deck
        slides.main(["--short"], out_dir=out)
    return out


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
    publish_slides(HTML)
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
