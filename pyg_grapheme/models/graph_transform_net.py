r"""GraphTransformNet: embed graphemes, pass messages, attend, merge, emit.

.. code-block:: text

    x [N, 77] (vocabulary-free grapheme features, pyg_grapheme.text)
      -> NodeInputs: ++ periodic position, chain-end flags (, run features)
      -> Linear embedding                                         [N, H]
      -> ContextStack: GraphemeConv x L (left/right context), attention x A   [N, H]
      -> merge features z = [softplus(g(h)) * signature ++ c(h)]  [N, 64 + H/2]
      -> ThresholdMergePool(z) x num_pools                        cluster [N] -> [K]
      -> pooled h = weighted mean of members' h (the pool's member weights)  [K, H]
      -> ContextStack on the pooled chain (post_pool_layers)      [K, H]
      -> heads: copy logit per input node, generation logits per pooled node
                (pointer-generator, output_classes), activation per pooled
                node, edit operation (keep/delete/modify/insert) per input node

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

from collections.abc import Sequence
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
from pyg_grapheme.models.text_transform import transform_text
from pyg_grapheme.nn import MergeInfo, MorphHistory, ThresholdMergePool
from pyg_grapheme.text import FeatureLayout

__all__ = ["GraphTransformNet", "TransformOutput"]


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
        edit_logit: ``[N, len(EDIT_OPS)]`` edit-operation logits of each input node.
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
            raise ValueError(f"GraphTransformNet: dropout must be in [0, 1), got {dropout}")
        if num_pools < 1:
            raise ValueError(f"GraphTransformNet: num_pools must be >= 1, got {num_pools}")
        if attention_layers < 1:
            raise ValueError(
                f"GraphTransformNet: attention_layers must be >= 1, got {attention_layers}"
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
            ThresholdMergePool(None, threshold=threshold, mode=pool_mode, temperature=temperature)
            for _ in range(num_pools)
        )
        self.copy_head = Linear(hidden_channels, 1)
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

    def forward(self, data: Batch) -> TransformOutput:
        """Run the network on a batch of grapheme chains (``text_to_graph`` output)."""
        x, edge_index = data.x, data.edge_index
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = x.new_zeros(x.size(0), dtype=torch.long)
        num_graphs = int(getattr(data, "num_graphs", 1) or 1)
        h = self.drop(self.embed(self.node_inputs(x, edge_index, data.pos)))
        h = self.encoder(h, edge_index, batch)

        merge_features = torch.cat(
            [
                torch.nn.functional.softplus(self.signature_gain(h)) * x[:, FeatureLayout.signature],
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
        pooled = self.post_pool(pooled, pooled_edge_index, pooled_batch)
        return TransformOutput(
            cluster=history.cluster,
            x=pooled,
            edge_index=pooled_edge_index,
            edge_weight=history[-1].edge_weight,
            batch=pooled_batch,
            member_logit=self.copy_head(h).squeeze(1),
            vocab_logit=(
                self.vocab_head(pooled)
                if self.vocab_head is not None
                else pooled.new_zeros(pooled.size(0), 0)
            ),
            act=torch.sigmoid(self.act_head(pooled).squeeze(1)),
            edit_logit=self.edit_head(h),
            infos=list(history),
            num_graphs=num_graphs,
        )

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

    def transform_text(self, texts: Sequence[str]) -> list[str]:
        """Transform strings end to end: ``["abc", "xyz"] -> ["ab", "xy"]`` once trained
        (:func:`~pyg_grapheme.models.text_transform.transform_text`)."""
        return transform_text(self, texts)
