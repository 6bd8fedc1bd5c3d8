"""Does level k start better from level k-1's weights than from scratch?

For each level ``k`` of ``--levels`` (a folder written by ``python -m
pyg_grapheme.data.generate --all-levels --out DIR``), two runs train ``--epochs``
epochs on ``level_k_train.jsonl`` and are scored on ``level_k_val.jsonl``:

- **scratch**: a network initialised from the seed;
- **warm**: the same network, seed and data, started from the weights the scratch run
  of level ``k - 1`` ended with (``GraphTransformModule(init_from=...)``, the
  ``--model.init_from`` of the fit command: tensors by name, output units one by one;
  units new at level ``k`` get the rows the scratch run starts with).

Both runs of a level draw the same batches in the same order. The first level has no
warm run. Reported for each run: validation exact match, character error rate and loss
(the transducer's :math:`-\\log p(y \\mid x)` per written unit, ends included, plus the
merge term) before training (epoch 0) and after each epoch, and the CPU seconds the run
took. The table is printed in Markdown; ``--json`` also writes every epoch's figures.
``--train-pairs N`` trains on the first ``N`` pairs of each level's training file (a
random sample: the generator writes them in random order); validation always uses the
whole file. The results and their command are in ``bench/results/curriculum.md``.

    python bench/curriculum.py --levels-dir levels/ --levels 1..4
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
import torch

# This checkout's packages, not an installed copy, when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lightning_modules.command_line import (
    one_line_errors,
    quiet_dependency_warnings,
)
from lightning_modules.datamodule import GraphemeDataModule
from lightning_modules.module import GraphTransformModule
from pyg_grapheme.data.level_folder import level_files, parse_levels
from pyg_grapheme.models import GraphTransformNet, TransducerGrowth

METRICS = ("val_exact_match", "val_cer", "val_loss")


class _Scores(pl.Callback):
    """The validation figures of every epoch that validated (sanity checks excluded)."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        self.epochs.append({name: float(metrics[name]) for name in METRICS if name in metrics})


def _net(args: argparse.Namespace, data: GraphemeDataModule) -> GraphTransformNet:
    return GraphTransformNet(
        hidden_channels=args.hidden,
        num_layers=args.layers,
        heads=4,
        attention_layers=1,
        gated_feedforward=True,
        run_features=True,
        dropout=0.1,
        growth=TransducerGrowth(max_children=16),
        output_vocab=data.output_vocab,
        output_units=data.output_units,
        input_units=data.input_units,
    )


def train_level(
    args: argparse.Namespace, level: int, init_from: Path | None, checkpoint: Path
) -> dict:
    """One run on ``level``: figures per epoch (epoch 0 before training), CPU seconds; its
    last weights are saved to ``checkpoint``."""
    files = level_files(args.levels_dir, level)
    if files.train is None:
        raise FileNotFoundError(f"level {level}: the bench needs level_{level}_train/val.jsonl")
    train_path = files.train
    if args.train_pairs is not None:
        # The generated files are in random order: their first lines are a random sample.
        train_path = checkpoint.with_name(f"level_{level}_train_head.jsonl")
        with open(files.train, encoding="utf-8") as source:
            train_path.write_text("".join(source.readlines()[: args.train_pairs]))
    pl.seed_everything(args.seed, verbose=False)
    data = GraphemeDataModule(
        train_path=str(train_path), val_path=str(files.val), batch_size=args.batch_size,
        target_units="graphemes", seed=args.seed,
    )  # fmt: skip
    module = GraphTransformModule(
        _net(args, data), lr=args.lr, weight_decay=0.01, lr_schedule="constant", augment=0.0,
        init_from=None if init_from is None else str(init_from),
    )  # fmt: skip
    scores = _Scores()
    trainer = pl.Trainer(
        max_epochs=args.epochs, accelerator="cpu", devices=1, deterministic=True,
        gradient_clip_val=1.0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        callbacks=[scores],
        # validate() and fit() share the module's metrics; inference tensors would stay.
        inference_mode=False,
    )  # fmt: skip
    start = time.process_time()
    trainer.validate(module, datamodule=data, verbose=False)
    trainer.fit(module, datamodule=data)
    cpu = time.process_time() - start
    trainer.save_checkpoint(checkpoint)
    return {"level": level, "epochs": scores.epochs, "cpu_s": cpu, "vocab": len(data.output_vocab)}


def _cell(run: dict, epoch: int, name: str) -> str:
    return f"{run['epochs'][epoch][name]:.3f}"


def table(runs: dict[tuple[int, str], dict], levels: list[int], epochs: int) -> str:
    """The Markdown table: per level and start, the validation loss before training, after
    one epoch and after the last, then the last epoch's CER and exact match."""
    head = [
        "level", "start", "loss@0", "loss@1", f"loss@{epochs}", f"CER@{epochs}",
        f"EM@{epochs}", "CPU s",
    ]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for level in levels:
        for start in ("scratch", "warm"):
            run = runs.get((level, start))
            if run is None:
                continue
            label = start if start == "scratch" else f"level {levels[levels.index(level) - 1]}"
            cells = [
                str(level), label, _cell(run, 0, "val_loss"), _cell(run, 1, "val_loss"),
                _cell(run, epochs, "val_loss"), _cell(run, epochs, "val_cer"),
                _cell(run, epochs, "val_exact_match"), f"{run['cpu_s']:.0f}",
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels-dir", required=True, type=Path)
    parser.add_argument("--levels", default="1..4", help="levels in order (1..4, 1,3,5)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument(
        "--train-pairs", type=int, help="train on the first N pairs of each level (all: unset)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write every epoch's figures here")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    levels = parse_levels(args.levels)
    torch.set_num_threads(args.threads)
    quiet_dependency_warnings()
    runs: dict[tuple[int, str], dict] = {}
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        for k, level in enumerate(levels):
            scratch = folder / f"level_{level}_scratch.ckpt"
            # stdout is for the table alone; what the runs print goes to stderr.
            with contextlib.redirect_stdout(sys.stderr):
                runs[level, "scratch"] = train_level(args, level, None, scratch)
                if k > 0:
                    previous = folder / f"level_{levels[k - 1]}_scratch.ckpt"
                    warm = folder / "warm.ckpt"
                    runs[level, "warm"] = train_level(args, level, previous, warm)
            for start in ("scratch", "warm"):
                if (level, start) in runs:
                    run = runs[level, start]
                    last = run["epochs"][-1]
                    print(
                        f"level {level} {start}: EM {last['val_exact_match']:.3f} "
                        f"CER {last['val_cer']:.3f} after {args.epochs} epochs, "
                        f"{run['cpu_s']:.0f} CPU s",
                        file=sys.stderr, flush=True,
                    )  # fmt: skip
    print(table(runs, levels, args.epochs))
    if args.json is not None:
        options = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        rows = [{"start": start, **run} for (_, start), run in sorted(runs.items())]
        args.json.write_text(json.dumps({"args": options, "runs": rows}, indent=1))


if __name__ == "__main__":
    with one_line_errors("curriculum"):
        main()
