r"""The merge history of a stack of pool layers: input node -> final node, and back."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from torch import Tensor

from pyg_grapheme.nn.pool.merge_info import MergeInfo


class MergeHistory:
    r"""Composes the cluster maps of consecutive pool layers.

    With layers :math:`1, \ldots, L` and cluster maps
    :math:`c_\ell : \{0..N_{\ell-1}-1\} \to \{0..N_\ell-1\}`, the history maps
    an input node to its final node by :math:`c = c_L \circ \cdots \circ c_1`,
    and a final node's value :math:`v \in \mathbb{R}^{N_L \times \ldots}` back
    to every input node by :math:`v_{c(i)}` (:meth:`unpool`). With weighted
    means per layer, input node :math:`i` weighs
    :math:`w_i = \prod_\ell w^{(\ell)}_{(c_{\ell-1} \circ \cdots \circ c_1)(i)}`
    in its final node (:attr:`member_weight`).

    Args:
        infos (Iterable[MergeInfo], optional): Records to append, first layer
            first. (default: :obj:`()`)

    Example:
        >>> history = MergeHistory()
        >>> x, edge_index, batch, info = pool1(x, edge_index, batch)
        >>> history.append(info)
        >>> x, edge_index, batch, info = pool2(x, edge_index, batch)
        >>> history.append(info)
        >>> history.cluster          # input node of pool1 -> output node of pool2
        >>> history.unpool(x)        # features of pool2's output on pool1's input nodes
    """

    def __init__(self, infos: Iterable[MergeInfo] = ()) -> None:
        self.infos: list[MergeInfo] = []
        for info in infos:
            self.append(info)

    def append(self, info: MergeInfo) -> None:
        """Adds the record of the next pool layer; its input must be the last layer's output."""
        if self.infos and info.cluster.numel() != self.infos[-1].num_clusters:
            raise ValueError(
                f"MergeHistory.append: the new layer pooled {info.cluster.numel()} input nodes, "
                f"but the previous layer produced {self.infos[-1].num_clusters} nodes; append "
                f"the records of consecutive layers in order"
            )
        self.infos.append(info)

    def __len__(self) -> int:
        return len(self.infos)

    def __iter__(self) -> Iterator[MergeInfo]:
        return iter(self.infos)

    def __getitem__(self, index: int) -> MergeInfo:
        return self.infos[index]

    def _require_records(self, what: str) -> None:
        if not self.infos:
            raise ValueError(f"MergeHistory.{what}: the history is empty; append a MergeInfo first")

    @property
    def num_nodes(self) -> int:
        """Number of input nodes of the first layer."""
        self._require_records("num_nodes")
        return self.infos[0].cluster.numel()

    @property
    def num_clusters(self) -> int:
        """Number of output nodes of the last layer."""
        self._require_records("num_clusters")
        return self.infos[-1].num_clusters

    @property
    def batch(self) -> Tensor:
        """Batch vector of the first layer's input nodes :math:`[N_0]`."""
        self._require_records("batch")
        return self.infos[0].batch

    @property
    def cluster(self) -> Tensor:
        """``long`` :math:`[N_0]`: input node of the first layer -> output node of the last."""
        self._require_records("cluster")
        cluster = self.infos[0].cluster
        for info in self.infos[1:]:
            cluster = info.cluster[cluster]
        return cluster

    @property
    def member_weight(self) -> Tensor:
        r""":math:`[N_0]`: weight of each input node in its final node's weighted mean (differentiable)."""
        self._require_records("member_weight")
        cluster = self.infos[0].cluster
        weight = self.infos[0].member_weight
        for info in self.infos[1:]:
            weight = weight * info.member_weight[cluster]
            cluster = info.cluster[cluster]
        return weight

    def unpool(self, values: Tensor) -> Tensor:
        r"""Routes values on the last layer's output nodes :math:`[N_L, \ldots]` to the
        first layer's input nodes :math:`[N_0, \ldots]`: each input node receives the
        value of the node it was merged into."""
        self._require_records("unpool")
        if values.dim() == 0 or values.size(0) != self.num_clusters:
            raise ValueError(
                f"MergeHistory.unpool: expected values with {self.num_clusters} rows (one per "
                f"output node of the last layer), got shape {tuple(values.shape)}"
            )
        return values[self.cluster]

    def __repr__(self) -> str:
        if not self.infos:
            return f"{self.__class__.__name__}()"
        sizes = [self.infos[0].cluster.numel()] + [info.num_clusters for info in self.infos]
        return f"{self.__class__.__name__}({' -> '.join(map(str, sizes))})"
