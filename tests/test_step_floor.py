"""``--step_floor.steps``: ``max_epochs`` is raised so that a short training set still gets
that many optimizer steps, the last epoch validates, and a run already long enough is
unchanged step for step."""

from __future__ import annotations

import math

import pytest
import yaml
from fit_cases import fit, fit_error_lines, metrics_rows

from lightning_modules.fit import CONF_DIR
from lightning_modules.step_floor import StepFloor


@pytest.mark.parametrize(
    ("steps", "batches", "accumulate", "every", "epochs"),
    [
        (2850, 57, 1, 5, 50),  # conf/g2p.yaml on 3,600 words: exactly its 50 epochs
        (2850, 13, 1, 5, 220),  # on 800 words: 219.2 epochs, up to the validation's 220
        (2850, 13, 1, 1, 220),
        (10, 3, 1, 1, 4),  # 3 steps an epoch: 4 epochs give 12 >= 10
        (10, 3, 1, 3, 6),  # ... up to a multiple of 3
        (10, 4, 3, 1, 5),  # 4 batches, 3 accumulated: 2 steps an epoch
        (10, 4, 3, None, 5),  # validation counted in steps: no rounding
        (1, 100, 1, 7, 7),
    ],
)
def test_epochs_needed(steps, batches, accumulate, every, epochs):
    assert StepFloor(steps).epochs_needed(batches, accumulate, every) == epochs


@pytest.mark.parametrize("steps", [0, -5, 2.5, True, "100"])
def test_a_floor_that_is_not_a_positive_whole_number_is_refused(steps):
    with pytest.raises(ValueError, match=r"--step_floor\.steps must be a positive whole number"):
        StepFloor(steps)


def _fit(tmp_path, monkeypatch, *args: str):
    """A fit of 2 batches an epoch (16 pairs of 8, of like lengths), validated every 3
    epochs."""
    return fit(
        tmp_path, monkeypatch, "--data.n_train", "16", "--data.n_val", "8",
        "--data.batch_size", "8", "--data.batch_by_length", "true",
        "--trainer.check_val_every_n_epoch", "3",
        "--seed_everything", "7", *args,
    )  # fmt: skip


def _floor(cli) -> StepFloor:
    (callback,) = [c for c in cli.trainer.callbacks if isinstance(c, StepFloor)]
    return callback


def test_a_short_run_is_lengthened_to_the_floor_and_its_last_epoch_validates(
    tmp_path, monkeypatch, caplog
):
    """2 batches an epoch and a floor of 9 steps: 5 epochs, rounded up to the validation
    interval's 6 (12 steps); the schedule spans them, the 6th epoch is validated, and the
    run is the one ``--trainer.max_epochs 6`` gives, to the bit."""
    for run in ("floored", "six"):
        (tmp_path / run).mkdir()
    six = _fit(tmp_path / "six", monkeypatch, "--trainer.max_epochs", "6")
    assert six.trainer.global_step == 12
    tmp_path = tmp_path / "floored"
    cli = _fit(tmp_path, monkeypatch, "--trainer.max_epochs", "2", "--step_floor.steps", "9")
    assert _floor(cli).raised_to == 6
    assert cli.trainer.max_epochs == 6
    assert cli.trainer.global_step == 12
    assert cli.trainer.estimated_stepping_batches == 12
    validated = [int(r["epoch"]) for r in metrics_rows(tmp_path) if r.get("val_exact_match")]
    assert validated == [2, 5]
    assert metrics_rows(tmp_path) == metrics_rows(tmp_path.parent / "six")
    assert "step_floor: max_epochs 2 -> 6: 2 training batches an epoch, at least 9 steps" in (
        caplog.text
    )


def test_a_run_long_enough_is_the_same_step_for_step(tmp_path, monkeypatch):
    """A floor below what max_epochs gives changes nothing: the same losses to the bit."""
    for run in ("plain", "floored"):
        (tmp_path / run).mkdir()
    plain = _fit(tmp_path / "plain", monkeypatch, "--trainer.max_epochs", "3")
    plain_rows = metrics_rows(tmp_path / "plain")
    floored = _fit(
        tmp_path / "floored", monkeypatch, "--trainer.max_epochs", "3", "--step_floor.steps", "6"
    )
    assert _floor(floored).raised_to is None
    assert floored.trainer.global_step == plain.trainer.global_step == 6
    assert metrics_rows(tmp_path / "floored") == plain_rows


def test_no_epoch_limit_is_left_to_max_steps(tmp_path, monkeypatch):
    cli = _fit(
        tmp_path, monkeypatch, "--trainer.max_epochs", "-1", "--trainer.max_steps", "4",
        "--step_floor.steps", "100",
    )  # fmt: skip
    assert _floor(cli).raised_to is None
    assert cli.trainer.global_step == 4


def test_a_bad_floor_on_the_command_line_is_one_line(tmp_path, monkeypatch, capsys):
    lines = fit_error_lines(
        tmp_path, monkeypatch, capsys, "--data.n_train", "16", "--step_floor.steps", "0"
    )
    assert lines == ["fit: error: --step_floor.steps must be a positive whole number, got 0"]


def test_the_g2p_config_keeps_the_task_lists_50_epochs_and_gives_800_words_220():
    """conf/g2p.yaml's floor is exactly the 50 epochs' steps on SIGMORPHON 2020's 3,600
    training words (so the results table's fits are unchanged) and lengthens a list of
    800 words to 220 epochs."""
    config = yaml.safe_load((CONF_DIR / "g2p.yaml").read_text(encoding="utf-8"))
    floor = StepFloor(config["step_floor"]["steps"])
    size, trainer = config["data"]["batch_size"], config["trainer"]
    every = trainer["check_val_every_n_epoch"]
    assert floor.epochs_needed(math.ceil(3600 / size), 1, every) == trainer["max_epochs"] == 50
    assert floor.epochs_needed(math.ceil(800 / size), 1, every) == 220
