r"""Connect step of :class:`~pyg_grapheme.nn.ThresholdMergePool` on host memory (Numba).

The twins of :mod:`pyg_grapheme.nn.pool.connect` under the same names: the coalesced
pooled edges (two counting sorts) and their soft weights (an autograd Function with
compiled passes). Exact sizes: on the CPU the counts are known, so nothing is padded.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numba import njit
from numpy.typing import NDArray
from torch import Tensor
from torch.autograd.function import once_differentiable

from pyg_grapheme.nn.pool.host.select import lexicographic_order

Index = NDArray[np.int64]
Mask = NDArray[np.bool_]
Array = NDArray[np.floating]

JIT = {"cache": True, "nogil": True}
# Reassociated sums (vectorised channel loops); NaN and infinity keep their IEEE meaning.
FLOAT_JIT = {"cache": True, "nogil": True, "fastmath": {"reassoc", "contract", "nsz"}}


def _numpy(tensor: Tensor) -> Array:
    return tensor.detach().numpy()


@njit(**JIT)
def pooled_edges(
    edge_index: Index, cluster: Index, num_clusters: int, self_loops: bool = False
) -> tuple[Index, Index, Index, Index]:
    r"""Input edges mapped to clusters, duplicates coalesced, self-loops kept (one per
    cluster with an edge inside) when ``self_loops``, else removed.

    Returns:
        * **keep**: :math:`[K]`, the input edges kept: those whose ends lie in different
          clusters, and with ``self_loops`` every edge.
        * **slot**: :math:`[K]`, the output edge of each kept edge.
        * **edge_index**: :math:`[2, E']`, the output edges, sorted.
        * **count**: :math:`[E']`, input edges mapping to each output edge.
    """
    num_edges = edge_index.shape[1]
    source = np.empty(num_edges, np.int64)
    target = np.empty(num_edges, np.int64)
    keep = np.empty(num_edges, np.int64)
    num_kept = 0
    for e in range(num_edges):
        a, b = cluster[edge_index[0, e]], cluster[edge_index[1, e]]
        if a != b or self_loops:
            keep[num_kept], source[num_kept], target[num_kept] = e, a, b
            num_kept += 1
    keep, source, target = keep[:num_kept], source[:num_kept], target[:num_kept]
    order = lexicographic_order(source, target, num_clusters)
    slot = np.empty(num_kept, np.int64)
    out_source = np.empty(num_kept, np.int64)
    out_target = np.empty(num_kept, np.int64)
    count = np.empty(num_kept, np.int64)
    num_out = 0
    for q in order:
        if (
            num_out == 0
            or source[q] != out_source[num_out - 1]
            or target[q] != out_target[num_out - 1]
        ):
            out_source[num_out], out_target[num_out] = source[q], target[q]
            count[num_out] = 0
            num_out += 1
        count[num_out - 1] += 1
        slot[q] = num_out - 1
    edge_index_out = np.empty((2, num_out), np.int64)
    edge_index_out[0], edge_index_out[1] = out_source[:num_out], out_target[:num_out]
    return keep, slot, edge_index_out, count[:num_out].copy()


@njit(**FLOAT_JIT)
def _edge_weights_forward(
    gate: Array, pair_of_edge: Index, keep: Index, slot: Index, count: Index
) -> Array:
    weight = np.zeros(count.size, gate.dtype)
    num_pairs = gate.size
    for k in range(keep.size):
        p = pair_of_edge[keep[k]]
        weight[slot[k]] += 1.0 - (gate[p] if p < num_pairs else 0.0)
    for o in range(count.size):
        weight[o] /= count[o]
    return weight


@njit(**FLOAT_JIT)
def _edge_weights_backward(
    grad: Array, num_pairs: int, pair_of_edge: Index, keep: Index, slot: Index, count: Index
) -> Array:
    grad_gate = np.zeros(num_pairs, grad.dtype)
    for k in range(keep.size):
        p = pair_of_edge[keep[k]]
        if p < num_pairs:
            grad_gate[p] -= grad[slot[k]] / count[slot[k]]
    return grad_gate


class _EdgeWeights(torch.autograd.Function):
    r"""Soft weight of each pooled edge, :math:`w_{e'} = \frac{1}{n_{e'}}\sum_{e \to e'}
    (1 - g_{p(e)})`, with :math:`g = 0` for input edges that are no candidate pair.

    Backward: :math:`\bar g_p = -\sum_{e:\ p(e) = p} \bar w_{e'(e)} / n_{e'(e)}`.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, gate: Tensor, pair_of_edge: Index, keep: Index, slot: Index, count: Index
    ) -> Tensor:
        ctx.host = (gate.numel(), pair_of_edge, keep, slot, count)
        return torch.from_numpy(
            _edge_weights_forward(_numpy(gate), pair_of_edge, keep, slot, count)
        )

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_weight: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        grad_gate = _edge_weights_backward(_numpy(grad_weight), *ctx.host)
        return torch.from_numpy(grad_gate), None, None, None, None


def edge_weights(
    gate: Tensor, pair_of_edge: Index, keep: Index, slot: Index, count: Index
) -> Tensor:
    r"""Soft weights :math:`[E']` of the pooled edges (see :class:`_EdgeWeights`).

    Args:
        gate (torch.Tensor): :math:`[P]`.
        pair_of_edge (numpy.ndarray): :math:`[E]`, the candidate pair of each input edge,
            :math:`P` for edges that are none.
        keep (numpy.ndarray): :math:`[K]`, the input edges between different clusters.
        slot (numpy.ndarray): :math:`[K]`, the output edge of each kept input edge.
        count (numpy.ndarray): :math:`[E']`, kept input edges per output edge.
    """
    return _EdgeWeights.apply(gate, pair_of_edge, keep, slot, count)
