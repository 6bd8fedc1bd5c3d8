r"""Inference for the transducer: greedy walk and beam search over its lattice.

A hypothesis is a point of the lattice: the current pooled node :math:`i`, the units
written so far (the prediction network's state reads them) and how many of them node
:math:`i` wrote. One step moves every hypothesis by one lattice edge: *end* (to node
:math:`i + 1`; after the last node the hypothesis is finished) or *write* a unit
(generated or copied, their probabilities summed). Every hypothesis of a graph has made
the same number of steps, so their scores compare directly.

- ``beam = 1`` is the greedy walk: the most likely edge at every point.
- ``beam = k`` keeps the :math:`k` best hypotheses of each graph after every step
  (over every extension of every hypothesis); finished ones leave the beam. The search
  stops for a graph once its best finished score is at least every live score (scores
  only fall), so the best finished hypothesis is the best the beam can reach.

Nodes write at most ``max_children`` units; a node that wrote them all can only end.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from pyg_grapheme.models.monotonic_alignment import LOG_ZERO
from pyg_grapheme.models.transducer import TransducerContext, TransducerGrowth

__all__ = ["Hypothesis", "transducer_search"]

_DEAD = LOG_ZERO / 2
"""Scores at or below this are dead hypotheses (no real path is that unlikely)."""


@dataclass
class Hypothesis:
    """A finished output of one graph.

    Attributes:
        units: class id of every written unit, in order.
        parent: pooled node (within the graph) that wrote each unit.
        score: :math:`\\log p(y, c \\mid x)` of this path (output and alignment).
    """

    units: list[int]
    parent: list[int]
    score: float


def transducer_search(
    policy: TransducerGrowth,
    ctx: TransducerContext,
    class_rows: Tensor,
    beam: int = 1,
) -> list[list[Hypothesis]]:
    """Decode every graph of a batch.

    Args:
        policy: the trained transducer.
        ctx: the batch's :meth:`TransducerGrowth.context` (``B`` graphs).
        class_rows: ``[C, F]`` feature rows of the batch's classes (what the prediction
            network reads for each written unit).
        beam: hypotheses kept per graph; 1 is greedy.

    Returns:
        For each graph, its finished hypotheses, best first (at most ``beam``; exactly one
        for ``beam = 1``).
    """
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    num_graphs = ctx.num_nodes.numel()
    num_classes = class_rows.size(0)
    device = ctx.node.device
    if num_graphs == 0:
        return []
    rows = num_graphs * beam
    graph = torch.arange(num_graphs, device=device).repeat_interleave(beam)
    row_ctx = ctx.select(graph)
    num_nodes = row_ctx.num_nodes
    score = torch.full((rows,), LOG_ZERO, dtype=ctx.node.dtype, device=device)
    score[::beam] = 0.0
    node = torch.zeros(rows, dtype=torch.long, device=device)
    written = torch.zeros(rows, dtype=torch.long, device=device)
    d, state = policy.begin(row_ctx)
    units = torch.zeros(rows, 0, dtype=torch.long, device=device)
    parent = torch.zeros(rows, 0, dtype=torch.long, device=device)
    finished: list[list[Hypothesis]] = [[] for _ in range(num_graphs)]
    for g in (num_nodes[::beam] == 0).nonzero().view(-1).tolist():
        finished[g].append(Hypothesis([], [], 0.0))
    score = torch.where(num_nodes == 0, LOG_ZERO, score)
    width = 1 + num_classes
    finished_best = torch.full((num_graphs,), LOG_ZERO, dtype=score.dtype, device=device)

    while True:
        live = score > _DEAD
        if not bool(live.any()):
            break
        at = torch.where(live, node, 0).clamp(max=max(ctx.node.size(1) - 1, 0))
        slot = written.clamp(max=policy.max_children)
        end_lp, class_lp = policy.point_logp(row_ctx, at, slot, d, num_classes)
        class_lp = torch.where((written >= policy.max_children).unsqueeze(1), LOG_ZERO, class_lp)
        step = torch.cat([end_lp.unsqueeze(1), class_lp], dim=1)
        candidate = torch.where(live.unsqueeze(1), score.unsqueeze(1) + step, LOG_ZERO)
        best, index = candidate.view(num_graphs, beam * width).topk(beam, dim=1)
        source = index // width + torch.arange(num_graphs, device=device).unsqueeze(1) * beam
        source, choice, best = source.view(-1), (index % width).view(-1), best.view(-1)
        ends = choice == 0
        node = node.index_select(0, source) + ends.long()
        written = torch.where(ends, 0, written.index_select(0, source) + 1)
        units = units.index_select(0, source)
        parent = parent.index_select(0, source)
        d = d.index_select(0, source)
        state = (state[0].index_select(1, source), state[1].index_select(1, source))
        score = torch.where(best > _DEAD, best, LOG_ZERO)
        writes = ~ends & (score > _DEAD)
        if bool(writes.any()):
            chosen = (choice - 1).clamp(min=0)
            units = torch.cat([units, torch.where(writes, chosen, -1).unsqueeze(1)], dim=1)
            parent = torch.cat([parent, torch.where(writes, node, -1).unsqueeze(1)], dim=1)
            new_d, new_state = policy.advance(row_ctx, class_rows.index_select(0, chosen), state)
            d = torch.where(writes.unsqueeze(1), new_d, d)
            keep = writes.view(1, -1, 1)
            state = (
                torch.where(keep, new_state[0], state[0]),
                torch.where(keep, new_state[1], state[1]),
            )
        done = ends & (node >= num_nodes) & (score > _DEAD)
        for r in done.nonzero().view(-1).tolist():
            kept = units[r] >= 0
            finished[r // beam].append(
                Hypothesis(units[r][kept].tolist(), parent[r][kept].tolist(), float(score[r]))
            )
        finished_best = finished_best.scatter_reduce(
            0, graph[done], score[done], reduce="amax", include_self=True
        )
        score = torch.where(done, LOG_ZERO, score)
        # A graph stops once its best finished hypothesis beats all of its live ones.
        best_live = score.view(num_graphs, beam).amax(dim=1)
        stop = (finished_best > _DEAD) & (finished_best >= best_live)
        score = torch.where(stop.index_select(0, graph), LOG_ZERO, score)
    return [sorted(hyps, key=lambda h: -h.score)[:beam] for hyps in finished]
