"""The input contract the graph layers share: node features, edges and the batch vector."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "check_graph_inputs",
    "check_index_stats",
    "check_node_indices",
    "check_sorted_batch",
    "index_stats",
    "raise_for_non_finite",
]


def check_graph_inputs(
    name: str,
    x: Tensor,
    edge_index: Tensor,
    batch: Tensor | None,
    in_channels: int | None,
) -> None:
    """Raise a ``ValueError`` that names layer ``name`` and the offending value unless
    ``x`` is a floating :math:`[N, F]` tensor (:math:`F` = ``in_channels`` when given),
    ``edge_index`` a ``long`` :math:`[2, E]` tensor and ``batch`` ``None`` or a ``long``
    :math:`[N]` tensor, all on one device."""
    if not isinstance(x, Tensor) or x.dim() != 2 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        dtype = x.dtype if isinstance(x, Tensor) else None
        raise ValueError(
            f"{name}: x must be a floating tensor [num_nodes, channels], "
            f"got {shape} of dtype {dtype}"
        )
    if in_channels is not None and x.size(1) != in_channels:
        raise ValueError(
            f"{name}: x has {x.size(1)} channels but the layer was built with "
            f"in_channels={in_channels}"
        )
    if (
        not isinstance(edge_index, Tensor)
        or edge_index.dim() != 2
        or edge_index.size(0) != 2
        or edge_index.dtype != torch.long
    ):
        shape = tuple(edge_index.shape) if isinstance(edge_index, Tensor) else None
        dtype = edge_index.dtype if isinstance(edge_index, Tensor) else None
        raise ValueError(
            f"{name}: edge_index must be a long tensor [2, num_edges], "
            f"got {shape or type(edge_index).__name__} of dtype {dtype}"
        )
    if edge_index.device != x.device:
        raise ValueError(
            f"{name}: edge_index is on {edge_index.device} but x is on {x.device}; "
            "move both to one device"
        )
    if isinstance(batch, Tensor) and batch.device != x.device:
        raise ValueError(
            f"{name}: batch is on {batch.device} but x is on {x.device}; move both to one device"
        )
    if batch is not None and (
        not isinstance(batch, Tensor)
        or batch.dim() != 1
        or batch.numel() != x.size(0)
        or batch.dtype != torch.long
    ):
        shape = tuple(batch.shape) if isinstance(batch, Tensor) else type(batch).__name__
        dtype = batch.dtype if isinstance(batch, Tensor) else None
        raise ValueError(
            f"{name}: batch must be a long tensor [num_nodes={x.size(0)}], "
            f"got {shape} of dtype {dtype}"
        )


def index_stats(edge_index: Tensor, batch: Tensor | None) -> Tensor:
    """The smallest and largest node index of ``edge_index`` and the smallest graph id of
    ``batch``, as one ``long`` tensor ``[3]`` on their device (one min/max reduction each,
    no host read: callers on a GPU read it with their other sizes)."""
    if edge_index.numel() > 0:
        low, high = torch.aminmax(edge_index)
    else:
        low = high = torch.zeros((), dtype=torch.long, device=edge_index.device)
    first_graph = (
        batch.min()
        if batch is not None and batch.numel() > 0
        else torch.zeros((), dtype=torch.long, device=edge_index.device)
    )
    return torch.stack([low, high, first_graph])


def check_index_stats(
    name: str, stats: list[int], num_nodes: int, edge_index: Tensor, batch: Tensor | None
) -> None:
    """Raise a ``ValueError`` naming layer ``name``, the tensor, the bad value and where it
    sits unless every entry of ``edge_index`` lies in ``[0, N)`` and every graph id of
    ``batch`` is non-negative (``stats`` from :func:`index_stats`, read back)."""
    low, high, first_graph = stats[0], stats[1], stats[2]
    if edge_index.numel() > 0 and (low < 0 or high >= num_nodes):
        bad = low if low < 0 else high
        column = int((edge_index == bad).any(0).nonzero()[0, 0])
        raise ValueError(
            f"{name}: edge_index holds node index {bad} (in edge {column}), but x has "
            f"{num_nodes} nodes, so indices must lie in [0, {num_nodes - 1}]"
        )
    if first_graph < 0 and batch is not None:
        node = int((batch == first_graph).nonzero()[0, 0])
        raise ValueError(
            f"{name}: batch holds the negative graph id {first_graph} (node {node}); "
            f"graph ids must be non-negative"
        )


def raise_for_non_finite(name: str, x: Tensor, row: int) -> None:
    """Raise the ``ValueError`` for features with NaN or infinity: it names layer ``name``
    and the first node whose row of ``x`` is not finite (or ``row``, where ``x`` is finite
    but the squared norm of its scored features overflows; -1 where unknown)."""
    bad = (~torch.isfinite(x.detach())).any(-1).nonzero()
    if bad.numel() > 0:
        node = int(bad[0, 0])
        raise ValueError(f"{name}: x holds a non-finite value (NaN or infinity) at node {node}")
    where = f"of node {row}" if row >= 0 else "of a node"
    raise ValueError(
        f"{name}: x is finite, but the squared norm of the (projected, centred) features "
        f"{where} overflows {x.dtype}: scale the features down"
    )


def check_node_indices(name: str, what: str, index: Tensor, num_nodes: int) -> None:
    """Raise a ``ValueError`` naming layer ``name``, tensor ``what`` and the bad value unless
    every entry of ``index`` lies in :math:`[0, N)` (one min/max reduction, one host read):
    an index outside the graph reads another graph's node, wraps around from the end, or
    reads memory that is not the graph's at all."""
    if index.numel() == 0:
        return
    low, high = torch.stack(torch.aminmax(index)).tolist()
    if low < 0 or high >= num_nodes:
        bad = low if low < 0 else high
        raise ValueError(f"{name}: {what} holds node {bad}, outside [0, num_nodes={num_nodes})")


def check_sorted_batch(name: str, batch: Tensor) -> None:
    """Raise a ``ValueError`` naming layer ``name`` unless the graph ids of ``batch`` are
    non-negative and sorted, as PyG's ``Batch`` makes them (layers that pack nodes per
    graph with ``to_dense_batch`` would otherwise mix graphs or fail far from the cause);
    one host read."""
    if batch.numel() == 0:
        return
    unsorted, lowest = torch.stack([(batch[1:] < batch[:-1]).any().long(), batch.min()]).tolist()
    if unsorted or lowest < 0:
        problem = "is not sorted" if unsorted else f"holds the negative graph id {lowest}"
        raise ValueError(f"{name}: batch {problem}; graph ids must be sorted and >= 0")
