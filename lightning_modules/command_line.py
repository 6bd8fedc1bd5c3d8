"""Shared set-up of the ``fit`` and ``predict`` commands: one-line errors, no foreign noise."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Sequence

from pyg_grapheme.command_line import one_line_errors

__all__ = ["bare_flags", "one_line_errors", "quiet_dependency_warnings"]


def quiet_dependency_warnings() -> None:
    """Silence deprecation notices that our dependencies raise about each other.

    Lightning 2.6 calls jsonargparse APIs that jsonargparse 4.49+ deprecates, and
    uses torch's pytree ``LeafSpec`` that torch 2.13 deprecates; neither is
    something a user of these commands can act on. jsonargparse reads its switch
    when it warns, so setting it here is enough. Lightning's advertisement of its
    cloud logger is dropped too.
    """
    os.environ.setdefault("JSONARGPARSE_DEPRECATION_WARNINGS", "off")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # Lightning 2.6 advertises a cloud logger on every run.
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
        lambda record: "litlogger" not in record.getMessage()
    )


_BOOLEAN_WORDS = {"true", "false", "yes", "no"}


def bare_flags(argv: Sequence[str], names: Iterable[str]) -> list[str]:
    """``argv`` with each bare boolean flag given its value: ``--engine`` -> ``--engine true``.

    jsonargparse reads a ``bool`` parameter as ``--flag true``; users type ``--flag``
    alone, as argparse's ``store_true`` taught them. A flag of ``names`` that is last
    or not followed by ``true``, ``false``, ``yes`` or ``no`` gets ``true``.
    """
    flags = {f"--{name}" for name in names}
    result: list[str] = []
    for k, arg in enumerate(argv):
        result.append(arg)
        following = argv[k + 1] if k + 1 < len(argv) else None
        if arg in flags and (following is None or following.lower() not in _BOOLEAN_WORDS):
            result.append("true")
    return result
