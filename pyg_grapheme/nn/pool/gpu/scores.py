r"""Select on CUDA, first half: the candidate pairs of adjacent nodes and their similarity,
gate and merge key, in a few Triton launches with no host read.

With :math:`N` nodes, :math:`E` input edges and :math:`F` channels:

* :func:`pair_keys`: one launch over the edges writes each edge's pair key
  :math:`\min(u, v)\,N + \max(u, v)` (:math:`N^2` for self-loops and edges between graphs)
  and folds the smallest and largest node index into the validation counters; one
  ``torch.sort`` and a run-start pass with a ``cumsum`` give each distinct pair its slot.
* :func:`score_pairs`: the rows centred per graph (one launch of atomic sums, skipped for
  the plain cosine), their norms (one launch), then one launch over the sorted keys that
  writes the candidate pairs in lexicographic order, each edge's pair, and for every pair

  .. math::
      s_p = \frac{\langle \mathbf{c}_a, \mathbf{c}_b \rangle}{n_a n_b}, \qquad
      g_p = \sigma\big((s_p - \tau) / T\big), \qquad
      m_p = [s_p > \tau],

  with :math:`n_i = \max(\lVert\mathbf{c}_i\rVert, \epsilon)` and, for a matching, the key
  that ranks the pair (:mod:`~pyg_grapheme.nn.pool.gpu.matching`) and its first proposal.
* :class:`PairScores`: attaches the gradient of :math:`s` and :math:`g` with respect to the
  projected features and the threshold logit, once the sizes are known (backward: one
  launch of atomic row sums over the pairs, or, from :data:`GATHER_MIN_PAIRS` pairs, the
  pairs' factors and a counting sort of the pairs by their second node; then one launch
  over the rows, which gathers each node's pairs itself in the second case, and one more
  that centres the gradient).

The centred rows are written as ``[rows, channels]`` tiles. The channel sums (the squared
norms, the dot products) run channel by channel in the features' dtype without fused
multiply-adds, in the order of the host kernels (:mod:`pyg_grapheme.nn.pool.host.select`),
and the root and the division are correctly rounded: equal features give equal
similarities on every path, which the tie rules need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from pyg_grapheme.nn.pool.gpu.launch import (
    BLOCK,
    ROW_BLOCK,
    TILE,
    device_function,
    grid,
    kernel,
    tile,
)
from pyg_grapheme.nn.pool.pair_cosine import EPS

tl: Any = None  # bound to triton.language by launch.available()

# Counters the call reads back at its end (one int64 tensor, filled on the device).
PAIRS, CLUSTERS, EDGES, NON_FINITE, NEG_LOW, HIGH, NEG_GRAPH, LEFT_OPEN = range(8)
NUM_COUNTERS = 8

# The largest sort key held in int32. Pair and cluster keys run up to N^2, so up to
# N = 46340 nodes they are int32: the radix sort then makes half the passes (and half the
# launches and memsets), which is what a launch-bound call at small sizes pays for.
INT32_KEY_LIMIT = 2**31 - 1

# From this many candidate pairs the similarity's backward sums each node's pairs in one
# pass by node (three more launches, no atomics per channel) instead of two atomic adds
# per pair and channel: launches cost host time at small sizes, atomics device time at
# large ones (bench/pool_gpu_launches.py --gather-min-pairs measures both).
GATHER_MIN_PAIRS = 1 << 19
# The pass by node's launch: elements of a program's [rows, channels] tile, or the rows
# themselves where GATHER_ROWS is set (a power of two), and warps a program. Its loads depend
# on each other (pair, then partner, then row) and it loops to the longest list of its rows,
# so both set how long it waits. bench/pool_gpu_gather_sweep.py swept 8-64 rows of 64
# channels on 2-8 warps on an H100 (bench/results/pool_gpu.md): 64 rows (4096 elements) on
# 2 warps made 1M-node calls 12-18% faster than the row kernels' tile (32 rows) on 4 warps
# (chains 10.2 -> 9.0 ms, random graphs 13.0 -> 10.7 ms). The tile is kept in elements, not
# rows, so wider features get fewer rows a program (as launch.tile does).
GATHER_ELEMENTS = 2 * TILE
GATHER_ROWS: int | None = None
GATHER_WARPS = 2


def gather_rows(channels: int) -> int:
    """Rows a program of the pass by node gathers: :data:`GATHER_ROWS` where set, else
    :data:`GATHER_ELEMENTS` over the channels padded to a power of two (at least one)."""
    if GATHER_ROWS is not None:
        return GATHER_ROWS
    columns = tile(channels)[1]
    return max(1, GATHER_ELEMENTS // columns)


def key_dtype(sentinel: int) -> torch.dtype:
    r"""The integer dtype of sort keys :math:`\le` ``sentinel``: ``int32`` where it holds
    them (up to :data:`INT32_KEY_LIMIT`), ``int64`` otherwise."""
    return torch.int32 if sentinel <= INT32_KEY_LIMIT else torch.long


def _pair_keys(
    edge_ptr,
    stride_side,
    stride_edge,
    graph_ptr,
    key_ptr,
    counter_ptr,
    num_edges,
    num_nodes,
    sentinel,
    BLOCK: tl.constexpr,
):  # type: ignore[no-untyped-def]
    e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = e < num_edges
    u = tl.load(edge_ptr + e * stride_edge, mask=inside, other=0)
    v = tl.load(edge_ptr + stride_side + e * stride_edge, mask=inside, other=0)
    # Validation, read with the sizes at the end: the most negative and the largest index.
    tl.atomic_max(counter_ptr + 4, tl.max(tl.maximum(-u, -v), axis=0))
    tl.atomic_max(counter_ptr + 5, tl.max(tl.maximum(u, v), axis=0))
    # Until then every gather stays in bounds (on a GPU a bad index is a device assert).
    u = tl.minimum(tl.maximum(u, 0), num_nodes - 1)
    v = tl.minimum(tl.maximum(v, 0), num_nodes - 1)
    low = tl.minimum(u, v)
    high = tl.maximum(u, v)
    same_graph = tl.load(graph_ptr + low, mask=inside, other=0) == tl.load(
        graph_ptr + high, mask=inside, other=0
    )
    key = tl.where((low != high) & same_graph, low * num_nodes + high, sentinel)
    tl.store(key_ptr + e, key, mask=inside)


def _run_starts(key_ptr, start_ptr, size, sentinel, BLOCK: tl.constexpr):  # type: ignore[no-untyped-def]
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = i < size
    key = tl.load(key_ptr + i, mask=inside, other=sentinel)
    before = tl.load(key_ptr + i - 1, mask=inside & (i > 0), other=-1)
    tl.store(
        start_ptr + i, (inside & (key != sentinel) & (key != before)).to(tl.int32), mask=inside
    )


@device_function
def _add_graph_sums(sum_ptr, g, values, f, cell, CHANNELS: tl.constexpr):  # type: ignore[no-untyped-def]
    # Adds a [rows, channels] tile's rows (graph ids g, -1 outside) to their graphs' sums:
    # the rows of the tile's lowest and highest graph (most rows, in batches sorted by
    # graph) add within the tile first, one atomic per channel each; rows of any other
    # graph add one by one. Atomics add in no fixed order either way.
    high = tl.max(g, axis=0)
    low = tl.min(tl.where(g < 0, high, g), axis=0)
    alone = cell & ((g != low) & (g != high))[:, None]
    tl.atomic_add(sum_ptr + g[:, None] * CHANNELS + f[None, :], values, mask=alone)
    low_sum = tl.sum(tl.where((g == low)[:, None] & cell, values, 0.0), axis=0)
    tl.atomic_add(sum_ptr + low * CHANNELS + f, low_sum, mask=f < CHANNELS)
    # (Zeros where the tile holds one graph.)
    high_rows = (g == high)[:, None] & cell & (high != low)
    high_sum = tl.sum(tl.where(high_rows, values, 0.0), axis=0)
    tl.atomic_add(sum_ptr + high * CHANNELS + f, high_sum, mask=f < CHANNELS)


def _centre_sums(
    h_ptr,
    graph_ptr,
    sum_ptr,
    num_nodes,
    CHANNELS: tl.constexpr,
    BLOCK: tl.constexpr,
    COLUMNS: tl.constexpr,
):  # type: ignore[no-untyped-def]
    # Atomics add in no fixed order anyway: a [rows, channels] tile (launch.tile).
    v = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    f = tl.arange(0, COLUMNS)
    inside = v < num_nodes
    cell = inside[:, None] & (f < CHANNELS)[None, :]
    g = tl.load(graph_ptr + v, mask=inside, other=-1)
    value = tl.load(h_ptr + v[:, None] * CHANNELS + f[None, :], mask=cell, other=0.0)
    _add_graph_sums(sum_ptr, g, value, f, cell, CHANNELS)


def _centred_rows(
    h_ptr,
    graph_ptr,
    size_ptr,
    sum_ptr,
    row_ptr,
    norm_ptr,
    counter_ptr,
    num_nodes,
    CHANNELS: tl.constexpr,
    EPS: tl.constexpr,
    CENTRED: tl.constexpr,
    BLOCK: tl.constexpr,
    COLUMNS: tl.constexpr,
):  # type: ignore[no-untyped-def]
    # The centred rows on a [rows, channels] tile: each element's arithmetic is the same
    # whatever the layout, and whole rows per warp make the loads and stores coalesced (a
    # loop with one row per thread stored one element of each of 32 rows at a time).
    v = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    f = tl.arange(0, COLUMNS)
    inside = v < num_nodes
    cell = inside[:, None] & (f < CHANNELS)[None, :]
    value = tl.load(h_ptr + v[:, None] * CHANNELS + f[None, :], mask=cell, other=0.0)
    if CENTRED:
        # The mean as the host computes it: the sum divided by the count, then subtracted.
        g = tl.load(graph_ptr + v, mask=inside, other=0)
        total = tl.load(sum_ptr + g[:, None] * CHANNELS + f[None, :], mask=cell, other=0.0)
        count = tl.load(size_ptr + v, mask=inside, other=1).to(value.dtype)[:, None]
        # Correctly rounded, as torch divides (float64 division always is).
        mean = tl.div_rn(total, count) if value.dtype == tl.float32 else total / count
        value = value - mean
    tl.store(row_ptr + v[:, None] * CHANNELS + f[None, :], value, mask=cell)
    # The squares add channel by channel, in the host's order (the tie rules compare
    # similarities across paths), read back from the rows this program just stored.
    tl.debug_barrier()
    squares = tl.zeros([BLOCK], dtype=h_ptr.dtype.element_ty)
    for c in range(CHANNELS):
        centred = tl.load(row_ptr + v * CHANNELS + c, mask=inside, other=0.0)
        squares += centred * centred
    if squares.dtype == tl.float32:  # noqa: SIM108 (a compile-time branch)
        norm = tl.sqrt_rn(squares)
    else:
        norm = tl.sqrt(squares)
    # Finite values differ from themselves by zero; NaN and infinity by NaN.
    bad = inside & ((squares - squares) != 0.0)
    tl.atomic_max(counter_ptr + 3, tl.max(bad.to(tl.int64), axis=0))
    tl.store(norm_ptr + v, tl.maximum(norm, EPS), mask=inside)


def _score_pairs(
    key_ptr,
    order_ptr,
    slot_ptr,
    row_ptr,
    norm_ptr,
    tau_ptr,
    first_ptr,
    second_ptr,
    pair_of_edge_ptr,
    similarity_ptr,
    gate_ptr,
    open_ptr,
    merged_ptr,
    rank_key_ptr,
    best_ptr,
    counter_ptr,
    num_edges,
    num_nodes,
    sentinel,
    CHANNELS: tl.constexpr,
    INV_TEMPERATURE: tl.constexpr,
    MATCHING: tl.constexpr,
    PROPOSE: tl.constexpr,
    BLOCK: tl.constexpr,
):  # type: ignore[no-untyped-def]
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = i < num_edges
    key = tl.load(key_ptr + i, mask=inside, other=sentinel)
    before = tl.load(key_ptr + i - 1, mask=inside & (i > 0), other=-1)
    edge = tl.load(order_ptr + i, mask=inside, other=0)
    slot = tl.load(slot_ptr + i, mask=inside, other=1) - 1
    num_pairs = tl.load(slot_ptr + num_edges - 1)
    real = inside & (key != sentinel)
    first = real & (key != before)
    tl.store(pair_of_edge_ptr + edge, tl.where(real, slot, num_edges), mask=inside)
    # int64 offsets whatever the keys' width (int32 keys times the channels may overflow).
    a = tl.where(first, key // num_nodes, 0).to(tl.int64)
    b = tl.where(first, key % num_nodes, 0).to(tl.int64)
    dot = tl.zeros([BLOCK], dtype=row_ptr.dtype.element_ty)
    for f in range(CHANNELS):
        dot += tl.load(row_ptr + a * CHANNELS + f, mask=first, other=0.0) * tl.load(
            row_ptr + b * CHANNELS + f, mask=first, other=0.0
        )
    norms = tl.load(norm_ptr + a, mask=first, other=1.0) * tl.load(
        norm_ptr + b, mask=first, other=1.0
    )
    similarity = tl.div_rn(dot, norms) if dot.dtype == tl.float32 else dot / norms
    tau = tl.load(tau_ptr).to(similarity.dtype)
    gate = tl.sigmoid((similarity - tau) * INV_TEMPERATURE)
    above = first & (similarity > tau)
    tl.store(first_ptr + slot, a, mask=first)
    tl.store(second_ptr + slot, b, mask=first)
    tl.store(similarity_ptr + slot, similarity, mask=first)
    tl.store(gate_ptr + slot, gate, mask=first)
    tl.store(open_ptr + slot, above.to(tl.int8), mask=first)
    if MATCHING:
        tl.store(merged_ptr + slot, tl.zeros([BLOCK], dtype=tl.int1), mask=first)
    else:
        tl.store(merged_ptr + slot, above, mask=first)
    if PROPOSE:
        # Similarities above tau are positive: their float32 bits order as they do, and the
        # low half (the complement of the slot) breaks ties by position.
        bits = similarity.to(tl.int32, bitcast=True).to(tl.int64)
        rank_key = tl.where(above, (bits << 32) | (0xFFFFFFFF - slot), 0)
        tl.store(rank_key_ptr + slot, rank_key, mask=first)
        tl.atomic_max(best_ptr + a, rank_key, mask=above)
        tl.atomic_max(best_ptr + b, rank_key, mask=above)
    # Slots past the pairs: padding (the last node paired with itself), never merged.
    pad = inside & (i >= num_pairs)
    last = num_nodes - 1
    tl.store(first_ptr + i, tl.zeros([BLOCK], dtype=tl.int64) + last, mask=pad)
    tl.store(second_ptr + i, tl.zeros([BLOCK], dtype=tl.int64) + last, mask=pad)
    tl.store(similarity_ptr + i, tl.zeros([BLOCK], dtype=similarity.dtype), mask=pad)
    tl.store(gate_ptr + i, tl.zeros([BLOCK], dtype=similarity.dtype), mask=pad)
    tl.store(open_ptr + i, tl.zeros([BLOCK], dtype=tl.int8), mask=pad)
    tl.store(merged_ptr + i, tl.zeros([BLOCK], dtype=tl.int1), mask=pad)
    tl.store(rank_key_ptr + i, tl.zeros([BLOCK], dtype=tl.int64), mask=pad)
    if tl.program_id(0) == 0:
        tl.store(counter_ptr, num_pairs)


def _pair_gradients(
    first_ptr,
    second_ptr,
    row_ptr,
    norm_ptr,
    gate_ptr,
    grad_similarity_ptr,
    similarity_stride,
    grad_gate_ptr,
    gate_stride,
    grad_unit_ptr,
    through_gate_ptr,
    delta_ptr,
    count_ptr,
    num_pairs,
    num_nodes,
    CHANNELS: tl.constexpr,
    INV_TEMPERATURE: tl.constexpr,
    HAS_SIMILARITY: tl.constexpr,
    HAS_GATE: tl.constexpr,
    GATHER: tl.constexpr,
    BLOCK: tl.constexpr,
    COLUMNS: tl.constexpr,
):  # type: ignore[no-untyped-def]
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = p < num_pairs
    delta = tl.zeros([BLOCK], dtype=row_ptr.dtype.element_ty)
    if HAS_GATE:
        gate = tl.load(gate_ptr + p, mask=inside, other=0.0)
        grad = tl.load(grad_gate_ptr + p * gate_stride, mask=inside, other=0.0).to(delta.dtype)
        slope = grad * gate * (1.0 - gate) * INV_TEMPERATURE
        tl.atomic_add(through_gate_ptr, tl.sum(slope, axis=0))
        delta += slope
    if HAS_SIMILARITY:
        delta += tl.load(grad_similarity_ptr + p * similarity_stride, mask=inside, other=0.0).to(
            delta.dtype
        )
    a = tl.load(first_ptr + p, mask=inside, other=0)
    b = tl.load(second_ptr + p, mask=inside, other=0)
    if GATHER:
        # Each pair's factor, and how many pairs each node is first and second of (the
        # row kernel's pass by node, _row_gradients with GATHER, reads them).
        tl.store(delta_ptr + p, delta, mask=inside)
        one = tl.full([BLOCK], 1, dtype=tl.int32)
        tl.atomic_add(count_ptr + a, one, mask=inside)
        tl.atomic_add(count_ptr + num_nodes + b, one, mask=inside)
    else:
        inv_a = 1.0 / tl.load(norm_ptr + a, mask=inside, other=1.0)
        inv_b = 1.0 / tl.load(norm_ptr + b, mask=inside, other=1.0)
        # Gradients add in no fixed order: whole rows per tile (launch.tile).
        f = tl.arange(0, COLUMNS)
        cell = inside[:, None] & (f < CHANNELS)[None, :]
        at_a = a[:, None] * CHANNELS + f[None, :]
        at_b = b[:, None] * CHANNELS + f[None, :]
        unit_a = tl.load(row_ptr + at_a, mask=cell, other=0.0) * inv_a[:, None]
        unit_b = tl.load(row_ptr + at_b, mask=cell, other=0.0) * inv_b[:, None]
        tl.atomic_add(grad_unit_ptr + at_a, delta[:, None] * unit_b, mask=cell)
        tl.atomic_add(grad_unit_ptr + at_b, delta[:, None] * unit_a, mask=cell)


def _pairs_by_second(second_ptr, end_ptr, by_second_ptr, num_pairs, num_nodes, BLOCK: tl.constexpr):  # type: ignore[no-untyped-def]
    # A counting sort by the second node: each pair takes a place below its node's end
    # (the order within a node is free: the gradient adds in no fixed order), and the ends
    # become the starts.
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = p < num_pairs
    b = tl.load(second_ptr + p, mask=inside, other=0)
    place = tl.atomic_add(end_ptr + num_nodes + b, tl.full([BLOCK], -1, tl.int32), mask=inside)
    # One flat scan of both halves: the second half's ends sit past the first half's P.
    tl.store(by_second_ptr + place - 1 - num_pairs, p.to(tl.int32), mask=inside)


def _row_gradients(
    row_ptr,
    norm_ptr,
    grad_unit_ptr,
    graph_ptr,
    sum_ptr,
    grad_ptr,
    through_gate_ptr,
    tau_ptr,
    grad_logit_ptr,
    first_ptr,
    second_ptr,
    by_second_ptr,
    end_ptr,
    delta_ptr,
    num_nodes,
    num_pairs,
    CHANNELS: tl.constexpr,
    EPS: tl.constexpr,
    CENTRED: tl.constexpr,
    HAS_LOGIT: tl.constexpr,
    GATHER: tl.constexpr,
    BLOCK: tl.constexpr,
    COLUMNS: tl.constexpr,
):  # type: ignore[no-untyped-def]
    v = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    f = tl.arange(0, COLUMNS)
    inside = v < num_nodes
    channel = (f < CHANNELS)[None, :]
    cell = inside[:, None] & channel
    at = v[:, None] * CHANNELS + f[None, :]
    norm = tl.load(norm_ptr + v, mask=inside, other=1.0)
    inv = 1.0 / norm
    unit = tl.load(row_ptr + at, mask=cell, other=0.0) * inv[:, None]
    if GATHER:
        # Each node sums its own pairs' terms: no atomics, where the pass by pair makes two
        # per pair and channel. Pairs are sorted by their first node, so node v's are
        # [end(v - 1), end(v)); by their second node through the counting sort, whose
        # starts sit past the first half's total P: [start(v), start(v + 1)) - P.
        first_low = tl.load(end_ptr + v - 1, mask=inside & (v > 0), other=0)
        first_count = tl.where(inside, tl.load(end_ptr + v, mask=inside, other=0) - first_low, 0)
        second_low = tl.load(end_ptr + num_nodes + v, mask=inside, other=0) - num_pairs
        second_next = tl.load(
            end_ptr + num_nodes + v + 1, mask=inside & (v + 1 < num_nodes), other=0
        )
        second_high = tl.where(v + 1 < num_nodes, second_next - num_pairs, num_pairs)
        second_count = tl.where(inside, second_high - second_low, 0)
        count = first_count + second_count
        grad_unit = tl.zeros([BLOCK, COLUMNS], dtype=row_ptr.dtype.element_ty)
        for k in range(0, tl.max(count, axis=0)):
            use = k < count
            as_first = k < first_count
            as_second = use & ~as_first
            listed = tl.load(by_second_ptr + second_low + k - first_count, mask=as_second, other=0)
            p = tl.where(as_first, first_low + k, listed)
            other = tl.where(
                as_first,
                tl.load(second_ptr + p, mask=as_first, other=0),
                tl.load(first_ptr + p, mask=as_second, other=0),
            )
            scale = tl.load(delta_ptr + p, mask=use, other=0.0)
            inv_other = 1.0 / tl.load(norm_ptr + other, mask=use, other=1.0)
            at_other = other[:, None] * CHANNELS + f[None, :]
            unit_other = tl.load(row_ptr + at_other, mask=use[:, None] & channel, other=0.0)
            grad_unit += scale[:, None] * (unit_other * inv_other[:, None])
    else:
        grad_unit = tl.load(grad_unit_ptr + at, mask=cell, other=0.0)
    # Through the norm only where it was not clamped.
    radial = tl.where(norm > EPS, tl.sum(grad_unit * unit, axis=1), 0.0)
    grad = (grad_unit - radial[:, None] * unit) * inv[:, None]
    tl.store(grad_ptr + at, grad, mask=cell)
    if CENTRED:
        g = tl.load(graph_ptr + v, mask=inside, other=-1)
        _add_graph_sums(sum_ptr, g, grad, f, cell, CHANNELS)
    if HAS_LOGIT:  # noqa: SIM102 (a compile-time flag, then a runtime test)
        if tl.program_id(0) == 0:
            # d tau / d logit = tau (1 - tau); the pairs' atomics ended with their launch.
            tau = tl.load(tau_ptr)
            through_gate = tl.load(through_gate_ptr).to(tau.dtype)
            tl.store(grad_logit_ptr, -through_gate * tau * (1.0 - tau))


def _centre_gradients(
    grad_ptr,
    graph_ptr,
    size_ptr,
    sum_ptr,
    num_nodes,
    CHANNELS: tl.constexpr,
    BLOCK: tl.constexpr,
    COLUMNS: tl.constexpr,
):  # type: ignore[no-untyped-def]
    v = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    f = tl.arange(0, COLUMNS)
    inside = v < num_nodes
    cell = inside[:, None] & (f < CHANNELS)[None, :]
    at = v[:, None] * CHANNELS + f[None, :]
    g = tl.load(graph_ptr + v, mask=inside, other=0)
    size = tl.load(size_ptr + v, mask=inside, other=1)
    total = tl.load(sum_ptr + g[:, None] * CHANNELS + f[None, :], mask=cell, other=0.0)
    grad = tl.load(grad_ptr + at, mask=cell, other=0.0)
    tl.store(grad_ptr + at, grad - total / size.to(grad.dtype)[:, None], mask=cell)


def pair_keys(
    edge_index: Tensor, graph: Tensor, counters: Tensor, num_nodes: int
) -> tuple[Tensor, Tensor, Tensor]:
    r"""The candidate pairs' keys, sorted, and each key's slot.

    Args:
        edge_index (torch.Tensor): :math:`[2, E]`, not yet validated (indices are clamped
            into :math:`[0, N)`; the extremes go to ``counters``).
        graph (torch.Tensor): :math:`[N]`, a dense graph id of each node.
        counters (torch.Tensor): ``long`` :math:`[8]`, the call's counters.
        num_nodes (int): :math:`N > 0`.

    Returns:
        * **sorted_key** (*torch.Tensor*): :math:`[E]`, pair keys ascending (of
          :func:`key_dtype`), :math:`N^2`
          for edges that are no candidate (last).
        * **order** (*torch.Tensor*): :math:`[E]`, the edge of each sorted key.
        * **slot** (*torch.Tensor*): :math:`[E]`, one plus the slot of each sorted key's pair
          (an inclusive count of distinct pairs); its last entry is :math:`P`.
    """
    num_edges = edge_index.size(1)
    device = edge_index.device
    # Keys of edges that are no candidate; a Python int, since N^2 may overflow int32.
    sentinel = num_nodes * num_nodes
    key = torch.empty(num_edges, dtype=key_dtype(sentinel), device=device)
    kernel(_pair_keys, device)[grid(num_edges)](
        edge_index, edge_index.stride(0), edge_index.stride(1), graph, key, counters,
        num_edges, num_nodes, sentinel, BLOCK=BLOCK,
    )  # fmt: skip
    sorted_key, order = torch.sort(key)
    return sorted_key, order, run_slots(sorted_key, sentinel)


def run_slots(sorted_key: Tensor, sentinel: int) -> Tensor:
    """One plus the rank of each sorted key among the distinct keys below ``sentinel``
    (an inclusive ``cumsum`` of run starts) :math:`[E]`."""
    size = sorted_key.numel()
    start = torch.empty(size, dtype=torch.int32, device=sorted_key.device)
    kernel(_run_starts, sorted_key.device)[grid(size)](
        sorted_key, start, size, sentinel, BLOCK=BLOCK
    )
    return torch.cumsum(start, 0)


@dataclass
class ScoredPairs:
    """What :func:`score_pairs` computed, padded to :math:`E` pairs (the first :math:`P`
    are the candidates), and what the backward pass of :class:`PairScores` needs."""

    candidate_index: Tensor  # long [2, E]
    pair_of_edge: Tensor  # long [E], E for edges that are no candidate
    similarity: Tensor  # [E]
    gate: Tensor  # [E]
    open: Tensor  # int8 [E]: above tau (a matching's undecided pairs)
    merged: Tensor  # bool [E]: above tau for components; filled by the matching otherwise
    rank_key: Tensor  # long [E]: (similarity bits, complement of the slot), 0 if not above
    rows: Tensor  # [N, F], the centred rows
    norm: Tensor  # [N], clamped norms
    graph: Tensor  # [N]
    graph_size: Tensor  # [N], nodes in each node's graph
    tau: Tensor  # 0-d
    centred: bool
    temperature: float


def score_pairs(
    h: Tensor,
    tau: Tensor,
    sorted_key: Tensor,
    order: Tensor,
    slot: Tensor,
    graph: Tensor,
    graph_size: Tensor,
    counters: Tensor,
    best: Tensor,
    centre_sums: Tensor | None,
    temperature: float,
    matching: bool,
    propose: bool,
) -> ScoredPairs:
    r"""Centres and normalises the rows, then scores every candidate pair (no autograd).

    Args:
        h (torch.Tensor): Projected features :math:`[N, F]`.
        tau (torch.Tensor): The threshold :math:`\tau`, 0-d.
        sorted_key, order, slot (torch.Tensor): From :func:`pair_keys`.
        graph, graph_size (torch.Tensor): Each node's dense graph id and its graph's size.
        counters (torch.Tensor): The call's counters (the pair count and the finite check
            are written there).
        best (torch.Tensor): ``long`` :math:`[N]`, zeros: the first proposals of a matching.
        centre_sums (torch.Tensor, optional): Zeros :math:`[N, F]` for the graph sums;
            :obj:`None` for the plain cosine.
        temperature (float): :math:`T`.
        matching (bool): Whether pairs are matched (``merged`` stays for the rounds) or
            joined in components (``merged`` is :math:`s > \tau`).
        propose (bool): Write the ranking keys and the first proposals (float32 scores).
    """
    h = h.detach().contiguous()
    num_nodes, channels = h.shape
    num_edges = sorted_key.numel()
    device = h.device
    rows = torch.empty_like(h)
    norm = torch.empty(num_nodes, dtype=h.dtype, device=device)
    options = {"enable_fp_fusion": False}
    centred = centre_sums is not None
    rows_per_tile, columns = tile(channels)
    if centred:
        kernel(_centre_sums, device)[grid(num_nodes, rows_per_tile)](
            h, graph, centre_sums, num_nodes, channels, BLOCK=rows_per_tile, COLUMNS=columns
        )
    kernel(_centred_rows, device)[grid(num_nodes, rows_per_tile)](
        h, graph, graph_size, centre_sums if centred else h, rows, norm, counters,
        num_nodes, channels, EPS=EPS, CENTRED=centred, BLOCK=rows_per_tile, COLUMNS=columns,
        **options,
    )  # fmt: skip
    candidate_index = torch.empty(2, num_edges, dtype=torch.long, device=device)
    pair_of_edge = torch.empty(num_edges, dtype=torch.long, device=device)
    similarity = torch.empty(num_edges, dtype=h.dtype, device=device)
    gate = torch.empty_like(similarity)
    is_open = torch.empty(num_edges, dtype=torch.int8, device=device)
    merged = torch.empty(num_edges, dtype=torch.bool, device=device)
    rank_key = torch.empty(num_edges, dtype=torch.long, device=device)
    # Few pairs per program: the rows each one gathers, channel by channel, stay in L1.
    kernel(_score_pairs, device)[grid(num_edges, ROW_BLOCK)](
        sorted_key, order, slot, rows, norm, tau, candidate_index[0], candidate_index[1],
        pair_of_edge, similarity, gate, is_open, merged, rank_key, best, counters,
        num_edges, num_nodes, num_nodes * num_nodes, channels, INV_TEMPERATURE=1.0 / temperature,
        MATCHING=matching, PROPOSE=propose, BLOCK=ROW_BLOCK, **options,
    )  # fmt: skip
    return ScoredPairs(
        candidate_index, pair_of_edge, similarity, gate, is_open, merged, rank_key, rows, norm,
        graph, graph_size, tau, centred, temperature,
    )  # fmt: skip


class PairScores(torch.autograd.Function):
    r"""Attaches to the first :math:`P` similarities and gates of :func:`score_pairs` their
    gradient with respect to the projected features :math:`\mathbf{h}` and the threshold
    logit :math:`\theta` (the forward pass was done before the sizes were read).

    Backward, as the host kernels: with :math:`\delta_p = \bar s_p + \bar g_p g_p (1 - g_p)
    / T` and unit rows :math:`\mathbf{u}_i = \mathbf{c}_i / n_i`,
    :math:`\bar{\mathbf{u}}_a \mathrel{+}= \delta_p \mathbf{u}_b`,
    :math:`\bar{\mathbf{u}}_b \mathrel{+}= \delta_p \mathbf{u}_a` (atomics over the pairs, or
    each node gathering its own pairs);
    :math:`\bar{\mathbf{c}}_i = (\bar{\mathbf{u}}_i - [n_i > \epsilon] \langle
    \bar{\mathbf{u}}_i, \mathbf{u}_i \rangle \mathbf{u}_i) / n_i`; :math:`\bar{\mathbf{h}}` is
    :math:`\bar{\mathbf{c}}` centred per graph; :math:`\bar\theta = -\tau (1 - \tau)
    \sum_p \bar g_p g_p (1 - g_p) / T`.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, h: Tensor, logit: Tensor, scored: ScoredPairs, num_pairs: int
    ) -> tuple[Tensor, Tensor]:
        ctx.scored, ctx.num_pairs = scored, num_pairs
        ctx.set_materialize_grads(False)
        return scored.similarity[:num_pairs], scored.gate[:num_pairs]

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any, grad_similarity: Tensor | None, grad_gate: Tensor | None
    ) -> tuple[Tensor | None, Tensor | None, None, None]:
        scored: ScoredPairs = ctx.scored
        num_pairs = ctx.num_pairs
        rows = scored.rows
        num_nodes, channels = rows.shape
        device = rows.device
        needs_h, needs_logit = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if grad_similarity is None and grad_gate is None:
            return None, None, None, None
        # Many pairs: each pair's factor, a counting sort of the pairs by second node, and
        # the row pass sums each node's pairs itself (bench/results/pool_gpu.md: the two
        # atomics per pair and channel bound the backward at 1M nodes). Few pairs: atomics
        # into the unit-row gradients, three launches fewer.
        gather = num_pairs >= GATHER_MIN_PAIRS and num_pairs > 0
        # One zeroed buffer: the unit-row gradients (atomics only), the graph sums and the
        # gate total. (Buffers a pass does not touch are stand-ins.)
        unit_words = 0 if gather else num_nodes * channels
        sum_words = num_nodes * channels if scored.centred else 0
        buffer = torch.zeros(unit_words + sum_words + 1, dtype=rows.dtype, device=device)
        grad_unit = buffer[:unit_words] if unit_words else rows
        sums = buffer[unit_words:-1] if sum_words else rows
        through_gate = buffer[-1:]
        inv_temperature = 1.0 / scored.temperature
        options = {"enable_fp_fusion": False}
        first, second = scored.candidate_index[0], scored.candidate_index[1]
        rows_per_tile, columns = tile(channels)
        tiles = {"BLOCK": rows_per_tile, "COLUMNS": columns, **options}
        delta = torch.empty(num_pairs, dtype=rows.dtype, device=device) if gather else rows
        count = torch.zeros(2 * num_nodes, dtype=torch.int32, device=device) if gather else first
        if num_pairs > 0:
            kernel(_pair_gradients, device)[grid(num_pairs, rows_per_tile)](
                first, second, rows, scored.norm, scored.gate,
                rows if grad_similarity is None else grad_similarity,
                0 if grad_similarity is None else grad_similarity.stride(0),
                rows if grad_gate is None else grad_gate,
                0 if grad_gate is None else grad_gate.stride(0),
                grad_unit, through_gate, delta, count, num_pairs, num_nodes, channels,
                INV_TEMPERATURE=inv_temperature, HAS_SIMILARITY=grad_similarity is not None,
                HAS_GATE=grad_gate is not None, GATHER=gather, **tiles,
            )  # fmt: skip
        end = by_second = count
        if gather:
            # One flat scan of both halves (a scan along rows of a [2, N] view runs on two
            # rows only; bench/results/pool_gpu.md).
            end = torch.cumsum(count, 0, dtype=torch.int32)
            by_second = torch.empty(num_pairs, dtype=torch.int32, device=device)
            kernel(_pairs_by_second, device)[grid(num_pairs)](
                second, end, by_second, num_pairs, num_nodes, BLOCK=BLOCK
            )
        grad_h = torch.empty_like(rows)
        has_logit = needs_logit and grad_gate is not None
        grad_logit = torch.empty((), dtype=scored.tau.dtype, device=device) if has_logit else None
        row_tiles = tiles
        if gather:
            row_tiles = {**tiles, "BLOCK": gather_rows(channels), "num_warps": GATHER_WARPS}
        kernel(_row_gradients, device)[grid(num_nodes, row_tiles["BLOCK"])](
            rows, scored.norm, grad_unit, scored.graph, sums, grad_h, through_gate,
            scored.tau, grad_logit if has_logit else through_gate, first, second, by_second,
            end, delta, num_nodes, num_pairs, channels, EPS=EPS, CENTRED=scored.centred,
            HAS_LOGIT=has_logit, GATHER=gather, **row_tiles,
        )  # fmt: skip
        if scored.centred:
            kernel(_centre_gradients, device)[grid(num_nodes, rows_per_tile)](
                grad_h, scored.graph, scored.graph_size, sums, num_nodes, channels, **tiles,
            )  # fmt: skip
        return (grad_h if needs_h else None), grad_logit, None, None
