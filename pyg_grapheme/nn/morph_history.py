r"""The morph history of a stack of merge and split layers: input node -> final nodes, and back."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
from torch import Tensor

from pyg_grapheme.nn.pool.merge_info import MergeInfo
from pyg_grapheme.nn.split.node_split import lift_children
from pyg_grapheme.nn.split.split_info import SplitInfo

__all__ = ["MorphHistory"]

Record = MergeInfo | SplitInfo


def _num_inputs(info: Record) -> int:
    return info.cluster.numel() if isinstance(info, MergeInfo) else info.count.numel()


def _num_outputs(info: Record) -> int:
    return info.num_clusters if isinstance(info, MergeInfo) else info.num_nodes


class MorphHistory:
    r"""Composes the records of consecutive merge (:class:`~pyg_grapheme.nn.ThresholdMergePool`)
    and split (:class:`~pyg_grapheme.nn.NodeSplit`) layers.

    A merge maps each node to one node (its cluster, :math:`c`); a split maps
    each node to its :math:`0..K` children (the inverse of ``info.parent``). The
    history composes them into the relation between the first layer's input
    nodes and the last layer's output nodes (:meth:`assignment`); with merges
    only, that relation is a map (:attr:`cluster`), as in a stack of pools.

    Values on the last layer's output nodes are lifted back to the first
    layer's input nodes (:meth:`unpool`) record by record: through a merge each
    member receives its cluster's value, through a split each parent receives
    the mean of its children's values (zero for a deleted node). Every step is an
    index operation, so gradients flow through the lift, and through the
    layers' outputs, in either direction.

    Args:
        infos (Iterable[MergeInfo | SplitInfo], optional): Records to append,
            first layer first. (default: :obj:`()`)

    Example:
        >>> history = MorphHistory()
        >>> x, edge_index, batch, info = pool(x, edge_index, batch)
        >>> history.append(info)
        >>> x, edge_index, batch, info = split(x, edge_index, batch)
        >>> history.append(info)
        >>> history.assignment()     # [2, P] (input node of pool, output node of split)
        >>> history.unpool(x)        # split outputs' values on the pool's input nodes
    """

    def __init__(self, infos: Iterable[Record] = ()) -> None:
        self.infos: list[Record] = []
        for info in infos:
            self.append(info)

    def append(self, info: Record) -> None:
        """Adds the record of the next layer; its input must be the last layer's output."""
        if not isinstance(info, (MergeInfo, SplitInfo)):
            raise TypeError(
                f"{type(self).__name__}.append: expected a MergeInfo or SplitInfo, "
                f"got {type(info).__name__}"
            )
        if self.infos and _num_inputs(info) != _num_outputs(self.infos[-1]):
            raise ValueError(
                f"{type(self).__name__}.append: the new layer has {_num_inputs(info)} input "
                f"nodes, but the previous layer produced {_num_outputs(self.infos[-1])} nodes; "
                "append the records of consecutive layers in order"
            )
        self.infos.append(info)

    def __len__(self) -> int:
        return len(self.infos)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.infos)

    def __getitem__(self, index: int) -> Record:
        return self.infos[index]

    def _require_records(self, what: str) -> None:
        if not self.infos:
            raise ValueError(
                f"{type(self).__name__}.{what}: the history is empty; append a record first"
            )

    @property
    def num_nodes(self) -> int:
        """Number of input nodes of the first layer."""
        self._require_records("num_nodes")
        return _num_inputs(self.infos[0])

    @property
    def num_out(self) -> int:
        """Number of output nodes of the last layer."""
        self._require_records("num_out")
        return _num_outputs(self.infos[-1])

    @property
    def num_clusters(self) -> int:
        """Number of output nodes of the last layer (the name a stack of pools uses)."""
        return self.num_out

    @property
    def batch(self) -> Tensor:
        """Batch vector of the first layer's input nodes :math:`[N_0]`."""
        self._require_records("batch")
        return self.infos[0].batch

    @property
    def has_splits(self) -> bool:
        return any(isinstance(info, SplitInfo) for info in self.infos)

    @property
    def cluster(self) -> Tensor:
        """``long`` :math:`[N_0]`: input node of the first layer -> output node of the last
        (merges only; a split maps a node to several nodes: use :meth:`assignment`)."""
        self._require_records("cluster")
        if self.has_splits:
            raise ValueError(
                f"{type(self).__name__}.cluster: the history holds a split, which maps a node "
                "to zero or several nodes; use assignment() for the input -> output relation"
            )
        cluster = self.infos[0].cluster
        for info in self.infos[1:]:
            cluster = info.cluster.index_select(0, cluster)
        return cluster

    @property
    def member_weight(self) -> Tensor:
        r""":math:`[N_0]`: weight of each input node in its final node's weighted mean
        (merges only; differentiable)."""
        self._require_records("member_weight")
        if self.has_splits:
            raise ValueError(f"{type(self).__name__}.member_weight: defined for merges only")
        cluster = self.infos[0].cluster
        weight = self.infos[0].member_weight
        for info in self.infos[1:]:
            weight = weight * info.member_weight.index_select(0, cluster)
            cluster = info.cluster.index_select(0, cluster)
        return weight

    def assignment(self) -> Tensor:
        r"""``long`` :math:`[2, P]`: the pairs (input node of the first layer, output node of
        the last) that derive from each other, sorted by input node, then output node.

        An input node merged into a cluster that split into three children has three
        pairs; a deleted one has none.
        """
        self._require_records("assignment")
        device = self.batch.device
        source = torch.arange(self.num_nodes, device=device)
        node = source
        for info in self.infos:
            if isinstance(info, MergeInfo):
                node = info.cluster.index_select(0, node)
                continue
            # Children of a node are contiguous in the split's output, after its offset.
            grown = torch.bincount(info.parent, minlength=info.count.numel())
            offset = torch.cumsum(grown, 0) - grown
            children = grown.index_select(0, node)
            num_pairs = int(children.sum()) if node.numel() > 0 else 0
            pair = torch.repeat_interleave(
                torch.arange(node.numel(), device=device), children, output_size=num_pairs
            )
            first = (torch.cumsum(children, 0) - children).index_select(0, pair)
            rank = torch.arange(num_pairs, device=device) - first
            source = source.index_select(0, pair)
            node = offset.index_select(0, node.index_select(0, pair)) + rank
        return torch.stack([source, node])

    def unpool(self, values: Tensor) -> Tensor:
        r"""Routes values on the last layer's output nodes :math:`[N_L, \ldots]` to the first
        layer's input nodes :math:`[N_0, \ldots]` (class docstring)."""
        self._require_records("unpool")
        if values.dim() == 0 or values.size(0) != self.num_out:
            raise ValueError(
                f"{type(self).__name__}.unpool: expected values with {self.num_out} rows (one "
                f"per output node of the last layer), got shape {tuple(values.shape)}"
            )
        for info in reversed(self.infos):
            if isinstance(info, MergeInfo):
                values = values.index_select(0, info.cluster)
            else:
                values = lift_children(values, info.parent, info.count.numel())
        return values

    def __repr__(self) -> str:
        if not self.infos:
            return f"{self.__class__.__name__}()"
        parts = [str(self.num_nodes)]
        for info in self.infos:
            arrow = "->" if isinstance(info, MergeInfo) else "=>"
            parts.append(f"{arrow} {_num_outputs(info)}")
        return f"{self.__class__.__name__}({' '.join(parts)})"
