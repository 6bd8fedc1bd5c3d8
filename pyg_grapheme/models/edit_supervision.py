r"""Supervision from an alignment: which target graphemes each input node produces.

Input and target are aligned over their grapheme clusters (not code points).
Every target grapheme is *produced* by exactly one input node, in order, so the
target is the concatenation of the nodes' segments. From that:

- **segment length** :math:`\ell_i \ge 0` of each input node: how many target
  graphemes it produces (0 deletes it, more than 1 grows it);
- **merge group** of each input node: contiguous runs of nodes that should merge
  into one pooled node, whose count is the sum of its members' :math:`\ell_i`;
- **merge label** of each chain edge ``(i, i + 1)``: 1 when both ends share a group;
- **edit operation** of each input node, one of :data:`EDIT_OPS`: ``keep``,
  ``delete``, ``modify`` (produces a grapheme it is not) or ``insert`` (keeps its
  grapheme and produces more).

``alignment="lcs"`` (default). Anchors are the matches of a longest common
subsequence (rapidfuzz's ``Indel`` opcodes): a matched node produces its own
grapheme. Between two anchors :math:`L` and :math:`R` (or before the first, after
the last) lies a *gap*: deleted input nodes :math:`D` and inserted target
graphemes :math:`I`, both in order. In each gap,

1. deleted nodes equal to :math:`L`'s grapheme, from the left, merge into
   :math:`L`; those equal to :math:`R`'s grapheme, from the right, merge into
   :math:`R` (``"aab" -> "ab"`` merges the run; the group emits one ``a``);
2. inserted graphemes equal to :math:`L`'s grapheme, from the left, are appended
   to :math:`L`'s segment; those equal to :math:`R`'s, from the right, prepended
   to :math:`R`'s (``"ab" -> "aabb"``: each node grows into two copies of itself);
3. the remaining deleted nodes :math:`D'` and inserted graphemes :math:`I'` pair
   up in order: :math:`D'_k` produces :math:`I'_k` (``modify``); surplus deleted
   nodes produce nothing; surplus insertions go to the last paired node, or,
   with nothing to pair, to :math:`L` (to :math:`R` at the very start). So
   ``"abc" -> "a b c"`` grows ``a`` into ``"a "``, ``"3a" -> "aaa"`` deletes the
   ``3`` and grows the ``a``, and a string mapped grapheme by grapheme
   (``"abc" -> "xyz"``) pairs position by position.

Insertions are thus anchored to a neighbour that can copy them, when one
exists, and to the node before them otherwise. Finally, a run of adjacent
matched nodes with the same grapheme that produce only that grapheme shares
its production evenly, earlier nodes taking the remainder: a longest common
subsequence may match ``"jj"`` to ``"jjjj"`` as 1 + 3, the rule makes it 2 + 2,
so equal graphemes in a run do the same thing wherever the matching fell.

``alignment="right"`` is a fixed, content-free alignment: the target's last
grapheme is produced by the input's last node, the one before by the node
before, and so on; nodes left of the first anchor merge into it, and a target
longer than the input puts its leading surplus on the first node. This is the
canonical alignment for outputs that summarise the whole input and are
written right-aligned (arithmetic results: the units digit always sits on the
last node and the merge pattern depends only on the result's length).

``alignment="whole"`` ties no target grapheme to an input node: the whole input
merges into one group, whose first node produces the whole target (an empty
target: nothing). The pooled node of a graph then grows the entire answer, and a
network that grows by its decoder (``growth="decoder"``) writes it grapheme by
grapheme, copying from any input node or generating: a pointer-generator
sequence-to-sequence model on the graph encoder. This is the alignment for
answers that reorder or repeat parts of the input (derivatives, integrals,
reversal), which no in-order alignment can assign to the nodes they copy.

An empty target deletes every node (each produces nothing). A non-empty target
cannot be produced from an empty input; callers check ``sum(length) == len(target)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch
from rapidfuzz.distance import Indel
from torch import Tensor

__all__ = ["ALIGNMENTS", "EDIT_OPS", "EditTargets", "edit_targets"]

ALIGNMENTS = ("lcs", "right", "whole")

EDIT_OPS = ("keep", "delete", "modify", "insert")
KEEP, DELETE, MODIFY, INSERT = range(len(EDIT_OPS))


@dataclass(frozen=True)
class EditTargets:
    """Per-input-node supervision for one (input, target) pair of ``n`` and ``m`` graphemes.

    Attributes:
        op: ``LongTensor[n]``, index into :data:`EDIT_OPS`.
        length: ``LongTensor[n]``, target graphemes each node produces; they sum to
            ``m`` and node ``i`` produces ``target[s_i : s_i + length_i]`` with
            ``s_i = sum(length[:i])``.
        group: ``LongTensor[n]``, merge group (``0, 1, ...`` in chain order; contiguous).
        merge: ``FloatTensor[max(n - 1, 0)]``, 1 where nodes ``i`` and ``i + 1`` share a group.
    """

    op: Tensor
    length: Tensor
    group: Tensor
    merge: Tensor


def edit_targets(
    source: Sequence[str], target: Sequence[str], alignment: str = "lcs"
) -> EditTargets:
    """Align two grapheme sequences and derive the per-node supervision (module docstring).

    Results are cached per (source, target, alignment): a training pair is aligned
    once, not once per epoch (the tensors are never modified in place).
    """
    if alignment not in ALIGNMENTS:
        raise ValueError(f"alignment must be one of {ALIGNMENTS}, got {alignment!r}")
    if alignment == "right":
        return _right_aligned(tuple(source), tuple(target))
    if alignment == "whole":
        return _whole_aligned(tuple(source), tuple(target))
    return _lcs_aligned(tuple(source), tuple(target))


class _Plan:
    """What each source node produces and which group it joins, filled gap by gap."""

    def __init__(self, n: int) -> None:
        self.op = [DELETE] * n
        self.produced: list[list[int]] = [[] for _ in range(n)]
        self.joins: list[int | None] = [None] * n  # anchor whose group a merged node joins

    def targets(self) -> EditTargets:
        n = len(self.op)
        # A node's group is named by the anchor it joins, or by itself; merged runs sit next
        # to their anchor, so equal names are contiguous and numbering the runs is enough.
        name = [i if j is None else j for i, j in enumerate(self.joins)]
        group = [0] * n
        for i in range(1, n):
            group[i] = group[i - 1] + (name[i] != name[i - 1])
        group_t = torch.tensor(group, dtype=torch.long)
        return EditTargets(
            op=torch.tensor(self.op, dtype=torch.long),
            length=torch.tensor([len(p) for p in self.produced], dtype=torch.long),
            group=group_t,
            merge=(group_t[1:] == group_t[:-1]).float() if n > 1 else torch.zeros(0),
        )


def _run_length(items: Sequence[int], equal: Callable[[int], bool]) -> int:
    """How many leading ``items`` satisfy ``equal``."""
    count = 0
    for item in items:
        if not equal(item):
            break
        count += 1
    return count


@lru_cache(maxsize=1 << 17)
def _lcs_aligned(source: tuple[str, ...], target: tuple[str, ...]) -> EditTargets:
    n = len(source)
    plan = _Plan(n)
    matches = [
        (i, j)
        for block in Indel.opcodes(list(source), list(target))
        if block.tag == "equal"
        for i, j in zip(
            range(block.src_start, block.src_end), range(block.dest_start, block.dest_end)
        )
    ]
    for i, j in matches:
        plan.op[i] = KEEP
        plan.produced[i] = [j]
    bounds = [(-1, -1), *matches, (n, len(target))]
    for (left, j_left), (right, j_right) in itertools.pairwise(bounds):
        anchor_l = left if left >= 0 else None
        anchor_r = right if right < n else None
        _fill_gap(
            plan,
            source,
            target,
            list(range(left + 1, right)),
            list(range(j_left + 1, j_right)),
            anchor_l,
            anchor_r,
        )
    _share_equal_runs(plan, source, target)
    for i in range(n):
        if plan.op[i] == KEEP and len(plan.produced[i]) > 1:
            plan.op[i] = INSERT
    return plan.targets()


def _share_equal_runs(plan: _Plan, source: Sequence[str], target: Sequence[str]) -> None:
    """Even production over runs of adjacent matched nodes of one grapheme (module docstring)."""
    n = len(source)

    def sole_producer(i: int) -> bool:
        return plan.op[i] == KEEP and all(target[j] == source[i] for j in plan.produced[i])

    i = 0
    while i < n:
        end = i + 1
        if sole_producer(i):
            while end < n and source[end] == source[i] and sole_producer(end):
                end += 1
        if end - i > 1:
            produced = [j for k in range(i, end) for j in plan.produced[k]]
            share, extra = divmod(len(produced), end - i)
            at = 0
            for k in range(i, end):
                size = share + (1 if k - i < extra else 0)
                plan.produced[k] = produced[at : at + size]
                at += size
        i = end


def _fill_gap(
    plan: _Plan,
    source: Sequence[str],
    target: Sequence[str],
    deleted: list[int],
    inserted: list[int],
    left: int | None,
    right: int | None,
) -> None:
    """Rules 1-3 of the module docstring for one gap between anchors ``left`` and ``right``."""
    # 1. Deleted nodes equal to an anchor merge into it.
    merge_l = _run_length(deleted, lambda i: source[i] == source[left]) if left is not None else 0
    rest = deleted[merge_l:]
    merge_r = (
        _run_length(rest[::-1], lambda i: source[i] == source[right]) if right is not None else 0
    )
    for i in deleted[:merge_l]:
        plan.joins[i] = left
    for i in rest[len(rest) - merge_r :]:
        plan.joins[i] = right
    unmatched = rest[: len(rest) - merge_r]
    # 2. Inserted graphemes equal to an anchor grow it.
    grow_l = _run_length(inserted, lambda j: target[j] == source[left]) if left is not None else 0
    tail = inserted[grow_l:]
    grow_r = (
        _run_length(tail[::-1], lambda j: target[j] == source[right]) if right is not None else 0
    )
    if left is not None:
        plan.produced[left] = plan.produced[left] + inserted[:grow_l]
    if right is not None and grow_r:
        plan.produced[right] = tail[len(tail) - grow_r :] + plan.produced[right]
    extra = tail[: len(tail) - grow_r]
    # 3. Leftovers pair up in order; surplus insertions go to the last pair, else an anchor.
    for i, j in zip(unmatched, extra):
        plan.op[i] = MODIFY
        plan.produced[i] = [j]
    surplus = extra[len(unmatched) :]
    if not surplus:
        return
    if unmatched:
        host = unmatched[min(len(unmatched), len(extra)) - 1]
        plan.produced[host] = plan.produced[host] + surplus
    elif left is not None:
        plan.produced[left] = plan.produced[left] + surplus
    elif right is not None:
        plan.produced[right] = surplus + plan.produced[right]


@lru_cache(maxsize=1 << 17)
def _right_aligned(source: tuple[str, ...], target: tuple[str, ...]) -> EditTargets:
    """Node ``n - 1 - k`` produces target grapheme ``m - 1 - k`` (module docstring)."""
    n, m = len(source), len(target)
    plan = _Plan(n)
    first = max(n - m, 0)  # first node that produces a grapheme
    for i in range(first, n):
        j = i - (n - m)
        produced = list(range(0, j + 1)) if i == first and n < m else [j]
        plan.produced[i] = produced
        plan.op[i] = KEEP if source[i] == target[produced[-1]] else MODIFY
    if m > 0:
        for i in range(first):
            plan.joins[i] = first
    return plan.targets()


@lru_cache(maxsize=1 << 17)
def _whole_aligned(source: tuple[str, ...], target: tuple[str, ...]) -> EditTargets:
    """Every node joins node 0's group; node 0 produces the whole target (module docstring)."""
    n, m = len(source), len(target)
    plan = _Plan(n)
    if n == 0:
        return plan.targets()
    plan.produced[0] = list(range(m))
    if m > 0:
        if target[0] != source[0]:
            plan.op[0] = MODIFY
        else:
            plan.op[0] = KEEP if m == 1 else INSERT
    for i in range(1, n):
        plan.joins[i] = 0
    return plan.targets()
