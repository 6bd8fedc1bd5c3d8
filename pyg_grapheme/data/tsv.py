"""Tab-separated pair files: ``input<TAB>target``, one pair a line.

This is the format of the SIGMORPHON grapheme-to-phoneme tasks and of WikiPron
(``word<TAB>p h o n e s``), so such files train as they are downloaded::

    python -m lightning_modules.fit --config conf/g2p.yaml \\
        --data.train_path fre_train.tsv --data.val_path fre_dev.tsv

:func:`~pyg_grapheme.data.read_pair_file` and the command lines read a file as TSV when
its name ends in ``.tsv`` (any case), and as JSONL otherwise.

**Rules.** Every line but blank ones holds exactly two tab-separated columns, the input
and the target, read as they are (spaces inside a column are kept; either may be empty).
A line of one column or of three or more is an error: a third column (a frequency, the
tags of an inflection task) would change what the pair means, so it is not dropped
silently. Blank lines (spaces and ``\\r`` only) are allowed only after the last pair, as
in the JSONL reader; ``\\r\\n`` line ends and a UTF-8 byte-order mark are accepted.

**Errors** name the file and the line (``path:line: problem``): invalid UTF-8, a wrong
number of columns, a blank line before the last pair, a file with no pairs, a folder.
With ``skip_bad_lines=True`` bad lines are skipped, counted and logged instead, as by
:func:`~pyg_grapheme.data.read_jsonl`.
"""

from __future__ import annotations

import logging
import os

from pyg_grapheme.data.jsonl import JsonlFormatError, JsonlPairs
from pyg_grapheme.data.line_reader import LineError, LineReader, decode_line
from pyg_grapheme.data.text_pair import TextPair

__all__ = ["TsvReader", "is_tsv_path", "read_tsv"]

logger = logging.getLogger(__name__)


def is_tsv_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a tab-separated pair file (its name ends in ``.tsv``)."""
    return os.fspath(path).lower().endswith(".tsv")


class TsvReader(LineReader):
    """The pairs of a TSV file, read one line at a time (the interface of
    :class:`~pyg_grapheme.data.jsonl.JsonlReader`: iterate for :class:`TextPair` in file
    order, checked line by line; each iteration reads the file again).

    Attributes:
        path: the file as given.
        format: ``"tsv"``.
        errors: the bad lines skipped by the last iteration (``skip_bad_lines``).
    """

    format = "tsv"
    kind = "TSV"
    unit = "pair"
    blank = b" \r"  # a tab is a column separator, never blank
    blank_problem = "blank line before the last pair (allowed only at the end)"
    error = JsonlFormatError
    log = logger

    def _read_line(self, raw_line: bytes, number: int) -> TextPair:
        text = decode_line(raw_line)
        columns = text.split("\t")
        if len(columns) != 2:
            raise LineError(
                f"expected 2 tab-separated columns (input, target), got {len(columns)}: "
                f"{text[:80]!r}"
            )
        source, target = columns
        return TextPair(source, target, {"source": f"{self.path}:{number}", "format": "tsv"})


def read_tsv(path: str | os.PathLike[str], skip_bad_lines: bool = False) -> JsonlPairs:
    """Read a TSV pair file (module docstring).

    Args:
        path: the file.
        skip_bad_lines: skip malformed lines (counted in ``.skipped``, listed in
            ``.errors`` and in a logged warning) instead of raising.

    Returns:
        A :class:`~pyg_grapheme.data.JsonlPairs` of format ``"tsv"``, each pair's
        ``meta["source"]`` ``"<path>:<line>"``.

    Raises:
        JsonlFormatError: the first malformed line (``path:line: problem``), a file
            without pairs, or a folder.
        OSError: the file cannot be read.
    """
    reader = TsvReader(path, skip_bad_lines)
    pairs = tuple(reader)
    return JsonlPairs(reader.path, "tsv", pairs, tuple(reader.errors))
