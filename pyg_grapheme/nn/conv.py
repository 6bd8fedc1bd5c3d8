"""GraphemeConv: mean of in-neighbours and self, linear, LeakyReLU, normalisation."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import LayerNorm, Linear
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import add_self_loops, remove_self_loops

from pyg_grapheme.nn.input_checks import check_graph_inputs, check_node_indices

__all__ = ["GraphemeConv"]


class GraphemeConv(MessagePassing):
    r"""Message passing along a grapheme chain (or any directed graph).

    Each node averages its own feature with those of its in-neighbours
    (or out-neighbours with ``flow="target_to_source"``), maps the mean
    linearly, applies LeakyReLU (slope 0.01) and a layer normalisation, and
    adds the result to its input (residual):

    .. math::

        \mathbf{m}_i = \frac{1}{|\mathcal{N}(i)| + 1}
            \Big(\mathbf{x}_i + \sum_{j \in \mathcal{N}(i)} w_{ji}\,\mathbf{x}_j\Big),
        \qquad
        \mathbf{x}'_i = \mathbf{R}\mathbf{x}_i
            + \mathrm{LN}\big(\mathrm{LeakyReLU}_{0.01}(\mathbf{W}\mathbf{m}_i + \mathbf{b})\big)

    where :math:`\mathbf{R}` is the identity when ``in_channels == out_channels``
    and a linear map otherwise, and :math:`w_{ji}` are optional edge weights
    (1 by default). With ``flow="source_to_target"`` (default) information moves
    in reading order (``i -> i + 1``); stacking both flows gives each node its
    left and right context.

    Args:
        in_channels (int): Size of each input feature.
        out_channels (int): Size of each output feature.
        flow (str, optional): ``"source_to_target"`` (in-neighbours, default) or
            ``"target_to_source"`` (out-neighbours).
        normalize (bool, optional): Apply :class:`LayerNorm` after the
            activation. (default: :obj:`True`)
        residual (bool, optional): Add the (projected) input. (default: :obj:`True`)

    Bad input (a feature size other than ``in_channels``, an edge index outside
    :math:`[0, N)`, edge weights of another length) is a ``ValueError`` naming it.
    Non-finite features propagate, as the formula says, to the nodes that read
    them; the layer keeps no state they could corrupt.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, edge indices
          :math:`(2, |\mathcal{E}|)`, optional edge weights :math:`(|\mathcal{E}|)`
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        flow: str = "source_to_target",
        normalize: bool = True,
        residual: bool = True,
    ) -> None:
        super().__init__(aggr="mean", flow=flow)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.lin = Linear(in_channels, out_channels)
        self.norm = LayerNorm(out_channels) if normalize else None
        self.residual = residual
        self.res = (
            Linear(in_channels, out_channels, bias=False)
            if residual and in_channels != out_channels
            else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise the linear maps and the normalisation."""
        self.lin.reset_parameters()
        if self.norm is not None:
            self.norm.reset_parameters()
        if self.res is not None:
            self.res.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        """Return the updated node features ``[N, out_channels]``."""
        name = self.__class__.__name__
        check_graph_inputs(name, x, edge_index, None, self.in_channels)
        num_nodes = x.size(0)
        check_node_indices(name, "edge_index", edge_index, num_nodes)
        if edge_weight is not None and tuple(edge_weight.shape) != (edge_index.size(1),):
            raise ValueError(
                f"{name}: edge_weight must have shape [num_edges={edge_index.size(1)}], "
                f"got {tuple(edge_weight.shape)}"
            )
        edge_index, edge_weight = remove_self_loops(edge_index, edge_weight)
        edge_index, edge_weight = add_self_loops(
            edge_index, edge_weight, fill_value=1.0, num_nodes=num_nodes
        )
        mean = self.propagate(edge_index, x=x, edge_weight=edge_weight)
        out = torch.nn.functional.leaky_relu(self.lin(mean), negative_slope=0.01)
        if self.norm is not None:
            out = self.norm(out)
        if self.residual:
            out = out + (x if self.res is None else self.res(x))
        return out

    def message(self, x_j: Tensor, edge_weight: Tensor | None) -> Tensor:
        return x_j if edge_weight is None else x_j * edge_weight.view(-1, 1)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, flow={self.flow})"
        )
