"""What ``predict`` prints: one line per record, always writable, and records it cannot transform named.

- :func:`one_line` escapes a field so that every record is exactly one line of
  valid UTF-8 whatever its text holds: a backslash becomes ``\\\\``, a tab
  ``\\t``, every character that ends a line (``\\n``, ``\\r``, ``\\x0b``,
  ``\\x0c``, ``\\x1c``-``\\x1e``, ``\\x85``, ``\\u2028``, ``\\u2029``) its
  ``\\n``/``\\xNN``/``\\uNNNN`` escape, and a lone surrogate, which is not
  Unicode text and cannot be written as UTF-8 (bytes of ``--text`` that are not
  UTF-8 arrive as such), its ``\\udcNN`` escape. Text without these characters
  prints unchanged; the escapes are Python's, so ``codecs.decode(line,
  "unicode_escape")`` undoes them for ASCII lines.
- :func:`write_line` writes a line to standard output; when the reader of a
  pipe goes away (``predict ... | head``) the command ends quietly with status
  141 (128 + SIGPIPE), as a process killed by SIGPIPE would.
- :func:`transform_in_batches` transforms pairs' inputs in batches; when a batch
  fails (an input too long for the memory the model's attention needs), its
  pairs are run one at a time and the first that fails is named by ``file:line``.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from pyg_grapheme.data.text_pair import TextPair
from pyg_grapheme.text import segment

__all__ = ["one_line", "transform_in_batches", "write_line"]

T = TypeVar("T")

BROKEN_PIPE_EXIT = 141

# Characters that str.splitlines() ends a line at, the tab (our field separator), the
# backslash (so that escapes stay unambiguous) and surrogates (not encodable as UTF-8).
_UNPRINTABLE = re.compile("[\\\\\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\ud800-\udfff]")
_NAMED = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """``text`` with backslashes, tabs, line breaks and lone surrogates escaped (module
    docstring): one line, valid UTF-8, unchanged when it holds none of them."""
    return _UNPRINTABLE.sub(_escape, text)


def write_line(*fields: str) -> None:
    """Write ``fields``, each :func:`one_line`-escaped, joined by tabs, as one line of stdout."""
    line = "\t".join(one_line(field) for field in fields)
    try:
        sys.stdout.write(line + "\n")
    except BrokenPipeError:
        _reader_went_away()


def flush() -> None:
    """Flush stdout; a reader that went away ends the command quietly (:func:`write_line`)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _reader_went_away()


def _reader_went_away() -> None:
    # Python would complain again when it flushes stdout at exit: point it at /dev/null.
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is no real file (a test's capture): nothing to flush at exit
    finally:
        os.close(devnull)
    raise SystemExit(BROKEN_PIPE_EXIT)


def transform_in_batches(
    transform: Callable[[list[str]], Sequence[T]],
    pairs: Iterable[TextPair],
    batch_size: int,
) -> Iterator[tuple[TextPair, T]]:
    """``(pair, result)`` for each pair, in order, with ``transform`` called on the inputs of
    up to ``batch_size`` pairs at a time.

    A batch whose transform raises a ``RuntimeError`` (which includes running out of memory)
    or ``MemoryError`` is run again one input at a time, and the first input that still
    fails becomes a ``ValueError`` naming its ``meta["source"]`` (``file:line``, or
    ``--text``) and its size.
    """
    batch: list[TextPair] = []
    for pair in pairs:
        batch.append(pair)
        if len(batch) == batch_size:
            yield from _transformed(transform, batch)
            batch = []
    if batch:
        yield from _transformed(transform, batch)


def _transformed(
    transform: Callable[[list[str]], Sequence[T]], batch: list[TextPair]
) -> list[tuple[TextPair, T]]:
    try:
        results = list(transform([pair.input for pair in batch]))
    except (RuntimeError, MemoryError) as exc:
        if len(batch) == 1:
            raise _refusal(batch[0], exc) from exc
        results = [_alone(transform, pair) for pair in batch]
    return list(zip(batch, results))


def _alone(transform: Callable[[list[str]], Sequence[T]], pair: TextPair) -> T:
    try:
        return transform([pair.input])[0]
    except (RuntimeError, MemoryError) as exc:
        raise _refusal(pair, exc) from exc


def _refusal(pair: TextPair, exc: BaseException) -> ValueError:
    message = " ".join(str(exc).split()) or type(exc).__name__
    return ValueError(
        f"{pair.meta.get('source', 'an input')}: cannot transform this input of "
        f"{len(segment(pair.input))} grapheme clusters ({type(exc).__name__}: {message[:300]})"
    )
