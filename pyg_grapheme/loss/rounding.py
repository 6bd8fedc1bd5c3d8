r"""Rounding an approximate plan onto the transport polytope.

A Sinkhorn plan stopped early has exact column sums but row sums
:math:`\mathbf{r} \ne \mathbf{a}`, so :math:`\langle \mathbf{C}, \mathbf{P} \rangle`
is not the cost of any transport: mass is missing or doubled. Altschuler, Weed
and Rigollet (NeurIPS 2017, Algorithm 2) fix that in :math:`O(nm)`:

.. math::

    \mathbf{P}' &= \mathrm{diag}(\min(1, \mathbf{a} / \mathbf{P}\mathbf{1}))\, \mathbf{P}, \qquad
    \mathbf{P}'' = \mathbf{P}'\, \mathrm{diag}(\min(1, \mathbf{b} / \mathbf{P}'^\top\mathbf{1})), \\
    \mathbf{P}''' &= \mathbf{P}'' + \mathbf{e}_r \mathbf{e}_c^\top / \|\mathbf{e}_r\|_1,
    \qquad \mathbf{e}_r = \mathbf{a} - \mathbf{P}''\mathbf{1},\;
    \mathbf{e}_c = \mathbf{b} - \mathbf{P}''^\top\mathbf{1},

after which :math:`\mathbf{P}'''` has marginals exactly :math:`\mathbf{a}, \mathbf{b}` and
:math:`\|\mathbf{P}''' - \mathbf{P}\|_1 \le 2(\|\mathbf{r} - \mathbf{a}\|_1 + \|\mathbf{c} - \mathbf{b}\|_1)`.
A converged plan is returned unchanged. The map is piecewise smooth (the
minima), so autograd differentiates it exactly away from the measure-zero
kinks.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["round_to_marginals"]


def _ratio_capped(mass: Tensor, current: Tensor) -> Tensor:
    # min(1, mass / current), with 0/0 := 0 and x/0 := 1; no inf ever reaches autograd.
    safe = torch.where(current > 0, current, 1.0)
    return torch.where(current > 0, (mass / safe).clamp(max=1.0), (mass > 0).to(mass.dtype))


def round_to_marginals(plan: Tensor, a: Tensor, b: Tensor) -> Tensor:
    r"""Project ``plan`` :math:`[B, n, m]` onto :math:`U(\mathbf{a}, \mathbf{b})` (module docstring).

    Args:
        plan (Tensor): Non-negative plans :math:`[B, n, m]`.
        a (Tensor): Row masses :math:`[B, n]`.
        b (Tensor): Column masses :math:`[B, m]`, same totals as ``a``.

    Returns:
        Tensor: :math:`[B, n, m]` with row sums ``a`` and column sums ``b``.
    """
    plan = plan * _ratio_capped(a, plan.sum(2))[:, :, None]
    plan = plan * _ratio_capped(b, plan.sum(1))[:, None, :]
    row_err = (a - plan.sum(2)).clamp(min=0.0)
    col_err = (b - plan.sum(1)).clamp(min=0.0)
    total = row_err.sum(1)
    scale = torch.where(total > 0, 1.0 / torch.where(total > 0, total, 1.0), 0.0)
    return plan + row_err[:, :, None] * col_err[:, None, :] * scale[:, None, None]
