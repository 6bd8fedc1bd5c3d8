r"""GraphTransformNet: embed graphemes, pass messages, attend, merge, then grow by a transducer.

.. code-block:: text

    x [N, F] (vocabulary-free grapheme features, pyg_grapheme.text)
      -> NodeInputs: ++ periodic position, chain-end flags (, run features)
      -> Linear embedding                                          h [N, H]
      -> ContextStack: GraphemeConv x L (left/right context), attention x A
      -> merge features z = [softplus(g(h)) * signature ++ c(h)]
      -> ThresholdMergePool(z)                                     cluster [N] -> [K]
      -> pooled = weighted mean of members' h + cluster-size embedding
      -> ContextStack on the pooled chain (post_pool_layers)       [K, H]
      -> growth policy (TransducerGrowth): each pooled node writes 0..K output
         units in reading order (generate, or copy a member's grapheme); the
         alignment is summed over in training (forward algorithm) and searched at
         inference (greedy or beam)
      -> NodeSplit by the chosen counts: the grown chain and its MorphHistory

Merge features. The pool compares nodes by the cosine of
:math:`z_i = [\,\mathrm{softplus}(g(h_i))\,\mathbf{s}_i \,\|\, c(h_i)\,]`, where
:math:`\mathbf{s}_i` is the *fixed* hashed signature of the node's grapheme (a unit
vector), :math:`g` a learnt gain and :math:`c` a learnt context vector. Equal graphemes
have :math:`\mathbf{s}_i \cdot \mathbf{s}_j = 1`, different ones about
:math:`\mathcal{N}(0, 1/64)`, in any script: the model learns *when* identity matters
and when context does, but it cannot learn to confuse two graphemes it never saw.

Merge labels come from the transducer's own best alignment (:func:`merge_groups`): a
pooled node that writes nothing joins the node before it (the first node of a graph
joins the next), so the pool learns to merge what the transducer reads as one unit
(``"eau"`` writing ``o``, a run ``"aaa"`` writing ``a``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import Linear
from torch_geometric.data import Batch
from torch_geometric.utils import scatter

from pyg_grapheme.input_units import input_splitter
from pyg_grapheme.models.cluster_spelling import ClusterSpelling
from pyg_grapheme.models.context_stack import ContextStack
from pyg_grapheme.models.monotonic_alignment import monotonic_forward
from pyg_grapheme.models.morph_text import describe_morph
from pyg_grapheme.models.node_inputs import NodeInputs
from pyg_grapheme.models.output_classes import ClassSpace
from pyg_grapheme.models.output_units import OutputUnits
from pyg_grapheme.models.reading_order import (
    READING_ORDERS,
    reverse_chains,
    reverse_targets,
    reversed_units,
)
from pyg_grapheme.models.transducer import TransducerContext, TransducerGrowth, TransducerLattice
from pyg_grapheme.models.transducer_search import Hypothesis, transducer_search
from pyg_grapheme.models.unit_targets import UnitTargets, build_targets
from pyg_grapheme.nn import MergeInfo, MorphHistory, NodeSplit, SplitInfo, ThresholdMergePool
from pyg_grapheme.text import FeatureLayout, cluster_features, graphs_from_texts

__all__ = [
    "MAX_CLUSTER_SIZE",
    "GraphTransformNet",
    "Transduction",
    "TransformOutput",
    "merge_groups",
]

MAX_CLUSTER_SIZE = 16
"""Cluster sizes the size embedding tells apart (larger ones share the last entry)."""


@contextmanager
def _evaluating(module: torch.nn.Module) -> Iterator[None]:
    """``module`` in evaluation mode inside, its former mode restored after."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def merge_groups(count: Tensor, pooled_batch: Tensor, cluster: Tensor) -> Tensor:
    """``LongTensor[N]``: the merge group of each input node under an alignment of the
    pooled nodes, the labels the pool learns from (same group: merge).

    - A pooled node that writes units starts a group; one that writes none joins the
      group before it in its graph, or the next one when no node before it writes (a
      graph that writes nothing is one group).
    - The members of a pooled node that writes one unit or none stay together; those of
      a node that writes several are told apart (each its own group, the last one keeping
      the node's group so that silent nodes after it still join it): several units read
      as several input units, so a merge that swallowed them, as an untrained pool's may,
      is undone.

    Groups are numbered over the batch.

    Args:
        count: ``LongTensor[K]`` units each pooled node writes.
        pooled_batch: ``LongTensor[K]`` graph of each pooled node (sorted).
        cluster: ``LongTensor[N]`` pooled node of each input node (input order).
    """
    num = count.numel()
    if num == 0:
        return cluster.clone()
    writes = (count > 0).long()
    first = torch.ones(num, dtype=torch.bool, device=count.device)
    first[1:] = pooled_batch[1:] != pooled_batch[:-1]
    graph = torch.cumsum(first.long(), 0) - 1  # consecutive over the graphs with nodes
    # seen[k]: writers up to and including node k over the batch, so the last writer at or
    # before k is group seen[k]; base: writers before the node's graph starts.
    seen = torch.cumsum(writes, 0)
    base = scatter(seen - writes, graph, dim=0, reduce="min").index_select(0, graph)
    has_writer = scatter(writes, graph, dim=0, reduce="max").index_select(0, graph) > 0
    group = torch.where(seen > base, seen, base + 1)  # before the first writer: the first
    # A graph that writes nothing is one group, numbered past every writer's.
    group = torch.where(has_writer, group, int(writes.sum()) + 1 + graph)
    node_group = group.index_select(0, cluster)
    members = torch.arange(cluster.numel(), device=cluster.device)
    last = torch.full((num,), -1, dtype=torch.long, device=cluster.device)
    last = last.scatter_reduce(0, cluster, members, reduce="amax")
    apart = (count.index_select(0, cluster) > 1) & (last.index_select(0, cluster) != members)
    return torch.where(apart, 2 * (num + cluster.numel()) + members, node_group)


