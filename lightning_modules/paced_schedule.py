"""A one-cycle learning-rate schedule that a budget can move ahead of the step count.

``OneCycleLR`` counts steps: its warm-up, peak and cosine decay are spread over
``trainer.max_epochs``. A run that a CPU budget (:class:`~lightning_modules.cpu_budget.
CpuTimeBudget`) stops at epoch 26 of 50 stops with the learning rate still at about half
its peak, never annealed. :class:`PacedOneCycleLR` takes a *pace*, a function that returns
the share of the run done by another measure (the share of the CPU budget used), and
follows whichever of that share and the share of steps is further along, so a budgeted
run ends at the end of its schedule, as the seq2seq peer's does
(``bench/seq2seq_baseline.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["PacedOneCycleLR"]


class PacedOneCycleLR(torch.optim.lr_scheduler.OneCycleLR):
    r"""``torch.optim.lr_scheduler.OneCycleLR`` whose step count never lags a pace.

    At each :meth:`step` the schedule's step number becomes

    .. math::
        s_{t} = \min\bigl(\max(s_{t-1} + 1,\ \lfloor p \cdot T \rfloor),\ T - 1\bigr),

    with :math:`T` the ``total_steps`` and :math:`p \in [0, 1]` the pace's share, so the
    learning rate (and the momentum, with ``cycle_momentum``) is OneCycleLR's at the
    further-along of the two measures. It stops at the schedule's final rate, step
    :math:`T - 1` (OneCycleLR extrapolates past it, its cosine turning back up, and
    raises after :math:`T`), so steps after it keep that rate. Without a pace, or with
    one that returns :obj:`None`, it is OneCycleLR step for step up to :math:`T - 1`.

    Args:
        optimizer: the optimizer, as for OneCycleLR.
        pace: returns the share of the run done (clipped to :math:`[0, 1]`), or
            :obj:`None` when it has no opinion; called once a step.
        **kwargs: OneCycleLR's arguments (``max_lr``, ``total_steps``, ``pct_start``, ...).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        pace: Callable[[], float | None] | None = None,
        **kwargs: Any,
    ) -> None:
        # Set before OneCycleLR's constructor, which takes the first step.
        self._pace = pace
        super().__init__(optimizer, **kwargs)

    def step(self, epoch: int | None = None) -> None:
        share = self._pace() if self._pace is not None else None
        if share is not None and math.isfinite(share):
            paced = math.floor(min(max(share, 0.0), 1.0) * self.total_steps)
            # The base class adds one to ``last_epoch`` before it computes the rate.
            self.last_epoch = max(self.last_epoch, paced - 1)
        # OneCycleLR reaches its final rate at step T - 1 and extrapolates past it (the
        # cosine turns back up); Lightning's last step, after the last batch, asks for T.
        self.last_epoch = min(self.last_epoch, self.total_steps - 2)
        super().step(epoch)

    def state_dict(self) -> dict[str, Any]:
        """OneCycleLR's state without the pace (a function of this process, which a
        checkpoint must not pickle)."""
        state = super().state_dict()
        state.pop("_pace", None)
        return state
