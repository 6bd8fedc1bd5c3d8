r"""Has a member learnt to read its input? Its validation likelihood against the best model
of the targets alone.

A transducer can fit the targets without reading its input (which units follow which,
how many a node writes) and stay on that plateau: every word gets the same kind of guess.
On G2P, a fit started at too high a learning rate can stay there (an Adyghe member at
peak rate 0.003: 2.174 nats a unit at the first validation, greedy exact match 0, where
its partner was at 0.458; ``bench/results/g2p.md``). The reference is the validation
targets' negative log-likelihood under the best of three models of the training targets
alone: a bigram model,

.. math::

    \text{NLL}_{\text{bigram}} = -\frac{1}{\sum_j (|y_j| + 1)} \sum_j \sum_{t=1}^{|y_j|+1}
    \log \frac{c(y_{j,t-1}, y_{j,t}) + k}{c(y_{j,t-1}) + k |V|},

with :math:`y_{j,0}` a start and :math:`y_{j,|y_j|+1}` an end symbol, :math:`c` the counts
of the training targets, :math:`V` the units of both files and the end, and :math:`k` the
add-:math:`k` smoothing (0.1); the unit frequencies alone; and a uniform guess,
:math:`\log |V|` (:func:`input_blind_nll`). It is in the transducer term's unit, nats per
unit and end (:meth:`~lightning_modules.module.GraphTransformModule.validation_nll`).

The transducer knows its input's length and some of its letters even when it has learnt
little else, so the collapsed Adyghe member beat the reference (2.174 against 2.541); a
member counts as not reading its input while its likelihood is above :data:`BLIND_SHARE`
of the reference. At the first validation of the 15 G2P fits at peak rate 0.002 (the
mean of two members that both trained) the likelihood was 0.07-0.46 of the reference
(Korean 0.46, Hindi 0.41, the rest at most 0.24); the collapsed member was at 0.86. At
peak rate 0.003 with a warm-up of 0.25, whose rate is still rising at the first
validation, Korean's and Hindi's were at 0.61 and 0.57; at the second every language
was at most 0.25 in both runs. So a member is named only after
:data:`BLIND_VALIDATIONS` validations in a row above the share (the collapsed Adyghe
fit's members still had greedy exact match 0 at epochs 5, 10 and 15).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import pairwise

from torch import Tensor

__all__ = [
    "BLIND_SHARE",
    "SMOOTHING",
    "bigram_nll",
    "input_blind_members",
    "input_blind_nll",
    "ngram_nll",
]

SMOOTHING = 0.1  # add-k: unseen pairs keep some mass without flattening the seen ones
# Above this share of the input-blind reference a member has learnt little of its input
# (module docstring: sound G2P members at 0.07-0.46 at the first validation, collapsed 0.86).
BLIND_SHARE = 0.75
# Validations in a row above it before a member is named: slow members can be there at the
# first validation (Korean and Hindi at 0.003 with warm-up 0.25), collapsed ones stay.
BLIND_VALIDATIONS = 2

_START, _END = object(), object()  # never equal to a unit


def ngram_nll(
    train: Iterable[Sequence[str]],
    val: Iterable[Sequence[str]],
    order: int = 2,
    smoothing: float = SMOOTHING,
) -> float:
    """The validation targets' negative log-likelihood, nats per unit and end, under an
    add-``smoothing`` model of the training targets in which each unit depends on the
    ``order - 1`` units before it (2: the bigram model of the module docstring; 1: unit
    frequencies alone).

    Args:
        train: the training targets, each a sequence of units.
        val: the validation targets, likewise.
        order: 1 or 2.
        smoothing: :math:`k > 0`.

    Returns:
        The mean over every validation unit and end; ``nan`` without validation targets.

    Raises:
        ValueError: ``order`` not 1 or 2, or ``smoothing`` not positive.
    """
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    if not smoothing > 0.0:
        raise ValueError(f"smoothing must be positive, got {smoothing!r}")
    val = [list(target) for target in val]
    pairs: Counter[tuple[object, object]] = Counter()
    contexts: Counter[object] = Counter()
    vocabulary: set[object] = {_END}
    for target in train:
        vocabulary.update(target)
        for before, unit in pairwise([_START, *target, _END]):
            context = before if order == 2 else _START
            pairs[context, unit] += 1
            contexts[context] += 1
    for target in val:
        vocabulary.update(target)
    size = len(vocabulary)
    total, events = 0.0, 0
    for target in val:
        for before, unit in pairwise([_START, *target, _END]):
            context = before if order == 2 else _START
            p = (pairs[context, unit] + smoothing) / (contexts[context] + smoothing * size)
            total -= math.log(p)
            events += 1
    return total / events if events else math.nan


def bigram_nll(
    train: Iterable[Sequence[str]], val: Iterable[Sequence[str]], smoothing: float = SMOOTHING
) -> float:
    """:func:`ngram_nll` of order 2: the bigram model of the module docstring."""
    return ngram_nll(train, val, 2, smoothing)


def input_blind_nll(train: Iterable[Sequence[str]], val: Iterable[Sequence[str]]) -> float:
    r"""The best an input-blind model of the training targets does on the validation
    targets, nats per unit and end: the least of the bigram model, the unit frequencies
    (:func:`ngram_nll`) and a uniform choice among the units of both files and the end
    (:math:`\log |V|`). On a small training set the smoothed bigram can be worse than
    guessing, and a model that guesses must not pass for one that reads its input.
    ``nan`` without validation targets."""
    train = [list(target) for target in train]
    val = [list(target) for target in val]
    size = len({unit for target in train + val for unit in target}) + 1  # and the end
    return min(ngram_nll(train, val, 2), ngram_nll(train, val, 1), math.log(size))


def input_blind_members(nll: Tensor, reference: float, share: float = BLIND_SHARE) -> list[bool]:
    """Which members have learnt little of their input: validation likelihood ``nll``
    (``[members]``, nats per unit and end) above ``share`` of the input-blind
    ``reference`` (:func:`input_blind_nll`). A member whose likelihood is not finite counts
    as blind."""
    return [not (value <= share * reference) for value in nll.tolist()]
