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


def test_no_page_loads_anything_external(site):
    pat = re.compile(r'<(?:script|img|iframe)[^>]+src="(https?:)?//|<link[^>]+rel="stylesheet"[^>]+href="(https?:)?//')
    for page in _pages(site):
        m = pat.search(page.read_text(errors="replace"))
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
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None
    with socketserver.TCPServer(("127.0.0.1", 0), handler) as httpd:
        t = threading.Thread(target=httpd.serve_forever, daemon=True)
        t.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}"
        finally:
            httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing on CI (tools/run_tests.py should have installed it)")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


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


def test_slides_work_offline(browser, tmp_path):
    """`./run.sh slides`: every deck opens with nothing fetched from outside and several slides."""
    import subprocess
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "slides.py")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    decks = ROOT / ".build" / "slides"
    with _serve(decks) as base:
        for deck in sorted(decks.glob("*.slides.html")):
            page = browser.new_page()
            external, errors = [], []
            page.on("request", lambda q: external.append(q.url) if not q.url.startswith((base, "data:", "blob:")) else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/{deck.name}", wait_until="networkidle")
            n = page.evaluate("document.querySelectorAll('.reveal .slides section').length")
            page.close()
            assert not external, f"{deck.name} requested {external[:3]}"
            assert not errors, f"{deck.name}: {errors[:3]}"
            assert n >= 5, f"{deck.name} has only {n} slides"


def test_search_box_finds_pages(site, browser):
    """The site's search (Sphinx's offline index) returns chapters for a technique's name."""
    with _serve(site) as base:
        page = browser.new_page()
        page.goto(f"{base}/search.html?q=pruning", wait_until="networkidle")
        page.wait_for_selector("#search-results li, ul.search li", timeout=30_000)
        hits = page.evaluate("Array.from(document.querySelectorAll('ul.search li a')).map(a => a.getAttribute('href'))")
        page.close()
        assert any("05_sparsification" in h for h in hits), hits[:5]
