"""A CPU-time budget for ``fit``: ``--cpu_budget.seconds S`` ends training before the process
has used ``S`` CPU seconds, and validates the weights it stops with.

Lightning's ``--trainer.max_time`` counts wall-clock time, which other jobs on a shared
machine stretch; a budget such as "at most 15 CPU minutes of training" is about the
process's own work. :class:`CpuTimeBudget` reads the process's CPU time
(:func:`time.process_time`: every thread, from the process's start, so reading the data
and building the model count too) after each training batch and stops where going on
would pass the budget:

- at the end of an epoch, when the next epoch and a validation pass, each at the most
  they have cost so far, would not fit in what is left;
- within an epoch, when one more batch and a validation pass would not (a first epoch
  longer than the whole budget).

Where it stops, it makes that epoch validate (whatever ``check_val_every_n_epoch`` says),
so the checkpoint chosen on validation can be the last weights, and prints one line.

What a validation pass costs is only known once one has run. A run whose first scheduled
validation is several epochs away could be stopped before it (a large training set: a
few epochs fill the budget), and its last validation would then come on top of the
budget. So when an epoch ends before any validation and the epochs up to the first
scheduled one, with one epoch's time spare for the validation itself, would not fit in
what is left, that epoch validates too (the schedule is kept afterwards). Two cases can
still pass the budget, by what their last validation costs beyond the time kept for it:
a validation pass that costs more than one training epoch (a development set far
larger than the training set), and a first epoch longer than the whole budget, which
stops before any validation has run.
A run that ends by its ``max_epochs`` first is not touched. The stop depends on the
machine's speed, as ``max_time``'s does: a run resumed or repeated elsewhere may stop at
another epoch.

The budget also paces the run (``--cpu_budget.pace_schedule``, on by default): the
one-cycle learning-rate schedule (:class:`~lightning_modules.paced_schedule.PacedOneCycleLR`)
and the merge warm-up follow the share of the budget used wherever it is ahead of the share
of ``max_epochs``' steps, so a run the budget stops has annealed its learning rate by then,
instead of stopping mid-schedule (a G2P language stopped at epoch 26 of 50 at about half
the peak rate).
"""

from __future__ import annotations

import math
import time
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.utilities import rank_zero_info

__all__ = ["CpuTimeBudget"]


class CpuTimeBudget(pl.Callback):
    r"""Stop training before the process has used ``seconds`` of CPU time.

    Args:
        seconds (float, optional): The budget in CPU seconds of this process, :math:`> 0`;
            :obj:`None` (the default) sets no budget.
        pace_schedule (bool, optional): Whether the learning-rate schedule and the merge
            warm-up follow the share of the budget used (:meth:`share_used`) where it is
            ahead of the share of steps. (default: :obj:`True`)

    Attributes:
        stopped_epoch (int | None): The epoch the budget ended training in, if it did.
    """

    def __init__(self, seconds: float | None = None, pace_schedule: bool = True) -> None:
        super().__init__()
        if seconds is not None and not (
            isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0
        ):
            raise ValueError(f"--cpu_budget.seconds must be a positive number, got {seconds!r}")
        self.seconds = seconds
        self.pace_schedule = pace_schedule
        self.stopped_epoch: int | None = None
        self._train_start: float | None = None
        self._epoch_start = 0.0
        self._batch_start = 0.0
        self._validation_start = 0.0
        # The most CPU seconds one epoch, one batch and one validation pass have cost.
        self._epoch_cost = 0.0
        self._batch_cost = 0.0
        self._validation_cost = 0.0
        self._validated = False
        # check_val_every_n_epoch to put back after a validation made to learn its cost.
        self._scheduled_every: int | None = None

    def share_used(self) -> float | None:
        r"""The share of the budget's training time used,
        :math:`\min\big((t - t_0) / (S - t_0), 1\big)` for CPU time :math:`t`, budget
        :math:`S` and :math:`t_0` the CPU time when training started (reading the data and
        building the model count against the budget, not as progress of the schedule: a
        fit would otherwise start its schedule a few per cent in, skipping part of the
        learning rate's warm-up); :obj:`None` without a budget or with ``pace_schedule``
        off (nothing then follows it)."""
        if self.seconds is None or not self.pace_schedule:
            return None
        start = self._train_start if self._train_start is not None else 0.0
        left = self.seconds - start
        if left <= 0.0:
            return 1.0
        return min(max(time.process_time() - start, 0.0) / left, 1.0)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._train_start = time.process_time()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = time.process_time()

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._batch_start = time.process_time()

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._validation_start = time.process_time()

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            spent = time.process_time() - self._validation_start
            self._validation_cost = max(self._validation_cost, spent)
            self._validated = True
            if self._scheduled_every is not None and not trainer.should_stop:
                trainer.check_val_every_n_epoch = self._scheduled_every
            self._scheduled_every = None

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self.seconds is None or trainer.should_stop:
            return
        now = time.process_time()
        self._batch_cost = max(self._batch_cost, now - self._batch_start)
        left = self.seconds - now
        if batch_idx + 1 >= trainer.num_training_batches:
            # The epoch's own validation, if it has one, runs after this hook: count it.
            self._epoch_cost = max(self._epoch_cost, now - self._epoch_start)
            going_on = self._epoch_cost + 2 * self._validation_cost
        else:
            going_on = self._batch_cost + self._validation_cost
        if going_on <= left:
            if batch_idx + 1 >= trainer.num_training_batches:
                self._validate_to_learn_its_cost(trainer, left)
            return
        # Stop here; validate these weights so that the checkpoint choice can take them.
        trainer.should_stop = True
        trainer.check_val_every_n_epoch = 1
        self.stopped_epoch = trainer.current_epoch
        rank_zero_info(
            f"cpu_budget: stopping in epoch {trainer.current_epoch} after batch "
            f"{batch_idx + 1} of {trainer.num_training_batches}: {now:.1f} of "
            f"{self.seconds:g} CPU seconds used, going on would need about {going_on:.1f} more"
        )

    def _validate_to_learn_its_cost(self, trainer: pl.Trainer, left: float) -> None:
        """Make the epoch that ends validate when no validation has run and the run might
        be stopped before its first scheduled one (module docstring)."""
        every = trainer.check_val_every_n_epoch
        if self._validated or not isinstance(every, int) or every <= 1:
            return
        done = trainer.current_epoch + 1
        if done % every == 0:
            return  # this epoch validates anyway
        # Epochs up to the first scheduled validation, and one more for the pass itself.
        needed = (every - done % every + 1) * self._epoch_cost
        if needed <= left:
            return
        self._scheduled_every = every
        trainer.check_val_every_n_epoch = 1
        rank_zero_info(
            f"cpu_budget: validating epoch {trainer.current_epoch} to learn what a validation "
            f"costs: the budget's {left:.1f} CPU seconds left may not reach the first scheduled "
            f"one (every {every} epochs)"
        )
