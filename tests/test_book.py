"""The website: builds offline from freshly executed notebooks; pages load with nothing external.

Marked ``book`` (slow: executes every chapter). The browser checks need Chromium
(``apt-get install chromium``; ``tools/run_tests.py`` installs it) and are skipped without it
unless ``CI`` is set, where a missing browser is an error.
"""
import contextlib
import functools
import http.server
import os
import re
import shutil
import socketserver
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

pytestmark = pytest.mark.book
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def site():
    import build_book
    prebuilt = os.environ.get("COMPANION_PREBUILT_SITE")
    if prebuilt:
        return Path(prebuilt)
    return build_book.build(execute=True).parent


def _pages(site):
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts and "_vendor" not in p.parts
                  and p.name not in ("genindex.html", "search.html", "index.html"))


def test_site_has_every_chapter(site):
    names = {p.stem for p in (site / "notebooks").glob("*.html")}
    for nb in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"):
        assert nb.stem in names


EXTERNAL_LOAD = re.compile(r'<(?:script|img|iframe|source|video|audio|embed)\b[^>]+src="(https?:)?//'
                           r'|<link\b[^>]+rel="(?:stylesheet|preload|icon|modulepreload)"[^>]+href="(https?:)?//'
                           r'|<link\b[^>]+href="(https?:)?//[^>]+rel="(?:stylesheet|preload|icon|modulepreload)"')


def test_external_load_pattern_tells_links_from_loads():
    """A link a reader may follow (the bibliography's arXiv links) is not a resource the page loads."""
    assert not EXTERNAL_LOAD.search('<a class="reference external" href="https://arxiv.org/abs/1510.00149">x</a>')
    assert EXTERNAL_LOAD.search('<img alt="" src="https://example.org/x.png">')
    assert EXTERNAL_LOAD.search('<script src="//cdn.example.org/x.js"></script>')
    assert EXTERNAL_LOAD.search('<link href="https://cdn.example.org/x.css" rel="stylesheet">')


def test_no_page_loads_anything_external(site):
    for page in _pages(site):
        m = EXTERNAL_LOAD.search(page.read_text(errors="replace"))
        assert not m, f"{page.relative_to(site)} loads {m.group(0)}"


def test_widgets_are_static_twins_on_the_site(site):
    for page in (site / "notebooks").glob("*.html"):
        text = page.read_text()
        if "companion.widgets" in text or "widgets.explore" in text:
            assert "companion-player" in text, f"{page.name} shows a live widget without its static twin"


def test_glue_rendered_no_raw_roles(site):
    for page in _pages(site):
        text = re.sub(r"<code.*?</code>|<pre.*?</pre>", "", page.read_text(), flags=re.S)
        assert "{glue:" not in text and "{cite" not in text, f"unrendered role in {page.name}"


def test_solutions_are_hidden_behind_a_toggle(site):
    page = (site / "notebooks" / "01_why_compress.html").read_text()
    assert page.count("tag_hide-cell") >= 3


# --- real browser ------------------------------------------------------------------------

@contextlib.contextmanager
def _serve(folder):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    handler = functools.partial(Quiet, directory=str(folder))
    with socketserver.TCPServer(("127.0.0.1", 0), handler) as httpd:
        t = threading.Thread(target=httpd.serve_forever, daemon=True)
        t.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}"
        finally:
            httpd.shutdown()


# `browser`: the headless Chromium fixture of tests/conftest.py


def test_pages_in_chromium(site, browser):
    with _serve(site) as base:
        for page_path in [site / "intro.html", *_pages(site)]:
            rel = page_path.relative_to(site).as_posix()
            page = browser.new_page()
            errors, failed, external = [], [], []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.on("request", lambda r: external.append(r.url) if not r.url.startswith((base, "data:", "blob:")) else None)
            page.goto(f"{base}/{rel}", wait_until="networkidle")
            broken = page.evaluate("""() => Array.from(document.images)
                .filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80))""")
            page.close()
            assert not external, f"{rel} requested {external[:3]}"
            assert not failed, f"{rel}: failed requests {failed[:3]}"
            assert not errors, f"{rel}: console errors {errors[:3]}"
            assert not broken, f"{rel}: images not loaded {broken[:3]}"


