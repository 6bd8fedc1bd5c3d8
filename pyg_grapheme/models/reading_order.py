r"""Reading a batch of chains backward: the last grapheme first, the last unit first.

A transducer reads its input and writes its output in one direction. Read backward, it
writes :math:`y_m, \dots, y_1` from the chain :math:`x_n, \dots, x_1`: every monotonic
alignment of the forward pair is one of the backward pair, reversed, so the model family
and its exact forward algorithm are unchanged, but the prediction network now knows the
end of the word when it writes its start (a stressed syllable near the end, a final
devoicing). A backward member beside a forward one errs differently, which is what a
vote between members can use (:mod:`.ensemble`).

For a batch of ``B`` chains whose graph :math:`g` holds :math:`n_g` nodes from offset
:math:`o_g` (nodes of a graph contiguous, in reading order, as
:func:`~pyg_grapheme.text.graphs_from_texts` builds them), node :math:`j` of graph
:math:`g` moves to

.. math::

    \pi(j) = 2 o_g + n_g - 1 - j,

an involution (:math:`\pi(\pi(j)) = j`), so one index reverses and restores.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.data import Batch

from pyg_grapheme.models.unit_targets import UnitTargets

__all__ = [
    "READING_ORDERS",
    "reverse_chains",
    "reverse_targets",
    "reversed_positions",
    "reversed_units",
]

READING_ORDERS = ("forward", "backward")
"""The directions a :class:`~.graph_transform_net.GraphTransformNet` can read and write in."""


def reversed_positions(batch: Tensor, num_graphs: int) -> Tensor:
    r"""``LongTensor[N]``: :math:`\pi(j)` for every node ``j`` (module docstring) of a batch
    whose graphs' nodes are contiguous (``batch``: ``LongTensor[N]``, non-decreasing)."""
    counts = torch.bincount(batch, minlength=num_graphs)
    offsets = torch.cumsum(counts, 0) - counts
    nodes = torch.arange(batch.numel(), device=batch.device)
    return 2 * offsets.index_select(0, batch) + counts.index_select(0, batch) - 1 - nodes


def reverse_chains(data: Batch) -> Batch:
    """The batch with every chain read backward: node features, reading positions,
    graphemes (``clusters``) and the nodes' ``redrawn`` flags (if any) in reversed order,
    and every edge ``i -> i + 1`` of the reversed chain. The batch's sizes and graph
    slices are unchanged, since each graph keeps its nodes and edges. A new batch; ``data``
    is left as it was.

    Raises:
        ValueError: a graph whose nodes are not contiguous (``batch`` decreases).
    """
    batch = data.batch
    if batch.numel() > 1 and bool((batch[1:] < batch[:-1]).any()):
        raise ValueError("reverse_chains: each graph's nodes must be contiguous in the batch")
    num_graphs = int(data.num_graphs)
    perm = reversed_positions(batch, num_graphs)
    counts = torch.bincount(batch, minlength=num_graphs).index_select(0, batch)
    out = data.clone()
    out.x = data.x.index_select(0, perm)
    out.pos = counts - 1 - data.pos.index_select(0, perm)
    # Edge i -> i + 1 of the old chain joins pi(i + 1) -> pi(i): i -> i + 1 in the new one.
    out.edge_index = perm[data.edge_index].flip(0)
    out.clusters = reversed_units(data.clusters)
    redrawn = getattr(data, "redrawn", None)
    if redrawn is not None:
        out.redrawn = redrawn.index_select(0, perm)
    return out


def _reversed_rows(values: Tensor, lengths: Tensor) -> Tensor:
    """Each row's first ``lengths[b]`` entries in reversed order, its padding in place
    (``values``: ``[B, m, ...]``)."""
    m = values.size(1)
    j = torch.arange(m, device=values.device).unsqueeze(0)
    length = lengths.unsqueeze(1)
    index = torch.where(j < length, length - 1 - j, j)  # [B, m]
    shape = index.shape + (1,) * (values.dim() - 2)
    return values.gather(1, index.view(shape).expand_as(values))


def reverse_targets(targets: UnitTargets, data: Batch) -> UnitTargets:
    """The targets of :func:`reverse_chains` ``(data)``: each target's units last first, the
    input nodes' classes in the reversed nodes' order; the same class space."""
    perm = reversed_positions(data.batch.to(targets.member_class.device), int(data.num_graphs))
    return UnitTargets(
        space=targets.space,
        member_class=targets.member_class.index_select(0, perm),
        unit_class=_reversed_rows(targets.unit_class, targets.num_units),
        unit_rows=_reversed_rows(targets.unit_rows, targets.num_units),
        num_units=targets.num_units,
        units=reversed_units(targets.units),
    )


def reversed_units(units: Sequence[Sequence[str]]) -> list[list[str]]:
    """Each sequence (a target's units, a chain's graphemes) last first."""
    return [list(reversed(u)) for u in units]
