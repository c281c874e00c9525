"""Lecture slides from the chapters: one offline reveal.js deck per chapter.

    python tools/slides.py                 # all chapters -> .build/slides/NN_name.slides.html
    python tools/slides.py 05_sparsification
    python tools/slides.py --short 05      # also the short lecture: NN_name.short.slides.html

A deck is built from the committed, executed notebook (nothing is run) by these rules:

* headings (``#``, ``##``, ``###``) give the slide titles; ``#`` makes the title slide;
* one idea per slide: every markdown paragraph, list, table or code cell starts a slide, a short
  lead-in paragraph shares its slide with the list or code that follows; a slide holds at most
  :data:`MAX_WORDS` words and :data:`MAX_CODE_LINES` lines of code and output, and its estimated
  height fits 1280x720; longer paragraphs are split at sentences, lists at items, tables at rows,
  and code cells longer than two slides are summarised (their first lines and a pointer to the
  notebook);
* left out: solution and hidden cells (tags ``solution``, ``hide-cell``, ``remove-cell``,
  ``remove-input`` for the input), exercise stubs, setup boilerplate (imports, ``nb.setup()``,
  ``nb.glue(...)``, frame timings), ``NBVAL_`` markers, stderr (progress bars), glue records;
* figures (PNG outputs) get a slide of their own; an explorer (``widgets.explore``) shows the
  frame stored in the notebook's widget state, with its controls named in the caption;
* ``{cite:p}`key``` renders as (Author et al., Year) from ``book/references.bib`` and
  ``book/bib/*.bib``; ``{glue:text}`` as the glued value; math through a vendored MathJax 2
  (SVG output: no web fonts, so the deck opens from ``file://`` without errors).

reveal.js 4 and MathJax 2 are vendored from the npm registry into ``.vendor/slides`` once (not
committed) and copied beside the decks; a deck loads nothing from the network.
"""
from __future__ import annotations

import codecs
import html
import json
import math
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_book import _npm_pack, merge_bibliographies  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / ".vendor" / "slides"
VENDOR_VERSION = "reveal-4.0.2+mathjax-2.7.9-svg-2"
OUT = ROOT / ".build" / "slides"

#: Limits of one slide: prose words (title and captions included; a formula counts as one word)
#: and lines of code plus printed output.
MAX_WORDS = 80
MAX_CODE_LINES = 15
WIDTH, HEIGHT = 1280, 720

MATHJAX_KEEP = ["MathJax.js", "extensions/tex2jax.js", "extensions/TeX", "extensions/MathEvents.js",
                "extensions/MathMenu.js", "extensions/MathZoom.js", "jax/element", "jax/input/TeX",
                "jax/output/SVG/jax.js", "jax/output/SVG/config.js", "jax/output/SVG/autoload",
                "jax/output/SVG/fonts/TeX", "localization/en"]
HIDDEN_TAGS = {"solution", "hide-cell", "remove-cell", "skip"}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


# --- vendored JavaScript -------------------------------------------------------------------

def vendor() -> Path:
    """Download (once) reveal.js and the parts of MathJax 2 a deck needs into ``.vendor/slides``."""
    stamp = VENDOR / ".complete"
    if stamp.is_file() and stamp.read_text().strip() == VENDOR_VERSION:
        return VENDOR
    shutil.rmtree(VENDOR, ignore_errors=True)
    VENDOR.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        _npm_pack("reveal.js@4.0.2", Path(tmp) / "reveal")
        pkg = Path(tmp) / "reveal" / "pkg" / "package"
        (VENDOR / "reveal.js").mkdir()
        for name in ("dist/reveal.js", "dist/reveal.css", "LICENSE"):
            shutil.copy2(pkg / name, VENDOR / "reveal.js" / Path(name).name)
    with tempfile.TemporaryDirectory() as tmp:
        _npm_pack("mathjax@2.7.9", Path(tmp) / "mathjax")
        pkg = Path(tmp) / "mathjax" / "pkg" / "package"
        for rel in MATHJAX_KEEP + ["LICENSE"]:
            s, d = pkg / rel, VENDOR / "mathjax2" / rel
            d.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if s.is_dir() else shutil.copy2)(s, d)
    stamp.write_text(VENDOR_VERSION + "\n")
    return VENDOR


# --- MyST roles: glue, citations ------------------------------------------------------------

GLUE = re.compile(r"\{glue:(?:text|md)\}`([^`:]+)(?::([^`]*))?`")
CITE = re.compile(r"\{cite(?::(\w+))?\}`([^`]+)`")
FUNC = re.compile(r"\{(?:func|class|meth|mod|attr|py:\w+)\}`~?([^`]+)`")


