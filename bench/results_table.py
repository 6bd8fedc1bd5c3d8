"""The results table: our model and the seq2seq baseline on the same pairs.

For each row (a string task, a math level, a kindergarten file; see
:mod:`bench.table_rows`) both models train on the same pairs and are scored, by exact
match, on the same held-out suites.

Our model trains through ``lightning_modules.fit.main`` with the row's config
(:data:`~bench.table_rows.ROW_CONFIGS`) and the pairs written as JSONL to a temporary
folder (the row's development pairs as its validation file, its held-out suites as its
test file, which the fit never reads but keeps out of its augmentation); it is scored at
its *best* checkpoint on the development pairs. The baseline keeps its weights of best
development exact match the same way. Training time is CPU seconds
(``time.process_time``, one torch thread) of the training epochs only, validation passes
excluded (:class:`~bench.training_clock.TrainingCpuClock`).

Budget rule (``--budget``): ``same-cpu`` (default) gives the baseline the CPU
seconds our model used on that row; ``same-epochs`` gives it as many epochs.
``--baseline-epochs`` / ``--baseline-cpu-seconds`` fix its budget instead
(required with ``--models baseline``, where our model does not run).

    python bench/results_table.py --out results.md
    python bench/results_table.py --rows copy,math_l1 --json results.json
    python bench/results_table.py --rows copy --models baseline --baseline-cpu-seconds 60
    python bench/results_table.py --rows math_l6 --ours-options "--model.weight_decay 1.0"
    python bench/results_table.py --rows math_l3 --math-train 4800 --epochs 80
    python bench/results_table.py --quick          # tiny budgets: a smoke test
"""

from __future__ import annotations

import json
import shlex
import sys
import tempfile
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench.command_line import OneLineParser
from bench.seq2seq_baseline import PRESETS, BaselineConfig, train_and_evaluate
from bench.table_rows import CONF_DIR, ROW_CONFIGS, ROWS, RowData, row_data
from bench.training_clock import TrainingCpuClock
from pyg_grapheme.data import TextPair
from pyg_grapheme.metrics import exact_match

__all__ = ["RowResult", "main", "markdown_table", "run_ours", "run_row"]


# --------------------------------------------------------------------------- our model
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
    """Fit our model with ``config`` on ``data.train`` and score its best checkpoint on
    ``data.val`` (the last one when the run never validated)."""
    from lightning_modules.fit import main
    from lightning_modules.module import GraphTransformModule
    from lightning_modules.report import checkpoint_paths

    folder = Path(tempfile.mkdtemp(prefix="results-table-"))
    _write_jsonl(folder / "train.jsonl", data.train)
    _write_jsonl(folder / "val.jsonl", data.val)
    _write_jsonl(folder / "test.jsonl", [p for pairs in data.suites.values() for p in pairs])
    args = [
        "--config",
        str(config),
        "--data.train_path",
        str(folder / "train.jsonl"),
        "--data.val_path",
        str(folder / "val.jsonl"),
        "--data.test_path",
        str(folder / "test.jsonl"),
        "--trainer.default_root_dir",
        str(folder / "outputs"),
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--trainer.callbacks+=bench.training_clock.TrainingCpuClock",
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
    (clock,) = [c for c in cli.trainer.callbacks if isinstance(c, TrainingCpuClock)]
    best, last = checkpoint_paths(cli.trainer)
    net = GraphTransformModule.load_from_checkpoint(best or last, map_location="cpu").net
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
) -> RowResult:
    """Train and score the models of one row; a row that cannot run says why in ``notes``.

    Args:
        row: a key of :data:`~bench.table_rows.ROW_CONFIGS`.
        models: ``"ours"`` and/or ``"baseline"``.
        budget: ``"same-cpu"`` or ``"same-epochs"``: the baseline's budget from our run.
        epochs: our model's epochs (default: its config's).
        baseline_epochs, baseline_cpu_seconds: a fixed budget for the baseline instead.
        baseline_config: the baseline's settings (default: the row's preset).
        quick: tiny budgets (one short epoch of ours; one epoch of the baseline unless fixed).
        kindergarten: a kindergarten file in GRAPHEME's pairs format (the
            ``kindergarten`` row).
        seed: the baseline's seed.
        options: fit options for our model after the row's config.
        math_train: training problems of a math row (default 960; see :func:`row_data`).
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
                    options=list(options),
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
            select_on=data.val,
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
def main(argv: Sequence[str] | None = None) -> list[RowResult]:
    parser = OneLineParser(prog="results_table", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", help="comma-separated rows (default: all; kindergarten when its file is given)"
    )
    parser.add_argument("--models", default="ours,baseline")
    parser.add_argument("--budget", choices=("same-cpu", "same-epochs"), default="same-cpu")
    parser.add_argument("--epochs", type=int, help="our model's epochs (default: its config's)")
    parser.add_argument("--baseline-epochs", type=int)
    parser.add_argument("--baseline-cpu-seconds", type=float)
    parser.add_argument(
        "--kindergarten", help="a kindergarten JSONL file (GRAPHEME's pairs format)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny budgets (a smoke test)")
    parser.add_argument("--seed", type=int, default=0, help="the baseline's seed")
    parser.add_argument(
        "--ours-options",
        default="",
        help="fit options for our model, after each row's config, as one string "
        '(e.g. "--model.net.init_args.hidden_channels 64")',
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
