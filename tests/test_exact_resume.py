"""A fit stopped anywhere and resumed with ``--ckpt_path last`` ends with the weights of the
fit that was never stopped, bit for bit; SIGTERM and SIGINT stop it cleanly (status 143/130,
one line, a checkpoint that resumes it).

Each fit runs as its own process (``python -m lightning_modules.fit``); a callback from the
config (``interrupt_cases.SignalAtStep``) sends the process a real signal after a chosen
optimizer step, so every stop lands at a known point of an epoch: 4 batches of 16 pairs per
epoch, 3 epochs, 12 steps. The task is arithmetic with operand swaps, which draw random
numbers as the dataset reads each pair, and dropout, which draws in every step.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch
from fit_cases import QUIET, fit, fit_process, last_checkpoint

SMALL = [
    "--data.n_train", "64", "--data.n_val", "8", "--data.batch_size", "16",
    "--trainer.max_epochs", "3", "--model.net.init_args.hidden_channels", "16", *QUIET,
]  # fmt: skip
MATH = ["--data.task", "math", "--data.swap_commutative", "0.5", "--model.augment", "0.0",
        "--model.net.init_args.dropout", "0.1"]  # fmt: skip


def _fit(run_dir: Path, *args: str, stop_at: tuple[int, int] | None = None):
    """Run the fit command in ``run_dir``; ``stop_at=(step, signum)`` signals it after ``step``."""
    return fit_process(run_dir, *SMALL, *args, stop_at=stop_at)


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _stopped(done, signum: int, step: int, batch: int, run_dir: Path) -> None:
    """The process ended by ``signum`` after ``step``, with one line and a checkpoint there."""
    assert done.returncode == 128 + signum, done.stderr[-2000:]
    name = signal.Signals(signum).name
    assert done.stderr.strip().splitlines()[-1] == (
        f"fit: stopped by {name} after step {step} (epoch {(step - 1) // 4}, batch {batch} of 4); "
        "saved outputs/checkpoints/last.ckpt; resume with --ckpt_path last"
    )
    assert "Traceback" not in done.stderr
    assert last_checkpoint(run_dir)["global_step"] == step


@pytest.mark.slow
def test_stops_anywhere_resume_to_the_same_weights(tmp_path, monkeypatch):
    # Before: SIGTERM ended fit with status 0, and a resume restarted the interrupted epoch
    # with a fresh shuffle: the weights differed from an uninterrupted run by up to 0.105.
    # The fit never stopped runs in this process (the same command, without a new
    # interpreter's imports); the stopped ones must be processes, to be signalled.
    (tmp_path / "never_stopped").mkdir()
    fit(tmp_path / "never_stopped", monkeypatch, *SMALL, *MATH)
    reference = last_checkpoint(tmp_path / "never_stopped")
    run_dir = tmp_path / "stopped"
    done = _fit(run_dir, *MATH, stop_at=(3, signal.SIGTERM))  # epoch 0, batch 3 of 4
    _stopped(done, signal.SIGTERM, step=3, batch=3, run_dir=run_dir)
    done = _fit(run_dir, *MATH, "--ckpt_path", "last", stop_at=(10, signal.SIGKILL))
    assert done.returncode == -signal.SIGKILL
    assert (
        last_checkpoint(run_dir)["global_step"] == 8
    )  # the end of epoch 1: nothing after it was saved
    done = _fit(run_dir, *MATH, "--ckpt_path", "last")
    assert done.returncode == 0, done.stderr[-2000:]
    final = last_checkpoint(run_dir)
    assert final["global_step"] == reference["global_step"] == 12
    assert _same_weights(final["state_dict"], reference["state_dict"])
    assert _same_weights(
        final["optimizer_states"][0]["state"][0], reference["optimizer_states"][0]["state"][0]
    )


@pytest.mark.slow
def test_a_run_lengthened_by_the_step_floor_resumes_to_the_same_weights(tmp_path, monkeypatch):
    """``--step_floor.steps`` counts the batches before the checkpoint is restored; the loader
    it counts with is not the fit's, so the interrupted epoch's batches are still replayed.
    1 epoch asked, a floor of 10 steps: 3 epochs of 4 batches, stopped in the middle of the
    second."""
    floor = ["--trainer.max_epochs", "1", "--step_floor.steps", "10", *MATH]
    (tmp_path / "never_stopped").mkdir()
    fit(tmp_path / "never_stopped", monkeypatch, *SMALL, *floor)
    reference = last_checkpoint(tmp_path / "never_stopped")
    assert reference["global_step"] == 12
    run_dir = tmp_path / "stopped"
    done = _fit(run_dir, *floor, stop_at=(6, signal.SIGTERM))  # epoch 1, batch 2 of 4
    _stopped(done, signal.SIGTERM, step=6, batch=2, run_dir=run_dir)
    done = _fit(run_dir, *floor, "--ckpt_path", "last")
    assert done.returncode == 0, done.stderr[-2000:]
    final = last_checkpoint(run_dir)
    assert final["global_step"] == 12
    assert _same_weights(final["state_dict"], reference["state_dict"])
