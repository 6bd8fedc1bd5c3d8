r"""The differentiable steps of :class:`~pyg_grapheme.nn.ThresholdMergePool` on host memory.

Three autograd Functions whose forward and backward passes are written out with
NumPy (and, for the two row scatters, one PyTorch ``index_add_`` without
autograd), for float32 and float64 tensors that live on the CPU:

* :func:`pair_scores`: projection, per-graph centring, cosine similarity of
  each candidate pair and its soft gate;
* :func:`matching_reduce`: the pooled features of a matching (a pair's sum or
  mean, times its gate) and the cluster merge scores;
* :func:`edge_weights`: the soft weight :math:`\mathrm{mean}(1 - g)` of each
  pooled edge.

They compute what the tensor code in
:class:`~pyg_grapheme.nn.ThresholdMergePool` computes (the tests compare values
and gradients of both, and run ``gradcheck`` in float64 on these). They exist
because on the batches graph models train on (hundreds of nodes) each PyTorch
operation costs a fixed few microseconds of dispatch and autograd bookkeeping,
more than its arithmetic, and the pool is several dozen such operations; a
NumPy call costs a fraction of that (``python bench/pool_profile.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor
from torch.autograd.function import once_differentiable

from pyg_grapheme.nn.pool.pair_cosine import EPS

Index = NDArray[np.int64]
Mask = NDArray[np.bool_]
Array = NDArray[np.floating]

HOST_DTYPES = (torch.float32, torch.float64)


def _numpy(tensor: Tensor) -> Array:
    return tensor.detach().numpy()


def _matmul(a: Array, b: Array) -> Array:
    """``a @ b`` through PyTorch, so that it runs on the threads ``torch.set_num_threads`` allows
    (NumPy's BLAS starts its own, whose spinning costs CPU time on small products)."""
    return torch.mm(torch.from_numpy(a), torch.from_numpy(b)).numpy()


def _rows_add(out: Array, index: Index, rows: Array) -> Array:
    """``out[index[p]] += rows[p]`` for repeated indices (PyTorch's ``index_add_``, no autograd:
    NumPy's ``add.at`` on rows is ten times slower)."""
    torch.from_numpy(out).index_add_(0, torch.from_numpy(index), torch.from_numpy(rows))
    return out


class GraphMean:
    r"""Per-graph mean of node rows, :math:`\bar{\mathbf{h}}_{g(i)}` for every node :math:`i`.

    Centring :math:`\mathbf{c} = \mathbf{h} - \bar{\mathbf{h}}_{g}` is a symmetric
    projection, so its backward is the same centring of the incoming gradient.
    """

    def __init__(self, batch: Index, num_graphs: int) -> None:
        self.batch = batch
        self.num_graphs = num_graphs
        self.inv_count = 1.0 / np.maximum(np.bincount(batch, minlength=num_graphs), 1)

    def __call__(self, h: Array) -> Array:
        total = _rows_add(np.zeros((self.num_graphs, h.shape[1]), h.dtype), self.batch, h)
        return np.take(total * self.inv_count.astype(h.dtype)[:, None], self.batch, axis=0)


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
    :math:`\bar{\mathbf{h}}` is :math:`\bar{\mathbf{c}}` centred;
    :math:`\bar{\mathbf{x}} = \bar{\mathbf{h}}\mathbf{W}`,
    :math:`\bar{\mathbf{W}} = \bar{\mathbf{h}}^\top\mathbf{x}`;
    :math:`\bar\theta = -\sigma'(\theta) \sum_p \bar g_p\, g_p (1 - g_p) / T`.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: Tensor,
        weight: Tensor | None,
        threshold_logit: Tensor,
        first: Index,
        second: Index,
        graph_mean: GraphMean | None,
        temperature: float,
    ) -> tuple[Tensor, Tensor]:
        x_host = _numpy(x)
        weight_host = None if weight is None else _numpy(weight)
        h = x_host if weight_host is None else _matmul(x_host, weight_host.T)
        c = h if graph_mean is None else h - graph_mean(h)
        norm = np.sqrt(np.einsum("ij,ij->i", c, c))
        inv_norm = 1.0 / np.maximum(norm, EPS).astype(c.dtype)
        u = c * inv_norm[:, None]
        u_first, u_second = np.take(u, first, axis=0), np.take(u, second, axis=0)
        similarity = np.einsum("ij,ij->i", u_first, u_second)
        tau = torch.sigmoid(threshold_logit.detach())
        gate = torch.sigmoid((torch.from_numpy(similarity) - tau) * (1.0 / temperature))
        ctx.host = (x_host, weight_host, u, inv_norm, norm > EPS, u_first, u_second, first, second)
        ctx.graph_mean = graph_mean
        ctx.temperature = temperature
        ctx.save_for_backward(gate, tau)
        similarity_out = torch.from_numpy(similarity)
        if not (x.requires_grad or (weight is not None and weight.requires_grad)):
            ctx.mark_non_differentiable(similarity_out)  # it does not depend on the threshold
        return similarity_out, gate

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any, grad_similarity: Tensor | None, grad_gate: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        x_host, weight_host, u, inv_norm, unclamped, u_first, u_second, first, second = ctx.host
        gate, tau = ctx.saved_tensors
        slope = gate * (1.0 - gate) * (1.0 / ctx.temperature)  # d g / d s
        grad_s = torch.zeros_like(gate) if grad_similarity is None else grad_similarity.clone()
        grad_theta = None
        if grad_gate is not None:
            through_gate = grad_gate * slope
            grad_s += through_gate
            if ctx.needs_input_grad[2]:
                grad_theta = -(through_gate.sum() * tau * (1.0 - tau))
        if not (ctx.needs_input_grad[0] or ctx.needs_input_grad[1]):
            return None, None, grad_theta, None, None, None, None
        delta = _numpy(grad_s).astype(u.dtype, copy=False)[:, None]
        grad_u = _rows_add(np.zeros_like(u), first, delta * u_second)
        grad_u = _rows_add(grad_u, second, delta * u_first)
        radial = np.einsum("ij,ij->i", grad_u, u) * unclamped
        grad_c = (grad_u - u * radial[:, None]) * inv_norm[:, None]
        grad_h = grad_c if ctx.graph_mean is None else grad_c - ctx.graph_mean(grad_c)
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.from_numpy(
                grad_h if weight_host is None else _matmul(grad_h, weight_host)
            )
        if ctx.needs_input_grad[1]:
            grad_weight = torch.from_numpy(_matmul(grad_h.T, x_host))
        return grad_x, grad_weight, grad_theta, None, None, None, None


