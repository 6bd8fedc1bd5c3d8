r"""The select and connect steps of :class:`~pyg_grapheme.nn.ThresholdMergePool` on host memory.

The same integer work as :mod:`pyg_grapheme.nn.pool.select` (candidate pairs,
greedy matching, connected components, cluster numbers, coalesced pooled
edges), compiled with Numba for arrays that live on the CPU. None of it is
differentiable, and it returns exactly what the tensor versions return (the
tests compare both on random graphs). It exists because on the small batches
graph models train on, the tensor versions are dozens of small operations whose
fixed cost dominates, while here each step is one compiled loop
(``python bench/pool_profile.py``); the sequential rules also need no rounds:
the greedy matching walks the pairs once, the components are a union-find. The
tensor versions stay for CUDA, TorchScript and ``torch.compile``.

Arrays are ``int64`` node indices unless said otherwise; pairs :math:`(i, j)`
have :math:`i < j` and come sorted lexicographically.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

Index = NDArray[np.int64]
Mask = NDArray[np.bool_]

# Compiled once per argument type and cached on disk next to this file.
JIT = {"cache": True, "nogil": True}


@njit(**JIT)
def _counting_order(values: Index, num_values: int, within: Index) -> Index:
    """Stable counting sort of the positions ``within`` by ``values`` in ``[0, num_values)``."""
    start = np.zeros(num_values + 1, np.int64)
    for q in within:
        start[values[q] + 1] += 1
    for v in range(num_values):
        start[v + 1] += start[v]
    order = np.empty(within.size, np.int64)
    for q in within:
        order[start[values[q]]] = q
        start[values[q]] += 1
    return order


@njit(**JIT)
def _lexicographic_order(first: Index, second: Index, num_values: int) -> Index:
    """Positions sorted by ``(first, second)``, both in ``[0, num_values)``: two stable
    counting passes (least significant first), linear in the length and the range."""
    by_second = _counting_order(second, num_values, np.arange(first.size))
    return _counting_order(first, num_values, by_second)


@njit(**JIT)
def edge_candidates(edge_index: Index, batch: Index, num_nodes: int) -> tuple[Index, Index]:
    r"""Adjacent node pairs as merge candidates: :func:`pyg_grapheme.nn.pool.select.edge_candidates`.

    Edges whose pairs come sorted and unique already (a chain ``i -> i + 1``)
    skip the sort.

    Args:
        edge_index: :math:`[2, E]`.
        batch: :math:`[N]`, graph of each node.
        num_nodes: :math:`N`.

    Returns:
        * **candidate_index**: :math:`[2, P]`, each adjacent unordered pair of
          distinct nodes of one graph once, as :math:`(i, j)`, :math:`i < j`, sorted.
        * **pair_of_edge**: :math:`[E]`, the pair of each edge, :math:`P` for
          self-loops and edges between graphs.
    """
    num_edges = edge_index.shape[1]
    lo = np.empty(num_edges, np.int64)
    hi = np.empty(num_edges, np.int64)
    valid = np.empty(num_edges, np.bool_)
    ascending = True
    for e in range(num_edges):
        lo[e] = min(edge_index[0, e], edge_index[1, e])
        hi[e] = max(edge_index[0, e], edge_index[1, e])
        valid[e] = lo[e] != hi[e] and batch[lo[e]] == batch[hi[e]]
        if not valid[e]:
            ascending = False
            lo[e] = num_nodes  # self-loops and edges between graphs sort last
        elif e > 0 and (lo[e], hi[e]) <= (lo[e - 1], hi[e - 1]):
            ascending = False
    if ascending:
        candidate_index = np.empty((2, num_edges), np.int64)
        candidate_index[0], candidate_index[1] = lo, hi
        return candidate_index, np.arange(num_edges)
    order = _lexicographic_order(lo, hi, num_nodes + 1)
    pair_of_edge = np.empty(num_edges, np.int64)
    pair_lo = np.empty(num_edges, np.int64)
    pair_hi = np.empty(num_edges, np.int64)
    num_pairs = 0
    for e in order:
        if not valid[e]:
            pair_of_edge[e] = -1
            continue
        if num_pairs == 0 or lo[e] != pair_lo[num_pairs - 1] or hi[e] != pair_hi[num_pairs - 1]:
            pair_lo[num_pairs], pair_hi[num_pairs] = lo[e], hi[e]
            num_pairs += 1
        pair_of_edge[e] = num_pairs - 1
    for e in range(num_edges):
        if pair_of_edge[e] < 0:
            pair_of_edge[e] = num_pairs
    candidate_index = np.empty((2, num_pairs), np.int64)
    candidate_index[0], candidate_index[1] = pair_lo[:num_pairs], pair_hi[:num_pairs]
    return candidate_index, pair_of_edge


@njit(**JIT)
def greedy_matching(
    candidate_index: Index, score: NDArray[np.floating], active: Mask, num_nodes: int
) -> Mask:
    r"""Greedy matching of the active pairs by descending score: :func:`pyg_grapheme.nn.pool.select.greedy_matching`.

    The sequential rule itself: walk the active pairs by descending score
    (ties by position, a stable sort) and take a pair when neither end is taken.

    Returns:
        **matched**: ``bool`` :math:`[P]`.
    """
    num_pairs = active.size
    matched = np.zeros(num_pairs, np.bool_)
    eligible = np.flatnonzero(active)
    order = np.argsort(-score[eligible], kind="mergesort")
    taken = np.zeros(num_nodes, np.bool_)
    for q in order:
        p = eligible[q]
        a, b = candidate_index[0, p], candidate_index[1, p]
        if not taken[a] and not taken[b]:
            matched[p] = True
            taken[a] = True
            taken[b] = True
    return matched


@njit(**JIT)
def matching_roots(candidate_index: Index, matched: Mask, num_nodes: int) -> Index:
    """Root of each node under a matching: the smaller end of its matched pair, else itself."""
    root = np.arange(num_nodes)
    for p in range(matched.size):
        if matched[p]:
            root[candidate_index[1, p]] = candidate_index[0, p]
    return root


@njit(**JIT)
def connected_components(candidate_index: Index, active: Mask, num_nodes: int) -> Index:
    r"""Smallest node index of each node's component: :func:`pyg_grapheme.nn.pool.select.connected_components`.

    Union-find that always hangs the larger root under the smaller, so the
    root of a set is its smallest member; paths are halved on the way.
    """
    parent = np.arange(num_nodes)
    for p in range(active.size):
        if not active[p]:
            continue
        a, b = candidate_index[0, p], candidate_index[1, p]
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        if a < b:
            parent[b] = a
        elif b < a:
            parent[a] = b
    for i in range(num_nodes):  # parents have smaller indices: one pass finds every root
        parent[i] = parent[parent[i]]
    return parent


@njit(**JIT)
def number_clusters(root: Index, batch: Index) -> tuple[Index, int]:
    r"""Output node of each input node, by graph then smallest member: :func:`pyg_grapheme.nn.pool.select.number_clusters`.

    Returns:
        * **cluster**: :math:`[N]`.
        * **num_clusters**: :math:`C`.
    """
    num_nodes = root.size
    rank = np.empty(num_nodes, np.int64)
    num_clusters = 0
    batch_sorted = True
    for i in range(num_nodes):
        if i > 0 and batch[i] < batch[i - 1]:
            batch_sorted = False
        if root[i] == i:
            rank[i] = num_clusters
            num_clusters += 1
    if not batch_sorted:
        roots = np.flatnonzero(root == np.arange(num_nodes))
        order = np.argsort(batch[roots], kind="mergesort")
        for c in range(num_clusters):
            rank[roots[order[c]]] = c
    cluster = np.empty(num_nodes, np.int64)
    for i in range(num_nodes):
        cluster[i] = rank[root[i]]
    return cluster, num_clusters


@njit(**JIT)
def pooled_edges(
    edge_index: Index, cluster: Index, num_clusters: int
) -> tuple[Index, Index, Index, Index]:
    r"""Input edges mapped to clusters, self-loops removed, duplicates coalesced.

    Returns:
        * **keep**: :math:`[K]`, the input edges whose ends lie in different clusters.
        * **slot**: :math:`[K]`, the output edge of each kept edge.
        * **edge_index**: :math:`[2, E']`, the output edges, sorted.
        * **count**: :math:`[E']`, input edges mapping to each output edge.
    """
    num_edges = edge_index.shape[1]
    source = np.empty(num_edges, np.int64)
    target = np.empty(num_edges, np.int64)
    keep = np.empty(num_edges, np.int64)
    num_kept = 0
    for e in range(num_edges):
        a, b = cluster[edge_index[0, e]], cluster[edge_index[1, e]]
        if a != b:
            keep[num_kept], source[num_kept], target[num_kept] = e, a, b
            num_kept += 1
    keep, source, target = keep[:num_kept], source[:num_kept], target[:num_kept]
    order = _lexicographic_order(source, target, num_clusters)
    slot = np.empty(num_kept, np.int64)
    out_source = np.empty(num_kept, np.int64)
    out_target = np.empty(num_kept, np.int64)
    count = np.empty(num_kept, np.int64)
    num_out = 0
    for q in order:
        if (
            num_out == 0
            or source[q] != out_source[num_out - 1]
            or target[q] != out_target[num_out - 1]
        ):
            out_source[num_out], out_target[num_out] = source[q], target[q]
            count[num_out] = 0
            num_out += 1
        count[num_out - 1] += 1
        slot[q] = num_out - 1
    edge_index_out = np.empty((2, num_out), np.int64)
    edge_index_out[0], edge_index_out[1] = out_source[:num_out], out_target[:num_out]
    return keep, slot, edge_index_out, count[:num_out].copy()
