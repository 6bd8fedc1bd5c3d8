"""``python -m pyg_grapheme.data.generate``: write any curriculum task or math level as JSONL.

Usage::

    python -m pyg_grapheme.data.generate --task TASK [--level L] --count N --seed S \\
        [--exclude FILE] [--alphabet NAME] [--min-len A] [--max-len B] [--allow-repeats] \\
        --out FILE.jsonl
    python -m pyg_grapheme.data.generate --all-levels --count N --seed S \\
        [--split 0.8,0.1,0.1] --out DIR
    python -m pyg_grapheme.data.generate --sizes [--alphabet NAME] [--min-len A] [--max-len B]

It calls :func:`~pyg_grapheme.data.generate` with the same arguments (``--level``
for ``--task math`` only, 1-7; ``--alphabet``, ``--min-len`` and ``--max-len`` for
the string tasks only) and writes one record per pair, in draw order, in the
pairs format of :func:`~pyg_grapheme.data.read_jsonl`::

    {"input": "(d/dx (* 3 (sin x)))", "target": "(* 3 (cos x))", "task": "math", "level": 5, "id": "L5-00001"}
    {"input": "abc", "target": "aabbcc", "task": "double", "id": "double-00001"}

(UTF-8, one JSON object per line, keys in that order; ``level`` only for
``math``; ids count from 1 as GRAPHEME's ``L1-00001``.) Reading the
file back with ``read_jsonl`` gives the same inputs and targets; ``task``,
``level`` and ``id`` land in ``meta["extra"]``. ``--exclude FILE`` reads any
JSONL file ``read_jsonl`` reads and leaves out its inputs (write the held-out
split first, then the training split with ``--exclude`` of it). The file is
written to a temporary name and renamed at the end, so it is never
half-written. A line on stdout says what was written and the size of the space.

``--all-levels`` writes every math level 1-7, ``N`` problems each, split
train/val/test by ``--split`` (default ``0.8,0.1,0.1``) into ``DIR`` (created if
missing) as ``level_N_train.jsonl``, ``level_N_val.jsonl`` and
``level_N_test.jsonl``, the files GRAPHEME's curriculum read. The
records are GRAPHEME's math records (:mod:`.math_record`; ``id``
``L3-00001`` counts on through train, val and test), which ``read_jsonl``
reads back as the same pairs. No problem is in two splits of a level, not even
with its ``+``/``*`` operands swapped (:mod:`.level_splits`). Every level is
drawn before anything is written; one line per level says what was written.

``--sizes`` prints the number of distinct inputs of every task (string tasks
with the given alphabet and lengths) and every math level, and writes nothing.

Bad arguments (an unknown task, a level out of range or given to a string task,
a count larger than the space, a malformed ``--split`` or one that leaves a
split empty, an option ``--all-levels`` does not take, a missing or malformed
exclude file, an output that cannot be written) print one line on stderr and
exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence

from pyg_grapheme.data.curriculum import TASKS, generate, space_size
from pyg_grapheme.data.jsonl import read_jsonl
from pyg_grapheme.data.level_splits import SPLITS, level_splits, parse_fractions
from pyg_grapheme.data.math_levels import MATH_LEVELS
from pyg_grapheme.data.math_record import math_record

__all__ = ["main"]

PROGRAM = "python -m pyg_grapheme.data.generate"
_STRING_DEFAULTS = {"alphabet": "latin", "min_len": 1, "max_len": 8}


class _UsageError(Exception):
    """A bad command line; ``main`` prints it as one line and exits with 2."""


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would print usage and exit itself
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog=PROGRAM,
        description="Write a curriculum task or math level as JSONL (pairs format).",
    )
    parser.add_argument("--task", help=f"one of {', '.join(TASKS)}")
    parser.add_argument("--level", type=int, help="math level 1-7 (--task math only)")
    parser.add_argument("--count", type=int, help="number of pairs")
    parser.add_argument("--seed", type=int, help="generator seed (>= 0)")
    parser.add_argument("--exclude", metavar="FILE", help="JSONL file whose inputs to leave out")
    parser.add_argument("--alphabet", help="alphabet name (string tasks; default latin)")
    parser.add_argument("--min-len", type=int, help="shortest length (string tasks; default 1)")
    parser.add_argument("--max-len", type=int, help="longest length (string tasks; default 8)")
    parser.add_argument(
        "--allow-repeats", action="store_true", help="draw independently (inputs may repeat)"
    )
    parser.add_argument(
        "--out", metavar="FILE", help="output JSONL file (a folder with --all-levels)"
    )
    parser.add_argument(
        "--all-levels",
        action="store_true",
        help="every math level, split train/val/test, as level_N_{train,val,test}.jsonl in --out",
    )
    parser.add_argument(
        "--split",
        metavar="F,F,F",
        help="train,val,test fractions (--all-levels; default 0.8,0.1,0.1)",
    )
    parser.add_argument(
        "--sizes", action="store_true", help="print the size of every task and level, write nothing"
    )
    return parser


def _string_options(args: argparse.Namespace) -> dict[str, object]:
    given = {k: getattr(args, k) for k in _STRING_DEFAULTS if getattr(args, k) is not None}
    return {**_STRING_DEFAULTS, **given}


def _sizes(args: argparse.Namespace) -> None:
    options = _string_options(args)
    for task in TASKS:
        if task == "math":
            for level in MATH_LEVELS:
                print(f"math level {level}: {space_size('math', level=level):,}")
        else:
            print(f"{task}: {space_size(task, **options):,}")  # type: ignore[arg-type]


def _records(
    args: argparse.Namespace, exclude: set[str]
) -> tuple[list[dict[str, object]], dict[str, object]]:
    for flag, value in (("--task", args.task), ("--count", args.count), ("--seed", args.seed)):
        if value is None:
            raise _UsageError(f"{flag} is required")
    if args.out is None:
        raise _UsageError("--out is required")
    if args.task == "math":
        given = [
            f"--{k.replace('_', '-')}" for k in _STRING_DEFAULTS if getattr(args, k) is not None
        ]
        if given:
            raise _UsageError(f"{', '.join(given)} apply to the string tasks, not --task math")
        options: dict[str, object] = {"level": 1 if args.level is None else args.level}
    elif args.level is not None:
        raise _UsageError(f"--level applies to --task math only, not --task {args.task}")
    else:
        options = _string_options(args)
    try:
        pairs = generate(
            args.task,
            args.count,
            seed=args.seed,
            exclude=exclude,
            unique=not args.allow_repeats,
            **options,  # type: ignore[arg-type]
        )
    except ValueError as exc:  # generate's advice names its argument; say the flag
        raise _UsageError(str(exc).replace("pass unique=False", "pass --allow-repeats")) from None
    records: list[dict[str, object]] = []
    for k, pair in enumerate(pairs, start=1):
        record: dict[str, object] = {"input": pair.input, "target": pair.target, "task": args.task}
        if args.task == "math":
            record["level"] = options["level"]
            record["id"] = f"L{options['level']}-{k:05d}"
        else:
            record["id"] = f"{args.task}-{k:05d}"
        records.append(record)
    return records, options


def _write(path: str, records: list[dict[str, object]]) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise _UsageError(f"cannot write {path}: folder {folder} does not exist")
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".generate-", suffix=".tmp")
    try:
        with open(descriptor, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(temporary, path)
    except BaseException as exc:
        os.unlink(temporary)
        if isinstance(exc, OSError):
            raise _UsageError(f"cannot write {path}: {exc.strerror}") from None
        raise


_ALL_LEVELS_REFUSES = ("task", "level", "exclude", "alphabet", "min_len", "max_len")


def _all_levels(args: argparse.Namespace) -> None:
    given = [
        f"--{k.replace('_', '-')}" for k in _ALL_LEVELS_REFUSES if getattr(args, k) is not None
    ]
    if args.allow_repeats:
        given.append("--allow-repeats")
    if given:
        raise _UsageError(f"--all-levels writes every math level; it takes no {', '.join(given)}")
    for flag, value in (("--count", args.count), ("--seed", args.seed), ("--out", args.out)):
        if value is None:
            raise _UsageError(f"{flag} is required")
    fractions = parse_fractions("0.8,0.1,0.1" if args.split is None else args.split)
    files: list[tuple[str, list[dict[str, object]]]] = []
    for level in MATH_LEVELS:
        splits = level_splits(level, args.count, fractions, args.seed)
        number = 0
        for name in SPLITS:
            records = []
            for pair in splits[name]:
                number += 1
                records.append(math_record(pair, level, f"L{level}-{number:05d}"))
            files.append((os.path.join(args.out, f"level_{level}_{name}.jsonl"), records))
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as exc:
        raise _UsageError(f"cannot create the folder {args.out}: {exc.strerror}") from None
    for path, records in files:
        _write(path, records)
    for level, start in zip(MATH_LEVELS, range(0, len(files), len(SPLITS))):
        sizes = "/".join(str(len(records)) for _, records in files[start : start + len(SPLITS)])
        where = os.path.join(args.out, f"level_{level}_{{{','.join(SPLITS)}}}.jsonl")
        print(
            f"wrote {sizes} {'/'.join(SPLITS)} problems of math level {level} to {where} "
            f"(a space of {space_size('math', level=level):,} inputs)"
        )


def _run(argv: Sequence[str] | None) -> None:
    args = _parser().parse_args(argv)
    if args.sizes:
        _sizes(args)
        return
    if args.all_levels:
        _all_levels(args)
        return
    if args.split is not None:
        raise _UsageError("--split applies to --all-levels only")
    exclude: set[str] = set()
    if args.exclude is not None:
        if not os.path.isfile(args.exclude):
            raise _UsageError(f"exclude file not found: {args.exclude}")
        exclude = {pair.input for pair in read_jsonl(args.exclude)}
    records, options = _records(args, exclude)
    _write(args.out, records)
    size = space_size(args.task, **options)  # type: ignore[arg-type]
    what = f"math level {options['level']}" if args.task == "math" else args.task
    print(f"wrote {len(records)} pairs of {what} to {args.out} (a space of {size:,} inputs)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0, or 2 for bad arguments)."""
    try:
        _run(argv)
    except (_UsageError, ValueError, TypeError, OSError) as exc:
        message = str(exc)
        if isinstance(exc, OSError) and exc.filename is not None:
            message = f"{exc.strerror}: {exc.filename}"
        print(f"{PROGRAM}: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
