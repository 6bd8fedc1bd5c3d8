"""The README's results table: our model and the seq2seq baseline on the same pairs.

For each row (a string task, a math level, the earlier system's kindergarten
file) both models train on the same pairs and are scored, by exact match, on
the same held-out suites:

* string tasks: 2,000 Latin strings of 1-8 clusters (seed 0); suites as in
  ``pyg_grapheme.data.held_out.held_out_suites`` (300 new Latin strings of 9-16
  clusters, 200 each of Greek, Cyrillic and emoji, 1-8 clusters);
* math level ``L``: 960 problems (seed 0), scored on 240 others (seed 1, none in
  training): ``conf/math_l1.yaml``'s split;
* kindergarten: all records of ``--kindergarten PATH`` (the earlier system's file,
  not redistributed), scored on the same records (recall, not generalisation).

Our model trains through ``lightning_modules.fit.main`` with the row's config
(:data:`ROW_CONFIGS`) and the pairs written as JSONL to a temporary folder; it
is scored at its *last* checkpoint (chosen by nothing, like the baseline).
Training time is CPU seconds (``time.process_time``, one torch thread) of the
training epochs only, validation passes excluded.

Budget rule (``--budget``): ``same-cpu`` (default) gives the baseline the CPU
seconds our model used on that row; ``same-epochs`` gives it as many epochs.
``--baseline-epochs`` / ``--baseline-cpu-seconds`` fix its budget instead
(required with ``--models baseline``, where our model does not run).

    python bench/results_table.py --out results.md
    python bench/results_table.py --rows copy,math_l1 --json results.json
    python bench/results_table.py --rows copy --models baseline --baseline-cpu-seconds 60
    python bench/results_table.py --rows math_l6 --ours-options "--model.weight_decay 1.0"
    python bench/results_table.py --rows math_l5 --models ours --ours-options "--model.alignment
        lcs --model.net.max_children 40 --model.objective.init_args.count_weight 1"  # a variant
    python bench/results_table.py --rows math_l3 --math-train 4800 --epochs 80
    python bench/results_table.py --rows math_l1 --epochs 640 --no-row-options  # config only
    python bench/results_table.py --quick          # tiny budgets: a smoke test
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Run as a script, this module is __main__; the CLI imports the clock below by its
# dotted name, which must resolve to this module, not to a second copy.
if __name__ == "__main__":
    sys.modules.setdefault("bench.results_table", sys.modules["__main__"])

from bench.seq2seq_baseline import PRESETS, BaselineConfig, train_and_evaluate
from pyg_grapheme.data import TASKS, TextPair, generate, read_jsonl, space_size
from pyg_grapheme.data.commutative_swap import swap_operands
from pyg_grapheme.data.held_out import held_out_suites
from pyg_grapheme.data.math_expressions import parse_polish, to_polish
from pyg_grapheme.metrics import exact_match

__all__ = [
    "CONF_DIR",
    "DECODER_GROWTH",
    "MATH_SPLIT",
    "ROWS",
    "ROW_CONFIGS",
    "ROW_OPTIONS",
    "STRING_SPLIT",
    "WHOLE_ANSWER",
    "RowData",
    "RowResult",
    "TrainingCpuClock",
    "add_run_math_train_option",
    "held_out_suites",
    "markdown_table",
    "row_data",
    "run_row",
]

CONF_DIR = Path(__file__).resolve().parent.parent / "lightning_modules" / "conf"

ROW_CONFIGS: dict[str, str] = {
    "copy": "copy.yaml",
    "drop_last": "drop_last.yaml",
    "dedupe": "dedupe.yaml",
    "squeeze_spaces": "squeeze_spaces.yaml",
    "double": "pairs.yaml",
    "spaced": "pairs.yaml",
    "strip": "pairs.yaml",
    # Every level uses the arithmetic config (width, depth, weight decay, no digit
    # augmentation); only the data differ.
    **{f"math_l{level}": "math_l1.yaml" for level in range(1, 8)},
    "kindergarten": "pairs.yaml",
}
"""Config (in ``conf/``) our model trains each row with; rows without their own use the
generic ``pairs.yaml``."""

DECODER_GROWTH = ["--model.net.growth", "decoder", "--model.net.post_growth_layers", "0"]
"""Fit options that hand every length decision to the output decoder (transducer growth)."""

WHOLE_ANSWER = [
    "--model.net.decoder_layers",
    "2",
    "--model.alignment",
    "whole",
    "--model.net.max_children",
    "80",
    *DECODER_GROWTH,
    "--model.objective.init_args.count_weight",
    "0",
    "--model.weight_decay",
    "0.1",
    "--trainer.check_val_every_n_epoch",
    "40",
]
"""Fit options of the math rows whose answer is not a local rewrite of the input:
derivatives and integrals (levels 5 and 6) reorder and repeat subtrees of their input, and
a product's leading digits (level 1) or a linear equation's solution (level 7) depend on
all of it. Each answer is written whole from one node: the "whole" alignment merges the
input into one node, which grows by a two-layer output decoder (up to 80 graphemes) whose
pointer copies from any input node. The decoder ends the answer, so the count head is not
read and its loss is dropped. Weight decay 0.1 replaces the arithmetic config's 1.0, which
held these larger models back. Validation, which only feeds the logs, runs every 40th
epoch. The README gives each option's measured effect and the command that reproduces it."""

