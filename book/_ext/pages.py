"""Sphinx extension: what a reader's browser gets from each page.

* **Weight** — the widget manager (RequireJS + the 4 MB ``embed-amd.js``), its MathJax-2 shim and
  the notebook's ipywidgets state are loaded only by pages that show a live widget view
  (``application/vnd.jupyter.widget-view+json``); on the executed website every explorer is a
  kernel-free static player, so no page needs them. The theme's 1.5 MB ``fontawesome.js`` (which
  redraws the icons the theme's CSS already draws with its web font) is dropped everywhere.
* **No machine paths** — the home directory, the repository root and ``site-packages`` prefixes
  are shortened in everything a page shows (``/root/.cache/companion`` -> ``~/.cache/companion``).
* **No Python warnings** — ``file.py:12: UserWarning: ...`` lines (and the source line Python
  prints under them) are removed from cell outputs; each removal is listed in the build log so
  the warning gets silenced where it is raised.
* **Legible figures** — every PNG output gets a ``min-width`` so that text of
  ``companion_figure_min_font_pt`` points (at the DPI stored in the PNG) is shown at least
  ``companion_figure_min_text_px`` CSS pixels tall; a figure wider than the column scrolls inside
  its own box (``book/_assets/companion.css``).
"""
from __future__ import annotations

import base64
import math
import os
import re
import struct
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_ONLY_JS = ("require.js", "embed-amd.js", "mathjax2-shim.js")
NEVER_JS = ("fontawesome.js",)
# `path:line: SomeWarning: message` — the first line of what warnings.showwarning prints
WARNING_LINE = re.compile(r"^\S.*?:\d+: [A-Z]\w*Warning: .*$")


# --- page weight ---------------------------------------------------------------------------

def _filename(asset) -> str:
    return str(getattr(asset, "filename", asset) or "")


def _drop_widget_assets(app, pagename, templatename, context, doctree):
    live = WIDGET_VIEW in context.get("body", "")
    if "script_files" not in context:
        return
    kept = []
    for asset in context["script_files"]:
        name = _filename(asset).split("?")[0].rsplit("/", 1)[-1]
        is_state = getattr(asset, "attributes", {}).get("type") == WIDGET_STATE
        if name in NEVER_JS or (not live and (name in WIDGET_ONLY_JS or is_state)):
            continue
        kept.append(asset)
    context["script_files"] = kept


_FONTAWESOME_TAG = re.compile(r'<script[^>]*src="[^"]*/fontawesome\.js[^"]*"[^>]*>\s*</script>\s*')


def _strip_theme_icon_script(app, exception):
    """The theme writes its icon script into the layout itself (not via ``script_files``)."""
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = _FONTAWESOME_TAG.sub("", text)
        if new != text:
            page.write_text(new, encoding="utf-8")
    for f in (out / "_static" / "scripts").glob("fontawesome.js*"):
        f.unlink()


# --- machine paths and warnings -----------------------------------------------------------

def _path_rules(app) -> list[tuple[re.Pattern, str]]:
    src = Path(app.srcdir).resolve()
    root = src.parent.parent if src.parent.name == ".build" else src.parent
    rules = [(re.compile(r"(?:/[\w.+-]{1,80}){1,20}/(?:site|dist)-packages/"), "")]
    for prefix, repl in ((src, ""), (root, ""), (Path.home(), "~/")):
        if str(prefix) not in ("", "/"):
            rules.append((re.compile(re.escape(str(prefix).rstrip("/")) + "/?"), repl))
    rules.append((re.compile(r"/tmp/[^\s'\"<>:]*"), "<tmp>"))
    return rules


# long base64 runs (embedded images, the static players' frames) hold no paths: skip them, so
# the path patterns never scan megabytes of base64 (which made a page take minutes)
_OPAQUE = re.compile(r"([A-Za-z0-9+/=]{256,})")


def clean_paths(text: str, rules) -> str:
    parts = _OPAQUE.split(text)
    for i in range(0, len(parts), 2):  # even indices: ordinary text; odd: base64 runs, kept as is
        for pat, repl in rules:
            parts[i] = pat.sub(repl, parts[i])
    return "".join(parts)


def drop_warnings(text: str) -> tuple[str, list[str]]:
    """Remove printed Python warnings (and the indented source line under each)."""
    out, removed, skip_source = [], [], False
    for line in text.splitlines(keepends=True):
        if WARNING_LINE.match(line.rstrip("\n")):
            removed.append(line.strip())
            skip_source = True
            continue
        if skip_source and line.startswith((" ", "\t")):
            skip_source = False
            continue
        skip_source = False
        out.append(line)
    return "".join(out), removed


