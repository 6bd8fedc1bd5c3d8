"""The rows of the results table: what each row trains and scores on, and with which config.

``bench/results_table.py`` runs both models on these rows; ``bench/seq2seq_baseline.py``,
``bench/unseen_facts.py`` and ``bench/length_errors.py`` read the same rows, so the pairs
and held-out suites live here, apart from either model:

* string tasks: 2,000 Latin strings of 1-8 clusters (seed 0); suites as in
  :func:`pyg_grapheme.data.held_out.held_out_suites` (300 new Latin strings of 9-16
  clusters, 200 each of Greek, Cyrillic and emoji, 1-8 clusters);
* math level ``L``: 960 problems (seed 0), of which a tenth is the development set
  (checkpoint choice, both models) and the rest trains; scored once on 240 others
  (seed 1, none among the 960);
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
    "MATH_DEV_SHARE",
    "MATH_SPLIT",
    "MATH_SWAP",
    "ROWS",
    "ROW_CONFIGS",
    "STRING_ROWS",
    "STRING_SPLIT",
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

ROWS = tuple(ROW_CONFIGS)
STRING_ROWS = ("copy", "drop_last", "dedupe", "squeeze_spaces", "double", "spaced", "strip")

STRING_SPLIT = {"n_train": 2000, "n_val": 300, "max_len": 8, "seed": 0}
"""Training pairs and development pairs (new Latin strings of up to twice the training
length: both models' checkpoint choice) of a string row: ``conf/default.yaml``'s data
settings."""
MATH_DEV_SHARE = 0.1
"""Share of a math row's training problems held out as its development set."""
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
        val: development pairs: both models' checkpoint is the one of highest exact match
            on them; never scored.
        suites: held-out suites (both models are scored on these, once).
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
        problems = generate("math", n_train, seed=split["seed"], level=level)
        seen = {p.input for p in problems}
        held_out = generate(
            "math", split["n_val"], seed=split["seed"] + 1, level=level, exclude=seen
        )
        # The development set is split off the training problems (their last tenth, in
        # the generator's random order), so the 240 held-out problems are scored once.
        dev_size = max(1, round(MATH_DEV_SHARE * len(problems)))
        train, dev = problems[:-dev_size], problems[-dev_size:]
        p = MATH_SWAP.get(level, 0.0)
        unseen = {q.input for q in held_out} | {q.input for q in dev}
        augment = commutative_swap(p, unseen) if p > 0 else None
        preset = "math" if ROW_CONFIGS[row] == "math_l1.yaml" else "string"
        return RowData(train, dev, {"held_out": held_out}, preset=preset, augment=augment)
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
