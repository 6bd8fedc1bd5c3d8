"""Shared set-up of the ``fit`` and ``predict`` commands: one-line errors, no foreign noise."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Sequence

from pyg_grapheme.command_line import one_line_errors

__all__ = ["bare_flags", "one_line_errors", "quiet_dependency_warnings"]

_ABSENT_ACCELERATORS = (
    "GPU available: False",
    "TPU available: False",
    "HPU available: False",
    "Loading `train_dataloader` to estimate",
)


def quiet_dependency_warnings() -> None:
    """Silence deprecation notices that our dependencies raise about each other.

    Lightning 2.6 calls jsonargparse APIs that jsonargparse 4.49+ deprecates, and
    uses torch's pytree ``LeafSpec`` that torch 2.13 deprecates; neither is
    something a user of these commands can act on. jsonargparse reads its switch
    when it warns, so setting it here is enough. Lightning's advertisement of its
    cloud logger, its lines about accelerators the machine does not have and its
    "Seed set to" are dropped too.
    """
    os.environ.setdefault("JSONARGPARSE_DEPRECATION_WARNINGS", "off")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # Lightning 2.6 advertises a cloud logger on every run, and says which accelerators
    # a CPU run does not have and which seed it set (the seed is in the saved config):
    # lines that would come before a bad-input error's one line.
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
        lambda record: (
            "litlogger" not in record.getMessage()
            and not record.getMessage().startswith(_ABSENT_ACCELERATORS)
        )
    )
    # Our training loader resumes mid-epoch through the DataModule's state
    # (lightning_modules.training_order), which Lightning does not know to look for.
    warnings.filterwarnings(
        "ignore", message=r"You're resuming from a checkpoint that ended before"
    )
    logging.getLogger("lightning.fabric.utilities.seed").addFilter(
        lambda record: not record.getMessage().startswith("Seed set to")
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
