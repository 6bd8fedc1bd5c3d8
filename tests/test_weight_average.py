"""``--weight_average.decay``: validation, checkpoints and the end of a fit use the
exponential moving average of the weights, computed exactly as the module docstring says;
buffers that validation sets survive it; without a decay the fit is unchanged."""

from __future__ import annotations

import signal

import lightning.pytorch as pl
import pytest
import torch
from fit_cases import QUIET, fit, fit_process, last_checkpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_modules.weight_average import ExponentialWeightAverage, warmed_decay


@pytest.mark.parametrize(
    ("decay", "updates", "expected"),
    [
        (0.999, 1, 2 / 11),  # the first blend after the copy follows the model closely
        (0.999, 2, 3 / 12),
        (0.999, 90, 91 / 100),
        (0.999, 8990, 0.999),  # (1 + n) / (10 + n) = 0.999 exactly at n = 8990
        (0.999, 100_000, 0.999),
        (0.25, 3, 0.25),  # (1 + 3) / (10 + 3) is above the ceiling
    ],
)
def test_warmed_decay(decay, updates, expected):
    assert warmed_decay(decay, updates) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("decay", [0, 1, 1.5, -0.1, True, "0.9"])
def test_a_decay_outside_the_open_unit_interval_is_refused(decay):
    with pytest.raises(ValueError, match=r"--weight_average\.decay must be a number strictly"):
        ExponentialWeightAverage(decay)


class _Line(pl.LightningModule):
    """A least-squares line fitted by SGD, in float64, which records its weights after every
    optimizer step and the weights it validates with; its boolean buffer is set by each
    validation, as the ensemble module's ``member_votes`` is."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.line = nn.Linear(2, 1).double()
        self.register_buffer("flag", torch.zeros(1, dtype=torch.bool), persistent=False)
        self.after_step: list[torch.Tensor] = []
        self.validated_with: list[torch.Tensor] = []
        self.validations = 0

    def _weights(self) -> torch.Tensor:
        return torch.cat([p.detach().flatten().clone() for p in self.parameters()])

    def training_step(self, batch, batch_idx):
        x, y = batch
        return ((self.line(x) - y) ** 2).mean()

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        self.after_step.append(self._weights())

    def on_validation_epoch_start(self) -> None:
        self.validations += 1
        self.flag.fill_(self.validations % 2 == 1)
        self.validated_with.append(self._weights())

    def validation_step(self, batch, batch_idx) -> None:
        x, y = batch
        self.log("val_loss", ((self.line(x) - y) ** 2).mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _loader() -> DataLoader:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(12, 2, generator=generator, dtype=torch.float64)
    y = x @ torch.tensor([[1.5], [-2.0]], dtype=torch.float64) + 0.25
    return DataLoader(TensorDataset(x, y), batch_size=4)


def _trainer(tmp_path, callbacks, epochs: int = 3) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=epochs, callbacks=callbacks, default_root_dir=tmp_path, logger=False,
        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
        num_sanity_val_steps=0,
        accelerator="cpu", devices=1,
    )  # fmt: skip


def _by_hand(steps: list[torch.Tensor], decay: float) -> list[torch.Tensor]:
    """The average after each step, from the module docstring's recursion."""
    averages = [steps[0].clone()]
    for n, weights in enumerate(steps[1:], start=1):
        d = min(decay, (1 + n) / (10 + n))
        averages.append(d * averages[-1] + (1 - d) * weights)
    return averages


def test_validation_and_the_end_of_the_fit_use_the_average_computed_by_hand(tmp_path):
    """3 epochs of 3 steps: each validation (after steps 3, 6, 9) sees the average of the
    weights so far, and after the fit the module holds the average of all 9, equal to the
    recursion done by hand in float64; the buffer keeps what the last validation set."""
    model = _Line()
    trainer = _trainer(tmp_path, [ExponentialWeightAverage(0.45)])
    trainer.fit(model, _loader(), _loader())
    assert len(model.after_step) == 9
    averages = _by_hand(model.after_step, 0.45)
    assert len(model.validated_with) == 3
    for seen, step in zip(model.validated_with, (3, 6, 9), strict=True):
        torch.testing.assert_close(seen, averages[step - 1], rtol=0, atol=1e-14)
    torch.testing.assert_close(model._weights(), averages[-1], rtol=0, atol=1e-14)
    # The average differs from the last step's weights by more than rounding.
    assert (averages[-1] - model.after_step[-1]).abs().max() > 1e-4
    assert model.flag.item() is True  # the third validation's value, not swapped back


def test_without_a_decay_the_fit_is_the_fit_without_the_callback(tmp_path):
    plain, inert = _Line(), _Line()
    _trainer(tmp_path / "plain", []).fit(plain, _loader(), _loader())
    _trainer(tmp_path / "inert", [ExponentialWeightAverage(None)]).fit(inert, _loader(), _loader())
    assert torch.equal(plain._weights(), inert._weights())
    assert torch.equal(torch.stack(plain.validated_with), torch.stack(inert.validated_with))


SMALL = [
    "--data.n_train", "16", "--data.n_val", "8", "--data.batch_size", "8",
    "--seed_everything", "3", "--trainer.max_epochs", "3", "--model.members", "2",
    "--model.net.init_args.hidden_channels", "16", "--weight_average.decay", "0.99",
]  # fmt: skip


@pytest.mark.slow
def test_the_fit_cli_checkpoints_the_average_and_resumes_it_exactly(tmp_path, monkeypatch):
    """Through ``python -m lightning_modules.fit``, two members, 3 epochs of 2 steps: the
    checkpoint's ``state_dict`` holds the average (the module's weights after the fit), the
    last step's weights are beside it and the members' votes are kept; a fit stopped by
    SIGTERM after step 3 (in the middle of epoch 1) and resumed with ``--ckpt_path last``
    ends with the same average and weights, bit for bit."""
    (tmp_path / "never_stopped").mkdir()
    whole = fit(tmp_path / "never_stopped", monkeypatch, *SMALL)
    saved = last_checkpoint(tmp_path / "never_stopped")
    assert int(saved["averaging_state"]["n_averaged"]) == whole.trainer.global_step == 6
    assert saved["member_votes"] == [True, True]
    held = whole.model.state_dict()
    assert saved["state_dict"].keys() == saved["current_model_state"].keys() == held.keys()
    assert all(torch.equal(saved["state_dict"][k], held[k]) for k in held)
    assert any(
        not torch.equal(saved["state_dict"][k], saved["current_model_state"][k]) for k in held
    )

    run_dir = tmp_path / "stopped"
    done = fit_process(run_dir, *SMALL, *QUIET, stop_at=(3, signal.SIGTERM))
    assert done.returncode == 128 + signal.SIGTERM, done.stderr[-2000:]
    stopped = last_checkpoint(run_dir)
    assert stopped["global_step"] == 3
    assert int(stopped["averaging_state"]["n_averaged"]) == 3
    done = fit_process(run_dir, *SMALL, *QUIET, "--ckpt_path", "last")
    assert done.returncode == 0, done.stderr[-2000:]
    again = last_checkpoint(run_dir)
    assert again["global_step"] == 6
    for part in ("state_dict", "current_model_state"):
        assert all(torch.equal(again[part][k], saved[part][k]) for k in held), part
