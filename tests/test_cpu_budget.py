"""``--cpu_budget.seconds``: training stops before the process's CPU time passes the budget,
and the weights it stops with are validated (so the best checkpoint can be them)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from fit_cases import fit, fit_error_lines, metrics_rows

from lightning_modules import cpu_budget
from lightning_modules.cpu_budget import CpuTimeBudget


class Clock:
    """A process clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The budget's ``time.process_time``, replaced by a :class:`Clock` at 0."""
    hand = Clock()
    monkeypatch.setattr(cpu_budget.time, "process_time", hand)
    return hand


def _train(
    budget: CpuTimeBudget,
    clock: Clock,
    epochs: int,
    batches: int,
    batch_seconds: float,
    validation_seconds: float,
    every: int = 2,
) -> tuple[list[float], float]:
    """Drive the callback's hooks in Lightning's order (batch end, then the epoch's
    validation when scheduled) on a stub trainer; returns each validation's end time and
    the clock when training ended."""
    trainer = SimpleNamespace(
        should_stop=False, check_val_every_n_epoch=every, num_training_batches=batches,
        current_epoch=0, sanity_checking=False,
    )  # fmt: skip
    validations = []
    for epoch in range(epochs):
        trainer.current_epoch = epoch
        budget.on_train_epoch_start(trainer, None)
        for index in range(batches):
            budget.on_train_batch_start(trainer, None, None, index)
            clock.now += batch_seconds
            budget.on_train_batch_end(trainer, None, None, None, index)
            last = index + 1 == batches
            if (last and (epoch + 1) % trainer.check_val_every_n_epoch == 0) or trainer.should_stop:
                budget.on_validation_epoch_start(trainer, None)
                clock.now += validation_seconds
                budget.on_validation_epoch_end(trainer, None)
                validations.append(clock.now)
            if trainer.should_stop:
                return validations, clock.now
    return validations, clock.now


def test_stops_at_the_epoch_whose_successor_would_pass_the_budget(clock):
    budget = CpuTimeBudget(seconds=60.0)
    # Epochs of 5 batches of 2 s; a 3 s validation every second epoch.
    validations, end = _train(budget, clock, 20, 5, 2.0, 3.0)
    # Epoch 0 ends at 10, epoch 1 at 20 (+3 validating), 2 at 33, 3 at 43 (+3): after
    # epoch 4 (56) the next epoch and a validation (10 + 2 * 3) do not fit in 4 s, so
    # epoch 4 stops and validates, though its own schedule has no validation.
    assert budget.stopped_epoch == 4
    assert validations == [23.0, 46.0, 59.0]
    assert end == 59.0 <= budget.seconds


def test_stops_within_an_epoch_longer_than_the_budget(clock):
    budget = CpuTimeBudget(seconds=7.0)
    validations, end = _train(budget, clock, 3, 100, 2.0, 1.0)
    # Batches end at 2, 4, 6: after the third, one more (2 s) does not fit in 1 s.
    assert budget.stopped_epoch == 0
    assert validations == [7.0] and end == 7.0


def test_a_run_that_may_stop_before_its_first_validation_validates_its_first_epoch(clock):
    # Epochs of 5 batches of 6 s, a validation every 5 epochs that costs 25 s: the
    # budget is gone before epoch 4, and a stop that reserved nothing for the unknown
    # validation would end at 90 + 25 = 115 s.
    budget = CpuTimeBudget(seconds=100.0)
    validations, end = _train(budget, clock, 20, 5, 6.0, 25.0, every=5)
    # Epoch 0 ends at 30 with 70 s left, short of the 5 epochs (150 s) up to and through
    # the first scheduled validation: it validates (55). In epoch 1 one more batch and a
    # validation (31 s) no longer fit after the third batch (73, 27 s left): stop there.
    assert validations == [55.0, 98.0]
    assert budget.stopped_epoch == 1 and end == 98.0 <= budget.seconds


def test_the_validation_schedule_is_kept_after_the_first_epochs_validation(clock):
    budget = CpuTimeBudget(seconds=150.0)
    validations, end = _train(budget, clock, 20, 5, 6.0, 8.0, every=5)
    # Epoch 0 validates (120 s left < 150 s): 38. Epochs 1 and 2 do not (every 5th
    # again), epoch 3 is the budget's stop: 68, 98, then 128 + 8.
    assert validations == [38.0, 136.0]
    assert budget.stopped_epoch == 3 and end == 136.0


def test_a_run_that_reaches_its_first_validation_is_not_made_to_validate_early(clock):
    budget = CpuTimeBudget(seconds=1000.0)
    validations, _ = _train(budget, clock, 10, 5, 6.0, 8.0, every=5)
    assert validations[:2] == [158.0, 316.0]  # epochs 4 and 9 only


def test_no_budget_never_stops(clock):
    budget = CpuTimeBudget()
    validations, end = _train(budget, clock, 6, 3, 100.0, 10.0)
    assert budget.stopped_epoch is None and end == 6 * 300.0 + 3 * 10.0
    assert len(validations) == 3


@pytest.mark.parametrize("seconds", [0, -1.5, float("nan"), float("inf")])
def test_a_budget_that_is_not_a_positive_number_is_refused(seconds):
    with pytest.raises(ValueError, match=r"--cpu_budget\.seconds must be a positive number"):
        CpuTimeBudget(seconds=seconds)


def test_fit_with_a_spent_budget_trains_one_step_and_keeps_it(tmp_path, monkeypatch, caplog):
    """The process has used more than a millisecond before its first batch ends: the fit
    stops after one step, validates it although validation is scheduled every 5 epochs,
    and its best checkpoint is that step's weights."""
    cli = fit(
        tmp_path, monkeypatch, "--data.n_train", "64", "--data.n_val", "8",
        "--trainer.max_epochs", "30", "--trainer.check_val_every_n_epoch", "5",
        "--cpu_budget.seconds", "0.001",
    )  # fmt: skip
    assert cli.trainer.global_step == 1
    (callback,) = [c for c in cli.trainer.callbacks if isinstance(c, CpuTimeBudget)]
    assert callback.stopped_epoch == 0
    validated = [r for r in metrics_rows(tmp_path) if r.get("val_exact_match")]
    assert len(validated) == 1 and validated[0]["step"] == "0"
    best = sorted(Path(tmp_path, "outputs", "checkpoints").glob("best-epoch=0-*.ckpt"))
    assert len(best) == 1
    assert "cpu_budget: stopping in epoch 0 after batch 1 of 2: " in caplog.text
    assert " of 0.001 CPU seconds used" in caplog.text


def test_a_bad_budget_on_the_command_line_is_one_line(tmp_path, monkeypatch, capsys):
    lines = fit_error_lines(
        tmp_path, monkeypatch, capsys, "--data.n_train", "16", "--cpu_budget.seconds", "-3"
    )
    assert lines == ["fit: error: --cpu_budget.seconds must be a positive number, got -3.0"]
