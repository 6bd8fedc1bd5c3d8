r"""A stack of chain convolutions interleaved with within-graph attention blocks."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import ModuleList

from pyg_grapheme.models.feedforward import FeedForward
from pyg_grapheme.nn.attention import GraphAttention
from pyg_grapheme.nn.conv import GraphemeConv

__all__ = ["ContextStack"]


class ContextStack(torch.nn.Module):
    r"""Gives every node its left and right context, then global context.

    :math:`L` :class:`~pyg_grapheme.nn.GraphemeConv` layers alternate their flow
    (even layers read in-neighbours, i.e. the left context of a chain, odd
    layers out-neighbours, the right context); :math:`A` attention blocks
    (:class:`~pyg_grapheme.nn.GraphAttention`, each followed by a
    :class:`~pyg_grapheme.models.feedforward.FeedForward` block when
    :obj:`feedforward`) are interleaved: block :math:`k` follows convolution
    :math:`\lfloor (k + 1) L / A \rfloor - 1`, so the last block ends the stack.
    With :math:`L = 0` the blocks run back to back. Tasks whose output needs
    global information (every digit of an arithmetic result depends on both
    operands and the operator) need more than one round of global mixing.

    Args:
        channels (int): Width :math:`H` of the node features.
        num_convs (int): :math:`L`.
        num_attention (int): :math:`A`.
        heads (int, optional): Attention heads. (default: :obj:`4`)
        feedforward (bool, optional): Follow each attention layer by a
            feed-forward block. (default: :obj:`False`)
        gated (bool, optional): Gated (GLU) feed-forward blocks. (default: :obj:`False`)
        dropout (float, optional): Dropout inside the feed-forward blocks.
            (default: :obj:`0.0`)
        relative_position (bool, optional): Attention blocks with directional heads and
            a distance bias (:class:`~pyg_grapheme.nn.GraphAttention`), for chains
            stored in reading order. (default: :obj:`False`)
    """

    def __init__(
        self,
        channels: int,
        num_convs: int,
        num_attention: int,
        heads: int = 4,
        feedforward: bool = False,
        gated: bool = False,
        dropout: float = 0.0,
        relative_position: bool = False,
    ) -> None:
        super().__init__()
        if num_convs < 0 or num_attention < 0:
            raise ValueError(
                f"ContextStack: num_convs and num_attention must be >= 0, "
                f"got {num_convs} and {num_attention}"
            )
        self.convs = ModuleList(
            GraphemeConv(
                channels,
                channels,
                flow="source_to_target" if layer % 2 == 0 else "target_to_source",
            )
            for layer in range(num_convs)
        )
        self.attention = ModuleList(
            GraphAttention(channels, heads=heads, relative_position=relative_position)
            for _ in range(num_attention)
        )
        self.feedforward = ModuleList(
            FeedForward(channels, dropout, gated)
            for _ in range(num_attention if feedforward else 0)
        )
        # Number of convolutions run before attention block k.
        self.attention_after = [(k + 1) * num_convs // num_attention for k in range(num_attention)]

    def reset_parameters(self) -> None:
        for module in (*self.convs, *self.attention, *self.feedforward):
            module.reset_parameters()

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor,
        edge_weight: Tensor | None = None,
    ) -> Tensor:
        """``x: [N, H]``, ``edge_index: [2, E]``, ``batch: LongTensor[N]`` (sorted) -> ``[N, H]``."""
        block = 0
        for done in range(len(self.convs) + 1):
            while block < len(self.attention) and self.attention_after[block] == done:
                x = self.attention[block](x, batch)
                if len(self.feedforward) > 0:
                    x = self.feedforward[block](x)
                block += 1
            if done < len(self.convs):
                x = self.convs[done](x, edge_index, edge_weight)
        return x
