"""Shared set-up of the ``fit`` and ``predict`` commands: one-line errors, no foreign noise."""

from __future__ import annotations

import os
import warnings

from pyg_grapheme.command_line import one_line_errors

__all__ = ["one_line_errors", "quiet_dependency_warnings"]


def quiet_dependency_warnings() -> None:
    """Silence deprecation notices that our dependencies raise about each other.

    Lightning 2.6 calls jsonargparse APIs that jsonargparse 4.49+ deprecates, and
    uses torch's pytree ``LeafSpec`` that torch 2.13 deprecates; neither is
    something a user of these commands can act on. jsonargparse reads its switch
    when it warns, so setting it here is enough.
    """
    os.environ.setdefault("JSONARGPARSE_DEPRECATION_WARNINGS", "off")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
