"""EarlyStoppingAfter: Lightning's EarlyStopping, checked from the end of epoch ``min_epochs``."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_modules.cpu_budget import CpuTimeBudget
from lightning_modules.early_stopping import EarlyStoppingAfter


class _AlwaysExact(pl.LightningModule):
    """One weight; validation logs ``val_exact_match = 1`` from the first epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.trained_epochs: list[int] = []

    def training_step(self, batch, batch_idx):
        return (self.w - batch[0]).pow(2).mean()

    def on_train_epoch_end(self) -> None:
        self.trained_epochs.append(self.current_epoch)

    def validation_step(self, batch, batch_idx):
        self.log("val_exact_match", 1.0)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _loader() -> DataLoader:
    return DataLoader(TensorDataset(torch.ones(4, 1)), batch_size=2)


def _fit(tmp_path, callbacks, max_epochs: int = 20) -> _AlwaysExact:
    module = _AlwaysExact()
    trainer = pl.Trainer(
        max_epochs=max_epochs, callbacks=callbacks, default_root_dir=tmp_path,
        logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu",
    )  # fmt: skip
    trainer.fit(module, _loader(), _loader())
    return module


def _stopper(min_epochs: int) -> EarlyStoppingAfter:
    return EarlyStoppingAfter(
        min_epochs=min_epochs, monitor="val_exact_match", mode="max",
        stopping_threshold=0.9999, patience=1000,
    )  # fmt: skip


@pytest.mark.parametrize("min_epochs, expected", [(0, 1), (1, 1), (3, 3), (7, 7)])
def test_stops_at_the_first_check_from_epoch_min_epochs(tmp_path, min_epochs, expected):
    module = _fit(tmp_path, [_stopper(min_epochs)])
    assert module.trained_epochs == list(range(expected))


def test_min_epochs_above_max_epochs_trains_max_epochs(tmp_path):
    module = _fit(tmp_path, [_stopper(10)], max_epochs=3)
    assert module.trained_epochs == [0, 1, 2]


def test_a_cpu_budget_still_stops_before_min_epochs(tmp_path):
    """Unlike Trainer(min_epochs=...), the callback does not hold off other stops."""
    module = _fit(tmp_path, [_stopper(3), CpuTimeBudget(seconds=1e-9)])
    assert len(module.trained_epochs) == 1


def test_negative_min_epochs_is_refused():
    with pytest.raises(ValueError, match="min_epochs must be >= 0, got -1"):
        EarlyStoppingAfter(min_epochs=-1, monitor="val_exact_match")
