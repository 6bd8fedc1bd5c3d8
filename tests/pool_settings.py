"""The pool with the settings the contract tests were written against."""

from __future__ import annotations

from typing import Any

from pyg_grapheme.nn import ThresholdMergePool

CLASSIC = {
    "threshold": 0.8,
    "mode": "components",
    "similarity": "cosine",
    "gate_features": 0.0,
    "reduce": "mean",
}
"""Plain cosine, a fixed starting threshold of 0.8, connected components, ungated means: the
text model's settings, and the ones whose
exact outputs the hand-built cases spell out."""


def classic_pool(*args: Any, **kwargs: Any) -> ThresholdMergePool:
    """``ThresholdMergePool(*args, **kwargs)`` with :data:`CLASSIC` for every option not given."""
    return ThresholdMergePool(*args, **{**CLASSIC, **kwargs})
