r"""GraphTransformNet: embed graphemes, pass messages, attend, merge, emit.

.. code-block:: text

    x [N, 77] (vocabulary-free grapheme features, pyg_grapheme.text)
      ++ periodic position + chain-end flags            [N, 77 + P]
      -> Linear embedding                               [N, H]
      -> GraphemeConv x L (flows alternate: left context, right context)
      -> GraphAttention (within each graph)             [N, H]
      -> merge features z = [softplus(g(h)) * sig ++ c(h)]   [N, 64 + H/2]
      -> ThresholdMergePool(z) x num_pools              cluster [N] -> [K]
      -> pooled h = weighted mean of members' h (the pool's member weights)  [K, H]
      -> heads: copy logit per input node, generation logits per pooled node
                (pointer-generator, see output_classes), activation per pooled
                node, edit operation (keep/delete/modify/insert) per input node

Merge features. The pool compares nodes by the cosine of
:math:`z_i = [\,\mathrm{softplus}(g(h_i))\,\mathbf{s}_i \,\|\, c(h_i)\,]`, where
:math:`\mathbf{s}_i` is the *fixed* hashed signature of the node's grapheme
(the first 64 text features, a unit vector), :math:`g` a learnt scalar gain and
:math:`c` a learnt context vector. Two equal graphemes have
:math:`\mathbf{s}_i \cdot \mathbf{s}_j = 1`; two different ones about
:math:`\mathcal{N}(0, 1/64)`, in any script, seen in training or not. The model
learns *when* identity matters (a large gain: "merge equal neighbours") and
when context does (a small gain and dissimilar contexts: "keep these apart"),
but it cannot learn to confuse two graphemes it never saw. A learnt
projection of the signature (the pool's optional ``in_channels`` projection)
measured 53 % exact match on Greek and 26 % on emoji dedupe after Latin
training, against this design's figures in the README.

Position enters only through periodic features :math:`\cos(2\pi p / T)`,
:math:`\sin(2\pi p / T)` for small periods ``T`` (default: parity, ``T = 2``)
and the flags "first node" / "last node" (in- and out-degree 0). They let
adjacent equal graphemes look different where a task needs it (``"aa"`` must
not merge when squeezing spaces) while staying meaningful at any length, so a
model trained on short strings runs unchanged on longer ones. Every joint
phase must occur in training: with periods (2, 3, 4) the phases repeat every
12 positions, strings of at most 8 never show positions 8-11, and copy at
twice the training length fell to 55 % exact match (parity alone: 100 %).

:meth:`GraphTransformNet.decode` reads the pooled graph back in chain order:
pooled nodes are numbered by their smallest member (the pool's contract), and
each emits its most likely grapheme.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import Linear, ModuleList, Sequential
from torch_geometric.data import Batch
from torch_geometric.utils import degree, scatter

from pyg_grapheme.models.output_classes import ClassSpace, pointer_generator_probs
from pyg_grapheme.nn.attention import GraphAttention
from pyg_grapheme.nn.conv import GraphemeConv
from pyg_grapheme.nn.pool import MergeHistory, MergeInfo, ThresholdMergePool
from pyg_grapheme.text import HASH_DIM, NUM_NODE_FEATURES, graphs_from_texts

__all__ = ["GraphTransformNet", "TransformOutput"]

NUM_EDIT_OPS = 4
NUM_PLACES = 4  # distance to the run's right end: 0, 1, 2, 3+
NUM_ORDINALS = 3  # ordinal of the run among same-group runs of its text: 0, 1, 2+
_GROUP_FEATURES = slice(HASH_DIM, HASH_DIM + 7)  # category groups L M N P S Z C (text.py)


def run_position_features(x: Tensor, pos: Tensor) -> Tensor:
    """``[N, NUM_PLACES + NUM_ORDINALS]`` run features (see ``run_features``).

    Nodes of one text must be contiguous and in reading order with ``pos``
    starting at 0 (what ``graphs_from_texts`` builds). Vectorised: runs come
    from a cumulative sum of "group changes here", ordinals from a stable sort
    of the runs by (text, group).
    """
    num_nodes = x.size(0)
    if num_nodes == 0:
        return x.new_zeros(0, NUM_PLACES + NUM_ORDINALS)
    group = x[:, _GROUP_FEATURES].argmax(dim=1)
    text_start = pos == 0
    previous = torch.cat([group.new_full((1,), -1), group[:-1]])
    start = text_start | (group != previous)
    run = torch.cumsum(start.long(), dim=0) - 1  # [N] run id
    num_runs = int(run[-1]) + 1
    index = torch.arange(num_nodes, device=x.device)
    run_end = torch.full((num_runs,), -1, dtype=torch.long, device=x.device)
    run_end = run_end.scatter_reduce(0, run, index, reduce="amax")
    place = (run_end[run] - index).clamp(max=NUM_PLACES - 1)
    # Ordinal of each run among the runs of the same group in the same text.
    text = torch.cumsum(text_start.long(), dim=0) - 1
    run_first = index[start]
    key = text[run_first] * 8 + group[run_first]
    order = torch.sort(key, stable=True).indices
    sorted_key = key[order]
    _, inverse = torch.unique_consecutive(sorted_key, return_inverse=True)
    rank = torch.arange(num_runs, device=x.device)
    first = torch.full((int(inverse.max()) + 1,), num_runs, dtype=torch.long, device=x.device)
    first = first.scatter_reduce(0, inverse, rank, reduce="amin")
    ordinal = torch.empty_like(rank)
    ordinal[order] = rank - first[inverse]
    ordinal = ordinal.clamp(max=NUM_ORDINALS - 1)[run]
    return torch.cat(
        [
            torch.nn.functional.one_hot(place, NUM_PLACES).to(x.dtype),
            torch.nn.functional.one_hot(ordinal, NUM_ORDINALS).to(x.dtype),
        ],
        dim=1,
    )


class _FeedForward(torch.nn.Module):
    r"""``LN(x + W2 LeakyReLU(W1 x))``, width ``2H``: a Transformer layer's per-node block.

    With ``gated`` the hidden activation is multiplied by a second linear map
    of the input (a GLU, Shazeer 2020):
    ``LN(x + W2 (LeakyReLU(W1 x) \odot W3 x))``. The product makes the block
    quadratic in its input, so it can form ``a * b`` of two quantities the
    attention gathered into one node; the plain block can only approximate it
    piecewise linearly.

    With ``dropout > 0`` the hidden activation and the residual branch are
    dropped out in training, as in a Transformer layer.
    """

    def __init__(self, channels: int, dropout: float = 0.0, gated: bool = False) -> None:
        super().__init__()
        self.net = Sequential(
            Linear(channels, 2 * channels), torch.nn.LeakyReLU(0.01), Linear(2 * channels, channels)
        )
        self.gate = Linear(channels, 2 * channels) if gated else None
        # Not inside ``net``: its layer indices (checkpoint keys) stay as without dropout.
        self.dropout = torch.nn.Dropout(dropout)
        self.norm = torch.nn.LayerNorm(channels)

    def reset_parameters(self) -> None:
        for layer in (*self.net, self.gate):
            if isinstance(layer, Linear):
                layer.reset_parameters()
        self.norm.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        hidden = self.net[1](self.net[0](x))
        if self.gate is not None:
            hidden = hidden * self.gate(x)
        hidden = self.dropout(hidden)
        return self.norm(x + self.dropout(self.net[2](hidden)))


@dataclass
class TransformOutput:
    """Everything one forward pass computes (shapes for a batch of ``B`` graphs).

    Attributes:
        cluster: ``LongTensor[N]`` input node -> pooled node (composed over pools).
        x: ``[K, H]`` pooled node features.
        edge_index: ``LongTensor[2, E']`` pooled edges (direction kept).
        edge_weight: ``[E']`` soft pooled edge weights from the last pool.
        batch: ``LongTensor[K]`` graph of each pooled node.
        member_logit: ``[N]`` copy logit of each input node.
        vocab_logit: ``[K, |V|]`` generation logits.
        act: ``[K]`` activation in (0, 1).
        edit_logit: ``[N, 4]`` edit-operation logits of each input node.
        infos: one :class:`MergeInfo` per pool layer.
        num_graphs: ``B``.
    """

    cluster: Tensor
    x: Tensor
    edge_index: Tensor
    edge_weight: Tensor
    batch: Tensor
    member_logit: Tensor
    vocab_logit: Tensor
    act: Tensor
    edit_logit: Tensor
    infos: list[MergeInfo]
    num_graphs: int


class GraphTransformNet(torch.nn.Module):
    r"""A network that morphs grapheme graphs by learnt threshold merges.

    Args:
        hidden_channels (int, optional): Width ``H``. (default: :obj:`64`)
        num_layers (int, optional): Number of :class:`GraphemeConv` layers ``L``.
            (default: :obj:`4`)
        heads (int, optional): Attention heads. (default: :obj:`4`)
        output_vocab (Sequence[str], optional): Graphemes the model can generate
            without seeing them in its input (see ``output_classes``).
            (default: :obj:`()`)
        num_pools (int, optional): Number of stacked :class:`ThresholdMergePool`
            layers. (default: :obj:`1`)
        threshold (float, optional): Starting effective merge threshold.
            (default: :obj:`0.5`)
        temperature (float, optional): Soft-gate temperature of the pools.
            (default: :obj:`0.1`)
        pool_mode (str, optional): ``"components"`` or ``"matching"``.
            (default: :obj:`"components"`)
        periods (Sequence[int], optional): Periods of the position features.
            (default: :obj:`(2,)`)
        attention_layers (int, optional): Number of within-graph attention
            layers ``A``, interleaved with the convolutions: attention ``k``
            follows conv ``floor((k + 1) L / A) - 1``. Tasks whose output needs
            global information (every digit of an arithmetic result depends on
            both operands and the operator) need more than one round of
            global mixing. (default: :obj:`1`, after the last conv)
        feedforward (bool, optional): Follow each attention layer by a
            residual two-layer feed-forward block (width ``2H``, LayerNorm), as
            in a Transformer layer: attention only mixes linearly, the block
            gives the per-node non-linearity that combines what was gathered.
            (default: :obj:`False`)
        gated_feedforward (bool, optional): Make the feed-forward blocks
            gated (GLU): the hidden activation is multiplied by a second
            linear map of the input, which lets a node multiply two
            quantities it gathered (arithmetic). (default: :obj:`False`)
        post_pool_layers (int, optional): Number of layers run on the *pooled*
            graph before the heads, each a pair of :class:`GraphemeConv`
            (left and right context) and a within-graph attention (plus
            feed-forward block when ``feedforward``). A pooled node then knows
            its place among the output nodes (first, last, how many), which a
            weighted mean of its members cannot tell it: with right-aligned
            supervision the same input node may end up in the leading cluster
            or alone, depending on the output length. (default: :obj:`0`)
        run_features (bool, optional): Add the node's place in its *run*, a
            maximal stretch of consecutive graphemes of the same Unicode
            category group (letters, digits, punctuation, ...): its distance
            to the run's right end (one-hot 0, 1, 2, 3+) and the run's ordinal
            among the runs of that group in the text (one-hot 0, 1, 2+). For
            numbers these are the place value of a digit (units, tens, ...)
            and which number of the text it belongs to; for words, the
            letter's distance to the word end and the word's ordinal. They
            are read off the category features and the chain order only, so
            they mean the same in any script and at any length.
            (default: :obj:`False`)
        dropout (float, optional): Dropout probability, in training only, on
            the embedded node features, inside the feed-forward blocks (hidden
            activation and residual branch) and on the hidden layer of the
            generation head. A regulariser for small training sets that the
            network would otherwise memorise. (default: :obj:`0.0`, none)
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
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if num_pools < 1:
            raise ValueError(f"num_pools must be >= 1, got {num_pools}")
        if len(set(output_vocab)) != len(output_vocab):
            raise ValueError("output_vocab has duplicate graphemes")
        self.hidden_channels = hidden_channels
        self.output_vocab = list(output_vocab)
        self.periods = tuple(int(p) for p in periods)
        self.run_features = bool(run_features)
        in_features = NUM_NODE_FEATURES + 2 * len(self.periods) + 2
        if self.run_features:
            in_features += NUM_PLACES + NUM_ORDINALS
        self.embed = Linear(in_features, hidden_channels)
        self.dropout = torch.nn.Dropout(dropout)
        self.convs = ModuleList(
            GraphemeConv(
                hidden_channels,
                hidden_channels,
                flow="source_to_target" if layer % 2 == 0 else "target_to_source",
            )
            for layer in range(num_layers)
        )
        if attention_layers < 1:
            raise ValueError(f"attention_layers must be >= 1, got {attention_layers}")
        self.attention = GraphAttention(hidden_channels, heads=heads)
        # Attention layers after the first (same layout as ``self.attention``).
        self.extra_attention = ModuleList(
            GraphAttention(hidden_channels, heads=heads) for _ in range(attention_layers - 1)
        )
        self.attention_after = [
            (k + 1) * num_layers // attention_layers - 1 for k in range(attention_layers)
        ]
        self.feedforward = ModuleList(
            _FeedForward(hidden_channels, dropout, gated_feedforward)
            for _ in range(attention_layers if feedforward else 0)
        )
        self.post_convs = ModuleList(
            GraphemeConv(
                hidden_channels,
                hidden_channels,
                flow="source_to_target" if layer % 2 == 0 else "target_to_source",
            )
            for layer in range(2 * post_pool_layers)
        )
        self.post_attention = ModuleList(
            GraphAttention(hidden_channels, heads=heads) for _ in range(post_pool_layers)
        )
        self.post_feedforward = ModuleList(
            _FeedForward(hidden_channels, dropout, gated_feedforward)
            for _ in range(post_pool_layers if feedforward else 0)
        )
        context_channels = max(hidden_channels // 2, 1)
        self.signature_gain = Linear(hidden_channels, 1)
        self.context = Linear(hidden_channels, context_channels)
        self.pools = ModuleList(
            ThresholdMergePool(None, threshold=threshold, mode=pool_mode, temperature=temperature)
            for _ in range(num_pools)
        )
        self.copy_head = Linear(hidden_channels, 1)
        # With nothing to generate there is no generation head (a [K, 0] logit block).
        self.vocab_head = (
            Sequential(
                Linear(hidden_channels, hidden_channels),
                torch.nn.LeakyReLU(0.01),
                Linear(hidden_channels, len(self.output_vocab)),
            )
            if self.output_vocab
            else None
        )
        self.act_head = Linear(hidden_channels, 1)
        self.edit_head = Linear(hidden_channels, NUM_EDIT_OPS)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise every layer."""
        self.embed.reset_parameters()
        for conv in self.convs:
            conv.reset_parameters()
        self.attention.reset_parameters()
        for module in (
            *self.extra_attention,
            *self.feedforward,
            *self.post_convs,
            *self.post_attention,
            *self.post_feedforward,
        ):
            module.reset_parameters()
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

    # ------------------------------------------------------------------ forward
    def node_inputs(self, x: Tensor, edge_index: Tensor, pos: Tensor) -> Tensor:
        """Grapheme features ++ periodic position ++ first/last flags: ``[N, 77 + P]``."""
        num_nodes = x.size(0)
        angle = 2 * math.pi * pos.to(x.dtype).unsqueeze(1)
        periods = torch.tensor(self.periods, dtype=x.dtype, device=x.device)
        phase = angle / periods
        in_deg = degree(edge_index[1], num_nodes, dtype=x.dtype)
        out_deg = degree(edge_index[0], num_nodes, dtype=x.dtype)
        flags = torch.stack([(in_deg == 0).to(x.dtype), (out_deg == 0).to(x.dtype)], dim=1)
        parts = [x, torch.cos(phase), torch.sin(phase), flags]
        if self.run_features:
            parts.append(run_position_features(x, pos))
        return torch.cat(parts, dim=1)

    def forward(self, data: Batch) -> TransformOutput:
        """Run the network on a batch of grapheme chains (``text_to_graph`` output)."""
        x, edge_index = data.x, data.edge_index
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = x.new_zeros(x.size(0), dtype=torch.long)
        num_graphs = int(getattr(data, "num_graphs", 1) or 1)
        h = self.dropout(self.embed(self.node_inputs(x, edge_index, data.pos)))
        attentions = [self.attention, *self.extra_attention]
        done = 0
        if len(self.convs) == 0:
            h = self._attend(h, batch, 0)
            done = 1
        for layer, conv in enumerate(self.convs):
            h = conv(h, edge_index)
            while done < len(attentions) and self.attention_after[done] <= layer:
                h = self._attend(h, batch, done)
                done += 1

        signature = x[:, :HASH_DIM]
        merge_features = torch.cat(
            [torch.nn.functional.softplus(self.signature_gain(h)) * signature, self.context(h)],
            dim=1,
        )
        history = MergeHistory()
        infos: list[MergeInfo] = []
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
            infos.append(info)
        edge_weight = infos[-1].edge_weight
        for k, attention in enumerate(self.post_attention):
            pooled = self.post_convs[2 * k](pooled, pooled_edge_index)
            pooled = self.post_convs[2 * k + 1](pooled, pooled_edge_index)
            pooled = attention(pooled, pooled_batch)
            if len(self.post_feedforward) > 0:
                pooled = self.post_feedforward[k](pooled)
        return TransformOutput(
            cluster=history.cluster,
            x=pooled,
            edge_index=pooled_edge_index,
            edge_weight=edge_weight,
            batch=pooled_batch,
            member_logit=self.copy_head(h).squeeze(1),
            vocab_logit=(
                self.vocab_head[2](self.dropout(self.vocab_head[1](self.vocab_head[0](pooled))))
                if self.vocab_head is not None
                else pooled.new_zeros(pooled.size(0), 0)
            ),
            act=torch.sigmoid(self.act_head(pooled).squeeze(1)),
            edit_logit=self.edit_head(h),
            infos=infos,
            num_graphs=num_graphs,
        )

    def _attend(self, h: Tensor, batch: Tensor, k: int) -> Tensor:
        """Attention layer ``k`` (and its feed-forward block when enabled)."""
        attention = self.attention if k == 0 else self.extra_attention[k - 1]
        h = attention(h, batch)
        if len(self.feedforward) > 0:
            h = self.feedforward[k](h)
        return h

    # ------------------------------------------------------------------ classes
    def class_space(self, *cluster_lists: Sequence[Sequence[str]]) -> ClassSpace:
        """Batch-local class space: the output vocabulary, then the given graphemes."""
        return ClassSpace.build(self.output_vocab, *cluster_lists)

    def type_probs(self, out: TransformOutput, member_class: Tensor, space: ClassSpace) -> Tensor:
        """``[K, C]`` class distribution of each pooled node (pointer-generator)."""
        vocab_class = torch.arange(len(self.output_vocab), device=member_class.device)
        return pointer_generator_probs(
            out.member_logit,
            member_class,
            out.cluster,
            out.vocab_logit,
            vocab_class,
            len(space),
        )

    # ------------------------------------------------------------------ decode
    @staticmethod
    def emitted_graphemes(
        probs: Tensor, batch: Tensor, num_graphs: int, space: ClassSpace
    ) -> list[list[str]]:
        """Each graph's pooled nodes in chain order, each as its most likely grapheme."""
        best = probs.argmax(dim=1).tolist()
        emitted: list[list[str]] = [[] for _ in range(num_graphs)]
        for node, graph in enumerate(batch.tolist()):
            emitted[graph].append(space.graphemes[best[node]])
        return emitted

    @staticmethod
    def decode(probs: Tensor, batch: Tensor, num_graphs: int, space: ClassSpace) -> list[str]:
        """Pooled graph -> text: nodes in chain order, each its most likely grapheme."""
        emitted = GraphTransformNet.emitted_graphemes(probs, batch, num_graphs, space)
        return ["".join(nodes) for nodes in emitted]

    @torch.no_grad()
    def emit(self, data: Batch) -> tuple[TransformOutput, list[list[str]]]:
        """Forward ``data`` and return each graph's emitted graphemes, one per pooled node."""
        out = self(data)
        space = self.class_space(data.clusters)
        device = data.x.device
        member_class = space.encode((g for c in data.clusters for g in c), device=device)
        probs = self.type_probs(out, member_class, space)
        return out, self.emitted_graphemes(probs, out.batch, out.num_graphs, space)

    @torch.no_grad()
    def transform_text(self, texts: Sequence[str]) -> list[str]:
        """Transform strings end to end: ``["abc", "xyz"] -> ["ab", "xy"]`` once trained."""
        if isinstance(texts, str):
            raise TypeError("transform_text expects a list of str, not a single str")
        if len(texts) == 0:
            return []
        was_training = self.training
        self.eval()
        try:
            device = next(self.parameters()).device
            data = graphs_from_texts(list(texts)).to(device)
            data.num_graphs = len(texts)
            _, emitted = self.emit(data)
            return ["".join(nodes) for nodes in emitted]
        finally:
            self.train(was_training)
