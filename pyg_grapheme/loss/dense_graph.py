r"""Padded dense view of a batch of graphs for the structural loss.

A PyG :class:`~torch_geometric.data.Data` or :class:`~torch_geometric.data.Batch`
with node types (probabilities ``[N, C]`` or class indices ``[N]``), optional
activations ``[N]``, directed edges and optional soft edge weights becomes
padded tensors over its :math:`B` graphs of at most :math:`n` nodes
(:func:`torch_geometric.utils.to_dense_batch`, :func:`~torch_geometric.utils.to_dense_adj`):

- ``type``  :math:`[B, n, C]` type distributions (one-hot for class indices), 0 on padding,
- ``index`` :math:`[B, n]` the class indices when the types were given as indices,
- ``act``   :math:`[B, n]` activations, or :obj:`None`,
- ``adj``   :math:`[B, n, n]`, :math:`A_{ij}` = summed weight of the edges :math:`i \to j`,
  times :math:`p_i p_j` when nodes carry a presence,
- ``mask``  :math:`[B, n]` real nodes, ``num_nodes`` :math:`[B]`,
- ``presence`` :math:`[B, n]` probability that each node exists (0 on padding), or :obj:`None`.

Floating types must be probabilities: with ``validate`` every entry is checked
non-negative and every row to sum to 1 within a tolerance (:func:`check_probabilities`), so logits or unnormalised scores are refused
instead of giving a loss without a lower bound.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch_geometric.utils import to_dense_adj, to_dense_batch

__all__ = [
    "DenseGraphs",
    "check_probabilities",
    "num_classes_of",
    "num_graphs_of",
    "to_dense_graphs",
]


class DenseGraphs(NamedTuple):
    """Padded graphs; see the module docstring for shapes."""

    type: Tensor
    index: Tensor | None
    act: Tensor | None
    adj: Tensor
    mask: Tensor
    num_nodes: Tensor
    presence: Tensor | None = None


def _batch_vector(graph: object, num_nodes: int, device: torch.device) -> Tensor:
    batch = getattr(graph, "batch", None)
    if batch is None:
        return torch.zeros(num_nodes, dtype=torch.long, device=device)
    if batch.dtype != torch.long or batch.dim() != 1 or batch.numel() != num_nodes:
        raise ValueError(
            f"batch must be a LongTensor[N] with N = {num_nodes} nodes, "
            f"got {batch.dtype} of shape {tuple(batch.shape)}"
        )
    return batch


def num_graphs_of(graph: object) -> int:
    """Graphs in ``graph``: ``.num_graphs`` if set, else ``batch.max() + 1``, else 1."""
    num_graphs = getattr(graph, "num_graphs", None)
    if isinstance(num_graphs, int):
        return num_graphs
    batch = getattr(graph, "batch", None)
    if batch is None:
        return 1
    return int(batch.max()) + 1 if batch.numel() > 0 else 1


def _node_types(graph: object, name: str) -> Tensor:
    node_type = getattr(graph, "type", None)
    if not isinstance(node_type, Tensor):
        raise ValueError(
            f"{name}.type is required: FloatTensor[N, C] probabilities or LongTensor[N] classes"
        )
    if node_type.is_floating_point():
        if node_type.dim() != 2:
            raise ValueError(
                f"{name}.type as probabilities must be [N, C], got shape {tuple(node_type.shape)}"
            )
    elif node_type.dtype == torch.long:
        if node_type.dim() != 1:
            raise ValueError(
                f"{name}.type as class indices must be [N], got shape {tuple(node_type.shape)}"
            )
    else:
        raise ValueError(f"{name}.type must be float [N, C] or long [N], got {node_type.dtype}")
    return node_type


def check_probabilities(node_type: Tensor, name: str) -> None:
    r"""Raise a ``ValueError`` unless every row of ``node_type`` :math:`[N, C]` is a
    distribution: entries :math:`\ge 0` and :math:`|\sum_c p_{ic} - 1| \le \tau`, with
    :math:`\tau = \max(10^{-3}, \sqrt{\epsilon})` for the machine epsilon :math:`\epsilon`
    of its dtype (:math:`10^{-3}` in float32 and float64, 0.03 in float16, 0.09 in
    bfloat16): room for the rounding of a softmax or a mixture of them, and for the
    finite-difference steps of ``gradcheck``, none for logits or scores. The message
    names the first bad row."""
    if node_type.numel() == 0:
        return
    values = node_type.detach()
    tolerance = max(1e-3, torch.finfo(values.dtype).eps ** 0.5)
    # Rows are summed in float64 so that the check does not add rounding of its own.
    off = (values.double().sum(1) - 1.0).abs() > tolerance
    negative = (values < 0).any(1)
    bad = (off | negative).nonzero()
    if bad.numel() == 0:
        return
    row = int(bad[0])
    entries = values[row]
    if bool(negative[row]):
        problem = f"has a negative entry {float(entries.min()):.6g}"
    else:
        problem = f"sums to {float(entries.double().sum()):.6g}"
    raise ValueError(
        f"{name}.type must hold probabilities (rows of non-negative entries summing to 1), "
        f"but row {row} {problem}; for logits or unnormalised scores build the loss with "
        "input='logits' (it applies a softmax), or normalise them"
    )


def num_classes_of(pred: object, target: object) -> int:
    """The class space :math:`C` shared by ``pred.type`` and ``target.type`` (checked)."""
    sizes = []
    max_index = -1
    for name, graph in (("pred", pred), ("target", target)):
        node_type = _node_types(graph, name)
        if node_type.is_floating_point():
            sizes.append((name, node_type.shape[1]))
        elif node_type.numel() > 0:
            if int(node_type.min()) < 0:
                raise ValueError(f"{name}.type has negative class indices")
            max_index = max(max_index, int(node_type.max()))
    if len(sizes) == 2 and sizes[0][1] != sizes[1][1]:
        raise ValueError(
            f"pred.type and target.type must share one class space, got C = {sizes[0][1]} "
            f"and C = {sizes[1][1]}"
        )
    if sizes:
        name, size = sizes[0]
        if max_index >= size:
            raise ValueError(
                f"class index {max_index} is out of range for the C = {size} classes of {name}.type"
            )
        return size
    return max_index + 1


def to_dense_graphs(
    graph: object,
    num_graphs: int,
    num_classes: int,
    dtype: torch.dtype,
    name: str = "graph",
    validate: bool = True,
    node_type: Tensor | None = None,
) -> DenseGraphs:
    r"""Pad ``graph`` (Data or Batch) into a :class:`DenseGraphs` of ``num_graphs`` graphs.

    Args:
        graph: Object with ``.type``, ``.edge_index`` and optional ``.act``,
            ``.edge_weight``, ``.presence``, ``.batch`` (see
            :class:`~pyg_grapheme.loss.StructuralLoss`).
        num_graphs (int): :math:`B`; graphs without nodes become all-padding rows.
        num_classes (int): :math:`C` for one-hot encoding class indices.
        dtype (torch.dtype): Floating dtype of the dense tensors.
        name (str): Name used in error messages.
        validate (bool): Check ranges (host syncs). (default: :obj:`True`)
        node_type (Tensor, optional): Types to use instead of ``graph.type``, same
            shape (the loss passes the softmax of logits here). (default: :obj:`None`)
    """
    if node_type is None:
        node_type = _node_types(graph, name)
    num_nodes = node_type.shape[0]
    device = node_type.device
    batch = _batch_vector(graph, num_nodes, device)
    edge_index = getattr(graph, "edge_index", None)
    if edge_index is None:
        edge_index = torch.empty(2, 0, dtype=torch.long, device=device)
    if edge_index.dim() != 2 or edge_index.shape[0] != 2 or edge_index.dtype != torch.long:
        raise ValueError(
            f"{name}.edge_index must be a LongTensor[2, E], got {edge_index.dtype} "
            f"of shape {tuple(edge_index.shape)}"
        )
    edge_weight = getattr(graph, "edge_weight", None)
    if edge_weight is not None and tuple(edge_weight.shape) != (edge_index.shape[1],):
        raise ValueError(
            f"{name}.edge_weight must be [E] = [{edge_index.shape[1]}], "
            f"got shape {tuple(edge_weight.shape)}"
        )
    act = getattr(graph, "act", None)
    if act is not None and tuple(act.shape) != (num_nodes,):
        raise ValueError(f"{name}.act must be [N] = [{num_nodes}], got shape {tuple(act.shape)}")
    presence = getattr(graph, "presence", None)
    if presence is not None and (
        tuple(presence.shape) != (num_nodes,) or not presence.is_floating_point()
    ):
        raise ValueError(
            f"{name}.presence must be a FloatTensor [N] = [{num_nodes}], got "
            f"{presence.dtype} of shape {tuple(presence.shape)}"
        )
    if node_type.is_floating_point() and node_type.shape[1] != num_classes:
        raise ValueError(f"{name}.type has {node_type.shape[1]} classes, expected {num_classes}")

    if validate:
        if num_nodes > 0 and (
            bool((batch[1:] < batch[:-1]).any())
            or int(batch.max()) >= num_graphs
            or int(batch.min()) < 0
        ):
            raise ValueError(
                f"{name}.batch must be sorted with values in [0, num_graphs = {num_graphs})"
            )
        if edge_index.numel() > 0:
            if int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes:
                raise ValueError(f"{name}.edge_index refers to nodes outside [0, {num_nodes})")
            if bool((batch[edge_index[0]] != batch[edge_index[1]]).any()):
                raise ValueError(f"{name}.edge_index has edges between different graphs")
        for label, value in (
            ("type", node_type),
            ("act", act),
            ("edge_weight", edge_weight),
            ("presence", presence),
        ):
            if value is not None and value.is_floating_point() and not bool(value.isfinite().all()):
                raise ValueError(f"{name}.{label} has NaN or Inf entries")
        if node_type.is_floating_point():
            check_probabilities(node_type, name)
        if act is not None and act.numel() > 0:
            # The node cost squares differences of activations (smooth |a - a'|): beyond
            # half the square root of the largest float they overflow to inf.
            limit = torch.finfo(dtype).max ** 0.5 / 2
            largest = float(act.detach().abs().max())
            if largest > limit:
                raise ValueError(
                    f"{name}.act holds a value of magnitude {largest:.3g}; activations beyond "
                    f"{limit:.3g} overflow the node cost in {dtype}"
                )
        for label, value in (("presence", presence), ("edge_weight", edge_weight)):
            if (
                value is not None
                and value.numel() > 0
                and (float(value.detach().min()) < 0.0 or float(value.detach().max()) > 1.0)
            ):
                raise ValueError(f"{name}.{label} must lie in [0, 1]")

    if node_type.is_floating_point():
        probs, mask = to_dense_batch(node_type.to(dtype), batch, batch_size=num_graphs)
        index = None
    else:
        index, mask = to_dense_batch(node_type, batch, batch_size=num_graphs)
        if num_classes == 0:  # graphs without nodes on both sides: one_hot cannot size this
            probs = torch.zeros(*index.shape, 0, dtype=dtype, device=device)
        else:
            probs = torch.nn.functional.one_hot(index, num_classes).to(dtype) * mask[..., None]
    max_nodes = mask.shape[1]
    dense_act = None
    if act is not None:
        dense_act, _ = to_dense_batch(act.to(dtype), batch, batch_size=num_graphs)
    weight = None if edge_weight is None else edge_weight.to(dtype)
    if edge_index.numel() > 0 or max_nodes > 0:
        adj = to_dense_adj(
            edge_index, batch, edge_attr=weight, max_num_nodes=max_nodes, batch_size=num_graphs
        ).to(dtype)
    else:
        adj = torch.zeros(num_graphs, 0, 0, dtype=dtype, device=device)
    if num_graphs == 0 or max_nodes == 0:
        adj = torch.zeros(num_graphs, max_nodes, max_nodes, dtype=dtype, device=device)
    dense_presence = None
    if presence is not None:
        dense_presence, _ = to_dense_batch(presence.to(dtype), batch, batch_size=num_graphs)
        # An edge exists when both its ends do.
        adj = adj * dense_presence[:, :, None] * dense_presence[:, None, :]
    return DenseGraphs(probs, index, dense_act, adj, mask, mask.sum(1), dense_presence)
