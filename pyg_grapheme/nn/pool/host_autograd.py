r"""The differentiable steps of :class:`~pyg_grapheme.nn.ThresholdMergePool` on host memory.

Three autograd Functions whose forward and backward passes are compiled loops
(Numba), for float32 and float64 tensors that live on the CPU; the projection's
matrix products stay PyTorch's:

* :func:`pair_scores`: projection, per-graph centring, cosine similarity of
  each candidate pair and its soft gate;
* :func:`matching_reduce`: the pooled features of a matching (a pair's sum or
  mean, times its gate) and the cluster merge scores;
* :func:`edge_weights`: the soft weight :math:`\mathrm{mean}(1 - g)` of each
  pooled edge.

They compute what the tensor code in
:class:`~pyg_grapheme.nn.ThresholdMergePool` computes (the tests compare values
and gradients of both, and run ``gradcheck`` in float64 through these). They
exist because on the batches graph models train on (hundreds of nodes) the
tensor code is several dozen operations, each with a fixed cost of dispatch,
autograd bookkeeping and a temporary the size of the features, more than its
arithmetic; here each pass reads the features once
(``python bench/pool_profile.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numba import njit
from numpy.typing import NDArray
from torch import Tensor
from torch.autograd.function import once_differentiable

from pyg_grapheme.nn.pool.pair_cosine import EPS

Index = NDArray[np.int64]
Mask = NDArray[np.bool_]
Array = NDArray[np.floating]

HOST_DTYPES = (torch.float32, torch.float64)

# Reassociation lets the compiler vectorise the sums over channels; NaN and infinity keep
# their IEEE meaning (no "nnan"/"ninf"), so a NaN feature still gives a NaN similarity.
JIT = {"cache": True, "nogil": True, "fastmath": {"reassoc", "contract", "nsz"}}


def _numpy(tensor: Tensor) -> Array:
    return tensor.detach().numpy()


def _matmul(a: Array, b: Array) -> Array:
    """``a @ b`` through PyTorch, on the threads ``torch.set_num_threads`` allows."""
    return torch.mm(torch.from_numpy(a), torch.from_numpy(b)).numpy()


@njit(**JIT)
def _centre_rows(rows: Array, batch: Index, num_graphs: int) -> None:
    """Subtracts from every row the mean row of its graph, in place."""
    num_nodes, channels = rows.shape
    mean = np.zeros((num_graphs, channels), rows.dtype)
    count = np.zeros(num_graphs, np.int64)
    for i in range(num_nodes):
        g = batch[i]
        count[g] += 1
        for f in range(channels):
            mean[g, f] += rows[i, f]
    for g in range(num_graphs):
        if count[g] > 0:
            for f in range(channels):
                mean[g, f] /= count[g]
    for i in range(num_nodes):
        g = batch[i]
        for f in range(channels):
            rows[i, f] -= mean[g, f]


@njit(**JIT)
def _scores_forward(
    h: Array,
    batch: Index,
    num_graphs: int,
    centered: bool,
    candidate_index: Index,
    tau: float,
    inv_temperature: float,
) -> tuple[Array, Array, Mask, Array, Array]:
    num_nodes, channels = h.shape
    u = h.copy()
    if centered:
        _centre_rows(u, batch, num_graphs)
    inv_norm = np.empty(num_nodes, h.dtype)
    unclamped = np.empty(num_nodes, np.bool_)
    for i in range(num_nodes):
        total = 0.0
        for f in range(channels):
            total += u[i, f] * u[i, f]
        norm = np.sqrt(total)
        unclamped[i] = norm > EPS
        inv_norm[i] = 1.0 / max(norm, EPS)
        for f in range(channels):
            u[i, f] *= inv_norm[i]
    num_pairs = candidate_index.shape[1]
    similarity = np.empty(num_pairs, h.dtype)
    gate = np.empty(num_pairs, h.dtype)
    for p in range(num_pairs):
        a, b = candidate_index[0, p], candidate_index[1, p]
        total = 0.0
        for f in range(channels):
            total += u[a, f] * u[b, f]
        similarity[p] = total
        gate[p] = 1.0 / (1.0 + np.exp(-(similarity[p] - tau) * inv_temperature))
    return u, inv_norm, unclamped, similarity, gate


@njit(**JIT)
def _scores_backward(
    u: Array,
    inv_norm: Array,
    unclamped: Mask,
    candidate_index: Index,
    gate: Array,
    grad_similarity: Array,
    grad_gate: Array,
    inv_temperature: float,
    batch: Index,
    num_graphs: int,
    centered: bool,
) -> tuple[Array, float]:
    num_nodes, channels = u.shape
    grad = np.zeros_like(u)
    through_gate = 0.0
    for p in range(candidate_index.shape[1]):
        slope = grad_gate[p] * gate[p] * (1.0 - gate[p]) * inv_temperature
        through_gate += slope
        delta = grad_similarity[p] + slope
        a, b = candidate_index[0, p], candidate_index[1, p]
        for f in range(channels):
            grad[a, f] += delta * u[b, f]
            grad[b, f] += delta * u[a, f]
    for i in range(num_nodes):
        radial = 0.0
        if unclamped[i]:
            for f in range(channels):
                radial += grad[i, f] * u[i, f]
        for f in range(channels):
            grad[i, f] = (grad[i, f] - radial * u[i, f]) * inv_norm[i]
    if centered:  # centring is a symmetric projection: its backward centres the gradient
        _centre_rows(grad, batch, num_graphs)
    return grad, through_gate


class _PairScores(torch.autograd.Function):
    r"""Similarity :math:`s_p` and gate :math:`g_p` of every candidate pair :math:`p = (a, b)`.

    .. math::
        \mathbf{h} = \mathbf{x}\mathbf{W}^\top, \quad
        \mathbf{c}_i = \mathbf{h}_i - \bar{\mathbf{h}}_{g(i)}, \quad
        \mathbf{u}_i = \mathbf{c}_i\, r_i, \ r_i = 1 / \max(\lVert\mathbf{c}_i\rVert, \epsilon), \quad
        s_p = \langle \mathbf{u}_a, \mathbf{u}_b \rangle, \quad
        g_p = \sigma\big((s_p - \sigma(\theta)) / T\big).

    Backward, with :math:`\delta_p = \bar s_p + \bar g_p\, g_p (1 - g_p) / T`:
    :math:`\bar{\mathbf{u}}_a \mathrel{+}= \delta_p \mathbf{u}_b`,
    :math:`\bar{\mathbf{u}}_b \mathrel{+}= \delta_p \mathbf{u}_a`;
    :math:`\bar{\mathbf{c}}_i = r_i(\bar{\mathbf{u}}_i - [\lVert\mathbf{c}_i\rVert > \epsilon]
    \langle \bar{\mathbf{u}}_i, \mathbf{u}_i\rangle \mathbf{u}_i)`;
    :math:`\bar{\mathbf{h}}` is :math:`\bar{\mathbf{c}}` centred per graph;
    :math:`\bar{\mathbf{x}} = \kappa\,\bar{\mathbf{h}}\mathbf{W}` (:math:`\kappa`
    is ``x_gradient``, 1 for the exact gradient),
    :math:`\bar{\mathbf{W}} = \bar{\mathbf{h}}^\top\mathbf{x}`;
    :math:`\bar\theta = -\sigma'(\theta) \sum_p \bar g_p\, g_p (1 - g_p) / T`.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: Tensor,
        weight: Tensor | None,
        threshold_logit: Tensor,
        candidate_index: Index,
        batch: Index,
        num_graphs: int,
        centered: bool,
        temperature: float,
        x_gradient: float,
    ) -> tuple[Tensor, Tensor]:
        h = _numpy(x) if weight is None else _matmul(_numpy(x), _numpy(weight).T)
        tau = torch.sigmoid(threshold_logit.detach())
        u, inv_norm, unclamped, similarity, gate = _scores_forward(
            h, batch, num_graphs, centered, candidate_index, float(tau), 1.0 / temperature
        )
        ctx.host = (u, inv_norm, unclamped, candidate_index, batch)
        ctx.options = (num_graphs, centered, 1.0 / temperature, x_gradient)
        similarity_out, gate_out = torch.from_numpy(similarity), torch.from_numpy(gate)
        # Saved as tensors, so that autograd notices if any is changed in place before backward.
        ctx.save_for_backward(x, weight, gate_out, tau)
        if not (x.requires_grad or (weight is not None and weight.requires_grad)):
            ctx.mark_non_differentiable(similarity_out)  # it does not depend on the threshold
        return similarity_out, gate_out

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any, grad_similarity: Tensor | None, grad_gate: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        u, inv_norm, unclamped, candidate_index, batch = ctx.host
        num_graphs, centered, inv_temperature, x_gradient = ctx.options
        x, weight, gate_out, tau = ctx.saved_tensors
        x_host, gate = _numpy(x), _numpy(gate_out)
        weight_host = None if weight is None else _numpy(weight)
        zeros = np.zeros_like(gate)
        grad_h, through_gate = _scores_backward(
            u,
            inv_norm,
            unclamped,
            candidate_index,
            gate,
            zeros if grad_similarity is None else _numpy(grad_similarity).astype(gate.dtype),
            zeros if grad_gate is None else _numpy(grad_gate).astype(gate.dtype),
            inv_temperature,
            batch,
            num_graphs,
            centered,
        )
        grad_x = grad_weight = grad_theta = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.from_numpy(
                grad_h if weight_host is None else _matmul(grad_h, weight_host)
            )
            if x_gradient != 1.0:
                grad_x.mul_(x_gradient)
        if ctx.needs_input_grad[1]:
            grad_weight = torch.from_numpy(_matmul(grad_h.T, x_host))  # a view: BLAS transposes
        if ctx.needs_input_grad[2]:  # scalar arithmetic in Python: three tensor ops cost more
            tau_value = float(tau)
            grad_theta = tau.new_tensor(-through_gate * tau_value * (1.0 - tau_value))
        return grad_x, grad_weight, grad_theta, None, None, None, None, None, None


