r"""The one Sinkhorn core that :func:`~.sinkhorn.sinkhorn` and :func:`~.fused_gromov.fused_gromov_plan` run.

For a batch of problems with masses :math:`\mathbf{a}` :math:`[B, n]`,
:math:`\mathbf{b}` :math:`[B, m]` and a *scaled* cost
:math:`\hat{\mathbf{C}} = \mathbf{C} / \varepsilon` :math:`[B, n, m]`, the solver
state is a pair of scaled dual potentials :math:`\hat{\mathbf{f}} = \mathbf{f}/\varepsilon`,
:math:`\hat{\mathbf{g}} = \mathbf{g}/\varepsilon`, and

.. math::

    \hat f_i &\leftarrow -\mathrm{LSE}_j\big(\log b_j + \hat g_j - \hat C_{ij}\big), \qquad
    \hat g_j \leftarrow -\mathrm{LSE}_i\big(\log a_i + \hat f_i - \hat C_{ij}\big), \\
    P_{ij} &= \exp\big(\log a_i + \hat f_i + \log b_j + \hat g_j - \hat C_{ij}\big).

:class:`LogSinkhorn` holds the masses of a batch and runs these updates
(:meth:`~LogSinkhorn.iterate`), reads the plan (:meth:`~LogSinkhorn.plan`), and
runs the cheaper *absorbed* step (:meth:`~LogSinkhorn.absorbed_step`): one
log-domain iteration, then scaling iterations on its kernel.

Padding is a zero mass, never an infinite cost (``inf - inf`` is NaN): entries
with :math:`a_i = 0` or :math:`b_j = 0` get a finite :math:`\log 0 := -10^{30}`,
their potentials are reset to 0 and their plan entries are exactly 0.

Exponentials are floored at :math:`\log(\text{tiny}) + 8` nats (-79 in float32,
-700 in float64) below the maximum: ``exp`` of arguments further down produces
subnormal numbers, which CPUs compute about 100x slower, and the floor changes a
log-sum-exp by less than :math:`n e^{-79}` relative.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["LogSinkhorn", "exp_floor", "floored_logsumexp"]

# log(0) for zero masses: finite, so masked rows never produce inf - inf.
LOG_ZERO = -1e30


def exp_floor(dtype: torch.dtype) -> float:
    """Nats below the maximum at which exponentials are floored (keeps ``exp`` out of subnormals)."""
    return math.log(torch.finfo(dtype).tiny) + 8.0


def floored_logsumexp(x: Tensor, dim: int) -> Tensor:
    r""":math:`\log\sum\exp` along ``dim`` with subnormal-free exponentials.

    Same value as :func:`torch.logsumexp` up to a relative ``n * exp(floor)``
    (:func:`exp_floor`); the max shift is a constant to autograd, which leaves the
    gradient (the softmax) exact. ``x`` is overwritten when autograd does not need
    it, so pass a temporary.
    """
    shift = x.detach().amax(dim, keepdim=True)
    z = x.sub_(shift) if not x.requires_grad else x - shift
    z = z.clamp_(min=exp_floor(x.dtype)).exp_()
    return z.sum(dim).log_() + shift.squeeze(dim)


class LogSinkhorn:
    r"""Masses of a batch of OT problems and the log-domain updates on them.

    Args:
        a (Tensor): Row masses :math:`[B, n]`, :math:`\ge 0`; 0 marks padding.
        b (Tensor): Column masses :math:`[B, m]`, :math:`\ge 0`; 0 marks padding.

    Attributes:
        row_mask, col_mask (Tensor): :math:`a > 0` :math:`[B, n]`, :math:`b > 0` :math:`[B, m]`.
        pair_mask (Tensor): Both, :math:`[B, n, m]`.
        log_a, log_b (Tensor): Log-masses, :math:`\log 0 :=` ``LOG_ZERO``.
    """

    def __init__(self, a: Tensor, b: Tensor) -> None:
        self.a, self.b = a, b
        self.row_mask, self.col_mask = a > 0, b > 0
        # The inner where keeps log() off zeros so no NaN gradient leaks into a or b.
        self.log_a = torch.where(self.row_mask, torch.where(self.row_mask, a, 1.0).log(), LOG_ZERO)
        self.log_b = torch.where(self.col_mask, torch.where(self.col_mask, b, 1.0).log(), LOG_ZERO)
        self.pair_mask = self.row_mask[:, :, None] & self.col_mask[:, None, :]

    def zero_potentials(self) -> tuple[Tensor, Tensor]:
        """Scaled potentials :math:`(\\hat{\\mathbf{f}}, \\hat{\\mathbf{g}}) = (0, 0)`."""
        return torch.zeros_like(self.log_a), torch.zeros_like(self.log_b)

    def iterate(self, scaled: Tensor, g_s: Tensor) -> tuple[Tensor, Tensor]:
        r"""One iteration, :math:`\hat{\mathbf{f}}` then :math:`\hat{\mathbf{g}}`; 0 on padding.

        It ends with the column update, so the plan's column sums are exact.
        """
        f_s = -floored_logsumexp((g_s + self.log_b)[:, None, :] - scaled, dim=2)
        f_s = torch.where(self.row_mask, f_s, 0.0)
        g_s = -floored_logsumexp((f_s + self.log_a)[:, :, None] - scaled, dim=1)
        return f_s, torch.where(self.col_mask, g_s, 0.0)

    def plan(self, scaled: Tensor, f_s: Tensor, g_s: Tensor) -> Tensor:
        r""":math:`a_i b_j \exp(\hat f_i + \hat g_j - \hat C_{ij})` :math:`[B, n, m]`, 0 on padding."""
        # Same rounding as the last column update, so float32 columns sum to b.
        log_plan = ((f_s + self.log_a)[:, :, None] - scaled).add_((g_s + self.log_b)[:, None, :])
        plan = log_plan.clamp_(min=exp_floor(scaled.dtype)).exp_()
        return torch.where(self.pair_mask, plan, 0.0)

    def row_error(self, plan: Tensor) -> Tensor:
        r""":math:`\|\mathbf{P}\mathbf{1} - \mathbf{a}\|_1` per problem :math:`[B]` (columns are exact)."""
        return (plan.detach().sum(2) - self.a.detach()).abs().sum(1)

    def absorbed_step(
        self, scaled: Tensor, g_s: Tensor, iters: int
    ) -> tuple[Tensor, Tensor, Tensor]:
        r"""``iters`` iterations on :math:`\hat{\mathbf{C}}` from the warm potential :math:`\hat{\mathbf{g}}`.

        The first is a log-domain iteration, which absorbs any change of cost and
        temperature since the potentials were computed; its plan :math:`\mathbf{K}`
        (floored at :math:`e^{-79}` on real entries, so no real row or column sums
        to 0) is then rescaled by the classical updates
        :math:`\mathbf{u} = \mathbf{a} / \mathbf{K}\mathbf{v}`,
        :math:`\mathbf{v} = \mathbf{b} / \mathbf{K}^\top\mathbf{u}` (two batched
        matrix-vector products instead of two log-sum-exps over :math:`[B, n, m]`,
        about 5x cheaper), and :math:`\log\mathbf{u}, \log\mathbf{v}` are folded back
        into the potentials: Schmitzer's (2019) absorption, once per step.

        Returns:
            ``(plan, f_s, g_s)``.
        """
        f_s, g_s = self.iterate(scaled, g_s)
        kernel = self.plan(scaled, f_s, g_s)
        if iters == 1:
            return kernel, f_s, g_s
        # Padded rows/columns of the kernel are 0: adding 1 to their sums gives
        # u = 0/1 = 0 there (and log(u + 1) = 0) without any inf or NaN.
        row_pad = (~self.row_mask).to(self.a.dtype)
        col_pad = (~self.col_mask).to(self.b.dtype)
        v = torch.ones_like(g_s)
        kernel_t = kernel.transpose(1, 2)
        for _ in range(iters - 1):
            u = self.a / (torch.bmm(v[:, None, :], kernel_t)[:, 0, :] + row_pad)  # a / K v
            v = self.b / (torch.bmm(u[:, None, :], kernel)[:, 0, :] + col_pad)  # b / K^T u
        plan = u[:, :, None] * kernel * v[:, None, :]
        return plan, f_s + (u + row_pad).log(), g_s + (v + col_pad).log()
