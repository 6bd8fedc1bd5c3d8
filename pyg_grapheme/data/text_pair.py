"""``TextPair``: one training example, an input text and the target text it should become."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["TextPair"]


@dataclass(frozen=True)
class TextPair:
    """An (input, target) pair of texts with where it came from.

    Args:
        input: the text given to the model.
        target: the text the model should produce.
        meta: provenance, never used for training. Readers set
            ``meta["source"]`` to ``"path:line"``; generators to
            ``"generate:task:seed=S:k"``; the math format adds ``"id"`` and
            ``"level"``. ``meta`` takes part in ``==`` but not in ``hash``, so
            pairs can live in sets (keyed by their texts).
    """

    input: str
    target: str
    meta: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for name in ("input", "target"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(f"TextPair.{name} must be a str, got {type(value).__name__}")
        if not isinstance(self.meta, dict):
            raise TypeError(f"TextPair.meta must be a dict, got {type(self.meta).__name__}")
