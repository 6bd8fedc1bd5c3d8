r"""Reduce on CUDA: the cluster numbers, the pooled batch and, for a matching, the pooled
features in one Triton launch over the nodes, with a one-launch backward.

Each node finds its cluster's root (a matching's first node, or its component's root),
reads the root's inclusive count along the graph order
(:func:`pyg_grapheme.nn.pool.gpu.select.root_ranks`) and so its cluster number
:math:`c(i)`; the root writes its cluster's row. For a matching, whose clusters hold one
node or one matched pair :math:`\{a, b\}`,

.. math::
    \mathbf{x}'_c = (1 - \alpha + \alpha\, \bar g_c)\, \lambda_c (\mathbf{x}_a + \mathbf{x}_b),
    \qquad \bar g_c = g_{ab},

(:math:`\lambda_c = 1/|c|` for a mean, :math:`1` for a sum; a node left alone passes with
:math:`\bar g_c = 1`), rounded as :func:`pyg_grapheme.nn.pool.reduce.matching_reduce`
rounds it. Rows past the :math:`C` clusters are zeros (scores one, batch zero).
:class:`MatchingReduce` attaches the gradient with respect to :math:`\mathbf{x}` and the
gates once :math:`C` is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from pyg_grapheme.nn.pool.gpu.launch import BLOCK, grid, kernel, tile

tl: Any = None  # bound to triton.language by launch.available()

# Components keep per-node and per-cluster sums in one zeroed [5, N] buffer; the kernels
# address its rows by number (Triton kernels read no module constants): 0 the soft degree
# d_i, 1 the merged pairs m_i at each node, 2 the weight total T_c, 3 the merged-pair total
# M_c, 4 the size |c| of each cluster. Their backward pass keeps three rows [3, N]: 0 each
# node's pull on its weight (then on its degree), 1 the weighted pull total of each cluster,
# 2 <dL/dx'_c, y_c> with y_c the cluster's weighted mean.
COMPONENT_SUMS = 5


def _clusters(
    link_ptr,
    first_ptr,
    second_ptr,
    position_ptr,
    rank_ptr,
    x_ptr,
    gate_ptr,
    batch_ptr,
    cluster_ptr,
    x_out_ptr,
    score_ptr,
    batch_out_ptr,
    member_weight_ptr,
    sums_ptr,
    counter_ptr,
    num_nodes,
    CHANNELS: tl.constexpr,
    MATCHING: tl.constexpr,
    MEAN: tl.constexpr,
    STRENGTH: tl.constexpr,
    BLOCK: tl.constexpr,
    COLUMNS: tl.constexpr,
):  # type: ignore[no-untyped-def]
    v = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = v < num_nodes
    link = tl.load(link_ptr + v, mask=inside, other=0)
    if MATCHING:
        matched = inside & (link >= 0)
        a = tl.load(first_ptr + link, mask=matched, other=0)
        b = tl.load(second_ptr + link, mask=matched, other=0)
        root = tl.where(matched, a, v)
        partner = tl.where(matched, a + b - v, v)
    else:
        root = link
    cluster = (
        tl.load(rank_ptr + tl.load(position_ptr + root, mask=inside, other=0), mask=inside, other=1)
        - 1
    )
    tl.store(cluster_ptr + v, cluster, mask=inside)
    num_clusters = tl.load(rank_ptr + num_nodes - 1)
    is_root = inside & (root == v)
    pad = inside & (v >= num_clusters)
    tl.store(batch_out_ptr + cluster, tl.load(batch_ptr + v, mask=is_root, other=0), mask=is_root)
    tl.store(batch_out_ptr + v, tl.zeros([BLOCK], dtype=tl.int64), mask=pad)
    if MATCHING:
        dtype = x_ptr.dtype.element_ty
        half = tl.where(matched, 0.5, 1.0).to(dtype)  # 1 / |c|, exact
        tl.store(member_weight_ptr + v, half, mask=inside)
        score = tl.full([BLOCK], 1.0, dtype)
        if STRENGTH > 0.0:
            score = tl.where(matched, tl.load(gate_ptr + link, mask=matched, other=1.0), score)
        # The torch code's rounding: (1 - alpha) + alpha * score, score itself at alpha = 1.
        scale = score
        if STRENGTH < 1.0:
            scale = (1.0 - STRENGTH) + STRENGTH * score
        # Each channel's value takes the same operations in any layout: whole-row tiles.
        f = tl.arange(0, COLUMNS)
        channel = (f < CHANNELS)[None, :]
        value = tl.load(
            x_ptr + v[:, None] * CHANNELS + f[None, :], mask=is_root[:, None] & channel, other=0.0
        )
        value += tl.load(
            x_ptr + partner[:, None] * CHANNELS + f[None, :],
            mask=(is_root & matched)[:, None] & channel,
            other=0.0,
        )
        if MEAN:
            value = value * half[:, None]  # the division by |c| in {1, 2}, exact either way
        if STRENGTH > 0.0:
            value = value * scale[:, None]
        tl.store(
            x_out_ptr + cluster[:, None] * CHANNELS + f[None, :],
            value,
            mask=is_root[:, None] & channel,
        )
        tl.store(
            x_out_ptr + v[:, None] * CHANNELS + f[None, :],
            tl.zeros([BLOCK, COLUMNS], dtype=dtype),
            mask=pad[:, None] & channel,
        )
        tl.store(score_ptr + cluster, score, mask=is_root)
        tl.store(score_ptr + v, tl.full([BLOCK], 1.0, dtype), mask=pad)
    else:
        # Components: each cluster's weight total, merged-pair count and size (atomics).
        degree = tl.load(sums_ptr + 0 * num_nodes + v, mask=inside, other=0.0)
        hard = tl.load(sums_ptr + 1 * num_nodes + v, mask=inside, other=0.0)
        weight = tl.where(hard > 0.0, degree, 1.0)
        tl.atomic_add(sums_ptr + 2 * num_nodes + cluster, weight, mask=inside)
        tl.atomic_add(sums_ptr + 3 * num_nodes + cluster, hard, mask=inside)
        tl.atomic_add(sums_ptr + 4 * num_nodes + cluster, hard * 0.0 + 1.0, mask=inside)
    if tl.program_id(0) == 0:
        tl.store(counter_ptr + 1, num_clusters)


def _soft_degrees(
    first_ptr, second_ptr, gate_ptr, merged_ptr, sums_ptr, num_pairs, num_nodes, BLOCK: tl.constexpr
):  # type: ignore[no-untyped-def]
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    live = (p < num_pairs) & (tl.load(merged_ptr + p, mask=p < num_pairs, other=0) != 0)
    a = tl.load(first_ptr + p, mask=live, other=0)
    b = tl.load(second_ptr + p, mask=live, other=0)
    gate = tl.load(gate_ptr + p, mask=live, other=0.0)
    tl.atomic_add(sums_ptr + 0 * num_nodes + a, gate, mask=live)
    tl.atomic_add(sums_ptr + 0 * num_nodes + b, gate, mask=live)
    tl.atomic_add(sums_ptr + 1 * num_nodes + a, gate * 0.0 + 1.0, mask=live)
    tl.atomic_add(sums_ptr + 1 * num_nodes + b, gate * 0.0 + 1.0, mask=live)


def _component_rows(
    cluster_ptr,
    sums_ptr,
    x_ptr,
    x_out_ptr,
    score_ptr,
    member_weight_ptr,
    counter_ptr,
    num_nodes,
    CHANNELS: tl.constexpr,
    MEAN: tl.constexpr,
    STRENGTH: tl.constexpr,
    BLOCK: tl.constexpr,
    COLUMNS: tl.constexpr,
):  # type: ignore[no-untyped-def]
    v = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = v < num_nodes
    c = tl.load(cluster_ptr + v, mask=inside, other=0)
    degree = tl.load(sums_ptr + 0 * num_nodes + v, mask=inside, other=0.0)
    hard = tl.load(sums_ptr + 1 * num_nodes + v, mask=inside, other=0.0)
    total = tl.load(sums_ptr + 2 * num_nodes + c, mask=inside, other=1.0)
    hard_total = tl.load(sums_ptr + 3 * num_nodes + c, mask=inside, other=0.0)
    size = tl.load(sums_ptr + 4 * num_nodes + c, mask=inside, other=1.0)
    weight = tl.where(hard > 0.0, degree, 1.0)
    member_weight = weight / tl.where(total > 0.0, total, 1.0)
    tl.store(member_weight_ptr + v, member_weight, mask=inside)
    score = hard_total * 0.0 + 1.0
    if STRENGTH > 0.0:
        score = tl.where(hard_total > 0.0, total / tl.maximum(hard_total, 1.0), score)
    scale = score
    if STRENGTH < 1.0:
        scale = (1.0 - STRENGTH) + STRENGTH * score
    factor = member_weight
    if not MEAN:
        factor = factor * size
    if STRENGTH > 0.0:
        factor = factor * scale
    # Atomics add in no fixed order anyway: whole-row tiles.
    f = tl.arange(0, COLUMNS)
    cell = inside[:, None] & (f < CHANNELS)[None, :]
    value = tl.load(x_ptr + v[:, None] * CHANNELS + f[None, :], mask=cell, other=0.0)
    tl.atomic_add(
        x_out_ptr + c[:, None] * CHANNELS + f[None, :], value * factor[:, None], mask=cell
    )
    # Every member writes its cluster's score (the same value); rows past C are ones.
    tl.store(score_ptr + c, score, mask=inside)
    num_clusters = tl.load(counter_ptr + 1)
    tl.store(score_ptr + v, hard * 0.0 + 1.0, mask=inside & (v >= num_clusters))


def _component_gradient_rows(
    cluster_ptr,
    sums_ptr,
    score_ptr,
    member_weight_ptr,
    x_ptr,
    grad_out_ptr,
    grad_out_row,
    grad_out_column,
    grad_weight_ptr,
    grad_weight_stride,
    grad_x_ptr,
    through_ptr,
    num_nodes,
    CHANNELS: tl.constexpr,
    MEAN: tl.constexpr,
    STRENGTH: tl.constexpr,
    HAS_OUT: tl.constexpr,
    HAS_WEIGHT: tl.constexpr,
    BLOCK: tl.constexpr,
    COLUMNS: tl.constexpr,
):  # type: ignore[no-untyped-def]
    v = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = v < num_nodes
    c = tl.load(cluster_ptr + v, mask=inside, other=0)
    member_weight = tl.load(member_weight_ptr + v, mask=inside, other=0.0)
    size = tl.load(sums_ptr + 4 * num_nodes + c, mask=inside, other=1.0)
    score = tl.load(score_ptr + c, mask=inside, other=1.0)
    scale = member_weight * 0.0 + 1.0
    if STRENGTH > 0.0:
        scale = score
        if STRENGTH < 1.0:
            scale = (1.0 - STRENGTH) + STRENGTH * score
    if not MEAN:
        scale = scale * size
    f = tl.arange(0, COLUMNS)
    cell = inside[:, None] & (f < CHANNELS)[None, :]
    at = v[:, None] * CHANNELS + f[None, :]
    grad = tl.zeros([BLOCK, COLUMNS], dtype=member_weight.dtype)
    if HAS_OUT:
        grad = tl.load(
            grad_out_ptr + c[:, None] * grad_out_row + f[None, :] * grad_out_column,
            mask=cell,
            other=0.0,
        ).to(member_weight.dtype)
    tl.store(grad_x_ptr + at, grad * (member_weight * scale)[:, None], mask=cell)
    # along: <dL/dx'_c, x_v>, the member's pull on its weight (before the cluster scale).
    along = tl.sum(grad * tl.load(x_ptr + at, mask=cell, other=0.0), axis=1)
    pull = along * scale
    if HAS_WEIGHT:
        pull += tl.load(grad_weight_ptr + v * grad_weight_stride, mask=inside, other=0.0)
    tl.store(through_ptr + 0 * num_nodes + v, pull, mask=inside)
    tl.atomic_add(through_ptr + 1 * num_nodes + c, pull * member_weight, mask=inside)
    tl.atomic_add(through_ptr + 2 * num_nodes + c, along * member_weight, mask=inside)


def _component_gradient_degrees(
    cluster_ptr,
    sums_ptr,
    through_ptr,
    grad_score_ptr,
    grad_score_stride,
    num_nodes,
    MEAN: tl.constexpr,
    STRENGTH: tl.constexpr,
    HAS_SCORE: tl.constexpr,
    BLOCK: tl.constexpr,
):  # type: ignore[no-untyped-def]
    v = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = v < num_nodes
    c = tl.load(cluster_ptr + v, mask=inside, other=0)
    hard = tl.load(sums_ptr + 1 * num_nodes + v, mask=inside, other=0.0)
    total = tl.load(sums_ptr + 2 * num_nodes + c, mask=inside, other=1.0)
    hard_total = tl.load(sums_ptr + 3 * num_nodes + c, mask=inside, other=0.0)
    size = tl.load(sums_ptr + 4 * num_nodes + c, mask=inside, other=1.0)
    pull = tl.load(through_ptr + 0 * num_nodes + v, mask=inside, other=0.0)
    mean_pull = tl.load(through_ptr + 1 * num_nodes + c, mask=inside, other=0.0)
    # w_i / T_c: d/dw_i = (pull_i - sum_k pull_k w_k / T_c) / T_c.
    grad_weight = (pull - mean_pull) / tl.where(total > 0.0, total, 1.0)
    if STRENGTH > 0.0:
        # score_c = T_c / M_c, which x'_c carries through its scale.
        grad_score = STRENGTH * tl.load(through_ptr + 2 * num_nodes + c, mask=inside, other=0.0)
        if not MEAN:
            grad_score = grad_score * size
        if HAS_SCORE:
            grad_score += tl.load(grad_score_ptr + c * grad_score_stride, mask=inside, other=0.0)
        grad_weight += tl.where(hard_total > 0.0, grad_score / tl.maximum(hard_total, 1.0), 0.0)
    # w_i = d_i for a member that merged (a constant 1 otherwise).
    tl.store(through_ptr + 0 * num_nodes + v, tl.where(hard > 0.0, grad_weight, 0.0), mask=inside)


def _component_gradient_pairs(
    first_ptr,
    second_ptr,
    merged_ptr,
    through_ptr,
    grad_gate_ptr,
    num_pairs,
    num_nodes,
    BLOCK: tl.constexpr,
):  # type: ignore[no-untyped-def]
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = p < num_pairs
    live = inside & (tl.load(merged_ptr + p, mask=inside, other=0) != 0)
    a = tl.load(first_ptr + p, mask=live, other=0)
    b = tl.load(second_ptr + p, mask=live, other=0)
    grad = tl.load(through_ptr + 0 * num_nodes + a, mask=live, other=0.0) + tl.load(
        through_ptr + 0 * num_nodes + b, mask=live, other=0.0
    )
    tl.store(grad_gate_ptr + p, grad, mask=inside)


def _matching_gradients(
    link_ptr,
    first_ptr,
    second_ptr,
    cluster_ptr,
    x_ptr,
    gate_ptr,
    grad_out_ptr,
    grad_out_row,
    grad_out_column,
    grad_score_ptr,
    grad_score_stride,
    grad_x_ptr,
    grad_gate_ptr,
    num_nodes,
    CHANNELS: tl.constexpr,
    MEAN: tl.constexpr,
    STRENGTH: tl.constexpr,
    HAS_OUT: tl.constexpr,
    HAS_SCORE: tl.constexpr,
    GATE: tl.constexpr,
    BLOCK: tl.constexpr,
    COLUMNS: tl.constexpr,
):  # type: ignore[no-untyped-def]
    v = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = v < num_nodes
    dtype = x_ptr.dtype.element_ty
    link = tl.load(link_ptr + v, mask=inside, other=0)
    matched = inside & (link >= 0)
    a = tl.load(first_ptr + link, mask=matched, other=0)
    b = tl.load(second_ptr + link, mask=matched, other=0)
    root = tl.where(matched, a, v)
    partner = tl.where(matched, a + b - v, v)
    is_root = inside & (root == v)
    cluster = tl.load(cluster_ptr + v, mask=inside, other=0)
    size = tl.where(matched, 2.0, 1.0).to(dtype)
    score = tl.full([BLOCK], 1.0, dtype)
    if STRENGTH > 0.0:
        score = tl.where(matched, tl.load(gate_ptr + link, mask=matched, other=1.0), score)
    scale = score
    if STRENGTH < 1.0:
        scale = (1.0 - STRENGTH) + STRENGTH * score
    f = tl.arange(0, COLUMNS)
    channel = (f < CHANNELS)[None, :]
    cell = inside[:, None] & channel
    grad = tl.zeros([BLOCK, COLUMNS], dtype=dtype)
    if HAS_OUT:
        grad = tl.load(
            grad_out_ptr + cluster[:, None] * grad_out_row + f[None, :] * grad_out_column,
            mask=cell,
            other=0.0,
        ).to(dtype)
    pooled = grad
    if STRENGTH > 0.0:
        pooled = pooled * scale[:, None]
    if MEAN:
        pooled = pooled / size[:, None]
    tl.store(grad_x_ptr + v[:, None] * CHANNELS + f[None, :], pooled, mask=cell)
    if GATE:
        pair = (is_root & matched)[:, None] & channel
        value = tl.load(x_ptr + v[:, None] * CHANNELS + f[None, :], mask=pair, other=0.0)
        value += tl.load(x_ptr + partner[:, None] * CHANNELS + f[None, :], mask=pair, other=0.0)
        if MEAN:
            value = value / size[:, None]
        total = STRENGTH * tl.sum(grad * value, axis=1)
        if HAS_SCORE:
            total += tl.load(grad_score_ptr + cluster * grad_score_stride, mask=inside, other=0.0)
        tl.store(grad_gate_ptr + link, total, mask=is_root & matched)


@dataclass
class Clusters:
    """What :func:`clusters` computed, padded to :math:`N` rows (the first :math:`C` are
    the clusters)."""

    cluster: Tensor  # long [N]
    batch: Tensor  # long [N]
    x: Tensor  # [N, F], the pooled features
    score: Tensor  # [N]
    member_weight: Tensor  # [N]
    link: Tensor  # [N], each node's matched pair (-1 if none) or component root
    candidate_index: Tensor  # [2, E]
    merged: Tensor  # bool [E]
    sums: Tensor | None  # components: [5, N] (module comment)


def clusters(
    x: Tensor,
    gate: Tensor,
    batch: Tensor,
    link: Tensor,
    candidate_index: Tensor,
    merged: Tensor,
    position: Tensor,
    rank: Tensor,
    counters: Tensor,
    matching: bool,
    mean: bool,
    strength: float,
    sums: Tensor | None = None,
    x_out: Tensor | None = None,
) -> Clusters:
    r"""Cluster numbers and batch, and a matching's pooled features (no autograd).

    Args:
        x (torch.Tensor): Node features :math:`[N, F]`.
        gate (torch.Tensor): :math:`[E]`, the pairs' gates (padded).
        batch (torch.Tensor): :math:`[N]`, graph ids.
        link (torch.Tensor): :math:`[N]`, each node's matched pair (:math:`-1` for none) for
            a matching, its component's root otherwise.
        candidate_index (torch.Tensor): :math:`[2, E]`, the pairs (padded).
        merged (torch.Tensor): ``bool`` :math:`[E]`, the merged pairs.
        position (torch.Tensor): :math:`[N]`, each node's place in the graph order.
        rank (torch.Tensor): :math:`[N]`, :func:`~pyg_grapheme.nn.pool.gpu.select.root_ranks`.
        counters (torch.Tensor): The call's counters (:math:`C` is written there).
        matching (bool): Whether ``link`` holds matched pairs (then the features are pooled).
        mean (bool): Mean instead of sum.
        strength (float): :math:`\alpha`, the merge score's share in the feature scale.
        sums (torch.Tensor, optional): Components: zeros :math:`[5, N]` (module comment).
        x_out (torch.Tensor, optional): Components: zeros :math:`[N, F]`, the pooled rows.
    """
    x = x.detach().contiguous()
    num_nodes, channels = x.shape
    device = x.device
    cluster = torch.empty(num_nodes, dtype=torch.long, device=device)
    batch_out = torch.empty(num_nodes, dtype=torch.long, device=device)
    score = torch.empty(num_nodes, dtype=x.dtype, device=device)
    member_weight = torch.empty(num_nodes, dtype=x.dtype, device=device)
    num_pairs = candidate_index.size(1)
    if matching:
        x_out = torch.empty_like(x)
    else:
        assert sums is not None and x_out is not None
        kernel(_soft_degrees, device)[grid(num_pairs)](
            candidate_index[0], candidate_index[1], gate, merged, sums, num_pairs, num_nodes,
            BLOCK=BLOCK,
        )  # fmt: skip
    rows_per_tile, columns = tile(channels)
    options = {
        "MEAN": mean,
        "STRENGTH": float(strength),
        "BLOCK": rows_per_tile,
        "COLUMNS": columns,
    }
    kernel(_clusters, device)[grid(num_nodes, rows_per_tile)](
        link, candidate_index[0], candidate_index[1], position, rank, x, gate, batch, cluster,
        x_out, score, batch_out, member_weight, x if sums is None else sums, counters,
        num_nodes, channels, MATCHING=matching, enable_fp_fusion=False, **options,
    )  # fmt: skip
    if not matching:
        kernel(_component_rows, device)[grid(num_nodes, rows_per_tile)](
            cluster, sums, x, x_out, score, member_weight, counters, num_nodes, channels,
            enable_fp_fusion=False, **options,
        )  # fmt: skip
    return Clusters(
        cluster, batch_out, x_out, score, member_weight, link, candidate_index, merged, sums
    )


class MatchingReduce(torch.autograd.Function):
    r"""Attaches to the first :math:`C` pooled rows and scores of :func:`clusters` (a
    matching) their gradient with respect to :math:`\mathbf{x}` and the gates.

    Backward, one launch over the nodes: :math:`\bar{\mathbf{x}}_i = s_c \lambda_c
    \bar{\mathbf{x}}'_{c(i)}` with :math:`s_c = 1 - \alpha + \alpha \bar g_c`, and for each
    matched pair :math:`\bar g_{ab} = \bar{\bar g}_c + \alpha \lambda_c \langle
    \bar{\mathbf{x}}'_c, \mathbf{x}_a + \mathbf{x}_b \rangle`.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: Tensor,
        gate: Tensor,
        pooled: Clusters,
        num_clusters: int,
        mean: bool,
        strength: float,
    ) -> tuple[Tensor, Tensor]:
        ctx.pooled, ctx.options = pooled, (mean, float(strength))
        ctx.save_for_backward(x, gate)
        ctx.set_materialize_grads(False)
        score = pooled.score[:num_clusters]
        if strength == 0.0:
            ctx.mark_non_differentiable(score)
        return pooled.x[:num_clusters], score

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any, grad_out: Tensor | None, grad_score: Tensor | None
    ) -> tuple[Tensor | None, Tensor | None, None, None, None, None]:
        pooled: Clusters = ctx.pooled
        mean, strength = ctx.options
        x, gate = ctx.saved_tensors
        x = x.detach().contiguous()
        num_nodes, channels = x.shape
        device = x.device
        grad_x = torch.empty_like(x)
        needs_gate = ctx.needs_input_grad[1] and strength > 0.0
        grad_gate = torch.zeros_like(gate) if needs_gate else None
        rows_per_tile, columns = tile(channels)
        kernel(_matching_gradients, device)[grid(num_nodes, rows_per_tile)](
            pooled.link, pooled.candidate_index[0], pooled.candidate_index[1], pooled.cluster,
            x, gate,
            x if grad_out is None else grad_out,
            0 if grad_out is None else grad_out.stride(0),
            0 if grad_out is None else grad_out.stride(1),
            x if grad_score is None else grad_score,
            0 if grad_score is None else grad_score.stride(0),
            grad_x, x if grad_gate is None else grad_gate, num_nodes, channels,
            MEAN=mean, STRENGTH=strength, HAS_OUT=grad_out is not None,
            HAS_SCORE=grad_score is not None, GATE=needs_gate, BLOCK=rows_per_tile,
            COLUMNS=columns,
        )  # fmt: skip
        return (grad_x if ctx.needs_input_grad[0] else None), grad_gate, None, None, None, None


