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
    """``"tokens"`` when the targets read as sequences of short units separated by single
    spaces (every target canonical: no leading, trailing or repeated whitespace, no tab or
    newline, and tokens of at most two grapheme clusters on average: phones, not words);
    else ``"graphemes"``.

    Tokens only change how a target is cut into classes; on targets that are not
    canonical they would lose whitespace, so any such target rules them out.
    """
    tokens = clusters = 0
    spaced = False
    for text in targets:
        parts = text.split()
        if text != " ".join(parts):
            return "graphemes"
        spaced = spaced or len(parts) > 1
        tokens += len(parts)
        clusters += sum(len(segment(part)) for part in parts)
    if not spaced or tokens == 0:
        return "graphemes"
    return "tokens" if clusters / tokens <= _MAX_TOKEN_CLUSTERS else "graphemes"
