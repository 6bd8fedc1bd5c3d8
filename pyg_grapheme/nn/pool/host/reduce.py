r"""Reduce step of :class:`~pyg_grapheme.nn.ThresholdMergePool` on host memory (Numba).

The twin of :func:`pyg_grapheme.nn.pool.reduce.matching_reduce`: an autograd Function
whose forward and backward passes are compiled loops, for float32 and float64 tensors
on the CPU; each pass reads the features once, where the tensor code is several
operations with a temporary the size of the features each. (Components reduce with the
tensor code on both paths.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numba import njit
from numpy.typing import NDArray
from torch import Tensor
from torch.autograd.function import once_differentiable

Index = NDArray[np.int64]
Mask = NDArray[np.bool_]
Array = NDArray[np.floating]

JIT = {"cache": True, "nogil": True}
# Reassociated sums (vectorised channel loops); NaN and infinity keep their IEEE meaning.
FLOAT_JIT = {"cache": True, "nogil": True, "fastmath": {"reassoc", "contract", "nsz"}}


def _numpy(tensor: Tensor) -> Array:
    return tensor.detach().numpy()


@njit(**FLOAT_JIT)
def _matching_reduce_forward(
    x: Array,
    gate: Array,
    candidate_index: Index,
    merged: Mask,
    cluster: Index,
    num_clusters: int,
    mean: bool,
    strength: float,
) -> tuple[Array, Array, Array, Array, Array]:
    num_nodes, channels = x.shape
    x_sum = np.zeros((num_clusters, channels), x.dtype)
    size = np.zeros(num_clusters, x.dtype)
    for i in range(num_nodes):
        c = cluster[i]
        size[c] += 1.0
        for f in range(channels):
            x_sum[c, f] += x[i, f]
    score = np.ones(num_clusters, x.dtype)
    if strength > 0.0:
        for p in range(merged.size):
            if merged[p]:
                score[cluster[candidate_index[0, p]]] = gate[p]
    factor = score.copy()
    if strength != 1.0:  # at strength 1 the score itself, with no rounding from 0 + 1 * score
        for c in range(num_clusters):
            factor[c] = (1.0 - strength) + strength * score[c]
    if mean:
        factor /= size
    x_out = np.empty_like(x_sum)
    for c in range(num_clusters):
        for f in range(channels):
            x_out[c, f] = x_sum[c, f] * factor[c]
    return x_out, x_sum, size, score, factor


@njit(**FLOAT_JIT)
def _matching_reduce_backward(
    grad_out: Array,
    grad_score: Array,
    x_sum: Array,
    size: Array,
    factor: Array,
    candidate_index: Index,
    merged: Mask,
    cluster: Index,
    mean: bool,
    strength: float,
) -> tuple[Array, Array]:
    num_nodes, channels = cluster.size, x_sum.shape[1]
    grad_x = np.empty((num_nodes, channels), x_sum.dtype)
    for i in range(num_nodes):
        c = cluster[i]
        for f in range(channels):
            grad_x[i, f] = grad_out[c, f] * factor[c]
    grad_gate = np.zeros(merged.size, x_sum.dtype)
    for p in range(merged.size):
        if merged[p]:
            c = cluster[candidate_index[0, p]]
            total = 0.0
            for f in range(channels):
                total += grad_out[c, f] * x_sum[c, f]
            grad_gate[p] = strength * (total / size[c] if mean else total) + grad_score[c]
    return grad_x, grad_gate


class _MatchingReduce(torch.autograd.Function):
    r"""Pooled features of a matching: :math:`\mathbf{x}'_c = \lambda_c\, (1 - \alpha +
    \alpha \bar g_c) \sum_{i \in c} \mathbf{x}_i` with :math:`\lambda_c = 1` (sum) or
    :math:`1 / |c|` (mean), :math:`\bar g_c` the gate of the cluster's matched pair
    (:math:`1` for a node left alone, or everywhere when :math:`\alpha = 0`) and
    :math:`\alpha` the gate strength.

    Backward: :math:`\bar{\mathbf{x}}_i = \lambda_c (1 - \alpha + \alpha \bar g_c)
    \bar{\mathbf{x}}'_c` for :math:`c = c(i)`; for the matched pair :math:`p` of cluster
    :math:`c`, :math:`\bar g_p = \alpha \lambda_c \langle \bar{\mathbf{x}}'_c,
    \sum_{i \in c}\mathbf{x}_i\rangle + \overline{\mathrm{score}}_c`.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: Tensor,
        gate: Tensor,
        candidate_index: Index,
        merged: Mask,
        cluster: Index,
        num_clusters: int,
        mean: bool,
        strength: float,
    ) -> tuple[Tensor, Tensor, Tensor]:
        x_out, x_sum, size, score, factor = _matching_reduce_forward(
            _numpy(x), _numpy(gate), candidate_index, merged, cluster, num_clusters, mean,
            strength,
        )  # fmt: skip
        ctx.host = (x_sum, size, factor, candidate_index, merged, cluster, mean, strength)
        size_out, score_out = torch.from_numpy(size), torch.from_numpy(score)
        ctx.mark_non_differentiable(size_out)
        if strength == 0.0:
            ctx.mark_non_differentiable(score_out)
        return torch.from_numpy(x_out), size_out, score_out

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any, grad_x_out: Tensor | None, _: Tensor | None, grad_score: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        x_sum, size, factor, candidate_index, merged, cluster, mean, strength = ctx.host
        grad_x, grad_gate = _matching_reduce_backward(
            np.zeros_like(x_sum) if grad_x_out is None else _numpy(grad_x_out),
            np.zeros_like(size) if grad_score is None else _numpy(grad_score),
            x_sum,
            size,
            factor,
            candidate_index,
            merged,
            cluster,
            mean,
            strength,
        )
        return (
            torch.from_numpy(grad_x) if ctx.needs_input_grad[0] else None,
            torch.from_numpy(grad_gate) if ctx.needs_input_grad[1] else None,
            *(None,) * 6,
        )


