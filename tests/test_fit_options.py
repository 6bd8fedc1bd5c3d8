"""Option values fit cannot use are one line naming the option, exit 2, before anything runs."""

from __future__ import annotations

import pytest
from fit_cases import fit_error_lines

SMALL = ["--data.n_train", "16", "--data.n_val", "4", "--trainer.max_epochs", "1"]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        # Before: ZeroDivisionError tracebacks after the first epoch or step.
        ("--trainer.check_val_every_n_epoch", "0", "--trainer.check_val_every_n_epoch must be"),
        ("--trainer.accumulate_grad_batches", "0", "--trainer.accumulate_grad_batches must be"),
        # Before: accepted; every gradient was scaled by a negative factor.
        ("--trainer.gradient_clip_val", "-1", "--trainer.gradient_clip_val must be a number >= 0"),
        ("--torch_threads", "0", "--torch_threads must be a number >= 1, got 0"),  # RuntimeError
        ("--data.batch_size", "0", "--data.batch_size must be a number >= 1, got 0"),
        ("--data.n_train", "0", "--data.n_train must be"),
        ("--data.num_workers", "-1", "--data.num_workers must be a number >= 0"),
        ("--model.lr", "-0.1", "--model.lr must be a positive number, got -0.1"),
        ("--model.warmup", "1.5", "--model.warmup must lie strictly between 0 and 1"),
        # Before: tracebacks (a RuntimeError from the network's constructor; Lightning's
        # MisconfigurationException for a trainer option).
        (
            "--model.net.init_args.hidden_channels",
            "-3",
            "the options do not build a model: RuntimeError: Trying to create tensor with "
            "negative dimension -3",
        ),
        ("--trainer.max_epochs", "-5", "`max_epochs` must be a non-negative integer or -1"),
    ],
)
def test_bad_option_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, option, value, message):
    lines = fit_error_lines(tmp_path, monkeypatch, capsys, *SMALL, option, value)
    assert len(lines) == 1 and lines[0].startswith("fit: error: ")
    assert message in lines[0]
