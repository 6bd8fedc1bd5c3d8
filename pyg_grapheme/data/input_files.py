"""Files of inputs alone, to transform without targets: ``predict --input words.txt``.

A word list to pronounce, or a shared task's test file (SIGMORPHON's hold graphemes only),
has no targets to score against. Such a file is read by its name:

* ``.txt``: one input a line, as it is (spaces inside it kept);
* ``.tsv``: one column a line (the pair files' format with the target column left out);
* any other name: JSONL, one object a line with a string ``"input"`` and no ``"target"``
  (other keys are kept in ``meta["extra"]``, as the pairs format keeps them).

:func:`holds_targets` tells a file of pairs from a file of inputs by its first non-blank
line (``.txt`` never holds targets); ``predict`` scores the first and only transforms the
second. Every later line must be of the same kind: a two-column line in a one-column
``.tsv`` file, or a record with a ``"target"`` in a JSONL file of inputs, is an error at
its line, never read as something else.

The rules of :mod:`.line_reader` hold as for pair files: one line at a time, ``\\r\\n``
line ends and a UTF-8 byte-order mark accepted, blank lines only after the last input,
errors named ``path:line: problem`` (:class:`~pyg_grapheme.data.jsonl.JsonlFormatError`),
``skip_bad_lines`` to skip and count bad lines instead.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from pyg_grapheme.data.jsonl import JsonlFormatError, _string, decode_object
from pyg_grapheme.data.line_reader import _BOM, LineError, LineReader, decode_line
from pyg_grapheme.data.text_pair import TextPair
from pyg_grapheme.data.tsv import is_tsv_path

__all__ = ["InputReader", "holds_targets", "is_text_path"]

logger = logging.getLogger(__name__)


def is_text_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a plain list of inputs, one a line (its name ends in ``.txt``)."""
    return os.fspath(path).lower().endswith(".txt")


def _first_line(path: str) -> bytes | None:
    """The file's first non-blank line (without its line end or byte-order mark), or
    :obj:`None` for a file of blank lines; a folder or a missing file raises as ``open``."""
    if os.path.isdir(path):
        return None
    with open(path, "rb") as handle:
        for number, raw_line in enumerate(handle, start=1):
            if number == 1 and raw_line.startswith(_BOM):
                raw_line = raw_line[len(_BOM) :]
            raw_line = raw_line.rstrip(b"\n").rstrip(b"\r")
            if raw_line.strip(b" \t"):
                return raw_line
    return None


def holds_targets(path: str | os.PathLike[str]) -> bool:
    """Whether the file at ``path`` is a file of pairs (inputs with targets), judged by its
    first non-blank line: a ``.txt`` file never is; a ``.tsv`` line with a tab is; a JSONL
    record is unless it is an object with an ``"input"`` and no ``"target"`` key.

    A first line that cannot be read (not JSON, not UTF-8) and a file without one count as
    holding targets, so that the pair readers report them with their usual errors.
    """
    name = os.fspath(path)
    if is_text_path(name):
        return False
    line = _first_line(name)
    if line is None:
        return True
    if is_tsv_path(name):
        return b"\t" in line
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return True
    return not (isinstance(record, dict) and "input" in record and "target" not in record)


class InputReader(LineReader):
    """The inputs of a file without targets (module docstring), read one line at a time.

    Iterating yields one :class:`TextPair` an input, in file order, with an empty
    ``target`` (there is none) and ``meta`` ``{"source": "path:line", "format": "inputs"}``;
    each iteration reads the file again.

    Attributes:
        path: the file as given.
        format: ``"inputs"``.
        errors: the bad lines skipped by the last iteration (``skip_bad_lines``).
    """

    format = "inputs"
    unit = "input"
    error = JsonlFormatError
    log = logger

    def __init__(
        self, path: str | os.PathLike[str], skip_bad_lines: bool = False, *, warn: bool = True
    ) -> None:
        super().__init__(path, skip_bad_lines, warn=warn)
        if is_text_path(self.path):
            self.kind, self._layout = "text", "txt"
            self.blank = b" \r"
        elif is_tsv_path(self.path):
            self.kind, self._layout = "TSV", "tsv"
            self.blank = b" \r"
        else:
            self.kind, self._layout = "JSONL", "jsonl"
            self.blank = b" \t\r"
        self.blank_problem = "blank line before the last input (allowed only at the end)"

    def _read_line(self, raw_line: bytes, number: int) -> TextPair:
        meta: dict[str, Any] = {"source": f"{self.path}:{number}", "format": "inputs"}
        if self._layout != "jsonl":
            text = decode_line(raw_line)
            if self._layout == "tsv" and "\t" in text:
                raise LineError(
                    f"expected 1 column (the input: the file's first line has no target), "
                    f"got {text.count(chr(9)) + 1}: {text[:80]!r}"
                )
            return TextPair(text, "", meta)
        record = decode_object(raw_line)
        if "input" not in record:
            raise LineError(f'missing key "input"; its keys are {sorted(record)}')
        if "target" in record:
            raise LineError(
                'record has a "target", but the file is of inputs alone (its first record '
                "has none): give every record a target, or none"
            )
        meta["extra"] = {k: v for k, v in record.items() if k != "input"}
        return TextPair(_string(record, "input"), "", meta)
