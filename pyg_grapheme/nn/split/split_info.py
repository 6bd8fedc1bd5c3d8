r"""The record one :class:`~pyg_grapheme.nn.NodeSplit` call leaves behind."""

from typing import NamedTuple

from torch import Tensor


class SplitInfo(NamedTuple):
    r"""What a split did, for lifting values back, for :class:`MorphHistory` and for losses.

    :math:`N` input nodes, :math:`M = \sum_i c_i` output nodes, :math:`E` input edges.

    Attributes:
        parent (torch.Tensor): ``long`` :math:`[M]`, input node of each output node
            (the cluster map read the other way: output node -> input node).
        slot (torch.Tensor): ``long`` :math:`[M]`, position of each output node among
            its siblings, :math:`0 \ldots c_{\mathrm{parent}} - 1`.
        count (torch.Tensor): ``long`` :math:`[N]`, children :math:`c_i` of each input node.
        edge_index (torch.Tensor): The input edge indices :math:`[2, E]`.
        batch (torch.Tensor): The input batch vector :math:`[N]`.
        count_logit (torch.Tensor, optional): :math:`[N, K + 1]` logits of the
            count head, when the layer has one.
        presence (torch.Tensor, optional): :math:`[M]`, probability under the
            count head that each output node exists,
            :math:`P(c_{\mathrm{parent}} > \mathrm{slot})` (differentiable; see
            :class:`~pyg_grapheme.nn.NodeSplit`), when the layer has a count head.
        num_nodes (int): :math:`M`.
    """

    parent: Tensor
    slot: Tensor
    count: Tensor
    edge_index: Tensor
    batch: Tensor
    count_logit: Tensor | None
    presence: Tensor | None
    num_nodes: int
