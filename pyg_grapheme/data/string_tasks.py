"""The string curriculum tasks as indexed sets of (input, target) pairs.

Each task is a finite set of inputs split into classes with keys
``(L, variant)``. For each class a space gives ``count(key)`` (how many
inputs), ``unrank(key, i)`` (the ``i``-th input and its target: a bijection
from ``range(count(key))``) and ``classify(text)`` (the class of ``text`` if it
is an input of the space, else ``None``). :func:`~pyg_grapheme.data.generate`
samples through these three methods, so it knows exactly when a request cannot
be met and never loops looking for inputs that do not exist. Lengths ``L`` are
in grapheme clusters; ``k`` is the size of the alphabet (:mod:`.alphabets`).

``copy``: input any ``L`` clusters, target the input; ``k**L`` per ``L``.

``drop_last``: input any ``L >= 2`` clusters, target the input minus its last
cluster; ``k**L`` per ``L``.

``dedupe``: target ``L`` clusters with no two neighbours equal, input the
target with each cluster repeated 1-3 times and at least one repeated;
``k (k-1)**(L-1) (3**L - 1)`` per ``L`` (``L`` is the *target* length, the
input has ``L..3L`` clusters).

``squeeze_spaces``: target ``w >= 2`` non-empty words over the alphabet joined
by single spaces, ``L`` clusters counting the spaces; input the target with
each space grown to 1-3 spaces, at least one gap of 2 or more, no leading or
trailing spaces; ``C(L-w, w-1) k**(L-w+1) (3**(w-1) - 1)`` per class
``(L, w)`` (``L`` is the *target* length).

``dedupe`` and ``squeeze_spaces`` always have something to collapse, so none of
their examples is the identity.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from math import comb

from pyg_grapheme.text import segment

__all__ = [
    "MAX_RUN",
    "CopySpace",
    "DedupeSpace",
    "DropLastSpace",
    "SqueezeSpacesSpace",
]

MAX_RUN = 3
"""Longest run of a repeated cluster (``dedupe``) or of spaces (``squeeze_spaces``)."""

_SPACE = " "


def _digits(index: int, base: int, width: int) -> list[int]:
    """``index`` in ``base`` as ``width`` digits, most significant first."""
    out = [0] * width
    for position in range(width - 1, -1, -1):
        index, out[position] = divmod(index, base)
    return out


def _repeat_counts(index: int, width: int) -> list[int]:
    """The ``index``-th of the ``3**width - 1`` run-length tuples in ``{1,2,3}**width``
    that are not all 1 (skipping the all-ones tuple, which is digit value 0)."""
    return [d + 1 for d in _digits(index + 1, MAX_RUN, width)]


def _combination(n: int, r: int, index: int) -> list[int]:
    """The ``index``-th ``r``-subset of ``range(n)`` in lexicographic order, sorted."""
    out: list[int] = []
    start = 0
    for slots_left in range(r, 0, -1):
        for candidate in range(start, n):
            block = comb(n - candidate - 1, slots_left - 1)
            if index < block:
                out.append(candidate)
                start = candidate + 1
                break
            index -= block
    return out


Key = tuple[int, int]
"""A class of inputs: ``(length, variant)``; ``variant`` is the word count for
``squeeze_spaces`` and 0 for the other tasks."""


class _StringSpace:
    """Shared state: the alphabet and the range of lengths."""

    name = ""
    shortest = 1

    def __init__(self, alphabet: Sequence[str], min_len: int, max_len: int) -> None:
        self.alphabet = tuple(alphabet)
        self.k = len(self.alphabet)
        self._members = frozenset(self.alphabet)
        self.min_len = max(min_len, self.shortest)
        self.max_len = max_len
        if self.max_len < self.min_len:
            raise ValueError(
                f"task {self.name!r} needs lengths of at least {self.shortest} grapheme clusters, "
                f"got min_len={min_len}, max_len={max_len}"
            )

    def classes(self) -> tuple[Key, ...]:
        return tuple((length, 0) for length in range(self.min_len, self.max_len + 1))

    def _key(self, length: int, variant: int = 0) -> Key | None:
        return (length, variant) if self.min_len <= length <= self.max_len else None

    def _word(self, index: int, length: int) -> list[str]:
        return [self.alphabet[d] for d in _digits(index, self.k, length)]


class CopySpace(_StringSpace):
    """``copy``: the target is the input."""

    name = "copy"

    def count(self, key: Key) -> int:
        return self.k ** key[0]

    def unrank(self, key: Key, index: int) -> tuple[str, str]:
        text = "".join(self._word(index, key[0]))
        return text, text

    def classify(self, text: str) -> Key | None:
        clusters = segment(text)
        if not all(c in self._members for c in clusters):
            return None
        return self._key(len(clusters))


class DropLastSpace(CopySpace):
    """``drop_last``: the target is the input without its last grapheme cluster (``L >= 2``)."""

    name = "drop_last"
    shortest = 2

    def unrank(self, key: Key, index: int) -> tuple[str, str]:
        clusters = self._word(index, key[0])
        return "".join(clusters), "".join(clusters[:-1])


class DedupeSpace(_StringSpace):
    """``dedupe``: collapse each run of a repeated cluster to one (``L`` = target length)."""

    name = "dedupe"

    def count(self, key: Key) -> int:
        length = key[0]
        return self.k * (self.k - 1) ** (length - 1) * (MAX_RUN**length - 1)

    def unrank(self, key: Key, index: int) -> tuple[str, str]:
        length = key[0]
        target_index, pattern = divmod(index, MAX_RUN**length - 1)
        # First cluster: any of k; each next one: any of the k - 1 others.
        first, rest = divmod(target_index, max(self.k - 1, 1) ** (length - 1))
        chosen = [first]
        for digit in _digits(rest, self.k - 1, length - 1) if length > 1 else []:
            chosen.append(digit if digit < chosen[-1] else digit + 1)
        target = [self.alphabet[c] for c in chosen]
        runs = _repeat_counts(pattern, length)
        return "".join(c * r for c, r in zip(target, runs)), "".join(target)

    def classify(self, text: str) -> Key | None:
        clusters = segment(text)
        if not clusters or not all(c in self._members for c in clusters):
            return None
        runs = [len(list(group)) for _, group in itertools.groupby(clusters)]
        if max(runs) > MAX_RUN or max(runs) < 2:
            return None
        return self._key(len(runs))


class SqueezeSpacesSpace(_StringSpace):
    """``squeeze_spaces``: collapse each run of spaces to one (``L`` = target length).

    Words are non-empty strings over the alphabet (which must not contain a
    cluster with a space in it); the target has ``w >= 2`` words, so ``L >= 3``.
    The classes are ``(L, w)``: the sampler picks ``w`` uniformly for a given
    ``L``, because uniform over all targets of length ``L`` would almost always
    give two words (there are ``k`` times more targets with one word fewer).
    """

    name = "squeeze_spaces"
    shortest = 3

    def __init__(self, alphabet: Sequence[str], min_len: int, max_len: int) -> None:
        super().__init__(alphabet, min_len, max_len)
        # No need to check that entries do not fuse with a space: a cluster that
        # joins a space before it starts with Extend/ZWJ/SpacingMark (GB9, GB9a)
        # and one that joins a space after it ends with Prepend (GB9b); either
        # would join a copy of itself, which the alphabet check already rejects.
        for cluster in self.alphabet:
            if _SPACE in cluster:
                raise ValueError(
                    f"squeeze_spaces needs an alphabet without spaces; {cluster!r} contains one"
                )

    def classes(self) -> tuple[Key, ...]:
        return tuple(
            (length, words)
            for length in range(self.min_len, self.max_len + 1)
            for words in range(2, (length + 1) // 2 + 1)
        )

    def count(self, key: Key) -> int:
        length, words = key
        letters = length - (words - 1)
        shapes = comb(letters - 1, words - 1)
        return shapes * self.k**letters * (MAX_RUN ** (words - 1) - 1)

    def unrank(self, key: Key, index: int) -> tuple[str, str]:
        length, words = key
        letters = length - (words - 1)
        index, pattern = divmod(index, MAX_RUN ** (words - 1) - 1)
        shape, letter_index = divmod(index, self.k**letters)
        cuts = _combination(letters - 1, words - 1, shape)
        bounds = [0, *(c + 1 for c in cuts), letters]
        clusters = self._word(letter_index, letters)
        word_list = ["".join(clusters[a:b]) for a, b in itertools.pairwise(bounds)]
        gaps = _repeat_counts(pattern, words - 1)
        text = word_list[0] + "".join(_SPACE * g + w for g, w in zip(gaps, word_list[1:]))
        return text, _SPACE.join(word_list)

    def classify(self, text: str) -> Key | None:
        clusters = segment(text)
        if not clusters or clusters[0] == _SPACE or clusters[-1] == _SPACE:
            return None
        letters = 0
        gaps: list[int] = []
        for is_space, group in itertools.groupby(clusters, key=lambda c: c == _SPACE):
            members = list(group)
            if is_space:
                gaps.append(len(members))
            elif all(c in self._members for c in members):
                letters += len(members)
            else:
                return None
        if not gaps or max(gaps) > MAX_RUN or max(gaps) < 2:
            return None
        return self._key(letters + len(gaps), len(gaps) + 1)
