r"""The two merge rules of :class:`~pyg_grapheme.nn.ThresholdMergePool` as Triton kernels, for
CUDA tensors: a fixed number of launches and no host read.

* :func:`connected_components`: a lock-free union-find in two kernels (in the manner of
  ECL-CC): every active pair climbs to its two roots and hangs the larger root under
  the smaller with an atomic minimum, retrying where another pair got there first;
  then every node climbs to its root. Pointers only ever decrease, so no cycle forms
  and each component's root is its smallest member, as on the CPU.
* :func:`greedy_matching`: ``rounds`` rounds of the locally dominant rule (two kernels
  each: every remaining pair proposes its rank to both ends with an atomic maximum of
  a round-stamped key, then the pairs that won at both ends are taken), then one
  single-program kernel that walks the pairs still undecided in rank order and takes
  each whose ends are free: the sequential greedy rule itself, so the result is exact
  whatever the scores (a chain whose scores rise along it leaves most pairs to this
  walk; random scores leave almost none after a few rounds).

Both give exactly what :mod:`pyg_grapheme.nn.pool.select` and
:mod:`pyg_grapheme.nn.pool.host.select` give (tests compare them over random graphs
with ties). Given CPU tensors the kernels run in Triton's interpreter, which is how the
tests check them on machines without a GPU; the layer calls them for CUDA tensors only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

# Imported on first use (Triton ships with CUDA builds of torch; CPU-only installs may
# lack it): the kernels below name `tl` as a global, which the import then binds.
triton: Any = None
tl: Any = None

BLOCK = 1024
# Handshake rounds before the sequential walk: on random scores each round decides most
# of the pairs still open (bench/pool_gpu_launches.py's chains and random graphs leave
# none after three), so the walk sees almost nothing; on adversarial scores it finishes.
ROUNDS = 4

# Pair states in the matching.
OPEN, TAKEN, CLOSED = 0, 1, 2


def available() -> bool:
    """Whether Triton is importable (imports it on the first call)."""
    global triton, tl
    if triton is None:
        try:
            import triton as triton_module
            import triton.language as language
        except ImportError:
            return False
        triton, tl = triton_module, language
    return True


def interpreted() -> bool:
    """Whether Triton runs its kernels in its interpreter (``TRITON_INTERPRET=1`` set before
    Triton was imported): then they take CPU tensors, which is how the tests check them on
    machines without a GPU."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


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


def _propose(
    first_ptr,
    second_ptr,
    rank_ptr,
    state_ptr,
    taken_ptr,
    best_ptr,
    num_pairs,
    key_base,
    BLOCK: tl.constexpr,
):  # type: ignore[no-untyped-def]
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    in_range = offsets < num_pairs
    live = (tl.load(state_ptr + offsets, mask=in_range, other=2) == 0) & in_range
    a = tl.load(first_ptr + offsets, mask=live, other=0)
    b = tl.load(second_ptr + offsets, mask=live, other=0)
    taken_a = tl.load(taken_ptr + a, mask=live, other=0)
    taken_b = tl.load(taken_ptr + b, mask=live, other=0)
    blocked = live & ((taken_a != 0) | (taken_b != 0))
    tl.store(state_ptr + offsets, tl.full([BLOCK], 2, tl.int8), mask=blocked)
    live = live & ~blocked
    key = key_base - tl.load(rank_ptr + offsets, mask=live, other=0)
    tl.atomic_max(best_ptr + a, key, mask=live)
    tl.atomic_max(best_ptr + b, key, mask=live)


def _accept(
    first_ptr,
    second_ptr,
    rank_ptr,
    state_ptr,
    taken_ptr,
    best_ptr,
    num_pairs,
    key_base,
    BLOCK: tl.constexpr,
):  # type: ignore[no-untyped-def]
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    in_range = offsets < num_pairs
    live = (tl.load(state_ptr + offsets, mask=in_range, other=2) == 0) & in_range
    a = tl.load(first_ptr + offsets, mask=live, other=0)
    b = tl.load(second_ptr + offsets, mask=live, other=0)
    key = key_base - tl.load(rank_ptr + offsets, mask=live, other=0)
    best_a = tl.load(best_ptr + a, mask=live, other=0)
    best_b = tl.load(best_ptr + b, mask=live, other=0)
    win = live & (best_a == key) & (best_b == key)
    tl.store(state_ptr + offsets, tl.full([BLOCK], 1, tl.int8), mask=win)
    one = tl.full([BLOCK], 1, tl.int8)
    tl.store(taken_ptr + a, one, mask=win)
    tl.store(taken_ptr + b, one, mask=win)


def _finish(first_ptr, second_ptr, state_ptr, taken_ptr, queue_ptr, count_ptr):  # type: ignore[no-untyped-def]
    count = tl.load(count_ptr)
    for i in range(0, count):
        pair = tl.load(queue_ptr + i)
        a = tl.load(first_ptr + pair)
        b = tl.load(second_ptr + pair)
        free = (tl.load(taken_ptr + a) == 0) & (tl.load(taken_ptr + b) == 0)
        if free:
            tl.store(state_ptr + pair, 1)
            tl.store(taken_ptr + a, 1)
            tl.store(taken_ptr + b, 1)


