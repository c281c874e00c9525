"""Lecture decks (tools/slides.py): built from the committed notebooks without running them.

The browser tests open every deck from disk (file://) in Chromium at 1280x720; they need Chromium
(``apt-get install chromium``) and are skipped without it unless ``CI`` is set.
"""
import html
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import slides  # noqa: E402

CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def bib():
    return slides.load_bibliography()


class _Sections(HTMLParser):
    """Per <section>: visible prose words (outside <pre>, formulas one word) and code/output lines."""

    def __init__(self):
        super().__init__()
        self.sections, self.in_pre, self.open = [], 0, False

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self.open = True
            self.sections.append({"text": [], "pre": [], "title": ""})
        elif tag == "pre":
            self.in_pre += 1
            self.sections[-1]["pre"].append("")

    def handle_endtag(self, tag):
        if tag == "pre":
            self.in_pre -= 1
        elif tag == "section":
            self.open = False

    def handle_data(self, data):
        if not self.open:
            return
        s = self.sections[-1]
        if self.in_pre:
            s["pre"][-1] += data
        else:
            s["text"].append(data)


def _parse(deck_html):
    p = _Sections()
    p.feed(deck_html)
    out = []
    for s in p.sections:
        text = re.sub(r"\\\(.*?\\\)|\\\[.*?\\\]", " F ", html.unescape(" ".join(s["text"])), flags=re.S)
        words = [w for w in text.split() if re.search(r"\w", w)]
        lines = sum(len(pre.rstrip("\n").split("\n")) for pre in s["pre"])
        out.append((len(words), lines, text))
    return out


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_deck_per_chapter_within_word_and_line_limits(path, bib):
    nb = nbformat.read(path, as_version=4)
    deck = slides.render_deck(slides.build_slides(nb, bib), path.stem)
    parsed = _parse(deck)
    assert len(parsed) >= 10, f"{path.name}: only {len(parsed)} slides"
    for i, (words, lines, text) in enumerate(parsed):
        assert words <= slides.MAX_WORDS, f"{path.name} slide {i + 1}: {words} words: {text[:120]!r}"
        assert lines <= slides.MAX_CODE_LINES, f"{path.name} slide {i + 1}: {lines} lines of code/output"
    assert sum(1 for _, l, _ in parsed if l) >= 3, "a lecture on code shows some code"
    assert deck.count("<img") >= 1, f"{path.name}: no figure on any slide"
    # no raw MyST roles
    assert "{cite" not in deck and "{glue" not in deck and "{admonition}" not in deck
    # solution cells and exercise stubs are left out
    kept = {l.strip() for c in nb.cells if "solution" not in c.metadata.get("tags", []) for l in c.source.splitlines()}
    solution_only = {l.strip() for c in nb.cells if "solution" in c.metadata.get("tags", [])
                     for l in c.source.splitlines()} - kept - {""}
    code_text = html.unescape(re.sub(r"<[^>]+>", "", " ".join(re.findall(r"<pre.*?</pre>", deck, re.S))))
    assert not [l for l in solution_only if l in code_text.splitlines()]
    assert "answer = None" not in code_text and "import " not in code_text.split("\n")[0]
    assert "NBVAL_" not in deck


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_lecture_cut_is_short_in_order_and_without_code(path, bib):
    full = slides.build_slides(nbformat.read(path, as_version=4), bib)
    cut = slides.lecture_cut(full)
    assert 6 <= len(cut) <= min(slides.LECTURE_MAX_SLIDES, len(full) - 1)
    # a cut slide is a slide of the full deck, or an idea merged with the slide it announces
    positions = [next(i for i, s in enumerate(full) if s.blocks and c.blocks and s.blocks[0] is c.blocks[0])
                 if c.blocks else full.index(c) for c in cut]
    assert positions == sorted(positions) and len(set(positions)) == len(positions), "the chapter's order"
    for c, i in zip(cut, positions):
        assert c is full[i] or (c.blocks == full[i].blocks + full[i + 1].blocks and c.words <= slides.MAX_WORDS
                                and c.height <= slides.BODY_H), c.title
    assert cut[0].cls == "title" and cut[0] is full[0]
    assert not [s.title for s in cut if any(b.kind in ("code", "output") for b in s.blocks)]
    assert not [s.section for s in cut if slides.LECTURE_SKIP.match(s.section)], "exercises stay in the lab"
    summary = [s for s in full if slides.LECTURE_FULL.match(s.section) and all(b.kind == "prose" for b in s.blocks)]
    assert summary or path.stem.startswith("00"), "every chapter ends with a summary"
    assert all(any(s is c for c in cut) for s in summary), "the summary is kept in full"
    assert any(s.cls == "figure" for s in cut), "a lecture shows the evidence"
    # every section with an idea slide is represented (nothing needed trimming at this size)
    sections = {s.section for s in full if s.cls == "" and not slides._has_code(s)
                and not slides.LECTURE_SKIP.match(s.section)}
    assert sections <= {s.section for s in cut}
    # a kept slide that announces something with a colon is followed by what it announces
    for a, b in zip(cut, cut[1:]):
        if a.cls == "" and slides._ends_with_colon(a) and not slides.LECTURE_FULL.match(a.section):
            assert b.section == a.section and b.cls == "", a.title