def _is_output(node) -> bool:
    while node is not None:
        classes = node.get("classes", []) if isinstance(node, nodes.Element) else []
        if "cell_output" in classes or "output" in classes:
            return True
        node = node.parent
    return False


def _clean_doctree(app, doctree, docname):
    rules = _rules(app)
    for node in list(doctree.findall(nodes.Text)):
        new = clean_paths(str(node), rules)
        if new != str(node):
            node.parent.replace(node, nodes.Text(new))
    for block in list(doctree.findall(lambda n: isinstance(n, (nodes.literal_block, nodes.raw)))):
        if not _is_output(block):
            continue
        text, removed = drop_warnings(block.astext())
        if not removed:
            continue
        for w in removed:
            logger.info(f"[companion] {docname}: removed a printed warning from an output: {w}")
        if text.strip():
            block.children = [nodes.Text(text)]
            block.rawsource = text
        else:
            block.parent.remove(block)


def _clean_body(app, pagename, templatename, context, doctree):
    if "body" in context:
        context["body"] = clean_paths(context["body"], _rules(app))


# --- legible figures ----------------------------------------------------------------------

def png_info(data: bytes) -> tuple[int, int, float] | None:
    """``(width_px, height_px, dpi)`` from a PNG's IHDR and pHYs chunks (dpi 72 without pHYs)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    pos, width, height, dpi = 8, None, None, 72.0
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR" and len(body) >= 8:
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"pHYs" and len(body) >= 9:
            ppu_x, _, unit = struct.unpack(">IIB", body[:9])
            if unit == 1 and ppu_x > 0:
                dpi = ppu_x * 0.0254
        elif kind in (b"IDAT", b"IEND"):
            break
        pos += 12 + length
    return (width, height, dpi) if width else None


def min_display_width(width_px: int, dpi: float, min_font_pt: float, min_text_px: float) -> int:
    """Smallest CSS width at which ``min_font_pt`` text of a ``dpi`` PNG is ``min_text_px`` tall.

    Text of ``pt`` points is ``pt * dpi / 72`` pixels in the PNG, and shows at
    ``that * displayed_width / width_px`` CSS pixels.
    """
    font_px = min_font_pt * dpi / 72.0
    return math.ceil(width_px * min_text_px / font_px)


_IMG = re.compile(r'<img\b([^>]*?)\bsrc="([^"]+)"([^>]*)>')


def _image_bytes(app, pagename: str, src: str) -> bytes | None:
    if src.startswith("data:image/png;base64,"):
        head = src[len("data:image/png;base64,"):][:4096]
        head = head[: len(head) // 4 * 4]
        try:
            return base64.b64decode(head)
        except ValueError:
            return None
    name = src.split("?")[0].rsplit("/", 1)[-1]
    if not name.endswith(".png"):
        return None
    for source, dest in getattr(app.builder, "images", {}).items():
        if dest == name:
            path = Path(app.srcdir) / source
            return path.read_bytes()[:65536] if path.is_file() else None
    return None


def _size_figures(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if not body:
        return
    pt, px = app.config.companion_figure_min_font_pt, app.config.companion_figure_min_text_px

    def fix(m):
        before, src, after = m.groups()
        data = _image_bytes(app, pagename, src)
        info = png_info(data) if data else None
        if not info:
            return m.group(0)
        w = min_display_width(info[0], info[2], pt, px)
        rule = f"min-width:{w}px"
        attrs = (before + after).rstrip()
        closing = "/" if attrs.endswith("/") else ""
        attrs = attrs[:-1].rstrip() if closing else attrs
        style = re.search(r'\bstyle="([^"]*)"', attrs)
        if style:
            attrs = attrs.replace(style.group(0), f'style="{style.group(1).rstrip(";")};{rule}"')
        else:
            attrs = f'{attrs} style="{rule}"'
        return f'<img src="{src}" {attrs.strip()}{" /" if closing else ""}>'

    context["body"] = _IMG.sub(fix, body)


def _rules(app):
    if not hasattr(app, "_companion_path_rules"):
        app._companion_path_rules = _path_rules(app)
    return app._companion_path_rules


def setup(app):
    app.add_config_value("companion_figure_min_font_pt", 8.0, "html", types=(int, float))
    app.add_config_value("companion_figure_min_text_px", 9.0, "html", types=(int, float))
    app.connect("doctree-resolved", _clean_doctree)
    app.connect("html-page-context", _drop_widget_assets, priority=900)
    app.connect("html-page-context", _clean_body, priority=910)
    app.connect("html-page-context", _size_figures, priority=920)
    app.connect("build-finished", _strip_theme_icon_script)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
