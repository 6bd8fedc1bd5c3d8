"""Shared set-up of the ``fit`` and ``predict`` commands: one-line errors, no foreign noise."""

from __future__ import annotations

import logging
import os
import warnings

from pyg_grapheme.command_line import one_line_errors

__all__ = ["one_line_errors", "quiet_dependency_warnings"]

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
