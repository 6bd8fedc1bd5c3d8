r"""The select and connect steps of :class:`~pyg_grapheme.nn.ThresholdMergePool` on host memory.

The same integer work as :mod:`pyg_grapheme.nn.pool.select` (candidate pairs,
greedy matching, connected components, cluster numbers, coalesced pooled edges)
written with NumPy, for tensors that live on the CPU. None of it is
differentiable and it returns exactly what the tensor versions return (the
tests compare both on random graphs); it exists because on the small batches
graph models train on, the time of this step is the fixed cost of each call,
and a NumPy call costs a third of a PyTorch one on CPU
(``python bench/pool_profile.py``). The tensor versions stay for CUDA and
TorchScript.

Arrays are ``int64`` node indices unless said otherwise; pairs :math:`(i, j)`
have :math:`i < j` and come sorted lexicographically.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Index = NDArray[np.int64]
Mask = NDArray[np.bool_]


def _first_of_runs(sorted_key: Index) -> Mask:
    """``True`` where a sorted array starts a run of equal values."""
    first = np.empty(sorted_key.size, dtype=bool)
    first[:1] = True
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=first[1:])
    return first


def edge_candidates(edge_index: Index, batch: Index, num_nodes: int) -> tuple[Index, Index]:
    r"""Adjacent node pairs as merge candidates: :func:`pyg_grapheme.nn.pool.select.edge_candidates`.

    Pairs that come sorted and unique already (a chain ``i -> i + 1``) skip the
    sort of the edge list (NumPy's stable sort of integers is a radix sort, so
    the sort is cheap anyway).

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
    row, col = edge_index[0], edge_index[1]
    lo, hi = np.minimum(row, col), np.maximum(row, col)
    valid = (lo != hi) & (batch[lo] == batch[hi])
    key = lo * num_nodes + hi
    if key.size and valid.all():
        if (key[1:] > key[:-1]).all():  # sorted and unique already (a chain i -> i + 1)
            return np.stack([lo, hi]), np.arange(key.size)
    # Invalid edges sort last behind a sentinel and get pair P.
    key = np.where(valid, key, num_nodes * num_nodes)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    first = _first_of_runs(sorted_key) & valid[order]
    pair_of_sorted = np.cumsum(first, dtype=np.int64) - 1
    pair = order[first]  # an edge of each pair, in pair order
    pair_of_sorted[~valid[order]] = pair.size
    pair_of_edge = np.empty_like(pair_of_sorted)
    pair_of_edge[order] = pair_of_sorted
    return np.stack([lo[pair], hi[pair]]), pair_of_edge


def greedy_matching(
    candidate_index: Index, score: NDArray[np.floating], active: Mask, num_nodes: int
) -> Mask:
    r"""Greedy matching of the active pairs by descending score: :func:`pyg_grapheme.nn.pool.select.greedy_matching`.

    Pairs are ranked once (descending score, ties by position); every round
    takes each alive pair that is the best-ranked alive pair at both of its
    ends, then drops the alive pairs touching a node just taken. Alive pairs
    are kept compacted in rank order, so a round costs the pairs still alive.

    Returns:
        **matched**: ``bool`` :math:`[P]`.
    """
    matched = np.zeros(active.size, dtype=bool)
    eligible = np.flatnonzero(active)
    if eligible.size == 0:
        return matched
    pair = eligible[np.argsort(-score[eligible], kind="stable")]  # alive pairs, best first
    first, second = candidate_index[0][pair], candidate_index[1][pair]
    rank = np.arange(pair.size)
    best = np.empty(num_nodes, dtype=np.int64)
    taken_node = np.zeros(num_nodes, dtype=bool)
    while pair.size:
        best[first] = pair.size
        best[second] = pair.size
        np.minimum.at(best, first, rank)
        np.minimum.at(best, second, rank)
        take = (best[first] == rank) & (best[second] == rank)
        matched[pair[take]] = True
        taken_node[first[take]] = True
        taken_node[second[take]] = True
        alive = ~(taken_node[first] | taken_node[second])
        pair, first, second = pair[alive], first[alive], second[alive]
        rank = np.arange(pair.size)  # rank order is kept, so positions are ranks again
    return matched


def connected_components(candidate_index: Index, active: Mask, num_nodes: int) -> Index:
    r"""Smallest node index of each node's component: :func:`pyg_grapheme.nn.pool.select.connected_components`.

    Min-label hooking of roots, then pointer jumping until every tree is a
    star, repeated until both ends of every active pair share a root.
    """
    root = np.arange(num_nodes)
    first, second = candidate_index[0][active], candidate_index[1][active]
    if first.size == 0:
        return root
    while True:
        # Every tree is a star here, so root[u] is u's root: hook roots, not nodes.
        root_first, root_second = root[first], root[second]
        np.minimum.at(
            root,
            np.concatenate([root_first, root_second]),
            np.concatenate([root_second, root_first]),
        )
        while True:
            grand = root[root]
            if np.array_equal(grand, root):
                break
            root = grand
        if np.array_equal(root[first], root[second]):
            return root


def matching_roots(candidate_index: Index, matched: Mask, num_nodes: int) -> Index:
    """Root of each node under a matching: the smaller end of its matched pair, else itself."""
    root = np.arange(num_nodes)
    root[candidate_index[1][matched]] = candidate_index[0][matched]  # a node is matched once
    return root


def number_clusters(root: Index, batch: Index) -> tuple[Index, int]:
    r"""Output node of each input node, by graph then smallest member: :func:`pyg_grapheme.nn.pool.select.number_clusters`.

    Returns:
        * **cluster**: :math:`[N]`.
        * **num_clusters**: :math:`C`.
    """
    position = np.arange(root.size)
    is_root = root == position
    num_clusters = int(np.count_nonzero(is_root))
    if batch.size < 2 or (batch[1:] >= batch[:-1]).all():
        rank = np.cumsum(is_root) - 1
    else:
        roots = position[is_root]
        rank = np.empty_like(position)
        rank[roots[np.argsort(batch[roots], kind="stable")]] = np.arange(num_clusters)
    return rank[root], num_clusters


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
    edge_cluster = cluster[edge_index]
    keep = np.flatnonzero(edge_cluster[0] != edge_cluster[1])
    kept = edge_cluster[:, keep]
    key = kept[0] * num_clusters + kept[1]
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    first = _first_of_runs(sorted_key)
    slot = np.empty_like(order)
    slot[order] = np.cumsum(first, dtype=np.int64) - 1
    starts = np.flatnonzero(first)
    count = np.diff(starts, append=key.size)
    return keep, slot, kept[:, order[starts]], count
