r"""Node substitution, insertion and deletion costs for graph matching by OT.

Between node :math:`i` of a predicted graph and node :math:`j` of a target graph,

.. math::

    C_{ij} = w_t \big(1 - \langle \mathbf{p}_i, \mathbf{q}_j \rangle\big)
           + w_a \,\mathrm{sabs}(a_i - a'_j)
           + w_d \,\frac{\mathrm{sabs}(d_i - d'_j)}{\max(d_i, d'_j, 1)},

with type distributions :math:`\mathbf{p}, \mathbf{q}` (predicted probabilities
or one-hot classes, so the prediction enters the cost), activations
:math:`a, a'` (term dropped when the graphs carry none), total degrees
:math:`d_i = \sum_j A_{ij} + A_{ji}` (soft when edges are weighted) and
:math:`\mathrm{sabs}` the smooth absolute value (:mod:`.smooth_abs`).

Unequal node counts follow the GED-via-OT construction (Riesen and Bunke's
bipartite GED with the :math:`m` insertion and :math:`n` deletion nodes
merged): the cost gets one dummy row and column,

.. math::

    \tilde{\mathbf{C}} = \begin{pmatrix} \mathbf{C} & c_{del}\mathbf{1} \\
                                         c_{ins}\mathbf{1}^\top & 0 \end{pmatrix},
    \qquad
    \tilde{\mathbf{a}} = (\mathbf{1}_n, m), \quad \tilde{\mathbf{b}} = (\mathbf{1}_m, n),

so every node carries unit mass, a node sent to the dummy is deleted
(inserted, for target nodes fed by it) at cost :math:`c_{del} = c_{ins}` =
``dummy_cost``, and both sides total :math:`n + m`. For a permutation-like plan
the transport cost counts substitutions and :math:`|n - m|` or more
insertions/deletions, as graph edit distance does.

**Presence.** A predicted node may exist only with probability :math:`p_i`
(a grown node whose count is uncertain, :class:`~pyg_grapheme.nn.NodeSplit`).
For a fixed alignment the expected cost, with node :math:`i` present
independently with probability :math:`p_i`, replaces the real rows by

.. math::

    \tilde C_{ij} = p_i\,C_{ij} + (1 - p_i)\,c_{ins}, \qquad
    \tilde C_{i,\mathrm{dummy}} = p_i\,c_{del}:

matching :math:`i` to target node :math:`j` costs the substitution when
:math:`i` exists and the insertion of :math:`j` when it does not; deleting
:math:`i` costs only when it exists. With :math:`p = 1` this is the cost above;
with :math:`p_i = 0` node :math:`i` costs exactly what its absence costs. The
gradient :math:`\partial/\partial p_i` is :math:`C_{ij} - c_{ins}` for a
matched node (negative when the match is good: it asks for the node) and
:math:`c_{del} > 0` for a deleted one (it asks to drop the node).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .dense_graph import DenseGraphs
from .smooth_abs import smooth_abs

__all__ = ["NodeCost", "augment_with_dummy", "node_cost"]


@dataclass(frozen=True)
class NodeCost:
    r"""The node cost's weights, validated once; the one source of their defaults.

    With these defaults a relabel and an insertion or deletion each cost 1, as in
    graph edit distance (:class:`~.structural.StructuralLoss`).

    Args:
        type_weight (float): :math:`w_t`. (default: :obj:`1.0`)
        act_weight (float): :math:`w_a`, used when both sides have ``act``. (default: :obj:`0.7`)
        degree_weight (float): :math:`w_d`. (default: :obj:`0.1`)
        dummy_cost (float): :math:`c_{del} = c_{ins}`. (default: :obj:`1.0`)
        smoothing (float): :math:`\delta` of :math:`\mathrm{sabs}`. (default: :obj:`1e-3`)
    """

    type_weight: float = 1.0
    act_weight: float = 0.7
    degree_weight: float = 0.1
    dummy_cost: float = 1.0
    smoothing: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("type_weight", "act_weight", "degree_weight", "dummy_cost"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.smoothing <= 0:
            raise ValueError(f"smoothing must be > 0, got {self.smoothing}")

    def __call__(self, pred: DenseGraphs, target: DenseGraphs) -> tuple[Tensor, Tensor, Tensor]:
        """``(cost [B, n+1, m+1], a [B, n+1], b [B, m+1])``: substitution costs with the
        dummy appended (:func:`node_cost`, then :func:`augment_with_dummy` with
        ``pred.presence``)."""
        cost = _substitution(
            pred, target, self.type_weight, self.act_weight, self.degree_weight, self.smoothing
        )
        return _augment(cost, pred.mask, target.mask, self.dummy_cost, pred.presence)


def _type_similarity(pred: DenseGraphs, target: DenseGraphs) -> Tensor:
    r""":math:`\langle \mathbf{p}_i, \mathbf{q}_j \rangle`, :math:`[B, n, m]`.

    A gather when one side is given as class indices (no :math:`C` factor),
    a batched matrix product otherwise.
    """
    B, n, _ = pred.type.shape
    m = target.type.shape[1]
    if target.index is not None:
        index = target.index[:, None, :].expand(B, n, m)
        return pred.type.gather(2, index)
    if pred.index is not None:
        index = pred.index[:, None, :].expand(B, m, n)
        return target.type.gather(2, index).transpose(1, 2)
    return torch.bmm(pred.type, target.type.transpose(1, 2))


def node_cost(
    pred: DenseGraphs,
    target: DenseGraphs,
    type_weight: float = NodeCost.type_weight,
    act_weight: float = NodeCost.act_weight,
    degree_weight: float = NodeCost.degree_weight,
    smoothing: float = NodeCost.smoothing,
) -> Tensor:
    r"""Substitution costs :math:`\mathbf{C}` :math:`[B, n, m]` (formula in the module docstring).

    Padded entries hold finite values; they carry zero mass in the OT problem.

    Args:
        pred (DenseGraphs): Predicted graphs, :math:`n` padded nodes.
        target (DenseGraphs): Target graphs, :math:`m` padded nodes.
        type_weight (float): :math:`w_t`. (default: :obj:`1.0`)
        act_weight (float): :math:`w_a`, used when both sides have ``act``. (default: :obj:`0.7`)
        degree_weight (float): :math:`w_d`. (default: :obj:`0.1`)
        smoothing (float): :math:`\delta` of :math:`\mathrm{sabs}`. (default: :obj:`1e-3`)
    """
    NodeCost(type_weight, act_weight, degree_weight, NodeCost.dummy_cost, smoothing)  # validates
    return _substitution(pred, target, type_weight, act_weight, degree_weight, smoothing)


def _substitution(
    pred: DenseGraphs,
    target: DenseGraphs,
    type_weight: float,
    act_weight: float,
    degree_weight: float,
    smoothing: float,
) -> Tensor:
    if (pred.act is None) != (target.act is None):
        side = "pred" if pred.act is None else "target"
        raise ValueError(f"{side}.act is missing while the other side has it; give both or neither")
    cost = type_weight * (1.0 - _type_similarity(pred, target))
    if pred.act is not None and target.act is not None and act_weight != 0.0:
        diff = pred.act[:, :, None] - target.act[:, None, :]
        cost = cost + act_weight * smooth_abs(diff, smoothing)
    if degree_weight != 0.0:
        deg_p = pred.adj.sum(2) + pred.adj.sum(1)
        deg_t = target.adj.sum(2) + target.adj.sum(1)
        diff = deg_p[:, :, None] - deg_t[:, None, :]
        scale = torch.maximum(deg_p[:, :, None], deg_t[:, None, :]).clamp(min=1.0)
        cost = cost + degree_weight * smooth_abs(diff, smoothing) / scale
    return cost


def augment_with_dummy(
    cost: Tensor,
    pred_mask: Tensor,
    target_mask: Tensor,
    dummy_cost: float = NodeCost.dummy_cost,
    presence: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Append the insertion/deletion dummy: :math:`[B, n, m] \to [B, n+1, m+1]`.

    Args:
        cost (Tensor): Substitution costs :math:`[B, n, m]`.
        pred_mask (Tensor): Real predicted nodes :math:`[B, n]` (bool).
        target_mask (Tensor): Real target nodes :math:`[B, m]` (bool).
        dummy_cost (float): :math:`c_{del} = c_{ins}`. (default: :obj:`1.0`)
        presence (Tensor, optional): :math:`p_i` of the predicted nodes :math:`[B, n]`;
            the real rows become expected costs (module docstring). (default: :obj:`None`)

    Returns:
        ``(cost [B, n+1, m+1], a [B, n+1], b [B, m+1])``: the dummy is the last
        row/column, with mass :math:`m_b` (row) and :math:`n_b` (column); real
        nodes have mass 1, padding 0.
    """
    NodeCost(dummy_cost=dummy_cost)  # validates
    return _augment(cost, pred_mask, target_mask, dummy_cost, presence)


def _augment(
    cost: Tensor,
    pred_mask: Tensor,
    target_mask: Tensor,
    dummy_cost: float,
    presence: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    B, n, m = cost.shape
    delete = cost.new_full((B, n, 1), dummy_cost)
    if presence is not None:
        p = presence[:, :, None]
        cost = p * cost + (1.0 - p) * dummy_cost
        delete = p * dummy_cost
    insert = cost.new_full((B, 1, m), dummy_cost)
    corner = cost.new_zeros(B, 1, 1)
    full = torch.cat([torch.cat([cost, delete], 2), torch.cat([insert, corner], 2)], 1)
    a_real = pred_mask.to(cost.dtype)
    b_real = target_mask.to(cost.dtype)
    a = torch.cat([a_real, b_real.sum(1, keepdim=True)], 1)
    b = torch.cat([b_real, a_real.sum(1, keepdim=True)], 1)
    return full, a, b