class ComponentReduce(torch.autograd.Function):
    r"""Attaches to the first :math:`C` pooled rows and scores of :func:`clusters`
    (components) and to the member weights their gradient with respect to :math:`\mathbf{x}`
    and the gates.

    With :math:`w_i = d_i` (:math:`1` for a node that merged with nothing),
    :math:`\mu_i = w_i / T_c`, :math:`\mathbf{x}'_c = \lambda_c s_c \sum_{i \in c} \mu_i
    \mathbf{x}_i` and :math:`\bar g_c = T_c / M_c`, three launches: over the nodes,
    :math:`\bar{\mathbf{x}}_i = \mu_i \lambda_c s_c \bar{\mathbf{x}}'_c` and the pull
    :math:`\pi_i = \bar\mu_i + \lambda_c s_c \langle \bar{\mathbf{x}}'_c,
    \mathbf{x}_i \rangle` with its cluster totals; over the nodes again,
    :math:`\bar d_i = (\pi_i - \sum_k \pi_k \mu_k) / T_c + \bar{\bar g}_c / M_c`
    (:math:`\bar{\bar g}_c` including :math:`\alpha \lambda_c \langle
    \bar{\mathbf{x}}'_c, \sum_k \mu_k \mathbf{x}_k \rangle`); over the pairs,
    :math:`\bar g_{ab} = \bar d_a + \bar d_b` for the merged ones.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: Tensor,
        gate: Tensor,
        pooled: Clusters,
        num_clusters: int,
        mean: bool,
        strength: float,
    ) -> tuple[Tensor, Tensor, Tensor]:
        ctx.pooled, ctx.options = pooled, (mean, float(strength))
        ctx.save_for_backward(x, gate)
        ctx.set_materialize_grads(False)
        score = pooled.score[:num_clusters]
        if strength == 0.0:
            ctx.mark_non_differentiable(score)
        return pooled.x[:num_clusters], pooled.member_weight, score

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any, grad_out: Tensor | None, grad_weight: Tensor | None, grad_score: Tensor | None
    ) -> tuple[Tensor | None, Tensor | None, None, None, None, None]:
        pooled: Clusters = ctx.pooled
        mean, strength = ctx.options
        x, gate = ctx.saved_tensors
        x = x.detach().contiguous()
        num_nodes, channels = x.shape
        num_pairs = gate.numel()
        device = x.device
        assert pooled.sums is not None
        grad_x = torch.empty_like(x)
        through = torch.zeros(3, num_nodes, dtype=x.dtype, device=device)
        rows_per_tile, columns = tile(channels)
        options = {"MEAN": mean, "STRENGTH": strength, "BLOCK": rows_per_tile}
        kernel(_component_gradient_rows, device)[grid(num_nodes, rows_per_tile)](
            pooled.cluster, pooled.sums, pooled.score, pooled.member_weight, x,
            x if grad_out is None else grad_out,
            0 if grad_out is None else grad_out.stride(0),
            0 if grad_out is None else grad_out.stride(1),
            x if grad_weight is None else grad_weight,
            0 if grad_weight is None else grad_weight.stride(0),
            grad_x, through, num_nodes, channels, HAS_OUT=grad_out is not None,
            HAS_WEIGHT=grad_weight is not None, COLUMNS=columns, **options,
        )  # fmt: skip
        grad_gate = None
        if ctx.needs_input_grad[1]:
            kernel(_component_gradient_degrees, device)[grid(num_nodes, rows_per_tile)](
                pooled.cluster, pooled.sums, through,
                x if grad_score is None else grad_score,
                0 if grad_score is None else grad_score.stride(0),
                num_nodes, HAS_SCORE=grad_score is not None, **options,
            )  # fmt: skip
            grad_gate = torch.empty_like(gate)
            if num_pairs > 0:
                kernel(_component_gradient_pairs, device)[grid(num_pairs)](
                    pooled.candidate_index[0], pooled.candidate_index[1], pooled.merged, through,
                    grad_gate, num_pairs, num_nodes, BLOCK=BLOCK,
                )  # fmt: skip
        return (grad_x if ctx.needs_input_grad[0] else None), grad_gate, None, None, None, None