def glued_values(nb) -> dict[str, str]:
    """``{name: repr}`` of every ``nb.glue`` record in the executed notebook's outputs."""
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                out[name] = o["data"].get("application/papermill.record/text/plain", "")
    return out


def _glue_text(raw: str | None, fmt: str | None) -> str:
    if raw is None:
        return "?"
    try:
        v = eval(raw, {"__builtins__": {}}, {"True": True, "False": False, "np": None})  # a repr of a number/str
        return format(v, fmt) if fmt else str(v)
    except Exception:
        return raw.strip("'\"")


def _latex_text(s: str) -> str:
    try:
        s = codecs.decode(s.encode("utf-8"), "ulatex")
    except Exception:
        pass
    return s.replace("{", "").replace("}", "")


def load_bibliography(paths: list[Path] | None = None) -> dict[str, tuple[str, str]]:
    """``{key: (authors as cited, year)}`` from the book's BibTeX files (first definition wins).

    One author: "Han"; two: "Han and Dally"; three or more: "Han et al.".
    """
    from pybtex.database import parse_string
    paths = paths or [ROOT / "book" / "references.bib", *sorted((ROOT / "book" / "bib").glob("*.bib"))]
    db = parse_string(merge_bibliographies(paths), "bibtex")
    out = {}
    for key, entry in db.entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        last = [_latex_text(" ".join(p.prelast_names + p.last_names)) for p in people]
        if not last:
            who = _latex_text(entry.fields.get("organization", entry.fields.get("title", key)))
        elif len(last) == 1:
            who = last[0]
        elif len(last) == 2:
            who = f"{last[0]} and {last[1]}"
        else:
            who = f"{last[0]} et al."
        out[key.lower()] = (who, entry.fields.get("year", "n.d."))
    return out


def render_cite(kind: str | None, keys: str, bib: dict[str, tuple[str, str]]) -> str:
    """``{cite:p}`a,b``` -> "(A et al., 2015; B and C, 2016)"; ``{cite:t}`` -> "A et al. (2015)"."""
    items = []
    for key in (k.strip() for k in keys.split(",") if k.strip()):
        if key.lower() not in bib:
            print(f"slides: unknown citation key {key!r}", file=sys.stderr)
            items.append((key, "n.d."))
        else:
            items.append(bib[key.lower()])
    if kind == "t":
        return "; ".join(f"{who} ({year})" for who, year in items)
    return "(" + "; ".join(f"{who}, {year}" for who, year in items) + ")"


def myst_to_markdown(text: str, values: dict[str, str], bib: dict[str, tuple[str, str]]) -> str:
    """Replace the MyST roles the book uses by plain Markdown (citations author-year)."""
    text = GLUE.sub(lambda m: _glue_text(values.get(m.group(1)), m.group(2)), text)
    text = CITE.sub(lambda m: render_cite(m.group(1), m.group(2), bib), text)
    return FUNC.sub(lambda m: f"`{m.group(1)}`", text)


# --- blocks and slides ----------------------------------------------------------------------

@dataclass
class Block:
    """One piece of a slide: ``html`` to place, its ``words`` of prose, ``lines`` of code/output
    and estimated ``height`` in px (at 1280x720)."""
    kind: str  # prose | code | output | figure
    html: str
    words: int = 0
    lines: int = 0
    height: float = 0.0


@dataclass
class Slide:
    title: str
    blocks: list[Block] = field(default_factory=list)
    cls: str = ""
    section: str = ""  # the ``#``/``##`` heading the slide belongs to (a ``###`` only changes the title)

    @property
    def words(self) -> int:
        return count_words(self.title) + sum(b.words for b in self.blocks)

    @property
    def lines(self) -> int:
        return sum(b.lines for b in self.blocks)

    @property
    def height(self) -> float:
        return title_height(self.title) + sum(b.height for b in self.blocks)


PAD_Y, PAD_X = 24, 48
BODY_W = WIDTH - 2 * PAD_X
BODY_H = HEIGHT - 2 * PAD_Y - 24  # a safety margin on the height estimates
PROSE_PX, PROSE_LH, PROSE_CHAR = 26, 1.35, 0.52
CODE_MAX_PX, CODE_MIN_PX, CODE_LH, CODE_CHAR = 20, 13, 1.3, 0.6
MATH_SPAN = re.compile(r"\\\(.*?\\\)|\\\[.*?\\\]", re.S)


