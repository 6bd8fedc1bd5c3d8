"""JSONL readers for the two formats of the earlier system, detected from the first record.

**pairs**: ``{"input": "abc", "target": "ab"}``; both keys are required
strings (empty allowed), other keys are kept in ``meta["extra"]``.

**math**: ``{"id": "L1-00001", "input_polish": "(+ 16 9)", "expected_result":
25.0, "expected_symbolic": null, "level": 1}``. ``input_polish`` (string) and
``expected_result`` (number or null) are required; ``expected_symbolic``
(string or null) may be left out; ``id`` (string) and ``level`` (integer) are
optional. The target is ``expected_symbolic`` when it is a string, else
:func:`~.math_expressions.format_result` of ``expected_result`` (``25.0 ->
"25"``, ``2.5 -> "2.5"``); a record with neither is malformed. Other keys go to
``meta["extra"]``.

A record is in the math format if it has ``"input_polish"``, in the pairs
format if it has ``"input"`` (having both is an error). The first valid record
fixes the format of the file (or pass ``format=``); a record of the other
format later in the file is an error naming its line.

Nothing is silently dropped. Each of these is an error naming the file, the
line number (1-based) and the problem: invalid UTF-8, invalid JSON (including
the non-standard ``NaN``/``Infinity``), a JSON value that is not an object, a
duplicate key, a missing key, a value of the wrong type, a non-finite number,
a record of neither or both formats, a record of the other format, and a blank
line *before the last record*. Blank lines (spaces, tabs, ``\\r`` only) after
the last record are the end of the file and are ignored, so files that end in
one or more newlines read fine. ``"\\r\\n"`` line ends are accepted; a UTF-8
byte-order mark at the start is ignored. A file with no records is an error.

With ``skip_bad_lines=True`` bad lines are skipped instead; the result reports
how many (``.skipped``) and why (``.errors``), and one warning listing them is
logged to the ``pyg_grapheme.data.jsonl`` logger.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

from pyg_grapheme.data.math_expressions import format_result
from pyg_grapheme.data.text_pair import TextPair

__all__ = ["FORMATS", "JsonlFormatError", "JsonlPairs", "read_jsonl"]

FORMATS = ("pairs", "math")

logger = logging.getLogger(__name__)

_BLANK = b" \t\r"
_BOM = b"\xef\xbb\xbf"
_WARN_LIST = 10


class JsonlFormatError(ValueError):
    """A malformed JSONL line (or file).

    Attributes:
        path: the file as given to the reader.
        line: 1-based line number, ``None`` for a problem of the whole file.
        problem: what is wrong, without the location.
    """

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across DataLoader workers
        return (type(self), (self.path, self.line, self.problem))


@dataclass(frozen=True)
class JsonlPairs(Sequence[TextPair]):
    """What :func:`read_jsonl` read: a read-only sequence of :class:`TextPair`.

    Index, iterate and ``len()`` it like a list (``PairDataset(read_jsonl(p))``).

    Attributes:
        path: the file as given.
        format: ``"pairs"`` or ``"math"``.
        pairs: the records, in file order.
        errors: one :class:`JsonlFormatError` per skipped line (empty unless
            ``skip_bad_lines``).
    """

    path: str
    format: str
    pairs: tuple[TextPair, ...]
    errors: tuple[JsonlFormatError, ...] = ()

    @property
    def skipped(self) -> int:
        """Number of bad lines skipped."""
        return len(self.errors)

    def __len__(self) -> int:
        return len(self.pairs)

    @overload
    def __getitem__(self, index: int) -> TextPair: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[TextPair, ...]: ...
    def __getitem__(self, index: int | slice) -> TextPair | tuple[TextPair, ...]:
        return self.pairs[index]

    def __iter__(self) -> Iterator[TextPair]:
        return iter(self.pairs)


class _LineError(Exception):
    """A problem with the current line; the reader adds the path and line number."""


def _object_without_duplicates(items: list[tuple[str, Any]]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, value in items:
        if key in record:
            raise _LineError(f"duplicate key {key!r}")
        record[key] = value
    return record


def _reject_constant(name: str) -> Any:
    raise _LineError(f"invalid JSON: {name} is not a JSON number")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _require(record: dict[str, Any], key: str) -> Any:
    if key not in record:
        raise _LineError(f"missing key {key!r}")
    return record[key]


def _expect(key: str, value: Any, expected: str, ok: bool) -> None:
    if not ok:
        raise _LineError(f"key {key!r} must be {expected}, got {_json_type(value)} {value!r}")


def _record_format(record: dict[str, Any]) -> str:
    if "input_polish" in record and "input" in record:
        raise _LineError('record has both "input" (pairs format) and "input_polish" (math format)')
    if "input_polish" in record:
        return "math"
    if "input" in record:
        return "pairs"
    raise _LineError(
        'record is in neither format: it needs "input" and "target" (pairs) or '
        f'"input_polish" and "expected_result" (math); its keys are {sorted(record)}'
    )


def _pairs_record(record: dict[str, Any], source: str) -> TextPair:
    text = _require(record, "input")
    _expect("input", text, "a string", isinstance(text, str))
    target = _require(record, "target")
    _expect("target", target, "a string", isinstance(target, str))
    extra = {k: v for k, v in record.items() if k not in ("input", "target")}
    return TextPair(text, target, {"source": source, "format": "pairs", "extra": extra})


def _math_record(record: dict[str, Any], source: str) -> TextPair:
    text = _require(record, "input_polish")
    _expect("input_polish", text, "a string", isinstance(text, str))
    result = _require(record, "expected_result")
    is_number = isinstance(result, (int, float)) and not isinstance(result, bool)
    _expect("expected_result", result, "a number or null", result is None or is_number)
    if is_number and not math.isfinite(result):
        raise _LineError(f"key 'expected_result' must be finite, got {result!r}")
    symbolic = record.get("expected_symbolic")
    _expect(
        "expected_symbolic",
        symbolic,
        "a string or null",
        symbolic is None or isinstance(symbolic, str),
    )
    record_id = record.get("id")
    _expect("id", record_id, "a string", record_id is None or isinstance(record_id, str))
    level = record.get("level")
    is_int = isinstance(level, int) and not isinstance(level, bool)
    _expect("level", level, "an integer", level is None or is_int)
    if symbolic is not None:
        target = symbolic
    elif result is not None:
        target = format_result(result)
    else:
        raise _LineError("expected_result and expected_symbolic are both null: no target")
    known = ("id", "input_polish", "expected_result", "expected_symbolic", "level")
    meta = {
        "source": source,
        "format": "math",
        "id": record_id,
        "level": level,
        "expected_result": None if result is None else float(result),
        "expected_symbolic": symbolic,
        "extra": {k: v for k, v in record.items() if k not in known},
    }
    return TextPair(text, target, meta)


_PARSERS = {"pairs": _pairs_record, "math": _math_record}


def read_jsonl(
    path: str | os.PathLike[str],
    skip_bad_lines: bool = False,
    *,
    format: str | None = None,
) -> JsonlPairs:
    """Read a JSONL file of the pairs or math format (see the module docstring).

    Args:
        path: the file.
        skip_bad_lines: skip malformed lines (counted in ``.skipped``, listed in
            ``.errors`` and in a logged warning) instead of raising.
        format: ``"pairs"`` or ``"math"`` to insist on one; ``None`` (default)
            detects it from the first valid record.

    Returns:
        :class:`JsonlPairs`, a sequence of :class:`TextPair` whose
        ``meta["source"]`` is ``"<path>:<line>"``.

    Raises:
        JsonlFormatError: the first malformed line (``path:line: problem``),
            or a file without records.
        OSError: the file cannot be read.
    """
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS} or None, got {format!r}")
    name = os.fspath(path)
    with open(name, "rb") as handle:
        raw = handle.read()
    lines = raw.split(b"\n")
    if lines[0].startswith(_BOM):
        lines[0] = lines[0][len(_BOM) :]
    last = max((k for k, line in enumerate(lines) if line.strip(_BLANK)), default=-1)

    file_format = format
    detected_at: int | None = None
    pairs: list[TextPair] = []
    errors: list[JsonlFormatError] = []
    for number, raw_line in enumerate(lines[: last + 1], start=1):
        try:
            if not raw_line.strip(_BLANK):
                raise _LineError(
                    "blank line before the last record (blank lines are allowed only at the end)"
                )
            try:
                text = raw_line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _LineError(f"invalid UTF-8 at byte {exc.start} of the line") from None
            try:
                record = json.loads(
                    text,
                    object_pairs_hook=_object_without_duplicates,
                    parse_constant=_reject_constant,
                )
            except json.JSONDecodeError as exc:
                raise _LineError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
            if not isinstance(record, dict):
                raise _LineError(f"expected a JSON object, got {_json_type(record)}")
            record_format = _record_format(record)
            if file_format is None:
                file_format, detected_at = record_format, number
            elif record_format != file_format:
                how = f"detected from line {detected_at}" if detected_at else "format= given"
                raise _LineError(
                    f"record is in the {record_format} format but the file is in the "
                    f"{file_format} format ({how})"
                )
            pairs.append(_PARSERS[record_format](record, f"{name}:{number}"))
        except _LineError as exc:
            error = JsonlFormatError(name, number, str(exc))
            if not skip_bad_lines:
                raise error from None
            errors.append(error)

    if errors:
        listed = "; ".join(f"line {e.line}: {e.problem}" for e in errors[:_WARN_LIST])
        more = f"; and {len(errors) - _WARN_LIST} more" if len(errors) > _WARN_LIST else ""
        logger.warning("%s: skipped %d bad line(s): %s%s", name, len(errors), listed, more)
    if not pairs:
        problem = "no records" if not errors else f"no valid records ({len(errors)} bad lines)"
        raise JsonlFormatError(name, None, problem)
    return JsonlPairs(name, pairs[0].meta["format"], tuple(pairs), tuple(errors))
