"""Export every chapter to a reveal.js slide deck that works offline.

    python tools/slides.py                 # all chapters -> .build/slides/NN_name.slides.html
    python tools/slides.py 05_sparsification

Slides come from cell metadata: a cell's own ``slideshow.slide_type`` (set it in JupyterLab's
property inspector, or in the jupytext source) wins. Otherwise the cell tags decide —
``slide``, ``subslide``, ``fragment``, ``skip``, ``notes`` — and without tags: a markdown cell
that opens with ``#``/``##`` starts a slide, ``###`` a sub-slide, solution cells (tag
``solution``) are skipped, everything else continues the current slide.

reveal.js, jQuery, RequireJS, Font Awesome and MathJax 2 are vendored from the npm registry
into ``.vendor/slides`` once (not committed) and copied beside the decks.
"""
from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from nbconvert import SlidesExporter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_book import _npm_pack  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / ".vendor" / "slides"
OUT = ROOT / ".build" / "slides"
SLIDE_TAGS = ("slide", "subslide", "fragment", "skip", "notes")
LIBS = {
    "reveal.js@4.0.2": ("", "reveal.js"),
    "jquery@2.2.4": ("dist/jquery.min.js", "jquery.min.js"),
    "requirejs@2.3.7": ("require.js", "require.js"),
    "font-awesome@4.7.0": ("", "font-awesome"),
    "mathjax@2.7.9": ("", "mathjax2"),
}
MATHJAX_KEEP = ["MathJax.js", "config", "extensions", "jax/element", "jax/input/TeX", "jax/output/CommonHTML",
                "fonts/HTML-CSS/TeX/woff", "localization/en"]


def vendor() -> Path:
    if (VENDOR / ".complete").is_file():
        return VENDOR
    shutil.rmtree(VENDOR, ignore_errors=True)
    VENDOR.mkdir(parents=True)
    for spec, (src, dest) in LIBS.items():
        with tempfile.TemporaryDirectory() as tmp:
            _npm_pack(spec, Path(tmp))
            pkg = Path(tmp) / "pkg" / "package"
            if spec.startswith("mathjax"):
                for rel in MATHJAX_KEEP:
                    s, d = pkg / rel, VENDOR / dest / rel
                    d.parent.mkdir(parents=True, exist_ok=True)
                    (shutil.copytree if s.is_dir() else shutil.copy2)(s, d)
            elif src:
                shutil.copy2(pkg / src, VENDOR / dest)
            else:
                shutil.copytree(pkg, VENDOR / dest)
    # nbconvert imports mermaid (diagrams) as an ES module; the book has no mermaid cells
    (VENDOR / "mermaid-stub.mjs").write_text("export default { initialize() {}, run() {} };\n")
    (VENDOR / ".complete").write_text("ok\n")
    return VENDOR


def slide_type(cell) -> str:
    meta = cell.metadata.get("slideshow", {})
    if meta.get("slide_type"):
        return meta["slide_type"]
    tags = cell.metadata.get("tags", [])
    for t in SLIDE_TAGS:
        if t in tags:
            return t
    if "solution" in tags:
        return "skip"
    if cell.cell_type == "markdown":
        first = cell.source.lstrip().split("\n", 1)[0]
        if first.startswith("### "):
            return "subslide"
        if first.startswith("# ") or first.startswith("## "):
            return "slide"
    return "-"


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
BOOK_EXECUTED = ROOT / ".build" / "book" / "_build" / "jupyter_execute" / "notebooks"


GLUE = re.compile(r"\{glue:text\}`([^`:]+)(?::([^`]*))?`")
CITE = re.compile(r"\{cite:\w+\}`([^`]+)`")
ADMONITION = re.compile(r"```\{admonition\}\s*(.*)")


def glued_values(nb) -> dict[str, str]:
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                out[name] = o["data"].get("application/papermill.record/text/plain", "")
    return out


def myst_to_plain(text: str, values: dict[str, str]) -> str:
    """Render the MyST roles the book uses into plain Markdown for a deck."""
    def glue(m):
        raw, fmt = values.get(m.group(1)), m.group(2)
        if raw is None:
            return m.group(0)
        try:
            v = eval(raw, {"__builtins__": {}}, {"True": True, "False": False, "np": None})
            return format(v, fmt) if fmt else str(v)
        except Exception:
            return raw
    text = GLUE.sub(glue, text)
    text = CITE.sub(lambda m: "[" + m.group(1).replace(",", "; ") + "]", text)
    if ADMONITION.search(text):  # an admonition becomes a bold title; its closing fence goes
        text = ADMONITION.sub(lambda m: f"**{m.group(1)}**", text)
        text = "\n".join(l for l in text.splitlines() if l.strip() != "```")
    return text


def split_at_headings(cells) -> list:
    """Markdown cells that hold a heading after some text are split there, so each heading can
    open its own slide."""
    out = []
    for cell in cells:
        if cell.cell_type != "markdown":
            out.append(cell)
            continue
        parts, current, fenced = [], [], False
        for line in cell.source.splitlines():
            if line.lstrip().startswith("```"):
                fenced = not fenced
            if not fenced and re.match(r"#{1,3} ", line) and any(l.strip() for l in current):
                parts.append(current)
                current = []
            current.append(line)
        parts.append(current)
        for i, lines in enumerate(parts):
            piece = nbformat.v4.new_markdown_cell("\n".join(lines).strip("\n"))
            piece.metadata = dict(cell.metadata) if i == 0 else {}
            out.append(piece)
    return out


def export(nb_path: Path) -> Path:
    # Prefer the notebook as executed by the last book build: its widgets are static twins.
    built = BOOK_EXECUTED / nb_path.name
    nb = nbformat.read(nb_path, as_version=4)
    if built.is_file():
        fresh = nbformat.read(built, as_version=4)
        if glued_values(fresh):
            nb = fresh
    nb.metadata.pop("widgets", None)  # a deck has no kernel: live widget views would be dead
    values = glued_values(nb)
    nb.cells = split_at_headings(nb.cells)
    for cell in nb.cells:
        cell.metadata["slideshow"] = {"slide_type": slide_type(cell)}
        if cell.cell_type == "markdown":
            cell.source = myst_to_plain(cell.source, values)
        else:
            cell.source = "\n".join(l for l in cell.source.splitlines() if not l.startswith("# NBVAL_"))
        for out in cell.get("outputs", []):
            if WIDGET_MIME in out.get("data", {}):
                out["data"] = {"text/plain": "(a live widget: run this chapter in JupyterLab to use it)"}
    exporter = SlidesExporter(reveal_url_prefix="reveal.js", jquery_url="jquery.min.js", require_js_url="require.js",
                              font_awesome_url="font-awesome/css/font-awesome.css",
                              mathjax_url="mathjax2/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
                              mermaid_js_url="./mermaid-stub.mjs", reveal_theme="white",
                              reveal_scroll=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"{nb_path.stem}.slides.html"
    out.write_text(body)
    return out


def main(names: list[str]) -> int:
    libs = vendor()
    OUT.mkdir(parents=True, exist_ok=True)
    for item in libs.iterdir():
        if item.name.startswith("."):
            continue
        dest = OUT / item.name
        if not dest.exists():
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, dest)
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if names:
        paths = [p for p in paths if p.stem in names or p.stem[:2] in names]
        if not paths:
            raise SystemExit(f"no chapter matches {names}")
    for p in paths:
        print(f"{export(p).relative_to(ROOT)}")
    print(f"\nOpen a deck in a browser, e.g. {OUT / (paths[0].stem + '.slides.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
