"""Read a SCALE-Sim v3 convolution topology CSV into the library's workloads (pure, no simulator).

A topology file (Samajdar et al., "SCALE-Sim: Systolic CNN Accelerator Simulator", arXiv 2018;
ISPASS 2020) has a header row and one row per layer::

    Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
    conv1, 227, 227, 11, 11, 3, 96, 4,

(the trailing comma — an empty last column — is SCALE-Sim's own habit and optional here). The
IFMAP size is the *already padded* input. Each row is lowered the way SCALE-Sim lowers it:

* output size ``ceil((in − kernel + stride) / stride)`` per dimension
  (:func:`~companion.accelerator.workload.scalesim_output_size`), not PyTorch's floor —
  hence :class:`~companion.accelerator.workload.ScaleSimConv2d`;
* im2col: ``M = out_h·out_w``, ``K = F_h·F_w·C``, ``N = Num Filter``;
* a layer whose name contains ``"DP"`` is depthwise: SCALE-Sim runs one layer per channel,
  each with 1 channel and ``Num Filter`` filters — here one grouped conv with
  ``groups = C`` and ``C · Num Filter`` output channels (``LayerReport.gemms = C``).

So :func:`~companion.accelerator.evaluate_layer` on the result gives SCALE-Sim's compute
cycles (``scalesim_cycles``), SRAM reads/writes and utilisations for the same file.
"""
from __future__ import annotations

import csv
from pathlib import Path

from .workload import ScaleSimConv2d

__all__ = ["SCALESIM_TOPOLOGY_COLUMNS", "read_scalesim_topology", "parse_scalesim_row"]

SCALESIM_TOPOLOGY_COLUMNS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width",
                             "Channels", "Num Filter", "Strides")
_INT_COLUMNS = SCALESIM_TOPOLOGY_COLUMNS[1:]


def _norm(name: str) -> str:
    return " ".join(name.strip().lower().split())


def parse_scalesim_row(cells, *, where: str = "row") -> ScaleSimConv2d:
    """One topology row (the 8 cells, strings or ints) as a :class:`ScaleSimConv2d`.

    ``where`` names the row in error messages (e.g. ``"topo.csv, row 3"``). Raises
    :class:`ValueError` for a missing name, a size that is not an integer >= 1, or a filter
    larger than the input.
    """
    cells = [str(c).strip() for c in cells]
    if len(cells) != len(SCALESIM_TOPOLOGY_COLUMNS):
        raise ValueError(f"{where}: expected {len(SCALESIM_TOPOLOGY_COLUMNS)} values "
                         f"({', '.join(SCALESIM_TOPOLOGY_COLUMNS)}), got {len(cells)}: {cells!r}")
    name = cells[0]
    if not name:
        raise ValueError(f"{where}: empty 'Layer name'; every layer needs a name")
    dims = {}
    for col, text in zip(_INT_COLUMNS, cells[1:]):
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or v < 1:
            raise ValueError(f"{where} ({name}): '{col}' must be an integer >= 1, got {text!r}"
                             f"{' (missing)' if not text else ''}")
        dims[col] = v
    h, w = dims["IFMAP Height"], dims["IFMAP Width"]
    fh, fw = dims["Filter Height"], dims["Filter Width"]
    if fh > h or fw > w:
        raise ValueError(f"{where} ({name}): filter {fh}x{fw} is larger than the IFMAP {h}x{w}; the filter "
                         f"must fit the (already padded) input: Filter Height <= IFMAP Height and "
                         f"Filter Width <= IFMAP Width")
    ch, nf = dims["Channels"], dims["Num Filter"]
    depthwise = "DP" in name
    return ScaleSimConv2d(in_h=h, in_w=w, kernel_h=fh, kernel_w=fw, in_channels=ch,
                          out_channels=ch * nf if depthwise else nf, stride=dims["Strides"],
                          groups=ch if depthwise else 1, name=name)


def read_scalesim_topology(path) -> list[ScaleSimConv2d]:
    """The layers of a SCALE-Sim v3 convolution topology CSV, lowered as SCALE-Sim lowers them.

    Columns (in this order, header names compared case- and space-insensitively):
    ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter,
    Strides`` and optionally one trailing empty column. Blank lines are skipped. Returns one
    :class:`ScaleSimConv2d` per row (see the module docstring for the lowering, the output
    size ``ceil((in − k + s) / s)`` and depthwise ``"DP"`` layers).

    Raises :class:`ValueError` naming the file (and row) when the file is missing or
    unreadable, the header lacks or misorders a column, a row has extra non-empty cells, a
    size is not an integer >= 1, a filter is larger than its input, or there is no layer.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(p, "w").write("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
    ...                        "Channels, Num Filter, Strides,\\nc, 10, 10, 3, 3, 4, 16, 2,\\n")
    >>> [(l.name, l.out_h, l.to_gemm().M) for l in read_scalesim_topology(p)]
    [('c', 5, 25)]
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"SCALE-Sim topology {str(p)!r}: no such file")
    try:
        with open(p, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"SCALE-Sim topology {str(p)!r}: cannot be read as a text CSV ({e})") from e
    rows = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f"SCALE-Sim topology {str(p)!r}: empty file; expected a header "
                         f"({', '.join(SCALESIM_TOPOLOGY_COLUMNS)}) and one row per layer")
    n = len(SCALESIM_TOPOLOGY_COLUMNS)
    line, header = rows[0]
    got = [_norm(c) for c in header]
    while got and got[-1] == "":
        got.pop()
    want = [_norm(c) for c in SCALESIM_TOPOLOGY_COLUMNS]
    if got != want:
        missing = [c for c, k in zip(SCALESIM_TOPOLOGY_COLUMNS, want) if k not in got]
        detail = f"missing {missing}" if missing else f"got {[c.strip() for c in header if c.strip()]}"
        raise ValueError(f"SCALE-Sim topology {str(p)!r}, row {line} (header): expected the columns "
                         f"{', '.join(SCALESIM_TOPOLOGY_COLUMNS)} in this order (and optionally a trailing "
                         f"empty column); {detail}")
    layers = []
    for line, r in rows[1:]:
        where = f"SCALE-Sim topology {str(p)!r}, row {line}"
        cells = list(r)
        while len(cells) > n and not cells[-1].strip():
            cells.pop()
        if len(cells) > n:
            raise ValueError(f"{where}: {len(cells)} values, expected {n} ({', '.join(SCALESIM_TOPOLOGY_COLUMNS)}) "
                             f"and at most a trailing empty column; extra: {[c.strip() for c in cells[n:]]}")
        layers.append(parse_scalesim_row(cells, where=where))
    if not layers:
        raise ValueError(f"SCALE-Sim topology {str(p)!r}: a header but no layer rows")
    return layers
