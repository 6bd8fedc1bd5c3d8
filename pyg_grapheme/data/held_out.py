"""The held-out suites every string-task figure is scored on: longer strings and unseen scripts."""

from __future__ import annotations

from collections.abc import Iterable

from pyg_grapheme.data.curriculum import generate
from pyg_grapheme.data.text_pair import TextPair

__all__ = ["HELD_OUT_SCRIPTS", "held_out_suites"]

HELD_OUT_SCRIPTS = ("greek", "cyrillic", "emoji")
"""Scripts absent from training (which draws Latin strings)."""


def held_out_suites(task: str, seen: Iterable[str], max_len: int) -> dict[str, list[TextPair]]:
    """Pairs of ``task`` a model trained on Latin strings of 1..``max_len`` clusters never saw.

    ``"latin_2x"``: 300 new Latin strings of ``max_len + 1 .. 2 max_len`` clusters, none of
    them in ``seen`` (seed 101); one suite per :data:`HELD_OUT_SCRIPTS`: 200 strings of
    1..``max_len`` clusters (seed 102).
    """
    suites = {
        "latin_2x": generate(
            task,
            300,
            seed=101,
            alphabet="latin",
            min_len=max_len + 1,
            max_len=2 * max_len,
            exclude=seen,
        )
    }
    for script in HELD_OUT_SCRIPTS:
        suites[script] = generate(task, 200, seed=102, alphabet=script, max_len=max_len)
    return suites