def pair_scores(
    x: Tensor,
    weight: Tensor | None,
    threshold_logit: Tensor,
    candidate_index: Index,
    graph_mean: GraphMean | None,
    temperature: float,
) -> tuple[Tensor, Tensor]:
    r"""Similarity and gate :math:`[P]` of each candidate pair (see :class:`_PairScores`).

    Args:
        x (torch.Tensor): Node features :math:`[N, F]`, float32 or float64, on the CPU.
        weight (torch.Tensor, optional): Projection :math:`\mathbf{W}` :math:`[k, F]`.
        threshold_logit (torch.Tensor): :math:`\theta`, a scalar.
        candidate_index (numpy.ndarray): Pairs :math:`[2, P]`.
        graph_mean (GraphMean, optional): Centres the projected features per graph.
        temperature (float): :math:`T`.

    Returns:
        * **similarity** (*torch.Tensor*): :math:`[P]`.
        * **gate** (*torch.Tensor*): :math:`[P]`.
    """
    return _PairScores.apply(
        x.contiguous(),
        weight,
        threshold_logit,
        candidate_index[0],
        candidate_index[1],
        graph_mean,
        temperature,
    )


class _MatchingReduce(torch.autograd.Function):
    r"""Pooled features of a matching: :math:`\mathbf{x}'_c = \lambda_c\, \bar g_c
    \sum_{i \in c} \mathbf{x}_i` with :math:`\lambda_c = 1` (sum) or :math:`1 / |c|`
    (mean), and :math:`\bar g_c` the gate of the cluster's matched pair (:math:`1` for a
    node left alone, or everywhere without gating).

    Backward: :math:`\bar{\mathbf{x}}_i = \lambda_c \bar g_c \bar{\mathbf{x}}'_c` for
    :math:`c = c(i)`; for the matched pair :math:`p` of cluster :math:`c`,
    :math:`\bar g_p = \lambda_c \langle \bar{\mathbf{x}}'_c, \sum_{i \in c}\mathbf{x}_i\rangle
    + \overline{\mathrm{score}}_c`.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: Tensor,
        gate: Tensor,
        cluster: Index,
        lead: Index,
        matched: Index,
        pair_cluster: Index,
        partner: Index,
        mean: bool,
        gated: bool,
    ) -> tuple[Tensor, Tensor]:
        x_host = _numpy(x)
        x_sum = np.take(x_host, lead, axis=0)
        x_sum[pair_cluster] += np.take(x_host, partner, axis=0)
        num_clusters = lead.size
        scale = np.ones(num_clusters, dtype=x_host.dtype)
        if mean:
            scale[pair_cluster] = 0.5
        score = np.ones(num_clusters, dtype=x_host.dtype)
        if gated:
            score[pair_cluster] = _numpy(gate)[matched]
        x_out = x_sum * (scale * score)[:, None]
        ctx.host = (x_sum, cluster, matched, pair_cluster, scale, score, gate.numel(), gated)
        if not gated:
            score_out = torch.from_numpy(score)
            ctx.mark_non_differentiable(score_out)
            return torch.from_numpy(x_out), score_out
        return torch.from_numpy(x_out), torch.from_numpy(score)

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: Any, grad_x_out: Tensor | None, grad_score: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        x_sum, cluster, matched, pair_cluster, scale, score, num_pairs, gated = ctx.host
        grad_x = grad_gate = None
        grad_out = None if grad_x_out is None else _numpy(grad_x_out)
        if ctx.needs_input_grad[0] and grad_out is not None:
            grad_x = torch.from_numpy(np.take(grad_out * (scale * score)[:, None], cluster, axis=0))
        if ctx.needs_input_grad[1] and gated:  # ungated, the gates do not reach the output
            grad_pair = np.zeros(pair_cluster.size, dtype=x_sum.dtype)
            if grad_out is not None:
                rows = np.take(grad_out, pair_cluster, axis=0)
                grad_pair += np.einsum("ij,ij->i", rows, np.take(x_sum, pair_cluster, axis=0))
                grad_pair *= scale[pair_cluster]
            if grad_score is not None:
                grad_pair += _numpy(grad_score)[pair_cluster]
            grad_gate_host = np.zeros(num_pairs, dtype=x_sum.dtype)
            grad_gate_host[matched] = grad_pair
            grad_gate = torch.from_numpy(grad_gate_host)
        return grad_x, grad_gate, None, None, None, None, None, None, None


def matching_reduce(
    x: Tensor,
    gate: Tensor,
    candidate_index: Index,
    merged: Mask,
    cluster: Index,
    num_clusters: int,
    mean: bool,
    gated: bool,
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
        gated (bool): Multiply by the matched pair's gate.

    Returns:
        * **x** (*torch.Tensor*): :math:`[C, F]`.
        * **member_weight** (*torch.Tensor*): :math:`[N]`, :math:`1 / |c(i)|`.
        * **cluster_size** (*torch.Tensor*): :math:`[C]`.
        * **score** (*torch.Tensor*): :math:`[C]`.
    """
    matched = np.flatnonzero(merged)
    lead_of_pair, partner = candidate_index[0][matched], candidate_index[1][matched]
    pair_cluster = cluster[lead_of_pair]
    # The smallest member leads its cluster: every node but a matched pair's larger end.
    alone = np.ones(cluster.size, dtype=bool)
    alone[partner] = False
    leads = np.flatnonzero(alone)
    lead = np.empty(num_clusters, dtype=np.int64)
    lead[cluster[leads]] = leads
    # Ungated, the output does not depend on the gates: keep them out of its graph.
    x_out, score = _MatchingReduce.apply(
        x.contiguous(),
        gate if gated else gate.detach(),
        cluster,
        lead,
        matched,
        pair_cluster,
        partner,
        mean,
        gated,
    )
    size = np.ones(num_clusters, dtype=_numpy(x_out).dtype)
    size[pair_cluster] = 2.0
    return x_out, torch.from_numpy(np.take(1.0 / size, cluster)), torch.from_numpy(size), score


