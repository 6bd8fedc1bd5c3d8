r"""The pairwise straight-through estimator: how a hard merge threshold learns.

A hard merge is piecewise constant in the threshold :math:`\tau`: moving
:math:`\tau` a little changes nothing until a pair crosses it, so the loss has
no gradient w.r.t. the merge *pattern*. Expand the loss to first order in the
merge indicators :math:`m_{ij} \in \{0, 1\}` of the candidate pairs,

.. math::
    L(m) \approx L_0 + \sum_{ij} m_{ij}\,\Delta_{ij},

where :math:`\Delta_{ij}` is the change of the loss when pair :math:`(i, j)`
merges, and replace each :math:`m_{ij}` by its soft gate
:math:`g_{ij} = \sigma((s_{ij} - \tau)/T)` in the backward pass only:

.. math::
    L_{\mathrm{st}} = L + \sum g_{ij}\Delta_{ij} - \mathrm{sg}\Big(\sum g_{ij}\Delta_{ij}\Big),
    \qquad
    \frac{\partial L_{\mathrm{st}}}{\partial \tau}
        = -\frac{1}{T}\sum g_{ij}(1 - g_{ij})\,\Delta_{ij},

(:math:`\mathrm{sg}` stops the gradient). The forward value is the exact hard
loss. A pair pulls :math:`\tau` below its similarity when merging it helps
(:math:`\Delta_{ij} < 0`) and above it otherwise, weighted by its closeness to
the boundary; the similarities :math:`s_{ij}` (and whatever computes them)
get the matching gradient :math:`\frac{1}{T} g_{ij}(1 - g_{ij})\Delta_{ij}`.

It is the exact gradient of the expected loss under independent
Bernoulli(:math:`g_{ij}`) merges when the loss is additive over pairs (as
counts of output nodes are on a forest of candidates: :math:`N - \sum m_{ij}`).
Binary cross-entropy of the gates against desired merges is the same
estimator with :math:`\Delta` given by labels. Score-function (REINFORCE)
estimates need no additivity but have high variance; Gumbel relaxations change
the forward graph.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["pairwise_straight_through"]


def pairwise_straight_through(loss: Tensor, gate: Tensor, delta: Tensor) -> Tensor:
    r"""``loss`` with the pairwise straight-through term (module docstring).

    Args:
        loss (torch.Tensor): The hard loss :math:`L`, a scalar computed on the
            pooled graph (its value is returned unchanged).
        gate (torch.Tensor): Soft gates :math:`g_{ij}` :math:`[P]` of the scored
            pairs, ``info.gate`` of :class:`~pyg_grapheme.nn.ThresholdMergePool`.
        delta (torch.Tensor): :math:`\Delta_{ij}` :math:`[P]`, the change of the
            loss when pair :math:`(i, j)` merges (treated as a constant).

    Returns:
        torch.Tensor: :math:`L_{\mathrm{st}}`, a scalar equal to ``loss`` whose
        gradient adds :math:`\sum_{ij} \Delta_{ij}\,\partial g_{ij}`.

    Example:
        >>> x_out, edge_index_out, batch_out, info = pool(x, edge_index, batch)
        >>> loss = task_loss(x_out) + price * info.num_clusters   # hard, exact
        >>> row, col = info.candidate_index
        >>> delta = (x[row] - x[col]).pow(2).sum(1) / 2 - price   # merging (i, j) changes L by this
        >>> pairwise_straight_through(loss, info.gate, delta).backward()
    """
    if gate.shape != delta.shape:
        raise ValueError(
            f"pairwise_straight_through: gate {tuple(gate.shape)} and delta "
            f"{tuple(delta.shape)} must have the same shape (one entry per scored pair)"
        )
    surrogate = (gate * delta.detach()).sum()
    return loss + surrogate - surrogate.detach()
