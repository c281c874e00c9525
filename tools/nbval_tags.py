"""Move nbval markers out of the code readers see: ``# NBVAL_CHECK_OUTPUT`` (or
``# NBVAL_IGNORE_OUTPUT``) as a cell's first line becomes the cell tag ``nbval-check-output``
(``nbval-ignore-output``) in the jupytext source's cell header.

    python tools/nbval_tags.py            # rewrite notebooks/src/*.py and notebooks/*.ipynb in place
    python tools/nbval_tags.py --check    # exit 1 if any source still carries a marker comment

The executed notebooks are patched the same way (marker line dropped from the cell source, tag
added, outputs kept), so no re-execution is needed.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKERS = {"# NBVAL_CHECK_OUTPUT": "nbval-check-output", "# NBVAL_IGNORE_OUTPUT": "nbval-ignore-output",
           "# NBVAL_SKIP": "nbval-skip"}
HEADER = re.compile(r"^# %%(?P<rest>.*)$")


def _add_tag(header: str, tag: str) -> str:
    m = re.search(r'tags=(\[[^\]]*\])', header)
    if m:
        tags = json.loads(m.group(1))
        if tag not in tags:
            tags.append(tag)
        return header[:m.start(1)] + json.dumps(tags) + header[m.end(1):]
    return header + f' tags={json.dumps([tag])}'


def convert(text: str) -> tuple[str, int]:
    lines = text.split("\n")
    out, n, i = [], 0, 0
    while i < len(lines):
        line = lines[i]
        if HEADER.match(line) and "[markdown]" not in line and i + 1 < len(lines) \
                and lines[i + 1].strip() in MARKERS:
            out.append(_add_tag(line, MARKERS[lines[i + 1].strip()]))
            n += 1
            i += 2
            continue
        out.append(line)
        i += 1
    return "\n".join(out), n


def convert_notebook(path: Path) -> int:
    """Move marker comments of an executed ``.ipynb`` into cell tags; returns how many."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    n = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        first, _, rest = cell.source.partition("\n")
        if first.strip() in MARKERS:
            tags = cell.metadata.setdefault("tags", [])
            if MARKERS[first.strip()] not in tags:
                tags.append(MARKERS[first.strip()])
            cell.source = rest
            n += 1
    if n:
        nbformat.write(nb, path)
    return n


def main(argv: list[str]) -> int:
    left = 0
    for src in sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py")):
        text = src.read_text()
        new, n = convert(text)
        remaining = sum(1 for line in new.split("\n") if line.strip() in MARKERS)
        left += remaining
        if "--check" not in argv and n:
            src.write_text(new)
            print(f"{src.name}: {n} markers moved to tags" + (f", {remaining} left" if remaining else ""))
    if "--check" not in argv:
        for nbpath in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
            n = convert_notebook(nbpath)
            if n:
                print(f"{nbpath.name}: {n} markers moved to tags")
    if "--check" in argv and left:
        print(f"{left} marker comments remain in notebook sources")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
