r"""Train, validation and test splits of a math level that share no problem.

:func:`level_splits` draws ``count`` problems of one level of
:mod:`.math_levels` and splits them by ``fractions`` (``0.8, 0.1, 0.1``). The
held-out splits are drawn first: test with ``seed``, then validation with
``seed + 1``, then training with ``seed + 2``, each excluding every problem
drawn before it. A problem is its input *and its operand-order variants*:
``(+ 3 4)`` and ``(+ 4 3)`` are the same problem
(:mod:`.commutative_swap`, whose training augmentation makes the same
identification), so a test problem's mirror image is not in training either.

Split sizes: ``round(count * f)`` for validation and test (halves round up),
the rest for training; each split must get at least one problem. ``python -m
pyg_grapheme.data.generate --all-levels`` writes the splits of every level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pyg_grapheme.data.curriculum import generate
from pyg_grapheme.data.operand_order import operand_order_variants
from pyg_grapheme.data.text_pair import TextPair

__all__ = ["SPLITS", "level_splits", "parse_fractions", "split_sizes"]

SPLITS = ("train", "val", "test")
"""The split names, in the order of ``fractions``."""

_TOLERANCE = 1e-9


def parse_fractions(text: str) -> tuple[float, float, float]:
    """``"0.8,0.1,0.1" -> (0.8, 0.1, 0.1)``: three positive fractions that sum to 1.

    Raises:
        ValueError: not three numbers, a fraction that is not positive, or a sum other than 1.
    """
    parts = text.split(",")
    try:
        values = tuple(float(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != len(SPLITS) or not all(math.isfinite(v) for v in values):
        raise ValueError(
            f"--split must be three numbers train,val,test (0.8,0.1,0.1), got {text!r}"
        )
    if min(values) <= 0:
        raise ValueError(f"--split fractions must be positive, got {text!r}")
    if abs(sum(values) - 1.0) > _TOLERANCE:
        raise ValueError(f"--split fractions must sum to 1, got {text!r} (sum {sum(values):g})")
    return values  # type: ignore[return-value]


def split_sizes(count: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    """``(train, val, test)`` sizes of ``count`` problems (module docstring).

    Raises:
        ValueError: a split that would get no problem.
    """
    val, test = (math.floor(count * f + 0.5) for f in fractions[1:])
    sizes = (count - val - test, val, test)
    for name, size in zip(SPLITS, sizes):
        if size < 1:
            raise ValueError(
                f"--count {count} with --split {','.join(f'{f:g}' for f in fractions)} leaves "
                f"the {name} split empty; raise --count"
            )
    return sizes


def level_splits(
    level: int, count: int, fractions: Sequence[float], seed: int
) -> dict[str, list[TextPair]]:
    """``{"train": [...], "val": [...], "test": [...]}``: ``count`` problems of a math level,
    split with no problem (up to operand order) in two splits (module docstring).

    Raises:
        ValueError: a split that would be empty, or a level with too few problems
            left for a split (the message names the level).
    """
    sizes = dict(zip(SPLITS, split_sizes(count, fractions)))
    taken: set[str] = set()
    splits: dict[str, list[TextPair]] = {}
    for offset, name in enumerate(("test", "val", "train")):
        try:
            pairs = generate("math", sizes[name], seed=seed + offset, level=level, exclude=taken)
        except ValueError as exc:
            # A shortage of problems: generate's advice (other lengths, unique=False) does
            # not apply to a level, a smaller count does.
            shortage, advice, _ = str(exc).partition("; widen")
            problem = f"{shortage}; lower --count" if advice else shortage
            raise ValueError(f"level {level}, {name} split: {problem}") from None
        splits[name] = pairs
        if name != "train":
            for pair in pairs:
                taken |= operand_order_variants(pair.input)
    return {name: splits[name] for name in SPLITS}
