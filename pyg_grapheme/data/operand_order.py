"""The texts of one arithmetic problem: ``(+ a b)`` and ``(+ b a)`` are the same problem.

Addition and multiplication commute. :func:`operand_order_variants` lists every text of
the same problem in the whole Polish notation (``(let x 7 (* 12 x))`` and ``(let x 7
(* x 12))``), and :func:`operand_order_key` names the problem, so held-out splits
(:mod:`~pyg_grapheme.data.level_splits`) keep a problem and its mirror images on one
side. Pure text, no torch: the data generator's command imports it
(:mod:`~pyg_grapheme.data.commutative_swap` swaps operands during training).
"""

from __future__ import annotations

import itertools

from pyg_grapheme.data.polish_grammar import PolishTree, parse_polish_tree

__all__ = ["COMMUTATIVE", "operand_order_key", "operand_order_variants"]

COMMUTATIVE = ("+", "*")
"""The operators whose two operands may swap."""


def _variants(tree: PolishTree) -> list[str]:
    if isinstance(tree, str):
        return [tree]
    head, *args = tree
    texts = [f"({head} {' '.join(parts)})" for parts in itertools.product(*map(_variants, args))]
    if head in COMMUTATIVE:
        texts += [
            f"({head} {right} {left})" for left, right in itertools.product(*map(_variants, args))
        ]
    return texts


def operand_order_variants(text: str) -> frozenset[str]:
    """Every text that is ``text`` with the operands of some ``+``/``*`` applications
    swapped, ``text`` included: ``2**k`` texts at most for ``k`` applications
    (fewer where both operands read the same).

    A text outside the Polish grammar is its only variant.
    """
    try:
        tree = parse_polish_tree(text)
    except ValueError:
        return frozenset((text,))
    return frozenset(_variants(tree)) | {text}


def _key(tree: PolishTree) -> str:
    if isinstance(tree, str):
        return tree
    head, *args = tree
    keys = [_key(arg) for arg in args]
    if head in COMMUTATIVE:
        keys.sort()
    return f"({head} {' '.join(keys)})"


def operand_order_key(text: str) -> str:
    """One name for all :func:`operand_order_variants` of ``text``: the variant whose
    commutative operands are in sorted order at every application (``text`` itself when
    it is outside the grammar). Two texts are the same problem when their keys are equal."""
    try:
        return _key(parse_polish_tree(text))
    except ValueError:
        return text
