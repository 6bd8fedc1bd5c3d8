r"""An exponential moving average of the weights: ``--weight_average.decay D`` validates,
checkpoints and ends the fit with the average rather than the last step's weights.

Lightning's :class:`~lightning.pytorch.callbacks.WeightAveraging` keeps the average (a
:class:`torch.optim.swa_utils.AveragedModel`) and swaps it in for validation and into the
saved ``state_dict``. :class:`ExponentialWeightAverage` gives it the average

.. math::
    \bar\theta_0 = \theta_0, \qquad
    \bar\theta_n = d_n\,\bar\theta_{n-1} + (1 - d_n)\,\theta_n, \qquad
    d_n = \min\!\left(D, \frac{1 + n}{10 + n}\right),

over the weights :math:`\theta_n` after optimizer step :math:`n`, so early on, when the
first weights mean nothing, the average follows the model closely
(:math:`d_1 = 2/11`), and later it spans about :math:`n/9` steps, up to :math:`1/(1-D)`.

Only parameters are averaged and swapped, never buffers: the module's buffers hold state
that validation sets (which ensemble members vote, a boolean per member), and
Lightning's callback swaps buffers back at the end of validation, which would undo it.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import WeightAveraging
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor
from torch.optim.swa_utils import get_ema_multi_avg_fn

__all__ = ["ExponentialWeightAverage", "warmed_decay"]


def warmed_decay(decay: float, updates: int) -> float:
    r""":math:`d_n = \min(D, (1 + n) / (10 + n))` for the ``updates``-th update :math:`n`
    (counted from 1) and the ceiling ``decay`` :math:`D`."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


class ExponentialWeightAverage(WeightAveraging):
    r"""Validate, checkpoint and finish with an exponential moving average of the weights.

    Args:
        decay (float, optional): The ceiling :math:`D \in (0, 1)` of the per-step decay
            (module docstring); :obj:`None` (the default) averages nothing, and the fit is
            the same as without the callback.

    The ``state_dict`` of a checkpoint holds the average (what ``predict`` and
    ``--init_from`` load); the last step's weights are kept beside it under
    ``current_model_state``, so ``--ckpt_path`` resumes both.
    """

    def __init__(self, decay: float | None = None) -> None:
        if decay is not None and (
            isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay < 1
        ):
            raise ValueError(
                f"--weight_average.decay must be a number strictly between 0 and 1, got {decay!r}"
            )
        self.decay = None if decay is None else float(decay)
        super().__init__(use_buffers=False, multi_avg_fn=self._update)

    def _update(self, averaged: list[Tensor], current: list[Tensor], n_averaged: Tensor) -> None:
        """One update of the average, in place (``AveragedModel``'s ``multi_avg_fn``)."""
        assert self.decay is not None
        decay = warmed_decay(self.decay, int(n_averaged))
        get_ema_multi_avg_fn(decay)(averaged, current, n_averaged)

    @property
    def active(self) -> bool:
        """Whether an average is kept (``decay`` given)."""
        return self.decay is not None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if not self.active:
            return
        super().setup(trainer, pl_module, stage)
        if stage == "fit":
            rank_zero_info(
                f"weight_average: validating and saving an exponential average of the "
                f"weights (decay up to {self.decay})"
            )

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        """After every optimizer step, when active."""
        return self.active and step_idx is not None

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._average_model is not None:
            super().on_train_end(trainer, pl_module)

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if self._average_model is not None:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if self._average_model is not None:
            super().on_save_checkpoint(trainer, pl_module, checkpoint)

    # Parameters only (module docstring): these replace Lightning's, which also swap and
    # copy every buffer.
    def _swap_models(self, pl_module: pl.LightningModule) -> None:
        assert self._average_model is not None
        with torch.no_grad():
            for average, current in zip(
                self._average_model.module.parameters(), pl_module.parameters(), strict=True
            ):
                held = average.detach().clone()
                average.detach().copy_(current.detach())
                current.detach().copy_(held)

    def _copy_average_to_current(self, pl_module: pl.LightningModule) -> None:
        assert self._average_model is not None
        with torch.no_grad():
            for average, current in zip(
                self._average_model.module.parameters(), pl_module.parameters(), strict=True
            ):
                current.detach().copy_(average.detach())
