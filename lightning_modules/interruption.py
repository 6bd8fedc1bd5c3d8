"""SIGTERM and SIGINT during ``fit``: finish the step, save the last checkpoint, exit non-zero.

A scheduler ending a job (SIGTERM) or a user pressing Ctrl-C (SIGINT) should cost
at most one training step, and the run must say that it did not finish.
:class:`StopOnSignal` handles both signals while ``fit`` runs:

- during training, the first signal lets the current step finish; then the
  last checkpoint (the file ``--ckpt_path last`` resumes) is written, mid-epoch
  if need be, one line on stderr says where training stopped, and the process
  exits with status ``128 + signal`` (143 for SIGTERM, 130 for SIGINT), the
  shell's convention for a process ended by a signal;
- a second signal, or one that arrives before training starts (reading data,
  building the model) or after it ended (the report), stops at once with the
  same status; the last checkpoint on disk is then the one before, whole, since
  checkpoints are written atomically (:mod:`.checkpoint_io`).

Lightning's own SIGTERM handling marks the trainer and ends ``fit`` with status
0 after the epoch's batch; the callback replaces it when training starts.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint

__all__ = ["FitInterrupted", "StopOnSignal"]

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class FitInterrupted(SystemExit):
    """``fit`` stopped by a signal; exits with status ``128 + signum`` and no traceback."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


def _say(line: str) -> None:
    # os.write, not print: this may run inside a signal handler, where a buffered
    # stream can be in the middle of another write.
    os.write(2, (line + "\n").encode("utf-8", "backslashreplace"))


def last_checkpoint_path(trainer: pl.Trainer) -> Path:
    """Where ``--ckpt_path last`` will look: the file of the checkpoint callback that
    monitors nothing (``last_checkpoint`` in ``fit``), else ``last.ckpt`` beside any
    checkpoint callback's files, else under ``<default_root_dir>/checkpoints``."""
    callbacks = [c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint)]
    for callback in callbacks:
        if callback.monitor is None and callback.dirpath:
            metrics = {"epoch": trainer.current_epoch, "step": trainer.global_step}
            return Path(callback.format_checkpoint_name(metrics))
    folder = next((c.dirpath for c in callbacks if c.dirpath), None)
    return Path(folder or Path(trainer.default_root_dir) / "checkpoints") / "last.ckpt"


class StopOnSignal(pl.Callback):
    """Ends ``fit`` on SIGTERM or SIGINT after a checkpoint that resumes it (module docstring).

    Use :meth:`handling_signals` around the whole command, so that a signal while the
    data is read or the model is built stops it too, and add the callback to the trainer.
    """

    def __init__(self) -> None:
        super().__init__()
        self.signum: int | None = None
        self._training = False

    # ------------------------------------------------------------------ signals
    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._training and self.signum is None:
            self.signum = signum  # the step finishes; on_train_batch_end saves and stops
            return
        when = "again" if self.signum is not None else "outside training"
        _say(f"fit: stopped by {name} ({when}); nothing more was saved")
        raise FitInterrupted(signum)

    def _install(self) -> None:
        for signum in SIGNALS:
            signal.signal(signum, self._handle)

    @contextmanager
    def handling_signals(self) -> Iterator[StopOnSignal]:
        """Handle SIGTERM and SIGINT inside the block; the previous handlers after it."""
        if threading.current_thread() is not threading.main_thread():
            yield self  # Python lets only the main thread handle signals
            return
        previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
        self._install()
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    # ------------------------------------------------------------------ hooks
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning registered its own SIGTERM handler when fit began; ours replaces it
        # (Lightning puts back what was there before, ours, when fit ends).
        if threading.current_thread() is threading.main_thread():
            self._install()
        self._training = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._training = False

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._training = False

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any, **kwargs: Any
    ) -> None:
        self._stop_if_signalled(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop_if_signalled(trainer)

    def _stop_if_signalled(self, trainer: pl.Trainer) -> None:
        # Every process decides together: saving a checkpoint is collective under DDP.
        if not trainer.strategy.reduce_boolean_decision(self.signum is not None, all=False):
            return
        signum = self.signum if self.signum is not None else signal.SIGTERM
        path = last_checkpoint_path(trainer)
        trainer.save_checkpoint(path, weights_only=False)
        self._training = False
        if trainer.is_global_zero:
            progress = trainer.fit_loop.epoch_loop.batch_progress.current
            _say(
                f"fit: stopped by {signal.Signals(signum).name} after step {trainer.global_step} "
                f"(epoch {trainer.current_epoch}, batch {progress.processed} of "
                f"{trainer.num_training_batches}); saved {path}; resume with --ckpt_path last"
            )
        raise FitInterrupted(signum)
