"""Text metrics: exact match and character error rate (torchmetrics, DDP-synced).

``ExactMatch`` is the fraction of predictions equal to their target string.
``CharErrorRate`` is torchmetrics' CER: Levenshtein distance over code points
divided by the total target length. ``UnitErrorRate`` is the same over output units
(:mod:`pyg_grapheme.models.output_units`): grapheme clusters, or whitespace-separated
tokens, where it is the phone error rate (PER) of grapheme-to-phoneme work. All are
:class:`torchmetrics.Metric`, so under DDP their states are summed across processes
before ``compute``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from rapidfuzz.distance import Levenshtein
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.text import CharErrorRate

from pyg_grapheme.models.output_units import OutputUnits

__all__ = ["CharErrorRate", "ExactMatch", "UnitErrorRate", "exact_match", "unit_error_rate"]


def _check_lengths(preds: Sequence[str], targets: Sequence[str]) -> None:
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predictions but {len(targets)} targets")


def exact_match(preds: Sequence[str], targets: Sequence[str]) -> float:
    """Fraction of ``preds[i] == targets[i]`` (0.0 for empty input)."""
    _check_lengths(preds, targets)
    if not preds:
        return 0.0
    return sum(p == t for p, t in zip(preds, targets)) / len(preds)


class ExactMatch(Metric):
    """Exact string match rate, accumulated over batches (and processes)."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.add_state("correct", default=torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, preds: Sequence[str], targets: Sequence[str]) -> None:
        _check_lengths(preds, targets)
        self.correct += sum(p == t for p, t in zip(preds, targets))
        self.total += len(preds)

    def compute(self) -> Tensor:
        return self.correct.float() / self.total.clamp_min(1)


def unit_error_rate(
    preds: Sequence[str], targets: Sequence[str], units: str = "graphemes"
) -> float:
    """Edit distance over output units, summed, divided by the target units (0.0 when the
    targets hold none): the phone error rate with ``units="tokens"``."""
    _check_lengths(preds, targets)
    split = OutputUnits(units).split
    errors = sum(Levenshtein.distance(split(p), split(t)) for p, t in zip(preds, targets))
    total = sum(len(split(t)) for t in targets)
    return errors / total if total else 0.0


class UnitErrorRate(Metric):
    """:func:`unit_error_rate`, accumulated over batches (and processes).

    Args:
        units: ``"graphemes"`` or ``"tokens"``.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, units: str = "graphemes", **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.split = OutputUnits(units).split
        self.add_state("errors", default=torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, preds: Sequence[str], targets: Sequence[str]) -> None:
        _check_lengths(preds, targets)
        for p, t in zip(preds, targets):
            wanted = self.split(t)
            self.errors += Levenshtein.distance(self.split(p), wanted)
            self.total += len(wanted)

    def compute(self) -> Tensor:
        return self.errors.float() / self.total.clamp_min(1)
