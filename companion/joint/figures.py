"""The chapter's figures: file anatomy, ablation, the sparsity x bits explorer, Pareto plots, sensitivity.

Every function returns a Matplotlib ``Figure`` built with :func:`companion.plotting.new_figure`
(not registered with pyplot), so it can serve as a widget frame.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .. import plotting

__all__ = ["PART_COLORS", "parts_bar", "ablation_figure", "grid_frame", "pareto_figure", "sensitivity_figure"]

PART_COLORS = {"weights": "#1f77b4", "index": "#ff7f0e", "codebook": "#2ca02c", "tables": "#9467bd",
               "other": "#8c564b", "header": "#7f7f7f"}
_PART_LABELS = {"weights": "weight codes / values", "index": "relative indices", "codebook": "codebooks",
                "tables": "Huffman tables", "other": "biases (float32)", "header": "header + checksum"}


def parts_bar(ax, labels: Sequence[str], parts: Sequence[Mapping[str, int]], *, unit: float = 1024.0) -> None:
    """Stacked horizontal bars: one bar per file, one colour per part (KB)."""
    left = np.zeros(len(labels))
    for key, color in PART_COLORS.items():
        vals = np.array([p.get(key, 0) / unit for p in parts])
        ax.barh(labels, vals, left=left, color=color, label=_PART_LABELS[key])
        left += vals
    ax.set_xlabel("size of the written file (KB)")
    ax.invert_yaxis()


def _front(xs, ys):
    """Indices of the points no other point beats in both size (smaller) and accuracy (higher)."""
    order = np.argsort(xs)
    best, out = -np.inf, []
    for i in order:
        if ys[i] > best:
            out.append(i)
            best = ys[i]
    return out


def ablation_figure(grid: Sequence[Mapping], baseline_bytes: int, baseline_acc: float):
    """Han et al. 2016, Fig. 6 in miniature: accuracy drop vs compression ratio for pruning alone
    (float32 values), quantization alone (dense k-means codes) and both."""
    fig, ax = plotting.new_figure(1, 1, 6.4, 3.8)
    fams = {"pruning only": [r for r in grid if r["bits"] >= 32 and r["sparsity"] > 0],
            "quantization only": [r for r in grid if r["bits"] < 32 and r["sparsity"] == 0],
            "pruning + quantization": [r for r in grid if r["bits"] < 32 and r["sparsity"] > 0]}
    for (name, rows), color, marker in zip(fams.items(), ["#ff7f0e", "#2ca02c", "#1f77b4"], ["s", "^", "o"]):
        ratio = np.array([baseline_bytes / r["bytes"] for r in rows])
        drop = np.array([baseline_acc - r["accuracy"] for r in rows])
        ax.scatter(ratio, drop, color=color, marker=marker, alpha=0.35, s=18)
        f = _front(-ratio, -drop)  # best trade-offs: no other point is both smaller and more accurate
        ax.plot(ratio[f], drop[f], color=color, marker=marker, label=name)
    ax.axhline(0.5, color="k", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("compression ratio (float32 bytes / file bytes, log scale)")
    ax.set_ylabel("accuracy drop (points)")
    worst = max(r_["accuracy"] for r_ in grid) - min(r_["accuracy"] for r_ in grid)
    ax.set_ylim(-1, min(30.0, worst + 1.0))
    ax.set_title("Pruning, quantization, both (LeNet-300-100)")
    ax.legend(loc="upper left")
    return fig


def grid_frame(grid: Sequence[Mapping], baseline_bytes: int, baseline_acc: float, sparsity: float, bits: int):
    """One widget frame: the file's parts at (sparsity, bits) and where it sits among all grid points.

    Drawn without layout engines (fixed margins) so that a frame renders in well under 100 ms.
    """
    import matplotlib
    from matplotlib.figure import Figure
    row = next(r for r in grid if r["sparsity"] == sparsity and r["bits"] == bits)
    with matplotlib.rc_context(plotting._RC):
        fig = Figure(figsize=(9.0, 3.0))
        a1, a2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    fig.subplots_adjust(left=0.04, right=0.98, bottom=0.17, top=0.88, wspace=0.25)
    kb = {k: v / 1024 for k, v in row["parts"].items()}
    left = 0.0
    for key, color in PART_COLORS.items():
        a1.barh([0], [kb.get(key, 0)], left=left, color=color, height=0.5)
        left += kb.get(key, 0)
    total = row["bytes"] / 1024
    for i, (key, color) in enumerate(PART_COLORS.items()):  # a text legend with each part's size
        a1.text(0.0 + 0.5 * (i % 2), -0.55 - 0.22 * (i // 2), f"■ {_PART_LABELS[key]}: {kb.get(key, 0):.1f} KB",
                color=color, fontsize=8)
    a1.set_xlim(0, total * 1.02)
    a1.set_ylim(-1.25, 0.4)
    a1.set_yticks([])
    a1.set_xlabel("KB")
    for i in range(len(PART_COLORS)):
        a1.texts[i].set_x(total * 1.02 * (0.0 + 0.5 * (i % 2)))
    label = "float32" if bits >= 32 else f"{bits}-bit codes"
    a1.set_title(f"sparsity {sparsity:g}, {label}: {total:.1f} KB ({baseline_bytes / row['bytes']:.1f}x smaller)",
                 fontsize=10)
    xs = [baseline_bytes / r["bytes"] for r in grid]
    ys = [r["accuracy"] for r in grid]
    a2.scatter(xs, ys, color="#bbbbbb", s=14)
    a2.scatter([baseline_bytes / row["bytes"]], [row["accuracy"]], color="#d62728", s=60, zorder=3)
    a2.axhline(baseline_acc, color="k", lw=0.8, ls=":")
    a2.set_xscale("log")
    from matplotlib import ticker
    a2.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))  # no mathtext: faster frames
    a2.xaxis.set_minor_formatter(ticker.NullFormatter())
    a2.set_ylim(min(80.0, min(ys)), 100)
    a2.set_xlabel("compression ratio (log scale)")
    a2.set_ylabel("test accuracy (%)")
    a2.set_title(f"accuracy {row['accuracy']:.1f} % (baseline {baseline_acc:.1f} %)", fontsize=10)
    return fig


def pareto_figure(reports: Mapping[str, object], *, title: str = "LeNet-300-100", n_test: int | None = None):
    """Accuracy vs file size and accuracy vs MACs, one point per method (CompressionReports);
    with ``n_test`` (the size of the test split) each point gets its 95 % Wilson interval as an error bar."""
    fig, (a1, a2) = plotting.new_figure(2, 1, 10.0, 4.0)
    import matplotlib
    names = list(reports)
    cmap = matplotlib.colormaps["tab20"]
    for i, name in enumerate(names):
        r = reports[name]
        c = cmap(i % 20)
        marker = "*" if "Deep" in name else "o"
        a1.scatter(r.size_bytes / 1024, r.accuracy, color=c, marker=marker, s=90 if marker == "*" else 40, label=name)
        a2.scatter(r.macs, r.accuracy, color=c, marker=marker, s=90 if marker == "*" else 40)
        if n_test is not None:
            from ..stats import accuracy_interval
            iv = accuracy_interval(r.accuracy, n_test)
            err = [[r.accuracy - iv.low], [iv.high - r.accuracy]]
            a1.errorbar([r.size_bytes / 1024], [r.accuracy], yerr=err, color=c, lw=0.8, capsize=2)
            a2.errorbar([r.macs], [r.accuracy], yerr=err, color=c, lw=0.8, capsize=2)
    any_r = reports[names[0]]
    for ax, x in ((a1, any_r.baseline_size_bytes / 1024), (a2, any_r.baseline_macs)):
        ax.scatter([x], [any_r.baseline_accuracy], color="k", marker="x", s=50)
        ax.set_xscale("log")
    xs = np.array([reports[n].size_bytes for n in names], dtype=float)
    ys = np.array([reports[n].accuracy for n in names])
    f = _front(xs, ys)
    a1.step(xs[f] / 1024, ys[f], where="post", color="k", lw=0.8, alpha=0.5)
    a1.set_xlabel("size of the written file (KB, log scale)")
    a1.set_ylabel("test accuracy after decoding (%)")
    a1.set_title(f"{title}: accuracy vs size (x = float32 baseline)")
    a2.set_xlabel("MACs per image (non-zero weights, log scale)")
    a2.set_title("accuracy vs MACs")
    fig.legend(loc="outside lower center", ncol=3, fontsize=8)
    return fig


def sensitivity_figure(sens):
    """Per-layer accuracy when only that layer is pruned (left) or weight-shared (right)."""
    fig, (a1, a2) = plotting.new_figure(2, 1, 9.6, 3.4)
    for i, (name, accs) in enumerate(sens.pruning.items()):
        c = plotting.PALETTE[i % len(plotting.PALETTE)]
        a1.plot(sens.sparsities, accs, marker="o", color=c, label=name)
        a2.plot(sens.bit_widths, sens.bits[name], marker="o", color=c, label=name)
    for ax in (a1, a2):
        ax.axhline(sens.baseline, color="k", lw=0.8, ls=":")
        ax.set_ylabel(f"accuracy on {sens.split} (%)")
    a1.set_xlabel("sparsity of one layer (fraction of zeros)")
    a1.set_title("pruning one layer (no retraining)")
    a2.set_xlabel("bits of one layer (k-means, no fine-tuning)")
    a2.set_title("weight sharing one layer")
    a1.legend()
    return fig
