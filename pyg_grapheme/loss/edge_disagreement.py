r"""Edge disagreement of two directed graphs under a soft node assignment.

For adjacency matrices :math:`\mathbf{A}` :math:`[n, n]` (predicted, soft
weights allowed) and :math:`\mathbf{B}` :math:`[m, m]` (target), and a plan
:math:`\mathbf{T}` between their nodes, the Gromov-Wasserstein energy with the
square loss counts, for a permutation plan, the directed node pairs whose edge
differs, i.e. the edge insertions and deletions of graph edit distance:

.. math::

    E(\mathbf{T}) = \sum_{i,j,k,l} (A_{ij} - B_{kl})^2\, T_{ik} T_{jl}
      = \mathbf{r}^\top \mathbf{A}^{\circ 2} \mathbf{r}
      + \mathbf{c}^\top \mathbf{B}^{\circ 2} \mathbf{c}
      - 2 \langle \mathbf{A} \mathbf{T} \mathbf{B}^\top, \mathbf{T} \rangle,

with :math:`\mathbf{r} = \mathbf{T}\mathbf{1}`, :math:`\mathbf{c} =
\mathbf{T}^\top\mathbf{1}` the plan's own marginals (the ``constC - h1(C1) T
h2(C2)^T`` factorisation of Peyré et al., 2016, with marginals recomputed, so
the identity holds for any :math:`\mathbf{T}` and no 4-D tensor is formed:
:math:`O(n^2 m + n m^2)`). Rows/columns of :math:`\mathbf{T}` beyond
:math:`n`/:math:`m` (the insertion/deletion dummy) have no edges: edges of a
deleted node count as deleted, those of an inserted node as inserted.

Its gradient, used to linearise :math:`E` inside the fused solver, is

.. math::

    \nabla E(\mathbf{T}) = \big((\mathbf{A}^{\circ 2} + \mathbf{A}^{\circ 2\top})\mathbf{r}\big)\mathbf{1}^\top
      + \mathbf{1}\big((\mathbf{B}^{\circ 2} + \mathbf{B}^{\circ 2\top})\mathbf{c}\big)^\top
      - 2 (\mathbf{A}\mathbf{T}\mathbf{B}^\top + \mathbf{A}^\top\mathbf{T}\mathbf{B}).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["edge_disagreement", "edge_gradient_operator"]


def _split(adj_p: Tensor, adj_t: Tensor, plan: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    n, m = adj_p.shape[1], adj_t.shape[1]
    if plan.shape[1] < n or plan.shape[2] < m:
        raise ValueError(f"plan {tuple(plan.shape)} is smaller than the graphs [B, {n}, {m}]")
    row_mass = plan[:, :n, :].sum(2)
    col_mass = plan[:, :, :m].sum(1)
    return plan[:, :n, :m], row_mass, col_mass


def edge_disagreement(adj_p: Tensor, adj_t: Tensor, plan: Tensor) -> Tensor:
    r""":math:`E(\mathbf{T})` per problem, :math:`[B]`.

    Args:
        adj_p (Tensor): Predicted adjacency :math:`[B, n, n]`, :math:`A_{ij}` for :math:`i \to j`.
        adj_t (Tensor): Target adjacency :math:`[B, m, m]`.
        plan (Tensor): :math:`[B, n', m']` with :math:`n' \ge n`, :math:`m' \ge m`;
            the extra rows/columns (dummy, padding) are edge-less nodes.
    """
    real, row_mass, col_mass = _split(adj_p, adj_t, plan)
    own_p = torch.einsum("bi,bij,bj->b", row_mass, adj_p * adj_p, row_mass)
    own_t = torch.einsum("bk,bkl,bl->b", col_mass, adj_t * adj_t, col_mass)
    cross = torch.bmm(torch.bmm(adj_p, real), adj_t.transpose(1, 2))
    return own_p + own_t - 2.0 * (cross * real).sum((1, 2))


def edge_gradient_operator(adj_p: Tensor, adj_t: Tensor) -> Callable[[Tensor], Tensor]:
    r"""Returns :math:`\mathbf{T} \mapsto \mathbf{A}\mathbf{T}\mathbf{B}^\top + \mathbf{A}^\top\mathbf{T}\mathbf{B}`
    for real blocks :math:`\mathbf{T}` :math:`[B, n, m]`, in three batched products.

    :math:`[\mathbf{A}; \mathbf{A}^\top]` :math:`[B, 2n, n]` is stacked once, so
    :math:`\mathbf{A}\mathbf{T}` and :math:`\mathbf{A}^\top\mathbf{T}` come from one
    product (used once per fused-GW step).
    """
    n = adj_p.shape[1]
    stacked_p = torch.cat([adj_p, adj_p.transpose(1, 2)], 1)
    adj_t_transposed = adj_t.transpose(1, 2)

    def apply(real: Tensor) -> Tensor:
        both = torch.bmm(stacked_p, real)  # [B, 2n, m]: A T over A^T T
        return torch.baddbmm(torch.bmm(both[:, :n], adj_t_transposed), both[:, n:], adj_t)

    return apply
