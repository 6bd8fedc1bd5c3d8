r"""Supervision from edit operations: which input nodes to keep, delete, modify.

The earlier system's supervised path, made grapheme-level and merge-aware.
Input and target are aligned by rapidfuzz's Levenshtein opcodes over their
grapheme clusters (not code points). From the alignment:

- **edit operation** of each input node, one of ``EDIT_OPS``:
  ``keep`` (equal), ``delete``, ``modify`` (replaced), ``insert`` (a kept node
  after which target graphemes are inserted; insertion at the very start is
  put on the first node);
- **target cluster** of each input node: a kept or modified node ``i`` aligned
  to target position ``j`` anchors cluster ``j``. A run of deleted nodes
  between two anchors ``L`` and ``R`` is cut once: the first part joins ``L``,
  the rest ``R``, at the cut that gives the most nodes whose own grapheme is
  the one their cluster emits (ties: the longest left part). A run with one
  anchor joins it. So ``"aabccc" -> "abc"`` merges the runs whichever ``c``
  the alignment kept, and ``"abc" -> "ab"`` merges ``c`` into ``b``. This is
  how a deletion becomes a *merge*; clusters stay contiguous in the chain;
- **merge label** of each chain edge ``(i, i + 1)``: 1 when both ends share a
  target cluster. These are the labels for the pool's soft gates.

``alignment="right"`` replaces the Levenshtein alignment by a fixed,
content-free one: the target's last grapheme is anchored to the input's last
node, the one before to the node before, and so on; every node left of the
first anchor joins the first target cluster. This is the canonical alignment
for outputs that summarise the whole input and are written right-aligned
(arithmetic results: the units digit always sits on the last node, tens on
the one before, and the merge pattern only depends on the result's length).
Rapidfuzz's alignment of ``"(+ 16 9)" -> "25"`` instead pairs digits by
accidental equality, a different place for every problem, which the model
cannot predict. Anchors whose grapheme differs from the target's are
``modify``, the rest of the nodes ``delete``; a target longer than the input
anchors its last ``n`` graphemes (the leading ones get no node).

If the target is empty every input node is labelled ``delete`` and all of
them share cluster 0 (a pool cannot produce zero nodes from a non-empty
graph; that case is documented, not hidden).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch
from rapidfuzz.distance import Levenshtein
from torch import Tensor

__all__ = ["ALIGNMENTS", "EDIT_OPS", "EditTargets", "edit_targets"]

ALIGNMENTS = ("levenshtein", "right")

EDIT_OPS = ("keep", "delete", "modify", "insert")
KEEP, DELETE, MODIFY, INSERT = range(4)


@dataclass(frozen=True)
class EditTargets:
    """Per-input-node supervision for one (input, target) pair.

    Attributes:
        op: ``LongTensor[n]`` index into ``EDIT_OPS``.
        cluster: ``LongTensor[n]`` target position whose grapheme the node's cluster emits.
        merge: ``FloatTensor[max(n - 1, 0)]`` 1 where nodes ``i`` and ``i + 1`` share a cluster.
    """

    op: Tensor
    cluster: Tensor
    merge: Tensor


def edit_targets(
    source: Sequence[str], target: Sequence[str], alignment: str = "levenshtein"
) -> EditTargets:
    """Align two grapheme sequences and derive the per-node supervision.

    ``alignment``: ``"levenshtein"`` (rapidfuzz opcodes, default) or ``"right"``
    (right-aligned, see the module docstring). Results are cached per
    (source, target, alignment): a training pair is aligned once, not once per
    epoch (the tensors are never modified in place).
    """
    if alignment not in ALIGNMENTS:
        raise ValueError(f"alignment must be one of {ALIGNMENTS}, got {alignment!r}")
    if alignment == "right":
        return _cached_right_aligned(tuple(source), tuple(target))
    return _edit_targets(tuple(source), tuple(target))


@lru_cache(maxsize=1 << 17)
def _cached_right_aligned(source: tuple[str, ...], target: tuple[str, ...]) -> EditTargets:
    return _right_aligned(source, target)


@lru_cache(maxsize=1 << 17)
def _edit_targets(source: tuple[str, ...], target: tuple[str, ...]) -> EditTargets:
    n = len(source)
    op = [KEEP] * n
    anchor: list[int | None] = [None] * n
    for block in Levenshtein.opcodes(list(source), list(target)):
        src = range(block.src_start, block.src_end)
        dst = range(block.dest_start, block.dest_end)
        if block.tag == "equal":
            for i, j in zip(src, dst):
                anchor[i] = j
        elif block.tag == "replace":
            paired = min(len(src), len(dst))
            for i, j in zip(src[:paired], dst[:paired]):
                op[i], anchor[i] = MODIFY, j
            for i in src[paired:]:
                op[i] = DELETE
            if len(dst) > paired and n > 0:
                last = src[paired - 1]
                op[last] = MODIFY  # the modified node also carries the inserted tail
        elif block.tag == "delete":
            for i in src:
                op[i] = DELETE
        elif block.tag == "insert" and n > 0:
            host = max(block.src_start - 1, 0)
            if op[host] == KEEP:
                op[host] = INSERT
    cluster = _clusters_from_anchors(source, target, anchor)
    cluster_t = torch.tensor(cluster, dtype=torch.long)
    merge = (cluster_t[1:] == cluster_t[:-1]).float() if n > 1 else torch.zeros(0)
    return EditTargets(op=torch.tensor(op, dtype=torch.long), cluster=cluster_t, merge=merge)


def _clusters_from_anchors(
    source: Sequence[str], target: Sequence[str], anchor: Sequence[int | None]
) -> list[int]:
    """Give every unanchored run of nodes to its left and/or right anchor."""
    n = len(anchor)
    cluster = [a if a is not None else 0 for a in anchor]
    i = 0
    while i < n:
        if anchor[i] is not None:
            i += 1
            continue
        end = i
        while end < n and anchor[end] is None:
            end += 1
        left = anchor[i - 1] if i > 0 else None
        right = anchor[end] if end < n else None
        if left is None and right is None:
            cut = end - i  # no anchor at all: one cluster, 0
            left = 0
        elif right is None:
            cut = end - i
        elif left is None:
            cut = 0
        else:
            run = source[i:end]
            scores = [
                sum(g == target[left] for g in run[:c]) + sum(g == target[right] for g in run[c:])
                for c in range(len(run) + 1)
            ]
            best = max(scores)
            cut = max(c for c, score in enumerate(scores) if score == best)
        for k in range(i, end):
            cluster[k] = left if k - i < cut else right
        i = end
    return cluster


def _right_aligned(source: Sequence[str], target: Sequence[str]) -> EditTargets:
    """Target position ``m - n + i`` for node ``i``, clipped at 0 (module docstring)."""
    n, m = len(source), len(target)
    shift = m - n
    cluster = [max(i + shift, 0) for i in range(n)]
    op = [DELETE] * n
    for i in range(n):
        j = i + shift
        if j >= 0 and m > 0:
            op[i] = KEEP if source[i] == target[j] else MODIFY
    if m == 0:
        cluster = [0] * n
    cluster_t = torch.tensor(cluster, dtype=torch.long)
    merge = (cluster_t[1:] == cluster_t[:-1]).float() if n > 1 else torch.zeros(0)
    return EditTargets(op=torch.tensor(op, dtype=torch.long), cluster=cluster_t, merge=merge)
