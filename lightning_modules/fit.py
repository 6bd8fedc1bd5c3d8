"""``python -m lightning_modules.fit``: train a GraphTransformNet with LightningCLI.

With no arguments it trains on the embedded default, ``conf/default.yaml``.
A task config overrides it (``--config conf/dedupe.yaml``), any key can be
set on the command line (``--trainer.max_epochs 5``, ``--data.train_path
pairs.jsonl --data.val_path val.jsonl``) and ``--ckpt_path last`` resumes an
interrupted run from its last checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger

from lightning_modules.datamodule import GraphemeDataModule
from lightning_modules.module import GraphTransformModule
from lightning_modules.report import FitReport

__all__ = ["CONF_DIR", "GraphemeCLI", "main"]

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def _add_tensorboard(trainer: Trainer) -> None:
    """Log to TensorBoard as well when it is installed and a CSV logger is on."""
    try:
        import tensorboard  # noqa: F401
        from lightning.pytorch.loggers import TensorBoardLogger
    except ImportError:
        return
    loggers = trainer.loggers
    csv = [lg for lg in loggers if isinstance(lg, CSVLogger)]
    if csv and not any(isinstance(lg, TensorBoardLogger) for lg in loggers):
        trainer.loggers = [
            *loggers,
            TensorBoardLogger(save_dir=csv[0].save_dir, name="tensorboard"),
        ]


class GraphemeCLI(LightningCLI):
    """LightningCLI with checkpointing, the fit report and the vocabulary link."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # Best by validation exact match, and last after every epoch. (save_last=True
        # on the monitored callback only refreshes last.ckpt when the best improves,
        # so a plateaued run would resume from a stale epoch.)
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
            }
        )
        parser.add_lightning_class_args(FitReport, "report")
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
                "CPU threads for torch (torch.set_num_threads) before fitting. The small"
                " per-batch graphs of these models gain nothing from intra-op threads, and"
                " on a shared CPU the threads wait for each other: measured 4 min for two"
                " math epochs with 2 threads, 7 s of CPU per epoch with 1."
            ),
        )
        parser.link_arguments("data.output_vocab", "model.output_vocab", apply_on="instantiate")


def main(args: list[str] | None = None) -> GraphemeCLI:
    """Build the CLI, fix the checkpoint folder, fit, and return the CLI."""
    cli = GraphemeCLI(
        GraphTransformModule,
        GraphemeDataModule,
        run=False,
        args=args,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"default_config_files": [str(CONF_DIR / "default.yaml")]},
    )
    threads = cli.config.get("torch_threads")
    if threads is not None:
        torch.set_num_threads(int(threads))
    _add_tensorboard(cli.trainer)
    for checkpoint in cli.trainer.checkpoint_callbacks:
        if checkpoint.dirpath is None:
            # One fixed folder per run dir, so `--ckpt_path last` finds the previous
            # run's last.ckpt even though every run logs into a new logger version.
            checkpoint.dirpath = str(Path(cli.trainer.default_root_dir) / "checkpoints")
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=cli.config.get("ckpt_path"))
    return cli


if __name__ == "__main__":
    main()
