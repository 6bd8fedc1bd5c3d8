"""GraphAttention: multi-head self-attention restricted to the nodes of one graph."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import LayerNorm, MultiheadAttention, Parameter
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

    **Relative positions** (``relative_position=True``, for chains whose nodes are stored
    in reading order, as :func:`~pyg_grapheme.text.graphs_from_texts` builds them): the
    plain layer sees its graph as a set, so order reaches it only through its inputs.
    With this option :math:`K = \max(1, \lfloor H/4 \rfloor)` heads look left
    (:math:`p_j \le p_i`), :math:`K` right (:math:`p_j \ge p_i`), and the scores of
    these directional heads :math:`h` fall linearly with the distance between reading
    positions (ALiBi, Press et al. 2022, here with a learnt slope
    :math:`m_h = \mathrm{softplus}(\theta_h) > 0`):

    .. math::

        s_{hij} \mathrel{+}= \begin{cases}
            -m_h\,|p_i - p_j| & \text{if } j \text{ lies on } h\text{'s side of } i
                \text{ (or } j = i\text{)}\\
            -\infty & \text{otherwise}
        \end{cases}

    The other :math:`H - 2K` heads stay the plain layer's, over the whole graph with no
    bias. A side's slopes start at :math:`2^{-4(k + 1/2)/K}`, :math:`k = 0..K-1`
    (1/4 for one head). A left head can tell "a letter somewhere before me" at any
    length, and the bias depends on differences of positions only, so it means the same
    on strings longer than any seen in training; the plain heads keep the content-only
    view the layer had (with every head directional, drop_last's held-out emoji strings
    fell from 1.000 to 0.845). The position of a node is its rank in its graph.

    ``x`` must be ``[N, F]`` and ``batch`` sorted, non-negative graph ids (a
    ``ValueError`` names what is wrong). Non-finite features propagate to the nodes
    of their graph; the layer keeps no state.

    Args:
        channels (int): Feature size ``F`` (divisible by ``heads``).
        heads (int, optional): Number of heads ``H``. (default: :obj:`4`)
        dropout (float, optional): Attention dropout. (default: :obj:`0.0`)
        relative_position (bool, optional): Directional heads with a distance bias
            (above). (default: :obj:`False`)
    """

    def __init__(
        self,
        channels: int,
        heads: int = 4,
        dropout: float = 0.0,
        relative_position: bool = False,
    ) -> None:
        super().__init__()
        if channels % heads != 0:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.channels = channels
        self.heads = heads
        self.relative_position = relative_position
        self.attn = MultiheadAttention(channels, heads, dropout=dropout, batch_first=True)
        self.norm = LayerNorm(channels)
        # side of each head: +1 left, -1 right, 0 the plain layer's (no mask, no bias).
        per_side = max(heads // 4, 1) if relative_position and heads >= 2 else 0
        self._side = [1] * per_side + [-1] * per_side + [0] * (heads - 2 * per_side)
        # theta_h of the directional heads' slopes m_h = softplus(theta_h).
        self.slope = Parameter(torch.empty(2 * per_side)) if relative_position else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise the attention projections, the normalisation and the slopes."""
        self.attn._reset_parameters()
        self.norm.reset_parameters()
        if self.slope is not None:
            with torch.no_grad():
                self.slope.copy_(_inverse_softplus(_start_slopes(len(self.slope) // 2)))

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
        if self.slope is not None:
            bias = self._position_bias(mask)
            out, _ = self.attn(dense, dense, dense, attn_mask=bias, need_weights=False)
            return self.norm(x + out[mask])
        padding = ~mask
        # A graph with zero nodes has a fully masked row, whose softmax is NaN;
        # unmask one (zero) slot there. Its outputs are dropped by out[mask].
        padding[:, 0] = padding[:, 0] & mask.any(dim=1)
        out, _ = self.attn(dense, dense, dense, key_padding_mask=padding, need_weights=False)
        return self.norm(x + out[mask])

    def _position_bias(self, mask: Tensor) -> Tensor:
        r"""``[B * H, n, n]`` additive scores: the distance bias on each head's side, and
        :math:`-\infty` on the other side and on padding keys. A padding query keeps
        its own slot, so no row is all :math:`-\infty` (its output is dropped)."""
        num_graphs, n = mask.shape
        rank = torch.arange(n, device=mask.device)
        offset = rank.unsqueeze(0) - rank.unsqueeze(1)  # [n, n]: p_j - p_i
        side = torch.tensor(self._side, device=mask.device).view(-1, 1, 1)  # [H, 1, 1]
        on_side = (side == 0) | (side * offset <= 0)  # left heads: p_j <= p_i
        slope = torch.nn.functional.softplus(self.slope).to(self.norm.weight.dtype)
        plain = slope.new_zeros(self.heads - slope.numel())
        slope = torch.cat([slope, plain])  # the plain heads' scores keep no bias
        bias = -slope.view(-1, 1, 1) * offset.abs().to(slope.dtype)  # [H, n, n]
        allowed = on_side.unsqueeze(0) & mask.view(num_graphs, 1, 1, n)  # [B, H, n, n]
        allowed = allowed | (torch.eye(n, dtype=torch.bool, device=mask.device) & ~mask.view(
            num_graphs, 1, n, 1
        ))  # fmt: skip
        scores = bias.unsqueeze(0).masked_fill(~allowed, float("-inf"))
        return scores.reshape(num_graphs * self.heads, n, n)

    def __repr__(self) -> str:
        position = ", relative_position=True" if self.relative_position else ""
        return f"{self.__class__.__name__}({self.channels}, heads={self.heads}{position})"


def _start_slopes(per_side: int) -> Tensor:
    """Starting slopes of the left heads, then the right ones: on each side
    :math:`2^{-4(k + 1/2)/K}` for its heads :math:`k = 0..K-1` (one head: 1/4)."""
    side = 2.0 ** (-4.0 * (torch.arange(per_side) + 0.5) / per_side)
    return torch.cat([side, side])


def _inverse_softplus(y: Tensor) -> Tensor:
    return y + torch.log(-torch.expm1(-y))
