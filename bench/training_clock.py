"""A Lightning callback that clocks the CPU seconds of training, validation excluded.

``bench/results_table.py`` adds it to our model's fit by its dotted name
(``--trainer.callbacks+=bench.training_clock.TrainingCpuClock``), so it lives in a module
of its own that the script's ``__main__`` never is.
"""

from __future__ import annotations

import time

import lightning.pytorch as pl

__all__ = ["TrainingCpuClock"]


class TrainingCpuClock(pl.Callback):
    """CPU seconds (``time.process_time``) of the training epochs, validation excluded.

    Validation at the end of an epoch runs before ``on_train_epoch_end``, so its
    time is measured on its own and taken off.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0
        self.epochs = 0
        self._epoch_start = 0.0
        self._validation_start = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = time.process_time()

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._validation_start = time.process_time()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._epoch_start += time.process_time() - self._validation_start

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seconds += time.process_time() - self._epoch_start
        self.epochs += 1