_KERNELS: dict[str, Any] = {}


def _kernel(function: Callable[..., None], device: torch.device) -> Any:
    """``function`` as a Triton kernel (built once)."""
    if not available():
        raise RuntimeError("pyg_grapheme.nn.pool.gpu needs Triton (pip install triton)")
    if device.type != "cuda" and not interpreted():
        raise RuntimeError(
            f"pyg_grapheme.nn.pool.gpu: the kernels take CUDA tensors (got {device}), or CPU "
            f"tensors in Triton's interpreter (TRITON_INTERPRET=1 before importing triton)"
        )
    if function.__name__ not in _KERNELS:
        _KERNELS[function.__name__] = triton.jit(function)
    return _KERNELS[function.__name__]


def _grid(size: int) -> tuple[int]:
    return (max(1, (size + BLOCK - 1) // BLOCK),)


def connected_components(candidate_index: Tensor, active: Tensor, num_nodes: int) -> Tensor:
    r"""Smallest node index of each node's component of the active pairs :math:`[N]`
    (:func:`pyg_grapheme.nn.pool.select.connected_components`): two kernel launches.

    Args:
        candidate_index (torch.Tensor): Pairs :math:`[2, M]`.
        active (torch.Tensor): ``bool`` :math:`[M]`.
        num_nodes (int): :math:`N`.
    """
    device = candidate_index.device
    parent = torch.arange(num_nodes, device=device)
    num_pairs = candidate_index.size(1)
    if num_nodes == 0:
        return parent
    first = candidate_index[0].contiguous()
    second = candidate_index[1].contiguous()
    if num_pairs > 0:
        _kernel(_hook, device)[_grid(num_pairs)](
            parent, first, second, active.to(torch.int8), num_pairs, BLOCK=BLOCK
        )
    root = torch.empty_like(parent)
    _kernel(_flatten, device)[_grid(num_nodes)](parent, root, num_nodes, BLOCK=BLOCK)
    return root


def greedy_matching(
    candidate_index: Tensor,
    rank: Tensor,
    eligible: Tensor,
    num_nodes: int,
    rounds: int | None = None,
) -> Tensor:
    r"""Greedy matching by rank (:func:`pyg_grapheme.nn.pool.select.greedy_matching`):
    :math:`2 \cdot` ``rounds`` :math:`+ 1` kernel launches, exact for any scores.

    Args:
        candidate_index (torch.Tensor): Pairs :math:`[2, M]`.
        rank (torch.Tensor): :math:`[M]`, a permutation of :math:`0..M-1`: eligible
            pairs first, by descending score, ties by position
            (:func:`pyg_grapheme.nn.pool.select.descending_rank`).
        eligible (torch.Tensor): ``bool`` :math:`[M]`.
        num_nodes (int): :math:`N`.
        rounds (int, optional): Handshake rounds before the sequential walk (any number
            gives the same matching; more rounds leave less to the walk). :obj:`None`
            means :data:`ROUNDS`.

    Returns:
        **matched** (*torch.Tensor*): ``bool`` :math:`[M]`.
    """
    device = candidate_index.device
    num_pairs = candidate_index.size(1)
    if num_pairs == 0 or num_nodes == 0:
        return torch.zeros(num_pairs, dtype=torch.bool, device=device)
    first = candidate_index[0].contiguous()
    second = candidate_index[1].contiguous()
    rank = rank.contiguous()
    state = torch.where(eligible, OPEN, CLOSED).to(torch.int8)
    taken = torch.zeros(num_nodes, dtype=torch.int8, device=device)
    best = torch.zeros(num_nodes, dtype=torch.long, device=device)
    propose, accept = _kernel(_propose, device), _kernel(_accept, device)
    grid = _grid(num_pairs)
    for round_ in range(1, (ROUNDS if rounds is None else rounds) + 1):
        # Keys grow with the round, so last round's entries lose to any proposal now;
        # within a round the best (smallest) rank has the largest key.
        key_base = round_ * (num_pairs + 1) + num_pairs
        args = (first, second, rank, state, taken, best, num_pairs, key_base)
        propose[grid](*args, BLOCK=BLOCK)
        accept[grid](*args, BLOCK=BLOCK)
    # The pairs still open, in rank order, for the sequential walk.
    order = torch.empty_like(rank).scatter_(0, rank, torch.arange(num_pairs, device=device))
    still_open = state.index_select(0, order) == OPEN
    position = still_open.long().cumsum(0) - 1
    queue = torch.zeros(num_pairs + 1, dtype=torch.long, device=device)
    queue.scatter_(0, torch.where(still_open, position, num_pairs), order)
    count = still_open.sum().view(1)
    _kernel(_finish, device)[(1,)](first, second, state, taken, queue, count, num_warps=1)
    return state == TAKEN
