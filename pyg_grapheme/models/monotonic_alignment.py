r"""Monotonic alignments of pooled input nodes to output units: forward and Viterbi.

A graph's pooled chain has :math:`n` nodes; its target has :math:`m` output units
:math:`y_0 \ldots y_{m-1}`. A *monotonic alignment* lets node :math:`0` write the
first :math:`c_0` units, node :math:`1` the next :math:`c_1`, and so on, with
:math:`0 \le c_i \le K` and :math:`\sum_i c_i = m`: exactly the morph of a
:class:`~pyg_grapheme.nn.NodeSplit` that grows node :math:`i` into :math:`c_i`
children, read in order. A transducer scores each step of node :math:`i` that has
written :math:`s` units of its own and :math:`j` units in all:

- :math:`e_{isj} = \log p(y_j \mid i, s, y_{<j})`, node :math:`i` writes the next unit,
- :math:`f_{isj} = \log p(\text{end} \mid i, s, y_{<j})`, node :math:`i` ends its output,

so with :math:`a_i = c_0 + \dots + c_{i-1}` an alignment :math:`c` has

.. math::

    \log p(y, c) = \sum_i \Big(\sum_{s < c_i} e_{i,s,a_i + s} + f_{i,c_i,a_i + c_i}\Big).

**Forward.** :math:`\log p(y) = \log \sum_c p(y, c)` by the recursion over nodes

.. math::

    \alpha_0(j) = [j = 0],\qquad
    \alpha_{i+1}(j) = \operatorname{logsumexp}_{0 \le c \le K}\Big(\alpha_i(j - c)
        + \sum_{s < c} e_{i,s,j-c+s} + f_{i,c,j}\Big),

and :math:`\log p(y) = \alpha_n(m)`. Every node's segments (end, length) are scored
at once, before the recursion, from prefix sums along the lattice's diagonals, so a step
is one window of :math:`\alpha` and one reduction over the batch, in log space; the
gradient is autograd's, exact, and equals the posterior occupation of each lattice
point. Scores that do not depend on the slot :math:`s` are
given as ``[B, n, m]`` and ``[B, n, m + 1]`` tensors; slot-dependent ones as
``[B, n, K + 1, m]`` and ``[B, n, K + 1, m + 1]``.

**Viterbi.** The same recursion with :math:`\max` for :math:`\operatorname{logsumexp}`,
and back-pointers, gives the best alignment (counts :math:`c_i`) and its score.

Pairs that no alignment can produce (:math:`m > K n`, or :math:`n = 0 < m`) get
:data:`LOG_ZERO`-scale scores; :func:`feasible` tells them apart so a loss can leave
them out instead of returning infinities.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["LOG_ZERO", "feasible", "monotonic_forward", "monotonic_viterbi"]

LOG_ZERO = -1.0e30
"""Log-probability of an impossible lattice path: finite, so no gradient is NaN."""


def feasible(num_nodes: Tensor, num_units: Tensor, max_per_node: int | None) -> Tensor:
    """``BoolTensor[B]``: pairs that at least one monotonic alignment produces.

    Args:
        num_nodes: ``LongTensor[B]`` pooled nodes :math:`n` per graph.
        num_units: ``LongTensor[B]`` target units :math:`m` per graph.
        max_per_node: :math:`K`, or ``None`` for no limit.
    """
    ok = (num_nodes > 0) | (num_units == 0)
    if max_per_node is not None:
        ok = ok & (num_units <= num_nodes * max_per_node)
    return ok


def _slotted(
    emit: Tensor, end: Tensor, num_nodes: Tensor, num_units: Tensor, max_per_node: int | None
) -> tuple[Tensor, Tensor, int]:
    """Check the shapes and return ``(emit [B, n, S, m], end [B, n, S, m + 1], K)`` with
    ``S = K + 1`` slots (broadcast views for slot-free scores)."""
    if emit.dim() not in (3, 4) or end.dim() != emit.dim():
        raise ValueError(
            f"emit must be [B, n, m] and end [B, n, m + 1] (or both with a slot axis "
            f"[B, n, K + 1, ...]), got {list(emit.shape)} and {list(end.shape)}"
        )
    batch, n, m = emit.size(0), emit.size(1), emit.size(-1)
    expected = (*emit.shape[:-1], m + 1)
    if end.shape != expected:
        raise ValueError(f"end must be [B, n, m + 1] = {list(expected)}, got {list(end.shape)}")
    if num_nodes.shape != (batch,) or num_units.shape != (batch,):
        raise ValueError(
            f"num_nodes and num_units must be [B] = [{batch}], got {list(num_nodes.shape)} "
            f"and {list(num_units.shape)}"
        )
    if batch and (
        int(num_nodes.min()) < 0
        or int(num_nodes.max()) > n
        or int(num_units.min()) < 0
        or int(num_units.max()) > m
    ):
        raise ValueError(
            f"num_nodes must lie in [0, {n}] and num_units in [0, {m}], got "
            f"{num_nodes.tolist()} and {num_units.tolist()}"
        )
    if max_per_node is not None and max_per_node < 0:
        raise ValueError(f"max_per_node must be >= 0 or None, got {max_per_node}")
    if emit.dim() == 4:
        slots = emit.size(2)
        if max_per_node is None or slots != max_per_node + 1:
            raise ValueError(
                f"slot-dependent scores need max_per_node = K with K + 1 = {slots} slots, "
                f"got max_per_node={max_per_node}"
            )
        top = max_per_node
    else:
        top = m if max_per_node is None else min(max_per_node, m)
        emit = emit.unsqueeze(2).expand(batch, n, top + 1, m)
        end = end.unsqueeze(2).expand(batch, n, top + 1, m + 1)
    # Units past num_units score 0 so the prefix sums stay finite (they are never read).
    real = torch.arange(m, device=emit.device).view(1, 1, 1, m) < num_units.view(batch, 1, 1, 1)
    emit = torch.where(real, emit, torch.zeros_like(emit))
    return emit, end, min(top, m)


def _segment_scores(emit: Tensor, end: Tensor, top: int) -> Tensor:
    r"""``[B, n, m + 1, top + 1]``: entry ``(i, j, k)`` scores node ``i`` writing the
    ``c = top - k`` units ``j - c .. j - 1`` and ending there,
    :math:`\sum_{s < c} e_{i,s,j-c+s} + f_{i,c,j}` (``LOG_ZERO`` where ``j < c``).

    Every node's segments at once, from prefix sums along the lattice's diagonals, so the
    recursion over nodes is one window of ``alpha`` and one reduction a step. The length
    axis runs backwards (``k = top - c``) so that a step's window of ``alpha`` is a
    plain view (:func:`_windows`)."""
    batch, n, _, m = emit.shape
    device = emit.device
    length = torch.arange(top + 1, device=device).view(top + 1, 1)  # c
    stop = torch.arange(m + 1, device=device).view(1, m + 1)  # j
    if m > 0 and top > 0:
        # diagonal[b, i, s, a] = e[b, i, s, a + s], 0 past the last unit.
        slot = torch.arange(top, device=device).view(top, 1)
        unit = slot + torch.arange(m + 1, device=device).view(1, m + 1)  # a + s
        diagonal = torch.gather(
            emit[:, :, :top], 3, unit.clamp(max=m - 1).expand(batch, n, top, m + 1)
        )
        diagonal = torch.where(unit < m, diagonal, torch.zeros_like(diagonal))
        # by_start[b, i, c, a]: units a .. a + c - 1 written by node i.
        by_start = torch.nn.functional.pad(torch.cumsum(diagonal, dim=2), (0, 0, 1, 0))
        written = torch.gather(
            by_start, 3, (stop - length).clamp(min=0).expand(batch, n, top + 1, m + 1)
        )
    else:
        written = emit.new_zeros(batch, n, top + 1, m + 1)
    score = written + end[:, :, : top + 1]  # [B, n, c, j]
    score = torch.where(stop >= length, score, torch.full_like(score, LOG_ZERO))
    return score.flip(2).transpose(2, 3).contiguous()


def _windows(alpha: Tensor, top: int) -> Tensor:
    """``[B, m + 1, top + 1]`` view: entry ``(j, k)`` is ``alpha(j - top + k)``, that is
    ``alpha(j - c)`` for ``c = top - k`` (``LOG_ZERO`` before 0)."""
    padded = torch.nn.functional.pad(alpha, (top, 0), value=LOG_ZERO)
    return padded.unfold(1, top + 1, 1)


def monotonic_forward(
    emit: Tensor,
    end: Tensor,
    num_nodes: Tensor,
    num_units: Tensor,
    max_per_node: int | None = None,
) -> Tensor:
    r""":math:`\log p(y)`, summed over every monotonic alignment (module docstring).

    Args:
        emit: ``[B, n, m]`` or ``[B, n, K + 1, m]``: :math:`e`, log-probability that a
            node writes unit :math:`j` next (padding is ignored).
        end: ``[B, n, m + 1]`` or ``[B, n, K + 1, m + 1]``: :math:`f`, log-probability
            that a node ends after :math:`j` units.
        num_nodes: ``LongTensor[B]`` nodes of each graph (the first ``num_nodes[b]`` rows).
        num_units: ``LongTensor[B]`` units of each target.
        max_per_node: :math:`K`, the most units one node writes; ``None``: no limit
            (slot-free scores only).

    Returns:
        ``[B]`` log-likelihoods; about :data:`LOG_ZERO` for pairs that are not
        :func:`feasible`. A graph with no node and no unit scores 0.
    """
    emit, end, top = _slotted(emit, end, num_nodes, num_units, max_per_node)
    batch, n, _, m = emit.shape
    alpha = torch.full((batch, m + 1), LOG_ZERO, dtype=emit.dtype, device=emit.device)
    alpha[:, 0] = 0.0
    score = _segment_scores(emit, end, top)
    for i in range(n):
        stepped = torch.logsumexp(_windows(alpha, top) + score[:, i], dim=2)
        alpha = torch.where((i < num_nodes).unsqueeze(1), stepped, alpha)
    return alpha.gather(1, num_units.view(batch, 1)).squeeze(1)


def monotonic_viterbi(
    emit: Tensor,
    end: Tensor,
    num_nodes: Tensor,
    num_units: Tensor,
    max_per_node: int | None = None,
) -> tuple[Tensor, Tensor]:
    r"""The best monotonic alignment and its score (module docstring).

    Args: as :func:`monotonic_forward`.

    Returns:
        ``(count, score)``: ``LongTensor[B, n]``, the units :math:`c_i` each node writes
        (zeros past ``num_nodes``; they sum to ``num_units`` for feasible pairs), and
        ``[B]`` the best :math:`\log p(y, c)`. Ties go to the alignment whose later
        nodes write fewer units.
    """
    with torch.no_grad():
        emit, end, top = _slotted(emit, end, num_nodes, num_units, max_per_node)
        batch, n, _, m = emit.shape
        alpha = torch.full((batch, m + 1), LOG_ZERO, dtype=emit.dtype, device=emit.device)
        alpha[:, 0] = 0.0
        back = torch.zeros(n, batch, m + 1, dtype=torch.long, device=emit.device)
        # Lengths ascending again, so a tie goes to the shorter segment (max takes the first).
        score = _segment_scores(emit, end, top).flip(3)
        for i in range(n):
            best, length = (_windows(alpha, top).flip(2) + score[:, i]).max(dim=2)
            active = (i < num_nodes).unsqueeze(1)
            alpha = torch.where(active, best, alpha)
            back[i] = torch.where(active, length, 0)
        score = alpha.gather(1, num_units.view(batch, 1)).squeeze(1)
        count = torch.zeros(batch, n, dtype=torch.long, device=emit.device)
        position = num_units.clone()
        rows = torch.arange(batch, device=emit.device)
        for i in range(n - 1, -1, -1):
            length = back[i, rows, position]
            count[:, i] = length
            position = position - length
    return count, score
