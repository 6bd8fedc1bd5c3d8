r"""The class space of a batch: every unit the model may write, by id.

Classes live in a *batch-local* :class:`ClassSpace`: the output vocabulary first (ids
``0 .. |V|-1``, stable across batches, what the generation head scores), then every
other grapheme of the batch's inputs and unit of its targets, in order of first
appearance (what a copy can write). Predicted distributions and target class ids of one
batch share that space, which is what :class:`~pyg_grapheme.loss.StructuralLoss`
compares.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["ClassSpace"]


@dataclass
class ClassSpace:
    """Grapheme <-> class id table for one batch (output vocabulary first)."""

    graphemes: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, vocab: Sequence[str], *cluster_lists: Iterable[Sequence[str]]) -> ClassSpace:
        """Vocabulary ids first, then unseen graphemes of each list in order."""
        space = cls()
        space.add(vocab)
        for lists in cluster_lists:
            for clusters in lists:
                space.add(clusters)
        return space

    def add(self, clusters: Iterable[str]) -> None:
        for g in clusters:
            if g not in self.index:
                self.index[g] = len(self.graphemes)
                self.graphemes.append(g)

    def __len__(self) -> int:
        return len(self.graphemes)

    def encode(self, clusters: Iterable[str], device: torch.device | None = None) -> Tensor:
        """``LongTensor[n]`` class ids; raises ``KeyError`` naming an unknown grapheme."""
        ids = []
        for g in clusters:
            if g not in self.index:
                raise KeyError(f"grapheme {g!r} is not in this batch's class space")
            ids.append(self.index[g])
        return torch.tensor(ids, dtype=torch.long, device=device)
