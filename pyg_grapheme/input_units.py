r"""Input units: what one node of an input chain holds.

- ``"graphemes"`` (default): one extended grapheme cluster per node (UAX #29,
  :func:`~pyg_grapheme.graphemes.segment`), so ``"e" + U+0301`` or a Devanagari
  conjunct is one node.
- ``"codepoints"``: one Unicode code point of the text's canonical decomposition (NFD)
  per node, so precomposed ``"é"`` and ``"e" + U+0301`` read alike (two nodes), and a
  Hangul syllable reads as its two or three jamo. ``"".join`` of the nodes is the text's
  NFD form (the text itself where it has no decomposable character, as Khmer and
  Devanagari have none); graphs keep the text as given in ``text``.

Clusters are the better unit where a script's clusters recur: a node is then a letter a
model has seen many times. Where they do not, code points are. Khmer writes a syllable as
one cluster: the 800 training words of the SIGMORPHON 2021 low-resource task hold 621
cluster types in 2,060 clusters, 368 of them seen once, and 41 of its 100 test words hold
a cluster that training never shows, while their 66 code points recur (of the code
points of every other word, 0.14% are new to the rest). Korean's 3,600 training words of
2020 hold 834 syllable types, and their jamo recur.
:func:`choose_input_units` measures that on the training inputs.

Its own module, with no torch, like :mod:`pyg_grapheme.graphemes`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable

from pyg_grapheme.graphemes import segment

__all__ = [
    "INPUT_UNIT_MODES",
    "MAX_UNSEEN_CLUSTERS",
    "choose_input_units",
    "input_splitter",
    "split_input",
]

INPUT_UNIT_MODES = ("graphemes", "codepoints")
"""The input-unit modes (module docstring), ``data.input_units``' values."""

MAX_UNSEEN_CLUSTERS = 0.01
"""Largest share of the clusters of every other training input that the remaining
inputs never hold, for :func:`choose_input_units` to keep clusters as the input units.
Measured on the training inputs (even-numbered against odd-numbered): Khmer (2021) 0.222,
Korean 0.044 and Hindi 0.041 (2020), each 0.000-0.001 in code points; every other list of
2020 and 2021 we have at most 0.005 (Italian: 0.002 in code points). On development sets
code points were better on all three that switch (``bench/results/g2p.md``)."""

_MIN_CLUSTERS_TO_MEASURE = 100
"""Clusters of the every-other half below which the share of unseen clusters says
nothing, and clusters are kept."""


def _code_points(text: str) -> list[str]:
    return list(unicodedata.normalize("NFD", text))


def input_splitter(mode: str) -> Callable[[str], list[str]]:
    """The function that splits a text into its input units under ``mode``."""
    if mode not in INPUT_UNIT_MODES:
        raise ValueError(f"input units must be one of {INPUT_UNIT_MODES}, got {mode!r}")
    return segment if mode == "graphemes" else _code_points


def split_input(text: str, mode: str = "graphemes") -> list[str]:
    """The input units of ``text`` (module docstring); ``"".join`` of them is ``text``
    (with ``"codepoints"``, its NFD form)."""
    if not isinstance(text, str):
        raise TypeError(f"split_input expects a str, got {type(text).__name__}")
    return input_splitter(mode)(text)


def _unseen_share(inputs: list[str], split: Callable[[str], list[str]]) -> tuple[float, int]:
    """Share of the units of the odd-numbered ``inputs`` absent from the even-numbered
    ones, and the number of units it is measured on."""
    even: set[str] = set()
    odd: list[str] = []
    for index, text in enumerate(inputs):
        units = split(text)
        if index % 2 == 0:
            even.update(units)
        else:
            odd.extend(units)
    if not odd:
        return 0.0, 0
    return sum(unit not in even for unit in odd) / len(odd), len(odd)


def choose_input_units(inputs: Iterable[str]) -> str:
    r"""``"codepoints"`` when the training inputs' grapheme clusters are too sparse to
    learn and their code points are not; else ``"graphemes"``.

    With :math:`u_X` the share of the units of the odd-numbered inputs that no
    even-numbered input holds (units :math:`X`: clusters or NFD code points), code points
    are chosen when

    .. math::
        u_{\mathrm{clusters}} > 0.01 \quad\text{and}\quad
        u_{\mathrm{code\ points}} \le u_{\mathrm{clusters}} / 2,

    measured on at least 100 clusters: a model meets an unseen cluster about as often
    as the first share says, and code points help only where they recur more. Scripts
    whose clusters are single code points that do not decompose (most alphabets) never
    switch, since both shares are equal.
    """
    texts = list(inputs)
    clusters, measured = _unseen_share(texts, segment)
    if measured < _MIN_CLUSTERS_TO_MEASURE or clusters <= MAX_UNSEEN_CLUSTERS:
        return "graphemes"
    code_points, _ = _unseen_share(texts, _code_points)
    return "codepoints" if code_points <= clusters / 2 else "graphemes"