ROW_OPTIONS: dict[str, list[str]] = {
    "math_l1": WHOLE_ANSWER,
    "math_l5": WHOLE_ANSWER,
    "math_l6": WHOLE_ANSWER,
    "math_l7": WHOLE_ANSWER,
}
"""Command-line options our model gets on top of its row's config."""

ROWS = tuple(ROW_CONFIGS)
STRING_ROWS = ("copy", "drop_last", "dedupe", "squeeze_spaces", "double", "spaced", "strip")

STRING_SPLIT = {"n_train": 2000, "n_val": 300, "max_len": 8, "seed": 0}
"""Training pairs and our model's validation pairs (for its logs only) of a string row:
``conf/default.yaml``'s data settings."""
MATH_SPLIT = {"n_train": 960, "n_val": 240, "seed": 0}
"""``conf/math_l1.yaml``'s split, used for every math level."""
MATH_SWAP: dict[int, float] = {1: 0.5}
"""``data.swap_commutative`` of the math rows' configs (math_l1.yaml: 0.5; pairs.yaml: 0)."""


def commutative_swap(p: float, exclude: set[str], seed: int = 0) -> Callable[[TextPair], TextPair]:
    """The operand swap of our math config (``CommutativeSwapDataset``) for the baseline:
    each ``+``/``*`` of a drawn training input swapped with probability ``p``, unless the
    result is an ``exclude``d (held-out) input."""
    generator = torch.Generator().manual_seed(seed)

    def swap(pair: TextPair) -> TextPair:
        try:
            expression = parse_polish(pair.input)
        except ValueError:
            return pair
        text = to_polish(swap_operands(expression, generator, p))
        return pair if text in exclude else TextPair(text, pair.target, pair.meta)

    return swap


@dataclass
class RowData:
    """What one row trains and scores on.

    Attributes:
        train: training pairs (both models).
        val: our model's validation pairs (its logs and best checkpoint; not scored).
        suites: held-out suites (both models are scored on these).
        preset: the baseline's size (:data:`~bench.seq2seq_baseline.PRESETS`).
        augment: the training-input rewrite of the row's config, for the baseline too.
    """

    train: list[TextPair]
    val: list[TextPair]
    suites: dict[str, list[TextPair]]
    preset: str = "string"
    augment: Callable[[TextPair], TextPair] | None = None


def row_data(
    row: str, *, kindergarten: str | None = None, math_train: int | None = None
) -> RowData:
    """Pairs and suites of ``row`` (see the module docstring).

    ``math_train`` replaces the math rows' 960 training problems; the 240 held-out
    problems are always seed 1's draw of problems not in training, so they change with
    the training set.

    Raises ``ValueError`` for an unknown row, a task or level the generators do not
    have (yet), a level whose space cannot hold ``math_train`` problems besides the
    held-out ones, or a kindergarten row without ``kindergarten``.
    """
    if row not in ROW_CONFIGS:
        raise ValueError(f"unknown row {row!r}; rows are {', '.join(ROWS)}")
    if row in STRING_ROWS:
        if row not in TASKS:
            raise ValueError(f"task {row!r} is not in pyg_grapheme.data.TASKS yet")
        split = STRING_SPLIT
        train = generate(row, split["n_train"], seed=split["seed"], max_len=split["max_len"])
        seen = {p.input for p in train}
        val = generate(
            row,
            split["n_val"],
            seed=split["seed"] + 1,
            max_len=2 * split["max_len"],
            exclude=seen,
        )
        return RowData(train, val, held_out_suites(row, seen, split["max_len"]))
    if row.startswith("math_l"):
        level = int(row.removeprefix("math_l"))
        split = MATH_SPLIT
        n_train = split["n_train"] if math_train is None else math_train
        space = space_size("math", level=level)
        if not 0 < n_train <= space - split["n_val"]:
            raise ValueError(
                f"math level {level} has {space} problems: it can train on 1 to "
                f"{space - split['n_val']} of them besides the {split['n_val']} held out, "
                f"not {n_train}"
            )
        train = generate("math", n_train, seed=split["seed"], level=level)
        seen = {p.input for p in train}
        val = generate("math", split["n_val"], seed=split["seed"] + 1, level=level, exclude=seen)
        p = MATH_SWAP.get(level, 0.0)
        augment = commutative_swap(p, {q.input for q in val}) if p > 0 else None
        preset = "math" if ROW_CONFIGS[row] == "math_l1.yaml" else "string"
        return RowData(train, val, {"held_out": val}, preset=preset, augment=augment)
    if kindergarten is None:
        raise ValueError("the kindergarten row needs --kindergarten PATH (the earlier file)")
    records = list(read_jsonl(kindergarten))
    return RowData(records, records, {f"train ({len(records)} records)": records})


