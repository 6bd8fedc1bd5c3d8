r"""A folder of curriculum levels, laid out as GRAPHEME's ``train`` command read it.

For each level ``N`` the folder holds either

- ``level_N_train.jsonl`` and ``level_N_val.jsonl`` (what ``python -m
  pyg_grapheme.data.generate --all-levels --out DIR`` writes, together with
  ``level_N_test.jsonl``, which training never reads), or
- one ``level_N.jsonl``, from which :func:`hold_out` keeps a validation share.

The files are any format :func:`~pyg_grapheme.data.read_jsonl` reads (GRAPHEME's
math records, pairs, ...). :func:`parse_levels` reads the level list a user types
(``"1..7"``, ``"1,3,5"``, ``"4"``); the levels are trained in that order.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pyg_grapheme.data.text_pair import TextPair

__all__ = ["LevelFiles", "hold_out", "level_files", "parse_levels"]

_RANGE = re.compile(r"^\s*(\d+)\s*\.\.\s*(\d+)\s*$")


def parse_levels(spec: str | int | Sequence[int]) -> list[int]:
    """The levels of ``spec``, in order: ``"1..7"`` (a range, both ends included),
    ``"1,3,5"`` (a list), ``"4"`` or ``4`` (one level), or a sequence of ints.

    Raises:
        ValueError: an empty or malformed spec, a level below 1, a range whose end comes
            before its start, or a level named twice.
    """
    if isinstance(spec, bool):
        raise ValueError(f"data.levels must be levels like 1..7 or 1,3,5, got {spec!r}")
    if isinstance(spec, int):
        levels = [spec]
    elif isinstance(spec, str):
        match = _RANGE.match(spec)
        if match is not None:
            start, end = int(match.group(1)), int(match.group(2))
            if end < start:
                raise ValueError(f"data.levels {spec!r}: the range ends before it starts")
            levels = list(range(start, end + 1))
        else:
            parts = [part.strip() for part in spec.split(",")]
            if not spec.strip() or not all(part.isdigit() for part in parts):
                raise ValueError(
                    f"data.levels must be a range like 1..7 or a list like 1,3,5, got {spec!r}"
                )
            levels = [int(part) for part in parts]
    else:
        levels = list(spec)
        if not levels or not all(isinstance(v, int) and not isinstance(v, bool) for v in levels):
            raise ValueError(f"data.levels must be a non-empty list of integers, got {spec!r}")
    if min(levels) < 1:
        raise ValueError(f"data.levels: levels count from 1, got {spec!r}")
    repeated = sorted({v for v in levels if levels.count(v) > 1})
    if repeated:
        raise ValueError(f"data.levels names level {repeated[0]} twice: {spec!r}")
    return levels


@dataclass(frozen=True)
class LevelFiles:
    """Where one level's pairs are: ``train`` and ``val`` files, or one ``whole`` file.

    Attributes:
        level: the level number.
        train, val: ``level_N_train.jsonl`` and ``level_N_val.jsonl``, or ``None``.
        whole: ``level_N.jsonl`` when there is no train/val pair, else ``None``.
    """

    level: int
    train: Path | None
    val: Path | None
    whole: Path | None


def level_files(folder: str | Path, level: int) -> LevelFiles:
    """The files of ``level`` in ``folder`` (module docstring); the train/val pair wins
    over a ``level_N.jsonl`` beside it.

    Raises:
        FileNotFoundError: a missing folder, a train file without its validation file (or
            the reverse), or a level with no file at all; the message names the files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"data.levels_dir {str(folder)!r} is not a folder")
    train = folder / f"level_{level}_train.jsonl"
    val = folder / f"level_{level}_val.jsonl"
    whole = folder / f"level_{level}.jsonl"
    if train.is_file() and val.is_file():
        return LevelFiles(level, train, val, None)
    if train.is_file() or val.is_file():
        have, lack = (train, val) if train.is_file() else (val, train)
        raise FileNotFoundError(f"{have} has no partner {lack.name} in {folder}")
    if whole.is_file():
        return LevelFiles(level, None, None, whole)
    raise FileNotFoundError(
        f"level {level}: {folder} has neither {train.name} and {val.name} nor {whole.name}"
    )


def hold_out(
    pairs: Sequence[TextPair], share: float, seed: int, where: str = "pairs"
) -> tuple[list[TextPair], list[TextPair]]:
    """``(train, val)``: a validation share of ``pairs``, held out by input.

    The distinct inputs are shuffled with ``random.Random(seed)``; the first
    ``round(share * inputs)`` of them (halves up, at least one, and one fewer than all)
    go to validation with every pair that has them, so no input is in both. Each part
    keeps the file's order.

    Raises:
        ValueError: ``share`` outside ``(0, 1)``, or fewer than two distinct inputs
            (named by ``where``).
    """
    if not 0.0 < share < 1.0:
        raise ValueError(f"data.val_share must be in (0, 1), got {share}")
    inputs = list(dict.fromkeys(p.input for p in pairs))
    if len(inputs) < 2:
        raise ValueError(
            f"{where}: a validation share needs at least two distinct inputs, got {len(inputs)}"
        )
    size = min(max(math.floor(share * len(inputs) + 0.5), 1), len(inputs) - 1)
    random.Random(seed).shuffle(inputs)
    held = set(inputs[:size])
    return [p for p in pairs if p.input not in held], [p for p in pairs if p.input in held]
