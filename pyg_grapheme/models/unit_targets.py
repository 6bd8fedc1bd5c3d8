r"""A batch's targets as the transducer reads them: unit classes, feature rows, lengths."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Batch

from pyg_grapheme.models.output_classes import ClassSpace
from pyg_grapheme.text import NUM_NODE_FEATURES, cluster_features

__all__ = ["UnitTargets", "build_targets"]


@dataclass
class UnitTargets:
    """Classes of one batch's input graphemes and target units, in one class space.

    ``B`` graphs, ``N`` input nodes, at most ``m`` target units per graph.

    Attributes:
        space: the batch's :class:`ClassSpace` (output vocabulary first, then every other
            input grapheme and target unit of the batch).
        member_class: ``LongTensor[N]`` class of each input node's grapheme.
        unit_class: ``LongTensor[B, m]`` class of each target unit, ``-1`` padded.
        unit_rows: ``[B, m, F]`` feature row of each target unit (zeros on padding).
        num_units: ``LongTensor[B]`` units of each target.
        units: the target units of each graph, as text.
    """

    space: ClassSpace
    member_class: Tensor
    unit_class: Tensor
    unit_rows: Tensor
    num_units: Tensor
    units: list[list[str]]

    def to(self, device: torch.device | str) -> UnitTargets:
        return UnitTargets(
            self.space,
            self.member_class.to(device),
            self.unit_class.to(device),
            self.unit_rows.to(device),
            self.num_units.to(device),
            self.units,
        )


def build_targets(
    inputs: Batch, units: Sequence[Sequence[str]], vocab: Sequence[str]
) -> UnitTargets:
    """Class ids and feature rows for a batch (host side, from the strings).

    Args:
        inputs: the batch of input chains (``inputs.clusters``: graphemes per graph).
        units: the target units of each graph (:class:`~.output_units.OutputUnits`).
        vocab: the output vocabulary (class ids ``0 .. |V| - 1``).
    """
    sources = list(inputs.clusters)
    if len(sources) != len(units):
        raise ValueError(f"{len(sources)} input graphs but {len(units)} targets")
    space = ClassSpace.build(vocab, sources, units)
    longest = max((len(u) for u in units), default=0)
    unit_class = torch.full((len(units), longest), -1, dtype=torch.long)
    for b, graph_units in enumerate(units):
        if graph_units:
            unit_class[b, : len(graph_units)] = space.encode(graph_units)
    rows = cluster_features(space.graphemes)
    unit_rows = rows.index_select(0, unit_class.clamp(min=0).view(-1)).view(
        len(units), longest, NUM_NODE_FEATURES
    ) * (unit_class >= 0).unsqueeze(2)
    return UnitTargets(
        space=space,
        member_class=space.encode(g for clusters in sources for g in clusters),
        unit_class=unit_class,
        unit_rows=unit_rows,
        num_units=torch.tensor([len(u) for u in units], dtype=torch.long),
        units=[list(u) for u in units],
    )
