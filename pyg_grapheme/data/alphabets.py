"""Alphabets of grapheme clusters for the curriculum generators.

An alphabet is a tuple of distinct strings, each exactly one extended grapheme
cluster (UAX #29), such that writing any two of them side by side never fuses
them: ``segment(a + b) == [a, b]`` for every ordered pair. That is what makes
"length" well defined: a string of ``L`` alphabet entries has ``L`` clusters,
so ``text_to_graph`` gives it ``L`` nodes. Counter-examples the check rejects:
``("e", "\\u0301")`` (a combining mark joins the letter before it) and
``("\\U0001F1FA", "\\U0001F1F8")`` (two regional indicators make one flag).

Pairwise is enough: a break between two clusters depends only on the end of the
first and the first code point of the second, so a string of entries that are
pairwise safe segments into exactly those entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from pyg_grapheme.graphemes import segment

__all__ = ["ALPHABETS", "resolve_alphabet"]


def _code_points(first: int, last: int, skip: Sequence[int] = ()) -> tuple[str, ...]:
    return tuple(chr(c) for c in range(first, last + 1) if c not in skip)


ALPHABETS: dict[str, tuple[str, ...]] = {
    "latin": _code_points(ord("a"), ord("z")),
    "latin_upper": _code_points(ord("A"), ord("Z")),
    "digits": _code_points(ord("0"), ord("9")),
    # 24 lower-case letters; final sigma U+03C2 left out (a positional variant of sigma).
    "greek": _code_points(0x03B1, 0x03C9, skip=(0x03C2,)),
    # а..я and ё: the 33 letters of the Russian alphabet.
    "cyrillic": (*_code_points(0x0430, 0x044F), "\u0451"),
    # The 28 letters of the Arabic alphabet in their isolated code points.
    "arabic": tuple("ابتثجحخدذرزسشصضطظعغفقكلمنهوي"),
    "cjk": tuple(
        "日月火水木金土山川人口大小中上下天田子女王目耳手足心力文字学生先年本名国車雨花空気白赤青"
    ),
    # Consonants alone and with a dependent vowel sign: two-code-point clusters
    # (letter + spacing mark, rule GB9a) that are not emoji.
    "devanagari": (
        *tuple("कखगघचछजझटठडढतथदधनपफबभमयरलवशषसह"),
        *("का", "कि", "की", "कु", "कू", "के", "कै", "को", "कौ"),
    ),
    # Base letter + combining accent(s), decomposed (NFD): one cluster, 2-3 code points.
    "latin_combining": (
        "e\u0301",
        "e\u0300",
        "a\u0308",
        "o\u0302",
        "u\u0303",
        "n\u0303",
        "c\u0327",
        "a\u030a",
        "i\u0301\u0323",
        "o\u0308\u0304",
    ),
    "emoji": (
        # one code point
        *("😀", "😂", "🙂", "😍", "🤔", "😎", "😭", "😡", "👍", "👎", "👋", "🙏"),
        *("💪", "🔥", "⭐", "🌈", "🍕", "🍎", "🐱", "🐶", "🚀", "🎉", "✅"),
        # emoji presentation selector
        "❤️",
        # skin-tone modifiers
        *("👍🏽", "👋🏿", "🙏🏻", "💪🏾", "👩🏼", "🧑🏽"),
        # zero-width-joiner sequences
        *("👨‍👩‍👧", "👩‍💻", "🧑‍🚀", "🏳️‍🌈", "❤️‍🔥", "🐻‍❄️", "👨‍👩‍👧‍👦", "👩🏽‍🔬"),
        # flags: pairs of regional indicators
        *("🇫🇷", "🇯🇵", "🇧🇷", "🇺🇦", "🇮🇳", "🇩🇪", "🇳🇬", "🇰🇷"),
        # keycaps
        *("1️⃣", "#️⃣"),
    ),
}


@lru_cache(maxsize=64)
def _check_clusters(alphabet: tuple[str, ...]) -> None:
    """Raise ``ValueError`` unless ``alphabet`` is a valid alphabet (see module docstring)."""
    if len(alphabet) == 0:
        raise ValueError("an alphabet needs at least one grapheme cluster, got none")
    seen: dict[str, int] = {}
    for k, cluster in enumerate(alphabet):
        parts = segment(cluster)
        if len(parts) != 1:
            raise ValueError(
                f"alphabet entry {k} {cluster!r} must be exactly one grapheme cluster, "
                f"it is {len(parts)}: {parts!r}"
            )
        if cluster in seen:
            raise ValueError(f"alphabet entries {seen[cluster]} and {k} are both {cluster!r}")
        seen[cluster] = k
    # One regex pass over every ordered pair, each followed by "\n", which always
    # breaks on both sides (rules GB4/GB5), so pairs cannot influence each other.
    joined = "".join(a + b + "\n" for a in alphabet for b in alphabet)
    expected = [x for a in alphabet for b in alphabet for x in (a, b, "\n")]
    if segment(joined) != expected:
        for a in alphabet:
            for b in alphabet:
                if segment(a + b) != [a, b]:
                    raise ValueError(
                        f"alphabet entries {a!r} and {b!r} fuse when written side by side: "
                        f"{a + b!r} segments as {segment(a + b)!r}, so lengths in grapheme "
                        "clusters would be wrong"
                    )


def resolve_alphabet(alphabet: str | Sequence[str]) -> tuple[str, ...]:
    """The clusters of ``alphabet``: a name in :data:`ALPHABETS` or a sequence of clusters.

    A ``str`` is always a *name*; to use the clusters of a string ``s`` pass
    ``segment(s)``. The result is checked (see the module docstring) and the
    check is cached per alphabet.

    Raises:
        ValueError: unknown name, empty alphabet, an entry that is not exactly
            one grapheme cluster, a duplicate, or two entries that fuse.
    """
    if isinstance(alphabet, str):
        if alphabet not in ALPHABETS:
            raise ValueError(
                f"unknown alphabet {alphabet!r}; names are {sorted(ALPHABETS)}; "
                "to use your own clusters pass a sequence, e.g. segment('abc')"
            )
        clusters = tuple(ALPHABETS[alphabet])
    else:
        clusters = tuple(alphabet)
    for k, cluster in enumerate(clusters):  # before the cache, which needs hashable entries
        if not isinstance(cluster, str):
            raise TypeError(f"alphabet entry {k} must be a str, got {type(cluster).__name__}")
    _check_clusters(clusters)
    return clusters
