r"""Select step of :class:`~pyg_grapheme.nn.ThresholdMergePool` on host memory (Numba).

The twins of :mod:`pyg_grapheme.nn.pool.select` under the same names, for
arrays that live on the CPU: candidate pairs, their similarity and gate (an
autograd Function whose passes are compiled loops), the greedy matching, the
connected components and the cluster numbers. They return exactly what the
tensor versions return (the tests compare both on random graphs, ties included).

They exist because on the small batches graph models train on, the tensor
versions are dozens of small operations whose fixed cost dominates, while here
each step is one compiled loop (``python bench/pool_profile.py``); the
sequential rules also need no rounds: the greedy matching walks the pairs once,
the components are a union-find.

Arrays are ``int64`` node indices unless said otherwise; pairs :math:`(i, j)`
have :math:`i < j` and come sorted lexicographically. Indices are validated
by the caller (:func:`pyg_grapheme.nn.input_checks.check_index_range`) before
any kernel reads them: the kernels do not bounds-check.
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

# Compiled once per argument type and cached on disk next to this file.
JIT = {"cache": True, "nogil": True}
# The floating-point loops may reassociate sums (vectorised channel loops; for one or two
# channels the order is fixed anyway); no fused multiply-adds ("contract"), which would
# round differently from the tensor code; NaN and infinity keep their IEEE meaning.
FLOAT_JIT = {"cache": True, "nogil": True, "fastmath": {"reassoc", "nsz"}}

HOST_DTYPES = (torch.float32, torch.float64)


def _numpy(tensor: Tensor) -> Array:
    return tensor.detach().numpy()


def _matmul(a: Array, b: Array) -> Array:
    """``a @ b`` through PyTorch, on the threads ``torch.set_num_threads`` allows."""
    return torch.mm(torch.from_numpy(a), torch.from_numpy(b)).numpy()


@njit(**JIT)
def _counting_order(values: Index, num_values: int, within: Index) -> Index:
    """Stable counting sort of the positions ``within`` by ``values`` in ``[0, num_values)``."""
    start = np.zeros(num_values + 1, np.int64)
    for q in within:
        start[values[q] + 1] += 1
    for v in range(num_values):
        start[v + 1] += start[v]
    order = np.empty(within.size, np.int64)
    for q in within:
        order[start[values[q]]] = q
        start[values[q]] += 1
    return order


@njit(**JIT)
def lexicographic_order(first: Index, second: Index, num_values: int) -> Index:
    """Positions sorted by ``(first, second)``, both in ``[0, num_values)``: two stable
    counting passes (least significant first), linear in the length and the range."""
    by_second = _counting_order(second, num_values, np.arange(first.size))
    return _counting_order(first, num_values, by_second)


@njit(**JIT)
def edge_candidates(edge_index: Index, batch: Index, num_nodes: int) -> tuple[Index, Index]:
    r"""Adjacent node pairs as merge candidates: :func:`pyg_grapheme.nn.pool.select.edge_candidates`.

    Edges whose pairs come sorted and unique already (a chain ``i -> i + 1``)
    skip the sort.

    Args:
        edge_index: :math:`[2, E]`.
        batch: :math:`[N]`, graph of each node.
        num_nodes: :math:`N`.

    Returns:
        * **candidate_index**: :math:`[2, P]`, each adjacent unordered pair of
          distinct nodes of one graph once, as :math:`(i, j)`, :math:`i < j`, sorted.
        * **pair_of_edge**: :math:`[E]`, the pair of each edge, :math:`P` for
          self-loops and edges between graphs.
    """
    num_edges = edge_index.shape[1]
    lo = np.empty(num_edges, np.int64)
    hi = np.empty(num_edges, np.int64)
    valid = np.empty(num_edges, np.bool_)
    ascending = True
    for e in range(num_edges):
        lo[e] = min(edge_index[0, e], edge_index[1, e])
        hi[e] = max(edge_index[0, e], edge_index[1, e])
        valid[e] = lo[e] != hi[e] and batch[lo[e]] == batch[hi[e]]
        if not valid[e]:
            ascending = False
            lo[e] = num_nodes  # self-loops and edges between graphs sort last
        elif e > 0 and (lo[e], hi[e]) <= (lo[e - 1], hi[e - 1]):
            ascending = False
    if ascending:
        candidate_index = np.empty((2, num_edges), np.int64)
        candidate_index[0], candidate_index[1] = lo, hi
        return candidate_index, np.arange(num_edges)
    order = lexicographic_order(lo, hi, num_nodes + 1)
    pair_of_edge = np.empty(num_edges, np.int64)
    pair_lo = np.empty(num_edges, np.int64)
    pair_hi = np.empty(num_edges, np.int64)
    num_pairs = 0
    for e in order:
        if not valid[e]:
            pair_of_edge[e] = -1
            continue
        if num_pairs == 0 or lo[e] != pair_lo[num_pairs - 1] or hi[e] != pair_hi[num_pairs - 1]:
            pair_lo[num_pairs], pair_hi[num_pairs] = lo[e], hi[e]
            num_pairs += 1
        pair_of_edge[e] = num_pairs - 1
    for e in range(num_edges):
        if pair_of_edge[e] < 0:
            pair_of_edge[e] = num_pairs
    candidate_index = np.empty((2, num_pairs), np.int64)
    candidate_index[0], candidate_index[1] = pair_lo[:num_pairs], pair_hi[:num_pairs]
    return candidate_index, pair_of_edge


@njit(**JIT)
def greedy_matching(
    candidate_index: Index, score: NDArray[np.floating], active: Mask, num_nodes: int
) -> Mask:
    r"""Greedy matching of the active pairs by descending score: :func:`pyg_grapheme.nn.pool.select.greedy_matching`.

    The sequential rule itself: walk the active pairs by descending score
    (ties by position, a stable sort) and take a pair when neither end is taken.

    Returns:
        **matched**: ``bool`` :math:`[P]`.
    """
    num_pairs = active.size
    matched = np.zeros(num_pairs, np.bool_)
    eligible = np.flatnonzero(active)
    order = np.argsort(-score[eligible], kind="mergesort")
    taken = np.zeros(num_nodes, np.bool_)
    for q in order:
        p = eligible[q]
        a, b = candidate_index[0, p], candidate_index[1, p]
        if not taken[a] and not taken[b]:
            matched[p] = True
            taken[a] = True
            taken[b] = True
    return matched


@njit(**JIT)
def matching_roots(candidate_index: Index, matched: Mask, num_nodes: int) -> Index:
    """Root of each node under a matching: the smaller end of its matched pair, else itself."""
    root = np.arange(num_nodes)
    for p in range(matched.size):
        if matched[p]:
            root[candidate_index[1, p]] = candidate_index[0, p]
    return root


@njit(**JIT)
def connected_components(candidate_index: Index, active: Mask, num_nodes: int) -> Index:
    r"""Smallest node index of each node's component: :func:`pyg_grapheme.nn.pool.select.connected_components`.

    Union-find that always hangs the larger root under the smaller, so the
    root of a set is its smallest member; paths are halved on the way.
    """
    parent = np.arange(num_nodes)
    for p in range(active.size):
        if not active[p]:
            continue
        a, b = candidate_index[0, p], candidate_index[1, p]
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        if a < b:
            parent[b] = a
        elif b < a:
            parent[a] = b
    for i in range(num_nodes):  # parents have smaller indices: one pass finds every root
        parent[i] = parent[parent[i]]
    return parent


@njit(**JIT)
def number_clusters(root: Index, batch: Index) -> tuple[Index, int]:
    r"""Output node of each input node, by graph then smallest member: :func:`pyg_grapheme.nn.pool.select.number_clusters`.

    Returns:
        * **cluster**: :math:`[N]`.
        * **num_clusters**: :math:`C`.
    """
    num_nodes = root.size
    rank = np.empty(num_nodes, np.int64)
    num_clusters = 0
    batch_sorted = True
    for i in range(num_nodes):
        if i > 0 and batch[i] < batch[i - 1]:
            batch_sorted = False
        if root[i] == i:
            rank[i] = num_clusters
            num_clusters += 1
    if not batch_sorted:
        roots = np.flatnonzero(root == np.arange(num_nodes))
        order = np.argsort(batch[roots], kind="mergesort")
        for c in range(num_clusters):
            rank[roots[order[c]]] = c
    cluster = np.empty(num_nodes, np.int64)
    for i in range(num_nodes):
        cluster[i] = rank[root[i]]
    return cluster, num_clusters


@njit(**FLOAT_JIT)
def _centre_rows(rows: Array, batch: Index, num_graphs: int) -> None:
    """Subtracts from every row the mean row of its graph, in place."""
    num_nodes, channels = rows.shape
    mean = np.zeros((num_graphs, channels), rows.dtype)
    # Counts in the rows' dtype: the division is then the tensor code's (no float64 step).
    count = np.zeros(num_graphs, rows.dtype)
    for i in range(num_nodes):
        g = batch[i]
        count[g] += 1.0
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


@njit(**FLOAT_JIT)
def _scores_forward(
    h: Array,
    batch: Index,
    num_graphs: int,
    centered: bool,
    candidate_index: Index,
    tau: float,
    inv_temperature: float,
) -> tuple[Array, Array, Mask, Array, Array, int]:
    num_nodes, channels = h.shape
    u = h.copy()
    if centered:
        _centre_rows(u, batch, num_graphs)
    norm = np.empty(num_nodes, h.dtype)
    unclamped = np.empty(num_nodes, np.bool_)
    bad_row = -1
    # Sums accumulate in the features' dtype, as the tensor code's do (a literal 0.0 would
    # make them float64 and round differently).
    zero = np.zeros(1, h.dtype)[0]
    for i in range(num_nodes):
        total = zero
        for f in range(channels):
            total += u[i, f] * u[i, f]
        if not np.isfinite(total) and bad_row < 0:
            bad_row = i  # NaN or infinity in the row (or a square that overflows)
        norm[i] = max(np.sqrt(total), EPS)
        unclamped[i] = norm[i] > EPS
    # s = <c_a, c_b> / (|c_a| |c_b|), the formula the tensor code uses, so that exact
    # values (a cosine of +-1 between one-channel features) come out exact on both.
    num_pairs = candidate_index.shape[1]
    similarity = np.empty(num_pairs, h.dtype)
    gate = np.empty(num_pairs, h.dtype)
    for p in range(num_pairs):
        a, b = candidate_index[0, p], candidate_index[1, p]
        total = zero
        for f in range(channels):
            total += u[a, f] * u[b, f]
        similarity[p] = total / (norm[a] * norm[b])
        gate[p] = 1.0 / (1.0 + np.exp(-(similarity[p] - tau) * inv_temperature))
    inv_norm = 1.0 / norm
    for i in range(num_nodes):  # the unit rows, which the backward pass needs
        for f in range(channels):
            u[i, f] *= inv_norm[i]
    return u, inv_norm, unclamped, similarity, gate, bad_row


@njit(**FLOAT_JIT)
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


class NonFiniteRow(ValueError):
    """A row of the scored features holds NaN or infinity (``row``: the first such node)."""

    def __init__(self, row: int) -> None:
        super().__init__(f"non-finite features at node {row}")
        self.row = row


class _PairScores(torch.autograd.Function):
    r"""Similarity :math:`s_p` and gate :math:`g_p` of every candidate pair :math:`p = (a, b)`.

    .. math::
        \mathbf{h} = \mathbf{x}\mathbf{W}^\top, \quad
        \mathbf{c}_i = \mathbf{h}_i - \bar{\mathbf{h}}_{g(i)}, \quad
        \mathbf{u}_i = \mathbf{c}_i\, r_i, \ r_i = 1 / \max(\lVert\mathbf{c}_i\rVert, \epsilon), \quad
        s_p = \langle \mathbf{c}_a, \mathbf{c}_b \rangle\, r_a r_b, \quad
        g_p = \sigma\big((s_p - \sigma(\theta)) / T\big).

    Backward, with :math:`\delta_p = \bar s_p + \bar g_p\, g_p (1 - g_p) / T`:
    :math:`\bar{\mathbf{u}}_a \mathrel{+}= \delta_p \mathbf{u}_b`,
    :math:`\bar{\mathbf{u}}_b \mathrel{+}= \delta_p \mathbf{u}_a`;
    :math:`\bar{\mathbf{c}}_i = r_i(\bar{\mathbf{u}}_i - [\lVert\mathbf{c}_i\rVert > \epsilon]
    \langle \bar{\mathbf{u}}_i, \mathbf{u}_i\rangle \mathbf{u}_i)`;
    :math:`\bar{\mathbf{h}}` is :math:`\bar{\mathbf{c}}` centred per graph;
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
        candidate_index: Index,
        batch: Index,
        num_graphs: int,
        centered: bool,
        temperature: float,
    ) -> tuple[Tensor, Tensor]:
        h = _numpy(x) if weight is None else _matmul(_numpy(x), _numpy(weight).T)
        tau = torch.sigmoid(threshold_logit.detach())
        u, inv_norm, unclamped, similarity, gate, bad_row = _scores_forward(
            h, batch, num_graphs, centered, candidate_index, float(tau), 1.0 / temperature
        )
        if bad_row >= 0:
            raise NonFiniteRow(bad_row)
        ctx.host = (u, inv_norm, unclamped, candidate_index, batch)
        ctx.options = (num_graphs, centered, 1.0 / temperature)
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
        num_graphs, centered, inv_temperature = ctx.options
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
        if ctx.needs_input_grad[1]:
            grad_weight = torch.from_numpy(_matmul(grad_h.T, x_host))  # a view: BLAS transposes
        if ctx.needs_input_grad[2]:  # scalar arithmetic in Python: three tensor ops cost more
            tau_value = float(tau)
            grad_theta = tau.new_tensor(-through_gate * tau_value * (1.0 - tau_value))
        return grad_x, grad_weight, grad_theta, None, None, None, None, None


def pair_scores(
    x: Tensor,
    weight: Tensor | None,
    threshold_logit: Tensor,
    candidate_index: Index,
    batch: Index,
    num_graphs: int,
    centered: bool,
    temperature: float,
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

    Returns:
        * **similarity** (*torch.Tensor*): :math:`[P]`.
        * **gate** (*torch.Tensor*): :math:`[P]`.

    Raises:
        NonFiniteRow: if a row of the (projected, centred) features holds NaN or infinity.
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
    )
