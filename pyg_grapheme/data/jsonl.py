"""JSONL readers for the four record formats of GRAPHEME, detected from the first record.

GRAPHEME is the predecessor project whose data this library reads; the data-format
guide (``docs/guides/data_formats.md``) describes it and these formats.

**pairs**: ``{"input": "abc", "target": "ab"}``; both keys are required
strings (empty allowed), other keys are kept in ``meta["extra"]``. This is also
what ``python -m pyg_grapheme.data.generate`` writes.

**kindergarten** (question and answer): ``{"input": "What color is sky?",
"target": "Sky is blue", "input_polish": "", "target_polish": "", "id":
"kg_2"}``. ``input``, ``target``, ``input_polish`` and ``target_polish`` are
required strings, ``id`` an optional string. GRAPHEME's ``*_polish``
fields hold the same question or answer in Polish (prefix) notation, the
notation the math curriculum and this project's math levels use; an empty one
means "use the plain text". So the pair's input is ``input_polish`` when it is
not empty, else ``input``, and the target likewise (a record that has the
notation trains the model on the notation it is asked to read and write, and
plain-text records stay plain). ``meta`` keeps ``"id"``, the plain texts
(``"input_plain"``, ``"target_plain"``) and other keys in ``"extra"``.

**math**: ``{"id": "L1-00001", "input_polish": "(+ 16 9)", "input_expr": {...},
"expected_result": 25.0, "expected_symbolic": null, "level": 1, "bindings": []}``.

* ``input_polish`` (string) and ``expected_result`` (number or null) are
  required; ``id`` (string), ``level`` (integer 1-7), ``input_expr`` (an
  expression tree), ``expected_symbolic`` (null, an expression tree, or a
  string already in Polish notation) and ``bindings`` (a list of ``[name,
  number]``, names distinct, default ``[]``) are optional.
* Trees are GRAPHEME's externally tagged JSON
  (:mod:`.expression_tree`), printed as Polish text without simplification;
  ``input_expr``, when present, must print as ``input_polish`` (numbers compared
  by value), else the record contradicts itself.
* **Target**: the text of ``expected_symbolic`` when it is not null, else
  :func:`~.math_expressions.format_result` of ``expected_result`` (``25.0 ->
  "25"``, ``2.718281828459045`` stays); a record with neither is malformed.
* **One input, one answer.** GRAPHEME's files leave the task out of the input
  (levels 5 and 6 share inputs such as ``(sin x)``; level 3 keeps the
  variable's value in ``bindings``), so the reader writes it in:

  - level 5: ``(d/dx F)``; level 6: ``(int F)``, where ``F`` is ``input_polish``;
  - each binding, outermost first in list order, wraps the result:
    ``[["x", 2.0]]`` and ``(- x 1)`` give ``(let x 2 (- x 1))``; values print
    like results (``2.0 -> 2``).

  These are the inputs of :mod:`.math_levels` levels 3, 5 and 6, so records
  read here and generated problems share one notation.

**gsm8k**: ``{"question": "...", "answer": "... <<48/2=24>>24 ...\\n#### 72"}``, the
GSM8K word problems; the target is the final answer (``72``) or, with
``gsm8k_target="steps"``, the worked answer without its calculator notes
(:mod:`.gsm8k`).

**Detection.** A record with ``"input"`` is kindergarten if it also has
``"input_polish"`` or ``"target_polish"``, else pairs; a record with
``"input_polish"`` and no ``"input"`` is math; a record with neither and with
``"question"`` or ``"answer"`` is gsm8k. The first valid record fixes
the format of the file (or pass ``format=``); a record of another format later
in the file is an error naming its line.

**Errors.** Nothing is silently dropped. Each of these is an error naming the
file, the line number (1-based) and the problem: invalid UTF-8, a string holding
a lone surrogate (JSON allows the escape ``"\\ud800"``, but such a string is not Unicode
text and cannot be written out), invalid JSON
(including the non-standard ``NaN``/``Infinity``, and nesting too deep to
read), a JSON value that is not an object, a duplicate key, a missing key, a
value of the wrong type, a non-finite number, a level outside 1-7, a malformed
expression tree (with the path of the bad node), a malformed or repeated
binding, an ``input_expr`` that disagrees with ``input_polish``, a record of
no format, a record of another format, and a blank line *before the last
record*. Blank lines (spaces, tabs, ``\\r`` only) after the last record are
the end of the file and are ignored, so files that end in one or more
newlines read fine. ``"\\r\\n"`` line ends are accepted; a UTF-8 byte-order
mark at the start is ignored. A file with no records is an error.

With ``skip_bad_lines=True`` bad lines are skipped instead; the result reports
how many (``.skipped``) and why (``.errors``), and one warning listing them is
logged to the ``pyg_grapheme.data.jsonl`` logger.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, overload

from pyg_grapheme.data.expression_tree import ExpressionTreeError, tree_to_polish
from pyg_grapheme.data.gsm8k import (
    Gsm8kRecordError,
    check_gsm8k_target,
    gsm8k_pair,
    is_gsm8k_record,
)
from pyg_grapheme.data.json_kind import json_kind
from pyg_grapheme.data.line_reader import LineError, LineReader, decode_line
from pyg_grapheme.data.math_expressions import format_result
from pyg_grapheme.data.math_levels import MATH_LEVELS
from pyg_grapheme.data.polish_grammar import is_number, is_symbol
from pyg_grapheme.data.text_pair import TextPair

__all__ = [
    "FORMATS",
    "JsonlFormatError",
    "JsonlPairs",
    "JsonlReader",
    "decode_object",
    "read_jsonl",
]

FORMATS = ("pairs", "kindergarten", "math", "gsm8k")

logger = logging.getLogger(__name__)

_POLISH_TOKEN = re.compile(r"\(|\)|[^\s()]+")


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
        format: ``"pairs"``, ``"kindergarten"``, ``"math"`` or ``"gsm8k"``.
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


def _object_without_duplicates(items: list[tuple[str, Any]]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, value in items:
        if key in record:
            raise LineError(f"duplicate key {key!r}")
        record[key] = value
    return record


def _reject_constant(name: str) -> Any:
    raise LineError(f"invalid JSON: {name} is not a JSON number")


def _require(record: dict[str, Any], key: str) -> Any:
    if key not in record:
        raise LineError(f"missing key {key!r}")
    return record[key]


def _expect(key: str, value: Any, expected: str, ok: bool) -> None:
    if not ok:
        raise LineError(f"key {key!r} must be {expected}, got {json_kind(value)} {value!r}")


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_lone_surrogates(value: Any, path: str = "") -> None:
    """A ``LineError`` for the first string (key or value, at any depth) holding a surrogate
    that no JSON escape pair completed, such as ``"\\ud800"``: JSON allows the escape, but
    the text is not Unicode (it cannot be written as UTF-8), so the record is refused.
    ``path`` is where ``value`` sits in the record (``note[1].k``)."""
    if isinstance(value, str):
        found = _LONE_SURROGATE.search(value)
        if found:
            where = f"the value at {path}" if path else "the record"
            if "." not in path and "[" not in path and path:
                where = f"key {path!r}"
            raise LineError(
                f"{where} holds a lone surrogate \\u{ord(found.group()):04x} at character "
                f"{found.start()}: not Unicode text (a JSON escape of half a UTF-16 pair)"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if _LONE_SURROGATE.search(key):
                found = _LONE_SURROGATE.search(key)
                raise LineError(
                    f"a key {'at ' + path + ' ' if path else ''}holds a lone surrogate "
                    f"\\u{ord(found.group()):04x}: not Unicode text (a JSON escape of half a "
                    "UTF-16 pair)"
                )
            _reject_lone_surrogates(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for k, item in enumerate(value):
            _reject_lone_surrogates(item, f"{path}[{k}]")


def _record_format(record: dict[str, Any]) -> str:
    if "input" in record:
        return "kindergarten" if "input_polish" in record or "target_polish" in record else "pairs"
    if "input_polish" in record:
        return "math"
    if is_gsm8k_record(record):
        return "gsm8k"
    raise LineError(
        'record is in none of the formats: it needs "input" and "target" (pairs), those and '
        '"input_polish" and "target_polish" (kindergarten), "input_polish" and '
        '"expected_result" (math), or "question" and "answer" (gsm8k); its keys are '
        f"{sorted(record)}"
    )


def _string(record: dict[str, Any], key: str, required: bool = True) -> str | None:
    if not required and key not in record:
        return None
    value = _require(record, key)
    _expect(key, value, "a string", isinstance(value, str))
    return value


def _pairs_record(record: dict[str, Any], source: str) -> TextPair:
    text = _string(record, "input")
    target = _string(record, "target")
    extra = {k: v for k, v in record.items() if k not in ("input", "target")}
    return TextPair(text, target, {"source": source, "format": "pairs", "extra": extra})


_KINDERGARTEN_KEYS = ("input", "target", "input_polish", "target_polish", "id")


def _kindergarten_record(record: dict[str, Any], source: str) -> TextPair:
    text, target, text_polish, target_polish = (
        _string(record, key) for key in _KINDERGARTEN_KEYS[:4]
    )
    record_id = _string(record, "id", required=False)
    meta = {
        "source": source,
        "format": "kindergarten",
        "id": record_id,
        "input_plain": text,
        "target_plain": target,
        "extra": {k: v for k, v in record.items() if k not in _KINDERGARTEN_KEYS},
    }
    return TextPair(text_polish or text, target_polish or target, meta)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _tree_text(key: str, tree: Any) -> str:
    try:
        return tree_to_polish(tree)
    except ExpressionTreeError as exc:
        where = f" at {exc.where}" if exc.where else ""
        raise LineError(f"key {key!r}: malformed expression tree{where}: {exc.problem}") from None


def _bindings(record: dict[str, Any]) -> list[tuple[str, float]]:
    bindings = record.get("bindings", [])
    _expect("bindings", bindings, "a list of [name, number]", isinstance(bindings, list))
    seen: list[tuple[str, float]] = []
    for k, binding in enumerate(bindings):
        ok = (
            isinstance(binding, list)
            and len(binding) == 2
            and isinstance(binding[0], str)
            and is_symbol(binding[0])
            and _is_number(binding[1])
        )
        if not ok:
            raise LineError(
                f"key 'bindings': entry {k} must be [name, number] with a symbol name "
                f"(a letter, then letters, digits or _), got {binding!r}"
            )
        name, value = binding
        if not math.isfinite(value):
            raise LineError(f"key 'bindings': entry {k} must be finite, got {value!r}")
        if name in (n for n, _ in seen):
            raise LineError(f"key 'bindings': {name!r} is bound twice")
        seen.append((name, float(value)))
    return seen


def _same_polish(a: str, b: str) -> bool:
    """Same tokens, numbers compared by value (``2.0`` is ``2``)."""
    left, right = _POLISH_TOKEN.findall(a), _POLISH_TOKEN.findall(b)
    if len(left) != len(right):
        return False
    for x, y in zip(left, right):
        if x != y and not (is_number(x) and is_number(y) and float(x) == float(y)):
            return False
    return True


_MATH_KEYS = (
    "id",
    "input_polish",
    "input_expr",
    "expected_result",
    "expected_symbolic",
    "level",
    "bindings",
)
_TASK_HEADS = {5: "d/dx", 6: "int"}


def _math_record(record: dict[str, Any], source: str) -> TextPair:
    text = _string(record, "input_polish")
    result = _require(record, "expected_result")
    _expect("expected_result", result, "a number or null", result is None or _is_number(result))
    if result is not None and not math.isfinite(result):
        raise LineError(f"key 'expected_result' must be finite, got {result!r}")
    symbolic = record.get("expected_symbolic")
    _expect(
        "expected_symbolic",
        symbolic,
        "null, an expression tree (object) or a string",
        symbolic is None or isinstance(symbolic, (str, dict)),
    )
    record_id = _string(record, "id", required=False)
    level = record.get("level")
    is_int = isinstance(level, int) and not isinstance(level, bool)
    _expect("level", level, "an integer", level is None or is_int)
    if level is not None and level not in MATH_LEVELS:
        raise LineError(f"key 'level' must be one of {MATH_LEVELS}, got {level}")
    if "input_expr" in record:
        expr_text = _tree_text("input_expr", record["input_expr"])
        if not _same_polish(expr_text, text):
            raise LineError(
                f"input_expr reads {expr_text!r} but input_polish is {text!r}; "
                "the record contradicts itself"
            )
    bindings = _bindings(record)
    if isinstance(symbolic, dict):
        target = _tree_text("expected_symbolic", symbolic)
    elif symbolic is not None:
        target = symbolic
    elif result is not None:
        target = format_result(result)
    else:
        raise LineError("expected_result and expected_symbolic are both null: no target")
    question = text
    if level in _TASK_HEADS:
        question = f"({_TASK_HEADS[level]} {question})"
    for name, value in reversed(bindings):
        question = f"(let {name} {format_result(value)} {question})"
    meta = {
        "source": source,
        "format": "math",
        "id": record_id,
        "level": level,
        "expected_result": None if result is None else float(result),
        "expected_symbolic": None if symbolic is None else target,
        "input_polish": text,
        "bindings": bindings,
        "extra": {k: v for k, v in record.items() if k not in _MATH_KEYS},
    }
    return TextPair(question, target, meta)


# One decoder for every line (json.loads with hooks builds a new one per call).
_DECODER = json.JSONDecoder(
    object_pairs_hook=_object_without_duplicates, parse_constant=_reject_constant
)

_PARSERS = {"pairs": _pairs_record, "kindergarten": _kindergarten_record, "math": _math_record}


def _gsm8k_record(record: dict[str, Any], source: str, target: str) -> TextPair:
    try:
        return gsm8k_pair(record, source, target)
    except Gsm8kRecordError as exc:
        raise LineError(str(exc)) from None


def decode_object(raw_line: bytes) -> dict[str, Any]:
    """The JSON object of one JSONL line, as every JSONL reader checks it (UTF-8; valid
    JSON without duplicate keys, NaN or infinities; no lone surrogate; an object), or a
    :class:`LineError` saying what is wrong."""
    text = decode_line(raw_line)
    try:
        record = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        # Some of json's messages end in "at" already ("Unterminated string starting at").
        joint = " column" if exc.msg.endswith(" at") else " at column"
        raise LineError(f"invalid JSON: {exc.msg}{joint} {exc.colno}") from None
    except RecursionError:
        raise LineError("invalid JSON: nested too deeply to read") from None
    if _SURROGATE_ESCAPE.search(raw_line):
        _reject_lone_surrogates(record)
    if not isinstance(record, dict):
        raise LineError(f"expected a JSON object, got {json_kind(record)}")
    return record


class JsonlReader(LineReader):
    """The records of a JSONL file, read one line at a time: memory does not grow with the file.

    Iterating yields each record's :class:`TextPair` in file order and checks every
    line as :func:`read_jsonl` does (same arguments, same errors, raised at the bad
    line); each iteration reads the file again. Streaming users (``predict``) can
    iterate once to check the whole file and again to process it.

    Attributes:
        path: the file as given.
        format: the format, once the first valid record fixed it (or ``format=``).
        errors: the bad lines skipped by the last iteration (``skip_bad_lines``).
    """

    kind = "JSONL"
    unit = "record"
    blank = b" \t\r"
    blank_problem = "blank line before the last record (blank lines are allowed only at the end)"
    error = JsonlFormatError
    log = logger

    def __init__(
        self,
        path: str | os.PathLike[str],
        skip_bad_lines: bool = False,
        *,
        format: str | None = None,
        warn: bool = True,
        gsm8k_target: str = "final",
    ) -> None:
        if format is not None and format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS} or None, got {format!r}")
        self._parsers = {
            **_PARSERS,
            "gsm8k": partial(_gsm8k_record, target=check_gsm8k_target(gsm8k_target)),
        }
        super().__init__(path, skip_bad_lines, warn=warn)
        self.format = format
        self._given_format = format

    def _start(self) -> None:
        self.format = self._given_format
        self._detected_at: int | None = None

    def _read_line(self, raw_line: bytes, number: int) -> TextPair:
        record, record_format = self._parse(raw_line, self._detected_at)
        if self.format is None:
            self.format, self._detected_at = record_format, number
        try:
            return self._parsers[record_format](record, f"{self.path}:{number}")
        except RecursionError:
            raise LineError("expression tree nested too deeply to read") from None

    def _parse(self, raw_line: bytes, detected_at: int | None) -> tuple[dict[str, Any], str]:
        """The line's record and its format, or a :class:`LineError`."""
        record = decode_object(raw_line)
        record_format = _record_format(record)
        if self.format is not None and record_format != self.format:
            how = f"detected from line {detected_at}" if detected_at else "format= given"
            raise LineError(
                f"record is in the {record_format} format but the file is in the "
                f"{self.format} format ({how})"
            )
        return record, record_format


