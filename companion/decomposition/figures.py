"""Tensor-network diagrams of the chapter's formats (node = factor, edge = contracted rank index)."""
from __future__ import annotations

__all__ = ["draw_tensor_network", "tensor_network_figure"]


_NETWORKS = {
    # name: (nodes {label: (x, y)}, edges between nodes [(a, b, label)], open legs [(node, dx, dy, label)])
    "dense matrix": ({"W": (0, 0)}, [], [("W", -1, 0, "n"), ("W", 1, 0, "m")]),
    "truncated SVD": ({"B": (-0.6, 0), "A": (0.6, 0)}, [("B", "A", "r")], [("B", -1, 0, "n"), ("A", 1, 0, "m")]),
    "CP (conv)": ({"I": (-1.1, 0), "V": (0, 1.0), "H": (0, -1.0), "O": (1.1, 0), "λ": (0, 0)},
                  [("I", "λ", "R"), ("V", "λ", "R"), ("H", "λ", "R"), ("O", "λ", "R")],
                  [("I", -1, 0, "C_in"), ("V", 0, 1, "k_h"), ("H", 0, -1, "k_w"), ("O", 1, 0, "C_out")]),
    "Tucker-2 (conv)": ({"S": (-1.1, 0), "C": (0, 0), "U": (1.1, 0)}, [("S", "C", "R_in"), ("C", "U", "R_out")],
                        [("S", -1, 0, "C_in"), ("U", 1, 0, "C_out"), ("C", -0.35, -1, "k_h"), ("C", 0.35, -1, "k_w")]),
    "tensor train (FC)": ({"G1": (-1.5, 0), "G2": (-0.5, 0), "G3": (0.5, 0), "G4": (1.5, 0)},
                          [("G1", "G2", "r1"), ("G2", "G3", "r2"), ("G3", "G4", "r3")],
                          [(g, s, d, f"{'m' if d > 0 else 'n'}{g[1]}") for g in ("G1", "G2", "G3", "G4")
                           for s, d in ((0, 1), (0, -1))]),
}


def draw_tensor_network(ax, fmt: str) -> None:
    """Draw one format as a tensor-network diagram: a node per factor, an edge per contracted index
    (labelled with its rank), a free leg per index of the original tensor."""
    if fmt not in _NETWORKS:  # the test and the message keep "unknown format"
        raise ValueError(f"unknown format {fmt!r}; allowed: {list(_NETWORKS)}")
    nodes, edges, legs = _NETWORKS[fmt]
    for a, b, lab in edges:
        (x0, y0), (x1, y1) = nodes[a], nodes[b]
        ax.plot([x0, x1], [y0, y1], color="#d62728", lw=2, zorder=1)
        dx, dy = (0.22, 0.0) if x0 == x1 else (0.0, 0.14)  # beside vertical edges, above the others
        ax.text((x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy, lab, color="#d62728", ha="center", fontsize=8)
    for node, dx, dy, lab in legs:
        x, y = nodes[node]
        ax.plot([x, x + 0.6 * dx], [y, y + 0.6 * dy], color="k", lw=1.5, zorder=1)
        ax.text(x + 0.75 * dx, y + 0.75 * dy, lab, ha="center", va="center", fontsize=8)
    for lab, (x, y) in nodes.items():
        ax.scatter([x], [y], s=420 if lab != "λ" else 160, color="#1f77b4" if lab != "λ" else "#ff7f0e",
                   zorder=2, edgecolor="k")
        ax.text(x, y, lab, ha="center", va="center", color="white", fontsize=8, zorder=3, fontweight="bold")
    ax.set_title(fmt, fontsize=10)
    ax.set_xlim(-2.4, 2.4)
    ax.set_ylim(-1.9, 1.9)
    ax.set_aspect("equal")
    ax.axis("off")


def tensor_network_figure():
    """All formats side by side (the survey's appendix draws the same diagrams)."""
    from ..plotting import new_figure
    fig, axes = new_figure(len(_NETWORKS), 1, width=13, height=2.8)
    for ax, fmt in zip(axes, _NETWORKS):
        draw_tensor_network(ax, fmt)
    fig.suptitle("Tensor-network diagrams: node = factor, red edge = contracted rank index, black leg = original index")
    return fig

