"""SIGINT and SIGTERM during fit: the step finishes, last.ckpt is written there, one line says
so, and the status is 128 + the signal; outside training a signal stops fit at once."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from fit_cases import fit, signal_config

from lightning_modules.interruption import FitInterrupted, StopOnSignal

SMALL = [
    "--data.n_train", "32", "--data.n_val", "8", "--data.batch_size", "8",
    "--trainer.max_epochs", "2", "--model.net.init_args.hidden_channels", "8",
]  # fmt: skip


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_the_step_and_ends_fit_non_zero(
    tmp_path, monkeypatch, capfd, signum, status
):
    # Before: SIGTERM ended fit with status 0 after the batch, without a checkpoint of it;
    # SIGINT with Lightning's "graceful shutdown" and status 1, also without one.
    previous = signal.getsignal(signum)
    with pytest.raises(FitInterrupted) as stop:
        fit(tmp_path, monkeypatch, *SMALL, "--config", signal_config(tmp_path, 2, signum))
    assert stop.value.code == status
    name = signal.Signals(signum).name
    assert capfd.readouterr().err.strip().splitlines()[-1] == (
        f"fit: stopped by {name} after step 2 (epoch 0, batch 2 of 4); "
        "saved outputs/checkpoints/last.ckpt; resume with --ckpt_path last"
    )
    saved = torch.load(tmp_path / "outputs" / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 2
    assert saved["GraphemeDataModule"]["batches_done"] == 2
    assert signal.getsignal(signum) is previous  # the command's handlers are gone again


def test_a_signal_outside_training_stops_at_once(capfd):
    stop = StopOnSignal()
    with pytest.raises(FitInterrupted) as raised, stop.handling_signals():
        os.kill(os.getpid(), signal.SIGTERM)  # e.g. while the data is read
    assert raised.value.code == 143
    assert (
        capfd.readouterr().err
        == "fit: stopped by SIGTERM (outside training); nothing more was saved\n"
    )


def test_a_second_signal_stops_at_once():
    stop = StopOnSignal()
    with stop.handling_signals():
        stop._training = True  # as on_train_start sets it
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.signum == signal.SIGINT  # the first one waits for the step to end
        with pytest.raises(FitInterrupted) as raised:
            os.kill(os.getpid(), signal.SIGINT)
    assert raised.value.code == 130