def test_static_sliders_change_the_frame(site, browser):
    with _serve(site) as base:
        players = 0
        for page_path in sorted((site / "notebooks").glob("*.html")):
            page = browser.new_page()
            page.goto(f"{base}/notebooks/{page_path.name}", wait_until="networkidle")
            for player in page.query_selector_all(".companion-player"):
                players += 1
                img = player.query_selector("img")
                ctl = player.query_selector("[data-k]")
                before = img.get_attribute("src")
                if ctl.evaluate("e => e.tagName") == "SELECT":
                    ctl.select_option(index=1)
                else:
                    ctl.focus()
                    page.keyboard.press("ArrowRight")
                after = img.get_attribute("src")
                assert after != before, f"{page_path.name}: moving the control did not change the frame"
            page.close()
        assert players >= 2


def test_search_box_finds_pages(site, browser):
    """The site's search (Sphinx's offline index) returns chapters for a technique's name."""
    with _serve(site) as base:
        page = browser.new_page()
        page.goto(f"{base}/search.html?q=pruning", wait_until="networkidle")
        page.wait_for_selector("#search-results li, ul.search li", timeout=30_000)
        hits = page.evaluate("Array.from(document.querySelectorAll('ul.search li a')).map(a => a.getAttribute('href'))")
        page.close()
        assert any("05_sparsification" in h for h in hits), hits[:5]



# --- reader-facing pages (issue 14) -------------------------------------------------------

import json  # noqa: E402
import struct  # noqa: E402

