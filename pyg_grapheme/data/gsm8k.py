r"""GSM8K records (grade-school math word problems) as text pairs.

GRAPHEME, the predecessor project, shipped one real-world data set, GSM8K (Cobbe
et al., 2021, "Training Verifiers to Solve Math Word Problems"): ``train.jsonl``
(7,473 records) and ``test.jsonl`` (1,319), one JSON object per line with two
string keys::

    {"question": "Natalia sold clips to 48 of her friends in April, and then she sold
     half as many clips in May. How many clips did Natalia sell altogether?",
     "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold
     48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"}

The answer is a worked solution whose last line is ``#### `` and the final
number; ``<<48/2=24>>`` are *calculator notes*, which GSM8K's own models hand to
a calculator while sampling.

**The pair.** The input is ``question``, as it is. The target depends on
``target`` (``--data.gsm8k_target`` of the DataModule):

* ``"final"`` (default): the final answer, read as GSM8K's own
  ``extract_answer`` reads it: the text after ``####``, stripped, with the
  thousands commas removed (``#### 70,000 -> "70000"``). It must be a number
  (``-?[0-9.,]+`` with a digit), as every GSM8K answer is.
* ``"steps"``: the whole worked answer, ending in its ``#### 72`` line (so the
  final answer can be read off a prediction the same way), with the calculator
  notes removed: ``48/2 = <<48/2=24>>24 clips`` becomes ``48/2 = 24 clips``. The
  notes repeat the arithmetic of the text next to them and exist for a
  calculator that overrides sampling; this model has none, so it would learn
  to write each result twice. GSM8K's README gives the same rule for removing
  them: "remove any string that starts with ``<<`` and ends with ``>>``" (the
  shortest such string, on one line). Text outside complete notes is kept as
  written.

``meta`` keeps ``"answer"`` (the answer as written), ``"final_answer"`` (the
``final`` target), ``"gsm8k_target"`` and other keys in ``"extra"``.

**Malformed records** raise :class:`Gsm8kRecordError` (the JSONL reader adds
the file and line): a missing ``question`` or ``answer``, a value that is not a
string, a question with nothing but whitespace, an answer without ``####`` or
with more than one, and a final answer that is empty or not a number.
"""

from __future__ import annotations

import re
from typing import Any

from pyg_grapheme.data.json_kind import json_kind
from pyg_grapheme.data.text_pair import TextPair

__all__ = [
    "GSM8K_KEYS",
    "GSM8K_TARGETS",
    "Gsm8kRecordError",
    "check_gsm8k_target",
    "gsm8k_pair",
    "is_gsm8k_record",
    "strip_calculator_notes",
]

GSM8K_KEYS = ("question", "answer")
"""The two keys of a GSM8K record."""

GSM8K_TARGETS = ("final", "steps")
"""What a GSM8K pair's target is: the final answer, or the worked answer (module docstring)."""

FINAL_MARK = "####"
_FINAL_NUMBER = re.compile(r"-?[0-9.,]*[0-9][0-9.,]*")
_CALCULATOR_NOTE = re.compile(r"<<[^\n]*?>>")


class Gsm8kRecordError(ValueError):
    """A malformed GSM8K record; the message says what is wrong, without the location."""


def is_gsm8k_record(record: dict[str, Any]) -> bool:
    """Whether a JSON object is meant as a GSM8K record: it has ``question`` or ``answer``
    (a record with only one of them is a GSM8K record missing the other)."""
    return any(key in record for key in GSM8K_KEYS)


def check_gsm8k_target(target: str) -> str:
    """``target`` if it is one of :data:`GSM8K_TARGETS`.

    Raises:
        ValueError: any other value.
    """
    if target not in GSM8K_TARGETS:
        raise ValueError(f"gsm8k_target must be one of {GSM8K_TARGETS}, got {target!r}")
    return target


def strip_calculator_notes(answer: str) -> str:
    """``answer`` without its calculator notes: ``"48/2 = <<48/2=24>>24" -> "48/2 = 24"``."""
    return _CALCULATOR_NOTE.sub("", answer)


def _string(record: dict[str, Any], key: str) -> str:
    if key not in record:
        raise Gsm8kRecordError(f"missing key {key!r}")
    value = record[key]
    if not isinstance(value, str):
        raise Gsm8kRecordError(f"key {key!r} must be a string, got {json_kind(value)} {value!r}")
    return value


def _final_answer(answer: str) -> str:
    marks = answer.count(FINAL_MARK)
    if marks != 1:
        problem = "has no" if marks == 0 else f"has {marks}"
        raise Gsm8kRecordError(
            f"the answer {problem} {FINAL_MARK!r} marks; GSM8K ends each answer with one "
            f"'#### <number>' line"
        )
    written = answer.split(FINAL_MARK)[1].strip()
    if not written:
        raise Gsm8kRecordError(f"nothing follows {FINAL_MARK!r}: the final answer is empty")
    if _FINAL_NUMBER.fullmatch(written) is None:
        raise Gsm8kRecordError(
            f"the final answer after {FINAL_MARK!r} must be a number, got {written!r}"
        )
    return written.replace(",", "")


def gsm8k_pair(record: dict[str, Any], source: str, target: str = "final") -> TextPair:
    """The :class:`TextPair` of one GSM8K record (module docstring).

    Args:
        record: the decoded JSON object.
        source: where it came from (``"<path>:<line>"``), kept in ``meta["source"]``.
        target: ``"final"`` or ``"steps"``.

    Raises:
        Gsm8kRecordError: a malformed record.
        ValueError: an unknown ``target``.
    """
    check_gsm8k_target(target)
    question = _string(record, "question")
    answer = _string(record, "answer")
    if not question.strip():
        raise Gsm8kRecordError("key 'question' is empty: a GSM8K record needs a question")
    final = _final_answer(answer)
    meta = {
        "source": source,
        "format": "gsm8k",
        "answer": answer,
        "final_answer": final,
        "gsm8k_target": target,
        "extra": {k: v for k, v in record.items() if k not in GSM8K_KEYS},
    }
    return TextPair(question, final if target == "final" else strip_calculator_notes(answer), meta)
