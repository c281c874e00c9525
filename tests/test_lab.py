"""Live JupyterLab: open each chapter, run it with a real kernel, move its main widget, and see
the figure change (not just the slider's value). Needs Chromium (see tests/test_book.py)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NOTEBOOKS = [p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
             if "widgets.explore(" in p.read_text()]
pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing on CI")
        pytest.skip("Chromium is not installed")
    cfg = tmp_path_factory.mktemp("jupyter-config")
    (cfg / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {"allow_root": True}}))
    port, token = _free_port(), "companion-test"
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(cfg))
    env.pop("MPLBACKEND", None)
    env.pop("COMPANION_STATIC", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip", "127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.root_dir=" + str(ROOT / "notebooks")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            yield browser, base, token
        finally:
            browser.close()
            proc.terminate()
            proc.wait(timeout=30)


RUN_ALL = """async () => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  await panel.sessionContext.ready;
  while (!panel.sessionContext.session || !panel.sessionContext.session.kernel ||
         panel.sessionContext.session.kernel.status !== 'idle') { await new Promise(r => setTimeout(r, 200)); }
  await app.commands.execute('notebook:run-all-cells');
  return true;
}"""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_live_widget_changes_output(lab, path):
    browser, base, token = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(300_000)
    page.goto(f"{base}/lab/tree/{path.name}?token={token}&reset")
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                           "window.jupyterapp.shell.currentWidget.sessionContext")
    page.evaluate(RUN_ALL)
    box = page.locator(".jp-OutputArea-output .widget-vbox").filter(has=page.locator("img.widget-image")).first
    box.wait_for()
    box.evaluate("el => el.setAttribute('data-under-test', '1')")
    img = box.locator("img.widget-image").first
    img.wait_for()
    before = img.get_attribute("src")
    current = ("src => { const i = document.querySelector('[data-under-test] img.widget-image');"
               " return i && i.getAttribute('src') !== src; }")
    handle = box.locator(".noUi-handle")
    if handle.count():
        handle.first.focus()
        page.keyboard.press("ArrowRight")
    else:
        box.locator("select").first.select_option(index=1)
    page.wait_for_function(current, arg=before, timeout=60_000)
    page.close()
