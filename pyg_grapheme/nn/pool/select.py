r"""Select step of :class:`~pyg_grapheme.nn.ThresholdMergePool`: which nodes go together.

Tensor functions, vectorised over all pairs and nodes of a batch (no Python
loop over nodes or edges, no SciPy) and TorchScript-compatible:

* :func:`edge_candidates`: the adjacent unordered pairs :math:`(i, j)`,
  :math:`i < j`, each once, and the pair of every input edge.
* :func:`count_all_pairs`, :func:`all_pair_candidates`, :func:`pair_of_edges`:
  every unordered pair inside the same graph.
* :func:`connected_components`: connected components of a set of pairs, by
  min-label hooking with pointer jumping.
* :func:`greedy_matching`: the greedy matching by descending score (the rule
  of PyG's :class:`~torch_geometric.nn.pool.EdgePooling`), by rounds of
  locally dominant pairs.
* :func:`most_similar_per_graph`: the pairs a ratio control allows to merge.
* :func:`number_clusters`: output node ids, by graph then smallest member.
* :func:`pooled_edges`: the input edges between clusters, coalesced.

:mod:`pyg_grapheme.nn.pool.select_host` does the same as compiled (Numba) loops for CPU arrays.

Every node of a component ends up pointing to the smallest node index of the
component (its *root*); the result does not depend on the order of the pairs,
so CPU and CUDA give the same clusters. Loops run over propagation rounds,
never over elements. Host reads are limited to output sizes, layout checks
and one convergence flag per round (plus, on CPU only, one per pointer jump,
where a read is free). 1-D gathers use ``index_select`` (three to four times
faster than advanced indexing on CPU; its backward is ``index_add``).
"""

import torch
from torch import Tensor


def _pointer_jumps(num_nodes: int) -> int:
    """Jumps ``f = f[f]`` that bring every node of a depth ``< num_nodes`` forest to its root."""
    jumps = 1
    while (1 << jumps) < num_nodes:
        jumps += 1
    return jumps


