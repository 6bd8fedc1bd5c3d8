r"""Select on CUDA, second half: the graph layout, the two merge rules and the cluster order,
as Triton kernels with a fixed number of launches and no host read.

* :func:`graph_layout`: one launch over the nodes sorted by graph gives each node a dense
  graph id (the position of its graph's first node in that order), its graph's size, its
  position in the order, and the merge rule's starting link.
* :func:`connected_components`: a lock-free union-find in two launches (in the manner of
  ECL-CC): every active pair climbs to its two roots and hangs the larger root under the
  smaller with an atomic minimum, retrying where another pair got there first; then every
  node climbs to its root. Pointers only ever decrease, so no cycle forms and each
  component's root is its smallest member, as on the CPU.
* :func:`match`: the greedy matching by descending similarity (ties by position), exact.
  Each pair carries a 63-bit key that orders it (high half: the similarity's bits, or its
  rank; low half: the complement of its position). ``rounds`` launches of the locally
  dominant rule: every open pair reads the largest key proposed at its two ends last round;
  it is taken if it is on top at both, closed if the pair on top at one of its ends was
  taken (that pair is found from the key's low half, and was taken if it is on top at its
  other end too), and otherwise proposes its key again. One launch per round, since every
  decision reads only last round's proposals. The pairs still open are then sorted by key
  and walked by one program in that order, taking each whose ends are free: the sequential
  greedy rule itself, so the result is exact whatever the scores (a chain whose scores rise
  along it leaves most pairs to this walk; random scores leave almost none).
* :func:`root_ranks`: whether each node, in graph order, roots its cluster, as an
  inclusive count: the cluster numbers (:mod:`pyg_grapheme.nn.pool.gpu.reduce`).

Both rules give exactly what :mod:`pyg_grapheme.nn.pool.select` and
:mod:`pyg_grapheme.nn.pool.host.select` give (tests compare them over random graphs with
ties). Given CPU tensors the kernels run in Triton's interpreter, which is how the tests
check them on machines without a GPU; the layer calls them for CUDA tensors only.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from pyg_grapheme.nn.pool.gpu.launch import (
    BLOCK,
    LOW_BITS,
    available,
    grid,
    interpreted,
    kernel,
    search_steps,
)

__all__ = [
    "ROUNDS",
    "available",
    "connected_components",
    "graph_layout",
    "greedy_matching",
    "interpreted",
    "match",
    "rank_keys",
    "root_ranks",
]

tl: Any = None  # bound to triton.language by launch.available()

# Handshake rounds before the sequential walk: on random scores each round decides most
# of the pairs still open (bench/pool_gpu_launches.py's chains and random graphs leave
# almost none after three), so the walk sees little; on adversarial scores it finishes.
ROUNDS = 3

LEFT_OPEN = 7  # the counter of pairs left to the walk (scores.LEFT_OPEN)


def _graph_layout(
    sorted_batch_ptr,
    order_ptr,
    graph_ptr,
    size_ptr,
    position_ptr,
    link_ptr,
    counter_ptr,
    num_nodes,
    STEPS: tl.constexpr,
    MATCHING: tl.constexpr,
    BLOCK: tl.constexpr,
):  # type: ignore[no-untyped-def]
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = i < num_nodes
    node = tl.load(order_ptr + i, mask=inside, other=0)
    value = tl.load(sorted_batch_ptr + i, mask=inside, other=0)
    # Validation, read at the end: the most negative graph id.
    tl.atomic_max(counter_ptr + 6, tl.max(tl.where(inside, -value, 0), axis=0))
    low = tl.zeros([BLOCK], dtype=tl.int64)
    high = low + num_nodes
    for _ in range(STEPS):  # first position of this graph id
        go = low < high
        mid = (low + high) // 2
        below = tl.load(sorted_batch_ptr + mid, mask=inside & go, other=0) < value
        low = tl.where(go & below, mid + 1, low)
        high = tl.where(go & ~below, mid, high)
    start = low
    high = start * 0 + num_nodes
    for _ in range(STEPS):  # one past its last position
        go = low < high
        mid = (low + high) // 2
        within = tl.load(sorted_batch_ptr + mid, mask=inside & go, other=0) <= value
        low = tl.where(go & within, mid + 1, low)
        high = tl.where(go & ~within, mid, high)
    tl.store(graph_ptr + node, start, mask=inside)
    tl.store(size_ptr + node, low - start, mask=inside)
    tl.store(position_ptr + node, i.to(tl.int64), mask=inside)
    if MATCHING:
        tl.store(link_ptr + node, tl.zeros([BLOCK], dtype=tl.int64) - 1, mask=inside)
    else:
        tl.store(link_ptr + node, node, mask=inside)


def _hook(parent_ptr, first_ptr, second_ptr, active_ptr, num_pairs, BLOCK: tl.constexpr):  # type: ignore[no-untyped-def]
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    in_range = offsets < num_pairs
    live = (tl.load(active_ptr + offsets, mask=in_range, other=0) != 0) & in_range
    a = tl.load(first_ptr + offsets, mask=in_range, other=0)
    b = tl.load(second_ptr + offsets, mask=in_range, other=0)
    while tl.max(live.to(tl.int32), axis=0) > 0:
        parent_a = tl.load(parent_ptr + a, mask=live, other=0, volatile=True)
        parent_b = tl.load(parent_ptr + b, mask=live, other=0, volatile=True)
        a_is_root = parent_a == a
        b_is_root = parent_b == b
        both = live & a_is_root & b_is_root
        high = tl.maximum(a, b)
        low = tl.minimum(a, b)
        link = both & (a != b)
        old = tl.atomic_min(parent_ptr + high, low, mask=link)
        # Linked (the root was still a root), or it already hung under `low`, or same root.
        done = (both & (a == b)) | (link & ((old == high) | (old == low)))
        # `high` had been hung under `old` by another pair: now join `old` and `low`.
        retry = link & ~done
        a = tl.where(retry, old, tl.where(a_is_root, a, parent_a))
        b = tl.where(retry, low, tl.where(b_is_root, b, parent_b))
        live = live & ~done


def _flatten(parent_ptr, root_ptr, num_nodes, BLOCK: tl.constexpr):  # type: ignore[no-untyped-def]
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    in_range = offsets < num_nodes
    node = tl.load(parent_ptr + offsets, mask=in_range, other=0)
    live = in_range
    while tl.max(live.to(tl.int32), axis=0) > 0:
        up = tl.load(parent_ptr + node, mask=live, other=0)
        live = live & (up != node)
        node = tl.where(live, up, node)
    tl.store(root_ptr + offsets, node, mask=in_range)


def _round(
    first_ptr,
    second_ptr,
    key_ptr,
    open_ptr,
    merged_ptr,
    mate_ptr,
    best_before_ptr,
    best_next_ptr,
    rest_ptr,
    counter_ptr,
    num_pairs,
    DECIDE: tl.constexpr,
    LAST: tl.constexpr,
    BLOCK: tl.constexpr,
):  # type: ignore[no-untyped-def]
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = p < num_pairs
    live = inside & (tl.load(open_ptr + p, mask=inside, other=0) != 0)
    key = tl.load(key_ptr + p, mask=live, other=0)
    a = tl.load(first_ptr + p, mask=live, other=0)
    b = tl.load(second_ptr + p, mask=live, other=0)
    if DECIDE:
        best_a = tl.load(best_before_ptr + a, mask=live, other=0)
        best_b = tl.load(best_before_ptr + b, mask=live, other=0)
        taken = live & (best_a == key) & (best_b == key)
        # The pair on top at `a` (its position is the key's low half) was taken if it is on
        # top at its other end too; then `a` is no longer free.
        top_a = 0xFFFFFFFF - (best_a & 0xFFFFFFFF)
        end_a = tl.load(first_ptr + top_a, mask=live, other=0) + tl.load(
            second_ptr + top_a, mask=live, other=0
        )
        a_gone = tl.load(best_before_ptr + end_a - a, mask=live, other=0) == best_a
        top_b = 0xFFFFFFFF - (best_b & 0xFFFFFFFF)
        end_b = tl.load(first_ptr + top_b, mask=live, other=0) + tl.load(
            second_ptr + top_b, mask=live, other=0
        )
        b_gone = tl.load(best_before_ptr + end_b - b, mask=live, other=0) == best_b
        closed = live & (taken | a_gone | b_gone)
        tl.store(open_ptr + p, tl.zeros([BLOCK], dtype=tl.int8), mask=closed)
        tl.store(merged_ptr + p, taken, mask=taken)
        tl.store(mate_ptr + a, p.to(tl.int64), mask=taken)
        tl.store(mate_ptr + b, p.to(tl.int64), mask=taken)
        live = live & ~closed
    if LAST:
        tl.store(rest_ptr + p, tl.where(live, key, 0), mask=inside)
        tl.atomic_add(counter_ptr + 7, tl.sum(live.to(tl.int64), axis=0))
    else:
        tl.atomic_max(best_next_ptr + a, key, mask=live)
        tl.atomic_max(best_next_ptr + b, key, mask=live)


def _walk(order_ptr, first_ptr, second_ptr, merged_ptr, mate_ptr, counter_ptr):  # type: ignore[no-untyped-def]
    count = tl.load(counter_ptr + 7)
    i = 0
    while i < count:
        p = tl.load(order_ptr + i)
        a = tl.load(first_ptr + p)
        b = tl.load(second_ptr + p)
        if (tl.load(mate_ptr + a) < 0) & (tl.load(mate_ptr + b) < 0):
            tl.store(merged_ptr + p, 1)
            tl.store(mate_ptr + a, p)
            tl.store(mate_ptr + b, p)
        i += 1


def _root_starts(
    order_ptr,
    link_ptr,
    first_ptr,
    start_ptr,
    num_nodes,
    MATCHING: tl.constexpr,
    BLOCK: tl.constexpr,
):  # type: ignore[no-untyped-def]
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = i < num_nodes
    node = tl.load(order_ptr + i, mask=inside, other=0)
    link = tl.load(link_ptr + node, mask=inside, other=0)
    if MATCHING:
        # A matched pair's root is its first (smaller) node.
        matched = inside & (link >= 0)
        is_root = ~matched | (tl.load(first_ptr + link, mask=matched, other=0) == node)
    else:
        is_root = link == node
    tl.store(start_ptr + i, (inside & is_root).to(tl.int32), mask=inside)


def graph_layout(
    batch: Tensor, counters: Tensor, matching: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    r"""Each node's graph, its graph's size, the graph order and the merge rule's link.

    Args:
        batch (torch.Tensor): :math:`[N]`, graph ids, sorted or not (not yet validated: the
            most negative goes to ``counters``).
        counters (torch.Tensor): ``long`` :math:`[8]`, the call's counters.
        matching (bool): Start the links as a matching's (:math:`-1`: no partner) or as
            components' (every node its own parent).

    Returns:
        * **graph** (*torch.Tensor*): :math:`[N]`, the position in ``order`` of the first
          node of each node's graph: a dense id in :math:`[0, N)`.
        * **graph_size** (*torch.Tensor*): :math:`[N]`, the nodes of each node's graph.
        * **order** (*torch.Tensor*): :math:`[N]`, the nodes by graph, then index.
        * **position** (*torch.Tensor*): :math:`[N]`, each node's place in ``order``.
        * **link** (*torch.Tensor*): :math:`[N]`, the merge rule's starting link.
    """
    num_nodes = batch.numel()
    sorted_batch, order = torch.sort(batch, stable=True)
    graph, size, position, link = torch.empty(4, num_nodes, dtype=torch.long, device=batch.device)
    kernel(_graph_layout, batch.device)[grid(num_nodes)](
        sorted_batch, order, graph, size, position, link, counters, num_nodes,
        STEPS=search_steps(num_nodes), MATCHING=matching, BLOCK=BLOCK,
    )  # fmt: skip
    return graph, size, order, position, link


def connected_components(
    candidate_index: Tensor, active: Tensor, num_nodes: int, parent: Tensor | None = None
) -> Tensor:
    r"""Smallest node index of each node's component of the active pairs :math:`[N]`
    (:func:`pyg_grapheme.nn.pool.select.connected_components`): two kernel launches.

    Args:
        candidate_index (torch.Tensor): Pairs :math:`[2, M]`.
        active (torch.Tensor): ``bool`` :math:`[M]`.
        num_nodes (int): :math:`N`.
        parent (torch.Tensor, optional): :math:`[N]`, every node its own parent (an
            ``arange``), hooked in place; made here if not given.
    """
    device = candidate_index.device
    if parent is None:
        parent = torch.arange(num_nodes, device=device)
    num_pairs = candidate_index.size(1)
    if num_nodes == 0:
        return parent
    if num_pairs > 0:
        kernel(_hook, device)[grid(num_pairs)](
            parent, candidate_index[0], candidate_index[1], active, num_pairs, BLOCK=BLOCK
        )
    root = torch.empty_like(parent)
    kernel(_flatten, device)[grid(num_nodes)](parent, root, num_nodes, BLOCK=BLOCK)
    return root


def rank_keys(rank: Tensor, eligible: Tensor) -> Tensor:
    r"""Matching keys from a ranking :math:`[M]`: :math:`(M - r_p) \cdot 2^{32} + (2^{32} - 1
    - p)` for the eligible pairs, :math:`0` for the others (float64 scores, whose bits do not
    fit a key's high half, rank by a sort first)."""
    num_pairs = rank.numel()
    position = torch.arange(num_pairs, device=rank.device)
    key = ((num_pairs - rank) << 32) | (LOW_BITS - position)
    return torch.where(eligible, key, 0)


def match(
    candidate_index: Tensor,
    rank_key: Tensor,
    is_open: Tensor,
    merged: Tensor,
    mate: Tensor,
    best: Tensor,
    counters: Tensor,
    proposed: bool,
) -> None:
    r"""The greedy matching by descending key, in place (module docstring).

    Args:
        candidate_index (torch.Tensor): Pairs :math:`[2, M]`, each :math:`(a, b)`, :math:`a < b`.
        rank_key (torch.Tensor): ``long`` :math:`[M]`, distinct positive keys of the eligible
            pairs, :math:`0` for the others (:func:`rank_keys`, or the scoring kernel's).
        is_open (torch.Tensor): ``int8`` :math:`[M]`, the eligible pairs (cleared as they
            are decided).
        merged (torch.Tensor): ``bool`` :math:`[M]`, false; set for the matched pairs.
        mate (torch.Tensor): ``long`` :math:`[N]`, :math:`-1`; each matched node's pair.
        best (torch.Tensor): ``long`` :math:`[R, N]`, zeros, one row of proposals per round
            (:math:`R` launches of the locally dominant rule; :math:`R = 0` leaves every
            pair to the walk).
        counters (torch.Tensor): ``long`` :math:`[8]`, the call's counters (the pairs left
            to the walk are counted there).
        proposed (bool): Whether ``best[0]`` already holds the first proposals (the scoring
            kernel makes them).
    """
    num_pairs = rank_key.numel()
    device = rank_key.device
    rounds = best.size(0)
    first, second = candidate_index[0], candidate_index[1]
    rest = torch.empty_like(rank_key)
    step = kernel(_round, device)[grid(num_pairs)]
    arguments = (first, second, rank_key, is_open, merged, mate)
    if not proposed or rounds == 0:
        target = best[0] if rounds > 0 else rest
        step(*arguments, rest, target, rest, counters, num_pairs,
             DECIDE=False, LAST=rounds == 0, BLOCK=BLOCK)  # fmt: skip
    for r in range(1, rounds + 1):
        last = r == rounds
        target = rest if last else best[r]
        step(*arguments, best[r - 1], target, rest, counters, num_pairs,
             DECIDE=True, LAST=last, BLOCK=BLOCK)  # fmt: skip
    # The open pairs by descending key (zeros last), walked in order by one program.
    order = torch.sort(rest, descending=True)[1]
    kernel(_walk, device)[(1,)](order, first, second, merged, mate, counters, num_warps=1)


def greedy_matching(
    candidate_index: Tensor,
    rank: Tensor,
    eligible: Tensor,
    num_nodes: int,
    rounds: int | None = None,
) -> Tensor:
    r"""Greedy matching by rank (:func:`pyg_grapheme.nn.pool.select.greedy_matching`):
    ``rounds`` :math:`+ 2` kernel launches and a sort, exact for any scores.

    Args:
        candidate_index (torch.Tensor): Pairs :math:`[2, M]`.
        rank (torch.Tensor): :math:`[M]`, a permutation of :math:`0..M-1`: eligible
            pairs first, by descending score, ties by position
            (:func:`pyg_grapheme.nn.pool.select.descending_rank`).
        eligible (torch.Tensor): ``bool`` :math:`[M]`.
        num_nodes (int): :math:`N`.
        rounds (int, optional): Rounds of the locally dominant rule before the walk (any
            number gives the same matching; more leave less to the walk). :obj:`None`
            means :data:`ROUNDS`.

    Returns:
        **matched** (*torch.Tensor*): ``bool`` :math:`[M]`.
    """
    device = candidate_index.device
    num_pairs = candidate_index.size(1)
    merged = torch.zeros(num_pairs, dtype=torch.bool, device=device)
    if num_pairs == 0 or num_nodes == 0:
        return merged
    rounds = ROUNDS if rounds is None else rounds
    match(
        candidate_index.contiguous(),
        rank_keys(rank, eligible),
        eligible.to(torch.int8),
        merged,
        torch.full((num_nodes,), -1, dtype=torch.long, device=device),
        torch.zeros(rounds, num_nodes, dtype=torch.long, device=device),
        torch.zeros(8, dtype=torch.long, device=device),
        proposed=False,
    )
    return merged


def root_ranks(order: Tensor, link: Tensor, first: Tensor, matching: bool) -> Tensor:
    r"""Inclusive count of the cluster roots along the graph order :math:`[N]` (one launch
    and a ``cumsum``): node ``order[i]`` roots a cluster iff it is counted at :math:`i`, and
    its cluster's number is the count there minus one.

    Args:
        order (torch.Tensor): :math:`[N]`, the nodes by graph, then index.
        link (torch.Tensor): :math:`[N]`, each node's matched pair (:math:`-1` for none) for
            a matching, its component's root otherwise.
        first (torch.Tensor): :math:`[M]`, the first (smaller) node of each pair.
        matching (bool): Which rule ``link`` comes from.
    """
    num_nodes = order.numel()
    start = torch.empty(num_nodes, dtype=torch.int32, device=order.device)
    kernel(_root_starts, order.device)[grid(num_nodes)](
        order, link, first, start, num_nodes, MATCHING=matching, BLOCK=BLOCK
    )
    return torch.cumsum(start, 0)
