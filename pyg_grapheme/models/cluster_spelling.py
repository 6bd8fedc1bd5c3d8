r"""A grapheme cluster's spelling: its code points in order, read by a recurrent layer.

The hashed features of :mod:`pyg_grapheme.text` describe a cluster as a whole (its
signature), by its first code point, and by the unordered sum of its other code points.
A Devanagari conjunct such as ``ग्न्या`` (three consonants, two viramas and a vowel sign:
six code points) is one cluster: its signature is rare, and the sum tells neither the
order of its consonants nor that its ``न`` is the ``न`` that stands alone elsewhere. This
module reads the cluster's canonical decomposition (NFD) code point by code point, each
as the vector it has as a cluster's first code point
(:func:`pyg_grapheme.text.code_point_vector`, so a consonant inside a conjunct and the
same consonant alone start from one vector), with a GRU, and returns its last state:

.. math::
    \mathbf{s}_i = \mathrm{GRU}\big(\mathbf{b}(c_{i,1}), \dots, \mathbf{b}(c_{i,L_i})\big)
    \in \mathbb{R}^{H},

with :math:`c_{i,k}` the :math:`k`-th code point of cluster :math:`i`, at most
:data:`MAX_CODE_POINTS` of them (a longer cluster is read up to it). It is
vocabulary-free, like the rest of the inputs: every code point has its vector.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor

from pyg_grapheme.text import HASH_DIM, code_point_vector

__all__ = ["MAX_CODE_POINTS", "ClusterSpelling", "spelled"]

MAX_CODE_POINTS = 8
"""Code points of a cluster read, at most (a Devanagari conjunct of three consonants and
a vowel sign has six)."""


@lru_cache(maxsize=1 << 16)
def _read(cluster: str) -> str:
    """The code points of ``cluster`` that are read: its first :data:`MAX_CODE_POINTS` NFD
    code points (equal for spellings that read alike, such as NFC and NFD ``é``)."""
    return unicodedata.normalize("NFD", cluster)[:MAX_CODE_POINTS]


@lru_cache(maxsize=1 << 16)
def spelled(cluster: str) -> tuple[tuple[float, ...], ...]:
    """The vectors :math:`\\mathbf{b}(c_{i,k})` of ``cluster``'s first
    :data:`MAX_CODE_POINTS` NFD code points, in order."""
    return tuple(tuple(code_point_vector(c)) for c in _read(cluster))


class ClusterSpelling(torch.nn.Module):
    """The spelling state :math:`\\mathbf{s}_i` of each node's cluster (module docstring).

    Args:
        channels (int): :math:`H`, the width of the state.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.gru = torch.nn.GRU(HASH_DIM, channels, batch_first=True)

    def reset_parameters(self) -> None:
        """Re-initialise the GRU."""
        self.gru.reset_parameters()

    def forward(self, clusters: Sequence[str], like: Tensor) -> Tensor:
        """:math:`[N, H]` states of ``N`` non-empty clusters, in the dtype and on the
        device of ``like``."""
        if len(clusters) == 0:
            return like.new_zeros(0, self.channels)
        # Each distinct reading is done once (a batch of words repeats most of its
        # graphemes: about 84 distinct in 228 nodes on Hindi), then its state is shared.
        distinct: dict[str, int] = {}
        index = [distinct.setdefault(_read(c), len(distinct)) for c in clusters]
        rows = [spelled(c) for c in distinct]
        length = torch.tensor([len(r) for r in rows], device=like.device)
        width = max(len(r) for r in rows)
        # Padding after a cluster's last code point: the state is read at that point.
        padded = [list(r) + [(0.0,) * HASH_DIM] * (width - len(r)) for r in rows]
        sequence = torch.tensor(padded, dtype=like.dtype, device=like.device)  # [D, L, 64]
        out, _ = self.gru(sequence)
        state = out[torch.arange(len(rows), device=like.device), length - 1]
        return state[torch.tensor(index, device=like.device)]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels})"
