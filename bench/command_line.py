"""The bench scripts' argument parser: a bad argument is one line, as everywhere else."""

from __future__ import annotations

import argparse
import sys

from pyg_grapheme.command_line import BAD_INPUT_EXIT

__all__ = ["OneLineParser"]


class OneLineParser(argparse.ArgumentParser):
    """:class:`argparse.ArgumentParser` that reports a bad argument as
    ``prog: error: message`` on stderr and exits with status 2, without the usage
    block (``--help`` still prints it)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(BAD_INPUT_EXIT)
