"""A callback that sends its own process a signal at a chosen training step, so that a test
can stop ``fit`` at an exact point of an epoch (``trainer.callbacks`` in a config)."""

from __future__ import annotations

import os
from typing import Any

import lightning.pytorch as pl

__all__ = ["SignalAtStep"]


class SignalAtStep(pl.Callback):
    """``os.kill(own pid, signum)`` once the optimizer has taken ``step`` steps.

    Args:
        step: the global step after which the signal is sent.
        signum: the signal (15 SIGTERM, 2 SIGINT, 9 SIGKILL).
    """

    def __init__(self, step: int, signum: int) -> None:
        super().__init__()
        self.step = step
        self.signum = signum

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)
