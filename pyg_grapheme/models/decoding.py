r"""From the grown graph's class distributions back to text, and what morphed into what.

Output nodes are ordered by graph, then by parent (pooled node, itself ordered
by its smallest member), then by slot, so a graph's output nodes are already in
reading order: each emits its most likely grapheme and the text is their
concatenation. A graph with no output node gives the empty string.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from pyg_grapheme.models.output_classes import ClassSpace

__all__ = ["EMPTY", "decode", "describe_morph", "emitted_graphemes"]

EMPTY = "\u2205"
"""What :func:`describe_morph` shows for a cluster that produces nothing."""


def emitted_graphemes(
    probs: Tensor,
    batch: Tensor,
    num_graphs: int,
    space: ClassSpace,
    spare: Tensor | None = None,
) -> list[list[str]]:
    """Each graph's output nodes in chain order, each as its most likely grapheme.

    Args:
        probs: ``[M, C]`` class distribution of every output node.
        batch: ``LongTensor[M]`` graph of every output node (sorted).
        num_graphs: ``B``; graphs with no output node give an empty list.
        space: the class space ``probs`` refers to.
        spare: ``BoolTensor[M]``, output nodes that emit nothing (``""``, so the list
            still has one entry per output node); ``None``: every node emits.
    """
    # No output node (a batch of empty inputs) can leave no class either: nothing to pick.
    best = probs.argmax(dim=1).tolist() if probs.size(0) else []
    silent = [False] * len(best) if spare is None else spare.tolist()
    emitted: list[list[str]] = [[] for _ in range(num_graphs)]
    for node, graph in enumerate(batch.tolist()):
        emitted[graph].append("" if silent[node] else space.graphemes[best[node]])
    return emitted


def decode(probs: Tensor, batch: Tensor, num_graphs: int, space: ClassSpace) -> list[str]:
    """One text per graph: its output nodes' most likely graphemes, joined in chain order."""
    return ["".join(nodes) for nodes in emitted_graphemes(probs, batch, num_graphs, space)]


def _show(graphemes: Sequence[str]) -> str:
    return "".join(graphemes).replace(" ", "\u2423") or EMPTY


def describe_morph(
    inputs: Sequence[str],
    cluster: Sequence[int],
    outputs: Sequence[str],
    parent: Sequence[int],
) -> str:
    """One graph's merges and splits as text: ``"aa→a · b→bb · c→∅"``.

    Args:
        inputs: the input graphemes, in order.
        cluster: pooled node of each input grapheme (any ids, one per cluster).
        outputs: the output graphemes, in order.
        parent: pooled node each output grapheme grew from (the ids of ``cluster``).

    Spaces show as ``␣``; a cluster that produces nothing shows ``∅``.
    """
    order: list[int] = []
    members: dict[int, list[str]] = {}
    for grapheme, k in zip(inputs, cluster):
        if k not in members:
            order.append(k)
            members[k] = []
        members[k].append(grapheme)
    children: dict[int, list[str]] = {}
    for grapheme, k in zip(outputs, parent):
        children.setdefault(k, []).append(grapheme)
    return " \u00b7 ".join(f"{_show(members[k])}\u2192{_show(children.get(k, []))}" for k in order)
