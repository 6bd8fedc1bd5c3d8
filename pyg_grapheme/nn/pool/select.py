r"""Select step of :class:`~pyg_grapheme.nn.ThresholdMergePool` in tensor code: which nodes go
together.

Tensor functions, vectorised over all pairs and nodes of a batch (no Python loop over
nodes or edges) and TorchScript-compatible. They read nothing back to the host: every
size that depends on the data stays on the device, and arrays that would need it are
*padded* to a bound known in advance (the number of input edges for the candidate
pairs), with the true count kept as a 0-d tensor. The layer reads all such counts in
one transfer at the end of its call (:meth:`ThresholdMergePool.forward`).

* :func:`graph_ids`: each node's graph as a dense id in ``[0, N)`` and the nodes ordered
  by graph, then index (one stable sort).
* :func:`edge_candidates`: the adjacent unordered pairs :math:`(i, j)`, :math:`i < j`,
  each once, and the pair of every input edge.
* :func:`count_all_pairs`, :func:`all_pair_candidates`, :func:`pair_of_edges`: every
  unordered pair inside the same graph.
* :func:`starting_logit`: the data-driven start of the threshold.
* :func:`most_similar_per_graph`: the pairs a ratio control allows to merge.
* :func:`greedy_matching` and :func:`connected_components`: the two merge rules, in
  rounds of tensor operations (one host read per round; on CUDA the layer runs the
  Triton kernels of :mod:`pyg_grapheme.nn.pool.gpu` instead, with none).
* :func:`number_clusters`: output node ids, by graph then smallest member.

:mod:`pyg_grapheme.nn.pool.host.select` holds the same steps as compiled (Numba) loops
for CPU arrays, under the same names.

**Ties.** Every rule here and in the twins compares with the same operators: a pair
merges when its similarity is strictly above the threshold (``>``), pairs are ranked by
descending similarity with ties broken by position in ``candidate_index`` (that is, by
node index), and every cluster is named by its smallest member. Given equal
similarities, both implementations give equal clusters.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Where the threshold starts (threshold=None) is kept this far inside (0, 1): the logit
# parametrisation cannot reach the ends.
START_MARGIN = 1e-3


def run_starts(values: Tensor) -> Tensor:
    """``bool`` :math:`[n]`: whether each entry of a sorted vector differs from the one before
    (the first always does)."""
    first = torch.ones(min(values.numel(), 1), dtype=torch.bool, device=values.device)
    return torch.cat([first, values[1:] != values[:-1]])


def graph_ids(batch: Tensor) -> tuple[Tensor, Tensor]:
    r"""Dense graph ids and the node order by graph.

    Args:
        batch (torch.Tensor): Graph of each node :math:`[N]` (any non-negative ids,
            sorted or not).

    Returns:
        * **graph** (*torch.Tensor*): :math:`[N]`, the rank of each node's graph among
          the graphs present, in ``[0, N)``: a safe index for buffers of size
          :math:`N`, with no host read of the largest id.
        * **order** (*torch.Tensor*): :math:`[N]`, the nodes sorted by graph, then by
          index (a stable sort).
    """
    sorted_batch, order = torch.sort(batch, stable=True)
    graph_in_order = run_starts(sorted_batch).long().cumsum(0) - 1
    graph = torch.empty_like(batch).scatter_(0, order, graph_in_order)
    return graph, order


def edge_candidates(
    edge_index: Tensor, graph: Tensor, num_nodes: int
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Adjacent node pairs as candidates for a merge, padded to :math:`E`.

    Each unordered adjacent pair :math:`\{i, j\}` with :math:`i \ne j` and
    :math:`\mathrm{graph}_i = \mathrm{graph}_j` appears once, as :math:`(i, j)` with
    :math:`i < j`, sorted lexicographically, in the first :math:`P` columns. Self-loops
    and edges between different graphs of the batch are not candidates, so merges never
    cross graphs. One sort of the :math:`E` edge keys; no host read.

    Args:
        edge_index (torch.Tensor): Edge indices :math:`[2, E]`, each in ``[0, N)``.
        graph (torch.Tensor): Graph of each node :math:`[N]`.
        num_nodes (int): :math:`N`.

    Returns:
        * **candidate_index** (*torch.Tensor*): :math:`[2, E]`, ``long``: the :math:`P`
          pairs, then padding :math:`(N - 1, N - 1)` (which keeps the rows sorted).
        * **pair_of_edge** (*torch.Tensor*): :math:`[E]`, the candidate pair of each input
          edge, and :math:`E` for edges that are none.
        * **num_pairs** (*torch.Tensor*): :math:`P`, a 0-d ``long`` tensor.
    """
    num_edges = edge_index.size(1)
    row, col = edge_index[0], edge_index[1]
    lo = torch.minimum(row, col)
    hi = torch.maximum(row, col)
    valid = (lo != hi) & (graph.index_select(0, lo) == graph.index_select(0, hi))
    sentinel = num_nodes * num_nodes
    key = torch.where(valid, lo * num_nodes + hi, sentinel)
    sorted_key, perm = torch.sort(key)
    is_first = (sorted_key != sentinel) & run_starts(sorted_key)
    slot = is_first.long().cumsum(0) - 1
    slot = torch.where(sorted_key != sentinel, slot, num_edges)
    pair_of_edge = torch.empty_like(slot).scatter_(0, perm, slot)
    # Scatter the first edge of each pair to its slot; later duplicates write the same pair.
    last = max(num_nodes - 1, 0)
    padded = torch.full((2, num_edges + 1), last, dtype=torch.long, device=edge_index.device)
    target = torch.where(is_first, slot, num_edges)
    padded[0].scatter_(0, target, sorted_key // max(num_nodes, 1))
    padded[1].scatter_(0, target, sorted_key % max(num_nodes, 1))
    num_pairs = is_first.sum()
    candidate_index = padded[:, :num_edges]
    # Columns past P hold whatever the dump slot or the fill left: make them the padding.
    candidate_index = torch.where(
        torch.arange(num_edges, device=edge_index.device) < num_pairs, candidate_index, last
    )
    return candidate_index, pair_of_edge, num_pairs


def count_all_pairs(batch: Tensor) -> tuple[int, int, bool]:
    r"""Pairs :math:`\sum_g n_g (n_g - 1) / 2` inside graphs, the largest :math:`n_g`, and
    whether ``batch`` is sorted (one host read; ``candidates="all"`` needs the count to
    size its arrays and to refuse more than ``max_pairs``)."""
    if batch.numel() == 0:
        return 0, 0, True
    counts = torch.bincount(batch)
    unsorted = (batch[1:] < batch[:-1]).any().long()
    stats: list[int] = torch.stack(
        [(counts * (counts - 1)).sum() // 2, counts.max(), unsorted]
    ).tolist()
    return int(stats[0]), int(stats[1]), stats[2] == 0


def all_pair_candidates(batch: Tensor, num_pairs: int, batch_is_sorted: bool) -> Tensor:
    r"""Every unordered pair :math:`(i, j)`, :math:`i < j`, inside the same graph.

    Memory is :math:`O(\sum_g n_g^2)`; callers bound it with :func:`count_all_pairs`
    first, which also gives ``num_pairs``.

    Args:
        batch (torch.Tensor): Graph of each node :math:`[N]`.
        num_pairs (int): :math:`P`, from :func:`count_all_pairs`.
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


def starting_logit(similarity: Tensor, num_pairs: Tensor, logit: Tensor) -> Tensor:
    r"""The threshold logit the data-driven start sets (``threshold=None``), on the device.

    With :math:`v` the sorted similarities of the :math:`P` candidate pairs, the start
    is the midpoint between the lower median :math:`m = v_{\lfloor (P - 1)/2 \rfloor}`
    and the smallest similarity above it, so the pairs above :math:`m` (about half)
    start above :math:`\tau`, and no similarity sits on :math:`\tau` itself (a rounding
    of one unit in the last place cannot flip a merge decision, on any implementation).
    With no similarity above :math:`m`, :math:`\tau = m`. :math:`\tau` is then clamped
    into :math:`[10^{-3}, 1 - 10^{-3}]`, where its logit exists.

    Args:
        similarity (torch.Tensor): :math:`[M]`, the first :math:`P` are the pairs' (finite).
        num_pairs (torch.Tensor): :math:`P`, 0-d.
        logit (torch.Tensor): The current logit, kept when :math:`P = 0` (the start then
            waits for a batch with candidate pairs).

    Returns:
        torch.Tensor: the new logit, 0-d, of ``logit``'s dtype.
    """
    values = similarity.detach().double()
    inf = torch.tensor(float("inf"), dtype=values.dtype, device=values.device)
    if values.numel() == 0:
        return logit.detach().clone()
    valid = torch.arange(values.numel(), device=values.device) < num_pairs
    ordered = torch.sort(torch.where(valid, values, inf)).values
    median = ordered.index_select(0, ((num_pairs - 1) // 2).clamp_min(0).view(1)).squeeze(0)
    above = torch.where(ordered > median, ordered, inf).min()
    tau = torch.where(torch.isfinite(above), (median + above) / 2, median)
    tau = tau.clamp(START_MARGIN, 1.0 - START_MARGIN)
    return torch.where(num_pairs > 0, torch.logit(tau).to(logit.dtype), logit.detach())


def most_similar_per_graph(
    candidate_index: Tensor, score: Tensor, valid: Tensor, graph: Tensor, ratio: float
) -> Tensor:
    r"""The :math:`k_g = \lfloor (1 - \mathrm{ratio})\, n_g \rfloor` best-scored pairs of each graph.

    A merge rule that joins only these pairs keeps at least
    :math:`n_g - k_g \ge \lceil \mathrm{ratio}\cdot n_g \rceil` of the
    :math:`n_g` nodes of graph :math:`g`: every merged pair removes at most one
    node (none when it closes a cycle of merges).

    Args:
        candidate_index (torch.Tensor): Pairs :math:`[2, M]`.
        score (torch.Tensor): :math:`[M]`, higher is better; ties go to the pair
            that comes first in ``candidate_index``.
        valid (torch.Tensor): ``bool`` :math:`[M]`, the real pairs (not padding).
        graph (torch.Tensor): Dense graph id of each node :math:`[N]` (:func:`graph_ids`).
        ratio (float): Smallest fraction of nodes to keep, in :math:`(0, 1]`.

    Returns:
        **allowed** (*torch.Tensor*): ``bool`` :math:`[M]`.
    """
    num_pairs = score.numel()
    num_nodes = graph.numel()
    if num_pairs == 0:
        return torch.zeros(0, dtype=torch.bool, device=score.device)
    # Padding sorts after every graph (id N), so it takes no graph's budget.
    pair_graph = torch.where(valid, graph.index_select(0, candidate_index[0]), num_nodes)
    # Pairs by graph, then by descending score (two stable sorts keep ties in pair order).
    order = torch.sort(score.detach(), descending=True, stable=True)[1]
    order = order.index_select(0, torch.sort(pair_graph.index_select(0, order), stable=True)[1])
    sorted_graph = pair_graph.index_select(0, order)
    first_of_graph = torch.searchsorted(sorted_graph, sorted_graph)
    rank = torch.arange(num_pairs, device=score.device) - first_of_graph
    counts = torch.zeros(num_nodes + 1, dtype=torch.long, device=graph.device)
    counts = counts.index_add_(0, graph, torch.ones_like(graph))  # bincount would read its max
    budget = torch.floor(counts * (1.0 - ratio) + 1e-9).long()
    allowed = rank < budget.index_select(0, sorted_graph)
    return torch.empty_like(allowed).scatter_(0, order, allowed) & valid


def descending_rank(score: Tensor, eligible: Tensor) -> Tensor:
    r"""Rank of each eligible pair by descending score, ties by position :math:`[M]`;
    ineligible pairs rank after every eligible one (from ``eligible.sum()`` on).

    A stable sort of the scores with the ineligible ones first moved to :math:`-\infty`:
    a stable sort keeps equal scores in position order, which is the tie rule."""
    num_pairs = score.numel()
    # Eligible scores are finite and above the threshold, so they all precede the -inf.
    key = torch.where(eligible, score.detach(), float("-inf"))
    order = torch.sort(key, descending=True, stable=True)[1]
    return torch.empty_like(order).scatter_(0, order, torch.arange(num_pairs, device=order.device))


def greedy_matching(
    candidate_index: Tensor, score: Tensor, eligible: Tensor, num_nodes: int
) -> Tensor:
    r"""Greedy matching of the eligible pairs by descending score; each node is matched at
    most once.

    Sequentially this is PyG's :class:`~torch_geometric.nn.pool.EdgePooling` rule: walk
    the pairs by descending score and take a pair when neither end is taken yet. Here
    the pairs are ranked once (:func:`descending_rank`), and each round takes every
    *locally dominant* pair, the best-ranked remaining pair at both of its ends, then
    drops the pairs touching a taken node. With a strict total order the result equals
    the sequential greedy matching. One host read per round (the loop's condition):
    this is the CPU tensor code; CUDA runs
    :func:`pyg_grapheme.nn.pool.gpu.select.greedy_matching` (fixed launches, no read).

    Args:
        candidate_index (torch.Tensor): Pairs :math:`[2, M]`.
        score (torch.Tensor): :math:`[M]`, higher merges first.
        eligible (torch.Tensor): ``bool`` :math:`[M]`, the pairs allowed to merge.
        num_nodes (int): :math:`N`.

    Returns:
        **matched** (*torch.Tensor*): ``bool`` :math:`[M]`.
    """
    num_pairs = score.numel()
    if num_pairs == 0:
        return eligible.clone()
    first, second = candidate_index[0], candidate_index[1]
    ends = torch.cat([first, second])
    rank = descending_rank(score, eligible)
    # Ranks 0..M-1 are pairs; M fills nodes without one; M + 1 marks removed pairs, which
    # can then never equal the best rank at their ends.
    removed = num_pairs + 1
    rank = rank.masked_fill(~eligible, removed)
    taken_pair = torch.zeros_like(eligible)
    while bool((rank < removed).any()):
        best = torch.full((num_nodes,), num_pairs, dtype=rank.dtype, device=rank.device)
        best = best.scatter_reduce_(0, ends, torch.cat([rank, rank]), reduce="amin")
        best_first, best_second = best.index_select(0, first), best.index_select(0, second)
        take = torch.minimum(best_first, best_second) == rank  # best at both of its ends
        taken_pair |= take
        # An end is taken iff the best pair there was taken: look its rank up.
        taken_rank = torch.zeros(removed + 1, dtype=torch.bool, device=rank.device)
        taken_rank = taken_rank.scatter_(0, rank, take)
        blocked = taken_rank.index_select(0, best_first) | taken_rank.index_select(0, best_second)
        rank = rank.masked_fill(blocked, removed)
    return taken_pair


def _pointer_jumps(num_nodes: int) -> int:
    """Jumps ``f = f[f]`` that bring every node of a depth ``< num_nodes`` forest to its root."""
    jumps = 1
    while (1 << jumps) < num_nodes:
        jumps += 1
    return jumps


def connected_components(candidate_index: Tensor, active: Tensor, num_nodes: int) -> Tensor:
    r"""Connected components of the active pairs, as the smallest node index of each component.

    Min-label hooking with pointer jumping (Shiloach-Vishkin style): every round, each
    root :math:`r_u` hooks onto the smallest root adjacent to its tree,
    :math:`f(r_u) \leftarrow \min(f(r_u), \min_{\{u,v\}} r_v)` (one ``scatter_reduce``),
    then :math:`\lceil \log_2 N \rceil` pointer jumps :math:`f \leftarrow f \circ f`
    flatten every tree to a star. Pointers only decrease (:math:`f(u) \le u`), so no
    cycle forms, and the root of a component is its smallest index. Rounds repeat until
    both ends of every active pair share a root (one host read per round): this is the
    CPU tensor code; CUDA runs :func:`pyg_grapheme.nn.pool.gpu.select.connected_components`.

    Args:
        candidate_index (torch.Tensor): Pairs :math:`[2, M]`.
        active (torch.Tensor): ``bool`` :math:`[M]`, the pairs that connect.
        num_nodes (int): :math:`N`.

    Returns:
        **root** (*torch.Tensor*): :math:`[N]`, ``long``.
    """
    root = torch.arange(num_nodes, device=candidate_index.device)
    # Inactive pairs become self-pairs of their first end: they hook nothing.
    first = candidate_index[0]
    second = torch.where(active, candidate_index[1], first)
    if first.numel() == 0:
        return root
    jumps = _pointer_jumps(num_nodes)
    root_first, root_second = root.index_select(0, first), root.index_select(0, second)
    while not torch.equal(root_first, root_second):
        # Every tree is a star here, so root[u] is u's root: hook roots, not nodes.
        root = root.scatter_reduce(
            0,
            torch.cat([root_first, root_second]),
            torch.cat([root_second, root_first]),
            reduce="amin",
        )
        for _ in range(jumps):
            root = root.index_select(0, root)
        root_first, root_second = root.index_select(0, first), root.index_select(0, second)
    return root


def number_clusters(root: Tensor, order: Tensor) -> tuple[Tensor, Tensor]:
    r"""Numbers the clusters given each node's root (smallest member index).

    Clusters are ordered by graph, then by smallest member index, so the pooled batch
    vector is sorted and a chain keeps its reading order: with the nodes in that order
    (``order``, from :func:`graph_ids`), a cluster's number is the count of roots
    before its own. No host read.

    Args:
        root (torch.Tensor): :math:`[N]`, smallest node index of each node's cluster.
        order (torch.Tensor): :math:`[N]`, the nodes sorted by graph, then index.

    Returns:
        * **cluster** (*torch.Tensor*): :math:`[N]`, input node -> output node.
        * **num_clusters** (*torch.Tensor*): :math:`C`, 0-d.
    """
    num_nodes = root.numel()
    is_root = root == torch.arange(num_nodes, device=root.device)
    rank_in_order = is_root.index_select(0, order).long().cumsum(0) - 1
    rank = torch.empty_like(root).scatter_(0, order, rank_in_order)
    return rank.index_select(0, root), is_root.sum()
