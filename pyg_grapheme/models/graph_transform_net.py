r"""GraphTransformNet: embed graphemes, pass messages, attend, merge, emit.

.. code-block:: text

    x [N, 77] (vocabulary-free grapheme features, pyg_grapheme.text)
      -> NodeInputs: ++ periodic position, chain-end flags (, run features)
      -> Linear embedding                                         [N, H]
      -> ContextStack: GraphemeConv x L (left/right context), attention x A   [N, H]
      -> merge features z = [softplus(g(h)) * signature ++ c(h)]  [N, 64 + H/2]
      -> ThresholdMergePool(z) x num_pools                        cluster [N] -> [K]
      -> pooled h = weighted mean of members' h (the pool's member weights)
         + an embedding of the cluster size                       [K, H]
      -> ContextStack on the pooled chain (post_pool_layers)      [K, H]
      -> NodeSplit: count head per pooled node (0..max_children), each pooled
         node becomes that many chained children                  [M, H]
      -> ContextStack on the grown chain (post_growth_layers)     [M, H]
      -> OutputDecoder (decoder_layers > 0): each output node reads the grapheme
         emitted before it and attends to the input nodes          [M, H]
      -> heads: per output node a pointer over its parent cluster's input nodes
                and generation logits (pointer-generator, output_classes),
                activation, end of its cluster's output (spare_slots > 0);
                edit operation (keep/delete/modify/insert) per input node

In training the counts are the target counts from the alignment
(:mod:`.edit_supervision`, teacher forcing: output node ``s`` of cluster ``k``
is then the ``s``-th target grapheme the cluster produces); at inference they
are the count head's most likely counts. Counts of 0 delete, so the output may
be longer or shorter than the input, or empty. With ``spare_slots`` the decoder
shares the decision: each cluster grows up to that many more nodes (a random
number in training, all of them at inference) and the decoder ends its output.
With ``growth="decoder"`` the decoder makes the whole decision, as a transducer
does: it writes each cluster's graphemes in reading order and ends the cluster
with an end node, so every length is decided after what came before it was
written (the count head is then trained but not read).

Merge features. The pool compares nodes by the cosine of
:math:`z_i = [\,\mathrm{softplus}(g(h_i))\,\mathbf{s}_i \,\|\, c(h_i)\,]`, where
:math:`\mathbf{s}_i` is the *fixed* hashed signature of the node's grapheme
(a unit vector), :math:`g` a learnt scalar gain and :math:`c` a learnt context
vector. Two equal graphemes have :math:`\mathbf{s}_i \cdot \mathbf{s}_j = 1`;
two different ones about :math:`\mathcal{N}(0, 1/64)`, in any script, seen in
training or not. The model learns *when* identity matters (a large gain:
"merge equal neighbours") and when context does (a small gain and dissimilar
contexts: "keep these apart"), but it cannot learn to confuse two graphemes it
never saw.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import Linear, ModuleList, Sequential
from torch_geometric.data import Batch
from torch_geometric.utils import scatter

from pyg_grapheme.models.context_stack import ContextStack
from pyg_grapheme.models.edit_supervision import EDIT_OPS
from pyg_grapheme.models.node_inputs import NodeInputs
from pyg_grapheme.models.output_classes import ClassSpace, pointer_generator_probs
from pyg_grapheme.models.output_decoder import OutputDecoder
from pyg_grapheme.models.text_transform import transform_text
from pyg_grapheme.nn import MergeInfo, MorphHistory, NodeSplit, SplitInfo, ThresholdMergePool
from pyg_grapheme.text import FeatureLayout, cluster_features

__all__ = [
    "MAX_CLUSTER_SIZE",
    "GraphTransformNet",
    "TransformOutput",
    "copy_pairs",
    "first_member",
    "teacher_forced_index",
]

MAX_CLUSTER_SIZE = 16
"""Cluster sizes the size embedding tells apart (larger ones share the last entry)."""


def copy_pairs(cluster: Tensor, parent: Tensor, num_clusters: int) -> tuple[Tensor, Tensor]:
    """The (input node, output node) pairs of the copy pointer: every output node with
    every member of its parent cluster.

    Args:
        cluster: ``LongTensor[N]`` pooled node of each input node.
        parent: ``LongTensor[M]`` pooled node of each output node.
        num_clusters: ``K``.

    Returns:
        ``(member [P], child [P])``, grouped by output node, members in input order.
    """
    order = torch.sort(cluster, stable=True).indices  # input nodes grouped by cluster
    size = torch.bincount(cluster, minlength=num_clusters)
    start = torch.cumsum(size, 0) - size
    pairs_of_child = size.index_select(0, parent)
    num_pairs = int(pairs_of_child.sum()) if parent.numel() > 0 else 0
    child = torch.repeat_interleave(
        torch.arange(parent.numel(), device=parent.device), pairs_of_child, output_size=num_pairs
    )
    first_pair = torch.cumsum(pairs_of_child, 0) - pairs_of_child
    rank = torch.arange(num_pairs, device=parent.device) - first_pair.index_select(0, child)
    member = order.index_select(0, start.index_select(0, parent.index_select(0, child)) + rank)
    return member, child


def first_member(cluster: Tensor, num_clusters: int) -> Tensor:
    """``LongTensor[K]``: the smallest input node of each cluster."""
    index = torch.arange(cluster.numel(), device=cluster.device)
    start = torch.full((num_clusters,), cluster.numel(), dtype=torch.long, device=cluster.device)
    return start.scatter_reduce(0, cluster, index, reduce="amin")


def teacher_forced_index(
    length: Tensor, cluster: Tensor, num_clusters: int, parent: Tensor, slot: Tensor
) -> Tensor:
    """``LongTensor[M]``: the target grapheme each output node stands for when the network
    grew by the target counts (teacher forcing): output node ``s`` of cluster ``k`` is the
    ``s``-th grapheme that ``k``'s members produce.

    Args:
        length: ``LongTensor[N]`` target graphemes each input node produces (in input order,
            graphs concatenated, so their running sum indexes the concatenated targets).
        cluster: ``LongTensor[N]`` pooled node of each input node (each cluster a run of
            consecutive input nodes).
        num_clusters: ``K``.
        parent: ``LongTensor[M]`` cluster of each output node.
        slot: ``LongTensor[M]`` place of each output node among its siblings.
    """
    start = torch.cumsum(length, 0) - length
    first = first_member(cluster, num_clusters)
    return start.index_select(0, first).index_select(0, parent) + slot


@dataclass
class TransformOutput:
    """Everything one forward pass computes, for a batch of ``B`` graphs with ``N`` input
    nodes, ``K`` pooled nodes, ``M`` output (grown) nodes and ``P`` copy pairs.

    Attributes:
        cluster: ``LongTensor[N]`` input node -> pooled node (composed over the pools).
        infos: one :class:`MergeInfo` per pool layer.
        split: the :class:`SplitInfo` of the growth step (``parent``: pooled node of
            each output node, ``slot``, ``count``, ``count_logit``, ``presence``).
        history: the :class:`MorphHistory` of the merges and the split.
        x: ``[M, H]`` output node features.
        edge_index: ``LongTensor[2, E]`` output edges (a chain per graph).
        batch: ``LongTensor[M]`` graph of each output node.
        count_logit: ``[K, max_children + 1]`` count logits of the pooled nodes.
        presence: ``[M]`` probability under the count head that each output node exists.
        copy_member: ``LongTensor[P]`` input node of each copy pair.
        copy_child: ``LongTensor[P]`` output node of each copy pair (the pairs of an output
            node are the members of its parent cluster).
        copy_logit: ``[P]`` logit of copying the pair's input grapheme.
        vocab_logit: ``[M, |V|]`` generation logits.
        act: ``[M]`` activation in (0, 1).
        edit_logit: ``[N, len(EDIT_OPS)]`` edit-operation logits of each input node.
        num_graphs: ``B``.
        end_logit: ``[M]`` logit that an output node is a spare slot (or the end node of
            its cluster) and emits nothing (``spare_slots > 0`` or ``growth="decoder"``
            only, else ``None``).
        spare: ``BoolTensor[M]``: output nodes that emit nothing: in training the spare
            slots grown past the target counts, after :meth:`GraphTransformNet.emit_classes`
            the slots the decoder ended (``None`` without spare slots).
    """

    cluster: Tensor
    infos: list[MergeInfo]
    split: SplitInfo
    history: MorphHistory
    x: Tensor
    edge_index: Tensor
    batch: Tensor
    count_logit: Tensor
    presence: Tensor
    copy_member: Tensor
    copy_child: Tensor
    copy_logit: Tensor
    vocab_logit: Tensor
    act: Tensor
    edit_logit: Tensor
    num_graphs: int
    end_logit: Tensor | None = None
    spare: Tensor | None = None


@dataclass
class _Pooled:
    """The network up to its pools: the encoded input nodes ``h [N, H]`` and their
    ``batch``, the composed ``cluster`` map, the merge ``history``, and the pooled chain
    (``x [K, H]``, its edges and ``pooled_batch``)."""

    h: Tensor
    batch: Tensor
    cluster: Tensor
    history: MorphHistory
    x: Tensor
    edge_index: Tensor
    pooled_batch: Tensor
    num_graphs: int


@dataclass
class _Morph:
    """What the network computes before its output nodes pick graphemes: the encoded input
    nodes ``h [N, H]`` and their ``batch``, the composed ``cluster`` map, the merge
    records, the morph ``history``, the growth record ``split`` and the grown chain
    (``grown [M, H]``, its edges and batch)."""

    h: Tensor
    batch: Tensor
    cluster: Tensor
    merges: list[MergeInfo]
    history: MorphHistory
    split: SplitInfo
    grown: Tensor
    grown_edge_index: Tensor
    grown_batch: Tensor
    num_graphs: int
    spare: Tensor | None = None


class GraphTransformNet(torch.nn.Module):
    r"""A network that morphs grapheme graphs: learnt threshold merges, then learnt splits.

    Every constructor argument is stored as an attribute of the same name (the
    PyG convention), so a trained model's configuration can be read back.

    Args:
        hidden_channels (int, optional): Width ``H``. (default: :obj:`64`)
        num_layers (int, optional): Number of :class:`~pyg_grapheme.nn.GraphemeConv`
            layers ``L`` before the pools. (default: :obj:`4`)
        heads (int, optional): Attention heads. (default: :obj:`4`)
        output_vocab (Sequence[str], optional): Graphemes the model can generate
            without seeing them in its input (see ``output_classes``).
            (default: :obj:`()`)
        num_pools (int, optional): Number of stacked
            :class:`~pyg_grapheme.nn.ThresholdMergePool` layers. (default: :obj:`1`)
        threshold (float, optional): Starting effective merge threshold.
            (default: :obj:`0.5`)
        temperature (float, optional): Soft-gate temperature of the pools.
            (default: :obj:`0.1`)
        pool_mode (str, optional): ``"components"`` or ``"matching"``.
            (default: :obj:`"components"`)
        periods (Sequence[int], optional): Periods of the position features
            (:mod:`.node_inputs`). (default: :obj:`(2,)`)
        attention_layers (int, optional): Number of within-graph attention
            layers ``A`` interleaved with the convolutions
            (:class:`~pyg_grapheme.models.context_stack.ContextStack`).
            (default: :obj:`1`, after the last conv)
        feedforward (bool, optional): Follow each attention layer by a residual
            feed-forward block, as in a Transformer layer: attention only mixes
            linearly, the block gives the per-node non-linearity that combines
            what was gathered. (default: :obj:`False`)
        gated_feedforward (bool, optional): Make the feed-forward blocks gated
            (GLU), which lets a node multiply two quantities it gathered
            (arithmetic). (default: :obj:`False`)
        post_pool_layers (int, optional): Layers run on the *pooled* graph before
            the heads, each two convolutions (left and right context) and an
            attention block. A pooled node then knows its place among the
            output nodes (first, last, how many), which a weighted mean of its
            members cannot tell it. (default: :obj:`0`)
        run_features (bool, optional): Add each node's place in its run of
            same-category graphemes (:mod:`.run_position`). (default: :obj:`False`)
        dropout (float, optional): Dropout probability, in training only, on the
            embedded node features, inside the feed-forward blocks and on the
            hidden layer of the generation head. (default: :obj:`0.0`)
        max_children (int, optional): Largest number of output nodes one pooled
            node can grow into (:class:`~pyg_grapheme.nn.NodeSplit`'s :math:`K`).
            (default: :obj:`16`)
        post_growth_layers (int, optional): Layers run on the grown chain before
            the heads (two convolutions and an attention block each), so new nodes
            know their neighbours. (default: :obj:`1`)
        decoder_layers (int, optional): Layers of the
            :class:`~pyg_grapheme.models.output_decoder.OutputDecoder` between the
            grown chain and the heads; each output node then reads the grapheme
            emitted before it (teacher forcing in training, greedy decoding in
            :meth:`emit_classes`) and attends to the input nodes. :obj:`0` decodes
            every output node on its own, in parallel. (default: :obj:`0`)
        spare_slots (int, optional): With the decoder, every pooled node grows up to
            ``spare_slots`` more output nodes than its count, and the decoder ends its
            output, so the output's length is the decoder's choice within that margin:
            in training each cluster gets a uniform draw of ``0..spare_slots`` spare
            slots past its target count, whose nodes learn to end (``end_logit``); at
            inference every cluster grows its most likely count plus ``spare_slots``,
            and once a slot ends, the rest of its cluster emits nothing.
            (default: :obj:`0`)
        growth (str, optional): Who decides how many output nodes each pooled node
            grows. ``"count"``: the count head, for all pooled nodes at once.
            ``"decoder"``: the output decoder, one node at a time, as a transducer:
            the output nodes of pooled node :math:`k` are its children at slots
            :math:`0, 1, \ldots` (features :math:`\mathbf{x}_k + \mathbf{e}_s`, which
            do not depend on the count), each decoded after every node before it,
            and the first one whose end head fires is the cluster's *end node*: it
            emits nothing, and the decoder moves on to pooled node :math:`k + 1`
            (a cluster that wrote ``max_children`` graphemes ends there). Training
            grows every cluster by its target count plus its end node (teacher
            forcing; ``TransformOutput.spare`` flags the end nodes); inference
            (:meth:`emit_classes`) grows the chain as the decoder writes it. Needs
            ``decoder_layers > 0``; ``post_growth_layers`` must be 0 and
            ``spare_slots`` 0, since no layer may read output nodes that are not
            written yet. (default: :obj:`"count"`)
    """

    def __init__(
        self,
        hidden_channels: int = 64,
        num_layers: int = 4,
        heads: int = 4,
        output_vocab: Sequence[str] = (),
        num_pools: int = 1,
        threshold: float = 0.5,
        temperature: float = 0.1,
        pool_mode: str = "components",
        periods: Sequence[int] = (2,),
        attention_layers: int = 1,
        feedforward: bool = False,
        gated_feedforward: bool = False,
        post_pool_layers: int = 0,
        run_features: bool = False,
        dropout: float = 0.0,
        max_children: int = 16,
        post_growth_layers: int = 1,
        decoder_layers: int = 0,
        spare_slots: int = 0,
        growth: str = "count",
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"GraphTransformNet: dropout must be in [0, 1), got {dropout}")
        if num_pools < 1:
            raise ValueError(f"GraphTransformNet: num_pools must be >= 1, got {num_pools}")
        if attention_layers < 1:
            raise ValueError(
                f"GraphTransformNet: attention_layers must be >= 1, got {attention_layers}"
            )
        if decoder_layers < 0:
            raise ValueError(
                f"GraphTransformNet: decoder_layers must be >= 0, got {decoder_layers}"
            )
        if spare_slots < 0 or (spare_slots > 0 and decoder_layers == 0):
            raise ValueError(
                "GraphTransformNet: spare_slots must be >= 0 and needs decoder_layers > 0 "
                f"(the decoder ends the spare slots), got spare_slots={spare_slots}, "
                f"decoder_layers={decoder_layers}"
            )
        if growth not in ("count", "decoder"):
            raise ValueError(
                f"GraphTransformNet: growth must be 'count' or 'decoder', got {growth!r}"
            )
        if growth == "decoder" and (decoder_layers == 0 or post_growth_layers or spare_slots):
            raise ValueError(
                "GraphTransformNet: growth='decoder' needs decoder_layers > 0, "
                "post_growth_layers=0 and spare_slots=0 (nothing may read output nodes "
                f"before they are written), got decoder_layers={decoder_layers}, "
                f"post_growth_layers={post_growth_layers}, spare_slots={spare_slots}"
            )
        if len(set(output_vocab)) != len(output_vocab):
            raise ValueError("GraphTransformNet: output_vocab has duplicate graphemes")
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.heads = heads
        self.output_vocab = list(output_vocab)
        self.num_pools = num_pools
        self.threshold = threshold
        self.temperature = temperature
        self.pool_mode = pool_mode
        self.periods = tuple(int(p) for p in periods)
        self.attention_layers = attention_layers
        self.feedforward = feedforward
        self.gated_feedforward = gated_feedforward
        self.post_pool_layers = post_pool_layers
        self.run_features = run_features
        self.dropout = dropout
        self.max_children = max_children
        self.post_growth_layers = post_growth_layers
        self.decoder_layers = decoder_layers
        self.spare_slots = spare_slots
        self.growth = growth

        self.node_inputs = NodeInputs(self.periods, run_features)
        self.embed = Linear(self.node_inputs.num_features, hidden_channels)
        self.drop = torch.nn.Dropout(dropout)
        self.encoder = ContextStack(
            hidden_channels, num_layers, attention_layers, heads, feedforward, gated_feedforward,
            dropout,
        )  # fmt: skip
        self.post_pool = ContextStack(
            hidden_channels, 2 * post_pool_layers, post_pool_layers, heads, feedforward,
            gated_feedforward, dropout,
        )  # fmt: skip
        self.signature_gain = Linear(hidden_channels, 1)
        self.context = Linear(hidden_channels, max(hidden_channels // 2, 1))
        self.pools = ModuleList(
            # The text model's merges: plain cosine of its features, a fixed starting
            # threshold, ungated cluster means (its merge labels train the gates directly).
            ThresholdMergePool(
                None,
                threshold=threshold,
                mode=pool_mode,
                temperature=temperature,
                similarity="cosine",
                gate_features=False,
                reduce="mean",
            )
            for _ in range(num_pools)
        )
        # Pooled nodes learn their cluster's size (clipped): a mean of members cannot tell it.
        self.size_embedding = torch.nn.Embedding(MAX_CLUSTER_SIZE, hidden_channels)
        self.split = NodeSplit(hidden_channels, max_children=max_children)
        self.post_growth = ContextStack(
            hidden_channels, 2 * post_growth_layers, post_growth_layers, heads, feedforward,
            gated_feedforward, dropout,
        )  # fmt: skip
        self.decoder = (
            OutputDecoder(hidden_channels, decoder_layers, heads, dropout)
            if decoder_layers > 0
            else None
        )
        self.copy_head = Linear(hidden_channels, 1)
        self.copy_query = Linear(hidden_channels, hidden_channels)
        self.copy_key = Linear(hidden_channels, hidden_channels, bias=False)
        # With nothing to generate there is no generation head (a [K, 0] logit block).
        self.vocab_head = (
            Sequential(
                Linear(hidden_channels, hidden_channels),
                torch.nn.LeakyReLU(0.01),
                torch.nn.Dropout(dropout),
                Linear(hidden_channels, len(self.output_vocab)),
            )
            if self.output_vocab
            else None
        )
        self.act_head = Linear(hidden_channels, 1)
        self.end_head = (
            Linear(hidden_channels, 1) if spare_slots > 0 or growth == "decoder" else None
        )
        self.edit_head = Linear(hidden_channels, len(EDIT_OPS))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise every layer."""
        self.embed.reset_parameters()
        self.encoder.reset_parameters()
        self.post_pool.reset_parameters()
        for pool in self.pools:
            pool.reset_parameters()
        for head in (
            self.copy_head,
            self.act_head,
            self.edit_head,
            self.signature_gain,
            self.context,
        ):
            head.reset_parameters()
        for layer in self.vocab_head or ():
            if isinstance(layer, Linear):
                layer.reset_parameters()
        torch.nn.init.zeros_(self.size_embedding.weight)
        self.split.reset_parameters()
        self.post_growth.reset_parameters()
        if self.decoder is not None:
            self.decoder.reset_parameters()
        if self.end_head is not None:
            self.end_head.reset_parameters()
        self.copy_query.reset_parameters()
        self.copy_key.reset_parameters()

    def forward(
        self, data: Batch, length: Tensor | None = None, emitted: Tensor | None = None
    ) -> TransformOutput:
        """Run the network on a batch of grapheme chains (``text_to_graph`` output).

        Args:
            data: the batch (``x``, ``edge_index``, ``pos``, ``batch``).
            length: ``LongTensor[N]``, target graphemes each input node produces
                (:class:`~pyg_grapheme.models.edit_supervision.EditTargets`); in
                training it fixes the counts (teacher forcing). ``None`` grows by
                the count head's most likely counts. With ``spare_slots`` a network in
                training grows a uniform draw of ``0..spare_slots`` more nodes per
                cluster (``TransformOutput.spare``), which read a zero feature row.
            emitted: ``[T, FeatureLayout.width]``, with ``decoder_layers > 0`` only: the
                feature rows of the ``T = length.sum()`` target graphemes, in order
                (teacher forcing). Output node ``s`` of cluster ``k`` stands for the
                ``s``-th grapheme ``k`` produces (:func:`teacher_forced_index`) and the
                output node after it reads its row. Inference decodes greedily instead
                (:meth:`emit_classes`).
        """
        morph = self._morph(data, length)
        if self.decoder is None:
            if emitted is not None:
                raise ValueError("GraphTransformNet: emitted is read only with decoder_layers > 0")
            return self._heads(morph, morph.grown)
        if emitted is None or length is None:
            raise ValueError(
                "GraphTransformNet: with decoder_layers > 0 the forward pass needs the target "
                "counts and the emitted graphemes (teacher forcing: length and emitted); use "
                "emit_classes to decode greedily"
            )
        if emitted.size(0) != int(length.sum()):
            raise ValueError(
                f"GraphTransformNet: emitted must hold one row per target grapheme, "
                f"length.sum() = {int(length.sum())}, got {emitted.size(0)} rows"
            )
        split = morph.split
        index = teacher_forced_index(
            length, morph.cluster, split.count.numel(), split.parent, split.slot
        )
        if morph.spare is not None:
            # Spare slots and end nodes pass on a zero feature row, which no grapheme
            # has: the node after them reads it.
            emitted = torch.cat([emitted, emitted.new_zeros(1, emitted.size(1))])
            index = torch.where(morph.spare, emitted.size(0) - 1, index)
        return self._heads(morph, self._decode(morph, emitted.index_select(0, index)))

    def _morph(self, data: Batch, length: Tensor | None) -> _Morph:
        """Embed, merge and grow: everything before the output nodes pick their graphemes."""
        pooled = self._pool(data)
        num_clusters = pooled.x.size(0)
        count = wanted = None
        if length is not None:
            wanted = scatter(length, pooled.cluster, dim=0, dim_size=num_clusters, reduce="sum")
            wanted = wanted.clamp(max=self.max_children)
            count = wanted
            if self.growth == "decoder":
                # Every cluster that did not write max_children graphemes ends on a node.
                count = wanted + (wanted < self.max_children).long()
            elif self.spare_slots > 0 and self.training:
                extra = torch.randint(0, self.spare_slots + 1, count.shape, device=count.device)
                count = (count + extra).clamp(max=self.max_children)
        elif self.spare_slots > 0 and num_clusters > 0:
            logit = self.split.count_head(pooled.x)  # as NodeSplit reads it
            count = (logit.argmax(dim=1) + self.spare_slots).clamp(max=self.max_children)
        if wanted is None and self.spare_slots > 0:
            wanted = torch.full((num_clusters,), self.max_children, device=pooled.x.device)
        return self._grow(pooled, count, wanted)

    def _pool(self, data: Batch) -> _Pooled:
        """Embed and merge: the input nodes and the pooled chain."""
        x, edge_index = data.x, data.edge_index
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = x.new_zeros(x.size(0), dtype=torch.long)
        num_graphs = int(getattr(data, "num_graphs", 1) or 1)
        h = self.drop(self.embed(self.node_inputs(x, edge_index, data.pos)))
        h = self.encoder(h, edge_index, batch)

        merge_features = torch.cat(
            [
                torch.nn.functional.softplus(self.signature_gain(h))
                * x[:, FeatureLayout.signature],
                self.context(h),
            ],
            dim=1,
        )
        history = MorphHistory()
        z, pooled, pooled_edge_index, pooled_batch = merge_features, h, edge_index, batch
        for pool in self.pools:
            z, pooled_edge_index, pooled_batch, info = pool(z, pooled_edge_index, pooled_batch)
            # The node features follow the same merge: weighted mean with the pool's weights.
            pooled = scatter(
                pooled * info.member_weight.unsqueeze(1),
                info.cluster,
                dim=0,
                dim_size=z.size(0),
                reduce="sum",
            )
            history.append(info)
        cluster = history.cluster
        num_clusters = pooled.size(0)
        size = torch.bincount(cluster, minlength=num_clusters).clamp(max=MAX_CLUSTER_SIZE)
        pooled = pooled + self.size_embedding(size - 1)
        pooled = self.post_pool(pooled, pooled_edge_index, pooled_batch)
        return _Pooled(
            h=h,
            batch=batch,
            cluster=cluster,
            history=history,
            x=pooled,
            edge_index=pooled_edge_index,
            pooled_batch=pooled_batch,
            num_graphs=num_graphs,
        )

    def _grow(self, pooled: _Pooled, count: Tensor | None, wanted: Tensor | None) -> _Morph:
        """Split the pooled chain by ``count`` (``None``: the count head's) and flag as
        spare the output nodes at slots ``>= wanted`` of their cluster (when given)."""
        merges = list(pooled.history)
        history = MorphHistory(merges)
        grown, grown_edge_index, grown_batch, split = self.split(
            pooled.x, pooled.edge_index, pooled.pooled_batch, count=count
        )
        spare = None
        if wanted is not None and (self.spare_slots > 0 or self.growth == "decoder"):
            spare = split.slot >= wanted.index_select(0, split.parent)
        history.append(split)
        if self.growth == "decoder":
            # A child's features may not depend on its count, which is decided after it.
            grown = self.split.child_features(pooled.x, split.parent, split.slot)
        else:
            grown = self.post_growth(grown, grown_edge_index, grown_batch)
        return _Morph(
            h=pooled.h,
            batch=pooled.batch,
            cluster=pooled.cluster,
            merges=merges,
            history=history,
            split=split,
            grown=grown,
            grown_edge_index=grown_edge_index,
            grown_batch=grown_batch,
            num_graphs=pooled.num_graphs,
            spare=spare,
        )

    def _decode(self, morph: _Morph, emitted: Tensor) -> Tensor:
        """``[M, H]``: the output decoder on the grown chain (``decoder_layers > 0``)."""
        assert self.decoder is not None
        return self.decoder(
            morph.grown, morph.grown_batch, emitted, morph.h, morph.batch, morph.num_graphs
        )

    def _heads(self, morph: _Morph, x: Tensor) -> TransformOutput:
        """Emit from output features ``x [M, H]``: copy one of the parent cluster's input
        graphemes, or generate one; activation and edit heads."""
        h, split = morph.h, morph.split
        num_clusters = split.count.numel()
        copy_member, copy_child = copy_pairs(morph.cluster, split.parent, num_clusters)
        copy_logit = self._copy_logit(x, copy_child, *self._copy_keys(h, copy_member))
        return TransformOutput(
            cluster=morph.cluster,
            infos=morph.merges,
            split=split,
            history=morph.history,
            x=x,
            edge_index=morph.grown_edge_index,
            batch=morph.grown_batch,
            count_logit=split.count_logit,
            presence=split.presence,
            copy_member=copy_member,
            copy_child=copy_child,
            copy_logit=copy_logit,
            vocab_logit=(
                self.vocab_head(x) if self.vocab_head is not None else x.new_zeros(x.size(0), 0)
            ),
            act=torch.sigmoid(self.act_head(x).squeeze(1)),
            edit_logit=self.edit_head(h),
            num_graphs=morph.num_graphs,
            end_logit=self.end_head(x).squeeze(1) if self.end_head is not None else None,
            spare=morph.spare,
        )

    def _copy_keys(self, h: Tensor, copy_member: Tensor) -> tuple[Tensor, Tensor]:
        """Key ``[P, H]`` and bias ``[P]`` of the input node of every copy pair."""
        key = self.copy_key(h).index_select(0, copy_member)
        return key, self.copy_head(h).squeeze(1).index_select(0, copy_member)

    def _copy_logit(self, x: Tensor, copy_child: Tensor, key: Tensor, key_bias: Tensor) -> Tensor:
        """``[P]``: scaled dot product of the output node's query and the input node's key,
        plus the input node's bias (output features ``x``, pairs' output nodes ``copy_child``)."""
        query = self.copy_query(x).index_select(0, copy_child)
        return (query * key).sum(dim=1) / math.sqrt(self.hidden_channels) + key_bias

    @torch.no_grad()
    def emit_classes(
        self,
        data: Batch,
        member_class: Tensor,
        space: ClassSpace,
        length: Tensor | None = None,
    ) -> tuple[TransformOutput, Tensor]:
        """Forward without targets (counts from the count head) and the ``[M, C]`` class
        distribution of every output node.

        With ``decoder_layers > 0`` the output nodes are decoded greedily, rank by rank:
        every node at rank ``r`` of its graph takes its most likely grapheme, whose
        feature row the nodes at rank ``r + 1`` then read. With ``growth="decoder"`` the
        decoder also grows the chain (:meth:`_grow_by_decoder`).

        Args:
            data: the batch.
            member_class: ``LongTensor[N]`` class of each input node's grapheme in ``space``.
            space: the batch's class space (output vocabulary first).
            length: ``LongTensor[N]``, optional: grow by these target counts instead of
                the model's (every output node but the end nodes then emits; no spare
                slots), to tell length errors from grapheme errors.
        """
        if self.growth == "decoder" and length is None:
            out = self._grow_by_decoder(data, member_class, space)
            return out, self.type_probs(out, member_class, space)
        morph = self._morph(data, length)
        if self.decoder is None:
            out = self._heads(morph, morph.grown)
            return out, self.type_probs(out, member_class, space)
        class_rows = self.class_features(space).to(morph.grown)
        split = morph.split
        key, key_bias = self._copy_keys(
            morph.h, torch.arange(morph.h.size(0), device=morph.h.device)
        )
        pick = self._greedy_picker(
            morph.cluster, split.count.numel(), key, key_bias, member_class, space
        )
        # Spare slots: a slot the end head ends, and every later slot of its cluster,
        # emits nothing and passes a zero row on (as in training); so does a given end node.
        spare = torch.zeros_like(split.parent, dtype=torch.bool)
        ended = torch.zeros(split.count.numel(), dtype=torch.bool, device=spare.device)

        def choose(rows: Tensor, nodes: Tensor) -> Tensor:
            """The feature rows of the most likely graphemes of ``nodes`` (decoded ``rows``)."""
            parent = split.parent.index_select(0, nodes)
            chosen = class_rows.index_select(0, pick(rows, parent))
            if length is not None or self.end_head is None:
                if morph.spare is None:
                    return chosen
                end = morph.spare.index_select(0, nodes)
            else:
                end = (self.end_head(rows).squeeze(1) > 0) | ended.index_select(0, parent)
                ended[parent[end]] = True
                spare[nodes] = end
            return torch.where(end.unsqueeze(1), torch.zeros_like(chosen), chosen)

        assert self.decoder is not None
        decoded = self.decoder.decode_greedily(
            morph.grown, morph.grown_batch, morph.h, morph.batch, morph.num_graphs, choose
        )
        out = self._heads(morph, decoded)
        if self.end_head is not None and length is None:
            out.spare = spare
        return out, self.type_probs(out, member_class, space)

    def _greedy_picker(
        self,
        cluster: Tensor,
        num_clusters: int,
        key: Tensor,
        key_bias: Tensor,
        member_class: Tensor,
        space: ClassSpace,
    ) -> Callable[[Tensor, Tensor], Tensor]:
        """``pick(rows [R, H], parent LongTensor[R]) -> LongTensor[R]``: the most likely class
        of output nodes with decoded features ``rows`` and parent clusters ``parent``
        (pointer over the parent's members, ``key``/``key_bias`` of every input node, and
        generation)."""
        vocab_class = torch.arange(len(self.output_vocab), device=member_class.device)

        def pick(rows: Tensor, parent: Tensor) -> Tensor:
            member, child = copy_pairs(cluster, parent, num_clusters)
            logit = self._copy_logit(
                rows, child, key.index_select(0, member), key_bias.index_select(0, member)
            )
            vocab_logit = (
                self.vocab_head(rows)
                if self.vocab_head is not None
                else rows.new_zeros(rows.size(0), 0)
            )
            probs = pointer_generator_probs(
                logit, member_class.index_select(0, member), child, vocab_logit, vocab_class,
                len(space),
            )  # fmt: skip
            return probs.argmax(dim=1)

        return pick

    def _grow_by_decoder(
        self, data: Batch, member_class: Tensor, space: ClassSpace
    ) -> TransformOutput:
        r"""Grow and decode the chain node by node (``growth="decoder"``, inference).

        Every graph walks its pooled nodes in order. Its next output node is child
        :math:`s` of its current pooled node :math:`k` (features
        :math:`\mathbf{x}_k + \mathbf{e}_s` plus the embedding of the grapheme before it,
        a zero row after an end node), decoded by one step of the decoder. If its end head
        fires it is :math:`k`'s end node and the graph moves on to :math:`k + 1`; else it
        emits its most likely grapheme and the graph stays on :math:`k` at slot
        :math:`s + 1`, or moves on once :math:`k` wrote ``max_children``. The output is
        the chain the steps grew, split record, end nodes (``spare``) and all; its rows
        equal a teacher-forced forward pass fed the chosen graphemes and counts.
        """
        assert self.decoder is not None and self.end_head is not None
        pooled = self._pool(data)
        num_graphs, num_clusters = pooled.num_graphs, pooled.x.size(0)
        device = pooled.x.device
        key, key_bias = self._copy_keys(pooled.h, torch.arange(pooled.h.size(0), device=device))
        pick = self._greedy_picker(pooled.cluster, num_clusters, key, key_bias, member_class, space)
        class_rows = self.class_features(space).to(pooled.x)
        embedded_zero = self.decoder.embed_previous(class_rows.new_zeros(1, class_rows.size(1)))

        clusters_of = torch.bincount(pooled.pooled_batch, minlength=num_graphs)
        current = torch.cumsum(clusters_of, 0) - clusters_of  # each graph's pooled node
        last = current + clusters_of  # one past each graph's last pooled node
        slot = torch.zeros(num_graphs, dtype=torch.long, device=device)
        written = torch.zeros(num_clusters, dtype=torch.long, device=device)
        previous = self.decoder.start.expand(num_graphs, -1)
        steps = self.decoder.steps(pooled.h, pooled.batch, num_graphs)
        step_cluster, step_slot, step_rows = [], [], []
        while True:
            full = (slot >= self.max_children) & (current < last)
            current, slot = current + full.long(), torch.where(full, 0, slot)
            graphs = (current < last).nonzero().view(-1)
            if graphs.numel() == 0:
                break
            parent, place = current.index_select(0, graphs), slot.index_select(0, graphs)
            inputs = self.split.child_features(pooled.x, parent, place)
            rows = steps.step(graphs, inputs + previous.index_select(0, graphs))
            end = self.end_head(rows).squeeze(1) > 0
            chosen = self.decoder.embed_previous(class_rows.index_select(0, pick(rows, parent)))
            previous = previous.clone()
            previous[graphs] = torch.where(end.unsqueeze(1), embedded_zero, chosen)
            written.index_add_(0, parent, (~end).long())
            current[graphs] = parent + end.long()
            slot[graphs] = torch.where(end, 0, place + 1)
            step_cluster.append(parent)
            step_slot.append(place)
            step_rows.append(rows)

        count = written + (written < self.max_children).long()
        morph = self._grow(pooled, count, written)
        decoded = pooled.x.new_empty(morph.grown.shape)
        if step_rows:
            offset = torch.cumsum(count, 0) - count
            node = offset.index_select(0, torch.cat(step_cluster)) + torch.cat(step_slot)
            decoded[node] = torch.cat(step_rows)
        return self._heads(morph, decoded)

    @staticmethod
    def class_features(space: ClassSpace) -> Tensor:
        """``[C, FeatureLayout.width]``: the feature row of every class's grapheme."""
        return cluster_features(space.graphemes)

    def type_probs(self, out: TransformOutput, member_class: Tensor, space: ClassSpace) -> Tensor:
        """``[M, C]`` class distribution of each output node (pointer-generator).

        Args:
            out: the forward output.
            member_class: ``LongTensor[N]`` class of each input node's grapheme.
            space: the batch's class space (output vocabulary first).
        """
        vocab_class = torch.arange(len(self.output_vocab), device=member_class.device)
        return pointer_generator_probs(
            out.copy_logit,
            member_class.index_select(0, out.copy_member),
            out.copy_child,
            out.vocab_logit,
            vocab_class,
            len(space),
        )

    def transform_text(
        self, texts: Sequence[str], with_morph: bool = False
    ) -> list[str] | list[tuple[str, str]]:
        """Transform strings end to end: ``["abc", "xyz"] -> ["ab", "xy"]`` once trained;
        with ``with_morph``, ``(output, "ab→a · c→∅")`` pairs
        (:func:`~pyg_grapheme.models.text_transform.transform_text`)."""
        return transform_text(self, texts, with_morph)