def count_words(text_or_html: str) -> int:
    """Words of visible prose: tags dropped, each formula one word, tokens with a letter or digit."""
    t = re.sub(r"<(pre|aside)\b.*?</\1>", " ", text_or_html, flags=re.S)
    t = re.sub(r"<[^>]+>", " ", t)
    t = MATH_SPAN.sub(" formula ", html.unescape(t))
    return sum(1 for w in t.split() if re.search(r"\w", w))


def title_height(title: str) -> float:
    chars = max(1, len(title))
    lines = math.ceil(chars * 38 * PROSE_CHAR / BODY_W)
    return lines * 38 * 1.2 + 18


def _prose_height(text: str, indent: int = 0) -> float:
    chars_per_line = (BODY_W - indent) / (PROSE_PX * PROSE_CHAR)
    lines = max(1, math.ceil(len(text) / chars_per_line))
    return lines * PROSE_PX * PROSE_LH + 14


def _code_font(lines: list[str]) -> float:
    longest = max((len(l) for l in lines), default=1)
    return max(CODE_MIN_PX, min(CODE_MAX_PX, (BODY_W - 24) / (CODE_CHAR * max(longest, 1))))


def _visual_lines(lines: list[str], px: float) -> int:
    per_line = max(20, int((BODY_W - 24) / (CODE_CHAR * px)))
    return sum(max(1, math.ceil(len(l) / per_line)) for l in lines)


def code_block(text: str, kind: str = "code", max_px: float = CODE_MAX_PX) -> Block:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer
    lines = text.rstrip("\n").split("\n")
    px = min(max_px, _code_font(lines))
    if kind == "code":
        body = highlight("\n".join(lines), PythonLexer(), HtmlFormatter(nowrap=True)).rstrip("\n")
    else:
        body = html.escape("\n".join(lines))
    n = _visual_lines(lines, px)
    return Block(kind, f'<pre class="{kind}" style="font-size:{px:.1f}px"><code>{body}</code></pre>',
                 lines=n, height=n * px * CODE_LH + 22)


def _md():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    def math(content, opts):
        content = html.escape(content)
        return f'<span class="math">\\[{content}\\]</span>' if opts.get("display_mode") else \
            f'<span class="math">\\({content}\\)</span>'
    return MarkdownIt("commonmark", {"html": False}).enable("table").use(dollarmath_plugin, renderer=math)


def _render(md, text: str) -> str:
    return md.render(text).strip()


