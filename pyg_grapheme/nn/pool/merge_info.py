r"""The record one :class:`~pyg_grapheme.nn.ThresholdMergePool` call leaves behind."""

from typing import NamedTuple

from torch import Tensor


class MergeInfo(NamedTuple):
    r"""What a merge did, for unpooling, for :class:`~pyg_grapheme.nn.MorphHistory` and for losses.

    :math:`N` input nodes, :math:`C` output nodes, :math:`E` input edges,
    :math:`E'` output edges, :math:`P` scored candidate pairs.

    Attributes:
        cluster (torch.Tensor): ``long`` :math:`[N]`, input node -> output node.
            Output nodes are ordered by graph, then by smallest member index.
        edge_index (torch.Tensor): The input edge indices :math:`[2, E]`.
        batch (torch.Tensor): The input batch vector :math:`[N]` (zeros if none was given).
        member_weight (torch.Tensor): :math:`[N]`, weight :math:`w_i` of each input
            node in its cluster's weighted mean; sums to one per cluster;
            differentiable w.r.t. ``x``, the projection and the threshold logit.
        candidate_index (torch.Tensor): ``long`` :math:`[2, P]`, the scored pairs
            :math:`(i, j)`, :math:`i < j`, sorted lexicographically.
        similarity (torch.Tensor): :math:`[P]`, cosine similarity :math:`s_{ij}`.
        gate (torch.Tensor): :math:`[P]`, soft merge decision
            :math:`g_{ij} = \sigma((s_{ij} - \tau) / T)`.
        merged (torch.Tensor): ``bool`` :math:`[P]`, the hard decision: the pair
            joins its two nodes in one cluster.
        edge_weight (torch.Tensor): :math:`[E']`, soft weight of each output edge:
            the mean of :math:`1 - g_{ij}` over the input edges that map to it
            (:math:`1` for input edges that were not candidates).
        edge_attr (torch.Tensor, optional): :math:`[E', \ldots]`, the mean of the
            input edge attributes mapping to each output edge, if given.
        num_clusters (int): :math:`C`.
        score (torch.Tensor): :math:`[C]`, merge score of each output node: the mean
            gate of the merged pairs inside it, :math:`1` for a node that merged with
            nothing. The pooled features are scaled by :math:`1 - \alpha + \alpha\,`
            ``score`` (:math:`\alpha` = ``gate_features``); with ``gate_features=0`` it is
            all ones.
    """

    cluster: Tensor
    edge_index: Tensor
    batch: Tensor
    member_weight: Tensor
    candidate_index: Tensor
    similarity: Tensor
    gate: Tensor
    merged: Tensor
    edge_weight: Tensor
    edge_attr: Tensor | None
    num_clusters: int
    score: Tensor
