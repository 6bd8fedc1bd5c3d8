r"""What morphed into what, as text: ``"aa→a · b→bb · c→∅"``.

Each pooled node (a cluster of input graphemes) is shown with the units it grew into,
in reading order. Spaces inside graphemes show as ``␣``; a cluster that writes nothing
shows ``∅``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["EMPTY", "describe_morph"]

EMPTY = "\u2205"
"""What :func:`describe_morph` shows for a cluster that produces nothing."""


def _show(parts: Sequence[str], joiner: str) -> str:
    if joiner == "":
        return "".join(parts).replace(" ", "\u2423") or EMPTY
    return joiner.join(parts) or EMPTY


def describe_morph(
    inputs: Sequence[str],
    cluster: Sequence[int],
    outputs: Sequence[str],
    parent: Sequence[int],
    joiner: str = "",
) -> str:
    """One graph's merges and splits as text: ``"aa→a · b→bb · c→∅"``.

    Args:
        inputs: the input graphemes, in order.
        cluster: pooled node of each input grapheme (any ids, one per cluster).
        outputs: the output units, in order.
        parent: pooled node each output unit grew from (the ids of ``cluster``).
        joiner: how the output units of one cluster are joined: ``""`` for graphemes
            (spaces show as ``␣``), ``" "`` for tokens (``"x→k s"``).
    """
    order: list[int] = []
    members: dict[int, list[str]] = {}
    for grapheme, k in zip(inputs, cluster):
        if k not in members:
            order.append(k)
            members[k] = []
        members[k].append(grapheme)
    children: dict[int, list[str]] = {}
    for unit, k in zip(outputs, parent):
        children.setdefault(k, []).append(unit)
    return " \u00b7 ".join(
        f"{_show(members[k], '')}\u2192{_show(children.get(k, []), joiner)}" for k in order
    )
