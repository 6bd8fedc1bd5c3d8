r"""The project's Polish (prefix) notation: its grammar, a parser and the canonical spacing.

Grammar (tokens separated by single spaces, every application parenthesised,
the head first)::

    expr   := number | symbol | "(" head expr+ ")"
    number := -?[0-9]+ | -?[0-9]+\.[0-9]+         integers and decimals
    symbol := a letter, then letters, digits or _, not a head ("x", "y", "z")

============================  =====  ==============================================
head                          arity  meaning
============================  =====  ==============================================
``+ - * / ^``                 2      sum, difference, product, quotient, power
``sin cos tan exp ln sqrt``   1      functions (``ln`` is the natural logarithm)
``abs``                       1      absolute value
``d/dx``                      1      the task "differentiate in x" (level 5)
``int``                       1      the task "an antiderivative in x" (level 6)
``=``                         2      the task "solve this equation for x" (level 7)
``let``                       3      ``(let x 2 F)``: F with x bound to 2 (level 3)
============================  =====  ==============================================

Levels 1 and 2 of the curriculum use the arithmetic subset (binary ``+ - * /``
on integers, :func:`~.math_expressions.parse_polish`); the sympy side of the
notation (values and the canonical answer form) is :mod:`.symbolic_polish`.
This module needs neither, so both build on it.
"""

from __future__ import annotations

import re

__all__ = [
    "ARITY",
    "FUNCTION_HEADS",
    "OPERATORS",
    "PolishTree",
    "is_number",
    "is_symbol",
    "parse_polish_tree",
    "tree_to_text",
]

PolishTree = str | tuple
"""An atom (number or symbol, as its text) or an application ``(head, arg, ...)``."""

OPERATORS = ("+", "-", "*", "/", "^")
"""The binary operator heads."""

FUNCTION_HEADS = ("sin", "cos", "tan", "exp", "ln", "sqrt", "abs")
"""The one-argument function heads."""

ARITY = {
    **dict.fromkeys(OPERATORS, 2),
    **dict.fromkeys(FUNCTION_HEADS, 1),
    "d/dx": 1,
    "int": 1,
    "=": 2,
    "let": 3,
}
"""Every head of the grammar and its number of arguments."""

_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_SYMBOL = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def is_number(atom: str) -> bool:
    """Whether ``atom`` is a number token (``-3``, ``2.5``)."""
    return _NUMBER.fullmatch(atom) is not None


def is_symbol(atom: str) -> bool:
    """Whether ``atom`` is a symbol token (a name that is not a head)."""
    return _SYMBOL.fullmatch(atom) is not None and atom not in ARITY


def parse_polish_tree(text: str) -> PolishTree:
    """Parse a text of the grammar into a tree.

    ``"(d/dx (* 3 (sin x)))" -> ("d/dx", ("*", "3", ("sin", "x")))``. Whitespace
    between tokens is free (:func:`tree_to_text` gives the canonical spacing).

    Raises:
        ValueError: a token that is neither a number, a symbol nor ``(``/``)``, an
            unknown head, a wrong number of arguments, unbalanced parentheses or
            text after the expression, naming the character offset.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_polish_tree expects a str, got {type(text).__name__}")
    tokens = [(m.start(), m.group()) for m in _TOKEN.finditer(text)]
    position = 0

    def where() -> int:
        return tokens[position][0] if position < len(tokens) else len(text)

    def expression() -> PolishTree:
        nonlocal position
        if position >= len(tokens):
            raise ValueError(f"expression ends too early at offset {len(text)} of {text!r}")
        at, token = tokens[position]
        position += 1
        if token == ")":
            raise ValueError(f"unexpected ')' at offset {at} of {text!r}")
        if token != "(":
            if not (is_number(token) or is_symbol(token)):
                raise ValueError(f"{token!r} at offset {at} of {text!r} is not a number or symbol")
            return token
        if position >= len(tokens) or tokens[position][1] not in ARITY:
            found = tokens[position][1] if position < len(tokens) else "the end"
            raise ValueError(f"expected a head at offset {where()} of {text!r}, got {found!r}")
        head = tokens[position][1]
        position += 1
        args = []
        while position < len(tokens) and tokens[position][1] != ")":
            args.append(expression())
        if position >= len(tokens):
            raise ValueError(f"missing ')' at offset {len(text)} of {text!r}")
        if len(args) != ARITY[head]:
            raise ValueError(
                f"{head!r} takes {ARITY[head]} argument(s), got {len(args)} "
                f"before offset {where()} of {text!r}"
            )
        position += 1
        return (head, *args)

    tree = expression()
    if position != len(tokens):
        raise ValueError(f"unexpected text at offset {where()} of {text!r}")
    return tree


def tree_to_text(tree: PolishTree) -> str:
    """Canonical spacing of a tree: ``("+", "1", "x") -> "(+ 1 x)"``."""
    if isinstance(tree, str):
        return tree
    return "(" + " ".join([tree[0], *(tree_to_text(arg) for arg in tree[1:])]) + ")"
