r"""OutputDecoder: output nodes that read what the nodes before them emitted.

The grown chain fixes how many output nodes there are and where each comes
from (its parent cluster); without this module each node then picks its
grapheme on its own, in parallel. That is enough when an output node's
grapheme follows from the input around its parent (copy, merge, repeat,
insert), but not when the answer is a new expression whose parts depend on
each other (a derivative: ``(d/dx (* 3 (^ x 2)))`` -> ``(* 6 x)``), where a
node must know what its predecessors wrote to stay consistent with them.

Each output node :math:`o` of graph :math:`b`, at rank :math:`r` in its chain,
is decoded from its grown features :math:`\mathbf{g}_o` plus an embedding of
the grapheme emitted at rank :math:`r - 1` (a learnt start vector at rank 0),

.. math::

    \mathbf{d}^{(0)}_o = \mathbf{g}_o + \begin{cases}
        \mathbf{W}_e\, \phi(e_{r-1}) & r > 0 \\ \mathbf{s} & r = 0 \end{cases},
    \qquad
    \mathbf{d}^{(l+1)} = \mathrm{DecoderLayer}_l\big(\mathbf{d}^{(l)};\
        \mathbf{h}_{\mathcal{G}(b)}\big),

where :math:`\phi` is the vocabulary-free feature row of a grapheme
(:func:`~pyg_grapheme.text.cluster_features`: any grapheme, in any script, has
one) and each layer is a Transformer decoder layer
(:class:`torch.nn.TransformerDecoderLayer`): self-attention over the output
nodes of the same graph at ranks :math:`\le r` (causal), cross-attention over
the input nodes :math:`\mathbf{h}` of the same graph, and a feed-forward block.
No node attends to another graph or to padding.

Training feeds the target graphemes (teacher forcing: with the target counts,
the output nodes of a graph stand for its target graphemes in order). At
inference the graphemes are decoded greedily, rank by rank
(:meth:`OutputDecoder.decode_greedily`, called by
:meth:`~pyg_grapheme.models.GraphTransformNet.emit_classes`): the causal mask
makes node :math:`o`'s output depend only on ranks :math:`\le r`, so step
:math:`r` computes the rank-:math:`r` nodes of every graph from the layer
inputs of the ranks before (kept per layer), the same numbers the full pass
gives, in time linear in the number of ranks decoded so far.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import Linear, ModuleList, Parameter, TransformerDecoderLayer
from torch_geometric.utils import to_dense_batch

from pyg_grapheme.text import FeatureLayout

__all__ = ["DecoderSteps", "OutputDecoder", "chain_rank", "previous_in_graph"]


def chain_rank(batch: Tensor) -> Tensor:
    """``LongTensor[M]``: the rank of each node among the nodes of its graph (``batch`` sorted)."""
    if batch.numel() == 0:
        return batch.clone()
    index = torch.arange(batch.numel(), device=batch.device)
    first = torch.ones_like(batch, dtype=torch.bool)
    first[1:] = batch[1:] != batch[:-1]
    start = torch.cummax(torch.where(first, index, 0), dim=0).values
    return index - start


def previous_in_graph(batch: Tensor) -> Tensor:
    """``BoolTensor[M]``: whether the node before each node (in order) is in the same graph."""
    same = torch.zeros_like(batch, dtype=torch.bool)
    if batch.numel() > 1:
        same[1:] = batch[1:] == batch[:-1]
    return same


class OutputDecoder(torch.nn.Module):
    r"""Autoregressive decoding of the output nodes (module docstring).

    Args:
        channels (int): Width :math:`H` of the node features.
        num_layers (int): Decoder layers :math:`L \ge 1`.
        heads (int, optional): Attention heads. (default: :obj:`4`)
        dropout (float, optional): Dropout inside the decoder layers.
            (default: :obj:`0.0`)
        feature_dim (int, optional): Width of a grapheme's feature row
            :math:`\phi`. (default: :obj:`FeatureLayout.width`)
    """

    def __init__(
        self,
        channels: int,
        num_layers: int,
        heads: int = 4,
        dropout: float = 0.0,
        feature_dim: int = FeatureLayout.width,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"OutputDecoder: num_layers must be >= 1, got {num_layers}")
        if channels % heads != 0:
            raise ValueError(
                f"OutputDecoder: channels ({channels}) must be divisible by heads ({heads})"
            )
        self.channels = channels
        self.num_layers = num_layers
        self.heads = heads
        self.feature_dim = feature_dim
        self.embed_previous = Linear(feature_dim, channels)
        self.start = Parameter(torch.empty(channels))
        self.layers = ModuleList(
            TransformerDecoderLayer(
                channels, heads, dim_feedforward=2 * channels, dropout=dropout, batch_first=True
            )
            for _ in range(num_layers)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise the embedding, the start vector and every layer."""
        self.embed_previous.reset_parameters()
        torch.nn.init.zeros_(self.start)
        for layer in self.layers:
            for module in layer.modules():
                if module is not layer and hasattr(module, "reset_parameters"):
                    module.reset_parameters()
            layer.self_attn._reset_parameters()
            layer.multihead_attn._reset_parameters()

    def forward(
        self,
        x: Tensor,
        batch: Tensor,
        emitted: Tensor,
        memory: Tensor,
        memory_batch: Tensor,
        num_graphs: int,
    ) -> Tensor:
        r"""Decode the output nodes.

        Args:
            x: ``[M, H]`` grown features of the output nodes (sorted by graph, in chain order).
            batch: ``LongTensor[M]`` graph of each output node.
            emitted: ``[M, feature_dim]`` feature row of the grapheme each output node
                emits; node :math:`o` reads the row of the node before it in its graph.
                Rows at ranks not yet decoded may hold anything: no node reads a later one.
            memory: ``[N, H]`` features of the input nodes.
            memory_batch: ``LongTensor[N]`` graph of each input node (sorted).
            num_graphs: ``B``.

        Returns:
            ``[M, H]`` decoded features.
        """
        if emitted.shape != (x.size(0), self.feature_dim):
            raise ValueError(
                f"OutputDecoder: emitted must be [{x.size(0)}, {self.feature_dim}] (one feature "
                f"row per output node), got {list(emitted.shape)}"
            )
        if x.size(0) == 0:
            return x
        previous = torch.cat([emitted.new_zeros(1, self.feature_dim), emitted[:-1]])
        has_previous = previous_in_graph(batch).unsqueeze(1)
        x = x + torch.where(has_previous, self.embed_previous(previous), self.start)

        target, target_mask = to_dense_batch(x, batch, batch_size=num_graphs)  # [B, M_max, H]
        source, source_mask = to_dense_batch(memory, memory_batch, batch_size=num_graphs)
        # A graph without nodes has a fully masked row, whose softmax is NaN: unmask one
        # (zero) slot there; its outputs are dropped by [target_mask].
        target_padding, source_padding = ~target_mask, ~source_mask
        target_padding[:, 0] &= target_mask.any(dim=1)
        source_padding[:, 0] &= source_mask.any(dim=1)
        causal = torch.triu(
            torch.ones(target.size(1), target.size(1), dtype=torch.bool, device=x.device),
            diagonal=1,
        )
        for layer in self.layers:
            target = layer(
                target,
                source,
                tgt_mask=causal,
                tgt_key_padding_mask=target_padding,
                memory_key_padding_mask=source_padding,
            )
        return target[target_mask]

    @torch.no_grad()
    def decode_greedily(
        self,
        x: Tensor,
        batch: Tensor,
        memory: Tensor,
        memory_batch: Tensor,
        num_graphs: int,
        choose: Callable[[Tensor, Tensor], Tensor],
    ) -> Tensor:
        r"""Decode rank by rank, each rank reading the graphemes chosen at the one before.

        Step :math:`r` runs every layer on the rank-:math:`r` node of each graph only,
        attending to the layer inputs of ranks :math:`\le r` kept from earlier steps: the
        result equals :meth:`forward` fed the chosen rows, in evaluation mode.

        Args:
            x, batch, memory, memory_batch, num_graphs: as in :meth:`forward`.
            choose: ``choose(decoded [R, H], nodes LongTensor[R]) -> [R, feature_dim]``:
                given the decoded features of the nodes at one rank, the feature rows of
                the graphemes they emit (e.g. their most likely class).

        Returns:
            ``[M, H]`` decoded features.
        """
        if x.size(0) == 0:
            return x
        rank = chain_rank(batch)
        steps = self.steps(memory, memory_batch, num_graphs)
        decoded = torch.empty_like(x)
        previous = self.start.expand(num_graphs, -1)
        for step in range(int(rank.max()) + 1):
            nodes = (rank == step).nonzero().view(-1)
            graphs = batch.index_select(0, nodes)
            rows = steps.step(graphs, x.index_select(0, nodes) + previous.index_select(0, graphs))
            decoded[nodes] = rows
            chosen = self.embed_previous(choose(rows, nodes))
            previous = previous.clone()
            previous[graphs] = chosen
        return decoded

    def steps(self, memory: Tensor, memory_batch: Tensor, num_graphs: int) -> DecoderSteps:
        """An incremental decoding of ``num_graphs`` graphs over the input nodes ``memory``
        (:class:`DecoderSteps`)."""
        return DecoderSteps(self, memory, memory_batch, num_graphs)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.channels}, num_layers={self.num_layers}, "
            f"heads={self.heads})"
        )