# --------------------------------------------------------------------------- our model
class TrainingCpuClock(pl.Callback):
    """CPU seconds (``time.process_time``) of the training epochs, validation excluded.

    Validation at the end of an epoch runs before ``on_train_epoch_end``, so its
    time is measured on its own and taken off.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0
        self.epochs = 0
        self._epoch_start = 0.0
        self._validation_start = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = time.process_time()

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._validation_start = time.process_time()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._epoch_start += time.process_time() - self._validation_start

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seconds += time.process_time() - self._epoch_start
        self.epochs += 1


def _write_jsonl(path: Path, pairs: Sequence[TextPair]) -> None:
    path.write_text(
        "".join(json.dumps({"input": p.input, "target": p.target}) + "\n" for p in pairs),
        encoding="utf-8",
    )


def run_ours(
    data: RowData,
    config: Path,
    *,
    epochs: int | None = None,
    quick: bool = False,
    options: Sequence[str] = (),
) -> dict[str, Any]:
    """Fit our model with ``config`` on ``data.train`` and score its last checkpoint."""
    from lightning_modules.fit import main
    from lightning_modules.module import GraphTransformModule
    from lightning_modules.report import checkpoint_paths

    folder = Path(tempfile.mkdtemp(prefix="results-table-"))
    _write_jsonl(folder / "train.jsonl", data.train)
    _write_jsonl(folder / "val.jsonl", data.val)
    args = [
        "--config",
        str(config),
        "--data.train_path",
        str(folder / "train.jsonl"),
        "--data.val_path",
        str(folder / "val.jsonl"),
        "--trainer.default_root_dir",
        str(folder / "outputs"),
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--trainer.callbacks+=bench.results_table.TrainingCpuClock",
    ]
    args += list(options)
    if epochs is not None:
        args += ["--trainer.max_epochs", str(epochs)]
    if quick:
        args += [
            "--trainer.max_epochs",
            "1",
            "--trainer.limit_train_batches",
            "3",
            "--trainer.limit_val_batches",
            "1",
            "--trainer.num_sanity_val_steps",
            "0",
        ]
    argv, sys.argv = sys.argv, sys.argv[:1]  # this script's options are not the fit CLI's
    try:
        cli = main(args)
    finally:
        sys.argv = argv
    (clock,) = [c for c in cli.trainer.callbacks if type(c).__name__ == "TrainingCpuClock"]
    _, last = checkpoint_paths(cli.trainer)
    net = GraphTransformModule.load_from_checkpoint(last, map_location="cpu").net
    net.eval()
    scores = {
        name: exact_match(net.transform_text([p.input for p in pairs]), [p.target for p in pairs])
        for name, pairs in data.suites.items()
    }
    return {
        "exact_match": scores,
        "train_cpu_seconds": clock.seconds,
        "epochs": clock.epochs,
        "parameters": sum(p.numel() for p in net.parameters()),
        "run_dir": str(folder),
    }


# --------------------------------------------------------------------------- rows
@dataclass
class RowResult:
    """Both models' results on one row (``None`` where a model did not run)."""

    row: str
    config: str
    suites: dict[str, int] = field(default_factory=dict)
    ours: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def add_run_math_train_option(parser: argparse.ArgumentParser) -> None:
    """``--math-train N`` for scripts that score a results-table run's checkpoint: the run's
    training problems, since a math row's held-out draw follows its training set."""
    parser.add_argument(
        "--math-train",
        type=int,
        default=None,
        help="the run's training problems (results_table's --math-train; default 960)",
    )


