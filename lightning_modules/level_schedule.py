"""LevelSchedule: train the levels of a curriculum in turn, in one run.

GRAPHEME's ``train`` command trained levels ``start..end`` one after another, keeping
the weights, and moved on when the validation score of a level reached a threshold.
This callback does the same with the fit command's data module in levels mode
(``--data.levels 1..7 --data.levels_dir DIR``,
:class:`~lightning_modules.datamodule.GraphemeDataModule`):

- after each training epoch (and the validation that closes it), the level is done when
  it has had ``min_epochs_per_level`` epochs and ``monitor`` (validation exact match)
  reached ``advance_threshold``, or when it has had ``max_epochs_per_level`` epochs;
- then the next level's loaders serve the next epoch, the network keeps its weights,
  and the output vocabulary gains the units the new level's targets need
  (:meth:`GraphTransformModule.extend_vocabulary
  <lightning_modules.module.GraphTransformModule.extend_vocabulary>`: learnt rows kept,
  the optimizer follows);
- after the last level the run stops.

The level and the epochs spent on it are saved in every checkpoint (the data module's
and this callback's state), so ``--ckpt_path last`` resumes on the level, epoch and
vocabulary where the run stopped. Each epoch logs ``curriculum_level``.

Without levels the callback does nothing. With levels it needs a trainer that lets the
curriculum decide when to stop: ``trainer.max_epochs`` large enough (-1: no limit), no
``EarlyStopping`` (which would end the run at the first level that reached its
threshold), and a learning-rate schedule that does not end (``model.lr_schedule
constant``: one-cycle fixes its step count when the run starts, before anyone knows how
long each level takes). It sets ``trainer.reload_dataloaders_every_n_epochs = 1`` itself,
so that a level change reaches the loaders.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping

from lightning_modules.module import check_producible

__all__ = ["LevelSchedule"]


def _epochs(count: int) -> str:
    return f"{count} epoch" if count == 1 else f"{count} epochs"


class LevelSchedule(pl.Callback):
    """Moves the data module to its next level on a validation threshold or an epoch limit
    (module docstring).

    Args:
        advance_threshold: the score of ``monitor`` that ends a level. (default: 0.95)
        min_epochs_per_level: epochs every level gets, whatever its score. (default: 1)
        max_epochs_per_level: epochs after which a level ends, whatever its score.
            (default: 50)
        monitor: the validation metric compared with ``advance_threshold``.
            (default: ``"val_exact_match"``)
    """

    def __init__(
        self,
        advance_threshold: float = 0.95,
        min_epochs_per_level: int = 1,
        max_epochs_per_level: int = 50,
        monitor: str = "val_exact_match",
    ) -> None:
        super().__init__()
        if min_epochs_per_level < 1:
            raise ValueError(
                f"curriculum.min_epochs_per_level must be >= 1, got {min_epochs_per_level}"
            )
        if max_epochs_per_level < min_epochs_per_level:
            raise ValueError(
                f"curriculum.max_epochs_per_level ({max_epochs_per_level}) must be at least "
                f"min_epochs_per_level ({min_epochs_per_level})"
            )
        self.advance_threshold = advance_threshold
        self.min_epochs_per_level = min_epochs_per_level
        self.max_epochs_per_level = max_epochs_per_level
        self.monitor = monitor
        self.epochs_on_level = 0
        self.finished = False
        self.history: list[dict[str, Any]] = []
        self._score: float | None = None
        self._score_epoch = -1

    @staticmethod
    def _levels_data(trainer: pl.Trainer) -> Any:
        datamodule = getattr(trainer, "datamodule", None)
        return datamodule if getattr(datamodule, "levels", None) else None

    # ----------------------------------------------------------------- checks
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or self._levels_data(trainer) is None:
            return
        stoppers = [type(c).__name__ for c in trainer.callbacks if isinstance(c, EarlyStopping)]
        if stoppers:
            raise ValueError(
                f"data.levels: the trainer has {stoppers[0]}, which would end the run at the "
                "first level that reaches its threshold; the curriculum stops the run itself "
                "(set trainer.callbacks to [] or use conf/curriculum.yaml)"
            )
        # Before configure_optimizers, which cannot size a one-cycle for an open-ended run.
        if pl_module.hparams.get("lr_schedule") == "onecycle":
            raise ValueError(
                "data.levels: model.lr_schedule onecycle fixes its length when the run starts, "
                "but a level's length is decided as it trains; use model.lr_schedule constant"
            )
        # A level change must reach the loaders of the next epoch.
        trainer.reload_dataloaders_every_n_epochs = 1

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        datamodule = self._levels_data(trainer)
        if datamodule is None:
            return
        if self.finished:
            print("curriculum: every level of the checkpoint's run is trained", flush=True)
            trainer.should_stop = True
            return
        print(
            f"curriculum: levels {datamodule.levels}, on level {datamodule.current_level} "
            f"after {_epochs(self.epochs_on_level)} on it; output vocabulary "
            f"{len(pl_module.net.output_vocab)} units",
            flush=True,
        )

    # ----------------------------------------------------------------- schedule
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None:
            self._score = float(value)
            self._score_epoch = trainer.current_epoch

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        datamodule = self._levels_data(trainer)
        if datamodule is None or self.finished:
            return
        level = datamodule.current_level
        pl_module.log("curriculum_level", float(level), on_step=False, on_epoch=True)
        self.epochs_on_level += 1
        # A score counts only if this epoch validated (check_val_every_n_epoch > 1 skips).
        score = self._score if self._score_epoch == trainer.current_epoch else None
        reached = score is not None and score >= self.advance_threshold
        if self.epochs_on_level < self.min_epochs_per_level:
            return
        if not reached and self.epochs_on_level < self.max_epochs_per_level:
            return
        shown = "not validated" if score is None else f"{score:.4f}"
        why = "reached" if reached else f"max_epochs_per_level, below {self.advance_threshold}"
        self.history.append(
            {"level": level, "epochs": self.epochs_on_level, "score": score, "reached": reached}
        )
        following = datamodule.next_level
        done = f"curriculum: level {level} done after {_epochs(self.epochs_on_level)}"
        if following is None:
            self.finished = True
            trainer.should_stop = True
            print(f"{done} ({self.monitor} {shown}, {why}); every level trained", flush=True)
            return
        datamodule.set_level(following)
        self.epochs_on_level = 0
        net = pl_module.net
        check_producible(datamodule.train_pairs, net.units, net.max_children, net.input_units)
        known = set(net.output_vocab)
        new_units = [unit for unit in datamodule.output_vocab if unit not in known]
        pl_module.extend_vocabulary(new_units)
        print(
            f"{done} ({self.monitor} {shown}, {why}); level {following} next, with "
            f"{len(new_units)} new output units {new_units}",
            flush=True,
        )

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        datamodule = self._levels_data(trainer)
        if datamodule is not None and not self.finished:
            print(
                f"curriculum: stopped on level {datamodule.current_level} after "
                f"{_epochs(self.epochs_on_level)} on it (trainer.max_epochs or an interruption); "
                "resume with --ckpt_path last",
                flush=True,
            )

    # ----------------------------------------------------------------- resume
    def state_dict(self) -> dict[str, Any]:
        return {
            "epochs_on_level": self.epochs_on_level,
            "finished": self.finished,
            "history": list(self.history),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epochs_on_level = int(state_dict["epochs_on_level"])
        self.finished = bool(state_dict["finished"])
        self.history = list(state_dict["history"])
