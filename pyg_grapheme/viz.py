"""PNG figures: training curves and morph diagrams (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

__all__ = ["plot_curves", "plot_morph_diagrams"]


def plot_curves(
    steps: Sequence[int], series: Mapping[str, Sequence[float]], path: str | Path, title: str
) -> Path:
    """One line per series against ``steps``; returns the written path."""
    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in series.items():
        ax.plot(list(steps)[: len(values)], list(values), label=name)
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_morph_diagrams(
    examples: Sequence[tuple[Sequence[str], Sequence[int], Sequence[str], Sequence[int]]],
    path: str | Path,
) -> Path:
    """Morph diagrams: the input chain above the output chain, joined through the clusters.

    Each example is ``(input graphemes, cluster of each input node, output graphemes,
    parent cluster of each output node)``. An input node has a line to every output
    node its cluster grew into: several inputs into one output is a merge, one
    input into several outputs a split, no line a deletion. Nodes are coloured by
    cluster.
    """
    path = Path(path)
    rows = max(len(examples), 1)
    width = max([max(len(e[0]), len(e[2])) for e in examples] + [4])
    fig, axes = plt.subplots(rows, 1, figsize=(0.6 * width + 1.5, 1.8 * rows), squeeze=False)
    cmap = plt.get_cmap("tab20")
    for ax, (inputs, cluster, outputs, parent) in zip(axes[:, 0], examples):
        ax.set_xlim(-0.7, width - 0.3)
        ax.set_ylim(-0.6, 1.6)
        ax.axis("off")
        colour = {k: cmap(rank % 20) for rank, k in enumerate(dict.fromkeys(cluster))}
        for i, (g, k) in enumerate(zip(inputs, cluster)):
            ax.add_patch(plt.Circle((i, 1.0), 0.32, color=colour[k], alpha=0.8))
            ax.text(i, 1.0, repr(g)[1:-1], ha="center", va="center", fontsize=9)
            for o, p in enumerate(parent):
                if p == k:
                    ax.plot([i, o], [0.68, 0.32], color=colour[k], lw=1)
            if i + 1 < len(inputs):
                ax.annotate(
                    "", (i + 0.68, 1.0), (i + 0.32, 1.0), arrowprops={"arrowstyle": "->", "lw": 0.8}
                )
        for o, (g, p) in enumerate(zip(outputs, parent)):
            ax.add_patch(plt.Circle((o, 0.0), 0.32, color=colour.get(p, "grey"), alpha=0.8))
            ax.text(o, 0.0, repr(g)[1:-1], ha="center", va="center", fontsize=9)
            if o + 1 < len(outputs):
                ax.annotate(
                    "", (o + 0.68, 0.0), (o + 0.32, 0.0), arrowprops={"arrowstyle": "->", "lw": 0.8}
                )
        ax.text(-0.7, 1.45, "".join(inputs) + "  ->  " + "".join(outputs), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
