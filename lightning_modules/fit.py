"""``python -m lightning_modules.fit``: train a GraphTransformNet with LightningCLI.

With no arguments it trains on the embedded default, ``conf/default.yaml``,
which ships inside the package (``lightning_modules/conf``). A task config
overrides it (``--config conf/dedupe.yaml``), any key can be set on the
command line (``--trainer.max_epochs 5``, ``--model.net.hidden_channels 128``,
``--data.train_path pairs.jsonl --data.val_path val.jsonl``) and
``--ckpt_path last`` resumes an interrupted run from its last checkpoint, with
the same weights at the end as a run never stopped (:mod:`.training_order`).
SIGTERM or SIGINT (Ctrl-C) end a run after the current step with a checkpoint
that resumes it and exit status 143 or 130 (:mod:`.interruption`).

A curriculum trains levels in turn in one run, from a folder of level files
(``--config conf/curriculum.yaml --data.levels 1..7 --data.levels_dir DIR``; the
``--curriculum.*`` options are those of
:class:`~lightning_modules.level_schedule.LevelSchedule`), and
``--model.init_from CKPT`` starts any fit from another run's weights.

Everything a run writes goes under ``--trainer.default_root_dir`` (default
``outputs``): CSV logs in ``csv/``, TensorBoard logs in ``tensorboard/`` when
TensorBoard is installed, checkpoints in ``checkpoints/``. Bad input (a
malformed JSONL line, a missing file, an unknown task, a bad option) ends the
run with one line on stderr and exit status 2.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.utils.deterministic
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger

from lightning_modules.checkpoint_io import CheckedCheckpointIO, check_before_resume
from lightning_modules.command_line import one_line_errors, quiet_dependency_warnings
from lightning_modules.cpu_budget import CpuTimeBudget
from lightning_modules.datamodule import GraphemeDataModule
from lightning_modules.interruption import StopOnSignal
from lightning_modules.level_schedule import LevelSchedule
from lightning_modules.module import GraphTransformModule
from lightning_modules.option_checks import building, check_fit_options
from lightning_modules.report import FitReport
from lightning_modules.step_floor import StepFloor
from lightning_modules.weight_average import ExponentialWeightAverage

__all__ = ["CONF_DIR", "DEFAULT_CONFIG", "GraphemeCLI", "main"]

CONF_DIR = Path(__file__).resolve().parent / "conf"
DEFAULT_CONFIG = CONF_DIR / "default.yaml"


def _loggers(root_dir: str) -> list:
    """CSV logs under ``root_dir/csv``, plus TensorBoard under ``root_dir/tensorboard`` when
    TensorBoard is installed."""
    loggers: list = [CSVLogger(save_dir=root_dir, name="csv")]
    try:
        import tensorboard  # noqa: F401
        from lightning.pytorch.loggers import TensorBoardLogger
    except ImportError:
        return loggers
    return [*loggers, TensorBoardLogger(save_dir=root_dir, name="tensorboard")]


class GraphemeCLI(LightningCLI):
    """LightningCLI with checkpointing, the fit report, the level schedule, the CPU-time budget
    and the vocabulary link."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # Best by validation exact match, and last after every epoch. (save_last=True
        # on the monitored callback only refreshes last.ckpt when the best improves,
        # so a plateaued run would resume from a stale epoch. The last one saves at the
        # end of every training epoch, not after validation: a run that validates every
        # k-th epoch, or never, still ends with its last epoch's weights.)
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.add_lightning_class_args(ModelCheckpoint, "last_checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val_exact_match",
                "checkpoint.mode": "max",
                "checkpoint.save_last": False,
                "checkpoint.filename": "best-{epoch}-{val_exact_match:.4f}",
                "last_checkpoint.monitor": None,
                "last_checkpoint.save_top_k": 1,
                "last_checkpoint.filename": "last",
                "last_checkpoint.enable_version_counter": False,
                "last_checkpoint.save_on_train_epoch_end": True,
            }
        )
        parser.add_lightning_class_args(FitReport, "report")
        # Inert unless --data.levels is given.
        parser.add_lightning_class_args(LevelSchedule, "curriculum")
        # Inert unless --cpu_budget.seconds is given.
        parser.add_lightning_class_args(CpuTimeBudget, "cpu_budget")
        # Inert unless --step_floor.steps is given.
        parser.add_lightning_class_args(StepFloor, "step_floor")
        # Inert unless --weight_average.decay is given.
        parser.add_lightning_class_args(ExponentialWeightAverage, "weight_average")
        parser.add_argument(
            "--ckpt_path",
            type=str | None,
            default=None,
            help="Checkpoint to resume from; 'last' resumes the last checkpoint of this run dir.",
        )
        parser.add_argument(
            "--torch_threads",
            type=int | None,
            default=None,
            help=(
                "CPU threads for torch (torch.set_num_threads) before fitting; small per-batch"
                " graphs run fastest on one (README, 'Training text models')."
            ),
        )
        parser.link_arguments(
            "data.output_vocab", "model.net.init_args.output_vocab", apply_on="instantiate"
        )
        parser.link_arguments(
            "data.output_units", "model.net.init_args.output_units", apply_on="instantiate"
        )
        parser.link_arguments(
            "data.input_units", "model.net.init_args.input_units", apply_on="instantiate"
        )

    def before_instantiate_classes(self) -> None:
        """Refuse option values that cannot work before anything is built (:mod:`.option_checks`)."""
        check_fit_options(self.config)

    def instantiate_classes(self) -> None:
        """LightningCLI's, with a constructor's error about its options as bad input."""
        with building():
            super().instantiate_classes()

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The configured trainer; unless a logger is configured, logs go under its root dir."""
        if self.config_init.get("trainer.logger") in (None, True):
            root_dir = self.config_init.get("trainer.default_root_dir") or os.getcwd()
            kwargs.setdefault("logger", _loggers(root_dir))
        return super().instantiate_trainer(**kwargs)


def main(args: list[str] | None = None) -> GraphemeCLI:
    """Build the CLI, place logs and checkpoints under the root dir, fit, and return the CLI."""
    if not DEFAULT_CONFIG.is_file():
        raise FileNotFoundError(
            f"the embedded default config {DEFAULT_CONFIG} is missing: the package is installed "
            "without its conf/ folder; reinstall pyg-grapheme"
        )
    quiet_dependency_warnings()
    # SIGTERM and SIGINT stop the command cleanly from here on (lightning_modules.interruption).
    stop = StopOnSignal()
    with stop.handling_signals():
        return _fit(args, stop)


def _fit(args: list[str] | None, stop: StopOnSignal) -> GraphemeCLI:
    cli = GraphemeCLI(
        GraphTransformModule,
        GraphemeDataModule,
        run=False,
        args=args,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"default_config_files": [str(DEFAULT_CONFIG)], "exit_on_error": False},
    )
    threads = cli.config.get("torch_threads")
    if threads is not None:
        torch.set_num_threads(int(threads))
    # Atomic checkpoint writes; checked reads (a damaged --ckpt_path is one line).
    cli.trainer.strategy.checkpoint_io = CheckedCheckpointIO()
    root_dir = cli.trainer.default_root_dir
    for checkpoint in cli.trainer.checkpoint_callbacks:
        if checkpoint.dirpath is None:
            # One fixed folder per run dir, so `--ckpt_path last` finds the previous
            # run's last.ckpt even though every run logs into a new logger version.
            checkpoint.dirpath = str(Path(root_dir) / "checkpoints")
    cli.trainer.callbacks.append(stop)
    ckpt_path = cli.config.get("ckpt_path")
    check_before_resume(cli.trainer, cli.model, cli.datamodule, ckpt_path)
    with _no_nan_fill():
        cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt_path)
    return cli


@contextlib.contextmanager
def _no_nan_fill() -> Iterator[None]:
    """Within: torch's deterministic mode (``trainer.deterministic``) without its fill of
    every new tensor's memory (``torch.utils.deterministic.fill_uninitialized_memory``).

    The fill writes NaN into each tensor that ``torch.empty`` and its kin return, so that a
    read of memory never written shows; a fit never reads such memory, so its results are
    the same with or without it (bit for bit), but the fill is about 4,000 writes a
    training step of ``conf/g2p.yaml``, some 5% of its CPU time (``fill_`` under
    ``empty``, ``torch.profiler``). The setting is the process's: restored on the way out.
    """
    before = torch.utils.deterministic.fill_uninitialized_memory
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = before


if __name__ == "__main__":
    with one_line_errors("fit"):
        main()
