r"""The training objective of :class:`GraphTransformNet`.

.. math::

    \mathcal{L} = w_s\,\mathcal{L}_{\text{structural}}(\text{grown}, \text{target})
        + w_m\,\mathrm{BCE}(\text{gates}, \text{merge labels})
        + w_c\,\mathrm{CE}(\text{counts}, \text{target counts})
        + w_t\,\mathrm{CE}(\text{output types}, \text{target graphemes})
        + w_e\,\mathrm{CE}(\text{edit head}, \text{edit operation})
        + w_{end}\,\mathrm{BCE}(\text{end head}, \text{spare slot})

Everything supervised comes from one alignment of input and target
(:mod:`.edit_supervision`): each input node produces a run of target graphemes
(its segment) and belongs to a merge group.

- **merge**: BCE of every pool's soft gates :math:`\sigma((s - \tau)/T)` against
  "both ends are in the same merge group" (so the similarity *and* the threshold
  learn across merge patterns, the pairwise straight-through estimator with
  labels); deeper pools read the group of each cluster's first member.
- **count**: CE of the count head of each pooled node against the number of
  target graphemes its members produce (clipped to ``max_children``).
- **type**: CE of each output node's class distribution (pointer-generator)
  against its target grapheme: with the target counts (teacher forcing) output
  node ``s`` of cluster ``k`` is the ``s``-th grapheme cluster ``k`` produces.
- **structural**: :class:`~pyg_grapheme.loss.StructuralLoss` between the grown
  graph (its type distributions, activations, edges and the count head's node
  presence :math:`P(c > s)`) and the target graph. It is permutation invariant:
  it sees what the model predicts, not the order of the text.
- **edit**: CE of the edit-operation head of each input node (auxiliary).
- **end** (networks with ``spare_slots > 0``): BCE of each output node's end head
  against "this node is a spare slot past its cluster's target count"; spare
  slots get no type term.

All weights are constructor arguments (``model.objective.init_args`` in YAML).
The README's ablation gives the measured effect of each term and the command
that reproduces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.utils import scatter

from pyg_grapheme.loss import StructuralLoss
from pyg_grapheme.models.edit_supervision import edit_targets
from pyg_grapheme.models.graph_transform_net import (
    TransformOutput,
    first_member,
    teacher_forced_index,
)
from pyg_grapheme.models.output_classes import ClassSpace

__all__ = ["Supervision", "TransformObjective", "build_supervision", "first_member"]


@dataclass
class Supervision:
    """Targets of one batch of (input, target) pairs, in one class space.

    ``N`` input nodes and ``T`` target nodes over the batch.

    Attributes:
        space: the batch-local :class:`ClassSpace`.
        member_class: ``LongTensor[N]`` class of each input node's grapheme.
        target_class: ``LongTensor[T]`` class of each target node.
        edit_op: ``LongTensor[N]`` edit operation of each input node.
        group: ``LongTensor[N]`` merge group of each input node, unique over the batch.
        length: ``LongTensor[N]`` target graphemes each input node produces (their running
            sum indexes ``target_class``: input node ``i``'s segment starts at
            ``sum(length[:i])``).
    """

    space: ClassSpace
    member_class: Tensor
    target_class: Tensor
    edit_op: Tensor
    group: Tensor
    length: Tensor

    def to(self, device: torch.device) -> Supervision:
        return Supervision(
            self.space,
            *(
                t.to(device)
                for t in (
                    self.member_class,
                    self.target_class,
                    self.edit_op,
                    self.group,
                    self.length,
                )
            ),
        )


def build_supervision(
    inputs: Batch, targets: Batch, vocab: Sequence[str], alignment: str = "lcs"
) -> Supervision:
    """Class ids and alignment targets for a batch (host side, from the strings).

    Raises:
        ValueError: a pair whose target cannot be produced from its input (a non-empty
            target for an empty input), naming the pair.
    """
    sources, dests = list(inputs.clusters), list(targets.clusters)
    if len(sources) != len(dests):
        raise ValueError(f"{len(sources)} input graphs but {len(dests)} target graphs")
    space = ClassSpace.build(vocab, sources, dests)
    ops, groups, lengths = [], [], []
    group_offset = 0
    for source, dest in zip(sources, dests):
        edits = edit_targets(source, dest, alignment)
        if int(edits.length.sum()) != len(dest):
            raise ValueError(
                f"cannot produce target {''.join(dest)!r} from input {''.join(source)!r}: "
                "an empty input has no node to grow from"
            )
        ops.append(edits.op)
        groups.append(edits.group + group_offset)
        lengths.append(edits.length)
        group_offset += len(source)
    empty = torch.zeros(0, dtype=torch.long)
    return Supervision(
        space=space,
        member_class=space.encode(g for clusters in sources for g in clusters),
        target_class=space.encode(g for clusters in dests for g in clusters),
        edit_op=torch.cat(ops) if ops else empty,
        group=torch.cat(groups) if groups else empty,
        length=torch.cat(lengths) if lengths else empty,
    )


class TransformObjective(torch.nn.Module):
    """Structural loss plus the alignment terms (module docstring).

    Args:
        structural (StructuralLoss, optional): The structural loss
            (default: ``StructuralLoss()`` with its defaults).
        structural_weight (float): :math:`w_s`. (default: :obj:`1.0`)
        merge_weight (float): :math:`w_m`, BCE of the pool gates. (default: :obj:`1.0`)
        count_weight (float): :math:`w_c`, CE of the count head. (default: :obj:`1.0`)
        type_weight (float): :math:`w_t`, CE of the output graphemes. (default: :obj:`1.0`)
        edit_weight (float): :math:`w_e`, CE of the edit-operation head. (default: :obj:`0.1`)
        end_weight (float): :math:`w_{end}`, BCE of the end head (networks with spare
            slots only). (default: :obj:`1.0`)
    """

    def __init__(
        self,
        structural: StructuralLoss | None = None,
        structural_weight: float = 1.0,
        merge_weight: float = 1.0,
        count_weight: float = 1.0,
        type_weight: float = 1.0,
        edit_weight: float = 0.1,
        end_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.structural = structural if structural is not None else StructuralLoss()
        self.structural_weight = structural_weight
        self.merge_weight = merge_weight
        self.count_weight = count_weight
        self.type_weight = type_weight
        self.edit_weight = edit_weight
        self.end_weight = end_weight

    def forward(
        self, out: TransformOutput, probs: Tensor, targets: Batch, sup: Supervision
    ) -> dict[str, Tensor]:
        """Every term and ``"loss"``, their weighted sum (scalars). ``out`` must come from
        a forward pass with ``length=sup.length`` (teacher forcing)."""
        zero = probs.sum() * 0.0
        terms: dict[str, Tensor] = {
            "structural": (
                self.structural(self._pred_graph(out, probs), self._target_graph(targets, sup))
                if self.structural_weight
                else zero
            ),
            "merge": self._merge_term(out, sup.group) if self.merge_weight else zero,
            "count": self._count_term(out, sup) if self.count_weight else zero,
            "type": self._type_term(out, probs, sup) if self.type_weight else zero,
            "edit": (
                F.cross_entropy(out.edit_logit, sup.edit_op)
                if self.edit_weight and sup.edit_op.numel()
                else zero
            ),
        }
        if out.end_logit is not None:
            terms["end"] = self._end_term(out, sup) if self.end_weight else zero
        terms["loss"] = (
            self.structural_weight * terms["structural"]
            + self.merge_weight * terms["merge"]
            + self.count_weight * terms["count"]
            + self.type_weight * terms["type"]
            + self.edit_weight * terms["edit"]
        )
        if "end" in terms:
            terms["loss"] = terms["loss"] + self.end_weight * terms["end"]
        return terms

    @staticmethod
    def target_index(out: TransformOutput, sup: Supervision) -> Tensor:
        """``LongTensor[M]``: the target node each output node stands for (teacher forcing);
        ``-1`` for spare slots."""
        num_clusters = out.count_logit.size(0)
        wanted = scatter(sup.length, out.cluster, dim=0, dim_size=num_clusters, reduce="sum")
        wanted = wanted.clamp(max=out.count_logit.size(1) - 1)
        grown = out.split.count
        if out.spare is None:
            mismatch = not torch.equal(grown, wanted)
        else:
            expected = out.split.slot >= wanted.index_select(0, out.split.parent)
            mismatch = bool((grown < wanted).any()) or not torch.equal(out.spare, expected)
        if mismatch:
            raise ValueError(
                "TransformObjective: the output was not grown with the target counts; "
                "call the network with length=supervision.length"
            )
        index = teacher_forced_index(
            sup.length, out.cluster, num_clusters, out.split.parent, out.split.slot
        )
        return index if out.spare is None else torch.where(out.spare, -1, index)

    @staticmethod
    def _pred_graph(out: TransformOutput, probs: Tensor) -> Data:
        pred = Data(
            type=probs,
            act=out.act,
            presence=out.presence,
            edge_index=out.edge_index,
            batch=out.batch,
            num_nodes=probs.size(0),
        )
        pred.num_graphs = out.num_graphs
        return pred

    @staticmethod
    def _target_graph(targets: Batch, sup: Supervision) -> Data:
        num_nodes = sup.target_class.numel()
        target = Data(
            type=sup.target_class,
            act=torch.ones(num_nodes, dtype=torch.get_default_dtype(), device=targets.x.device),
            edge_index=targets.edge_index,
            batch=targets.batch,
            num_nodes=num_nodes,
        )
        target.num_graphs = targets.num_graphs
        return target

    @staticmethod
    def _merge_term(out: TransformOutput, group: Tensor) -> Tensor:
        """BCE of every pool's gates against "both ends are in the same merge group"."""
        losses = []
        node_group = group
        for info in out.infos:
            pairs = info.candidate_index
            if pairs.size(1) > 0:
                label = (node_group[pairs[0]] == node_group[pairs[1]]).to(info.gate.dtype)
                gate = info.gate.clamp(1e-6, 1 - 1e-6)
                losses.append(F.binary_cross_entropy(gate, label, reduction="sum"))
            node_group = node_group[first_member(info.cluster, info.num_clusters)]
        if not losses:
            return out.x.sum() * 0.0
        count = max(sum(int(info.candidate_index.size(1)) for info in out.infos), 1)
        return torch.stack(losses).sum() / count

    @staticmethod
    def _count_term(out: TransformOutput, sup: Supervision) -> Tensor:
        """CE of each pooled node's count logits against the graphemes its members produce."""
        logit = out.count_logit
        if logit.size(0) == 0:
            return logit.sum() * 0.0
        wanted = scatter(sup.length, out.cluster, dim=0, dim_size=logit.size(0), reduce="sum")
        return F.cross_entropy(logit, wanted.clamp(max=logit.size(1) - 1))

    def _type_term(self, out: TransformOutput, probs: Tensor, sup: Supervision) -> Tensor:
        """CE of each output node against the target grapheme it stands for."""
        if probs.size(0) == 0:
            return probs.sum() * 0.0
        index = self.target_index(out, sup)
        real = index >= 0
        if not bool(real.any()):
            return probs.sum() * 0.0
        wanted = sup.target_class.index_select(0, index[real])
        picked = probs[real].gather(1, wanted.unsqueeze(1)).squeeze(1)
        return -torch.log(picked.clamp_min(1e-12)).mean()

    def _end_term(self, out: TransformOutput, sup: Supervision) -> Tensor:
        """BCE of each output node's end head against "a spare slot" (mean over nodes)."""
        assert out.end_logit is not None
        if out.end_logit.numel() == 0:
            return out.end_logit.sum() * 0.0
        spare = self.target_index(out, sup) < 0
        return F.binary_cross_entropy_with_logits(out.end_logit, spare.to(out.end_logit.dtype))
