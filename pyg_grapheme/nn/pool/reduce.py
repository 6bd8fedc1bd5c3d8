r"""Reduce step of :class:`~pyg_grapheme.nn.ThresholdMergePool` in tensor code: the features of
each cluster.

Differentiable tensor functions, TorchScript-compatible, with no host read: the cluster
arrays are sized by ``capacity``, any bound on the number of clusters :math:`C` (the
layer passes :math:`C` itself where it is known, :math:`N` where reading it back would
cost a host read; the rows past :math:`C` are then zero and cut off later).

* :func:`component_reduce`: a component's weighted mean, weights from the gates of its
  merged pairs.
* :func:`matching_reduce`: a matched pair's sum or mean.
* :func:`feature_scale`: the merge-score scale :math:`1 - \alpha + \alpha \bar g_c`.

:mod:`pyg_grapheme.nn.pool.host.reduce` holds :func:`matching_reduce` as an autograd
Function with compiled passes for CPU tensors.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.utils import scatter


def feature_scale(score: Tensor, strength: float) -> Tensor:
    r""":math:`1 - \alpha + \alpha \bar g_c` :math:`[C]` from the merge scores :math:`[C]`
    (the score itself at :math:`\alpha = 1`, with no rounding)."""
    if strength == 1.0:
        return score
    return (1.0 - strength) + strength * score


def cluster_sizes(cluster: Tensor, capacity: int, dtype: torch.dtype) -> Tensor:
    """Members of each cluster :math:`[\\mathrm{capacity}]` (a scatter-add: ``bincount``
    would read its largest entry back)."""
    ones = torch.ones(cluster.numel(), dtype=dtype, device=cluster.device)
    return torch.zeros(capacity, dtype=dtype, device=cluster.device).index_add_(0, cluster, ones)


def member_weights(
    gate: Tensor,
    merged: Tensor,
    candidate_index: Tensor,
    cluster: Tensor,
    capacity: int,
    with_score: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Member weights :math:`w_i = d_i / \sum_{k \in c} d_k` :math:`[N]`, cluster sizes
    and cluster merge scores :math:`[\mathrm{capacity}]`, with
    :math:`d_i = \sum_{(i, j)\ \mathrm{merged}} g_{ij}` (:math:`w_i = 1` for a node that
    merged with nothing).

    The score is the mean gate of the cluster's merged pairs, :math:`\sum_{i \in c} d_i
    / \sum_{i \in c} m_i` with :math:`m_i` the number of merged pairs at :math:`i`
    (each pair counts at both ends in both sums), and :math:`1` for a cluster of one;
    without ``with_score`` it is all ones.
    """
    num_nodes = cluster.numel()
    ends = candidate_index.reshape(-1)
    merged_gate = torch.where(merged, gate, 0.0)
    soft_degree = scatter(torch.cat([merged_gate, merged_gate]), ends, 0, num_nodes, reduce="sum")
    cluster_size = cluster_sizes(cluster, capacity, gate.dtype)
    # Members of a cluster of two or more merged with someone; the others pass through.
    weight = torch.where(cluster_size.index_select(0, cluster) > 1, soft_degree, 1.0)
    total = scatter(weight, cluster, 0, capacity, reduce="sum")
    if not with_score:
        score = torch.ones_like(total)
    else:
        hard = merged.to(gate.dtype)
        merged_degree = scatter(torch.cat([hard, hard]), ends, 0, num_nodes, reduce="sum")
        merged_total = scatter(merged_degree, cluster, 0, capacity, reduce="sum")
        score = torch.where(merged_total > 0, total / merged_total.clamp_min(1.0), 1.0)
    # Empty rows past C have total 0: divide by 1 there (nothing reads them).
    safe_total = torch.where(total > 0, total, 1.0)
    return weight / safe_total.index_select(0, cluster), cluster_size, score


def component_reduce(
    x: Tensor,
    gate: Tensor,
    merged: Tensor,
    candidate_index: Tensor,
    cluster: Tensor,
    capacity: int,
    mean: bool,
    strength: float,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Components: pooled features :math:`\mathbf{x}'_c = \lambda_c (1 - \alpha + \alpha
    \bar g_c) \sum_{i \in c} w_i \mathbf{x}_i` :math:`[\mathrm{capacity}, F]`
    (:math:`\lambda_c = |c|` for a sum, :math:`1` for a mean), the member weights
    :math:`[N]` and the merge scores :math:`[\mathrm{capacity}]` (see
    :func:`member_weights`)."""
    member_weight, cluster_size, score = member_weights(
        gate, merged, candidate_index, cluster, capacity, strength > 0.0
    )
    x_out = scatter(x * member_weight.unsqueeze(-1), cluster, 0, capacity, "sum")
    if not mean:
        x_out = x_out * cluster_size.unsqueeze(-1)
    if strength > 0.0:
        x_out = x_out * feature_scale(score, strength).unsqueeze(-1)
    return x_out, member_weight, score


def matching_reduce(
    x: Tensor,
    gate: Tensor,
    merged: Tensor,
    candidate_index: Tensor,
    cluster: Tensor,
    capacity: int,
    mean: bool,
    strength: float,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Matching: pooled features :math:`\mathbf{x}'_c = \lambda_c (1 - \alpha + \alpha
    \bar g_c) \sum_{i \in c} \mathbf{x}_i` :math:`[\mathrm{capacity}, F]`
    (:math:`\lambda_c = 1` for a sum, :math:`1 / |c|` for a mean), member weights
    :math:`1 / |c(i)|` :math:`[N]` and scores :math:`\bar g_c` (the matched pair's gate,
    :math:`1` for a node left alone) :math:`[\mathrm{capacity}]`.

    A matched pair has :math:`d_i = d_j = g_{ij}`, so :func:`member_weights` would give
    :math:`w = 1/2` exactly: the gate does not enter the weights.
    """
    x_sum = scatter(x, cluster, 0, capacity, reduce="sum")
    size = cluster_sizes(cluster, capacity, x.dtype)
    member_weight = size.index_select(0, cluster).reciprocal()
    score = torch.ones(capacity + 1, dtype=x.dtype, device=x.device)
    if strength > 0.0:
        # Each cluster holds at most one matched pair, so a plain scatter (differentiable,
        # unlike scatter-multiply) places that pair's gate; other pairs go to a spare slot.
        pair_cluster = cluster.index_select(0, candidate_index[0])
        slot = torch.where(merged, pair_cluster, capacity)
        score = score.scatter(0, slot, gate)
    score = score[:capacity]
    x_out = x_sum
    if mean:
        x_out = x_out / size.clamp_min(1.0).unsqueeze(-1)
    if strength > 0.0:
        x_out = x_out * feature_scale(score, strength).unsqueeze(-1)
    return x_out, member_weight, score
