"""GraphAttention: multi-head self-attention restricted to the nodes of one graph."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import LayerNorm, MultiheadAttention
from torch_geometric.utils import to_dense_batch

from pyg_grapheme.nn.input_checks import check_graph_inputs, check_sorted_batch

__all__ = ["GraphAttention"]


class GraphAttention(torch.nn.Module):
    r"""Within-graph multi-head self-attention with a residual connection.

    Nodes of a PyG batch are packed per graph (``to_dense_batch``,
    ``[B, n_max, F]``); every node attends to every node of its own graph and
    to no padding slot nor node of another graph:

    .. math::

        \mathbf{x}'_i = \mathrm{LN}\Big(\mathbf{x}_i + \sum_h \mathbf{W}^O_h
            \sum_{j \in \mathcal{G}(i)} \mathrm{softmax}_j\Big(
            \frac{\langle \mathbf{W}^Q_h \mathbf{x}_i, \mathbf{W}^K_h \mathbf{x}_j\rangle}
            {\sqrt{F / H}}\Big) \mathbf{W}^V_h \mathbf{x}_j\Big)

    Memory is :math:`O(\sum_b n_{\max}^2)` per head, i.e. dense over the
    largest graph of the batch, never over the whole batch.

    ``x`` must be ``[N, F]`` and ``batch`` sorted, non-negative graph ids (a
    ``ValueError`` names what is wrong). Non-finite features propagate to the nodes
    of their graph; the layer keeps no state.

    Args:
        channels (int): Feature size ``F`` (divisible by ``heads``).
        heads (int, optional): Number of heads ``H``. (default: :obj:`4`)
        dropout (float, optional): Attention dropout. (default: :obj:`0.0`)
    """

    def __init__(self, channels: int, heads: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        if channels % heads != 0:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.channels = channels
        self.heads = heads
        self.attn = MultiheadAttention(channels, heads, dropout=dropout, batch_first=True)
        self.norm = LayerNorm(channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise the attention projections and the normalisation."""
        self.attn._reset_parameters()
        self.norm.reset_parameters()

    def forward(self, x: Tensor, batch: Tensor | None = None) -> Tensor:
        """``x: [N, F]``, ``batch: LongTensor[N]`` (sorted) -> ``[N, F]``."""
        name = self.__class__.__name__
        if not isinstance(x, Tensor) or x.dim() != 2 or x.size(1) != self.channels:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name}: x must be [num_nodes, {self.channels}], got {shape}")
        empty = torch.empty(2, 0, dtype=torch.long, device=x.device)
        check_graph_inputs(name, x, empty, batch, self.channels)
        if x.size(0) == 0:
            return x
        if batch is None:
            batch = x.new_zeros(x.size(0), dtype=torch.long)
        check_sorted_batch(name, batch)
        dense, mask = to_dense_batch(x, batch)  # [B, n_max, F], [B, n_max]
        padding = ~mask
        # A graph with zero nodes has a fully masked row, whose softmax is NaN;
        # unmask one (zero) slot there. Its outputs are dropped by out[mask].
        padding[:, 0] = padding[:, 0] & mask.any(dim=1)
        out, _ = self.attn(dense, dense, dense, key_padding_mask=padding, need_weights=False)
        return self.norm(x + out[mask])

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, heads={self.heads})"
