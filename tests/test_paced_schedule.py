"""PacedOneCycleLR: OneCycleLR step for step without a pace; with one, the schedule is at
the further-along of the pace and the step count, never past its end; and a CPU budget
paces a fit's learning rate and merge warm-up."""

from __future__ import annotations

import io
import math
from types import SimpleNamespace

import pytest
import torch
from fit_cases import fit, metrics_rows

from lightning_modules import cpu_budget
from lightning_modules.cpu_budget import CpuTimeBudget
from lightning_modules.paced_schedule import PacedOneCycleLR

TOTAL = 40


def _optimizer() -> torch.optim.Optimizer:
    return torch.optim.AdamW([torch.nn.Parameter(torch.zeros(3))], lr=1e-3)


def _reference_rates(total: int = TOTAL) -> list[tuple[float, float]]:
    """OneCycleLR's (learning rate, beta1) at steps 0..total."""
    optimizer = _optimizer()
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=2e-3, total_steps=total, pct_start=0.1
    )
    rates = [(optimizer.param_groups[0]["lr"], optimizer.param_groups[0]["betas"][0])]
    for _ in range(total):
        optimizer.step()
        scheduler.step()
        rates.append((optimizer.param_groups[0]["lr"], optimizer.param_groups[0]["betas"][0]))
    return rates


def _paced(pace) -> tuple[torch.optim.Optimizer, PacedOneCycleLR]:
    optimizer = _optimizer()
    scheduler = PacedOneCycleLR(optimizer, pace=pace, max_lr=2e-3, total_steps=TOTAL, pct_start=0.1)
    return optimizer, scheduler


def _rate(optimizer: torch.optim.Optimizer) -> tuple[float, float]:
    group = optimizer.param_groups[0]
    return group["lr"], group["betas"][0]


@pytest.mark.parametrize("pace", [None, lambda: None, lambda: 0.0, lambda: math.nan])
def test_without_a_pace_it_is_onecycle_step_for_step(pace):
    reference = _reference_rates()
    optimizer, scheduler = _paced(pace)
    rates = [_rate(optimizer)]
    for _ in range(TOTAL):
        optimizer.step()
        scheduler.step()
        rates.append(_rate(optimizer))
    # Up to the final rate at step TOTAL - 1; OneCycleLR's step TOTAL, which no batch
    # trains with, extrapolates past it: the paced schedule stays there.
    assert rates[:TOTAL] == reference[:TOTAL]
    assert rates[TOTAL] == reference[TOTAL - 1] != reference[TOTAL]


def test_a_pace_ahead_of_the_steps_moves_the_schedule_to_it():
    reference = _reference_rates()
    share = [0.0]
    optimizer, scheduler = _paced(lambda: share[0])
    assert _rate(optimizer) == reference[0]
    optimizer.step()
    scheduler.step()
    assert _rate(optimizer) == reference[1]
    share[0] = 0.5  # half the budget used after one step: step 20 of 40
    optimizer.step()
    scheduler.step()
    assert scheduler.last_epoch == 20 and _rate(optimizer) == reference[20]
    # The pace stands still: the steps go on from there, one a step.
    for expected in (21, 22, 23):
        optimizer.step()
        scheduler.step()
        assert scheduler.last_epoch == expected and _rate(optimizer) == reference[expected]
    share[0] = 0.30  # a pace behind the steps is ignored: the schedule never goes back
    optimizer.step()
    scheduler.step()
    assert scheduler.last_epoch == 24 and _rate(optimizer) == reference[24]


def test_the_schedule_stops_at_its_end_instead_of_raising():
    reference = _reference_rates()
    optimizer, scheduler = _paced(lambda: 1.0)
    assert scheduler.last_epoch == TOTAL - 1 and _rate(optimizer) == reference[TOTAL - 1]
    for _ in range(3 * TOTAL):  # OneCycleLR itself raises after TOTAL steps
        optimizer.step()
        scheduler.step()
        assert scheduler.last_epoch == TOTAL - 1 and _rate(optimizer) == reference[TOTAL - 1]
    # The final rate: the start (max_lr / 25) divided by 1e4.
    assert reference[TOTAL - 1][0] == pytest.approx(2e-3 / 25 / 1e4, rel=1e-9)


