r"""Output units: what one output node of the text model writes.

- ``"graphemes"``: one extended grapheme cluster per output node, concatenated
  (``"abc" -> "aabbcc"``); a space is a unit like any other.
- ``"tokens"``: one whitespace-separated token per output node, joined by single
  spaces. Phones written ``"a b ɑ̃ t͡s"`` are four units, whatever their number of
  code points or grapheme clusters, so ``t͡s`` is one class, never three graphemes,
  and the spaces between phones are not units the model has to place.

Inputs are always grapheme clusters. :func:`choose_units` picks the mode from the
training targets when the user does not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pyg_grapheme.text import segment

__all__ = ["UNIT_MODES", "OutputUnits", "choose_units"]

UNIT_MODES = ("graphemes", "tokens")

_MAX_TOKEN_CLUSTERS = 2.0
"""Longest mean token (in grapheme clusters) that :func:`choose_units` reads as a unit
sequence: phones and characters are 1-2 clusters long, words longer."""

_MAX_UNSEEN_TOKENS = 0.05
"""Largest share of the tokens of every other target that the remaining targets never
hold, for :func:`choose_units` to read tokens as units: a model can only write the
tokens it was trained on (or copy one grapheme), so they must recur. Phones do (G2P
training files: 0.0000-0.0012; their first 300 words: at most 0.0122); short random
words do not (``squeeze_spaces``'s targets: 0.24)."""

_MIN_TOKENS_TO_MEASURE = 100
"""Tokens of the every-other half below which the share of unseen tokens says nothing,
and only the length rule decides."""


class OutputUnits:
    """Splits targets into units and joins units back into text.

    Args:
        mode (str): ``"graphemes"`` or ``"tokens"`` (module docstring).
    """

    def __init__(self, mode: str = "graphemes") -> None:
        if mode not in UNIT_MODES:
            raise ValueError(f"output units must be one of {UNIT_MODES}, got {mode!r}")
        self.mode = mode

    def split(self, text: str) -> list[str]:
        """The units of ``text``: its grapheme clusters, or its whitespace-separated tokens."""
        return segment(text) if self.mode == "graphemes" else text.split()

    def join(self, units: Sequence[str]) -> str:
        """Inverse of :meth:`split` on canonical text (tokens joined by single spaces)."""
        return ("" if self.mode == "graphemes" else " ").join(units)

    def canonical(self, text: str) -> str:
        """``join(split(text))``: what a perfect model writes for target ``text``."""
        return self.join(self.split(text))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.mode!r})"


def choose_units(targets: Iterable[str]) -> str:
    """``"tokens"`` when the targets read as sequences of short, recurring units separated
    by single spaces; else ``"graphemes"``. Tokens need

    - every target canonical (no leading, trailing or repeated whitespace, no tab or
      newline): on other targets tokens would lose whitespace;
    - tokens of at most two grapheme clusters on average (phones, not words);
    - tokens that recur: of the tokens of the odd-numbered targets, at most 5% are absent
      from the even-numbered ones (when they hold at least 100 tokens), since a model
      writes only the tokens it was trained on. Short random words (``"el hu"``) fail
      this; phones pass it.
    """
    tokens = clusters = 0
    spaced = False
    even: set[str] = set()
    odd: list[str] = []
    for index, text in enumerate(targets):
        parts = text.split()
        if text != " ".join(parts):
            return "graphemes"
        spaced = spaced or len(parts) > 1
        tokens += len(parts)
        clusters += sum(len(segment(part)) for part in parts)
        if index % 2 == 0:
            even.update(parts)
        else:
            odd.extend(parts)
    if not spaced or tokens == 0 or clusters / tokens > _MAX_TOKEN_CLUSTERS:
        return "graphemes"
    if len(odd) >= _MIN_TOKENS_TO_MEASURE:
        unseen = sum(part not in even for part in odd) / len(odd)
        if unseen > _MAX_UNSEEN_TOKENS:
            return "graphemes"
    return "tokens"