class _EdgeWeights(torch.autograd.Function):
    r"""Soft weight of each pooled edge, :math:`w_{e'} = \frac{1}{n_{e'}}\sum_{e \to e'}
    (1 - g_{p(e)})`, with :math:`g = 0` for input edges that are no candidate pair.

    Backward: :math:`\bar g_p = -\sum_{e:\ p(e) = p} \bar w_{e'(e)} / n_{e'(e)}`.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, gate: Tensor, pair_of_kept: Index, slot: Index, count: Index
    ) -> Tensor:
        gate_host = _numpy(gate)
        num_pairs = gate_host.size
        padded = np.append(gate_host, gate_host.dtype.type(0))
        total = np.bincount(slot, weights=1.0 - np.take(padded, pair_of_kept), minlength=count.size)
        ctx.host = (pair_of_kept, slot, count, num_pairs)
        return torch.from_numpy((total / count).astype(gate_host.dtype, copy=False))

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_weight: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        pair_of_kept, slot, count, num_pairs = ctx.host
        grad = _numpy(grad_weight)
        per_edge = np.take(grad / count, slot)
        grad_gate = -np.bincount(pair_of_kept, weights=per_edge, minlength=num_pairs + 1)
        return (
            torch.from_numpy(grad_gate[:num_pairs].astype(grad.dtype, copy=False)),
            None,
            None,
            None,
        )


def edge_weights(gate: Tensor, pair_of_kept: Index, slot: Index, count: Index) -> Tensor:
    r"""Soft weights :math:`[E']` of the pooled edges (see :class:`_EdgeWeights`).

    Args:
        gate (torch.Tensor): :math:`[P]`.
        pair_of_kept (numpy.ndarray): :math:`[K]`, the candidate pair of each kept input
            edge, :math:`P` for edges that are none.
        slot (numpy.ndarray): :math:`[K]`, the output edge of each kept input edge.
        count (numpy.ndarray): :math:`[E']`, kept input edges per output edge.
    """
    return _EdgeWeights.apply(gate, pair_of_kept, slot, count)
