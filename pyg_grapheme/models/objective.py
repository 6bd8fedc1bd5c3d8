r"""The training objective of :class:`GraphTransformNet`.

.. math::

    \mathcal{L} = w_t\,\mathcal{L}_{\text{transducer}}
        + w_m\,\mathrm{BCE}(\text{gates}, \text{merge labels})
        + w_u\,\mathcal{L}_{\text{smoothing}}
        + w_s\,\mathcal{L}_{\text{structural}}(\text{grown}, \text{target})

- **transducer**: :math:`-\log p(y \mid x)`, summed over every monotonic alignment of
  the pooled nodes to the target units (the forward algorithm,
  :mod:`.monotonic_alignment`), per target unit plus one end per pair. Pairs that no
  alignment produces (a target longer than ``max_children`` units per pooled node) are
  left out and counted (``infeasible``).
- **merge**: BCE of the pool's soft gates :math:`\sigma((s - \tau)/T)` against "both
  ends are in the same merge group" of the transducer's own best alignment
  (:func:`~.graph_transform_net.merge_groups`), so the similarity *and* the threshold
  learn across merge patterns (the pairwise straight-through estimator with labels).
- **smoothing**: label smoothing for the transducer: at every point where the best
  alignment writes a unit, the cross-entropy of the uniform distribution over the output
  vocabulary against the model's choice, so the model does not grow over-confident on
  words it has memorised (what label smoothing does for a sequence-to-sequence model).
- **structural**: :class:`~pyg_grapheme.loss.StructuralLoss` between the grown chain
  (each output node's class distribution at its point of the best alignment) and the
  target chain. It is permutation invariant: it sees what the model writes, not where.

All weights are constructor arguments (``model.objective.init_args`` in YAML).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from pyg_grapheme.loss import StructuralLoss
from pyg_grapheme.models.graph_transform_net import TransformOutput, merge_groups
from pyg_grapheme.models.unit_targets import UnitTargets

__all__ = ["TransformObjective"]


class TransformObjective(torch.nn.Module):
    """Transducer likelihood, merge labels and the structural loss (module docstring).

    Args:
        structural (StructuralLoss, optional): The structural loss
            (default: ``StructuralLoss()`` with its defaults).
        transducer_weight (float): :math:`w_t`. (default: :obj:`1.0`)
        merge_weight (float): :math:`w_m`. (default: :obj:`1.0`)
        structural_weight (float): :math:`w_s`. (default: :obj:`0.0`)
        smoothing_weight (float): :math:`w_u`, label smoothing. (default: :obj:`0.0`)
        merge_warmup (float): share of training over which the merge weight rises
            linearly from 0 to :math:`w_m` (``progress`` of :meth:`forward`). The merge
            labels come from the transducer's own best alignment, which means nothing
            before the transducer has learnt: an untrained one has many nodes write
            nothing, its labels ask to merge them, and the merges make the transducer
            harder to train. On G2P that is a wave of merges in the first epochs, which
            some seeds never leave. (default: :obj:`0.0`, the full weight from the start)
    """

    def __init__(
        self,
        structural: StructuralLoss | None = None,
        transducer_weight: float = 1.0,
        merge_weight: float = 1.0,
        structural_weight: float = 0.0,
        smoothing_weight: float = 0.0,
        merge_warmup: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= merge_warmup <= 1.0:
            raise ValueError(f"merge_warmup must be in [0, 1], got {merge_warmup}")
        self.merge_warmup = merge_warmup
        self.structural = structural if structural is not None else StructuralLoss()
        self.transducer_weight = transducer_weight
        self.merge_weight = merge_weight
        self.structural_weight = structural_weight
        self.smoothing_weight = smoothing_weight

    def forward(
        self, out: TransformOutput, targets: UnitTargets, progress: float = 1.0
    ) -> dict[str, Tensor]:
        """Every term, ``"loss"`` (their weighted sum) and ``"infeasible"`` (the number of
        pairs left out), as scalars. ``out`` is the network's pass on ``targets``;
        ``progress`` the share of training done (0 to 1; 1 outside training), which
        scales the merge weight by ``min(1, progress / merge_warmup)``."""
        if out.read_targets is not None:
            # A backward model's grown chain writes each target last unit first.
            targets = out.read_targets
        zero = out.log_likelihood.sum() * 0.0
        merge_weight = self.merge_weight * self.merge_scale(progress)
        terms = {
            "transducer": self._transducer_term(out, targets),
            "merge": self._merge_term(out) if self.merge_weight else zero,
            "structural": (self._structural_term(out, targets) if self.structural_weight else zero),
            "smoothing": self._smoothing_term(out) if self.smoothing_weight else zero,
        }
        terms["loss"] = (
            self.transducer_weight * terms["transducer"]
            + merge_weight * terms["merge"]
            + self.structural_weight * terms["structural"]
            + self.smoothing_weight * terms["smoothing"]
        )
        terms["infeasible"] = (~out.feasible).sum().to(zero.dtype)
        return terms

    def merge_scale(self, progress: float) -> float:
        r"""The merge warm-up's factor at ``progress`` (share of training done):
        :math:`\min(1, \text{progress} / \text{merge\_warmup})`, 1 without a warm-up."""
        if self.merge_warmup <= 0.0:
            return 1.0
        return min(1.0, max(progress, 0.0) / self.merge_warmup)

    @staticmethod
    def transducer_totals(out: TransformOutput, targets: UnitTargets) -> tuple[Tensor, Tensor]:
        """The transducer term's numerator and denominator over a batch:
        :math:`-\\sum \\log p(y \\mid x)` over the feasible pairs, and their units and
        ends. Sums over several batches give the term over all of them
        (:meth:`lightning_modules.module.GraphTransformModule.validation_nll`)."""
        ok = out.feasible
        return -out.log_likelihood.sum(), (targets.num_units * ok).sum() + ok.sum()

    @classmethod
    def _transducer_term(cls, out: TransformOutput, targets: UnitTargets) -> Tensor:
        """:math:`-\\sum \\log p(y \\mid x)` over the feasible pairs, per unit and end."""
        nll, events = cls.transducer_totals(out, targets)
        return nll / events.clamp(min=1)

    @staticmethod
    def _smoothing_term(out: TransformOutput) -> Tensor:
        """Mean uniform cross-entropy at the points where the best alignment writes."""
        uniform = out.lattice.uniform_ce  # [B, n, K + 1, m + 1]
        if uniform is None or uniform.size(3) <= 1:
            return out.log_likelihood.sum() * 0.0
        m = uniform.size(3) - 1
        start = torch.cumsum(out.alignment, 1) - out.alignment  # [B, n]
        unit = torch.arange(m, device=uniform.device).view(1, 1, m)
        writes = (unit >= start.unsqueeze(2)) & (unit < (start + out.alignment).unsqueeze(2))
        total = writes.sum()
        if int(total) == 0:
            return out.log_likelihood.sum() * 0.0
        # Unit j of node i is written at slot j - a_i.
        slot = (unit - start.unsqueeze(2)).clamp(0, uniform.size(2) - 1).unsqueeze(2)
        at_slot = uniform[..., :m].gather(2, slot).squeeze(2)  # [B, n, m]
        return (at_slot * writes).sum() / total

    @staticmethod
    def _merge_term(out: TransformOutput) -> Tensor:
        """BCE of the pool's gates against "same merge group" of the best alignment."""
        info = out.infos[0]
        pairs = info.candidate_index
        if pairs.size(1) == 0:
            return info.gate.sum() * 0.0
        group = merge_groups(out.count, out.pooled_batch, info.cluster)
        ok = out.feasible.index_select(0, info.batch.index_select(0, pairs[0]))
        if not bool(ok.any()):
            return info.gate.sum() * 0.0
        label = (group[pairs[0]] == group[pairs[1]]).to(info.gate.dtype)
        gate = info.gate.clamp(1e-6, 1 - 1e-6)
        return F.binary_cross_entropy(gate[ok], label[ok])

    def _structural_term(self, out: TransformOutput, targets: UnitTargets) -> Tensor:
        """StructuralLoss of the grown chain (class distributions along the best
        alignment) against the target chain."""
        probs = self.grown_class_probs(out, targets)
        pred = Data(type=probs, edge_index=out.edge_index, batch=out.batch, num_nodes=probs.size(0))
        pred.num_graphs = out.num_graphs
        unit_class = targets.unit_class[targets.unit_class >= 0]
        target_batch = torch.repeat_interleave(
            torch.arange(out.num_graphs, device=unit_class.device), targets.num_units
        )
        start = torch.cumsum(targets.num_units, 0) - targets.num_units
        node = torch.arange(unit_class.numel(), device=unit_class.device)
        follows = (node + 1 < unit_class.numel()) & (
            (node + 1 - start.index_select(0, target_batch))
            < targets.num_units.index_select(0, target_batch)
        )
        chain = torch.stack([node[follows], node[follows] + 1])
        target = Data(type=unit_class, edge_index=chain, batch=target_batch,
                      num_nodes=unit_class.numel())  # fmt: skip
        target.num_graphs = out.num_graphs
        return self.structural(pred, target)

    @staticmethod
    def grown_class_probs(out: TransformOutput, targets: UnitTargets) -> Tensor:
        """``[M, C]``: each grown node's class distribution at its lattice point (output
        node ``s`` of pooled node ``i`` is unit ``a_i + s``, ``a_i`` the units before ``i``).
        Needs the network's pass with ``with_classes=True``."""
        class_logp = out.lattice.class_logp
        if class_logp is None:
            raise ValueError(
                "TransformObjective: the structural term needs the class distributions; "
                "call the network with with_classes=True"
            )
        parent, slot = out.split.parent, out.split.slot
        per_graph = torch.bincount(out.pooled_batch, minlength=out.num_graphs)
        first = torch.cumsum(per_graph, 0) - per_graph
        graph = out.pooled_batch.index_select(0, parent)
        before = torch.cumsum(out.count, 0) - out.count  # units before each pooled node
        graph_before = before.index_select(0, first.clamp(max=max(out.count.numel() - 1, 0)))
        start = before.index_select(0, parent) - graph_before.index_select(0, graph)
        node = parent - first.index_select(0, graph)
        return class_logp[graph, node, slot, start + slot].exp()
