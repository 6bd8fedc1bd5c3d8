r"""Batched entropic fused Gromov-Wasserstein plans with :math:`\varepsilon`-annealing.

The plan that aligns the nodes of two graphs minimises the node cost plus the
edge disagreement (:mod:`.edge_disagreement`) over the transport polytope:

.. math::

    F(\mathbf{T}) = \alpha \langle \mathbf{C}, \mathbf{T} \rangle + \beta E(\mathbf{T}),
    \qquad \mathbf{T} \in U(\mathbf{a}, \mathbf{b}).

:math:`E` is a non-convex quadratic, so the solver is entropic mirror descent
(Peyré, Cuturi and Solomon, ICML 2016) on its linearisation with a decreasing
temperature: starting from the node-only plan
:math:`\mathbf{T}_0 = \mathrm{Sinkhorn}(\alpha\mathbf{C}, \varepsilon_0)`,

.. math::

    \mathbf{M}_k &= \alpha \mathbf{C} + \beta \nabla E(\mathbf{T}_{k-1}), \qquad
    \varepsilon_k = \max(\varepsilon,\; \varepsilon_0 \delta^k), \\
    \mathbf{T}_k &= \mathrm{Sinkhorn}(\mathbf{M}_k, \varepsilon_k), \qquad k = 1 \dots K,

each Sinkhorn warm-started from the previous potentials and run for a few
iterations only: one log-domain iteration, which absorbs the change of cost
and temperature into the potentials, then scaling iterations
:math:`\mathbf{u} = \mathbf{a} / \mathbf{K}\mathbf{v}`,
:math:`\mathbf{v} = \mathbf{b} / \mathbf{K}^\top\mathbf{u}` on the absorbed
kernel (batched mat-vecs, ~5x cheaper than log-sum-exps;
:meth:`~.log_domain.LogSinkhorn.absorbed_step`).
A fixed point is a stationary point of
:math:`F + \varepsilon\,\mathrm{KL}(\cdot \,\|\, \mathbf{a}\mathbf{b}^\top)`. Starting
blurry (:math:`\varepsilon_0` about the cost range) lets the edge term pick
among node-equivalent assignments before the plan sharpens, which avoids most
of the poor local minima that a fixed small :math:`\varepsilon` gets stuck in;
the early-stopped plan is then rounded onto :math:`U(\mathbf{a}, \mathbf{b})`
(:mod:`.rounding`), so its value is the cost of a true transport plan.

**Tie-breaking.** Every step is permutation-equivariant, so when the graphs
have exact symmetries (two same-label leaves of one node, say) the iteration
stays on the symmetric saddle: the plan splits mass 50/50 between the mirror
assignments, and :math:`E` of such a blend exceeds that of either assignment.
For the first :math:`\lceil K/2 \rceil` of the :math:`K + 1` steps a fixed pattern
:math:`\tau (h_{ij} - \tfrac12)`, :math:`h_{ij} = \mathrm{frac}(43758.5453
\sin(12.9898\, i + 78.233\, j)) \in [0, 1)`, is added to the real-node block of
:math:`\mathbf{M}_k`, which tips the iteration into one mirror image; the last
steps use the exact costs. The values of mirror images are equal, so symmetric
pairs still score the same under any node order; only where distinct local
minima are within :math:`\tau` of each other can the node order pick a
different one. ``tie_break=0`` restores exact equivariance.

Gradients: with ``grad="autodiff"`` autograd records every iteration (exact
derivative of the returned plan, memory linear in the iteration count); with
``grad="envelope"`` the plan is a constant and the caller evaluates
:math:`F(\mathbf{T})` with it, whose gradient w.r.t. :math:`\mathbf{C}` and the
adjacencies is the envelope-theorem gradient of the minimum (exact at a
stationary point), with memory independent of the iteration count.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .edge_disagreement import edge_gradient_operator
from .log_domain import LogSinkhorn
from .rounding import round_to_marginals
from .sinkhorn import GradMode

__all__ = ["FusedGromovSolver", "fused_gromov_plan"]


def _tie_pattern(n: int, m: int, like: Tensor) -> Tensor:
    r""":math:`h_{ij} - \tfrac12` on the real block :math:`[n, m]`, 0 on the dummy/padding.

    A closed-form hash of the indices: the same on every device and for every
    amount of padding, so a pair gets the same plan in any batch.
    """
    # float64 on the CPU (not every accelerator has float64), then moved once.
    i = torch.arange(n, dtype=torch.float64)[:, None]
    j = torch.arange(m, dtype=torch.float64)[None, :]
    x = torch.sin(12.9898 * i + 78.233 * j) * 43758.5453
    pattern = torch.zeros(like.shape[1], like.shape[2], dtype=torch.float64)
    pattern[:n, :m] = x - x.floor() - 0.5
    return pattern.to(device=like.device, dtype=like.dtype)


@dataclass(frozen=True)
class FusedGromovSolver:
    r"""The solver's options, validated once, and the solve (module docstring).

    :class:`~.structural.StructuralLoss` builds one at construction and takes its
    defaults from here; :func:`fused_gromov_plan` is the one-call form.

    Args:
        epsilon (float): Final :math:`\varepsilon`, in cost units. (default: :obj:`0.02`)
        epsilon_start (float): :math:`\varepsilon_0`, about the cost range. (default: :obj:`2.0`)
        epsilon_decay (float): :math:`\delta \in (0, 1]`. (default: :obj:`0.7`)
        outer_iter (int): :math:`K`, re-linearisations of :math:`E`. (default: :obj:`15`)
        inner_iter (int): Sinkhorn iterations per step (one log-domain, the rest scaling),
            :math:`K + 1` steps in all. (default: :obj:`5`)
        grad (str): ``"autodiff"`` or ``"envelope"`` (module docstring). (default: :obj:`"envelope"`)
        rounding (bool): Round the final plan onto :math:`U(\mathbf{a}, \mathbf{b})`.
            (default: :obj:`True`)
        tie_break (float): :math:`\tau`, in cost units (module docstring). (default: :obj:`1e-4`)
    """

    epsilon: float = 0.02
    epsilon_start: float = 2.0
    epsilon_decay: float = 0.7
    outer_iter: int = 15
    inner_iter: int = 5
    grad: GradMode = "envelope"
    rounding: bool = True
    tie_break: float = 1e-4

    def __post_init__(self) -> None:
        if self.grad not in ("autodiff", "envelope"):
            raise ValueError(f"grad must be 'autodiff' or 'envelope', got {self.grad!r}")
        if self.epsilon <= 0 or self.epsilon_start <= 0:
            raise ValueError(
                f"epsilon and epsilon_start must be > 0, got {self.epsilon}, {self.epsilon_start}"
            )
        if not 0.0 < self.epsilon_decay <= 1.0:
            raise ValueError(f"epsilon_decay must be in (0, 1], got {self.epsilon_decay}")
        if self.outer_iter < 0 or self.inner_iter < 1:
            raise ValueError(
                f"need outer_iter >= 0 and inner_iter >= 1, got {self.outer_iter}, "
                f"{self.inner_iter}"
            )

    def __call__(
        self,
        cost: Tensor,
        adj_p: Tensor,
        adj_t: Tensor,
        a: Tensor,
        b: Tensor,
        alpha: float = 1.0,
        beta: float = 1.0,
    ) -> Tensor:
        r"""Fused-GW plans :math:`[B, n', m']`.

        Args:
            cost (Tensor): Node costs :math:`\mathbf{C}` :math:`[B, n', m']` (with dummy
                row/column).
            adj_p (Tensor): Predicted adjacency :math:`[B, n, n]`, :math:`n \le n'`.
            adj_t (Tensor): Target adjacency :math:`[B, m, m]`, :math:`m \le m'`.
            a (Tensor): Row masses :math:`[B, n']`; 0 = padding.
            b (Tensor): Column masses :math:`[B, m']`; same totals.
            alpha (float): Weight :math:`\alpha` of the node cost.
            beta (float): Weight :math:`\beta` of the edge disagreement; 0 gives a
                plain :math:`\varepsilon`-scaled Sinkhorn on :math:`\alpha\mathbf{C}`.
        """
        with torch.set_grad_enabled(self.grad == "autodiff" and torch.is_grad_enabled()):
            node = alpha * cost
            tilted = node
            tilted_steps = (self.outer_iter + 1) // 2  # steps 0 .. tilted_steps - 1
            if self.tie_break != 0.0 and tilted_steps > 0:
                tilted = node + self.tie_break * _tie_pattern(adj_p.shape[1], adj_t.shape[1], cost)
            n, m = adj_p.shape[1], adj_t.shape[1]
            use_edges = beta != 0.0 and n > 0 and m > 0
            cross = edge_gradient_operator(adj_p, adj_t) if use_edges else None
            core = LogSinkhorn(a, b)
            _, g_s = core.zero_potentials()
            plan = None
            eps_prev = None
            for k in range(self.outer_iter + 1):
                eps = max(self.epsilon, self.epsilon_start * self.epsilon_decay**k)
                if eps_prev is not None and eps != eps_prev:
                    g_s = g_s * (eps_prev / eps)
                eps_prev = eps
                linear = tilted if k < tilted_steps else node
                if cross is not None and plan is not None:
                    linear = linear.clone()
                    linear[:, :n, :m].add_(cross(plan[:, :n, :m]), alpha=-2.0 * beta)
                plan, _, g_s = core.absorbed_step(linear / eps, g_s, self.inner_iter)
            assert plan is not None  # outer_iter >= 0: at least one step ran
            if self.rounding:
                plan = round_to_marginals(plan, a, b)
        return plan


def fused_gromov_plan(
    cost: Tensor,
    adj_p: Tensor,
    adj_t: Tensor,
    a: Tensor,
    b: Tensor,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    **options: object,
) -> Tensor:
    r"""Fused-GW plans :math:`[B, n', m']`: ``FusedGromovSolver(**options)(cost, ...)``.

    ``options`` are the fields of :class:`FusedGromovSolver` (``epsilon``,
    ``epsilon_start``, ``epsilon_decay``, ``outer_iter``, ``inner_iter``, ``grad``,
    ``rounding``, ``tie_break``); the other arguments are those of its call.
    """
    solver = FusedGromovSolver(**options)  # type: ignore[arg-type]
    return solver(cost, adj_p, adj_t, a, b, alpha, beta)