def _split_sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z(*`$\[])", text.strip()) if s]


def _chunks(items: list[str], cost, limit: float) -> list[list[str]]:
    out, cur, used = [], [], 0.0
    for it in items:
        c = cost(it)
        if cur and used + c > limit:
            out.append(cur)
            cur, used = [], 0.0
        cur.append(it)
        used += c
    if cur:
        out.append(cur)
    return out


def markdown_blocks(md, text: str, budget_px: float, max_words: int = MAX_WORDS) -> list[list[Block]]:
    """The prose units of a markdown text (headings removed by the caller): each unit a list of
    blocks that belong on one slide; long paragraphs, lists and tables are split."""
    tokens = md.parse(text)
    lines = text.split("\n")
    units: list[list[Block]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.level != 0 or tok.map is None or tok.nesting == -1:
            i += 1
            continue
        src = "\n".join(lines[tok.map[0]:tok.map[1]])
        if tok.type == "fence":
            info = tok.info.strip()
            if info.startswith("{admonition}") or info.startswith("{note}") or info.startswith("{tip}"):
                title = info.split("}", 1)[1].strip() or info[1:].split("}")[0].title()
                inner = markdown_blocks(md, tok.content, budget_px - PROSE_PX * PROSE_LH - 8,
                                        max_words - count_words(title))
                for k, unit in enumerate(inner):
                    for b in unit:
                        b.html = f'<div class="box">{b.html}</div>'
                    if k == 0 and title:
                        head = Block("prose", f'<p class="box-title">{html.escape(title)}</p>',
                                     words=count_words(title), height=PROSE_PX * PROSE_LH + 8)
                        unit.insert(0, head)
                units.extend(inner)
            elif info.startswith("{"):
                pass  # other directives (figures of the website, toc) are not lecture material
            else:
                units.append([code_block(tok.content)])
        elif tok.type == "paragraph_open":
            plain = src.strip()
            words = count_words(_render(md, plain))
            if words <= max_words and _prose_height(plain) <= budget_px:
                units.append([_prose(md, plain)])
            else:
                sentences = _split_sentences(plain.replace("\n", " "))
                limit = min(max_words - 12, int(max_words * 0.85))
                pieces = []
                for s in sentences:  # a sentence longer than a slide is cut (the notebook has it all)
                    w = s.split()
                    pieces.append(s if len(w) <= limit else " ".join(w[:limit]) + " …")
                for chunk in _chunks(pieces, lambda s: count_words(_render(md, s)), limit):
                    units.append([_prose(md, " ".join(chunk))])
        elif tok.type in ("bullet_list_open", "ordered_list_open"):
            items = _list_items(src)
            cost = lambda it: max(count_words(_render(md, it)) / max_words * budget_px, _prose_height(it, 40))  # noqa: E731
            for chunk in _chunks(items, cost, budget_px - 10):
                text_ = "\n".join(chunk)
                units.append([Block("prose", _render(md, text_), words=count_words(_render(md, text_)),
                                    height=sum(_prose_height(it, 40) - 6 for it in chunk) + 10)])
        elif tok.type == "table_open":
            rows = [l for l in src.split("\n") if l.strip()]
            head, body = rows[:2], rows[2:]
            row_h = lambda r: 30 * max(1, math.ceil(max((len(c) for c in r.split("|")), default=1) * 20 * 0.5  # noqa: E731
                                                    / (BODY_W / max(1, r.count("|") - 1)))) + 10
            head_words = count_words(_render(md, "\n".join(head)))
            body = [_shorten_row(md, r, max_words - head_words) for r in body]
            per = lambda r: max(row_h(r) / (budget_px - row_h(head[0])), count_words(r) / (max_words - head_words))  # noqa: E731
            for chunk in _chunks(body, per, 1.0):
                t = _render(md, "\n".join(head + chunk))
                units.append([Block("prose", t, words=count_words(t), height=sum(row_h(r) for r in [head[0], *chunk]) + 10)])
        elif tok.type == "math_block":
            units.append([Block("prose", _render(md, src), words=1, height=90)])
        elif tok.type in ("blockquote_open",):
            units.append([_prose(md, src)])
        i += 1
    return units


def _shorten_row(md, row: str, max_words: int) -> str:
    """A table row that alone exceeds a slide's words: each cell keeps its first words and "…"
    (a slide summarises; the notebook has the full row)."""
    if count_words(_render(md, row)) <= max_words:
        return row
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    per = max(2, max_words // max(1, len(cells)) - 1)
    cells = [" ".join(c.split()[:per]) + " …" if len(c.split()) > per else c for c in cells]
    return "| " + " | ".join(cells) + " |"


def _list_items(src: str) -> list[str]:
    items: list[str] = []
    for line in src.split("\n"):
        if re.match(r"(\s{0,3})([-*+]|\d+[.)])\s", line) or not items:
            items.append(line)
        else:
            items[-1] += "\n" + line
    return items


def _prose(md, text: str) -> Block:
    h = _render(md, text)
    return Block("prose", h, words=count_words(h), height=_prose_height(re.sub(r"<[^>]+>", "", h)))


# --- code cells -----------------------------------------------------------------------------

BOILERPLATE = re.compile(r"^\s*(import |from \S+ import |dev = nb\.setup|nb\.setup\(|nb\.glue\(|print\(widgets\.timing_summary|widgets\.show_timing\(|"
                         r"ms = widgets\.frame_timings_ms|print\(f?\"rendering one frame|threads = torch\.get_num_threads|"
                         r"torch\.set_num_threads|# NBVAL_|# %%)")


def slide_code(source: str) -> str:
    """The code of a cell as shown on a slide: boilerplate lines (imports, ``nb.setup``,
    ``nb.glue``, frame timings, NBVAL markers) dropped, blank runs collapsed."""
    out, skipping = [], False
    for line in source.split("\n"):
        if skipping:
            skipping = line.count("(") >= line.count(")") and not line.rstrip().endswith(")")
            continue
        if BOILERPLATE.match(line):
            skipping = line.count("(") > line.count(")")
            continue
        out.append(line.rstrip())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")
    return text


def split_code(text: str) -> list[str]:
    """A cell's code in slide-sized pieces: one piece if it fits, two split at a top-level line,
    else a summary (the first lines and a pointer to the notebook)."""
    lines = text.split("\n")
    px = _code_font(lines)
    if _visual_lines(lines, px) <= MAX_CODE_LINES:
        return [text]
    cuts = [i for i in range(1, len(lines)) if lines[i] and not lines[i][0].isspace() and not lines[i].startswith((")", "]", "}"))]
    for c in sorted(cuts, key=lambda c: abs(c - len(lines) / 2)):
        a, b = lines[:c], lines[c:]
        if _visual_lines(a, _code_font(a)) <= MAX_CODE_LINES and _visual_lines(b, _code_font(b)) <= MAX_CODE_LINES:
            return ["\n".join(a).rstrip(), "\n".join(b).strip("\n")]
    keep: list[str] = []
    for line in lines:
        if _visual_lines(keep + [line], px) > MAX_CODE_LINES - 1:
            break
        keep.append(line)
    while keep and (keep[-1].strip() == "" or keep[-1].rstrip().endswith((",", "(", "[", "{", "\\", ":"))):
        keep.pop()
    rest = len(lines) - len(keep)
    return ["\n".join(keep) + f"\n# ⋯ {rest} more lines: see the notebook"]


def text_outputs(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream" and o.get("name") == "stdout":
            out.append(o.text)
        elif o.output_type in ("execute_result", "display_data"):
            data = o.get("data", {})
            if "text/plain" in data and not {"image/png", WIDGET_MIME} & set(data) \
                    and not o.get("metadata", {}).get("scrapbook"):
                out.append(data["text/plain"] + "\n")
    return "".join(out).rstrip("\n")


def output_block(text: str, max_lines: int) -> Block:
    lines = text.split("\n")
    px = min(17.0, _code_font(lines))
    while _visual_lines(lines, px) > max_lines and len(lines) > 1:
        lines = lines[:-1]
        cut = True
    else:
        cut = False
    if len(lines) < len(text.split("\n")) or cut:
        lines = lines[:-1] + [f"⋯ ({len(text.split(chr(10))) - len(lines) + 1} more lines in the notebook)"]
    return code_block("\n".join(lines), kind="output", max_px=px)


def images(cell) -> list[str]:
    return [o["data"]["image/png"] for o in cell.get("outputs", [])
            if o.output_type in ("display_data", "execute_result") and "image/png" in o.get("data", {})]


def explorer_frames(nb, cell) -> list[tuple[str, str]]:
    """``(png base64, caption)`` of each explorer in the cell's outputs (the frame kept in the
    notebook's widget state, and the controls it has)."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    out = []
    for o in cell.get("outputs", []):
        view = o.get("data", {}).get(WIDGET_MIME)
        if not view or view.get("model_id") not in state:
            continue
        found = {"png": None, "title": "", "controls": []}

        def walk(mid):
            m = state.get(mid)
            if not m:
                return
            s, name = m["state"], m["model_name"]
            if name == "ImageModel":
                for b in m.get("buffers", []):
                    if b.get("path") == ["value"]:
                        found["png"] = b["data"]
            elif name == "HTMLModel" and not found["title"]:
                found["title"] = re.sub(r"<[^>]+>", "", s.get("value", ""))
            elif "_options_labels" in s and s.get("description"):
                labels = s["_options_labels"]
                cur = labels[s.get("index") or 0] if labels else ""
                found["controls"].append(f"{s['description']} = {cur} (of {len(labels)})")
            for child in s.get("children", []):
                walk(child.replace("IPY_MODEL_", ""))
        walk(view["model_id"])
        if found["png"]:
            caption = f"Explorer “{found['title']}”: " + ", ".join(found["controls"]) + ". Move the controls in the notebook."
            out.append((found["png"], caption))
    return out


def figure_block(png_b64: str, caption: str, max_h: float) -> Block:
    cap = f'<p class="caption">{html.escape(caption)}</p>' if caption else ""
    return Block("figure", f'<figure><img alt="figure" src="data:image/png;base64,{png_b64}" '
                           f'style="height:{max_h:.0f}px;width:100%">{cap}</figure>',
                 words=count_words(caption), height=max_h + (_prose_height(caption) if caption else 0))


# --- the deck -------------------------------------------------------------------------------

def _heading(line: str) -> tuple[int, str] | None:
    m = re.match(r"(#{1,3})\s+(.*)", line)
    return (len(m.group(1)), m.group(2).strip()) if m else None


def _split_headings(text: str) -> list[tuple[int, str] | str]:
    """A markdown text as a list of headings ``(level, title)`` and text pieces between them."""
    out, cur, fenced = [], [], False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        h = None if fenced else _heading(line)
        if h:
            if "\n".join(cur).strip():
                out.append("\n".join(cur).strip("\n"))
            cur = []
            out.append(h)
        else:
            cur.append(line)
    if "\n".join(cur).strip():
        out.append("\n".join(cur).strip("\n"))
    return out


def _plain_title(md, title: str) -> str:
    return re.sub(r"<[^>]+>", "", md.renderInline(title)).strip()


def build_slides(nb, bib: dict[str, tuple[str, str]] | None = None) -> list[Slide]:
    """The slides of one executed notebook (no execution)."""
    md = _md()
    bib = load_bibliography() if bib is None else bib
    values = glued_values(nb)
    slides: list[Slide] = []
    title = section = ""
    budget = lambda: BODY_H - title_height(title)  # noqa: E731

    def new(cls=""):
        slides.append(Slide(title, [], cls, section))
        return slides[-1]

    def place(unit: list[Block], joinable: bool):
        """Put a unit on the current slide if it is a lead-in's follower and fits, else on a new one."""
        cur = slides[-1] if slides else None
        fits = cur is not None and cur.title == title and cur.cls == "" and joinable and cur.blocks \
            and all(b.kind == "prose" for b in cur.blocks) and len(cur.blocks) == 1 \
            and cur.words + sum(b.words for b in unit) <= MAX_WORDS \
            and cur.lines + sum(b.lines for b in unit) <= MAX_CODE_LINES \
            and cur.height + sum(b.height for b in unit) <= BODY_H \
            and _is_lead_in(cur.blocks[-1])
        (cur if fits else new()).blocks.extend(unit)

    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if tags & HIDDEN_TAGS:
            continue
        if cell.cell_type == "markdown":
            for piece in _split_headings(myst_to_markdown(cell.source, values, bib)):
                if isinstance(piece, tuple):
                    level, text = piece
                    title = _plain_title(md, text)
                    if level <= 2:
                        section = title
                    if level == 1:
                        s = new("title")
                        s.blocks.append(Block("prose", "", height=0))
                    continue
                for unit in markdown_blocks(md, piece, budget(), MAX_WORDS - count_words(title)):
                    if slides and slides[-1].cls == "title" and len(slides[-1].blocks) == 1 \
                            and all(b.kind == "prose" for b in unit) \
                            and slides[-1].words + sum(b.words for b in unit) <= MAX_WORDS:
                        slides[-1].blocks.extend(unit)  # the chapter's lead under its title
                        continue
                    place(unit, joinable=unit[0].kind != "prose" or _is_list(unit[0]))
            continue
        if cell.cell_type != "code":
            continue
        if re.search(r"\bcheck\(\s*[\"']", cell.source):
            continue  # an exercise stub: its prompt is on the slides, the lab runs the check
        code = "" if ("hide-input" in tags or "remove-input" in tags) else slide_code(cell.source)
        if code:
            pieces = split_code(code)
            for k, piece in enumerate(pieces):
                place([code_block(piece)], joinable=k == 0)
        out_text = "" if "remove-output" in tags else text_outputs(cell)
        if out_text and code:
            cur = slides[-1]
            room = MAX_CODE_LINES - cur.lines
            height_room = BODY_H - cur.height
            if room >= 4 and height_room > 4 * 17 * CODE_LH + 22:
                lines_fit = min(room, int((height_room - 22) / (17 * CODE_LH)))
                cur.blocks.append(output_block(out_text, lines_fit))
            else:
                new().blocks.append(output_block(out_text, min(MAX_CODE_LINES, int((budget() - 22) / (17 * CODE_LH)))))
        figs = [(png, "") for png in images(cell)] + explorer_frames(nb, cell)
        for png, caption in figs:
            s = new("figure")
            cap_h = _prose_height(caption) if caption else 0
            s.blocks.append(figure_block(png, caption, budget() - cap_h - 8))
    for s in slides:
        if s.cls == "title":
            s.blocks = [b for b in s.blocks if b.html]
    return [s for s in slides if s.blocks or s.cls == "title"]


#: A lecture cut (``--short``) leaves these sections to the lab and the reading list ...
LECTURE_SKIP = re.compile(r"^(\d+\.\s*)?(exercises|further reading|licence)", re.I)
#: ... and keeps these in full.
LECTURE_FULL = re.compile(r"^(\d+\.\s*)?summary", re.I)
LECTURE_MAX_SLIDES = 25


def _has_code(slide: Slide) -> bool:
    return any(b.kind in ("code", "output") for b in slide.blocks)


def _ends_with_colon(slide: Slide) -> bool:
    return re.sub(r"<[^>]+>", "", "".join(b.html for b in slide.blocks)).strip().endswith(":")


def lecture_cut(slides: list[Slide], max_slides: int = LECTURE_MAX_SLIDES) -> list[Slide]:
    """A short lecture (about 30 minutes) from a chapter's full deck, in the chapter's order.

    Kept: the title slide; for each section its first slide of prose (the idea — with the next
    prose slide when it ends in a colon, e.g. the formula it announces, on the same slide when
    both fit) and its first figure or
    explorer frame (the evidence); the summary in full. Left to the lab: code and output,
    exercises, further reading. When that is still over ``max_slides``, figures are dropped from
    the sections with the most slides in the full deck first (they keep their idea), then ideas
    from the end of the chapter; never the title or the summary.
    """
    if isinstance(max_slides, bool) or not isinstance(max_slides, int) or max_slides < 2:
        raise ValueError(f"max_slides must be an int >= 2 (title and summary), got {max_slides!r}")
    units: list[tuple[str, list[int]]] = []  # (kind, slide indices): kind title | summary | idea | figure
    seen: set[tuple[str, str]] = set()
    for i, s in enumerate(slides):
        if s.cls == "title":
            units.append(("title", [i]))
        elif LECTURE_SKIP.match(s.section):
            continue
        elif LECTURE_FULL.match(s.section):
            if not _has_code(s):
                units.append(("summary", [i]))
        elif (s.cls == "figure" or not _has_code(s)) and (s.section, s.cls) not in seen:
            seen.add((s.section, s.cls))
            unit = [i]
            nxt = slides[i + 1] if i + 1 < len(slides) else None
            if s.cls != "figure" and _ends_with_colon(s) and nxt is not None and nxt.section == s.section \
                    and nxt.cls == "" and not _has_code(nxt):
                unit.append(i + 1)
            units.append(("figure" if s.cls == "figure" else "idea", unit))
    size = {sec: sum(1 for s in slides if s.section == sec) for sec in {s.section for s in slides}}
    figures = sorted((u for u in units if u[0] == "figure"), key=lambda u: (-size[slides[u[1][0]].section], -u[1][0]))
    ideas = sorted((u for u in units if u[0] == "idea"), key=lambda u: -u[1][0])
    for u in figures + ideas:
        if sum(len(v[1]) for v in units) <= max_slides:
            break
        units.remove(u)
    out = []
    for _, idx in units:
        group = [slides[i] for i in idx]
        if len(group) == 2 and sum(g.words for g in group) - count_words(group[1].title) <= MAX_WORDS \
                and sum(g.lines for g in group) <= MAX_CODE_LINES \
                and group[0].height + group[1].height - title_height(group[1].title) <= BODY_H:
            group = [Slide(group[0].title, group[0].blocks + group[1].blocks, group[0].cls, group[0].section)]
        out.extend(group)
    return out


def _is_lead_in(block: Block) -> bool:
    text = re.sub(r"<[^>]+>", "", block.html).strip()
    return block.kind == "prose" and (block.words <= 45 or text.endswith(":"))


def _is_list(block: Block) -> bool:
    return block.html.startswith(("<ul", "<ol"))


CSS = """
html, body { margin: 0; background: #fff; }
.reveal { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; font-size: %(prose)dpx; color: #222; }
.reveal .slides { text-align: left; }
.reveal .slides > section { width: %(w)dpx; height: %(h)dpx; box-sizing: border-box; padding: %(py)dpx %(px)dpx;
  overflow: hidden; flex-direction: column; justify-content: flex-start; line-height: %(lh)s; }
.reveal h1 { font-size: 52px; line-height: 1.15; margin: 150px 0 30px; color: #1a3a6b; }
.reveal h2 { font-size: 38px; line-height: 1.2; margin: 0 0 18px; color: #1a3a6b; font-weight: 600; }
.reveal p { margin: 0 0 14px; }
.reveal ul, .reveal ol { margin: 0 0 10px 40px; padding: 0; }
.reveal li { margin: 0 0 8px; }
.reveal pre { margin: 0 0 10px; padding: 8px 12px; background: #f6f8fa; border-radius: 6px; white-space: pre-wrap;
  overflow-wrap: anywhere; line-height: %(clh)s; box-shadow: none; width: auto; font-family: "DejaVu Sans Mono", monospace; }
.reveal pre.output { background: #fff; border-left: 4px solid #c9d3e0; color: #333; }
.reveal pre code { font-family: inherit; }
.reveal table { border-collapse: collapse; font-size: 20px; margin: 0 0 10px; }
.reveal th, .reveal td { border-bottom: 1px solid #ccd; padding: 4px 10px; text-align: left; vertical-align: top; }
.reveal figure { margin: 0; display: flex; flex-direction: column; align-items: center; min-height: 0; }
.reveal figure img { max-width: 100%%; object-fit: contain; margin: 0; }
.reveal .caption { font-size: 20px; color: #555; margin: 6px 0 0; }
.reveal .box { border-left: 6px solid #1a3a6b; background: #eef2f8; padding: 6px 14px; margin: 0; }
.reveal .box-title { font-weight: 700; }
.reveal .math svg { vertical-align: middle; max-width: 100%%; height: auto; }
.reveal .math.block, .reveal div.math { max-width: 100%%; overflow: hidden; }
.reveal .title-slide p { font-size: 24px; }
.reveal code { font-family: "DejaVu Sans Mono", monospace; font-size: 0.9em; }
"""


def render_deck(slides: list[Slide], title: str) -> str:
    from pygments.formatters import HtmlFormatter
    css = CSS % {"w": WIDTH, "h": HEIGHT, "py": PAD_Y, "px": PAD_X, "prose": PROSE_PX, "lh": PROSE_LH, "clh": CODE_LH}
    css += HtmlFormatter(style="default").get_style_defs(".reveal pre.code")
    sections = []
    for s in slides:
        head = f"<h1>{html.escape(s.title)}</h1>" if s.cls == "title" else f"<h2>{html.escape(s.title)}</h2>"
        cls = f' class="{s.cls}-slide"' if s.cls else ""
        sections.append(f"<section{cls} data-words=\"{s.words}\" data-lines=\"{s.lines}\">{head}\n"
                        + "\n".join(b.html for b in s.blocks) + "\n</section>")
    mathjax = json.dumps({
        "jax": ["input/TeX", "output/SVG"], "extensions": ["tex2jax.js"],
        "TeX": {"extensions": ["AMSmath.js", "AMSsymbols.js", "noErrors.js", "noUndefined.js"]},
        "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]], "processEscapes": False},
        "SVG": {"font": "TeX", "linebreaks": {"automatic": True}}, "showMathMenu": False, "messageStyle": "none",
        "menuSettings": {"zoom": "None"}})
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="reveal.js/reveal.css">
<style>{css}</style>
</head>
<body>
<div class="reveal"><div class="slides">
{chr(10).join(sections)}
</div></div>
<script src="reveal.js/reveal.js"></script>
<script>
Reveal.initialize({{width: {WIDTH}, height: {HEIGHT}, margin: 0, minScale: 0.2, maxScale: 2, center: false,
  display: "flex", transition: "none", hash: false, slideNumber: "c/t", controls: true, progress: true}});
</script>
<script type="text/x-mathjax-config">
MathJax.Hub.Config({mathjax});
MathJax.Hub.Queue(function () {{ window.mathjaxDone = true; if (window.Reveal && Reveal.isReady()) Reveal.layout(); }});
</script>
<script src="mathjax2/MathJax.js"></script>
</body>
</html>
"""


def export(nb_path: Path, out_dir: Path = OUT, bib: dict | None = None, *, short: bool = False) -> Path:
    """Write the deck of one executed notebook to ``out_dir/NN_name.slides.html``, or its
    :func:`lecture_cut` to ``out_dir/NN_name.short.slides.html`` when ``short``."""
    nb = nbformat.read(nb_path, as_version=4)
    slides = build_slides(nb, bib)
    if short:
        slides = lecture_cut(slides)
    title = slides[0].title if slides else nb_path.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{nb_path.stem}{'.short' if short else ''}.slides.html"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(render_deck(slides, title))
    tmp.replace(out)
    return out


def install_assets(out_dir: Path = OUT) -> None:
    libs = vendor()
    out_dir.mkdir(parents=True, exist_ok=True)
    for item in libs.iterdir():
        if item.name.startswith("."):
            continue
        dest = out_dir / item.name
        shutil.rmtree(dest, ignore_errors=True) if dest.is_dir() else dest.unlink(missing_ok=True)
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, dest)


def main(names: list[str], out_dir: Path = OUT) -> int:
    """``names``: chapter stems or numbers (none: every chapter); ``--short`` also writes each
    chapter's lecture cut (``NN_name.short.slides.html``)."""
    short = "--short" in names
    names = [n for n in names if n != "--short"]
    bad = [n for n in names if n.startswith("-")]
    if bad:
        raise SystemExit(f"unknown option {bad[0]!r}: the options are --short (also write the short lecture decks)")
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if names:
        paths = [p for p in paths if p.stem in names or p.stem[:2] in names]
        if not paths:
            raise SystemExit(f"no chapter matches {names}")
    install_assets(out_dir)
    bib = load_bibliography()
    for p in paths:
        print(f"{export(p, out_dir, bib)}")
        if short:
            print(f"{export(p, out_dir, bib, short=True)}")
    print(f"\nOpen a deck in a browser, e.g. {out_dir / (paths[0].stem + '.slides.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
