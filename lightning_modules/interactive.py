r"""An interactive session: ``predict --interactive`` answers lines typed (or piped) on stdin.

::

    python -m lightning_modules.predict --ckpt CKPT --interactive [--show_morph true]
    python -m lightning_modules.predict --engine

Each line read from stdin is one question; its answer is printed on stdout as
one line, and flushed, so a program at the other end of a pipe can wait for it:

* with ``--ckpt``, the trained model's output for the line as typed (its
  spaces count: a model may have been trained to strip them), through
  ``module.transform_text(texts, with_morph=True)`` (every member of the checkpoint) as ``predict --text``;
  ``--show_morph true`` adds a tab and what merged and split into what;
* with ``--engine`` (no checkpoint), the answer of the sympy engine
  (:func:`~pyg_grapheme.data.polish_engine.answer_polish`: evaluate, ``d/dx``,
  ``int``, solve) to the line in the project's Polish notation, spaces around
  it ignored.

The line end (``\n`` or ``\r\n``) is not part of the question, and an empty
line asks nothing (pressing Enter at the prompt gives a new prompt). A newline
inside an answer (a model trained on GSM8K's worked answers writes them)
prints as the two characters ``\n``, so every answer is one line.

A line that cannot be answered (not UTF-8; outside the notation, or an
undefined value, for the engine; anything the model refuses) prints one line
``predict: line N: <problem>`` on stderr and the session goes on. End of input
(Ctrl-D, or the end of a pipe) ends it with exit status 0; Ctrl-C ends it with
130. At a terminal a ``> `` prompt is written to stderr; piped sessions get
none, so stdout holds the answers only. ``PYG_GRAPHEME_TRACEBACK=1`` lets an
error escape with its traceback instead (for debugging the project).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import BinaryIO, TextIO

from pyg_grapheme.data.polish_engine import answer_polish

__all__ = ["interactive_session", "run_interactive"]

PROMPT = "> "
_INTERRUPTED_EXIT = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C


def _model_answerer(ckpt: str, show_morph: bool) -> Callable[[str], str | None]:
    # torch only when a model answers
    from lightning_modules.checkpoint_io import load_module
    from lightning_modules.module import GraphTransformModule

    module = load_module(GraphTransformModule, ckpt, map_location="cpu").eval()

    def answer(line: str) -> str | None:
        if not line:
            return None
        ((output, morph),) = module.transform_text([line], with_morph=True)
        return f"{output}\t{morph}" if show_morph else output

    return answer


def _engine_answer(line: str) -> str | None:
    question = line.strip()
    return answer_polish(question) if question else None


def interactive_session(
    answer: Callable[[str], str | None],
    lines: BinaryIO,
    out: TextIO,
    err: TextIO,
    prompt: bool = False,
) -> list[str]:
    """Answer every line of ``lines`` until its end (module docstring).

    Args:
        answer: the answer to one line (without its line end), or ``None`` for a
            line that asks nothing; an exception is that line's error.
        lines: where the questions come from, as bytes (decoded line by line, so
            one line that is not UTF-8 spoils no other).
        out: where the answers go, one line each.
        err: where the errors (and the prompt) go.
        prompt: write :data:`PROMPT` to ``err`` before each line.

    Returns:
        The answers, in order (lines with an error or asking nothing have none).
    """
    answers: list[str] = []
    number = 0
    while True:
        if prompt:
            err.write(PROMPT)
            err.flush()
        raw = lines.readline()
        if not raw:
            if prompt:
                err.write("\n")
            return answers
        number += 1
        try:
            line = raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
            result = answer(line)
        except Exception as exc:
            if os.environ.get("PYG_GRAPHEME_TRACEBACK"):
                raise
            problem = " ".join(str(exc).split()) or type(exc).__name__
            if isinstance(exc, UnicodeDecodeError):
                problem = f"invalid UTF-8 at byte {exc.start} of the line"
            elif not isinstance(exc, (ValueError, TypeError, KeyError)):
                problem = f"{type(exc).__name__}: {problem}"
            err.write(f"predict: line {number}: {problem}\n")
            err.flush()
            continue
        if result is None:
            continue
        answers.append(result)
        out.write(result.replace("\r", "\\r").replace("\n", "\\n") + "\n")
        out.flush()


def run_interactive(
    ckpt: str | None,
    engine: bool,
    show_morph: bool,
    text: str | None = None,
    input: str | None = None,
) -> list[str]:
    """``predict --interactive`` / ``predict --engine``: check the options, answer stdin.

    Raises:
        ValueError: options that do not go together (both or neither of ``ckpt``
            and ``engine``; ``text`` or ``input``; ``show_morph`` with the engine).
        SystemExit: 130 when interrupted (Ctrl-C).
    """
    if (ckpt is None) == (not engine):
        raise ValueError(
            "give --ckpt or --engine, not both"
            if engine
            else "--interactive needs --ckpt PATH (a trained model) or --engine (the sympy engine)"
        )
    if text is not None or input is not None:
        raise ValueError(
            "--interactive and --engine read lines from stdin; leave out --text and --input"
        )
    if engine and show_morph:
        raise ValueError("--show_morph shows a model's merges and splits; the engine has none")
    answer = _engine_answer if ckpt is None else _model_answerer(ckpt, show_morph)
    try:
        return interactive_session(
            answer, sys.stdin.buffer, sys.stdout, sys.stderr, prompt=sys.stdin.isatty()
        )
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        raise SystemExit(_INTERRUPTED_EXIT) from None
