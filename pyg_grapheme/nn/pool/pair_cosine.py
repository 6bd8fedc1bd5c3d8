r"""Cosine similarity of node-feature pairs with sparse kernels (SDDMM forward, SpMM backward)."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

EPS = 1e-12  # norms below this count as EPS: a zero row has similarity 0 with everything


def _csr(crow: Tensor, col: Tensor, values: Tensor, num_nodes: int) -> Tensor:
    with warnings.catch_warnings():  # "sparse CSR support is in beta" (once per process)
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            crow, col, values, (num_nodes, num_nodes), check_invariants=False
        )


class _PairCosine(torch.autograd.Function):
    r""":math:`s_p = \langle h_i, h_j \rangle / (n_i n_j)` with :math:`n = \max(\lVert h \rVert, \epsilon)`,
    :math:`r = 1 / n`.

    Forward: the dot products are a sampled dense-dense product (SDDMM) on the
    pair pattern :math:`U` (CSR, rows = first ends), so no :math:`[P, F]`
    gathers are built or kept for backward. Backward, with
    :math:`a_p = g_p r_i r_j` and :math:`b_i = \sum_{p \ni i} g_p s_p`:

    .. math::
        \nabla h = U_a h + U_a^\top h - (b \odot [\lVert h \rVert > \epsilon]\, r^2) \odot h,

    two CSR SpMMs (the second on :math:`U^\top`, ordered by one sort of the
    pair ends) and one fused multiply-add; no :math:`[P, F]` temporaries.
    """

    @staticmethod
    def forward(ctx, h: Tensor, first: Tensor, second: Tensor) -> Tensor:  # type: ignore[override]
        num_nodes = h.size(0)
        norm = torch.linalg.vector_norm(h, dim=-1)
        clamped = norm.clamp_min(EPS)
        inv_norm = clamped.reciprocal()
        crow = torch.ops.aten._convert_indices_from_coo_to_csr(first, num_nodes)
        pattern = _csr(crow, second, h.new_ones(first.numel()), num_nodes)
        dot = torch.sparse.sampled_addmm(pattern, h, h.t(), beta=0.0).values()
        # dot / (|h_i| |h_j|): the host kernels' formula, exact where the cosine is (+-1
        # between one-channel rows), so both paths order and threshold pairs alike.
        similarity = dot / (clamped.index_select(0, first) * clamped.index_select(0, second))
        ctx.save_for_backward(h, first, second, crow, inv_norm, norm > EPS, similarity)
        return similarity

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, None, None]:  # type: ignore[override]
        if not ctx.needs_input_grad[0]:
            return None, None, None
        h, first, second, crow, inv_norm, unclamped, similarity = ctx.saved_tensors
        num_nodes = h.size(0)
        grad = grad.contiguous()
        grad_dot = grad * inv_norm.index_select(0, first) * inv_norm.index_select(0, second)
        grad_h = _csr(crow, second, grad_dot, num_nodes) @ h
        # U^T as CSR: pairs ordered by their second end (a sort of P indices is cheaper
        # than gathering, scaling and scattering [P, F] rows).
        order = torch.sort(second, stable=True)[1]
        crow_t = torch.ops.aten._convert_indices_from_coo_to_csr(
            second.index_select(0, order), num_nodes
        )
        transposed = _csr(crow_t, first.index_select(0, order), grad_dot[order], num_nodes)
        grad_h.add_(transposed @ h)
        # Through the norms: d r_i / d h_i = -r_i^3 h_i where the norm is not clamped.
        weighted = grad * similarity
        through_norm = torch.zeros_like(inv_norm).index_add_(0, first, weighted)
        through_norm.index_add_(0, second, weighted)
        scale = through_norm * inv_norm * inv_norm * unclamped.to(h.dtype)
        grad_h.addcmul_(h, scale.unsqueeze(-1), value=-1.0)
        return grad_h, None, None


def pair_cosine(h: Tensor, candidate_index: Tensor) -> Tensor:
    r"""Cosine similarity :math:`\langle h_i, h_j \rangle / (\lVert h_i \rVert \lVert h_j \rVert)`
    of each pair :math:`(i, j)`; norms below ``1e-12`` are clamped to it.

    Args:
        h (torch.Tensor): Node features :math:`[N, F]`.
        candidate_index (torch.Tensor): Pairs :math:`[2, P]`, sorted by the first row
            (as produced by :func:`~pyg_grapheme.nn.pool.select.edge_candidates`,
            whose padding repeats the last node).

    Returns:
        **similarity** (*torch.Tensor*): :math:`[P]`, differentiable w.r.t. ``h``.
    """
    first, second = candidate_index[0].contiguous(), candidate_index[1].contiguous()
    if first.numel() == 0 or h.dtype not in (torch.float32, torch.float64):
        return pair_cosine_reference(h, candidate_index)  # sparse kernels: float32/64 only
    return _PairCosine.apply(h.contiguous(), first, second)


def pair_cosine_reference(h: Tensor, candidate_index: Tensor, eps: float = EPS) -> Tensor:
    """The same similarity with dense gathers and plain autograd (TorchScript-compatible)."""
    first, second = candidate_index[0], candidate_index[1]
    norm = torch.linalg.vector_norm(h, dim=-1).clamp_min(eps)
    dot = (h.index_select(0, first) * h.index_select(0, second)).sum(dim=-1)
    return dot / (norm.index_select(0, first) * norm.index_select(0, second))
