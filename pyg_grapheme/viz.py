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


# Nodes drawn per chain. An untrained transducer writes up to max_children units per input
# node (hundreds a word): every one drawn made a figure over 100 inches wide, which took
# 21 of a one-epoch fit's 54 s (cProfile). The caption spells the strings further.
MAX_DRAWN_NODES = 40
MAX_CAPTION_CHARS = 200


def _caption(inputs: Sequence[str], outputs: Sequence[str]) -> str:
    """``"input  ->  output"``, cut to :data:`MAX_CAPTION_CHARS` with the characters left out."""
    text = "".join(inputs) + "  ->  " + "".join(outputs)
    if len(text) <= MAX_CAPTION_CHARS:
        return text
    return f"{text[:MAX_CAPTION_CHARS]}... ({len(text) - MAX_CAPTION_CHARS} more characters)"


def _draw_chain(ax: plt.Axes, labels: Sequence[str], colours: Sequence, y: float) -> int:
    """Draw a chain's first :data:`MAX_DRAWN_NODES` nodes at height ``y`` (circle, label,
    arrow to the next) and how many it left out; returns the number drawn."""
    shown = min(len(labels), MAX_DRAWN_NODES)
    for x, (label, colour) in enumerate(zip(labels[:shown], colours[:shown])):
        ax.add_patch(plt.Circle((x, y), 0.32, color=colour, alpha=0.8))
        ax.text(x, y, repr(label)[1:-1], ha="center", va="center", fontsize=9)
        if x + 1 < shown:
            ax.annotate(
                "", (x + 0.68, y), (x + 0.32, y), arrowprops={"arrowstyle": "->", "lw": 0.8}
            )
    if len(labels) > shown:
        ax.text(shown - 0.4, y - 0.5, f"+{len(labels) - shown} more", fontsize=8, ha="right")
    return shown


def plot_morph_diagrams(
    examples: Sequence[tuple[Sequence[str], Sequence[int], Sequence[str], Sequence[int]]],
    path: str | Path,
) -> Path:
    """Morph diagrams: the input chain above the output chain, joined through the clusters.

    Each example is ``(input graphemes, cluster of each input node, output graphemes,
    parent cluster of each output node)``. An input node has a line to every output
    node its cluster grew into: several inputs into one output is a merge, one
    input into several outputs a split, no line a deletion. Nodes are coloured by
    cluster. A chain longer than :data:`MAX_DRAWN_NODES` draws its first
    :data:`MAX_DRAWN_NODES` nodes and says how many it left out.
    """
    path = Path(path)
    rows = max(len(examples), 1)
    width = max([min(max(len(e[0]), len(e[2])), MAX_DRAWN_NODES) for e in examples] + [4])
    fig, axes = plt.subplots(rows, 1, figsize=(0.6 * width + 1.5, 1.8 * rows), squeeze=False)
    cmap = plt.get_cmap("tab20")
    for ax, (inputs, cluster, outputs, parent) in zip(axes[:, 0], examples):
        ax.set_xlim(-0.7, width - 0.3)
        ax.set_ylim(-0.6, 1.6)
        ax.axis("off")
        colour = {k: cmap(rank % 20) for rank, k in enumerate(dict.fromkeys(cluster))}
        shown_in = _draw_chain(ax, inputs, [colour[k] for k in cluster], 1.0)
        shown_out = _draw_chain(ax, outputs, [colour.get(p, "grey") for p in parent], 0.0)
        for i, k in enumerate(cluster[:shown_in]):
            for o, p in enumerate(parent[:shown_out]):
                if p == k:
                    ax.plot([i, o], [0.68, 0.32], color=colour[k], lw=1)
        ax.text(-0.7, 1.45, _caption(inputs, outputs), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
