"""How the project's command-line entry points report bad input: one line, no traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["BAD_INPUT_EXIT", "INTERRUPTED_EXIT", "one_line_errors"]

BAD_INPUT_EXIT = 2
"""Exit status of a command stopped by bad input (the status ``argparse`` uses for bad arguments)."""

INTERRUPTED_EXIT = 130
"""Exit status of a command stopped by Ctrl-C (SIGINT): 128 + 2, the shell's convention."""

# What bad input raises: malformed or missing files (JsonlFormatError is a ValueError,
# OSError covers missing or unreadable paths), values out of range, wrong types,
# unknown names. jsonargparse's ArgumentError (bad options) and Lightning's
# MisconfigurationException (bad trainer options, such as a GPU the machine does not
# have) derive from none of these and are matched by name, so that this module needs
# no CLI library.
_BAD_INPUT = (ValueError, TypeError, KeyError, OSError)
_BAD_INPUT_NAMES = ("ArgumentError", "MisconfigurationException")


@contextmanager
def one_line_errors(prog: str) -> Iterator[None]:
    """Turn bad input into ``prog: error: <message>`` on stderr and exit status 2, and Ctrl-C
    into ``prog: interrupted`` and exit status 130. Running out of memory (inputs too long
    for the model, batches too large) counts as bad input.

    The message is folded onto one line. Set ``PYG_GRAPHEME_TRACEBACK=1`` to get
    the full traceback instead (for debugging the project itself).
    """
    try:
        yield
    except KeyboardInterrupt:
        # Ctrl-C where the command does not handle it itself: one line, the shell's status.
        print(f"{prog}: interrupted", file=sys.stderr, flush=True)
        raise SystemExit(INTERRUPTED_EXIT) from None
    except Exception as exc:  # bad input is told apart from bugs right below
        out_of_memory = _is_out_of_memory(exc)
        bad_input = (
            isinstance(exc, _BAD_INPUT) or type(exc).__name__ in _BAD_INPUT_NAMES or out_of_memory
        )
        if not bad_input or os.environ.get("PYG_GRAPHEME_TRACEBACK"):
            raise
        message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        message = " ".join(message.split()) or type(exc).__name__
        if out_of_memory:
            message = (
                f"out of memory: {message[:300]} (smaller batches or shorter inputs need less)"
            )
        print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
        raise SystemExit(BAD_INPUT_EXIT) from None


def _is_out_of_memory(exc: BaseException) -> bool:
    """An allocation the machine could not make: ``MemoryError``, torch's
    ``OutOfMemoryError`` (CUDA), or the CPU allocator's ``RuntimeError``."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)
