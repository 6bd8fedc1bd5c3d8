r"""From a pooled graph's class distributions back to text.

Pooled nodes are numbered by graph, then by their smallest member (the pool's
contract), so a graph's pooled nodes are already in reading order: each emits
its most likely grapheme and the text is their concatenation.
"""

from __future__ import annotations

from torch import Tensor

from pyg_grapheme.models.output_classes import ClassSpace

__all__ = ["decode", "emitted_graphemes"]


def emitted_graphemes(
    probs: Tensor, batch: Tensor, num_graphs: int, space: ClassSpace
) -> list[list[str]]:
    """Each graph's output nodes in chain order, each as its most likely grapheme.

    Args:
        probs: ``[K, C]`` class distribution of every output node.
        batch: ``LongTensor[K]`` graph of every output node (sorted).
        num_graphs: ``B``; graphs with no output node give an empty list.
        space: the class space ``probs`` refers to.
    """
    best = probs.argmax(dim=1).tolist()
    emitted: list[list[str]] = [[] for _ in range(num_graphs)]
    for node, graph in enumerate(batch.tolist()):
        emitted[graph].append(space.graphemes[best[node]])
    return emitted


def decode(probs: Tensor, batch: Tensor, num_graphs: int, space: ClassSpace) -> list[str]:
    """One text per graph: its output nodes' most likely graphemes, joined in chain order."""
    return ["".join(nodes) for nodes in emitted_graphemes(probs, batch, num_graphs, space)]