def edge_candidates(edge_index: Tensor, batch: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    r"""Adjacent node pairs as candidates for a merge.

    Each unordered adjacent pair :math:`\{i, j\}` with :math:`i \ne j` and
    :math:`\mathrm{batch}_i = \mathrm{batch}_j` appears once, as :math:`(i, j)`
    with :math:`i < j`, sorted lexicographically. Self-loops and edges between
    different graphs of the batch are not candidates, so merges never cross graphs.

    Args:
        edge_index (torch.Tensor): Edge indices :math:`[2, E]`.
        batch (torch.Tensor): Graph of each node :math:`[N]`.
        num_nodes (int): :math:`N`.

    Two layouts skip the sort (checked in one host read): edges whose pairs
    already come sorted and unique (a chain ``i -> i + 1``), and PyG's
    undirected layout (coalesced, every edge in both directions).

    Returns:
        * **candidate_index** (*torch.Tensor*): :math:`[2, P]`, ``long``.
        * **pair_of_edge** (*torch.Tensor*): :math:`[E]`, the candidate pair of
          each input edge, and :math:`P` for edges that are not candidates.
    """
    row, col = edge_index[0], edge_index[1]
    lo = torch.minimum(row, col)
    hi = torch.maximum(row, col)
    valid = (lo != hi) & (batch.index_select(0, lo) == batch.index_select(0, hi))
    key = lo * num_nodes + hi
    num_edges = key.numel()
    if num_edges > 0:
        directed_key = row * num_nodes + col
        layout: list[int] = (
            torch.stack(
                [
                    valid.all(),
                    (key[1:] > key[:-1]).all(),  # pairs sorted and unique already
                    (directed_key[1:] > directed_key[:-1]).all(),  # coalesced
                ]
            )
            .long()
            .tolist()
        )
        if layout[0] and layout[1]:
            return torch.stack([lo, hi]), torch.arange(num_edges, device=key.device)
        if layout[0] and layout[2]:
            upper_mask = row < col
            upper = upper_mask.nonzero().view(-1)
            lower = (~upper_mask).nonzero().view(-1)
            if upper.numel() == lower.numel():
                pair_key = directed_key.index_select(0, upper)  # sorted: a subsequence
                # Sorting the reversed lower edges (half the list) pairs them with the upper ones.
                lower_key, order = torch.sort(key.index_select(0, lower))
                if bool(torch.equal(lower_key, pair_key)):  # symmetric
                    pair = torch.arange(upper.numel(), device=key.device)
                    pair_of_edge = torch.empty_like(key).index_copy_(0, upper, pair)
                    pair_of_edge.index_copy_(0, lower.index_select(0, order), pair)
                    return edge_index.index_select(1, upper), pair_of_edge
    sentinel = num_nodes * num_nodes
    key = torch.where(valid, key, sentinel)
    sorted_key, perm = torch.sort(key)
    is_first = torch.ones_like(valid)
    is_first[1:] = sorted_key[1:] != sorted_key[:-1]
    is_first &= sorted_key != sentinel
    pair_key = sorted_key[is_first]
    num_pairs = pair_key.numel()
    pair_of_sorted = torch.where(sorted_key != sentinel, is_first.cumsum(0) - 1, num_pairs)
    pair_of_edge = torch.empty_like(pair_of_sorted).scatter_(0, perm, pair_of_sorted)
    candidate_index = torch.stack([pair_key // num_nodes, pair_key % num_nodes])
    return candidate_index, pair_of_edge


def count_all_pairs(batch: Tensor) -> tuple[int, int, bool]:
    r"""Pairs :math:`\sum_g n_g (n_g - 1) / 2` inside graphs, the largest :math:`n_g`, and
    whether ``batch`` is sorted (one host read)."""
    if batch.numel() == 0:
        return 0, 0, True
    counts = torch.bincount(batch)
    unsorted = (batch[1:] < batch[:-1]).any().long()
    stats: list[int] = torch.stack(
        [(counts * (counts - 1)).sum() // 2, counts.max(), unsorted]
    ).tolist()
    return int(stats[0]), int(stats[1]), stats[2] == 0


def all_pair_candidates(batch: Tensor, batch_is_sorted: bool) -> Tensor:
    r"""Every unordered pair :math:`(i, j)`, :math:`i < j`, inside the same graph.

    Memory is :math:`O(\sum_g n_g^2)`; callers bound it with
    :func:`count_all_pairs` first.

    Args:
        batch (torch.Tensor): Graph of each node :math:`[N]`.
        batch_is_sorted (bool): Whether ``batch`` is non-decreasing (as in a
            PyG :class:`~torch_geometric.data.Batch`); otherwise nodes are
            grouped by a stable sort first.

    Returns:
        **candidate_index** (*torch.Tensor*): :math:`[2, P]`, ``long``, sorted
        lexicographically.
    """
    num_nodes = batch.numel()
    if batch_is_sorted:
        perm = torch.arange(num_nodes, device=batch.device)
        grouped = batch
    else:
        grouped, perm = torch.sort(batch, stable=True)
    counts = torch.bincount(grouped)
    end = counts.cumsum(0).index_select(0, grouped)  # one past the node's graph
    pos = torch.arange(num_nodes, device=batch.device)
    partners = end - pos - 1  # positions after `pos` in the same graph
    offsets = partners.cumsum(0) - partners
    num_pairs = int(partners.sum())
    first = torch.repeat_interleave(pos, partners, output_size=num_pairs)
    step = torch.arange(num_pairs, device=batch.device) - offsets.index_select(0, first)
    second = first + 1 + step
    if batch_is_sorted:
        return torch.stack([first, second])
    a, b = perm.index_select(0, first), perm.index_select(0, second)
    lo, hi = torch.minimum(a, b), torch.maximum(a, b)
    key = torch.sort(lo * num_nodes + hi).values
    return torch.stack([key // num_nodes, key % num_nodes])


def pair_of_edges(edge_index: Tensor, candidate_index: Tensor, num_nodes: int) -> Tensor:
    r"""Position of each edge's unordered pair in a lexicographically sorted ``candidate_index``.

    Returns :math:`[E]` with :math:`P` for edges whose pair is not a candidate
    (self-loops, edges between graphs).
    """
    num_pairs = candidate_index.size(1)
    if num_pairs == 0:
        return torch.zeros_like(edge_index[0])
    lo = torch.minimum(edge_index[0], edge_index[1])
    hi = torch.maximum(edge_index[0], edge_index[1])
    key = lo * num_nodes + hi
    pair_key = candidate_index[0] * num_nodes + candidate_index[1]
    pos = torch.searchsorted(pair_key, key).clamp_(max=num_pairs - 1)
    return torch.where(pair_key.index_select(0, pos) == key, pos, num_pairs)


def _jump_to_roots(parent: Tensor, stop_early: bool) -> Tensor:
    r"""Pointer jumping :math:`f \leftarrow f \circ f` until every node points to its root.

    With ``stop_early`` (on CPU, where a host read is free) it stops as soon as
    nothing changes; otherwise it runs the :math:`\lceil \log_2 N \rceil`
    jumps that any forest needs, without reading back. Extra jumps change
    nothing, so both give the same result.
    """
    if stop_early:
        while True:
            grand = parent.index_select(0, parent)
            if torch.equal(grand, parent):
                return parent
            parent = grand
    for _ in range(_pointer_jumps(parent.numel())):
        parent = parent.index_select(0, parent)
    return parent


def connected_components(candidate_index: Tensor, active: Tensor, num_nodes: int) -> Tensor:
    r"""Connected components of the active pairs, as the smallest node index of each component.

    Min-label hooking with pointer jumping (Shiloach-Vishkin style): every
    round, each root :math:`r_u` hooks onto the smallest root adjacent to its
    tree, :math:`f(r_u) \leftarrow \min(f(r_u), \min_{\{u,v\}} r_v)` (one
    ``scatter_reduce``), then pointer jumping :math:`f \leftarrow f \circ f`
    flattens every tree to a star. Pointers only decrease
    (:math:`f(u) \le u`), so no cycle forms, and the root of a component is its
    smallest index. Rounds repeat until both ends of every active pair share a
    root: one round for a chain in reading order, a few for random graphs.

    Args:
        candidate_index (torch.Tensor): Pairs :math:`[2, P]`.
        active (torch.Tensor): ``bool`` :math:`[P]`, the pairs that connect.
        num_nodes (int): :math:`N`.

    Returns:
        **root** (*torch.Tensor*): :math:`[N]`, ``long``.
    """
    root = torch.arange(num_nodes, device=candidate_index.device)
    pairs = candidate_index[:, active]
    if pairs.size(1) == 0:
        return root
    first, second = pairs[0], pairs[1]
    on_cpu = root.device.type == "cpu"
    converged = False
    while not converged:
        # Every tree is a star here, so root[u] is u's root: hook roots, not nodes.
        root_first, root_second = root.index_select(0, first), root.index_select(0, second)
        hooked = root.scatter_reduce(
            0,
            torch.cat([root_first, root_second]),
            torch.cat([root_second, root_first]),
            reduce="amin",
        )
        root = _jump_to_roots(hooked, stop_early=on_cpu)
        converged = bool(torch.equal(root.index_select(0, first), root.index_select(0, second)))
    return root


def greedy_matching(
    candidate_index: Tensor, score: Tensor, active: Tensor, num_nodes: int
) -> Tensor:
    r"""Greedy matching of the active pairs by descending score; each node is matched at most once.

    Sequentially this is PyG's :class:`~torch_geometric.nn.pool.EdgePooling`
    rule: walk the pairs by descending score and take a pair when neither end is
    taken yet. Here the pairs are ranked once (descending score, ties by
    position in ``candidate_index``, i.e. by node index), and each round takes
    every *locally dominant* pair, the best-ranked remaining pair at both of its
    ends, then drops the pairs touching a taken node. With a strict total order
    the result equals the sequential greedy matching.

    Args:
        candidate_index (torch.Tensor): Pairs :math:`[2, P]`, sorted lexicographically.
        score (torch.Tensor): :math:`[P]`, higher merges first.
        active (torch.Tensor): ``bool`` :math:`[P]`, the pairs allowed to merge.
        num_nodes (int): :math:`N`.

    Returns:
        **matched** (*torch.Tensor*): ``bool`` :math:`[P]`.
    """
    matched = torch.zeros_like(active)
    eligible = active.nonzero().view(-1)
    num_eligible = eligible.numel()
    if num_eligible == 0:
        return matched
    first = candidate_index[0].index_select(0, eligible)
    second = candidate_index[1].index_select(0, eligible)
    ends = torch.cat([first, second])
    # Rank by descending score; the stable sort keeps candidate order (node index) for ties.
    order = torch.sort(score.detach().index_select(0, eligible), descending=True, stable=True)[1]
    rank = torch.empty_like(order).scatter_(
        0, order, torch.arange(num_eligible, device=order.device)
    )
    # Ranks 0..n-1 are available pairs; n fills nodes without one; n + 1 marks removed pairs,
    # which can then never equal the best rank at their ends.
    removed = num_eligible + 1
    taken_pair = torch.zeros(num_eligible, dtype=torch.bool, device=rank.device)
    while True:
        best = torch.full((num_nodes,), num_eligible, dtype=rank.dtype, device=rank.device)
        best = best.scatter_reduce_(0, ends, torch.cat([rank, rank]), reduce="amin")
        best_first, best_second = best.index_select(0, first), best.index_select(0, second)
        take = torch.minimum(best_first, best_second) == rank  # best at both of its ends
        taken_pair |= take
        # An end is taken iff the best pair there was taken: look its rank up.
        taken_rank = torch.zeros(removed + 1, dtype=torch.bool, device=rank.device)
        taken_rank = taken_rank.scatter_(0, rank, take)
        blocked = taken_rank.index_select(0, best_first) | taken_rank.index_select(0, best_second)
        rank = rank.masked_fill(blocked, removed)
        if not bool((rank < removed).any()):
            break
    return matched.scatter_(0, eligible, taken_pair)


def most_similar_per_graph(
    candidate_index: Tensor, score: Tensor, batch: Tensor, ratio: float
) -> Tensor:
    r"""The :math:`k_g = \lfloor (1 - \mathrm{ratio})\, n_g \rfloor` best-scored pairs of each graph.

    A merge rule that joins only these pairs keeps at least
    :math:`n_g - k_g \ge \lceil \mathrm{ratio}\cdot n_g \rceil` of the
    :math:`n_g` nodes of graph :math:`g`: every merged pair removes at most one
    node (none when it closes a cycle of merges).

    Args:
        candidate_index (torch.Tensor): Pairs :math:`[2, P]`.
        score (torch.Tensor): :math:`[P]`, higher is better; ties go to the pair
            that comes first in ``candidate_index``.
        batch (torch.Tensor): Graph of each node :math:`[N]`.
        ratio (float): Smallest fraction of nodes to keep, in :math:`(0, 1]`.

    Returns:
        **allowed** (*torch.Tensor*): ``bool`` :math:`[P]`.
    """
    num_pairs = score.numel()
    if num_pairs == 0:
        return torch.zeros(0, dtype=torch.bool, device=score.device)
    graph = batch.index_select(0, candidate_index[0])
    # Pairs by graph, then by descending score (two stable sorts keep ties in pair order).
    order = torch.sort(score, descending=True, stable=True)[1]
    order = order.index_select(0, torch.sort(graph.index_select(0, order), stable=True)[1])
    sorted_graph = graph.index_select(0, order)
    first_of_graph = torch.searchsorted(sorted_graph, sorted_graph)
    rank = torch.arange(num_pairs, device=score.device) - first_of_graph
    budget = torch.floor(torch.bincount(batch) * (1.0 - ratio) + 1e-9).long()
    allowed = rank < budget.index_select(0, sorted_graph)
    return torch.empty_like(allowed).scatter_(0, order, allowed)


def number_clusters(root: Tensor, batch: Tensor) -> tuple[Tensor, int]:
    r"""Numbers the clusters given each node's root (smallest member index).

    Clusters are ordered by graph, then by smallest member index, so the pooled
    batch vector is sorted and a chain keeps its reading order. For a sorted
    ``batch`` this is a cumulative count of roots (no sort).

    Args:
        root (torch.Tensor): :math:`[N]`, smallest node index of each node's cluster.
        batch (torch.Tensor): :math:`[N]`, graph of each node.

    Returns:
        * **cluster** (*torch.Tensor*): :math:`[N]`, input node -> output node.
        * **num_clusters** (*int*): :math:`C`.
    """
    num_nodes = root.numel()
    position = torch.arange(num_nodes, device=root.device)
    is_root = root == position
    unsorted = (batch[1:] < batch[:-1]).any()
    stats: list[int] = torch.stack([is_root.sum(), unsorted.long()]).tolist()
    num_clusters, batch_unsorted = int(stats[0]), bool(stats[1])
    if not batch_unsorted:
        rank = is_root.cumsum(0) - 1
    else:
        roots = position[is_root]
        order = torch.sort(batch.index_select(0, roots), stable=True)[1]
        rank = torch.empty_like(position)
        rank[roots.index_select(0, order)] = torch.arange(num_clusters, device=root.device)
    return rank.index_select(0, root), num_clusters


def pooled_edges(
    edge_index: Tensor, cluster: Tensor, num_clusters: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    r"""Input edges mapped to clusters, self-loops removed, duplicates coalesced.

    One sort of the kept edges' keys and one run-length pass
    (``unique_consecutive``); direction is kept, so a chain stays a chain.

    Args:
        edge_index (torch.Tensor): Input edges :math:`[2, E]`.
        cluster (torch.Tensor): :math:`[N]`, input node -> output node.
        num_clusters (int): :math:`C`.

    Returns:
        * **keep** (*torch.Tensor*): :math:`[K]`, the input edges whose ends lie
          in different clusters.
        * **slot** (*torch.Tensor*): :math:`[K]`, the output edge of each kept edge.
        * **edge_index** (*torch.Tensor*): :math:`[2, E']`, the output edges,
          sorted lexicographically.
        * **count** (*torch.Tensor*): :math:`[E']`, input edges mapping to each
          output edge.
    """
    edge_cluster = cluster.index_select(0, edge_index.reshape(-1)).view(2, -1)
    keep = (edge_cluster[0] != edge_cluster[1]).nonzero().view(-1)
    edge_cluster = edge_cluster.index_select(1, keep)
    key = edge_cluster[0] * num_clusters + edge_cluster[1]
    sorted_key, order = torch.sort(key, stable=True)
    out_key, run, count = torch.unique_consecutive(
        sorted_key, return_inverse=True, return_counts=True
    )
    slot = torch.empty_like(run).scatter_(0, order, run)
    return keep, slot, torch.stack([out_key // num_clusters, out_key % num_clusters]), count
