r"""What a node knows before message passing: its grapheme, its phase, the chain ends.

.. math::
    \mathbf{u}_i = \big[\,\mathbf{x}_i \;\|\; \cos(2\pi p_i / T_k),\ \sin(2\pi p_i / T_k)\ (k = 1..K)
        \;\|\; \mathbb{1}[\deg^-_i = 0],\ \mathbb{1}[\deg^+_i = 0] \;\|\; \mathbf{r}_i\,\big]

with :math:`\mathbf{x}_i` the vocabulary-free grapheme features
(:mod:`pyg_grapheme.text`), :math:`p_i` the reading position, periods
:math:`T_k` (default: parity, :math:`T = 2`), the flags "first node" and "last
node" (no in- / out-edge) and the optional run features :math:`\mathbf{r}_i`
(:mod:`.run_position`).

Position enters only through short periods, so it means the same at any
length and a model trained on short strings runs unchanged on longer ones;
it still lets adjacent equal graphemes look different where a task needs it
(``"aa"`` must not merge when squeezing spaces). Every joint phase of the
periods must occur in training: with periods (2, 3, 4) the phases repeat every
12 positions, and strings of at most 8 clusters never show positions 8-11 (the
README gives the measured effect and the command that reproduces it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.utils import degree

from pyg_grapheme.models.run_position import NUM_ORDINALS, NUM_PLACES, run_position_features
from pyg_grapheme.text import NUM_NODE_FEATURES

__all__ = ["NodeInputs"]


class NodeInputs(torch.nn.Module):
    r"""Builds :math:`\mathbf{u}_i` (module docstring); no learnable parameters.

    Args:
        periods (Sequence[int], optional): Periods :math:`T_k` of the position
            features. (default: :obj:`(2,)`)
        run_features (bool, optional): Append the run features. (default: :obj:`False`)
    """

    def __init__(self, periods: Sequence[int] = (2,), run_features: bool = False) -> None:
        super().__init__()
        self.periods = tuple(int(p) for p in periods)
        if any(p < 1 for p in self.periods):
            raise ValueError(f"NodeInputs: periods must be >= 1, got {list(self.periods)}")
        self.run_features = bool(run_features)

    @property
    def num_features(self) -> int:
        """Width of :math:`\\mathbf{u}_i`."""
        width = NUM_NODE_FEATURES + 2 * len(self.periods) + 2
        return width + (NUM_PLACES + NUM_ORDINALS if self.run_features else 0)

    def forward(self, x: Tensor, edge_index: Tensor, pos: Tensor) -> Tensor:
        """``x: [N, 77]``, ``edge_index: [2, E]``, ``pos: LongTensor[N]`` -> ``[N, num_features]``."""
        num_nodes = x.size(0)
        angle = 2 * math.pi * pos.to(x.dtype).unsqueeze(1)
        phase = angle / torch.tensor(self.periods, dtype=x.dtype, device=x.device)
        in_deg = degree(edge_index[1], num_nodes, dtype=x.dtype)
        out_deg = degree(edge_index[0], num_nodes, dtype=x.dtype)
        flags = torch.stack([(in_deg == 0).to(x.dtype), (out_deg == 0).to(x.dtype)], dim=1)
        parts = [x, torch.cos(phase), torch.sin(phase), flags]
        if self.run_features:
            parts.append(run_position_features(x, pos))
        return torch.cat(parts, dim=1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(periods={list(self.periods)}, run_features={self.run_features})"
