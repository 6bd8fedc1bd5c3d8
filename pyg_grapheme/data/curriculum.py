"""Seeded curriculum generators: (input, target) text pairs that need no download.

``generate(task, n, seed=...)`` draws ``n`` examples of one task:

==================  ===================  ============  ===========================================
task                input                target        lengths (grapheme clusters)
==================  ===================  ============  ===========================================
``copy``            ``"abc"``            ``"abc"``     of the input, ``min_len..max_len``
``drop_last``       ``"abc"``            ``"ab"``      of the input, ``max(min_len, 2)..max_len``
``dedupe``          ``"aabccc"``         ``"abc"``     of the target, ``min_len..max_len``
``squeeze_spaces``  ``"ab   c d"``       ``"ab c d"``  of the target, ``max(min_len, 3)..max_len``
``double``          ``"abc"``            ``"aabbcc"``  of the input, ``min_len..max_len``
``spaced``          ``"abc"``            ``"a b c"``   of the input, ``min_len..max_len``
``strip``           ``"  ab  c "``       ``"ab  c"``   of the input, ``max(min_len, 1)..max_len``
``math``            ``"(* (+ 3 4) 5)"``  ``"35"``      ignored (``level`` 1-7 decides)
==================  ===================  ============  ===========================================

The string tasks are defined exactly in :mod:`.string_tasks`, the seven math
levels in :mod:`.math_levels` (answers in the canonical form of
:mod:`.symbolic_polish`).

Sampling. Inputs come in classes keyed by tuples, ``(length, ...)``. Each draw
walks the key from left to right, picking every component uniformly among the
values that still have inputs left: first a length (so short strings are as
common as long ones until they run out), for ``squeeze_spaces`` then a word
count, for ``strip`` a word count, the leading and trailing spaces and the
spaces between words (so every shape is common, not only the shapes with the
most letters), for ``math`` a problem family of the level; then an input of
that class uniformly. With ``unique=True`` no input
repeats; with ``unique=False`` draws are independent. Inputs in ``exclude``
never appear (build a held-out split first, then exclude its inputs from the
training split). The sets of inputs are indexed exactly
(:mod:`.string_tasks`, :mod:`.math_levels`), so an impossible
request (more distinct inputs than exist) fails at once with the numbers, and
a request that uses up a whole length class costs ``O(count)`` rather than an
unbounded rejection loop.

Reproducibility. Only :class:`random.Random` seeded with the integer ``seed``
is used, whose integer sampling is fixed across Python versions and machines:
the same arguments give the same list everywhere.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Protocol

from pyg_grapheme.data.alphabets import resolve_alphabet
from pyg_grapheme.data.math_expressions import evaluate_polish
from pyg_grapheme.data.math_levels import math_space
from pyg_grapheme.data.polish_grammar import parse_polish_tree
from pyg_grapheme.data.string_tasks import (
    CopySpace,
    DedupeSpace,
    DoubleSpace,
    DropLastSpace,
    SpacedSpace,
    SqueezeSpacesSpace,
    StripSpace,
)
from pyg_grapheme.data.symbolic_polish import tree_to_sympy
from pyg_grapheme.data.text_pair import TextPair

__all__ = ["TASKS", "generate", "space_size"]

TASKS = ("copy", "drop_last", "dedupe", "squeeze_spaces", "double", "spaced", "strip", "math")

_STRING_SPACES = {
    "copy": CopySpace,
    "drop_last": DropLastSpace,
    "dedupe": DedupeSpace,
    "squeeze_spaces": SqueezeSpacesSpace,
    "double": DoubleSpace,
    "spaced": SpacedSpace,
    "strip": StripSpace,
}
_SYMBOLIC_LEVELS = (5, 6)


Key = tuple[int, ...]


class _Space(Protocol):
    name: str

    def classes(self) -> tuple[Key, ...]: ...
    def count(self, key: Key) -> int: ...
    def input_at(self, key: Key, index: int) -> str: ...
    def unrank(self, key: Key, index: int) -> tuple[str, str]: ...
    def classify(self, text: str) -> Key | None: ...


class _InputClass:
    """Sampling state of the inputs of one class ``(length, variant)``.

    ``taken`` holds the inputs that may not be drawn again (excluded ones, and
    drawn ones when sampling without replacement). While at most half the
    class is taken, rejection sampling needs fewer than 2 tries on average;
    past that the class has at most ``2 * len(taken)`` members, so listing the
    indices still free once and drawing from that list is cheap.
    """

    def __init__(self, space: _Space, key: Key, excluded: set[str]) -> None:
        self.space = space
        self.key = key
        self.count = space.count(key)
        self.taken = excluded
        self.free_indices: list[int] | None = None

    @property
    def available(self) -> int:
        return self.count - len(self.taken)

    def draw(self, rng: random.Random, unique: bool) -> tuple[str, str]:
        if self.free_indices is None and 2 * len(self.taken) > self.count:
            self.free_indices = [
                i for i in range(self.count) if self.space.input_at(self.key, i) not in self.taken
            ]
        if self.free_indices is None:
            while True:  # inputs only: a rejected draw costs no answer (sympy)
                index = rng.randrange(self.count)
                if self.space.input_at(self.key, index) not in self.taken:
                    break
        else:
            slot = rng.randrange(len(self.free_indices))
            index = self.free_indices[slot]
            if unique:  # swap-remove keeps the draw O(1)
                self.free_indices[slot] = self.free_indices[-1]
                self.free_indices.pop()
        text, target = self.space.unrank(self.key, index)
        if unique:
            self.taken.add(text)
        return text, target


class _ClassTree:
    """The classes as a tree over their key components, with live counts per node.

    A draw descends from the root picking a child uniformly among those with
    inputs left, so each key component is uniform given the ones before it;
    drawing without replacement takes one off every node on the path. Children
    keep key order (lengths ascending), which fixes the draws for a seed.
    """

    def __init__(self) -> None:
        self.children: dict[int, _ClassTree | _InputClass] = {}
        self.available = 0

    @classmethod
    def of(cls, classes: Sequence[_InputClass]) -> _ClassTree:
        """The tree of ``classes`` (any order; children are sorted by the first component)."""
        root = cls()
        for input_class in sorted(classes, key=lambda c: c.key[0]):
            root._add(input_class, 0)
        return root

    def _add(self, input_class: _InputClass, depth: int) -> None:
        self.available += input_class.available
        value = input_class.key[depth]
        if depth == len(input_class.key) - 1:
            self.children[value] = input_class
            return
        child = self.children.setdefault(value, _ClassTree())
        assert isinstance(child, _ClassTree)
        child._add(input_class, depth + 1)

    def draw(self, rng: random.Random, unique: bool) -> tuple[Key, str, str]:
        """``(key, input, target)`` of one draw."""
        path: list[_ClassTree] = []
        node: _ClassTree | _InputClass = self
        while isinstance(node, _ClassTree):
            path.append(node)
            live = [child for child in node.children.values() if child.available > 0]
            node = live[rng.randrange(len(live))]
        text, target = node.draw(rng, unique)
        if unique:
            for tree in path:
                tree.available -= 1
        return node.key, text, target


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _make_space(
    task: str, alphabet: str | Sequence[str], min_len: int, max_len: int, level: int
) -> _Space:
    if task == "math":
        return math_space(level)
    if task not in _STRING_SPACES:
        raise ValueError(f"unknown task {task!r}; tasks are {TASKS}")
    _check_int("min_len", min_len, 1)
    _check_int("max_len", max_len, 1)
    if max_len < min_len:
        raise ValueError(f"max_len ({max_len}) must be >= min_len ({min_len})")
    return _STRING_SPACES[task](resolve_alphabet(alphabet), min_len, max_len)


def generate(
    task: str,
    n: int,
    *,
    seed: int,
    alphabet: str | Sequence[str] = "latin",
    min_len: int = 1,
    max_len: int = 8,
    level: int = 1,
    exclude: Iterable[str] = (),
    unique: bool = True,
) -> list[TextPair]:
    """Draw ``n`` examples of a curriculum task (see the module docstring).

    Args:
        task: one of :data:`TASKS`.
        n: number of pairs, ``>= 0``.
        seed: seed of the generator; same arguments, same output.
        alphabet: a name in :data:`~pyg_grapheme.data.ALPHABETS` or a sequence of
            grapheme clusters (string tasks only; ignored by ``math``).
        min_len: shortest length in grapheme clusters (default 1; raised to 2
            for ``drop_last`` and 3 for ``squeeze_spaces``; ignored by ``math``).
            What is measured differs per task (module docstring table).
        max_len: longest length in grapheme clusters (default 8; ignored by ``math``).
        level: ``math`` only, 1-7 (:mod:`.math_levels`): 1 ``(op a b)``, 2 one
            level of nesting, 3 substitution, 4 functions, 5 ``d/dx``, 6 ``int``,
            7 linear equations (ignored by the string tasks).
        exclude: input strings that must not be drawn (any iterable; strings
            that are not inputs of the task are ignored).
        unique: draw without replacement (default) or independently.

    Returns:
        ``n`` :class:`TextPair` in draw order. ``meta`` holds ``"source"``
        (``"generate:<task>:seed=<seed>:<k>"``), ``"task"`` and ``"length"``
        (the length class, ``None`` for ``math``); ``math`` adds ``"level"``
        and ``"expected_result"`` (the answer as a float, ``None`` at the
        symbolic levels 5 and 6), like the JSONL math format.

    Raises:
        ValueError: unknown task or alphabet, bad lengths or level, or fewer
            distinct inputs than ``n`` (with ``unique``) or none at all.
        TypeError: a non-integer ``n``, ``seed`` or length, or ``exclude``
            that is a ``str`` or holds anything but strings.
    """
    _check_int("n", n, 0)
    _check_int("seed", seed, 0)
    if isinstance(exclude, str):
        raise TypeError("exclude must be a collection of input strings, not a single str")
    exclude = list(exclude)  # iterated twice below; a one-shot iterable must not run dry
    for item in exclude:
        if not isinstance(item, str):
            raise TypeError(
                f"exclude must hold input strings, got {type(item).__name__}; "
                "for pairs pass {p.input for p in pairs}"
            )
    space = _make_space(task, alphabet, min_len, max_len, level)
    excluded: dict[Key, set[str]] = {key: set() for key in space.classes()}
    for text in set(exclude):
        key = space.classify(text)
        if key is not None:
            excluded[key].add(text)
    classes = [_InputClass(space, key, excluded[key]) for key in space.classes()]
    available = sum(c.available for c in classes)
    sizes = f"{sum(c.count for c in classes)} in all, {sum(len(c.taken) for c in classes)} excluded"
    if unique and available < n:
        raise ValueError(
            f"task {task!r} has only {available} distinct inputs with these settings ({sizes}) "
            f"but n={n} were requested with unique=True; widen the alphabet or the lengths, "
            "raise the math level, or pass unique=False"
        )
    if n > 0 and available == 0:
        raise ValueError(f"task {task!r} has no inputs with these settings ({sizes})")

    rng = random.Random(seed)
    tree = _ClassTree.of(classes)
    pairs = []
    for k in range(n):
        key, text, target = tree.draw(rng, unique)
        meta: dict[str, object] = {
            "source": f"generate:{task}:seed={seed}:{k}",
            "task": task,
            "length": None if task == "math" else key[0],
        }
        if task == "math":
            meta["level"] = level
            meta["expected_result"] = _expected_result(level, text, target)
        pairs.append(TextPair(text, target, meta))
    return pairs


def _expected_result(level: int, text: str, target: str) -> float | None:
    if level in (1, 2):
        return evaluate_polish(text)
    if level in _SYMBOLIC_LEVELS:
        return None
    return float(tree_to_sympy(parse_polish_tree(target)))


def space_size(
    task: str,
    *,
    alphabet: str | Sequence[str] = "latin",
    min_len: int = 1,
    max_len: int = 8,
    level: int = 1,
) -> int:
    """How many distinct inputs :func:`generate` can draw with these arguments.

    ``space_size("math", level=5) == 143_046``; ``space_size("copy", max_len=2) ==
    26 + 26**2``. Arguments as in :func:`generate`, with the same errors.
    """
    space = _make_space(task, alphabet, min_len, max_len, level)
    return sum(space.count(key) for key in space.classes())
