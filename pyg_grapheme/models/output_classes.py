r"""Output classes of a pooled node: copy a member's grapheme, or generate one.

A pooled node ``k`` (a cluster of input nodes) emits one grapheme. Its
distribution mixes two sources in one softmax (a pointer-generator):

- **copy**: one logit :math:`a_i` per member input node ``i`` of cluster ``k``;
  choosing member ``i`` emits that node's own grapheme ``g_i``. This lets the
  model emit any grapheme it sees in its input, in any script, including ones
  never seen in training.
- **generate**: one logit :math:`b_{kv}` per grapheme ``v`` of a fixed output
  vocabulary ``V`` learned from training targets (e.g. the digits of
  arithmetic results), for graphemes the input does not contain.

.. math::

    Z_k = \sum_{i \in k} e^{a_i} + \sum_{v \in V} e^{b_{kv}},\qquad
    P_k(c) = \frac{1}{Z_k}\Big(\sum_{i \in k:\, g_i = c} e^{a_i}
             + \sum_{v \in V:\, v = c} e^{b_{kv}}\Big)

Classes live in a *batch-local* :class:`ClassSpace`: the output vocabulary
first (ids ``0 .. |V|-1``, stable across batches), then every other grapheme
of the batch's inputs and targets in order of first appearance. Predicted
distributions and target class ids of one batch share that space, which is
what :class:`~pyg_grapheme.loss.StructuralLoss` compares.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from pyg_grapheme.models.edit_supervision import edit_targets
from pyg_grapheme.text import segment

__all__ = ["ClassSpace", "generated_graphemes", "pointer_generator_probs"]


@dataclass
class ClassSpace:
    """Grapheme <-> class id table for one batch (output vocabulary first)."""

    graphemes: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, vocab: Sequence[str], *cluster_lists: Iterable[Sequence[str]]) -> ClassSpace:
        """Vocabulary ids first, then unseen graphemes of each list in order."""
        space = cls()
        space.add(vocab)
        for lists in cluster_lists:
            for clusters in lists:
                space.add(clusters)
        return space

    def add(self, clusters: Iterable[str]) -> None:
        for g in clusters:
            if g not in self.index:
                self.index[g] = len(self.graphemes)
                self.graphemes.append(g)

    def __len__(self) -> int:
        return len(self.graphemes)

    def encode(self, clusters: Iterable[str], device: torch.device | None = None) -> Tensor:
        """``LongTensor[n]`` class ids; raises ``KeyError`` naming an unknown grapheme."""
        ids = []
        for g in clusters:
            if g not in self.index:
                raise KeyError(f"grapheme {g!r} is not in this batch's class space")
            ids.append(self.index[g])
        return torch.tensor(ids, dtype=torch.long, device=device)


def pointer_generator_probs(
    member_logit: Tensor,
    member_class: Tensor,
    cluster: Tensor,
    vocab_logit: Tensor,
    vocab_class: Tensor,
    num_classes: int,
) -> Tensor:
    r"""Class distribution of every pooled node (see the module docstring).

    Args:
        member_logit: ``[N_in]`` copy logit :math:`a_i` of each input node.
        member_class: ``LongTensor[N_in]`` class id of each input node's grapheme.
        cluster: ``LongTensor[N_in]`` pooled node of each input node (``K`` nodes).
        vocab_logit: ``[K, |V|]`` generation logits :math:`b_{kv}` (``|V|`` may be 0).
        vocab_class: ``LongTensor[|V|]`` class id of each vocabulary grapheme.
        num_classes: size ``C`` of the class space.

    Returns:
        ``[K, C]`` probabilities, rows summing to 1 (log-sum-exp stabilised).
    """
    num_pooled = vocab_logit.size(0)
    dtype = member_logit.dtype
    # Per-cluster maximum of all logits, for a stable exponent (constant w.r.t. the gradient).
    shift = torch.full((num_pooled,), float("-inf"), dtype=dtype, device=member_logit.device)
    shift = shift.scatter_reduce(0, cluster, member_logit.detach(), reduce="amax")
    if vocab_logit.size(1) > 0:
        shift = torch.maximum(shift, vocab_logit.detach().amax(dim=1))
    member_exp = torch.exp(member_logit - shift[cluster])
    vocab_exp = torch.exp(vocab_logit - shift.unsqueeze(1))
    total = torch.zeros(num_pooled, dtype=dtype, device=member_logit.device)
    total = total.index_add(0, cluster, member_exp) + vocab_exp.sum(dim=1)
    probs = torch.zeros(num_pooled, num_classes, dtype=dtype, device=member_logit.device)
    probs = probs.index_put((cluster, member_class), member_exp, accumulate=True)
    if vocab_logit.size(1) > 0:
        probs = probs.index_add(1, vocab_class, vocab_exp)
    return probs / total.unsqueeze(1)


def generated_graphemes(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """The output vocabulary: graphemes a target needs that the node producing them cannot
    copy, sorted.

    Under the ``"lcs"`` alignment (:mod:`.edit_supervision`) every target grapheme is
    produced by one merge group; the group can copy the graphemes of its members and
    must generate the others. That covers graphemes absent from the input (the
    separator of ``"abc" -> "a b c"``, the digits of an arithmetic result) and
    graphemes present elsewhere in it (a word moved to the front of an answer).
    Tasks that only keep, delete, merge or repeat graphemes need none.

    Args:
        pairs: ``(input, target)`` texts.
    """
    needed: set[str] = set()
    for source_text, target_text in pairs:
        source, target = segment(source_text), segment(target_text)
        edits = edit_targets(source, target, "lcs")
        start = 0
        members: dict[int, set[str]] = {}
        for grapheme, group in zip(source, edits.group.tolist()):
            members.setdefault(group, set()).add(grapheme)
        for group, length in zip(edits.group.tolist(), edits.length.tolist()):
            needed.update(g for g in target[start : start + length] if g not in members[group])
            start += length
        if not source:
            needed.update(target)
    return sorted(needed)
