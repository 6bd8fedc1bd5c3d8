r"""Node splitting: every node becomes :math:`c_i \in \{0, \ldots, K\}` nodes, chained."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import Embedding, Linear
from torch_geometric.utils import coalesce

from pyg_grapheme.nn.input_checks import check_graph_inputs, check_node_indices
from pyg_grapheme.nn.split.split_info import SplitInfo

__all__ = ["NodeSplit", "lift_children"]


class NodeSplit(torch.nn.Module):
    r"""Splits each node into :math:`c_i \in \{0, \ldots, K\}` nodes: the counterpart of
    :class:`~pyg_grapheme.nn.ThresholdMergePool`.

    A count of 0 deletes the node, 1 keeps it, more makes siblings. The call and
    the return tuple are the pool's, so merges and splits stack, and
    :class:`~pyg_grapheme.nn.MorphHistory` composes both.

    **Nodes.** Output nodes are ordered by parent, then by slot: the children of
    node :math:`i` come after those of node :math:`i - 1`, so a batch stays sorted
    by graph and a chain keeps its reading order. Child :math:`s` of node
    :math:`i` gets

    .. math::
        \mathbf{x}'_{(i, s)} = \mathbf{x}_i + \mathbf{e}_s + \mathbf{f}_{c_i - 1 - s},

    its parent's features plus learnable embeddings of its slot and of the number
    of siblings after it (both zero at initialisation, so children start as exact
    copies); without :obj:`in_channels` the children are plain copies.

    **Edges.** Siblings are chained in slot order, :math:`(i, s) \to (i, s + 1)`.
    An input edge :math:`u \to v` leaves from the last child of :math:`u` and
    enters the first child of :math:`v`, so a chain :math:`0 \to 1 \to \cdots`
    stays a chain. A deleted node (:math:`c = 0`) with exactly one in-edge and
    one out-edge (self-loops aside) is bypassed: its predecessor connects to its
    successor, through any run of such nodes, so deleting inside a chain keeps
    it connected. Every other edge that touches a deleted node is dropped. With
    :obj:`undirected`, an edge is read from its smaller to its larger end and
    every output edge is stored in both directions (PyG's undirected layout).

    **Counts.** With :obj:`in_channels`, a count head gives logits
    :math:`\boldsymbol{\ell}_i \in \mathbb{R}^{K + 1}`; ``forward`` uses the
    given ``count`` (e.g. the target counts in training, teacher forcing) or else
    :math:`\arg\max \boldsymbol{\ell}_i`. A hard count is piecewise constant in
    the logits, so the record carries the differentiable probability that each
    output node exists,

    .. math::
        \pi_{(i, s)} = P(c_i > s) = \sum_{c > s} \mathrm{softmax}(\boldsymbol{\ell}_i)_c,

    which a loss can use as node presence: :class:`~pyg_grapheme.loss.StructuralLoss`
    with ``presence`` scores the expected edit cost of the grown graph when
    each node exists with its probability, so a surplus node pushes its
    :math:`\pi` (and the count) down and a useful one pushes it up. To let a loss
    ask for *more* nodes, call with ``extra=1``: every node with :math:`c_i < K`
    gets one more, tentative child at slot :math:`c_i` (flagged in
    ``info.slot >= info.count[info.parent]``), whose small :math:`\pi` the loss
    raises when the target needs it. The cross-entropy of the count head
    against target counts is the direct supervision.

    **Lift.** :meth:`unsplit` gives every input node the mean of its children's
    values (zero for a deleted node) and restores the input graph.

    **Bad input.** Features must be finite: a NaN or infinite entry of ``x`` (or of
    the count logits it gives) is a ``ValueError`` naming the first such node, since
    a NaN count logit has no most likely count (its argmax is 0, so the node would be
    silently deleted) and its children would carry the NaN on. Edge indices must lie
    in :math:`[0, N)`; counts in :math:`\{0, \ldots, K\}`.

    **Cost.** Linear in nodes and edges; no Python loop over nodes or edges; the
    host reads the input checks (one read), output sizes, and whether a bypass is
    needed.

    Args:
        in_channels (int, optional): Size of each input sample. If given, the
            layer has a count head and slot embeddings. (default: :obj:`None`)
        max_children (int, optional): :math:`K`, the largest count. (default: :obj:`8`)
        undirected (bool, optional): Treat the graph as undirected (see above).
            (default: :obj:`False`)
    """

    def __init__(
        self,
        in_channels: int | None = None,
        max_children: int = 8,
        undirected: bool = False,
    ) -> None:
        super().__init__()
        if in_channels is not None and in_channels <= 0:
            raise ValueError(f"NodeSplit: in_channels must be positive, got {in_channels}")
        if max_children < 1:
            raise ValueError(f"NodeSplit: max_children must be >= 1, got {max_children}")
        self.in_channels = in_channels
        self.max_children = int(max_children)
        self.undirected = bool(undirected)
        if in_channels is None:
            self.count_head = self.slot_embedding = self.after_embedding = None
        else:
            self.count_head = Linear(in_channels, max_children + 1)
            self.slot_embedding = Embedding(max_children, in_channels)
            self.after_embedding = Embedding(max_children, in_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Re-initialises the count head; slot embeddings start at zero (children = copies)."""
        if self.count_head is not None:
            self.count_head.reset_parameters()
            torch.nn.init.zeros_(self.slot_embedding.weight)
            torch.nn.init.zeros_(self.after_embedding.weight)

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor | None = None,
        count: Tensor | None = None,
        extra: int = 0,
    ) -> tuple[Tensor, Tensor, Tensor, SplitInfo]:
        r"""Splits the graph.

        Args:
            x (torch.Tensor): Node features :math:`[N, F]`.
            edge_index (torch.Tensor): Edge indices :math:`[2, E]`.
            batch (torch.Tensor, optional): Batch vector :math:`[N]`; :obj:`None`
                means a single graph. (default: :obj:`None`)
            count (torch.Tensor, optional): ``long`` :math:`[N]`, children of each
                node in :math:`\{0, \ldots, K\}`; :obj:`None` takes the count head's
                most likely count (the layer then needs :obj:`in_channels`).
                (default: :obj:`None`)
            extra (int, optional): 0, or 1 to add a tentative child to every node
                with fewer than :math:`K` children (class docstring). (default: :obj:`0`)

        Returns:
            * **x** (*torch.Tensor*): :math:`[M, F]` features of the output nodes.
            * **edge_index** (*torch.Tensor*): :math:`[2, E']` output edges.
            * **batch** (*torch.Tensor*): :math:`[M]` graph of each output node.
            * **info** (:class:`~pyg_grapheme.nn.SplitInfo`): the split record
              (``info.count`` is the count used, tentative children excluded).
        """
        self._check_input(x, edge_index, batch, count, extra)
        num_nodes = x.size(0)
        if batch is None:
            batch = torch.zeros(num_nodes, dtype=torch.long, device=x.device)
        count_logit = None if self.count_head is None else self.count_head(x)
        self._check_finite(x, count_logit)
        if count is None:
            if count_logit is None:
                raise ValueError(
                    "NodeSplit: give count=[N] children per node, or build the layer with "
                    "in_channels so that its count head predicts them"
                )
            count = count_logit.detach().argmax(dim=1)
        grown = count + extra * (count < self.max_children).long() if extra else count

        # Nodes: parent and slot of every output node, in (parent, slot) order.
        offset = torch.cumsum(grown, 0) - grown  # first output node of each input node
        num_out = int(grown.sum()) if num_nodes > 0 else 0
        parent = torch.repeat_interleave(
            torch.arange(num_nodes, device=x.device), grown, output_size=num_out
        )
        slot = torch.arange(num_out, device=x.device) - offset.index_select(0, parent)
        x_out = self.child_features(x, parent, slot, count)
        batch_out = batch.index_select(0, parent)

        edge_index_out = self._connect(edge_index, grown, offset, parent, slot, num_out)
        presence = None
        if count_logit is not None:
            probs = torch.softmax(count_logit, dim=1)
            # tail[i, s] = P(c_i > s) = sum_{c > s} p_ic, s = 0..K (P(c > K) = 0).
            # Clamped: float rounding of the sum can give 1 + 1e-7, which is no probability.
            tail = self._tail_sums(probs)[:, 1:].clamp(0.0, 1.0)
            tail = torch.cat([tail, tail.new_zeros(num_nodes, 1)], dim=1)
            presence = tail[parent, slot]
        info = SplitInfo(
            parent=parent,
            slot=slot,
            count=count,
            edge_index=edge_index,
            batch=batch,
            count_logit=count_logit,
            presence=presence,
            num_nodes=num_out,
        )
        return x_out, edge_index_out, batch_out, info

    def child_features(
        self, x: Tensor, parent: Tensor, slot: Tensor, count: Tensor | None = None
    ) -> Tensor:
        r"""Features of output nodes: :math:`\mathbf{x}_i + \mathbf{e}_s + \mathbf{f}_{c_i - 1 - s}`
        (class docstring), or :math:`\mathbf{x}_i + \mathbf{e}_s` without :obj:`count`, for a
        child made before its parent's count is known (a decoder that ends each node's
        output as it writes it).

        Args:
            x: ``[N, F]`` features of the input nodes.
            parent: ``LongTensor[M]`` input node of each output node.
            slot: ``LongTensor[M]`` place of each output node among its siblings, below
                ``max_children``.
            count: ``LongTensor[N]``, optional: children of each input node.

        Returns:
            ``[M, F]``.
        """
        x_out = x.index_select(0, parent)
        if self.slot_embedding is None:
            return x_out
        x_out = x_out + self.slot_embedding(slot)
        if count is None:
            return x_out
        after = (count.index_select(0, parent) - 1 - slot).clamp(min=0)
        return x_out + self.after_embedding(after)

    def unsplit(self, x: Tensor, info: SplitInfo) -> tuple[Tensor, Tensor, Tensor]:
        r"""Lifts output-node values back to the input graph.

        Args:
            x (torch.Tensor): Values on the output nodes :math:`[M, \ldots]`.
            info (SplitInfo): The record returned by :meth:`forward`.

        Returns:
            * **x** (*torch.Tensor*): :math:`[N, \ldots]`, the mean over each input
              node's children (zero for a deleted node).
            * **edge_index** (*torch.Tensor*): The input edges :math:`[2, E]`.
            * **batch** (*torch.Tensor*): The input batch vector :math:`[N]`.
        """
        if x.dim() == 0 or x.size(0) != info.num_nodes:
            raise ValueError(
                f"NodeSplit.unsplit: expected x with {info.num_nodes} rows (one per output "
                f"node), got shape {list(x.shape)}"
            )
        return lift_children(x, info.parent, info.count.numel()), info.edge_index, info.batch

    def _connect(
        self,
        edge_index: Tensor,
        grown: Tensor,
        offset: Tensor,
        parent: Tensor,
        slot: Tensor,
        num_out: int,
    ) -> Tensor:
        """Sibling chains plus input edges re-attached to last/first children (class docstring)."""
        num_nodes = grown.numel()
        # Siblings: (i, s) -> (i, s + 1).
        has_next = (slot + 1) < grown.index_select(0, parent)
        sibling_src = has_next.nonzero().view(-1)
        siblings = torch.stack([sibling_src, sibling_src + 1])

        src, dst = edge_index[0], edge_index[1]
        if self.undirected:
            src, dst = torch.minimum(src, dst), torch.maximum(src, dst)
        kept = grown > 0
        target = dst
        deleted = ~kept
        if num_nodes > 0 and bool(deleted.any()):
            target = self._bypass(src, dst, deleted, num_nodes)
        alive = (target < num_nodes) & kept.index_select(0, src)
        alive &= kept.index_select(0, target.clamp(max=max(num_nodes - 1, 0)))
        src, target = src[alive], target[alive]
        last_child = offset + grown - 1
        edges = torch.stack([last_child.index_select(0, src), offset.index_select(0, target)])
        out = torch.cat([siblings, edges], dim=1)
        if self.undirected:
            out = torch.cat([out, out.flip(0)], dim=1)
        if out.size(1) > 0 and (self.undirected or bool(deleted.any())):
            # Both stored directions of an undirected edge, or a bypass next to an existing
            # edge, give the same output edge twice; coalescing keeps each edge once.
            out = coalesce(out, num_nodes=num_out)
        return out

    @staticmethod
    def _tail_sums(probs: Tensor) -> Tensor:
        """``out[i, s] = sum_{c >= s} probs[i, c]``, ``[N, K + 1]``.

        A floating-point cumsum has no deterministic CUDA kernel (``Trainer(deterministic=
        True)`` refuses it there), so off the CPU the sums are a product with a
        lower-triangular matrix of ones; the CPU keeps its sequential cumsum, whose rounding
        the recorded trainings were run with.
        """
        if probs.device.type == "cpu":
            return probs.flip(1).cumsum(1).flip(1)
        return probs @ probs.new_ones(probs.size(1), probs.size(1)).tril()

    @staticmethod
    def _bypass(src: Tensor, dst: Tensor, deleted: Tensor, num_nodes: int) -> Tensor:
        """First kept node downstream of each edge's target through bypassable deleted nodes
        (``num_nodes`` when there is none)."""
        proper = src != dst
        # Unweighted counts: a weighted bincount has no deterministic CUDA kernel.
        in_deg = torch.bincount(dst[proper], minlength=num_nodes)
        out_deg = torch.bincount(src[proper], minlength=num_nodes)
        passable = deleted & (in_deg == 1) & (out_deg == 1)
        sentinel = num_nodes
        step = torch.arange(num_nodes + 1, device=src.device)
        step[:num_nodes] = torch.where(deleted, sentinel, step[:num_nodes])
        # A passable node steps to its one successor.
        leaving = proper & passable.index_select(0, src)
        step[src[leaving]] = dst[leaving]
        jumps = max(int(num_nodes).bit_length(), 1)
        for _ in range(jumps):  # rounds of pointer jumping, not a loop over nodes
            step = step.index_select(0, step)
        return step.index_select(0, dst)

    def _check_finite(self, x: Tensor, count_logit: Tensor | None) -> None:
        """``ValueError`` naming the first node whose features or count logits are not finite
        (one host read for both)."""
        if x.numel() == 0:
            return
        rows = torch.isfinite(x).all(1)
        logit_rows = rows if count_logit is None else torch.isfinite(count_logit).all(1)
        flags = torch.stack([rows.all(), logit_rows.all()]).tolist()
        if all(flags):
            return
        name = self.__class__.__name__
        if not flags[0]:
            node = int((~rows).nonzero()[0])
            raise ValueError(
                f"{name}: x holds a NaN or infinite value at node {node}; features must be finite"
            )
        node = int((~logit_rows).nonzero()[0])
        raise ValueError(
            f"{name}: the count head gives a NaN or infinite logit at node {node} from finite "
            "features (its weights or the features' scale overflow); counts must be finite"
        )

    def _check_input(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor | None,
        count: Tensor | None,
        extra: int,
    ) -> None:
        name = self.__class__.__name__
        check_graph_inputs(name, x, edge_index, batch, self.in_channels)
        if extra not in (0, 1):
            raise ValueError(f"{name}: extra must be 0 or 1, got {extra}")
        check_node_indices(name, "edge_index", edge_index, x.size(0))
        if count is None:
            return
        if isinstance(count, Tensor) and count.device != x.device:
            raise ValueError(f"{name}: count is on {count.device} but x is on {x.device}")
        if not isinstance(count, Tensor) or count.dtype != torch.long:
            dtype = count.dtype if isinstance(count, Tensor) else type(count).__name__
            raise ValueError(f"{name}: count must be a long tensor, got {dtype}")
        if count.shape != (x.size(0),):
            raise ValueError(
                f"{name}: count must have shape [num_nodes={x.size(0)}], got {tuple(count.shape)}"
            )
        if count.numel() > 0:
            low, high = int(count.min()), int(count.max())
            if low < 0 or high > self.max_children:
                bad = low if low < 0 else high
                raise ValueError(
                    f"{name}: counts must lie in 0..max_children={self.max_children}, got {bad}"
                )

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, max_children={self.max_children}"
            f"{', undirected=True' if self.undirected else ''})"
        )


def lift_children(values: Tensor, parent: Tensor, num_parents: int) -> Tensor:
    r"""Mean of each parent's children's values, :math:`[M, \ldots] \to [N, \ldots]`
    (zero where a parent has no child).

    Each value is divided by its parent's number of children before the sum, so the
    mean of finite values stays finite even where their sum would overflow."""
    shape = (num_parents, *values.shape[1:])
    children = torch.bincount(parent, minlength=num_parents).clamp(min=1).to(values.dtype)
    share = children.index_select(0, parent).view(-1, *([1] * (values.dim() - 1)))
    return values.new_zeros(shape).index_add(0, parent, values / share)
