r"""The per-node feed-forward block of a Transformer layer, optionally gated (GLU)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import Linear

__all__ = ["FeedForward"]


class FeedForward(torch.nn.Module):
    r"""Residual two-layer feed-forward block, width :math:`2H`, with LayerNorm.

    .. math::
        \mathbf{y} = \mathrm{LN}\big(\mathbf{x} + \mathbf{W}_2\,
                     \mathrm{drop}(\mathrm{LeakyReLU}(\mathbf{W}_1 \mathbf{x}))\big)

    With :obj:`gated`, the hidden activation is multiplied by a second linear
    map of the input (a GLU, Shazeer 2020),
    :math:`\mathrm{LeakyReLU}(\mathbf{W}_1\mathbf{x}) \odot \mathbf{W}_3\mathbf{x}`:
    the block becomes quadratic in its input, so it can form :math:`a b` of two
    quantities an attention layer gathered into one node, where the plain block
    can only approximate a product piecewise linearly.

    Args:
        channels (int): Width :math:`H` of input and output.
        dropout (float, optional): Dropout on the hidden activation and on the
            residual branch, in training only. (default: :obj:`0.0`)
        gated (bool, optional): Use the gated (GLU) hidden layer. (default: :obj:`False`)
    """

    def __init__(self, channels: int, dropout: float = 0.0, gated: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.gated = gated
        self.expand = Linear(channels, 2 * channels)
        self.project = Linear(2 * channels, channels)
        self.gate = Linear(channels, 2 * channels) if gated else None
        self.activation = torch.nn.LeakyReLU(0.01)
        self.drop = torch.nn.Dropout(dropout)
        self.norm = torch.nn.LayerNorm(channels)

    def reset_parameters(self) -> None:
        for layer in (self.expand, self.project, self.gate, self.norm):
            if layer is not None:
                layer.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        """``[N, H] -> [N, H]``."""
        hidden = self.activation(self.expand(x))
        if self.gate is not None:
            hidden = hidden * self.gate(x)
        return self.norm(x + self.drop(self.project(self.drop(hidden))))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, gated={self.gated})"