def test_lecture_cut_trims_figures_then_ideas_but_never_title_or_summary():
    def slide(section, cls="", kind="prose", text="An idea."):
        return slides.Slide(section, [slides.Block(kind, f"<p>{text}</p>", words=2)], cls, section)
    deck = [slide("Ch", "title")]
    for k in range(6):
        deck += [slide(f"S{k}"), slide(f"S{k}", kind="code"), slide(f"S{k}", "figure", "figure")]
    deck += [slide("Exercises"), slide("Summary"), slide("Summary")]
    assert len(slides.lecture_cut(deck)) == 1 + 6 * 2 + 2
    cut = slides.lecture_cut(deck, max_slides=10)
    assert len(cut) == 10 and cut[0].cls == "title" and [s.section for s in cut[-2:]] == ["Summary", "Summary"]
    assert sum(s.cls == "figure" for s in cut) == 1 and sum(s.cls == "" for s in cut) == 6 + 2
    tiny = slides.lecture_cut(deck, max_slides=3)
    assert [s.section for s in tiny] == ["Ch", "Summary", "Summary"]
    with pytest.raises(ValueError, match="max_slides"):
        slides.lecture_cut(deck, max_slides=1)
    with pytest.raises(SystemExit, match="--short"):
        slides.main(["--shrt"])


def test_citations_are_author_year(bib):
    assert slides.render_cite("p", "han2015learning", bib) == "(Han et al., 2015)"
    assert slides.render_cite("p", "han2015learning, deng2020model", bib) == "(Han et al., 2015; Deng et al., 2020)"
    assert slides.render_cite("t", "han2015learning", bib) == "Han et al. (2015)"
    two = next(k for k, (who, _) in bib.items() if " and " in who)
    assert re.fullmatch(r"\(\w[\w' -]* and \w[\w' -]*, \d{4}\w?\)", slides.render_cite("p", two, bib))
    nb = nbformat.read(ROOT / "notebooks" / "05_sparsification.ipynb", as_version=4)
    deck = slides.render_deck(slides.build_slides(nb, bib), "ch5")
    assert "(Han et al., 2015)" in deck


def test_myst_roles_become_text(bib):
    text = "kept {glue:text}`r:.1f` x {cite:p}`han2015learning`, see {func}`companion.sparsity.prune_`"
    out = slides.myst_to_markdown(text, {"r": "12.345"}, bib)
    assert out == "kept 12.3 x (Han et al., 2015), see `companion.sparsity.prune_`"


def test_boilerplate_is_dropped_and_long_cells_split_or_summarised():
    src = "# NBVAL_IGNORE_OUTPUT\nimport torch\nfrom companion import (nb,\n    train)\ndev = nb.setup()\nx = 1\nnb.glue('a', x)"
    assert slides.slide_code(src) == "x = 1"
    twenty = "\n".join(f"a{i} = {i}" for i in range(20))
    parts = slides.split_code(twenty)
    assert len(parts) == 2 and all(len(p.splitlines()) <= slides.MAX_CODE_LINES for p in parts)
    assert "\n".join(parts).splitlines() == twenty.splitlines()
    sixty = "\n".join(f"b{i} = {i}" for i in range(60))
    (summary,) = slides.split_code(sixty)
    assert len(summary.splitlines()) <= slides.MAX_CODE_LINES and "more lines: see the notebook" in summary