def read_jsonl(
    path: str | os.PathLike[str],
    skip_bad_lines: bool = False,
    *,
    format: str | None = None,
    gsm8k_target: str = "final",
) -> JsonlPairs:
    """Read a JSONL file of the pairs, kindergarten, math or gsm8k format (module docstring).

    The file is read one line at a time (:class:`JsonlReader`), so the memory it takes
    is that of the records it returns.

    Args:
        path: the file.
        skip_bad_lines: skip malformed lines (counted in ``.skipped``, listed in
            ``.errors`` and in a logged warning) instead of raising.
        format: ``"pairs"``, ``"kindergarten"``, ``"math"`` or ``"gsm8k"`` to insist
            on one; ``None`` (default) detects it from the first valid record.
        gsm8k_target: the target of a GSM8K record, ``"final"`` (default) or ``"steps"``.

    Returns:
        :class:`JsonlPairs`, a sequence of :class:`TextPair` whose
        ``meta["source"]`` is ``"<path>:<line>"``.

    Raises:
        JsonlFormatError: the first malformed line (``path:line: problem``),
            a file without records, or a folder.
        OSError: the file cannot be read.
    """
    reader = JsonlReader(path, skip_bad_lines, format=format, gsm8k_target=gsm8k_target)
    # Records hold no reference cycles, and with a million of them every pass of the cyclic
    # garbage collector walks them all: collecting while reading only costs time (a 50 MB
    # file of 1.4M records reads 3.5x faster).
    collecting = gc.isenabled()
    gc.disable()
    try:
        pairs = tuple(reader)
    finally:
        if collecting:
            gc.enable()
    return JsonlPairs(reader.path, pairs[0].meta["format"], pairs, tuple(reader.errors))