@dataclass
class TransformOutput:
    """One teacher-forced pass of a batch of ``B`` (input, target) pairs.

    Attributes:
        cluster: ``LongTensor[N]`` input node -> pooled node.
        infos: the :class:`MergeInfo` of the pool.
        pooled_batch: ``LongTensor[K]`` graph of each pooled node.
        lattice: the transducer's :class:`TransducerLattice`.
        log_likelihood: ``[B]`` :math:`\\log p(y \\mid x)` over every alignment (0 where
            not ``feasible``).
        feasible: ``BoolTensor[B]`` pairs some alignment produces.
        count: ``LongTensor[K]`` units each pooled node writes on the best alignment.
        alignment: ``LongTensor[B, n]`` the same counts per graph, densely (node ``i`` of
            graph ``b`` writes units ``a .. a + alignment[b, i] - 1``, ``a`` the units of
            the nodes before it).
        split: the :class:`SplitInfo` of growing the pooled chain by ``count``.
        history: the merges and that split (:class:`MorphHistory`).
        edge_index: ``[2, E]`` the grown chain's edges; ``batch``: its graphs.
        num_graphs: ``B``.
        read_targets: the targets as a backward model read them (each one's units last
            first, :func:`~.reading_order.reverse_targets`), which the alignment and the
            grown chain follow; ``None`` for a forward model, which read them as given.
    """

    cluster: Tensor
    infos: list[MergeInfo]
    pooled_batch: Tensor
    lattice: TransducerLattice
    log_likelihood: Tensor
    feasible: Tensor
    count: Tensor
    alignment: Tensor
    split: SplitInfo
    history: MorphHistory
    edge_index: Tensor
    batch: Tensor
    num_graphs: int
    read_targets: UnitTargets | None = None


@dataclass
class Transduction:
    """What inference wrote for each of ``B`` inputs.

    Attributes:
        outputs: the output text of each input (units joined).
        units: the output units of each input.
        cluster: ``LongTensor[N]`` input node -> pooled node.
        parent: for each input, the pooled node (batch-wide index) that wrote each unit.
        morphs: each input's merges and growth as text (``"aa→a · b→bb · c→∅"``).
        history: the merges and the split of the whole batch (:class:`MorphHistory`).
        scores: :math:`\\log p(y \\mid x)` of each chosen output under the model.
    """

    outputs: list[str]
    units: list[list[str]]
    cluster: Tensor
    parent: list[list[int]]
    morphs: list[str]
    history: MorphHistory
    scores: list[float]


@dataclass
class _Pooled:
    h: Tensor
    batch: Tensor
    cluster: Tensor
    info: MergeInfo
    x: Tensor
    edge_index: Tensor
    pooled_batch: Tensor
    num_graphs: int


