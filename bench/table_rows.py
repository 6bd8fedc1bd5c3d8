"""The rows of the results table: what each row trains and scores on, and with which config.

``bench/results_table.py`` runs both models on these rows; ``bench/seq2seq_baseline.py``,
``bench/unseen_facts.py`` and ``bench/length_errors.py`` read the same rows, so the pairs
and held-out suites live here, apart from either model:

* string tasks: 2,000 Latin strings of 1-8 clusters (seed 0); suites as in
  :func:`pyg_grapheme.data.held_out.held_out_suites` (300 new Latin strings of 9-16
  clusters, 200 each of Greek, Cyrillic and emoji, 1-8 clusters);
* math level ``L``: 960 problems (seed 0), scored on 240 others (seed 1, none in
  training): ``conf/math_l1.yaml``'s split;
* kindergarten: all records of a kindergarten file in GRAPHEME's pairs format (see the
  data-format guide, ``docs/guides/data_formats.md``), scored on the same records
  (recall, not generalisation).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from pyg_grapheme.data import TASKS, TextPair, generate, read_jsonl, space_size
from pyg_grapheme.data.commutative_swap import swap_operands
from pyg_grapheme.data.held_out import held_out_suites
from pyg_grapheme.data.math_expressions import parse_polish, to_polish

__all__ = [
    "CONF_DIR",
    "DECODER_GROWTH",
    "MATH_SPLIT",
    "MATH_SWAP",
    "ROWS",
    "ROW_CONFIGS",
    "ROW_OPTIONS",
    "STRING_ROWS",
    "STRING_SPLIT",
    "WHOLE_ANSWER",
    "RowData",
    "add_run_math_train_option",
    "commutative_swap",
    "row_data",
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
epoch. ``bench/results/results_table.md`` gives each option's measured effect and the
command that reproduces it."""

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
        raise ValueError("the kindergarten row needs --kindergarten PATH (a GRAPHEME pairs file)")
    records = list(read_jsonl(kindergarten))
    return RowData(records, records, {f"train ({len(records)} records)": records})


def add_run_math_train_option(parser: argparse.ArgumentParser) -> None:
    """``--math-train N`` for scripts that score a results-table run's checkpoint: the run's
    training problems, since a math row's held-out draw follows its training set."""
    parser.add_argument(
        "--math-train",
        type=int,
        default=None,
        help="the run's training problems (results_table's --math-train; default 960)",
    )
