r"""Connect on CUDA: the pooled edges and their soft weights in three Triton launches, a sort
and a ``cumsum``, with a one-launch backward.

One launch writes each input edge's key :math:`c(u)\,N + c(v)` (:math:`N^2` inside a
cluster); after ``torch.sort`` and the run-start count
(:func:`pyg_grapheme.nn.pool.gpu.scores.run_slots`) one launch over the sorted keys writes
the coalesced edges in lexicographic order, each input edge's output edge, the input
edges behind each output edge, :math:`n_{e'}`, and the weight

.. math::
    w_{e'} = \sum_{e \to e'} \frac{1 - g_{p(e)}}{n_{e'}}

(:math:`g = 0` for edges that are no candidate pair) with atomic sums. A run of equal
keys is measured from its neighbours when it is at most two long (a halving is exact, so
then the weight equals the mean the other paths take), and by binary search otherwise.
:class:`EdgeWeights` attaches the gradient :math:`\bar g_{p(e)} \mathrel{-}=
\bar w_{e'} / n_{e'}` once the sizes are known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from pyg_grapheme.nn.pool.gpu.launch import BLOCK, grid, kernel, search_steps
from pyg_grapheme.nn.pool.gpu.scores import key_dtype, run_slots

tl: Any = None  # bound to triton.language by launch.available()


def _cluster_keys(
    edge_ptr,
    stride_side,
    stride_edge,
    cluster_ptr,
    key_ptr,
    num_edges,
    num_nodes,
    sentinel,
    SELF_LOOPS: tl.constexpr,
    BLOCK: tl.constexpr,
):  # type: ignore[no-untyped-def]
    e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = e < num_edges
    u = tl.load(edge_ptr + e * stride_edge, mask=inside, other=0)
    v = tl.load(edge_ptr + stride_side + e * stride_edge, mask=inside, other=0)
    u = tl.minimum(tl.maximum(u, 0), num_nodes - 1)
    v = tl.minimum(tl.maximum(v, 0), num_nodes - 1)
    cu = tl.load(cluster_ptr + u, mask=inside, other=0)
    cv = tl.load(cluster_ptr + v, mask=inside, other=0)
    key = cu * num_nodes + cv
    if not SELF_LOOPS:  # resolved at compile time: one kernel per setting
        key = tl.where(cu != cv, key, sentinel)
    tl.store(key_ptr + e, key, mask=inside)


def _pooled_edges(
    key_ptr,
    order_ptr,
    slot_ptr,
    pair_of_edge_ptr,
    gate_ptr,
    slot_of_edge_ptr,
    edge_out_ptr,
    count_ptr,
    weight_ptr,
    counter_ptr,
    num_edges,
    num_nodes,
    sentinel,
    STEPS: tl.constexpr,
    BLOCK: tl.constexpr,
):  # type: ignore[no-untyped-def]
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = i < num_edges
    key = tl.load(key_ptr + i, mask=inside, other=sentinel)
    before = tl.load(key_ptr + i - 1, mask=inside & (i > 0), other=-1)
    after = tl.load(key_ptr + i + 1, mask=inside & (i + 1 < num_edges), other=-1)
    edge = tl.load(order_ptr + i, mask=inside, other=0)
    slot = tl.load(slot_ptr + i, mask=inside, other=1) - 1
    num_out = tl.load(slot_ptr + num_edges - 1)
    real = inside & (key != sentinel)
    first = real & (key != before)
    tl.store(slot_of_edge_ptr + edge, tl.where(real, slot, num_edges), mask=inside)
    # The run of equal keys: from the neighbours when at most two long, else searched.
    length = 1 + (before == key).to(tl.int64) + (after == key).to(tl.int64)
    two_before = tl.load(key_ptr + i - 2, mask=inside & (i > 1), other=-1)
    two_after = tl.load(key_ptr + i + 2, mask=inside & (i + 2 < num_edges), other=-1)
    long_run = real & ((two_before == key) | (two_after == key))
    if tl.max(long_run.to(tl.int32), axis=0) > 0:
        low = tl.zeros([BLOCK], dtype=tl.int64)
        high = low + num_edges
        for _ in range(STEPS):
            go = long_run & (low < high)
            mid = (low + high) // 2
            below = tl.load(key_ptr + mid, mask=go, other=0) < key
            low = tl.where(go & below, mid + 1, low)
            high = tl.where(go & ~below, mid, high)
        start = low
        high = start * 0 + num_edges
        for _ in range(STEPS):
            go = long_run & (low < high)
            mid = (low + high) // 2
            within = tl.load(key_ptr + mid, mask=go, other=0) <= key
            low = tl.where(go & within, mid + 1, low)
            high = tl.where(go & ~within, mid, high)
        length = tl.where(long_run, low - start, length)
    pair = tl.load(pair_of_edge_ptr + edge, mask=real, other=num_edges)
    candidate = real & (pair < num_edges)
    gate = tl.load(gate_ptr + pair, mask=candidate, other=0.0)
    count = length.to(gate.dtype)
    # Correctly rounded, as torch divides (float64 division always is).
    share = tl.div_rn(1.0 - gate, count) if gate.dtype == tl.float32 else (1.0 - gate) / count
    tl.atomic_add(weight_ptr + slot, share, mask=real)
    tl.store(edge_out_ptr + slot, key // num_nodes, mask=first)
    tl.store(edge_out_ptr + num_edges + slot, key % num_nodes, mask=first)
    tl.store(count_ptr + slot, length, mask=first)
    pad = inside & (i >= num_out)
    zero = tl.zeros([BLOCK], dtype=tl.int64)
    tl.store(edge_out_ptr + i, zero, mask=pad)
    tl.store(edge_out_ptr + num_edges + i, zero, mask=pad)
    tl.store(count_ptr + i, zero, mask=pad)
    if tl.program_id(0) == 0:
        tl.store(counter_ptr + 2, num_out)


def _weight_gradients(
    slot_of_edge_ptr,
    pair_of_edge_ptr,
    count_ptr,
    grad_weight_ptr,
    grad_weight_stride,
    grad_gate_ptr,
    num_edges,
    num_out,
    num_pairs,
    BLOCK: tl.constexpr,
):  # type: ignore[no-untyped-def]
    e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = e < num_edges
    slot = tl.load(slot_of_edge_ptr + e, mask=inside, other=num_edges)
    pair = tl.load(pair_of_edge_ptr + e, mask=inside, other=num_edges)
    live = inside & (slot < num_out) & (pair < num_pairs)
    grad = tl.load(grad_weight_ptr + slot * grad_weight_stride, mask=live, other=0.0)
    count = tl.load(count_ptr + slot, mask=live, other=1)
    tl.atomic_add(grad_gate_ptr + pair, -grad / count.to(grad.dtype), mask=live)


@dataclass
class PooledEdges:
    """What :func:`pooled_edges` computed, padded to :math:`E` (the first :math:`E'` are the
    output edges)."""

    slot: Tensor  # long [E], each input edge's output edge, E for a dropped one
    edge_index: Tensor  # long [2, E]
    count: Tensor  # long [E], input edges per output edge
    weight: Tensor  # [E]
    pair_of_edge: Tensor  # long [E]


def pooled_edges(
    edge_index: Tensor,
    cluster: Tensor,
    pair_of_edge: Tensor,
    gate: Tensor,
    weight: Tensor,
    counters: Tensor,
    self_loops: bool = False,
) -> PooledEdges:
    r"""The coalesced edges between clusters and their soft weights (no autograd).

    Args:
        edge_index (torch.Tensor): :math:`[2, E]`, not yet validated (clamped here).
        cluster (torch.Tensor): :math:`[N]`, each node's cluster.
        pair_of_edge (torch.Tensor): :math:`[E]`, each edge's candidate pair (:math:`E` for
            none).
        gate (torch.Tensor): :math:`[E]`, the pairs' gates (padded).
        weight (torch.Tensor): Zeros :math:`[E]` of the gates' dtype, the weights' sums.
        counters (torch.Tensor): The call's counters (:math:`E'` is written there).
        self_loops (bool): Keep the edges inside a cluster as its self-loop (else dropped).
    """
    num_edges = edge_index.size(1)
    num_nodes = cluster.numel()
    device = edge_index.device
    # Keys of dropped edges (inside a cluster, without self_loops); a Python int, since N^2
    # may overflow int32.
    sentinel = num_nodes * num_nodes
    key = torch.empty(num_edges, dtype=key_dtype(sentinel), device=device)
    kernel(_cluster_keys, device)[grid(num_edges)](
        edge_index, edge_index.stride(0), edge_index.stride(1), cluster, key, num_edges,
        num_nodes, sentinel, SELF_LOOPS=self_loops, BLOCK=BLOCK,
    )  # fmt: skip
    sorted_key, order = torch.sort(key)
    slot = run_slots(sorted_key, sentinel)
    slot_of_edge = torch.empty(num_edges, dtype=torch.long, device=device)
    edge_out = torch.empty(2, num_edges, dtype=torch.long, device=device)
    count = torch.empty(num_edges, dtype=torch.long, device=device)
    kernel(_pooled_edges, device)[grid(num_edges)](
        sorted_key, order, slot, pair_of_edge, gate, slot_of_edge, edge_out, count, weight,
        counters, num_edges, num_nodes, sentinel, STEPS=search_steps(num_edges), BLOCK=BLOCK,
    )  # fmt: skip
    return PooledEdges(slot_of_edge, edge_out, count, weight, pair_of_edge)


class EdgeWeights(torch.autograd.Function):
    r"""Attaches to the first :math:`E'` weights of :func:`pooled_edges` their gradient with
    respect to the :math:`P` gates: :math:`\bar g_{p(e)} \mathrel{-}= \bar w_{e'} / n_{e'}`
    over the input edges (one launch of atomic sums)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, gate: Tensor, edges: PooledEdges, num_out: int
    ) -> Tensor:
        ctx.edges, ctx.num_out = edges, num_out
        ctx.num_pairs = gate.numel()
        ctx.gate_like = (gate.dtype, gate.device)
        return edges.weight[:num_out]

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_weight: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        edges: PooledEdges = ctx.edges
        dtype, device = ctx.gate_like
        grad_gate = torch.zeros(ctx.num_pairs, dtype=dtype, device=device)
        num_edges = edges.slot.numel()
        kernel(_weight_gradients, device)[grid(num_edges)](
            edges.slot, edges.pair_of_edge, edges.count, grad_weight, grad_weight.stride(0),
            grad_gate, num_edges, ctx.num_out, ctx.num_pairs, BLOCK=BLOCK,
        )  # fmt: skip
        return grad_gate, None, None