class GraphTransformNet(torch.nn.Module):
    r"""A network that morphs grapheme graphs: learnt threshold merges, then growth by a
    transducer whose alignment is learnt (module docstring).

    Every constructor argument is stored as an attribute of the same name (the PyG
    convention), so a trained model's configuration can be read back.

    Args:
        hidden_channels (int, optional): Width ``H``. (default: :obj:`128`)
        num_layers (int, optional): :class:`~pyg_grapheme.nn.GraphemeConv` layers ``L``
            before the pool. (default: :obj:`4`)
        heads (int, optional): Attention heads. (default: :obj:`4`)
        attention_layers (int, optional): Within-graph attention blocks ``A`` interleaved
            with the convolutions (:class:`~.context_stack.ContextStack`). (default: :obj:`2`)
        feedforward (bool, optional): A residual feed-forward block after each attention
            block, as in a Transformer layer. (default: :obj:`True`)
        gated_feedforward (bool, optional): Gated (GLU) feed-forward blocks, which let a
            node multiply two quantities it gathered (arithmetic). (default: :obj:`False`)
        relative_position (bool, optional): Attention that knows reading order: some
            heads look left or right of a node, their scores falling with the distance
            (:class:`~pyg_grapheme.nn.GraphAttention`), in the encoder and on the pooled
            chain. Without it attention sees each word as a set, and order reaches a
            node only from the convolutions' few hops. (default: :obj:`False`)
        periods (Sequence[int], optional): Periods of the position features
            (:mod:`.node_inputs`). (default: :obj:`(2,)`)
        run_features (bool, optional): Add each node's place in its run of
            same-category graphemes (:mod:`.run_position`). (default: :obj:`False`)
        dropout (float, optional): Dropout probability in training, after the pool.
            (default: :obj:`0.1`)
        encoder_dropout (float, optional): Dropout probability in training before the
            pool (embedding and encoder). The pool merges on the cosine of its merge
            features, a hard decision on near-equal vectors: dropout noise there keeps
            equal neighbours apart in training (cosine 0.2) that evaluation, without it,
            merges (cosine 0.9997), so the merges learnt are not the merges made.
            (default: :obj:`0.0`)
        parity_merge (bool, optional): Append to the merge features the sign
            :math:`(-1)^{p_i}` of each node's reading position :math:`p_i`, scaled by a
            gain the node learns, :math:`\mathrm{softplus}(w^\top \mathbf{h}_i + b)`.
            Neighbours' signs are opposite, so this column lowers their cosine by what
            the two nodes' gains say, equal graphemes included: the one handle that
            keeps a pair of equal neighbours (``"ll"`` in ``"hello"``) apart without
            the cosine's vanishing gradient near 1. (default: :obj:`True`)
        threshold (float, optional): Starting merge threshold of the pool.
            (default: :obj:`0.5`)
        temperature (float, optional): Soft-gate temperature of the pool.
            (default: :obj:`0.1`)
        pool_mode (str, optional): ``"components"`` (connected components of the pairs
            above the threshold: a run of any length merges) or ``"matching"`` (each node
            merges at most once). (default: :obj:`"components"`)
        post_pool_layers (int, optional): Layers on the pooled chain (two convolutions and
            an attention block each), so a pooled node knows its neighbours.
            (default: :obj:`1`)
        growth (TransducerGrowth, optional): The growth policy (its options, such as
            ``max_children``, are its own). (default: ``TransducerGrowth()``)
        output_vocab (Sequence[str], optional): Units the model can generate; linked
            from the data by the training CLI. (default: :obj:`()`)
        output_units (str, optional): ``"graphemes"`` or ``"tokens``
            (:class:`~.output_units.OutputUnits`), linked from the data.
            (default: :obj:`"graphemes"`)
        input_units (str, optional): ``"graphemes"`` or ``"codepoints"``: what one node
            of an input chain holds when the model reads text
            (:mod:`pyg_grapheme.input_units`), linked from the data. The batches given to
            :meth:`forward` carry their own units. (default: :obj:`"graphemes"`)
        spelling (bool, optional): Add to each node's embedding the state of a GRU that
            reads its cluster's code points in order (:mod:`.cluster_spelling`): what a
            multi-code-point cluster (a Devanagari conjunct, a Hangul syllable, a letter
            with diacritics) is made of, in order, each code point as it is when it stands
            alone. It needs the batch's ``clusters`` (as :func:`~pyg_grapheme.text.graphs_from_texts`
            sets them); nodes whose features were redrawn (``redrawn``, set by the training
            module's grapheme augmentation) get no spelling. (default: :obj:`False`)
        reading_order (str, optional): ``"forward"``, or ``"backward"``: the model reads
            each chain last grapheme first and writes its output last unit first
            (:mod:`.reading_order`), so its prediction network knows how a word ends when
            it writes its start. Every public method takes and returns inputs and outputs
            in reading order either way; the pooling (:attr:`TransformOutput.cluster`,
            alignments) and the morph diagrams of a backward model read backward.
            (default: :obj:`"forward"`)
    """

    def __init__(
        self,
        hidden_channels: int = 128,
        num_layers: int = 4,
        heads: int = 4,
        attention_layers: int = 2,
        feedforward: bool = True,
        gated_feedforward: bool = False,
        relative_position: bool = False,
        periods: Sequence[int] = (2,),
        run_features: bool = False,
        dropout: float = 0.1,
        encoder_dropout: float = 0.0,
        parity_merge: bool = True,
        threshold: float = 0.5,
        temperature: float = 0.1,
        pool_mode: str = "components",
        post_pool_layers: int = 1,
        growth: TransducerGrowth | None = None,
        output_vocab: Sequence[str] = (),
        output_units: str = "graphemes",
        input_units: str = "graphemes",
        spelling: bool = False,
        reading_order: str = "forward",
    ) -> None:
        super().__init__()
        if reading_order not in READING_ORDERS:
            raise ValueError(
                f"GraphTransformNet: reading_order must be one of {READING_ORDERS}, got "
                f"{reading_order!r}"
            )
        for name, value in (("dropout", dropout), ("encoder_dropout", encoder_dropout)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"GraphTransformNet: {name} must be in [0, 1), got {value}")
        if attention_layers < 1:
            raise ValueError(
                f"GraphTransformNet: attention_layers must be >= 1, got {attention_layers}"
            )
        if len(set(output_vocab)) != len(output_vocab):
            raise ValueError("GraphTransformNet: output_vocab has duplicate units")
        if any(not isinstance(u, str) or u == "" for u in output_vocab):
            raise ValueError("GraphTransformNet: output_vocab units must be non-empty strings")
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.heads = heads
        self.attention_layers = attention_layers
        self.feedforward = feedforward
        self.gated_feedforward = gated_feedforward
        self.relative_position = relative_position
        self.periods = tuple(int(p) for p in periods)
        self.run_features = run_features
        self.dropout = dropout
        self.encoder_dropout = encoder_dropout
        self.parity_merge = parity_merge
        self.threshold = threshold
        self.temperature = temperature
        self.pool_mode = pool_mode
        self.post_pool_layers = post_pool_layers
        self.output_vocab = list(output_vocab)
        self.output_units = output_units
        self.units = OutputUnits(output_units)
        input_splitter(input_units)  # refuses an unknown mode here, not at the first text
        self.input_units = input_units
        self.spelling = spelling
        self.reading_order = reading_order

        self.node_inputs = NodeInputs(self.periods, run_features)
        self.embed = Linear(self.node_inputs.num_features, hidden_channels)
        self.speller = ClusterSpelling(hidden_channels) if spelling else None
        self.drop = torch.nn.Dropout(encoder_dropout)
        self.encoder = ContextStack(
            hidden_channels, num_layers, attention_layers, heads, feedforward, gated_feedforward,
            encoder_dropout, relative_position,
        )  # fmt: skip
        self.signature_gain = Linear(hidden_channels, 1)
        self.context = Linear(hidden_channels, max(hidden_channels // 2, 1))
        self.parity_gain = Linear(hidden_channels, 1) if parity_merge else None
        # The text model's merges: plain cosine of its merge features, a fixed starting
        # threshold, ungated cluster means (the alignment's merge labels train the gates),
        # the pooled chain without self-loops.
        self.pool = ThresholdMergePool(
            None,
            threshold=threshold,
            mode=pool_mode,
            temperature=temperature,
            similarity="cosine",
            gate_features=0.0,
            reduce="mean",
            self_loops=False,  # the post-pool attention reads the chain, not a message graph
        )
        # Pooled nodes learn their cluster's size (clipped): a mean of members cannot tell it.
        self.size_embedding = torch.nn.Embedding(MAX_CLUSTER_SIZE, hidden_channels)
        self.post_pool = ContextStack(
            hidden_channels, 2 * post_pool_layers, post_pool_layers, heads, feedforward,
            gated_feedforward, dropout, relative_position,
        )  # fmt: skip
        self.growth = growth if growth is not None else TransducerGrowth()
        self.growth.bind(hidden_channels, self.output_vocab)
        self.split = NodeSplit(max_children=self.growth.max_children)
        self.reset_parameters()

    def extend_vocabulary(self, units: Sequence[str]) -> None:
        """Append ``units`` to :attr:`output_vocab`, in the order given, and grow the
        generation head to match (:meth:`TransducerGrowth.extend_vocabulary`): the units
        already there keep their ids and their learnt rows, the new ones get fresh rows.

        Used by curriculum training, whose later levels need units the first did not. A
        checkpoint saved afterwards records the grown vocabulary, so it rebuilds the grown
        shapes.

        Raises:
            ValueError: a unit that is empty, not a string, repeated, or already in the
                vocabulary.
        """
        units = list(units)
        if any(not isinstance(u, str) or u == "" for u in units):
            raise ValueError("GraphTransformNet.extend_vocabulary: units must be non-empty strings")
        if len(set(units)) != len(units):
            raise ValueError("GraphTransformNet.extend_vocabulary: repeated units")
        known = sorted(set(units) & set(self.output_vocab))
        if known:
            raise ValueError(
                f"GraphTransformNet.extend_vocabulary: already in the vocabulary: {known}"
            )
        self.growth.extend_vocabulary(len(units))
        self.output_vocab.extend(units)

    def merge_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters that only decide merges: the merge features' heads (signature
        gain, context, parity gain) and the pool's threshold. Until a merge happens only
        the merge term of the objective moves them, so a warm-up of that term must slow
        their updates (an optimizer such as Adam normalises the size of a gradient away)."""
        modules = [self.signature_gain, self.context, self.parity_gain, self.pool]
        return [p for m in modules if m is not None for p in m.parameters()]

    @property
    def max_children(self) -> int:
        """The most units one pooled node writes (the growth policy's)."""
        return self.growth.max_children

    def reset_parameters(self) -> None:
        """Re-initialise every layer."""
        self.embed.reset_parameters()
        if self.speller is not None:
            self.speller.reset_parameters()
        self.encoder.reset_parameters()
        self.signature_gain.reset_parameters()
        # Identity starts nearly silent in the merge features (gain softplus(-4) = 0.02):
        # equal neighbours begin apart, and the gain grows only where the merge labels ask
        # for merging equal graphemes (a run read as one unit). Started at 0.7, equal
        # neighbours begin with cosine near 1, where the cosine's gradient vanishes, and
        # stay merged where they should not.
        torch.nn.init.constant_(self.signature_gain.bias, -4.0)
        self.context.reset_parameters()
        if self.parity_gain is not None:
            self.parity_gain.reset_parameters()
        self.pool.reset_parameters()
        torch.nn.init.zeros_(self.size_embedding.weight)
        self.post_pool.reset_parameters()
        self.growth.reset_parameters()

    # ----------------------------------------------------------------- stages
    def _spelling(self, data: Batch, h: Tensor) -> Tensor:
        """The spelling state of each node's cluster (zero where ``data.redrawn``)."""
        assert self.speller is not None
        clusters = getattr(data, "clusters", None)
        if clusters is None:
            raise ValueError(
                "GraphTransformNet(spelling=True) reads each node's cluster: the batch needs "
                "the clusters attribute that graphs_from_texts / text_to_graph set"
            )
        if len(clusters) > 0 and not isinstance(clusters[0], str):
            clusters = [c for graph in clusters for c in graph]  # a Batch: one list a graph
        if len(clusters) != h.size(0):
            raise ValueError(
                f"GraphTransformNet(spelling=True): {len(clusters)} clusters for {h.size(0)} nodes"
            )
        state = self.speller(clusters, h)
        redrawn = getattr(data, "redrawn", None)
        if redrawn is not None:
            state = state.masked_fill(redrawn.unsqueeze(1), 0.0)
        return state

    def _pool(self, data: Batch) -> _Pooled:
        """Embed, encode and merge: the input nodes and the pooled chain."""
        x, edge_index = data.x, data.edge_index
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = x.new_zeros(x.size(0), dtype=torch.long)
        num_graphs = int(getattr(data, "num_graphs", 1) or 1)
        h = self.embed(self.node_inputs(x, edge_index, data.pos))
        if self.speller is not None:
            h = h + self._spelling(data, h)
        h = self.encoder(self.drop(h), edge_index, batch)
        parts = [
            torch.nn.functional.softplus(self.signature_gain(h)) * x[:, FeatureLayout.signature],
            self.context(h),
        ]
        if self.parity_gain is not None:
            sign = 1.0 - 2.0 * (data.pos % 2).to(h.dtype).unsqueeze(1)
            parts.append(torch.nn.functional.softplus(self.parity_gain(h)) * sign)
        merge_features = torch.cat(parts, dim=1)
        z, pooled_edge_index, pooled_batch, info = self.pool(merge_features, edge_index, batch)
        # The node features follow the same merge: weighted mean with the pool's weights.
        pooled = scatter(
            h * info.member_weight.unsqueeze(1), info.cluster, dim=0, dim_size=z.size(0),
            reduce="sum",
        )  # fmt: skip
        size = torch.bincount(info.cluster, minlength=z.size(0)).clamp(max=MAX_CLUSTER_SIZE)
        pooled = pooled + self.size_embedding((size - 1).clamp(min=0))
        pooled = self.post_pool(pooled, pooled_edge_index, pooled_batch)
        return _Pooled(
            h=h, batch=batch, cluster=info.cluster, info=info, x=pooled,
            edge_index=pooled_edge_index, pooled_batch=pooled_batch, num_graphs=num_graphs,
        )  # fmt: skip

    def _context(self, pooled: _Pooled, member_class: Tensor) -> TransducerContext:
        return self.growth.context(
            pooled.h, pooled.batch, pooled.cluster, pooled.x, pooled.pooled_batch, member_class,
            pooled.num_graphs,
        )  # fmt: skip

    def _grow(
        self, pooled: _Pooled, count: Tensor
    ) -> tuple[Tensor, Tensor, SplitInfo, MorphHistory]:
        """Grow the pooled chain by ``count``: (edges, batch, split record, history)."""
        _, edge_index, batch, split = self.split(
            pooled.x, pooled.edge_index, pooled.pooled_batch, count=count
        )
        return edge_index, batch, split, MorphHistory([pooled.info, split])

    # ----------------------------------------------------------------- training
    def forward(
        self, data: Batch, targets: UnitTargets, with_classes: bool = False
    ) -> TransformOutput:
        """Teacher-forced pass: the lattice of every (input, target) pair, its
        log-likelihood over every alignment, and the morph along the best alignment.

        Args:
            data: the batch of input chains (``x``, ``edge_index``, ``pos``, ``batch``).
            targets: the batch's :class:`UnitTargets` (:func:`build_targets`), on the
                same device.
            with_classes: also keep every lattice point's class distribution
                (``lattice.class_logp``, for the structural loss).
        """
        if not self.backward:
            return self._teacher_forced(data, targets, with_classes)
        read = reverse_targets(targets, data)
        out = self._teacher_forced(reverse_chains(data), read, with_classes)
        out.read_targets = read
        return out

    @property
    def backward(self) -> bool:
        """Whether the model reads and writes backward (``reading_order``)."""
        return self.reading_order == "backward"

    def _teacher_forced(
        self, data: Batch, targets: UnitTargets, with_classes: bool = False
    ) -> TransformOutput:
        """:meth:`forward` in the model's own reading order (``data`` and ``targets``
        already reversed for a backward model)."""
        pooled = self._pool(data)
        ctx = self._context(pooled, targets.member_class)
        lattice = self.growth.lattice(
            ctx, targets.unit_class, targets.unit_rows, targets.num_units,
            len(targets.space) if with_classes else None,
        )  # fmt: skip
        log_likelihood, feasible = self.growth.log_likelihood(lattice)
        dense_count = self.growth.best_alignment(lattice)  # [B, n]
        real = ctx.pooled_index >= 0
        count = torch.zeros(pooled.x.size(0), dtype=torch.long, device=pooled.x.device)
        count[ctx.pooled_index[real]] = dense_count[real]
        # A pair no alignment produces grows nothing (it is left out of the loss).
        count = torch.where(feasible.index_select(0, pooled.pooled_batch), count, 0)
        dense_count = torch.where(feasible.unsqueeze(1), dense_count, 0)
        edge_index, batch, split, history = self._grow(pooled, count)
        return TransformOutput(
            cluster=pooled.cluster, infos=[pooled.info], pooled_batch=pooled.pooled_batch,
            lattice=lattice, log_likelihood=log_likelihood, feasible=feasible, count=count,
            alignment=dense_count, split=split, history=history, edge_index=edge_index, batch=batch,
            num_graphs=pooled.num_graphs,
        )  # fmt: skip

    def targets(self, data: Batch, texts: Sequence[str]) -> UnitTargets:
        """The :class:`UnitTargets` of target ``texts`` for ``data``, on ``data``'s device."""
        units = [self.units.split(t) for t in texts]
        return build_targets(data, units, self.output_vocab).to(data.x.device)

    # ----------------------------------------------------------------- inference
    @torch.no_grad()
    def transduce(self, data: Batch, beam: int = 1) -> Transduction:
        """Decode a batch: greedy (``beam=1``) or beam search, then, among the beam's
        distinct outputs, the one with the highest :math:`\\log p(y \\mid x)` summed over
        every alignment (module :mod:`.transducer_search`).

        Args:
            data: the batch (``data.clusters`` holds each graph's graphemes).
            beam: hypotheses kept per graph.
        """
        if self.backward:
            data = reverse_chains(data)
        pooled, ctx, space, found = self._search(data, beam)
        device = data.x.device
        sources = list(data.clusters)
        chosen = [hyps[0] for hyps in found]
        scores = [h.score for h in chosen]
        if beam > 1:
            chosen, scores = self._rescore(pooled, ctx, space, found)
        offsets = torch.cumsum(ctx.num_nodes, 0) - ctx.num_nodes
        count = torch.zeros(pooled.x.size(0), dtype=torch.long, device=device)
        parents: list[list[int]] = []
        for g, hyp in enumerate(chosen):
            parent = [int(offsets[g]) + p for p in hyp.parent]
            parents.append(parent)
            if parent:
                count.index_add_(
                    0,
                    torch.tensor(parent, device=device),
                    torch.ones(len(parent), dtype=torch.long, device=device),
                )
        _, _, _, history = self._grow(pooled, count)
        units = [[space.graphemes[u] for u in hyp.units] for hyp in chosen]
        cluster = pooled.cluster.tolist()
        graph_of = pooled.batch.tolist()
        morphs = []
        for g, source in enumerate(sources):
            graph_cluster = [k for k, b in zip(cluster, graph_of) if b == g]
            morphs.append(
                describe_morph(
                    source, graph_cluster, units[g], parents[g], self.units.join(["", ""])
                )
            )
        if self.backward:
            units = reversed_units(units)
        return Transduction(
            outputs=[self.units.join(u) for u in units], units=units, cluster=pooled.cluster,
            parent=parents, morphs=morphs, history=history, scores=scores,
        )  # fmt: skip

    @torch.no_grad()
    def align(self, data: Batch, outputs: Sequence[str]) -> Transduction:
        r"""How this model writes given outputs: each output's best alignment (Viterbi over
        the lattice, as :meth:`forward` finds it) as a :class:`Transduction`, e.g. to draw
        the morph of an output an ensemble chose (:func:`~.ensemble.transducer_ensemble`).
        An output that no alignment writes (a unit the model can neither generate nor
        copy, or more than ``max_children`` units a node) keeps its units, with no
        parents, an empty morph and the score :math:`-\infty`.

        Args:
            data: the batch of input chains (``data.clusters`` holds each graph's
                graphemes), in the model's precision.
            outputs: one output per graph (units joined as the model writes them).
        """
        if len(outputs) != int(data.num_graphs):
            raise ValueError(f"{int(data.num_graphs)} inputs but {len(outputs)} outputs")
        targets = self.targets(data, list(outputs))
        targets.unit_rows = targets.unit_rows.to(data.x.dtype)
        if self.backward:
            data, targets = reverse_chains(data), reverse_targets(targets, data)
        out = self._teacher_forced(data, targets)
        per_graph = torch.bincount(out.pooled_batch, minlength=out.num_graphs)
        offsets = (torch.cumsum(per_graph, 0) - per_graph).tolist()
        alignment = out.alignment.tolist()
        feasible = out.feasible.tolist()
        cluster = out.cluster.tolist()
        graph_of = data.batch.tolist()
        parents, morphs, scores = [], [], []
        for g, source in enumerate(data.clusters):
            units = targets.units[g]
            if not feasible[g]:
                parents.append([])
                morphs.append("")
                scores.append(float("-inf"))
                continue
            counts = alignment[g][: int(per_graph[g])]
            parent = [offsets[g] + i for i, c in enumerate(counts) for _ in range(c)]
            graph_cluster = [k for k, b in zip(cluster, graph_of) if b == g]
            parents.append(parent)
            morphs.append(
                describe_morph(source, graph_cluster, units, parent, self.units.join(["", ""]))
            )
            scores.append(float(out.log_likelihood[g]))
        written = reversed_units(targets.units) if self.backward else targets.units
        return Transduction(
            outputs=[self.units.join(u) for u in written], units=written,
            cluster=out.cluster, parent=parents, morphs=morphs, history=out.history,
            scores=scores,
        )  # fmt: skip

    def align_texts(
        self, texts: Sequence[str], outputs: Sequence[str]
    ) -> tuple[Batch, Transduction]:
        """:meth:`align` of non-empty ``texts`` in evaluation mode (the former mode restored
        after), with the batch it ran on (on the model's device, in its precision), as
        :meth:`transduce_texts` returns it.

        Raises:
            ValueError: an empty text (it has no node to align).
        """
        if any(not text for text in texts):
            raise ValueError("align_texts: every text must be non-empty")
        with _evaluating(self):
            data = self._batch(texts)
            return data, self.align(data, outputs)

    @torch.no_grad()
    def candidates(self, texts: Sequence[str], beam: int) -> list[list[str]]:
        """The distinct outputs of each input's beam search, best first (by the search's
        path scores; at most ``beam`` each, at least one). An empty input's only output is
        the empty string."""
        if beam < 1:
            raise ValueError(f"beam must be >= 1, got {beam}")
        found: list[list[str]] = [[""] for _ in texts]
        nonempty = [i for i, text in enumerate(texts) if text]
        if not nonempty:
            return found
        with _evaluating(self):
            data = self._batch([texts[i] for i in nonempty])
            if self.backward:
                data = reverse_chains(data)
            _, _, space, searched = self._search(data, beam)
        for i, hyps in zip(nonempty, searched):
            written = [[space.graphemes[u] for u in h.units] for h in hyps]
            if self.backward:
                written = reversed_units(written)
            outputs = [self.units.join(u) for u in written]
            found[i] = list(dict.fromkeys(outputs))
        return found

    def _search(
        self, data: Batch, beam: int
    ) -> tuple[_Pooled, TransducerContext, ClassSpace, list[list[Hypothesis]]]:
        """Pool ``data`` and search its outputs: (pooled chain, transducer context, the
        batch's class space, each graph's finished hypotheses, best first)."""
        sources = list(data.clusters)
        space = ClassSpace.build(self.output_vocab, sources)
        device = data.x.device
        member_class = space.encode((g for c in sources for g in c), device=device)
        pooled = self._pool(data)
        ctx = self._context(pooled, member_class)
        class_rows = cluster_features(space.graphemes).to(device=device, dtype=data.x.dtype)
        return pooled, ctx, space, transducer_search(self.growth, ctx, class_rows, beam)

    @torch.no_grad()
    def log_likelihood(self, texts: Sequence[str], outputs: Sequence[str]) -> Tensor:
        r"""``[B]``: :math:`\log p(y_b \mid x_b)` of each output given its input, summed over
        every monotonic alignment; :math:`-\infty` where no alignment writes it (a unit
        the model can neither generate nor copy, or more than ``max_children`` units a
        node). An empty input writes only the empty output (log-likelihood 0).

        Args:
            texts: the inputs :math:`x_b`.
            outputs: the outputs :math:`y_b` (units joined as the model writes them).
        """
        if len(texts) != len(outputs):
            raise ValueError(f"{len(texts)} inputs but {len(outputs)} outputs")
        parameter = next(self.parameters())
        result = torch.full((len(texts),), float("-inf"), dtype=parameter.dtype)
        for i, (text, output) in enumerate(zip(texts, outputs)):
            if not text and not self.units.split(output):
                result[i] = 0.0
        nonempty = [i for i, text in enumerate(texts) if text]
        if nonempty:
            with _evaluating(self):
                data = self._batch([texts[i] for i in nonempty])
                targets = self.targets(data, [outputs[i] for i in nonempty])
                targets.unit_rows = targets.unit_rows.to(data.x.dtype)  # the model's precision
                out = self(data, targets)
                logp = torch.where(out.feasible, out.log_likelihood, float("-inf"))
            result[nonempty] = logp.cpu().to(result.dtype)
        return result

    def transduce_texts(self, texts: Sequence[str], beam: int = 1) -> tuple[Batch, Transduction]:
        """:meth:`transduce` of non-empty ``texts`` in evaluation mode (the former mode
        restored after, whatever happens), with the batch it ran on (its chains on the
        model's device, in the model's precision), for callers that draw the morphs.

        Raises:
            ValueError: an empty text (it has no node to run on).
        """
        if any(not text for text in texts):
            raise ValueError("transduce_texts: every text must be non-empty")
        with _evaluating(self):
            data = self._batch(texts)
            return data, self.transduce(data, beam)

    def _batch(self, texts: Sequence[str]) -> Batch:
        """The chains of non-empty ``texts`` on the model's device, in its precision."""
        parameter = next(self.parameters())
        data = graphs_from_texts(list(texts), self.input_units).to(parameter.device)
        # Node features in the model's precision: a float64 model (gradcheck, parity
        # tests) reads float64 features, not the builder's float32.
        data = data.apply(lambda t: t.to(parameter.dtype) if t.is_floating_point() else t)
        data.num_graphs = len(texts)
        return data

    def _rescore(
        self,
        pooled: _Pooled,
        ctx: TransducerContext,
        space: ClassSpace,
        found: list[list[Hypothesis]],
    ) -> tuple[list[Hypothesis], list[float]]:
        """Among each graph's distinct beam outputs, the one of highest marginal
        likelihood (every alignment summed), with its best alignment as the morph."""
        rows, graphs, hyps = [], [], []
        for g, candidates in enumerate(found):
            seen = set()
            for hyp in candidates:
                key = tuple(hyp.units)
                if key not in seen:
                    seen.add(key)
                    rows.append(hyp.units)
                    graphs.append(g)
                    hyps.append(hyp)
        device = pooled.x.device
        index = torch.tensor(graphs, dtype=torch.long, device=device)
        sub = ctx.select(index)
        longest = max((len(r) for r in rows), default=0)
        unit_class = torch.full((len(rows), longest), -1, dtype=torch.long, device=device)
        for r, units in enumerate(rows):
            if units:
                unit_class[r, : len(units)] = torch.tensor(units, device=device)
        class_rows = cluster_features(space.graphemes).to(device=device, dtype=pooled.x.dtype)
        # The feature width is named: when every candidate is empty, ``longest`` is 0 and
        # a ``-1`` in the view would be ambiguous.
        unit_rows = class_rows.index_select(0, unit_class.clamp(min=0).view(-1)).view(
            len(rows), longest, class_rows.size(1)
        ) * (unit_class >= 0).unsqueeze(2)
        num_units = torch.tensor([len(r) for r in rows], dtype=torch.long, device=device)
        lattice = self.growth.lattice(sub, unit_class, unit_rows, num_units)
        logp = monotonic_forward(
            lattice.emit, lattice.end, lattice.num_nodes, num_units, self.growth.max_children
        )
        best_count = self.growth.best_alignment(lattice)
        chosen: list[Hypothesis] = [hyps[0] for hyps in found]
        scores = [float("-inf")] * len(found)
        for r, g in enumerate(graphs):
            if float(logp[r]) > scores[g]:
                scores[g] = float(logp[r])
                parent = [
                    i for i, c in enumerate(best_count[r, : int(sub.num_nodes[r])].tolist())
                    for _ in range(c)
                ]  # fmt: skip
                chosen[g] = Hypothesis(hyps[r].units, parent, float(logp[r]))
        return chosen, scores

    def transform_text(
        self, texts: Sequence[str], with_morph: bool = False, beam: int = 1
    ) -> list[str] | list[tuple[str, str]]:
        """Transform strings end to end: ``["abc", "xyz"] -> ["ab", "xy"]`` once trained,
        in evaluation mode, on the model's device. With ``with_morph``, ``(output,
        "ab→a · c→∅")`` pairs. ``beam``: hypotheses kept per input (1: greedy)."""
        if isinstance(texts, str):
            raise TypeError("transform_text expects a list of str, not a single str")
        if len(texts) == 0:
            return []
        # An empty input has no node to emit from: its only alignment emits nothing.
        answered: list[tuple[str, str]] = [("", "")] * len(texts)
        nonempty = [i for i, text in enumerate(texts) if text]
        if nonempty:
            _, result = self.transduce_texts([texts[i] for i in nonempty], beam)
            for i, output, morph in zip(nonempty, result.outputs, result.morphs):
                answered[i] = (output, morph)
        if with_morph:
            return answered
        return [output for output, _ in answered]

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(hidden_channels={self.hidden_channels}, "
            f"num_layers={self.num_layers}, growth={self.growth!r}, "
            f"output_units={self.output_units!r}, vocab={len(self.output_vocab)}"
            + (f", input_units={self.input_units!r}" if self.input_units != "graphemes" else "")
            + (f", reading_order={self.reading_order!r})" if self.backward else ")")
        )
