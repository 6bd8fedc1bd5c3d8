r"""The prediction network of the transducer: what has been written so far.

.. math::

    \mathbf{d}_0 = \mathrm{LSTM}(\mathbf{s}),\qquad
    \mathbf{d}_{j} = \mathrm{LSTM}\big(W_u\,\mathbf{u}(y_{j-1})\big),\qquad
    \mathbf{d}'_j = \mathrm{LN}\big(\mathbf{d}_j + \mathrm{Attn}(\mathbf{d}_j,
        \mathbf{h}_{1..N})\big)

with :math:`\mathbf{s}` a learnt start vector, :math:`\mathbf{u}(y)` the
vocabulary-free feature row of unit :math:`y` (:func:`~pyg_grapheme.text.cluster_features`
of its text, so a unit the model copies but never saw still has an input), and an
optional attention over the graph's encoded input nodes :math:`\mathbf{h}`.

:math:`\mathbf{d}'_j` depends on the units :math:`y_{<j}` and on the input, never on
the alignment (which node wrote which unit), which is what lets the forward algorithm
(:mod:`.monotonic_alignment`) sum over every alignment exactly: the whole target is
read in one teacher-forced pass.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import LSTM, LayerNorm, Linear, MultiheadAttention

from pyg_grapheme.text import NUM_NODE_FEATURES

__all__ = ["DecoderState", "PredictionNetwork"]

DecoderState = tuple[Tensor, Tensor]
"""The LSTM's ``(h, c)``, each ``[layers, R, H]`` for ``R`` sequences."""


class PredictionNetwork(torch.nn.Module):
    """LSTM over the units written so far, with attention to the input nodes.

    Args:
        channels (int): Width :math:`H`.
        layers (int, optional): LSTM layers. (default: :obj:`1`)
        heads (int, optional): Attention heads; ``0`` turns the attention off.
            (default: :obj:`4`; :class:`~pyg_grapheme.models.TransducerGrowth` passes its
            ``decoder_heads``, 0 by default)
        dropout (float, optional): Dropout on the unit inputs and between LSTM layers.
            (default: :obj:`0.0`)
    """

    def __init__(self, channels: int, layers: int = 1, heads: int = 4, dropout: float = 0.0):
        super().__init__()
        if layers < 1:
            raise ValueError(f"PredictionNetwork: layers must be >= 1, got {layers}")
        self.channels = channels
        self.layers = layers
        self.heads = heads
        self.dropout = dropout
        self.unit_input = Linear(NUM_NODE_FEATURES, channels)
        self.start = torch.nn.Parameter(torch.zeros(channels))
        self.lstm = LSTM(
            channels, channels, num_layers=layers, batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )  # fmt: skip
        self.attention = MultiheadAttention(channels, heads, batch_first=True) if heads else None
        self.norm = LayerNorm(channels) if heads else None
        self.drop = torch.nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.unit_input.reset_parameters()
        torch.nn.init.normal_(self.start, std=0.1)
        self.lstm.reset_parameters()
        if self.attention is not None and self.norm is not None:
            self.attention._reset_parameters()
            self.norm.reset_parameters()

    def _inputs(self, unit_rows: Tensor) -> Tensor:
        return self.drop(self.unit_input(unit_rows))

    def _attend(self, d: Tensor, memory: Tensor, memory_mask: Tensor) -> Tensor:
        """``d [R, T, H]`` attends to ``memory [R, N, H]`` (``memory_mask [R, N]``, True = real)."""
        if self.attention is None or self.norm is None:
            return d
        padding = ~memory_mask
        # A graph with no input node attends to one zero slot instead of none (NaN).
        padding[:, 0] = padding[:, 0] & memory_mask.any(dim=1)
        attended, _ = self.attention(
            d, memory, memory, key_padding_mask=padding, need_weights=False
        )
        return self.norm(d + attended)

    def forward(self, unit_rows: Tensor, memory: Tensor, memory_mask: Tensor) -> Tensor:
        """Teacher forcing: ``[B, m + 1, H]``, the state before each unit and after the last.

        Args:
            unit_rows: ``[B, m, F]`` feature rows of the target units (padding anything).
            memory: ``[B, N, H]`` encoded input nodes, per graph.
            memory_mask: ``BoolTensor[B, N]``, True for real nodes.
        """
        batch = unit_rows.size(0)
        start = self.start.view(1, 1, -1).expand(batch, 1, -1)
        inputs = torch.cat([start, self._inputs(unit_rows)], dim=1)
        d, _ = self.lstm(inputs)
        return self._attend(d, memory, memory_mask)

    def begin(self, memory: Tensor, memory_mask: Tensor) -> tuple[Tensor, DecoderState]:
        """``(d_0 [R, H], state)`` for ``R`` sequences with nothing written yet."""
        rows = memory.size(0)
        start = self.start.view(1, 1, -1).expand(rows, 1, -1)
        d, state = self.lstm(start)
        return self._attend(d, memory, memory_mask).squeeze(1), state

    def step(
        self, unit_rows: Tensor, state: DecoderState, memory: Tensor, memory_mask: Tensor
    ) -> tuple[Tensor, DecoderState]:
        """Read one more unit per sequence (``unit_rows [R, F]``): ``(d [R, H], state)``."""
        d, state = self.lstm(self._inputs(unit_rows).unsqueeze(1), state)
        return self._attend(d, memory, memory_mask).squeeze(1), state

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.channels}, layers={self.layers}, heads={self.heads})"
        )
