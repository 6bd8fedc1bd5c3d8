"""Extended grapheme clusters (Unicode UAX #29): the units every text is read in.

Its own module, with no torch, so that code that only cuts text (the data generators
and ``python -m pyg_grapheme.data.generate``) does not pay for importing torch and PyG;
:mod:`pyg_grapheme.text` re-exports :func:`segment` with the graph functions.
"""

from __future__ import annotations

import regex

__all__ = ["segment"]

_GRAPHEME = regex.compile(r"\X", flags=regex.UNICODE)


def segment(text: str) -> list[str]:
    """Split ``text`` into extended grapheme clusters (UAX #29).

    ``"".join(segment(t)) == t`` for every string ``t``.
    """
    if not isinstance(text, str):
        raise TypeError(f"segment expects a str, got {type(text).__name__}")
    return _GRAPHEME.findall(text)