def pair_scores(
    x: Tensor,
    weight: Tensor | None,
    threshold_logit: Tensor,
    candidate_index: Index,
    batch: Index,
    num_graphs: int,
    centered: bool,
    temperature: float,
    x_gradient: float = 1.0,
) -> tuple[Tensor, Tensor]:
    r"""Similarity and gate :math:`[P]` of each candidate pair (see :class:`_PairScores`).

    Args:
        x (torch.Tensor): Node features :math:`[N, F]`, float32 or float64, on the CPU.
        weight (torch.Tensor, optional): Projection :math:`\mathbf{W}` :math:`[k, F]`.
        threshold_logit (torch.Tensor): :math:`\theta`, a scalar.
        candidate_index (numpy.ndarray): Pairs :math:`[2, P]`.
        batch (numpy.ndarray): :math:`[N]`, graph of each node.
        num_graphs (int): Graphs in the batch (more than the largest entry of ``batch``).
        centered (bool): Centre the projected features per graph.
        temperature (float): :math:`T`.
        x_gradient (float): Factor on :math:`\bar{\mathbf{x}}` (the gradient that reaches
            :math:`\mathbf{x}` through the scores); :math:`\bar{\mathbf{W}}` and
            :math:`\bar\theta` are exact whatever it is.

    Returns:
        * **similarity** (*torch.Tensor*): :math:`[P]`.
        * **gate** (*torch.Tensor*): :math:`[P]`.
    """
    return _PairScores.apply(
        x.contiguous(),
        weight,
        threshold_logit,
        candidate_index,
        batch,
        num_graphs,
        centered,
        temperature,
        x_gradient,
    )


@njit(**JIT)
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


@njit(**JIT)
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


@njit(**JIT)
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


@njit(**JIT)
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
