r"""Cosine similarity of node-feature pairs, with a backward pass that keeps no :math:`[P, F]`
tensor."""

from __future__ import annotations

import torch
from torch import Tensor

EPS = 1e-12  # norms below this count as EPS: a zero row has similarity 0 with everything


class _PairCosine(torch.autograd.Function):
    r""":math:`s_p = \langle h_i, h_j \rangle / (n_i n_j)` with
    :math:`n = \max(\lVert h \rVert, \epsilon)`, :math:`r = 1 / n`, for each pair
    :math:`p = (i, j)`.

    Forward gathers both ends' rows once to take the dot products and keeps only
    :math:`\mathbf{h}`, the norms and :math:`s` for backward (autograd through the gathers
    would keep two :math:`[P, F]` tensors). Backward, with :math:`a_p = \bar s_p r_i r_j`
    and :math:`b_i = \sum_{p \ni i} \bar s_p s_p`:

    .. math::
        \nabla \mathbf{h}_i = \sum_{p = (i, j)} a_p \mathbf{h}_j
            + \sum_{p = (j, i)} a_p \mathbf{h}_j
            - b_i [\lVert \mathbf{h}_i \rVert > \epsilon]\, r_i^2\, \mathbf{h}_i,

    two gathers and two ``index_add`` of the scaled rows.
    """

    @staticmethod
    def forward(ctx, h: Tensor, first: Tensor, second: Tensor, norm: Tensor) -> Tensor:  # type: ignore[override]
        clamped = norm.clamp_min(EPS)
        dot = (h.index_select(0, first) * h.index_select(0, second)).sum(-1)
        # dot / (|h_i| |h_j|): the host kernels' formula, exact where the cosine is (+-1
        # between one-channel rows), so every path orders and thresholds pairs alike.
        similarity = dot / (clamped.index_select(0, first) * clamped.index_select(0, second))
        ctx.save_for_backward(h, first, second, clamped.reciprocal(), norm > EPS, similarity)
        return similarity

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, None, None, None]:  # type: ignore[override]
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        h, first, second, inv_norm, unclamped, similarity = ctx.saved_tensors
        scale = grad * inv_norm.index_select(0, first) * inv_norm.index_select(0, second)
        scale = scale.unsqueeze(-1)
        grad_h = torch.zeros_like(h).index_add_(0, first, scale * h.index_select(0, second))
        grad_h.index_add_(0, second, scale * h.index_select(0, first))
        # Through the norms: d r_i / d h_i = -r_i^3 h_i where the norm is not clamped.
        weighted = grad * similarity
        through_norm = torch.zeros_like(inv_norm).index_add_(0, first, weighted)
        through_norm.index_add_(0, second, weighted)
        radial = through_norm * inv_norm * inv_norm * unclamped.to(h.dtype)
        grad_h.addcmul_(h, radial.unsqueeze(-1), value=-1.0)
        return grad_h, None, None, None


def row_norms(h: Tensor) -> Tensor:
    r""":math:`\lVert \mathbf{h}_i \rVert = \sqrt{\sum_f h_{if}^2}` :math:`[N]`, as the host
    kernel computes it (exact for one channel; ``inf`` where the squares overflow).

    The root is taken in float64 and rounded once: torch's float32 ``sqrt`` on the CPU is
    not always correctly rounded, and a unit in the last place here would order tied
    pairs differently from the host kernels and CUDA."""
    squares = (h * h).sum(-1)
    return squares.double().sqrt().to(h.dtype)


def pair_cosine(h: Tensor, candidate_index: Tensor, norm: Tensor | None = None) -> Tensor:
    r"""Cosine similarity :math:`\langle h_i, h_j \rangle / (\lVert h_i \rVert \lVert h_j \rVert)`
    of each pair :math:`(i, j)`; norms below ``1e-12`` are clamped to it.

    Args:
        h (torch.Tensor): Node features :math:`[N, F]`.
        candidate_index (torch.Tensor): Pairs :math:`[2, P]`.
        norm (torch.Tensor, optional): :func:`row_norms` of ``h`` if already computed.

    Returns:
        **similarity** (*torch.Tensor*): :math:`[P]`, differentiable w.r.t. ``h``.
    """
    first, second = candidate_index[0].contiguous(), candidate_index[1].contiguous()
    norm = row_norms(h.detach()) if norm is None else norm.detach()
    return _PairCosine.apply(h.contiguous(), first, second, norm)


def pair_cosine_reference(h: Tensor, candidate_index: Tensor, eps: float = EPS) -> Tensor:
    """The same similarity with plain autograd through the gathers (TorchScript-compatible)."""
    first, second = candidate_index[0], candidate_index[1]
    # Clamp the squares, not the root: the root's gradient at 0 is infinite.
    norm = (h * h).sum(-1).clamp_min(eps * eps).sqrt()
    dot = (h.index_select(0, first) * h.index_select(0, second)).sum(dim=-1)
    return dot / (norm.index_select(0, first) * norm.index_select(0, second))
