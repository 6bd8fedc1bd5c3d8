"""The string curriculum tasks as indexed sets of (input, target) pairs.

Each task is a finite set of inputs split into classes with keys
``(L, variant, ...)``. For each class a space gives ``count(key)`` (how many
inputs), ``unrank(key, i)`` (the ``i``-th input and its target: a bijection
from ``range(count(key))``), ``input_at(key, i)`` (the input alone) and
``classify(text)`` (the class of ``text`` if it is an input of the space, else
``None``). :func:`~pyg_grapheme.data.generate` samples through these methods, so it knows exactly when a request cannot
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

``double``: input any ``L`` clusters, target each cluster written twice
(``"abc" -> "aabbcc"``, ``2L`` clusters); ``k**L`` per ``L``.

``spaced``: input any ``L`` clusters, target the clusters joined by single
spaces (``"abc" -> "a b c"``, ``2L - 1`` clusters); ``k**L`` per ``L``.

``strip``: input ``L`` clusters (spaces counted), target the input without its
leading and trailing spaces. For each ``L`` there is the input of ``L``
spaces, whose target is ``""``. The others are a core of ``w >= 1`` non-empty
words over the alphabet joined by runs of 1-3 spaces (kept in the target),
with ``a`` leading and ``b`` trailing spaces, ``a, b`` in 0..3 and ``a + b >=
1``; class ``(L, w, (a, b), G)`` (``G`` spaces between the words) has
``R(w-1, G) C(n-1, w-1) k**n`` inputs, ``n = L - a - b - G`` letters and
``R(m, G)`` the tuples of ``m`` runs in 1..3 summing to ``G``. The sampler
picks ``w``, ``(a, b)`` and ``G`` uniformly for a given ``L``, so inputs with
inner spaces (``w >= 2``) are common and deleting every space is wrong on
them, and edge runs of 2-3 spaces are as common as single ones.

``dedupe``, ``squeeze_spaces`` and ``strip`` always have something to remove,
so none of their examples is the identity. ``spaced`` and ``strip`` need an
alphabet without spaces.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import cache
from math import comb

from pyg_grapheme.graphemes import segment

__all__ = [
    "MAX_RUN",
    "CopySpace",
    "DedupeSpace",
    "DoubleSpace",
    "DropLastSpace",
    "SpacedSpace",
    "SqueezeSpacesSpace",
    "StripSpace",
]

MAX_RUN = 3
"""Longest run of a repeated cluster (``dedupe``) or of spaces (``squeeze_spaces``,
and ``strip`` except its all-space inputs)."""

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


Key = tuple[int, ...]
"""A class of inputs: ``(length, variant)``, where ``variant`` is the word count for
``squeeze_spaces`` and 0 for the other tasks, or ``(length, words, edges, inner
spaces)`` for ``strip``."""


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

    def _reject_spaces(self) -> None:
        # No need to check that entries do not fuse with a space: a cluster that
        # joins a space before it starts with Extend/ZWJ/SpacingMark (GB9, GB9a)
        # and one that joins a space after it ends with Prepend (GB9b); either
        # would join a copy of itself, which the alphabet check already rejects.
        for cluster in self.alphabet:
            if _SPACE in cluster:
                raise ValueError(
                    f"{self.name} needs an alphabet without spaces; {cluster!r} contains one"
                )

    def input_at(self, key: Key, index: int) -> str:
        """The input of ``unrank(key, index)``."""
        return self.unrank(key, index)[0]


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
        self._reject_spaces()

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


class DoubleSpace(CopySpace):
    """``double``: every cluster written twice (``L`` = input length)."""

    name = "double"

    def unrank(self, key: Key, index: int) -> tuple[str, str]:
        clusters = self._word(index, key[0])
        return "".join(clusters), "".join(c + c for c in clusters)


class SpacedSpace(CopySpace):
    """``spaced``: the clusters joined by single spaces (``L`` = input length)."""

    name = "spaced"

    def __init__(self, alphabet: Sequence[str], min_len: int, max_len: int) -> None:
        super().__init__(alphabet, min_len, max_len)
        self._reject_spaces()

    def unrank(self, key: Key, index: int) -> tuple[str, str]:
        clusters = self._word(index, key[0])
        return "".join(clusters), _SPACE.join(clusters)


@cache
def _runs_summing_to(parts: int, total: int) -> int:
    """How many tuples of ``parts`` runs in ``1..MAX_RUN`` sum to ``total``."""
    if parts == 0:
        return int(total == 0)
    return sum(_runs_summing_to(parts - 1, total - r) for r in range(1, MAX_RUN + 1))


def _runs_at(parts: int, total: int, index: int) -> list[int]:
    """The ``index``-th (lexicographic) tuple counted by :func:`_runs_summing_to`."""
    runs = []
    for left in range(parts, 0, -1):
        for run in range(1, MAX_RUN + 1):
            block = _runs_summing_to(left - 1, total - run)
            if index < block:
                runs.append(run)
                total -= run
                break
            index -= block
    return runs


_EDGES = tuple((a, b) for a in range(MAX_RUN + 1) for b in range(MAX_RUN + 1) if a + b > 0)
"""Leading and trailing space runs of a ``strip`` input with words."""


class StripSpace(_StringSpace):
    """``strip``: leading and trailing spaces removed (``L`` = input length, spaces counted).

    Classes ``(L, w, e, G)``: ``(L, 0, 0, 0)`` is ``" " * L`` (target ``""``).
    With ``w >= 1`` words: ``e`` indexes the leading and trailing runs ``(a, b)``
    in :data:`_EDGES` (0-3 spaces each, at least one in all) and ``G`` is the
    number of spaces between the words (runs of 1-3, so ``w - 1 <= G <= 3(w -
    1)``); ``n = L - a - b - G >= w`` letters. A class holds ``R(w-1, G)
    C(n-1, w-1) k**n`` inputs (``R``: run tuples with that sum), indexed by the
    inner runs, then where the words break, then the letters, in mixed radix.
    The sampler picks each key component uniformly, so many-space shapes are as
    common as the one-space shapes that have more letters.
    """

    name = "strip"

    def __init__(self, alphabet: Sequence[str], min_len: int, max_len: int) -> None:
        super().__init__(alphabet, min_len, max_len)
        self._reject_spaces()

    def classes(self) -> tuple[Key, ...]:
        keys: list[Key] = []
        for length in range(self.min_len, self.max_len + 1):
            keys.append((length, 0, 0, 0))
            for words in range(1, length // 2 + 1):
                for edge, (a, b) in enumerate(_EDGES):
                    for gaps in range(words - 1, MAX_RUN * (words - 1) + 1):
                        if length - a - b - gaps >= words:
                            keys.append((length, words, edge, gaps))
        return tuple(keys)

    def count(self, key: Key) -> int:
        length, words, edge, gaps = key
        if words == 0:
            return 1
        a, b = _EDGES[edge]
        letters = length - a - b - gaps
        return _runs_summing_to(words - 1, gaps) * comb(letters - 1, words - 1) * self.k**letters

    def unrank(self, key: Key, index: int) -> tuple[str, str]:
        length, words, edge, gaps = key
        if words == 0:
            return _SPACE * length, ""
        a, b = _EDGES[edge]
        letters = length - a - b - gaps
        index, letter_index = divmod(index, self.k**letters)
        run_index, shape = divmod(index, comb(letters - 1, words - 1))
        runs = _runs_at(words - 1, gaps, run_index)
        cuts = _combination(letters - 1, words - 1, shape)
        bounds = [0, *(c + 1 for c in cuts), letters]
        clusters = self._word(letter_index, letters)
        word_list = ["".join(clusters[i:j]) for i, j in itertools.pairwise(bounds)]
        core = word_list[0] + "".join(_SPACE * r + w for r, w in zip(runs, word_list[1:]))
        return _SPACE * a + core + _SPACE * b, core

    def classify(self, text: str) -> Key | None:
        clusters = segment(text)
        if not self.min_len <= len(clusters) <= self.max_len:
            return None
        if all(c == _SPACE for c in clusters):
            return (len(clusters), 0, 0, 0)
        if not all(c in self._members for c in clusters if c != _SPACE):
            return None
        runs = [
            (is_space, len(list(group)))
            for is_space, group in itertools.groupby(clusters, key=lambda c: c == _SPACE)
        ]
        a = runs[0][1] if runs[0][0] else 0
        b = runs[-1][1] if runs[-1][0] else 0
        inner = [size for is_space, size in runs[1:-1] if is_space]
        if (a, b) not in _EDGES or (inner and max(inner) > MAX_RUN):
            return None
        return (len(clusters), len(inner) + 1, _EDGES.index((a, b)), sum(inner))