def run_row(
    row: str,
    *,
    models: Sequence[str] = ("ours", "baseline"),
    budget: str = "same-cpu",
    epochs: int | None = None,
    baseline_epochs: int | None = None,
    baseline_cpu_seconds: float | None = None,
    baseline_config: BaselineConfig | None = None,
    quick: bool = False,
    kindergarten: str | None = None,
    seed: int = 0,
    options: Sequence[str] = (),
    math_train: int | None = None,
    row_options: bool = True,
) -> RowResult:
    """Train and score the models of one row; a row that cannot run says why in ``notes``.

    Args:
        row: a key of :data:`ROW_CONFIGS`.
        models: ``"ours"`` and/or ``"baseline"``.
        budget: ``"same-cpu"`` or ``"same-epochs"``: the baseline's budget from our run.
        epochs: our model's epochs (default: its config's).
        baseline_epochs, baseline_cpu_seconds: a fixed budget for the baseline instead.
        baseline_config: the baseline's settings (default: the row's preset).
        quick: tiny budgets (one short epoch of ours; one epoch of the baseline unless fixed).
        kindergarten: the earlier system's kindergarten file (the ``kindergarten`` row).
        seed: the baseline's seed.
        options: fit options for our model after the row's own (:data:`ROW_OPTIONS`).
        math_train: training problems of a math row (default 960; see :func:`row_data`).
        row_options: give our model the row's :data:`ROW_OPTIONS`; without them it trains
            with the row's config alone (as every row did before they existed).
    """
    if budget not in ("same-cpu", "same-epochs"):
        raise ValueError(f"budget must be 'same-cpu' or 'same-epochs', got {budget!r}")
    unknown = set(models) - {"ours", "baseline"}
    if unknown or not models:
        raise ValueError(f"models must be 'ours' and/or 'baseline', got {list(models)}")
    config_name = ROW_CONFIGS.get(row, "?")
    result = RowResult(row=row, config=config_name)
    try:
        data = row_data(row, kindergarten=kindergarten, math_train=math_train)
    except (OSError, ValueError) as error:
        result.notes.append(f"not run: {error}")
        return result
    result.suites = {name: len(pairs) for name, pairs in data.suites.items()}
    if "ours" in models:
        config = CONF_DIR / config_name
        if not config.is_file():
            result.notes.append(f"our model not run: conf/{config_name} does not exist yet")
        else:
            try:
                result.ours = run_ours(
                    data,
                    config,
                    epochs=epochs,
                    quick=quick,
                    options=[*(ROW_OPTIONS.get(row, ()) if row_options else ()), *options],
                )
            except Exception as error:  # one failing row must not lose the others
                traceback.print_exc()
                result.notes.append(f"our model failed: {type(error).__name__}: {error}")
    if "baseline" in models:
        fixed = {"epochs": baseline_epochs, "cpu_seconds": baseline_cpu_seconds}
        if baseline_epochs is None and baseline_cpu_seconds is None:
            if result.ours is not None and budget == "same-cpu":
                fixed["cpu_seconds"] = result.ours["train_cpu_seconds"]
            elif result.ours is not None:
                fixed["epochs"] = result.ours["epochs"]
            elif quick:
                fixed["epochs"] = 1
            else:
                result.notes.append(
                    "baseline not run: no budget (our model did not run; give "
                    "--baseline-epochs or --baseline-cpu-seconds)"
                )
                return result
        result.baseline = train_and_evaluate(
            data.train,
            data.suites,
            **fixed,
            seed=seed,
            config=baseline_config or PRESETS[data.preset],
            augment=data.augment,
        )
        for name, share in result.baseline["unknown_fraction"].items():
            if share > 0:
                result.notes.append(
                    f"{name}: {share:.0%} of the pairs hold graphemes outside the baseline's "
                    "vocabulary (<unk>; it cannot emit them)"
                )
    if result.ours is not None and result.baseline is not None:
        for name in result.suites:
            ours, theirs = result.ours["exact_match"][name], result.baseline["exact_match"][name]
            if ours < theirs:
                result.notes.append(f"{name}: our model is below the baseline")
    return result


def _score(model: dict[str, Any] | None, suite: str) -> str:
    return "—" if model is None else f"{model['exact_match'][suite]:.3f}"