def matching_reduce(
    x: Tensor,
    gate: Tensor,
    candidate_index: Index,
    merged: Mask,
    cluster: Index,
    num_clusters: int,
    mean: bool,
    strength: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    r"""The Reduce step of a matching (see :class:`_MatchingReduce`).

    Args:
        x (torch.Tensor): Node features :math:`[N, F]`.
        gate (torch.Tensor): :math:`[P]`.
        candidate_index (numpy.ndarray): Pairs :math:`[2, P]`.
        merged (numpy.ndarray): ``bool`` :math:`[P]`, a matching.
        cluster (numpy.ndarray): :math:`[N]`, input node -> output node.
        num_clusters (int): :math:`C`.
        mean (bool): A pair's mean instead of its sum.
        strength (float): :math:`\alpha \in [0, 1]`, how much the matched pair's gate
            scales its cluster's features (:math:`1 - \alpha + \alpha \bar g_c`).

    Returns:
        * **x** (*torch.Tensor*): :math:`[C, F]`.
        * **member_weight** (*torch.Tensor*): :math:`[N]`, :math:`1 / |c(i)|`.
        * **cluster_size** (*torch.Tensor*): :math:`[C]`.
        * **score** (*torch.Tensor*): :math:`[C]`.
    """
    # Ungated, the output does not depend on the gates: keep them out of its graph.
    x_out, size, score = _MatchingReduce.apply(
        x.contiguous(),
        gate if strength > 0.0 else gate.detach(),
        candidate_index,
        merged,
        cluster,
        num_clusters,
        mean,
        float(strength),
    )
    member_weight = torch.from_numpy(np.take(1.0 / _numpy(size), cluster))
    return x_out, member_weight, size, score
