r"""A floor on a run's optimizer steps: ``--step_floor.steps N`` lengthens ``max_epochs`` so
that training takes at least ``N`` steps, whatever the size of the training set.

A schedule counted in epochs gives a short training list few updates: ``conf/g2p.yaml``'s
50 epochs are 2,850 steps of 64 pairs on SIGMORPHON 2020's 3,600 training words but 650
on a low-resource list of 800 words (SIGMORPHON 2021's size), where a model is still
learning when its one-cycle schedule has annealed. Lightning's ``min_steps`` does not
help: it only holds off early stopping, and ``max_epochs`` still ends the run.
:class:`StepFloor` raises ``max_epochs`` to

.. math::
    E = v \left\lceil \frac{\lceil N / s \rceil}{v} \right\rceil, \qquad
    s = \left\lceil \frac{B}{a} \right\rceil,

for ``B`` training batches an epoch, ``a`` batches accumulated a step and ``v`` the
validation interval (``check_val_every_n_epoch``), so the last epoch validates. It does so
in the ``setup`` hook, before ``configure_optimizers`` reads
``trainer.estimated_stepping_batches``, so the learning-rate schedule spans the longer run.
A run whose ``max_epochs`` already gives ``N`` steps is not touched (its schedule is the
same, step for step), nor one without an epoch limit (``max_epochs -1``). ``max_steps``
and a CPU budget (:class:`~lightning_modules.cpu_budget.CpuTimeBudget`) still end the run
first where they are the tighter.
"""

from __future__ import annotations

import math

import lightning.pytorch as pl
from lightning.pytorch.utilities import rank_zero_info

__all__ = ["StepFloor"]


class StepFloor(pl.Callback):
    r"""Raise ``max_epochs`` so that the fit trains at least ``steps`` optimizer steps.

    Args:
        steps (int, optional): The floor :math:`N \ge 1`; :obj:`None` (the default) sets
            none.

    Attributes:
        raised_to (int | None): The ``max_epochs`` set, where the floor raised it.
    """

    def __init__(self, steps: int | None = None) -> None:
        super().__init__()
        if steps is not None and (
            isinstance(steps, bool) or not isinstance(steps, int) or steps < 1
        ):
            raise ValueError(f"--step_floor.steps must be a positive whole number, got {steps!r}")
        self.steps = steps
        self.raised_to: int | None = None

    def epochs_needed(self, batches: int, accumulate: int, validation_every: int | None) -> int:
        r"""The epochs :math:`E` of the module docstring for ``batches`` training batches an
        epoch, ``accumulate`` batches a step and validation every ``validation_every``
        epochs (:obj:`None`: no epoch schedule)."""
        if self.steps is None:
            return 0
        per_epoch = math.ceil(batches / max(accumulate, 1))
        epochs = math.ceil(self.steps / per_epoch)
        if isinstance(validation_every, int) and validation_every > 1:
            epochs = validation_every * math.ceil(epochs / validation_every)
        return epochs

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.steps is None or stage != "fit":
            return
        max_epochs = trainer.max_epochs
        if max_epochs is None or max_epochs < 0:
            return
        batches = self._training_batches(trainer, pl_module)
        if batches is None or batches < 1:
            return
        epochs = self.epochs_needed(
            batches, trainer.accumulate_grad_batches, trainer.check_val_every_n_epoch
        )
        if epochs <= max_epochs:
            return
        trainer.fit_loop.max_epochs = epochs
        self.raised_to = epochs
        rank_zero_info(
            f"step_floor: max_epochs {max_epochs} -> {epochs}: {batches} training batches "
            f"an epoch, at least {self.steps} steps"
        )

    @staticmethod
    def _training_batches(trainer: pl.Trainer, pl_module: pl.LightningModule) -> int | None:
        """Training batches an epoch, from a loader made only to be counted (:obj:`None`
        for a loader without a length).

        Not Lightning's ``fit_loop.setup_data()``, which ``estimated_stepping_batches`` calls
        later: the loader it builds is kept for the fit, and built here it would come before
        a resumed run's checkpoint is restored, so the interrupted epoch's batches
        (:mod:`lightning_modules.training_order`) would be lost.
        """
        source = trainer.datamodule if trainer.datamodule is not None else pl_module
        try:
            batches = len(source.train_dataloader())
        except TypeError:  # an iterable-style loader: no length to count
            return None
        limit = trainer.limit_train_batches
        if isinstance(limit, int):
            batches = min(batches, limit)
        elif limit is not None:
            batches = int(batches * limit)
        return batches
