"""Sphinx extension: keep the website fully offline.

Jupyter Book 1 always loads sphinx-thebe, which inlines a script pointing at a CDN (twice,
which also raises a console error). We do not use Thebe (the static widget twins replace a
live kernel), so its scripts and styles are dropped from every page.
"""


def _is_thebe(asset) -> bool:
    name = str(getattr(asset, "filename", asset) or "")
    body = str(getattr(asset, "attributes", {}).get("body", ""))
    return "thebe" in name.lower() or "THEBE" in body


def _strip(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not _is_thebe(a)]


def setup(app):
    app.connect("html-page-context", _strip, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