def test_the_pace_is_not_in_the_state_and_the_state_loads_weights_only():
    optimizer, scheduler = _paced(lambda: 0.25)
    assert scheduler.last_epoch == 10  # OneCycleLR's constructor takes the first step
    optimizer.step()
    scheduler.step()
    state = scheduler.state_dict()
    assert "_pace" not in state and state["last_epoch"] == 11
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    restored = torch.load(buffer, weights_only=True)
    _, other = _paced(None)
    other.load_state_dict(restored)
    assert other.last_epoch == 11 and other._pace is None


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_share_used_follows_the_process_clock(monkeypatch):
    clock = Clock(30.0)
    monkeypatch.setattr(cpu_budget.time, "process_time", clock)
    assert CpuTimeBudget(seconds=120.0).share_used() == 0.25
    clock.now = 500.0
    assert CpuTimeBudget(seconds=120.0).share_used() == 1.0
    assert CpuTimeBudget(seconds=120.0, pace_schedule=False).share_used() is None
    assert CpuTimeBudget().share_used() is None


def test_share_used_counts_from_the_start_of_training(monkeypatch):
    """The CPU seconds spent before training (imports, reading the data) count against the
    budget but not as progress of the schedule: 20 of 120 s before training, then 25 more
    is a quarter of the 100 s left."""
    clock = Clock(20.0)
    monkeypatch.setattr(cpu_budget.time, "process_time", clock)
    budget = CpuTimeBudget(seconds=120.0)
    budget.on_train_start(None, None)  # type: ignore[arg-type]
    assert budget.share_used() == 0.0
    clock.now = 45.0
    assert budget.share_used() == 0.25
    clock.now = 200.0
    assert budget.share_used() == 1.0
    late = CpuTimeBudget(seconds=10.0)
    late.on_train_start(None, None)  # type: ignore[arg-type]
    assert late.share_used() == 1.0  # training starts after the budget is spent


@pytest.mark.parametrize("pace", [True, False])
def test_a_fit_whose_budget_is_nearly_spent_ends_its_schedule(tmp_path, monkeypatch, pace):
    """A process clock held at 99% of the budget (no batch costs time, so the budget never
    stops the fit): with pacing the learning rate is the schedule's step 19 of 20, its
    final rate, from the first batch on, and the merge warm-up is at 0.99; without, both
    follow the steps."""
    monkeypatch.setattr(cpu_budget.time, "process_time", Clock(990.0))
    # Training started at CPU second 0 (the schedule's share counts from there).
    monkeypatch.setattr(
        CpuTimeBudget,
        "on_train_start",
        lambda self, trainer, module: setattr(self, "_train_start", 0.0),
    )
    cli = fit(
        tmp_path, monkeypatch, "--data.n_train", "32", "--data.n_val", "8",
        "--data.batch_size", "16", "--trainer.max_epochs", "10",
        "--trainer.limit_train_batches", "2", "--trainer.check_val_every_n_epoch", "10",
        "--trainer.log_every_n_steps", "1",
        "--trainer.callbacks+=lightning.pytorch.callbacks.LearningRateMonitor",
        "--cpu_budget.seconds", "1000", "--cpu_budget.pace_schedule", str(pace).lower(),
        "--model.objective.init_args.merge_warmup", "0.5",
    )  # fmt: skip
    module = cli.model
    assert cli.trainer.global_step == 20
    reference = torch.optim.lr_scheduler.OneCycleLR(
        _optimizer(), max_lr=module.hparams.lr, total_steps=20, pct_start=module.hparams.warmup
    )
    steps = [reference.get_last_lr()[0]]
    for _ in range(19):
        reference.optimizer.step()
        reference.step()
        steps.append(reference.get_last_lr()[0])
    rows = metrics_rows(tmp_path)
    # Two parameter groups with a merge warm-up: the merge parameters' own (below) and the rest.
    logged = [float(r["lr-AdamW/pg1"]) for r in rows if r.get("lr-AdamW/pg1")]
    assert len(logged) == 20  # the rate each batch trained with
    if pace:
        assert logged == pytest.approx([steps[19]] * 20, rel=1e-6)
    else:
        assert logged == pytest.approx(steps, rel=1e-6)
    assert module.lr_schedulers().last_epoch == 19
    # The merge warm-up's share at step 2 of 20: the budget's 0.99 when it paces.
    module._trainer = SimpleNamespace(
        estimated_stepping_batches=20, global_step=2,
        callbacks=[CpuTimeBudget(seconds=1000.0, pace_schedule=pace)],
    )  # fmt: skip
    assert module._progress() == pytest.approx(0.99 if pace else 0.1, rel=1e-12)
