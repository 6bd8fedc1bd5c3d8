"""PNG figures: training curves and merge diagrams (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

__all__ = ["plot_curves", "plot_merge_diagrams"]


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


def plot_merge_diagrams(
    examples: Sequence[tuple[Sequence[str], Sequence[int], Sequence[str]]],
    path: str | Path,
) -> Path:
    """Merge diagrams: input chain (coloured by cluster) above the output chain.

    Each example is ``(input graphemes, cluster of each input node, output graphemes)``
    where ``cluster[i]`` indexes the output node input node ``i`` merged into.
    Lines join every input node to its output node.
    """
    path = Path(path)
    rows = max(len(examples), 1)
    width = max([len(e[0]) for e in examples] + [4])
    fig, axes = plt.subplots(rows, 1, figsize=(0.6 * width + 1.5, 1.8 * rows), squeeze=False)
    cmap = plt.get_cmap("tab20")
    for ax, (inputs, cluster, outputs) in zip(axes[:, 0], examples):
        ax.set_xlim(-0.7, width - 0.3)
        ax.set_ylim(-0.6, 1.6)
        ax.axis("off")
        out_x = [0.0] * len(outputs)
        for k in range(len(outputs)):
            members = [i for i, c in enumerate(cluster) if c == k]
            out_x[k] = sum(members) / len(members) if members else float(k)
        for i, (g, c) in enumerate(zip(inputs, cluster)):
            colour = cmap(c % 20)
            ax.add_patch(plt.Circle((i, 1.0), 0.32, color=colour, alpha=0.8))
            ax.text(i, 1.0, repr(g)[1:-1], ha="center", va="center", fontsize=9)
            if 0 <= c < len(outputs):
                ax.plot([i, out_x[c]], [0.68, 0.32], color=colour, lw=1)
            if i + 1 < len(inputs):
                ax.annotate(
                    "", (i + 0.68, 1.0), (i + 0.32, 1.0), arrowprops={"arrowstyle": "->", "lw": 0.8}
                )
        for k, g in enumerate(outputs):
            ax.add_patch(plt.Circle((out_x[k], 0.0), 0.32, color=cmap(k % 20), alpha=0.8))
            ax.text(out_x[k], 0.0, repr(g)[1:-1], ha="center", va="center", fontsize=9)
            if k + 1 < len(outputs):
                ax.annotate(
                    "",
                    (out_x[k + 1] - 0.32, 0.0),
                    (out_x[k] + 0.32, 0.0),
                    arrowprops={"arrowstyle": "->", "lw": 0.8},
                )
        ax.text(-0.7, 1.45, "".join(inputs) + "  ->  " + "".join(outputs), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