sys.path.insert(0, str(ROOT / "book" / "_ext"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_ONLY_ASSETS = ("require.js", "embed-amd.js", "mathjax2-shim.js", "@jupyter-widgets/")
PAGE_BUDGET_BYTES = 4_000_000
MIN_TEXT_PX = 9.0


def _chapters(site):
    return sorted((site / "notebooks").glob("[0-9][0-9]_*.html"))


def _figure_font_pt() -> float:
    """The smallest figure text the pages are sized for (book/_config.yml)."""
    m = re.search(r"companion_figure_min_font_pt:\s*([0-9.]+)", (ROOT / "book" / "_config.yml").read_text())
    return float(m.group(1))


def test_widget_manager_only_on_pages_with_a_live_widget(site):
    for page in _pages(site) + [site / "intro.html"]:
        text = page.read_text(errors="replace")
        live = WIDGET_VIEW in text
        for asset in ("require.js", "embed-amd.js", "mathjax2-shim.js", "application/vnd.jupyter.widget-state+json"):
            assert (asset in text) == live or (asset in text and live), \
                f"{page.name}: {asset} {'missing on' if live else 'loaded by'} a page {'with' if live else 'without'} a live widget"
        assert "fontawesome.js" not in text, f"{page.name} loads the theme's redundant icon script"


def test_only_loaded_vendor_files_are_published(site):
    static = site / "_static"
    for gone in ("embed.js", "libembed-amd.js", "mathjax/tex-svg.js", "mathjax/tex-mml-chtml.js",
                 "mathjax/output/svg", "mathjax/input/mml", "scripts/fontawesome.js"):
        assert not (static / gone).exists(), f"_static/{gone} is published but no page loads it"
    assert (static / "mathjax" / "tex-chtml.js").is_file()
    assert list((static / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    live_dirs = {p.parent for p in _pages(site) if WIDGET_VIEW in p.read_text(errors="replace")}
    for fonts in site.rglob("@jupyter-widgets"):
        assert fonts.parent in live_dirs, f"{fonts.relative_to(site)}: widget fonts beside pages without widgets"


def _load(browser, base, rel, viewport=(1280, 800)):
    """Open ``rel``; return (page, bytes per URL, failed URLs, console errors)."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    finished, failed, errors = [], [], []
    page.on("requestfinished", lambda r: finished.append(r))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/{rel}", wait_until="networkidle")
    page.wait_for_timeout(300)
    sizes = {}
    for r in finished:
        resp = r.response()
        if resp is not None and not r.url.startswith("data:"):
            sizes[r.url] = sizes.get(r.url, 0) + len(resp.body())
    return page, sizes, failed, errors


def test_chapter_pages_weigh_under_4_mb(site, browser):
    """Sum of response bodies of every request a chapter page makes: < 4 MB. A page that shows a
    live ipywidgets view (only the --no-execute preview has them) may add the widget manager."""
    with _serve(site) as base:
        for path in _chapters(site):
            rel = path.relative_to(site).as_posix()
            page, sizes, failed, errors = _load(browser, base, rel)
            page.close()
            total = sum(sizes.values())
            widget = sum(n for u, n in sizes.items() if any(a in u for a in WIDGET_ONLY_ASSETS))
            live = WIDGET_VIEW in path.read_text(errors="replace")
            assert live or widget == 0, f"{rel} loads the widget manager without a live widget"
            assert total - widget < PAGE_BUDGET_BYTES, \
                f"{rel} loads {total / 1e6:.2f} MB; largest: {sorted(sizes.items(), key=lambda kv: -kv[1])[:3]}"
            assert not failed, f"{rel}: failed requests {failed[:3]}"
            assert not errors, f"{rel}: console errors {errors[:3]}"


def test_math_renders_with_the_trimmed_mathjax(site, browser):
    with _serve(site) as base:
        page, sizes, failed, errors = _load(browser, base, "notebooks/04_quantization.html")
        page.wait_for_function("document.querySelectorAll('mjx-container').length > 0", timeout=20_000)
        n, bad = page.evaluate("[document.querySelectorAll('mjx-container').length,"
                               " document.querySelectorAll('mjx-merror').length]")
        page.close()
        assert n > 5 and bad == 0, (n, bad)
        assert not failed and not errors, (failed[:3], errors[:3])


MACHINE_PATHS = ("/work/", "/root/", "/tmp/", "/home/", ".cache/companion", "site-packages")
WARNING_TEXT = re.compile(r"\b\w*Warning:|UserWarning|DeprecationWarning|FutureWarning|RuntimeWarning")


def _visible_text(html: str) -> str:
    """The page's text without scripts (static-player frames) and tags."""
    html = re.sub(r"<script\b.*?</script>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def _output_areas(html: str) -> list[str]:
    return re.findall(r'<div class="cell_output docutils container">(.*?)</div>\s*</div>\s*(?=<div class="cell|</section|<section)',
                      html, flags=re.S) or re.findall(r'class="output[^"]*"(.*?)</div>', html, flags=re.S)


def test_no_machine_paths_or_python_warnings_on_pages(site):
    for page in _pages(site) + [site / "intro.html"]:
        html = page.read_text(errors="replace")
        text = _visible_text(html).replace("~/.cache/companion", "~")  # the home-relative form is fine
        for path in MACHINE_PATHS:
            i = text.find(path)
            assert i < 0, f"{page.name} shows a machine path: …{text[max(0, i - 60):i + 60]!r}…"
        for area in _output_areas(html):
            m = WARNING_TEXT.search(_visible_text(area))
            assert not m, f"{page.name}: a Python warning is printed into an output: {_visible_text(area)[:200]!r}"


def test_path_and_warning_cleaning_units():
    import pages
    rules = [(re.compile(re.escape("/work/main") + "/?"), ""), (re.compile(re.escape("/root") + "/?"), "~/")]
    assert pages.clean_paths("cache: /root/.cache/companion", rules) == "cache: ~/.cache/companion"
    assert pages.clean_paths("PosixPath('/work/main/data')", rules) == "PosixPath('data')"
    text = ("before\n/x/y.py:59: UserWarning: constrained_layout not applied\n  fig.savefig(buf)\n"
            "after\n")
    kept, removed = pages.drop_warnings(text)
    assert kept == "before\nafter\n" and len(removed) == 1
    assert pages.drop_warnings("Warning: this is prose\n")[1] == []


def _png(width, height, dpi=None) -> bytes:
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    if dpi:
        ppm = round(dpi / 0.0254)
        out += chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1))
    return out + chunk(b"IDAT", zlib.compress(b"\0" * (3 * width + 1) * height)) + chunk(b"IEND", b"")


def test_png_info_and_min_display_width():
    import pages
    w, h, dpi = pages.png_info(_png(640, 360, 100))
    assert (w, h) == (640, 360) and abs(dpi - 100) < 0.1
    assert pages.png_info(_png(10, 10))[2] == 72.0
    assert pages.png_info(b"GIF89a") is None
    # 8 pt at 100 dpi = 11.1 px in the PNG; shown >= 9 px needs >= 81 % of the natural width
    assert pages.min_display_width(1000, 100, 8, 9) == 810
    assert pages.min_display_width(100, 60, 8, 9) == 135  # a 60-dpi frame must be enlarged


def _layout_report(page):
    return page.evaluate("""() => {
      const main = document.querySelector('#main-content .bd-article') || document.querySelector('main');
      const r = main.getBoundingClientRect();
      const boxes = Array.from(document.querySelectorAll(
          '.bd-article .cell_output, .bd-article figure, .companion-player, .bd-article table, .bd-article pre'));
      const out = boxes.filter(b => b.getBoundingClientRect().width > 0)
        .filter(b => !b.parentElement.closest('.cell_output, figure, .companion-player, pre'))
        .filter(b => b.getBoundingClientRect().right > r.right + 1)
        .map(b => b.className + ' ' + Math.round(b.getBoundingClientRect().right) + '>' + Math.round(r.right));
      return {overflow: out, scroll: document.documentElement.scrollWidth, width: window.innerWidth};
    }""")


def _player_page(site):
    """A chapter page with one static player in it (the --no-execute preview has none of its own)."""
    from companion import plotting, widgets

    def frame(level=1, kind="a"):
        fig, ax = plotting.new_figure(width=6.4, height=3.0)
        ax.plot([0, 1, 2], [0, level, 2 * level])
        ax.set_title(f"{kind}: level {level}")
        return fig
    controls = {"level": [1, 2, 3], "kind": ["a", "b"]}
    player = widgets.static_player_html(widgets.render_frames(frame, controls, dpi=72), controls, "test player")
    html = (site / "notebooks" / "02_compact_models.html").read_text()
    i = html.index("</article>")
    return html[:i] + f'<section id="player-test">{player}</section>' + html[i:]


@pytest.mark.parametrize("viewport", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_outputs_stay_inside_the_column(site, browser, viewport):
    with _serve(site) as base:
        for path in [*_chapters(site), site / "bibliography.html"]:
            rel = path.relative_to(site).as_posix()
            page, _, failed, errors = _load(browser, base, rel, viewport)
            report = _layout_report(page)
            page.close()
            assert report["scroll"] <= report["width"], f"{rel} at {viewport}: the page scrolls sideways {report}"
            if viewport[0] >= 1000:
                assert not report["overflow"], f"{rel}: outputs wider than the column {report['overflow'][:3]}"


@pytest.mark.parametrize("viewport", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_static_player_usable(site, browser, viewport):
    html = _player_page(site)
    with _serve(site) as base:
        page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        page.route(f"{base}/notebooks/__player__.html", lambda route: route.fulfill(body=html, content_type="text/html"))
        page.goto(f"{base}/notebooks/__player__.html", wait_until="networkidle")
        players = page.query_selector_all(".companion-player")
        assert players
        for player in players:
            player.scroll_into_view_if_needed()
            for ctl in player.query_selector_all("[data-k]"):
                box = ctl.bounding_box()
                assert box and box["width"] >= 24 and box["height"] >= 24, f"control too small at {viewport}: {box}"
                assert box["x"] >= 0 and box["x"] + box["width"] <= viewport[0] + 1, f"control off screen: {box}"
            img = player.query_selector("img")
            before = img.get_attribute("src")
            ctl = player.query_selector("input[type=range]")
            box = ctl.bounding_box()
            page.mouse.click(box["x"] + box["width"] - 3, box["y"] + box["height"] / 2)  # a tap at the end
            assert img.get_attribute("src") != before, f"tapping the slider did not change the frame at {viewport}"
        report = _layout_report(page)
        page.close()
        assert report["scroll"] <= report["width"], report


def _png_dpi(src: str, site: Path, page_rel: str) -> tuple[int, float] | None:
    import base64

    import pages
    if src.startswith("data:image/png;base64,"):
        data = base64.b64decode(src.split(",", 1)[1][:4096 // 4 * 4])
    else:
        local = (site / page_rel).parent / src.split("?")[0].split("/", 3)[-1] if src.startswith("http") else None
        path = site / src.split("/", 3)[-1].split("?")[0]
        if not path.is_file() and local is not None:
            path = local
        if not path.is_file() or path.suffix != ".png":
            return None
        data = path.read_bytes()[:65536]
    info = pages.png_info(data)
    return (info[0], info[2]) if info else None


def test_figure_text_at_least_9_px(site, browser):
    """Displayed size of the smallest figure text = pt * dpi / 72 * rendered width / natural width."""
    pt = _figure_font_pt()
    small = []
    checked = 0
    with _serve(site) as base:
        for path in _chapters(site):
            rel = path.relative_to(site).as_posix()
            page, *_ = _load(browser, base, rel)
            imgs = page.evaluate("""() => Array.from(document.querySelectorAll('.bd-article img'))
                .filter(i => i.naturalWidth > 0 && i.getBoundingClientRect().width > 0)
                .map(i => [i.src, i.naturalWidth, i.getBoundingClientRect().width])""")
            page.close()
            for src, natural, shown in imgs:
                info = _png_dpi(src, site, rel)
                if info is None:
                    continue
                checked += 1
                text_px = pt * info[1] / 72 * shown / natural
                if text_px < MIN_TEXT_PX - 0.05:
                    small.append(f"{path.name}: {src[:60]} {text_px:.1f} px")
    assert checked >= 10
    assert not small, small[:5]


FIGURE_CHAPTERS = ["00_preface", "02_compact_models", "03_tensor_decomposition", "04_quantization", "05_sparsification"]


def test_figures_numbered_with_captions_and_alt(site):
    numbers = []
    for name in FIGURE_CHAPTERS:
        html = (site / "notebooks" / f"{name}.html").read_text()
        for fig in re.findall(r"<figure\b.*?</figure>", html, flags=re.S):
            cap = re.search(r"<figcaption>(.*?)</figcaption>", fig, flags=re.S)
            assert cap, f"{name}: a figure without caption"
            num = re.search(r'<span class="caption-number">Figure (\d+)', cap.group(1))
            assert num, f"{name}: an unnumbered figure: {cap.group(1)[:120]}"
            numbers.append(num.group(1))
            alt = re.search(r'<img[^>]*\balt="([^"]+)"', fig)
            assert alt and len(alt.group(1)) > 20, f"{name}: a figure without alt text"
    assert len(numbers) >= 8, numbers
    for page in _chapters(site):
        for img in re.findall(r"<img\b[^>]*>", _visible_text_keep_img(page.read_text())):
            assert re.search(r'\balt="[^"]+"', img), f"{page.name}: an image without alt text {img[:100]}"


def _visible_text_keep_img(html: str) -> str:
    return re.sub(r"<script\b.*?</script>", " ", html, flags=re.S)


def _figure_cells(chapter: str):
    """(source cell, why) for each code cell of the chapter that draws a figure: its executed copy
    has an image output, or a top-level line displays a figure."""
    import jupytext
    src = jupytext.read(ROOT / "notebooks" / "src" / f"{chapter}.py")
    ipynb = ROOT / "notebooks" / f"{chapter}.ipynb"
    with_image = set()
    if ipynb.is_file():
        for c in json.loads(ipynb.read_text())["cells"]:
            if any("image/png" in o.get("data", {}) for o in c.get("outputs", [])):
                s = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                with_image.add(s.strip())
    shows = re.compile(r"^(display\((fig\b|\w*\.?\w*figure\()|plt\.show\(|fig$)", re.M)
    for cell in src.cells:
        if cell.cell_type != "code":
            continue
        if cell.source.strip() in with_image or shows.search(cell.source):
            yield cell


ALL_CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("chapter", ALL_CHAPTERS)
def test_every_figure_cell_has_caption_and_alt(chapter):
    missing = []
    for cell in _figure_cells(chapter):
        meta = cell.metadata.get("mystnb", {})
        fig, img = meta.get("figure", {}), meta.get("image", {})
        if not (fig.get("caption") and fig.get("name") and img.get("alt")):
            missing.append(cell.source.strip().splitlines()[:3])
    assert not missing, f"{chapter}: figure cells without mystnb figure caption/name + image alt: {missing}"


def test_figure_names_are_unique_across_chapters():
    import jupytext
    names = [c.metadata["mystnb"]["figure"]["name"] for ch in ALL_CHAPTERS
             for c in jupytext.read(ROOT / "notebooks" / "src" / f"{ch}.py").cells
             if c.metadata.get("mystnb", {}).get("figure", {}).get("name")]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_sync_cell_metadata_copies_source_metadata(tmp_path):
    import build_book
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    (src_dir / "01_x.py").write_text(
        '# %% [markdown]\n# Title\n\n'
        '# %% mystnb={"figure": {"caption": "Cap", "name": "fig-x"}, "image": {"alt": "Alt"}}\nplot()\n\n'
        '# %% tags=["hide-cell", "solution"]\nanswer = 1\n')
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "Title"},
        {"cell_type": "code", "metadata": {"execution": {"x": 1}}, "source": "plot()", "outputs": [], "execution_count": 1},
        {"cell_type": "code", "metadata": {"tags": ["hide-cell", "solution"]}, "source": "answer = 1", "outputs": [],
         "execution_count": 2}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "01_x.ipynb"
    path.write_text(json.dumps(nb))
    assert build_book.sync_cell_metadata([path], src_dir) == 2
    cells = json.loads(path.read_text())["cells"]
    assert cells[1]["metadata"]["mystnb"]["figure"]["caption"] == "Cap"
    assert cells[1]["metadata"]["execution"] == {"x": 1}  # kept
    assert cells[2]["metadata"]["mystnb"]["code_prompt_show"] == "Show solution"
    assert build_book.sync_cell_metadata([path], src_dir) == 0  # idempotent


def test_solution_toggles_say_show_solution(site):
    for page in _chapters(site):
        html = page.read_text()
        n_solutions = len(re.findall(r'class="cell tag_hide-cell[^"]*tag_solution|class="cell tag_solution', html))
        n_solutions = max(n_solutions, html.count("tag_solution"))
        if n_solutions:
            assert html.count("Show solution") >= n_solutions, f"{page.name}: solution toggles not labelled"


def _bibliography(site):
    html = (site / "bibliography.html").read_text()
    entries = {}
    for m in re.finditer(r'<div class="citation" id="([^"]+)"[^>]*>\s*<span class="label">(.*?)</span></span>(.*?)</div>',
                         html, flags=re.S):
        label = re.sub(r"<[^>]+>|\[|\]", "", m.group(2)).strip()
        entries[m.group(1)] = (label, m.group(3))
    return entries


def _norm(text: str) -> str:
    import html as html_lib
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", "", text))).strip()


def test_bibliography_labels_match_the_citations(site):
    entries = _bibliography(site)
    assert len(entries) > 20
    assert all(re.search(r"\b(1[89]|20)\d\d[a-z]?$", lab) for lab, _ in entries.values()), \
        [lab for lab, _ in entries.values()][:5]
    checked = 0
    for page in _chapters(site):
        for target, text in re.findall(r'<span class="bibtex-citation"[^>]*>\[?<a class="reference internal" '
                                       r'href="\.\./bibliography\.html#([^"]+)"[^>]*>(.*?)</a>', page.read_text()):
            label = entries[target][0]
            assert re.sub(r"[a-z]$", "", label) == _norm(text) or label == _norm(text), (page.name, label, _norm(text))
            checked += 1
    assert checked >= 10


def test_arxiv_entries_link_to_the_abstract(site):
    import bibstyle
    import build_book
    import pybtex.database
    bib = build_book.merge_bibliographies([ROOT / "book" / "references.bib", *sorted((ROOT / "book" / "bib").glob("*.bib"))])
    ids = {bibstyle.arxiv_id(e) for e in pybtex.database.parse_string(bib, "bibtex").entries.values()} - {None}
    assert len(ids) >= 10
    html = (site / "bibliography.html").read_text()
    for ident in ids:
        assert f'href="https://arxiv.org/abs/{ident}"' in html, f"no link to arXiv {ident}"
    assert not EXTERNAL_LOAD.search(html)


def test_arxiv_id_from_fields():
    import bibstyle
    from pybtex.database import Entry
    assert bibstyle.arxiv_id(Entry("misc", fields={"note": "arXiv:1510.00149"})) == "1510.00149"
    assert bibstyle.arxiv_id(Entry("article", fields={"journal": "arXiv preprint arXiv:2001.00001v2"})) == "2001.00001v2"
    assert bibstyle.arxiv_id(Entry("misc", fields={"eprint": "1704.04861", "archivePrefix": "arXiv"})) == "1704.04861"
    assert bibstyle.arxiv_id(Entry("misc", fields={"eprint": "123", "archivePrefix": "HAL"})) is None
    assert bibstyle.arxiv_id(Entry("misc", fields={"note": "ISCA 2016"})) is None


def test_instructors_page_links_every_chapter_s_decks(site):
    """The site publishes both decks of every chapter and the instructors page links each one."""
    page = (site / "instructors.html").read_text()
    links = set(re.findall(r'href="(_static/slides/[^"]+\.slides\.html)"', page))
    want = {f"_static/slides/{nb.stem}{cut}.slides.html" for nb in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
            for cut in ("", ".short")}
    assert links == want, f"missing links: {sorted(want - links)}; unknown: {sorted(links - want)}"
    for rel in links:
        deck = site / rel
        assert deck.is_file() and deck.stat().st_size > 10_000, rel
        assert '<section class="title-slide"' in deck.read_text()
    assert (site / "_static" / "slides" / "reveal.js" / "reveal.js").is_file()


@pytest.mark.browser
def test_a_published_deck_opens_from_the_site(site, browser):
    with _serve(site) as base:
        page, sizes, failed, errors = _load(browser, base, "_static/slides/05_sparsification.short.slides.html",
                                            viewport=(1280, 720))
        page.wait_for_function("window.mathjaxDone === true && Reveal.isReady()", timeout=60_000)
        n = page.evaluate("document.querySelectorAll('.reveal .slides > section').length")
        page.close()
    assert n >= 6 and not failed and not errors, (n, failed[:3], errors[:3])
    assert all(u.startswith(base) for u in sizes), [u for u in sizes if not u.startswith(base)][:3]
