"""Text metrics: exact match and character error rate (torchmetrics, DDP-synced).

``ExactMatch`` is the fraction of predictions equal to their target string.
``CharErrorRate`` is torchmetrics' CER: Levenshtein distance over code points
divided by the total target length. Both are :class:`torchmetrics.Metric`, so
under DDP their states are summed across processes before ``compute``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.text import CharErrorRate

__all__ = ["CharErrorRate", "ExactMatch", "exact_match"]


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