def test_long_paragraph_is_split_at_sentences():
    md = slides._md()
    para = " ".join(f"Sentence number {i} says something about pruning weights." for i in range(30))
    units = slides.markdown_blocks(md, para, 600)
    assert len(units) >= 4
    assert all(sum(b.words for b in u) <= slides.MAX_WORDS for u in units)
    assert "number 29" in units[-1][0].html and "number 0 " in units[0][0].html


# --- in Chromium ----------------------------------------------------------------------------

# `browser`: the headless Chromium fixture of tests/conftest.py


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    out = tmp_path_factory.mktemp("slides")
    assert slides.main(["--short"], out_dir=out) == 0
    return out


FIT = """() => {
  const out = [];
  const all = [...document.querySelectorAll('.reveal .slides > section')];
  all.forEach((s, i) => {
    Reveal.slide(i);
    const r = s.getBoundingClientRect();
    const over = [...s.querySelectorAll('*')].filter(e => {
      const q = e.getBoundingClientRect();
      return q.width > 0 && (q.bottom > r.bottom + 1 || q.right > r.right + 1 || q.left < r.left - 1);
    }).map(e => e.tagName);
    if (r.width !== 1280 || r.height !== 720 || s.scrollHeight > s.clientHeight + 1 || s.scrollWidth > s.clientWidth + 1
        || over.length) out.push([i + 1, r.width, r.height, s.scrollHeight, s.scrollWidth, over.slice(0, 3)]);
  });
  return [all.length, out];
}"""


@pytest.mark.browser
def test_decks_open_from_disk_fit_1280x720_and_load_nothing_external(decks, browser):
    names = sorted(decks.glob("*.slides.html"))
    assert [n.name.split(".")[0] for n in names] == [p.stem for p in CHAPTERS for _ in ("full", "short")]
    for deck in names:
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        errors, external, failed = [], [], []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.on("request", lambda r: external.append(r.url) if not r.url.startswith(("file:", "data:", "blob:")) else None)
        page.goto(deck.as_uri(), wait_until="load")
        page.wait_for_function("window.mathjaxDone === true && Reveal.isReady()", timeout=60_000)
        n, overflowing = page.evaluate(FIT)
        text = page.evaluate("document.querySelector('.reveal .slides').innerText")
        page.close()
        assert not external, f"{deck.name} requested {external[:3]}"
        assert not failed, f"{deck.name}: failed requests {failed[:3]}"
        assert not errors, f"{deck.name}: console errors {errors[:3]}"
        assert n >= (6 if ".short." in deck.name else 10), f"{deck.name} has only {n} slides"
        assert not overflowing, f"{deck.name}: slides that do not fit 1280x720 [slide, w, h, scrollH, scrollW, els]: {overflowing[:5]}"
        assert "{cite" not in text and "{glue" not in text
        if deck.name.startswith(("01", "05")):
            assert re.search(r"\([A-Z][^()]*(et al\.|and [A-Z]\w+)?, (19|20)\d\d\w?\)", text), deck.name


@pytest.mark.browser
def test_slides_work_offline(decks, browser):
    """Moved from tests/test_book.py: every deck opens with nothing fetched from outside and several
    slides (now from disk, as a lecturer opens it)."""
    for deck in sorted(decks.glob("*.slides.html")):
        page = browser.new_page()
        external, errors = [], []
        page.on("request", lambda q: external.append(q.url) if not q.url.startswith(("file:", "data:", "blob:")) else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(deck.as_uri(), wait_until="load")
        n = page.evaluate("document.querySelectorAll('.reveal .slides section').length")
        page.close()
        assert not external, f"{deck.name} requested {external[:3]}"
        assert not errors, f"{deck.name}: {errors[:3]}"
        assert n >= 5, f"{deck.name} has only {n} slides"


def test_a_table_row_longer_than_a_slide_is_shortened_per_cell():
    md = slides._md()
    long = "| " + " | ".join(" ".join(f"w{i}{j}" for j in range(40)) for i in range(3)) + " |"
    short = slides._shorten_row(md, long, 60)
    assert slides.count_words(slides._render(md, short)) <= 60
    assert short.count("…") == 3 and short.startswith("| w00 w01")
    assert slides._shorten_row(md, "| a | b |", 60) == "| a | b |"