def markdown_table(results: Sequence[RowResult]) -> str:
    """One line per (row, suite): exact match of both models; training CPU seconds, epochs
    and parameter counts on the row's first line; notes under the table."""
    lines = [
        "| row | config | held-out suite | pairs | ours | baseline | ours CPU s (epochs) "
        "| baseline CPU s (epochs) | parameters ours / baseline |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    notes: list[str] = []
    for r in results:
        if not r.suites:
            lines.append(f"| {r.row} | {r.config} | — | | — | — | | | |")
        for k, (suite, count) in enumerate(r.suites.items()):
            cost = ["", "", ""]
            if k == 0:
                for i, model in enumerate((r.ours, r.baseline)):
                    if model is not None:
                        cost[i] = f"{model['train_cpu_seconds']:.1f} ({model['epochs']:.1f})"
                params = [str(m["parameters"]) if m else "—" for m in (r.ours, r.baseline)]
                cost[2] = " / ".join(params)
            lines.append(
                f"| {r.row} | {r.config} | {suite} | {count} | {_score(r.ours, suite)} "
                f"| {_score(r.baseline, suite)} | {cost[0]} | {cost[1]} | {cost[2]} |"
            )
        notes += [f"- {r.row}: {note}" for note in r.notes]
    return "\n".join(lines + (["", *notes] if notes else [])) + "\n"


# --------------------------------------------------------------------------- command line
class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> list[RowResult]:
    parser = _OneLineParser(prog="results_table", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", help="comma-separated rows (default: all; kindergarten when its file is given)"
    )
    parser.add_argument("--models", default="ours,baseline")
    parser.add_argument("--budget", choices=("same-cpu", "same-epochs"), default="same-cpu")
    parser.add_argument("--epochs", type=int, help="our model's epochs (default: its config's)")
    parser.add_argument("--baseline-epochs", type=int)
    parser.add_argument("--baseline-cpu-seconds", type=float)
    parser.add_argument("--kindergarten", help="the earlier system's kindergarten JSONL file")
    parser.add_argument("--quick", action="store_true", help="tiny budgets (a smoke test)")
    parser.add_argument("--seed", type=int, default=0, help="the baseline's seed")
    parser.add_argument(
        "--ours-options",
        default="",
        help="fit options for our model, after each row's own, as one string "
        '(e.g. "--model.net.decoder_layers 3")',
    )
    parser.add_argument(
        "--no-row-options",
        action="store_true",
        help="train our model with each row's config alone, without the row's ROW_OPTIONS",
    )
    parser.add_argument(
        "--math-train",
        type=int,
        help="training problems of the math rows (default 960; both models train on them)",
    )
    parser.add_argument("--out", help="write the markdown table here too")
    parser.add_argument("--json", help="write every figure here as JSON")
    args = parser.parse_args(argv)
    if args.rows is None:
        rows = [r for r in ROWS if r != "kindergarten" or args.kindergarten is not None]
    else:
        rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    bad = [r for r in rows if r not in ROW_CONFIGS]
    if bad:
        parser.error(f"unknown rows {bad}; rows are {', '.join(ROWS)}")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models or set(models) - {"ours", "baseline"}:
        parser.error(f"--models must list 'ours' and/or 'baseline', got {args.models!r}")
    if args.baseline_epochs is not None and args.baseline_cpu_seconds is not None:
        parser.error("give at most one of --baseline-epochs and --baseline-cpu-seconds")
    try:
        ours_options = shlex.split(args.ours_options)
    except ValueError as error:
        parser.error(f"--ours-options: {error}")
    torch.set_num_threads(1)  # CPU seconds are compared: one thread for both models
    results = []
    for row in rows:
        results.append(
            run_row(
                row,
                models=models,
                budget=args.budget,
                epochs=args.epochs,
                baseline_epochs=args.baseline_epochs,
                baseline_cpu_seconds=args.baseline_cpu_seconds,
                quick=args.quick,
                kindergarten=args.kindergarten,
                seed=args.seed,
                options=ours_options,
                math_train=args.math_train,
                row_options=not args.no_row_options,
            )
        )
        print(markdown_table(results[-1:]), flush=True)
    table = markdown_table(results)
    print(table)
    if args.out:
        Path(args.out).write_text(table, encoding="utf-8")
    if args.json:
        Path(args.json).write_text(
            json.dumps([r.__dict__ for r in results], indent=1, default=str), encoding="utf-8"
        )
    return results


if __name__ == "__main__":
    main()
