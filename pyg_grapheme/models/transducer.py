r"""Growth by a transducer: each pooled node writes 0..K units, the alignment is learnt.

The pooled chain (after :class:`~pyg_grapheme.nn.ThresholdMergePool`) is read in order.
At lattice point :math:`(i, j)`, node :math:`i` having the encoding
:math:`\mathbf{x}_i` and :math:`j` units written (prediction network state
:math:`\mathbf{d}_j`, :mod:`.prediction_network`), a joint layer

.. math::

    \mathbf{z}_{ij} = \tanh(W_x \mathbf{x}_i + W_d \mathbf{d}_j + \mathbf{b})

scores, in one softmax,

- *end*: node :math:`i` writes nothing more (the walk moves to node :math:`i + 1`);
- *generate* :math:`v`: one logit per unit of the output vocabulary;
- *copy* :math:`k`: one logit per member input node :math:`k` of cluster :math:`i`
  (query from :math:`\mathbf{z}_{ij}`, key from the member's encoding), which writes that
  member's grapheme: any grapheme, in any script, seen in training or not.

Every logit also depends on how many units node :math:`i` wrote so far, :math:`s`,
through the node's *slot features* :math:`\mathbf{t}_{is} = \tanh(W_x \mathbf{x}_i +
\mathbf{e}_s)`: the end logit gains :math:`w^\top \mathbf{t}_{is}`, so a node can count
(``"ab" -> "aabb"``, at any length), every generation logit gains
:math:`g^\top \mathbf{t}_{is}` and every copy logit :math:`q^\top \mathbf{t}_{is}`, so
whether a node generates or copies next follows its own progress: in
``"ab" -> "[ab]"`` the last node copies at :math:`s = 0` and generates ``]`` at
:math:`s = 1`, at any length. Without the last two (``slot_units=False``) the choice
of unit is the same at every slot, and a node that writes two kinds of unit must tell
them apart from the prediction network's state: from the count of units written, which
means nothing on outputs longer than the training ones, or from comparing the last unit
written with its own grapheme, which a new script does not teach (bracket on
``pairs.yaml``: 0.003 exact on Latin strings twice the training length and 0.57-0.59
on Greek, Cyrillic and emoji without them; 1.000, 1.000, 1.000 and 0.965 with them).
Which unit is generated, and which member copied, stays the joint's choice: a slot
term per vocabulary unit made the lattice's tensors ``K + 1`` times wider (G2P epochs
about three times longer), and one read off the members' copy keys took dashes
(``"abc" -> "a-b-c"``) to 0.115 exact on emoji, whose keys Latin training never shows.
The slot terms do not read the prediction network, so the forward algorithm stays
exact. A unit's probability sums its generation and every copy that writes it (a
pointer-generator). These give the lattice of :mod:`.monotonic_alignment`, whose
forward algorithm sums over every way the pooled nodes can share the target in
reading order: the training loss is :math:`-\log p(y \mid x)`, exact, with no fixed
alignment. Its Viterbi path says which node wrote which unit: the growth counts of the
morph (:class:`~pyg_grapheme.nn.NodeSplit`) and the merge labels of the pool
(:func:`merge_labels`) come from it. Inference walks the same lattice
(:mod:`.transducer_search`: greedy, or beam search).

Each node writes at most ``max_children`` units (:math:`K`); a pair whose target is
longer than :math:`K` times its pooled nodes has no alignment and is left out of the
loss (:func:`~pyg_grapheme.models.monotonic_alignment.feasible`; the training module
counts them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import Linear
from torch_geometric.utils import to_dense_batch

from pyg_grapheme.models.monotonic_alignment import (
    LOG_ZERO,
    feasible,
    monotonic_forward,
    monotonic_viterbi,
)
from pyg_grapheme.models.prediction_network import DecoderState, PredictionNetwork

__all__ = ["TransducerContext", "TransducerGrowth", "TransducerLattice", "dense_members"]


def _logsumexp(logits: Tensor) -> Tensor:
    """``logsumexp`` over the last axis, :data:`LOG_ZERO` where it is empty (no vocabulary,
    no member)."""
    if logits.size(-1) == 0:
        return logits.new_full(logits.shape[:-1], LOG_ZERO)
    return torch.logsumexp(logits, dim=-1)


def dense_members(cluster: Tensor, num_clusters: int) -> Tensor:
    """``LongTensor[K, S]``: the input nodes of each cluster in input order, ``-1`` padded
    (``S`` the largest cluster; ``S = 0`` when there is no input node)."""
    if cluster.numel() == 0:
        return cluster.new_zeros(num_clusters, 0)
    order = torch.sort(cluster, stable=True).indices
    size = torch.bincount(cluster, minlength=num_clusters)
    start = torch.cumsum(size, 0) - size
    rank = torch.arange(cluster.numel(), device=cluster.device) - start.index_select(
        0, cluster.index_select(0, order)
    )
    members = cluster.new_full((num_clusters, int(size.max())), -1)
    members[cluster.index_select(0, order), rank] = order
    return members


@dataclass
class TransducerContext:
    """One batch's pooled chains, densely per graph, as the transducer reads them.

    ``B`` graphs, at most ``n`` pooled nodes, ``S`` members and ``N`` input nodes each.

    Attributes:
        node: ``[B, n, J]`` the joint's projection of each pooled node.
        num_nodes: ``LongTensor[B]`` pooled nodes per graph.
        member_class: ``LongTensor[B, n, S]`` class of each member's grapheme, ``-1`` padded.
        key: ``[B, n, S, J]`` copy key of each member.
        key_bias: ``[B, n, S]`` copy bias of each member (:data:`LOG_ZERO` on padding).
        memory: ``[B, N, H]`` encoded input nodes, for the prediction network's attention.
        memory_mask: ``BoolTensor[B, N]`` real input nodes.
        pooled_index: ``LongTensor[B, n]`` row of each pooled node in the flat pooled
            tensors (``-1`` padded).
    """

    node: Tensor
    num_nodes: Tensor
    member_class: Tensor
    key: Tensor
    key_bias: Tensor
    memory: Tensor
    memory_mask: Tensor
    pooled_index: Tensor

    def select(self, graphs: Tensor) -> TransducerContext:
        """The context of ``graphs`` (``LongTensor[R]``, repeats allowed), e.g. per hypothesis."""
        return TransducerContext(
            *(getattr(self, f).index_select(0, graphs) for f in self.__dataclass_fields__)
        )


@dataclass
class TransducerLattice:
    """Log-probabilities of the lattice of a batch of (input, target) pairs.

    Attributes:
        emit: ``[B, n, K + 1, m]`` :math:`\\log p(y_j \\mid i, s, y_{<j})`, node :math:`i`
            having written :math:`s` units.
        end: ``[B, n, K + 1, m + 1]`` :math:`\\log p(\\text{end} \\mid i, s, y_{<j})`.
        num_nodes: ``LongTensor[B]``.
        num_units: ``LongTensor[B]``.
        class_logp: ``[B, n, K + 1, m + 1, C]`` each point's distribution over the
            batch's classes given that it writes (generation and copies summed), or
            ``None`` when not asked for.
        uniform_ce: ``[B, n, K + 1, m + 1]`` cross-entropy of the uniform distribution over the
            output vocabulary against each point's choice given that it writes (what label
            smoothing adds), or ``None``.
    """

    emit: Tensor
    end: Tensor
    num_nodes: Tensor
    num_units: Tensor
    class_logp: Tensor | None = None
    uniform_ce: Tensor | None = None


class TransducerGrowth(torch.nn.Module):
    r"""The transducer growth policy (module docstring).

    Its layers are built by :meth:`bind`, which :class:`GraphTransformNet` calls with its
    width and output vocabulary, so a configuration names each option once.

    Args:
        max_children (int, optional): :math:`K`, the most units one pooled node writes.
            (default: :obj:`16`)
        decoder_layers (int, optional): LSTM layers of the prediction network.
            (default: :obj:`1`)
        decoder_heads (int, optional): Heads of the prediction network's attention to the
            input nodes; ``0``: no attention. With attention, one node can write a whole
            word whose other nodes stay silent, and their silence labels them to merge into
            it: the alignment collapses onto the first node (Bulgarian G2P: 0.33 dev exact
            match at epoch 15 with 4 heads, 0.67 with none). Without it every input fact
            reaches a unit through the node that writes it. (default: :obj:`0`)
        dropout (float, optional): Dropout in the prediction network and the joint layer.
            (default: :obj:`0.0`)
        joint_layers (int, optional): Layers of the joint: the first combines node and
            state (:math:`\tanh(W_x \mathbf{x}_i + W_d \mathbf{d}_j)`), each further one
            adds a residual :math:`\tanh(W \mathbf{z})`, so the choice at a point can
            depend on node and state jointly, not only through their sum.
            (default: :obj:`1`)
        slot_units (bool, optional): Generation and copy logits that depend on how many
            units the node wrote so far (module docstring), as the end logit does: one
            term for every generation, one for every copy. Their weights start at zero,
            so an untrained model scores as without them. Off by default so that
            checkpoints saved before the option existed load as the models they were;
            ``conf/default.yaml`` (and so ``pairs.yaml`` and the task configs) turns it on.
            (default: :obj:`False`)
    """

    def __init__(
        self,
        max_children: int = 16,
        decoder_layers: int = 1,
        decoder_heads: int = 0,
        dropout: float = 0.0,
        joint_layers: int = 1,
        slot_units: bool = False,
    ) -> None:
        super().__init__()
        if max_children < 1:
            raise ValueError(f"TransducerGrowth: max_children must be >= 1, got {max_children}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"TransducerGrowth: dropout must be in [0, 1), got {dropout}")
        if joint_layers < 1:
            raise ValueError(f"TransducerGrowth: joint_layers must be >= 1, got {joint_layers}")
        self.joint_layers = joint_layers
        self.slot_units = slot_units
        self.max_children = max_children
        self.decoder_layers = decoder_layers
        self.decoder_heads = decoder_heads
        self.dropout = dropout
        self.vocab_size = -1

    def bind(self, channels: int, output_vocab: Sequence[str]) -> None:
        """Build the layers for width ``channels`` and the output vocabulary."""
        self.channels = channels
        self.vocab_size = len(output_vocab)
        self.decoder = PredictionNetwork(
            channels, self.decoder_layers, self.decoder_heads, self.dropout
        )
        self.node_proj = Linear(channels, channels)
        self.state_proj = Linear(channels, channels, bias=False)
        self.drop = torch.nn.Dropout(self.dropout)
        self.joint = torch.nn.ModuleList(
            Linear(channels, channels) for _ in range(self.joint_layers - 1)
        )
        self.end_head = Linear(channels, 1)
        self.slot_embedding = torch.nn.Embedding(self.max_children + 1, channels)
        self.slot_end = Linear(channels, 1, bias=False)
        self.vocab_head = Linear(channels, self.vocab_size) if self.vocab_size else None
        self.copy_query = Linear(channels, channels)
        self.copy_key = Linear(channels, channels, bias=False)
        self.copy_bias = Linear(channels, 1)
        # Slot terms of the unit logits (module docstring): generation and copy query.
        # Slot terms of writing at all (module docstring): generating, copying.
        self.slot_generate = Linear(channels, 1, bias=False) if self.slot_units else None
        self.slot_copy = Linear(channels, 1, bias=False) if self.slot_units else None
        self.reset_parameters()

    def extend_vocabulary(self, count: int) -> None:
        """Append ``count`` units to the output vocabulary (after :meth:`bind`).

        The generation head gains ``count`` rows, initialised as a fresh ``Linear`` would
        be; the rows of the existing units are kept exactly, at the same indices, so a
        trained model keeps what it learnt and a vocabulary id keeps its meaning. The head
        is a new module with new parameters, which an optimizer built before does not hold;
        with an empty vocabulary it is created.

        Args:
            count: units appended (``>= 0``; ``0`` changes nothing).
        """
        if self.vocab_size < 0:
            raise RuntimeError("TransducerGrowth.extend_vocabulary: bind() has not been called")
        if count < 0:
            raise ValueError(f"TransducerGrowth.extend_vocabulary: count must be >= 0, got {count}")
        if count == 0:
            return
        like = self.end_head.weight
        fresh = Linear(self.channels, count, device=like.device, dtype=like.dtype)
        if self.vocab_head is not None:
            grown = Linear(
                self.channels, self.vocab_size + count, device=like.device, dtype=like.dtype
            )
            with torch.no_grad():
                grown.weight.copy_(torch.cat([self.vocab_head.weight, fresh.weight]))
                grown.bias.copy_(torch.cat([self.vocab_head.bias, fresh.bias]))
            fresh = grown
        self.vocab_head = fresh
        self.vocab_size += count

    def reset_parameters(self) -> None:
        if self.vocab_size < 0:
            return
        self.decoder.reset_parameters()
        for layer in self.joint:
            layer.reset_parameters()
        torch.nn.init.normal_(self.slot_embedding.weight, std=0.1)
        torch.nn.init.zeros_(self.slot_end.weight)
        for layer in (self.slot_generate, self.slot_copy):
            if layer is not None:
                torch.nn.init.zeros_(layer.weight)
        for layer in (
            self.node_proj, self.state_proj, self.end_head, self.vocab_head, self.copy_query,
            self.copy_key, self.copy_bias,
        ):  # fmt: skip
            if layer is not None:
                layer.reset_parameters()

    # ----------------------------------------------------------------- context
    def context(
        self,
        h: Tensor,
        batch: Tensor,
        cluster: Tensor,
        pooled: Tensor,
        pooled_batch: Tensor,
        member_class: Tensor,
        num_graphs: int,
    ) -> TransducerContext:
        """Dense per-graph views of a batch (:class:`TransducerContext`).

        Args:
            h: ``[N, H]`` encoded input nodes; ``batch``: their graphs (sorted).
            cluster: ``LongTensor[N]`` pooled node of each input node.
            pooled: ``[K, H]`` pooled nodes; ``pooled_batch``: their graphs (sorted).
            member_class: ``LongTensor[N]`` class of each input node's grapheme.
            num_graphs: ``B``.
        """
        num_clusters = pooled.size(0)
        members = dense_members(cluster, num_clusters)  # [K, S]
        real = members >= 0
        safe = members.clamp(min=0)
        key = self.copy_key(h)
        key_bias = self.copy_bias(h).squeeze(1)
        if members.size(1) > 0:
            member_key = key[safe] * real.unsqueeze(2)
            member_bias = torch.where(real, key_bias[safe], LOG_ZERO)
            member_cls = torch.where(real, member_class[safe], -1)
        else:
            member_key = key.new_zeros(num_clusters, 0, key.size(1))
            member_bias = key.new_zeros(num_clusters, 0)
            member_cls = members
        node, node_mask = to_dense_batch(
            self.node_proj(pooled), pooled_batch, batch_size=num_graphs
        )
        index = torch.arange(num_clusters, device=pooled.device)
        pooled_index, _ = to_dense_batch(index, pooled_batch, fill_value=-1, batch_size=num_graphs)
        dense_key, _ = to_dense_batch(member_key, pooled_batch, batch_size=num_graphs)
        dense_bias, _ = to_dense_batch(
            member_bias, pooled_batch, fill_value=LOG_ZERO, batch_size=num_graphs
        )
        dense_cls, _ = to_dense_batch(
            member_cls, pooled_batch, fill_value=-1, batch_size=num_graphs
        )
        memory, memory_mask = to_dense_batch(h, batch, batch_size=num_graphs)
        return TransducerContext(
            node=node,
            num_nodes=node_mask.sum(dim=1),
            member_class=dense_cls,
            key=dense_key,
            key_bias=dense_bias,
            memory=memory,
            memory_mask=memory_mask,
            pooled_index=pooled_index,
        )

    # ----------------------------------------------------------------- joint
    def _scores(
        self, node: Tensor, state: Tensor, key: Tensor, key_bias: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Joint logits for every pair of a node row and a state row.

        Args:
            node: ``[..., P, 1, J]`` projected nodes; ``state``: ``[..., 1, Q, H]`` or
                broadcastable prediction states.
            key: ``[..., P, S, J]``; ``key_bias``: ``[..., P, S]``.

        Returns:
            ``(end [..., P, Q], vocab [..., P, Q, V], copy [..., P, Q, S])`` logits.
        """
        z = torch.tanh(node + self.state_proj(state))
        for layer in self.joint:
            z = z + torch.tanh(layer(z))
        z = self.drop(z)
        if self.vocab_head is not None:
            # One product for the end and the vocabulary: one pass over the lattice's
            # features (the largest tensor of a step) instead of two, forward and backward.
            weight = torch.cat([self.end_head.weight, self.vocab_head.weight])
            bias = torch.cat([self.end_head.bias, self.vocab_head.bias])
            end, vocab = torch.nn.functional.linear(z, weight, bias).split(
                [1, self.vocab_size], dim=-1
            )
        else:
            end, vocab = self.end_head(z), z.new_zeros(*z.shape[:-1], 0)
        end = end.squeeze(-1)
        # (W z + b) . k = z . (W^T k) + b . k: the query map moves onto the few keys
        # instead of running over every lattice point.
        weight, bias = self.copy_query.weight, self.copy_query.bias
        folded = torch.matmul(key, weight) / math.sqrt(self.channels)
        copy = torch.einsum("...pqj,...psj->...pqs", z, folded)
        folded_bias = (key * bias).sum(-1) / math.sqrt(self.channels)
        return end, vocab, copy + (key_bias + folded_bias).unsqueeze(-2)

    def lattice(
        self,
        ctx: TransducerContext,
        unit_class: Tensor,
        unit_rows: Tensor,
        num_units: Tensor,
        num_classes: int | None = None,
    ) -> TransducerLattice:
        """Teacher-forced lattice of a batch (module docstring).

        Args:
            ctx: the batch's :meth:`context`.
            unit_class: ``LongTensor[B, m]`` class of each target unit (vocabulary ids
                ``< V`` first, as :class:`~pyg_grapheme.models.output_classes.ClassSpace`),
                anything on padding.
            unit_rows: ``[B, m, F]`` feature rows of the target units (prediction network).
            num_units: ``LongTensor[B]`` units of each target.
            num_classes: also return each point's class distribution over ``C`` classes
                (:attr:`TransducerLattice.class_logp`) when given.
        """
        d = self.decoder(unit_rows, ctx.memory, ctx.memory_mask)  # [B, m + 1, H]
        end, vocab, copy = self._scores(
            ctx.node.unsqueeze(2), d.unsqueeze(1), ctx.key, ctx.key_bias
        )
        slot_end, slot_gen, slot_copy = self._slot_scores(ctx.node)  # [B, n, S] each
        end = end.unsqueeze(2) + slot_end.unsqueeze(3)  # [B, n, S, m + 1]
        slot_gen, slot_copy = slot_gen.unsqueeze(3), slot_copy.unsqueeze(3)
        # Generating and copying at every point, then the slot terms: [B, n, S, m + 1].
        units = torch.logaddexp(
            _logsumexp(vocab).unsqueeze(2) + slot_gen, _logsumexp(copy).unsqueeze(2) + slot_copy
        )
        norm = torch.logaddexp(end, units)
        batch, n, m = unit_class.size(0), ctx.node.size(1), unit_class.size(1)
        target = unit_class.view(batch, 1, m, 1)
        if self.vocab_size:
            index = unit_class.clamp(0, self.vocab_size - 1).view(batch, 1, m, 1)
            gen = vocab[:, :, :m].gather(-1, index.expand(batch, n, m, 1)).squeeze(-1)
            gen = torch.where(
                (target.squeeze(-1) >= 0) & (target.squeeze(-1) < self.vocab_size), gen, LOG_ZERO
            )
        else:
            gen = vocab.new_full((batch, n, m), LOG_ZERO)
        match = (ctx.member_class.unsqueeze(2) == target) & (target >= 0)  # [B, n, m, S_m]
        copied = _logsumexp(torch.where(match, copy[:, :, :m], LOG_ZERO))  # [B, n, m]
        written = torch.logaddexp(
            gen.unsqueeze(2) + slot_gen, copied.unsqueeze(2) + slot_copy
        )  # [B, n, S, m]
        emit = written - norm[..., :m]
        class_logp = None
        if num_classes is not None:
            class_logp = self._class_logp(
                vocab.unsqueeze(2) + slot_gen.unsqueeze(4), copy.unsqueeze(2) + slot_copy.unsqueeze(4),
                units, ctx.member_class.unsqueeze(2), num_classes,
            )  # fmt: skip
        # Cross-entropy of a uniform choice over the vocabulary, given a unit is written.
        if self.vocab_size:
            uniform = units - (vocab.mean(-1).unsqueeze(2) + slot_gen)
        else:
            uniform = units.new_zeros(units.shape)
        return TransducerLattice(
            emit=emit,
            end=end - norm,
            num_nodes=ctx.num_nodes,
            num_units=num_units,
            class_logp=class_logp,
            uniform_ce=uniform,
        )

    def _slot_scores(self, node: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        r"""How each node's logits change with the units it wrote (module docstring), from
        its slot features :math:`\mathbf{t}_{is} = \tanh(W_x \mathbf{x}_i + \mathbf{e}_s)`
        for slots :math:`s = 0..K` (``node``: ``[..., J]`` projected nodes).

        Returns:
            ``(end, generate, copy)``, each ``[..., S]``: the terms added to the end logit,
            to every generation logit and to every copy logit (zeros for the last two with
            ``slot_units=False``).
        """
        t = torch.tanh(node.unsqueeze(-2) + self.slot_embedding.weight)  # [..., S, J]
        end = self.slot_end(t).squeeze(-1)
        if self.slot_generate is None or self.slot_copy is None:
            return end, torch.zeros_like(end), torch.zeros_like(end)
        return end, self.slot_generate(t).squeeze(-1), self.slot_copy(t).squeeze(-1)

    def _class_logp(
        self, vocab: Tensor, copy: Tensor, units: Tensor, member_class: Tensor, num_classes: int
    ) -> Tensor:
        """``[..., C]`` log-probability of each class *given that a unit is written*,
        generation and copies summed, at every point (``member_class [..., P, S]``
        broadcast over the points' second axis; ``units``: the log-normaliser over units)."""
        shape = (*vocab.shape[:-1], num_classes)
        probs = vocab.new_zeros(shape)
        if self.vocab_size:
            probs[..., : self.vocab_size] = torch.exp(vocab - units.unsqueeze(-1))
        cls = member_class.unsqueeze(-2).expand(*copy.shape)
        copy_p = torch.exp(copy - units.unsqueeze(-1)) * (cls >= 0)
        probs = probs.scatter_add(-1, cls.clamp(min=0), copy_p)
        return torch.log(probs.clamp_min(1e-30))

    # ----------------------------------------------------------------- training
    def log_likelihood(self, lattice: TransducerLattice) -> tuple[Tensor, Tensor]:
        """``(log p(y|x) [B], feasible BoolTensor[B])`` summed over every alignment.

        A pair is infeasible when no alignment has a non-zero probability: its target is
        longer than ``max_children`` units per pooled node, or holds a unit that is
        neither in the output vocabulary nor a grapheme of its input. Its
        log-likelihood is reported as 0 (left out of a loss), never as an infinity."""
        logp = monotonic_forward(
            lattice.emit, lattice.end, lattice.num_nodes, lattice.num_units, self.max_children
        )
        ok = feasible(lattice.num_nodes, lattice.num_units, self.max_children)
        ok = ok & (logp > LOG_ZERO / 2)
        return torch.where(ok, logp, torch.zeros_like(logp)), ok

    def best_alignment(self, lattice: TransducerLattice) -> Tensor:
        """``LongTensor[B, n]``: units each pooled node writes on the Viterbi path."""
        count, _ = monotonic_viterbi(
            lattice.emit.detach(), lattice.end.detach(), lattice.num_nodes, lattice.num_units,
            self.max_children,
        )  # fmt: skip
        return count

    # ----------------------------------------------------------------- inference
    def begin(self, ctx: TransducerContext) -> tuple[Tensor, DecoderState]:
        """Prediction state of ``R = B`` empty outputs: ``(d [R, H], state)``."""
        return self.decoder.begin(ctx.memory, ctx.memory_mask)

    def advance(
        self, ctx: TransducerContext, unit_rows: Tensor, state: DecoderState
    ) -> tuple[Tensor, DecoderState]:
        """Read one unit per sequence: ``(d [R, H], state)`` (``ctx`` selected per row)."""
        return self.decoder.step(unit_rows, state, ctx.memory, ctx.memory_mask)

    def point_logp(
        self, ctx: TransducerContext, node: Tensor, slot: Tensor, d: Tensor, num_classes: int
    ) -> tuple[Tensor, Tensor]:
        """At one lattice point per row: ``(end [R], class [R, C])`` log-probabilities
        (the class ones include the probability of writing at all).

        Args:
            ctx: the context selected per row (``R`` rows).
            node: ``LongTensor[R]`` current pooled node of each row (within its graph).
            slot: ``LongTensor[R]`` units that node wrote so far (at most ``max_children``).
            d: ``[R, H]`` prediction state of each row.
        """
        rows = torch.arange(node.numel(), device=node.device)
        node_row = ctx.node[rows, node]
        key = ctx.key[rows, node].unsqueeze(1)
        key_bias = ctx.key_bias[rows, node].unsqueeze(1)
        end, vocab, copy = self._scores(
            node_row.view(-1, 1, 1, node_row.size(-1)), d.view(-1, 1, 1, d.size(-1)), key, key_bias
        )
        slot_end, slot_gen, slot_copy = self._slot_scores(node_row)  # [R, S] each
        end = end.view(-1) + slot_end[rows, slot]
        vocab = vocab + slot_gen[rows, slot].view(-1, 1, 1, 1)
        copy = copy + slot_copy[rows, slot].view(-1, 1, 1, 1)
        units = torch.logsumexp(torch.cat([vocab, copy], dim=-1), dim=-1).view(-1)
        norm = torch.logaddexp(end, units)
        member_class = ctx.member_class[rows, node].unsqueeze(1)
        class_logp = self._class_logp(
            vocab, copy, units.view(-1, 1, 1), member_class, num_classes
        ).view(node.numel(), num_classes)
        return end - norm, class_logp + (units - norm).unsqueeze(1)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(max_children={self.max_children}, "
            f"decoder_layers={self.decoder_layers}, decoder_heads={self.decoder_heads})"
        )