class DecoderSteps:
    r"""The decoder run one output node per graph at a time, in evaluation mode.

    Each :meth:`step` decodes the next output node of some graphs from its layer input
    (its features plus the embedding of the grapheme before it, or the start vector);
    every layer attends to the inputs that layer got at the graph's earlier steps, kept
    here, so the rows equal what :meth:`OutputDecoder.forward` gives the same nodes
    (causal mask), at a cost linear in the steps taken so far. What the next node is may
    depend on what was decoded: :meth:`OutputDecoder.decode_greedily` walks a chain fixed
    in advance, :meth:`~pyg_grapheme.models.GraphTransformNet.emit_classes` grows the
    chain as the decoder ends each cluster's output.

    Args:
        decoder: the :class:`OutputDecoder`.
        memory: ``[N, H]`` features of the input nodes.
        memory_batch: ``LongTensor[N]`` graph of each input node (sorted).
        num_graphs: ``B``.
    """

    def __init__(
        self, decoder: OutputDecoder, memory: Tensor, memory_batch: Tensor, num_graphs: int
    ) -> None:
        self.layers = decoder.layers
        self.num_graphs = num_graphs
        self.source, source_mask = to_dense_batch(memory, memory_batch, batch_size=num_graphs)
        self.source_padding = ~source_mask
        self.source_padding[:, 0] &= source_mask.any(dim=1)
        # Per layer, the inputs of the steps so far: [B, 1, H] each; and which are real.
        self.kept: list[list[Tensor]] = [[] for _ in self.layers]
        self.real: list[Tensor] = []

    def step(self, graphs: Tensor, inputs: Tensor) -> Tensor:
        """``[R, H]``: the decoded rows of the next output node of each of ``graphs``
        (``LongTensor[R]``, distinct), given their layer inputs ``[R, H]``."""
        present = torch.zeros(self.num_graphs, dtype=torch.bool, device=inputs.device)
        present[graphs] = True
        # Graphs without a node at this step get a zero row that only attends to itself,
        # so no softmax row is empty; their results are never read.
        self.real.append(present)
        padding = ~torch.stack(self.real, dim=1)
        padding[:, -1] = False
        y = inputs.new_zeros(self.num_graphs, 1, inputs.size(1))
        y[graphs, 0] = inputs
        for layer, kept in zip(self.layers, self.kept):
            kept.append(y)
            keys = torch.cat(kept, dim=1)
            attended = layer.self_attn(y, keys, keys, key_padding_mask=padding, need_weights=False)[
                0
            ]
            y = layer.norm1(y + layer.dropout1(attended))
            attended = layer.multihead_attn(
                y, self.source, self.source, key_padding_mask=self.source_padding,
                need_weights=False,
            )[0]  # fmt: skip
            y = layer.norm2(y + layer.dropout2(attended))
            y = layer.norm3(y + layer._ff_block(y))
        return y[graphs, 0]
