"""The line loop the pair-file readers share (:class:`~pyg_grapheme.data.jsonl.JsonlReader`,
:class:`~pyg_grapheme.data.tsv.TsvReader`): one line at a time, so memory does not grow with
the file, with the same rules and errors for every format.

* A UTF-8 byte-order mark before the first line is dropped; ``\\n`` ends a line.
* Blank lines (only the subclass's blank bytes) are allowed only after the last pair:
  each one before a pair is a bad line.
* Each other line is one pair (the subclass's :meth:`LineReader._read_line`); a line it
  refuses raises :class:`LineError`, which the reader turns into the subclass's error,
  located at ``path:line``.
* Without ``skip_bad_lines`` the first bad line raises; with it, bad lines are skipped,
  kept in ``errors`` and summed up in one logged warning.
* A folder, or a file with no pairs, is an error of the whole file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator

from pyg_grapheme.data.text_pair import TextPair

__all__ = ["LineError", "LineReader", "decode_line"]

logger = logging.getLogger(__name__)

_BOM = b"\xef\xbb\xbf"
_WARN_LIST = 10  # bad lines named in the warning; the rest are counted


class LineError(Exception):
    """A problem with the current line; the reader adds the path and line number."""


def decode_line(raw_line: bytes) -> str:
    """The text of a line (read without its ``\\n``), less the ``\\r`` of a ``\\r\\n``
    end; a :class:`LineError` naming the first byte that is not UTF-8."""
    if raw_line.endswith(b"\r"):
        raw_line = raw_line[:-1]
    try:
        return raw_line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineError(f"invalid UTF-8 at byte {exc.start} of the line") from None


class LineReader:
    """The pairs of a file of one pair a line, read one line at a time (module docstring).

    Subclasses set the class attributes and :meth:`_read_line`. Iterating yields each
    pair in file order; each iteration reads the file again.

    Attributes:
        path: the file as given.
        skip_bad_lines: skip bad lines (kept in ``errors``) instead of raising.
        warn: log one warning for the bad lines an iteration skipped.
        errors: the bad lines skipped by the last iteration.
    """

    kind = ""  # the format's name in the folder error ("JSONL", "TSV")
    unit = ""  # what one line holds, in the no-pairs errors ("record", "pair")
    blank = b" \r"  # the bytes a blank line may hold
    blank_problem = ""  # the error for a blank line before a pair
    # The error raised (or kept) for a bad line or file: error(path, line or None, problem).
    error: Callable[[str, int | None, str], Exception]
    log = logger  # where the skipped lines' warning goes (each reader's module logger)

    def __init__(
        self, path: str | os.PathLike[str], skip_bad_lines: bool = False, *, warn: bool = True
    ) -> None:
        self.path = os.fspath(path)
        self.skip_bad_lines = skip_bad_lines
        self.warn = warn
        self.errors: list[Exception] = []

    def _start(self) -> None:
        """Resets what one iteration learns of the file (before the first line)."""

    def _read_line(self, raw_line: bytes, number: int) -> TextPair:
        """The pair of the non-blank line ``raw_line`` (without its ``\\n``), line
        ``number``; a :class:`LineError` for a bad one."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[TextPair]:
        name = self.path
        if os.path.isdir(name):
            raise self.error(name, None, f"is a folder, not a {self.kind} file")
        self.errors = []
        self._start()
        blank: list[int] = []  # blank lines since the last pair: errors if a pair follows
        pairs = 0
        with open(name, "rb") as handle:
            for number, raw_line in enumerate(handle, start=1):
                if number == 1 and raw_line.startswith(_BOM):
                    raw_line = raw_line[len(_BOM) :]
                raw_line = raw_line.rstrip(b"\n")
                if not raw_line.strip(self.blank):
                    blank.append(number)
                    continue
                for line in blank:
                    self._bad(line, self.blank_problem)
                blank = []
                try:
                    pair = self._read_line(raw_line, number)
                except LineError as exc:
                    self._bad(number, str(exc))
                    continue
                pairs += 1
                yield pair
        if self.errors and self.warn:
            problems = [f"line {e.line}: {e.problem}" for e in self.errors[:_WARN_LIST]]  # type: ignore[attr-defined]
            more = len(self.errors) - _WARN_LIST
            self.log.warning(
                "%s: skipped %d bad line(s): %s%s",
                name,
                len(self.errors),
                "; ".join(problems),
                f"; and {more} more" if more > 0 else "",
            )
        if not pairs:
            problem = (
                f"no {self.unit}s"
                if not self.errors
                else f"no valid {self.unit}s ({len(self.errors)} bad lines)"
            )
            raise self.error(name, None, problem)

    def _bad(self, number: int, problem: str) -> None:
        """Raises the error for line ``number``, or keeps it (``skip_bad_lines``)."""
        error = self.error(self.path, number, problem)
        if not self.skip_bad_lines:
            raise error from None
        self.errors.append(error)
