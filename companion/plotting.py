"""Figure helpers shared by the chapters: one style, labelled axes, a palette."""
from __future__ import annotations

import matplotlib

__all__ = ["PALETTE", "style", "new_figure"]

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

_RC = {
    "figure.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 10,
    "axes.titlesize": 11,
    "legend.frameon": False,
    "svg.hashsalt": "companion",
}


def style() -> None:
    """Apply the book's matplotlib style (call once in a notebook's setup cell)."""
    matplotlib.rcParams.update(_RC)


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 6.4, height: float = 3.6, **kw):
    """``(fig, axes)`` with the book's style, not registered with pyplot's global state."""
    if ncols < 1 or nrows < 1:
        raise ValueError(f"ncols and nrows must be >= 1, got {ncols}, {nrows}")
    from matplotlib.figure import Figure
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(nrows, ncols, **kw)
    return fig, axes
