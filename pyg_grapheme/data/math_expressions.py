"""Arithmetic in Polish (prefix) notation: parse, evaluate, format, and the math curriculum.

GRAPHEME's curriculum writes ``"(+ 16 9)"`` for ``16 + 9`` and
``"(* (+ 3 4) 5)"`` for ``(3 + 4) * 5``: every application is parenthesised,
the operator comes first, tokens are separated by single spaces. An
expression is an ``int`` or a tuple ``(op, left, right)``.

The curriculum (:class:`MathSpace`) has two levels over the operators
``+ - *`` and the integers ``1..20``:

* level 1: ``(op a b)``, ``3 * 20 * 20 = 1200`` expressions;
* level 2: ``(op x y)`` nested exactly one level: ``x`` and ``y`` are integers
  or level-1 expressions and at least one is a level-1 expression,
  ``3 * (1220**2 - 20**2) = 4_464_000`` expressions.

The target text is :func:`format_result` of the value, the same rule the JSONL
reader applies to ``expected_result``.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

from pyg_grapheme.data.polish_grammar import PolishTree, parse_polish_tree

__all__ = [
    "LEVELS",
    "MAX_OPERAND",
    "OPERATORS",
    "MathSpace",
    "evaluate",
    "evaluate_polish",
    "expression_depth",
    "format_result",
    "parse_polish",
    "to_polish",
]

Expression = int | tuple[str, "Expression", "Expression"]

OPERATORS = ("+", "-", "*")
MAX_OPERAND = 20
LEVELS = (1, 2)

_ARITHMETIC = ("+", "-", "*", "/")
_INTEGER = re.compile(r"-?[0-9]+")


def format_result(value: float) -> str:
    """Print a number as GRAPHEME printed it: integral values as integers,
    others with the shortest digits that read back to the same float, never in exponent form.

    ``25.0 -> "25"``, ``-3.0 -> "-3"``, ``-0.0 -> "0"``, ``2.5 -> "2.5"``,
    ``1/3 -> "0.3333333333333333"``, ``2.718281828459045`` stays, ``1e-7 ->
    "0.0000001"``. The digits are Python's ``repr`` (shortest round trip) written
    positionally, as Rust's ``f64`` ``Display`` wrote GRAPHEME's Polish
    text (so ``1e300`` is a 1 and 300 zeros); every number is then an integer or a
    decimal of the Polish grammar.

    Raises:
        TypeError: ``value`` is not an ``int`` or ``float`` (``bool`` included).
        ValueError: ``value`` is NaN or infinite.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"format_result expects an int or float, got {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"format_result expects a finite number, got {value!r}")
    text = format(Decimal(repr(value)), "f")  # repr: "25.0", "1e-07", "1.5e+300"
    text = text.removesuffix(".0")
    return "0" if text == "-0" else text


def parse_polish(text: str) -> Expression:
    """Parse ``"(op a b)"`` prefix notation (operators ``+ - * /``, integer literals).

    The text is read by the project's one grammar
    (:func:`~.polish_grammar.parse_polish_tree`), then checked to be arithmetic.
    Whitespace between tokens is free; :func:`to_polish` gives the canonical
    spacing.

    Raises:
        ValueError: text outside the grammar (naming the character offset), a
            head other than ``+ - * /``, or an atom that is not an integer.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_polish expects a str, got {type(text).__name__}")
    return _arithmetic(parse_polish_tree(text), text)


def _arithmetic(tree: PolishTree, text: str) -> Expression:
    if isinstance(tree, str):
        if _INTEGER.fullmatch(tree) is None:
            raise ValueError(f"{tree!r} in {text!r} is not an integer")
        return int(tree)
    head, *args = tree
    if head not in _ARITHMETIC:
        raise ValueError(f"{head!r} in {text!r} is not an arithmetic operator (+ - * /)")
    left, right = args  # the grammar gives each of them two arguments
    return (head, _arithmetic(left, text), _arithmetic(right, text))


def to_polish(expression: Expression) -> str:
    """Canonical text of an expression: ``("*", ("+", 3, 4), 5) -> "(* (+ 3 4) 5)"``."""
    if isinstance(expression, int):
        return str(expression)
    op, left, right = expression
    return f"({op} {to_polish(left)} {to_polish(right)})"


def evaluate(expression: Expression) -> float:
    """Value of an expression as a float (``/`` is true division).

    Raises ``ZeroDivisionError`` naming the sub-expression divided by zero.
    """
    if isinstance(expression, int):
        return float(expression)
    op, left, right = expression
    a, b = evaluate(left), evaluate(right)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0.0:
        raise ZeroDivisionError(f"division by zero in {to_polish(expression)!r}")
    return a / b


def evaluate_polish(text: str) -> float:
    """``evaluate(parse_polish(text))``."""
    return evaluate(parse_polish(text))


def expression_depth(expression: Expression) -> int:
    """Nesting depth: 0 for a number, 1 for ``(op a b)`` with number operands, and so on."""
    if isinstance(expression, int):
        return 0
    _, left, right = expression
    return 1 + max(expression_depth(left), expression_depth(right))


class MathSpace:
    """The math curriculum of one level as an indexed set of expressions.

    A single class, key ``(0, level)``; index ``i`` in ``range(count(key))``
    maps to one expression (:meth:`unrank`), and :meth:`classify` recognises
    the canonical text of any expression of the space. Used by :func:`~pyg_grapheme.data.generate`.

    Args:
        level: ``1`` or ``2`` (see the module docstring).
    """

    name = "math"

    def __init__(self, level: int) -> None:
        if isinstance(level, bool) or level not in LEVELS:
            raise ValueError(f"math level must be one of {LEVELS}, got {level!r}")
        self.level = level
        self._simple = len(OPERATORS) * MAX_OPERAND * MAX_OPERAND

    def classes(self) -> tuple[tuple[int, int], ...]:
        return ((0, self.level),)

    def count(self, key: tuple[int, int]) -> int:
        if self.level == 1:
            return self._simple
        per_operator = self._simple**2 + 2 * self._simple * MAX_OPERAND
        return len(OPERATORS) * per_operator

    def _simple_expression(self, index: int) -> Expression:
        op, rest = divmod(index, MAX_OPERAND * MAX_OPERAND)
        a, b = divmod(rest, MAX_OPERAND)
        return (OPERATORS[op], a + 1, b + 1)

    def _expression(self, index: int) -> Expression:
        if self.level == 1:
            return self._simple_expression(index)
        per_operator = self._simple**2 + 2 * self._simple * MAX_OPERAND
        op, rest = divmod(index, per_operator)
        left: Expression
        right: Expression
        if rest < self._simple**2:  # (expression, expression)
            i, j = divmod(rest, self._simple)
            left, right = self._simple_expression(i), self._simple_expression(j)
        elif rest < self._simple**2 + self._simple * MAX_OPERAND:  # (expression, number)
            i, j = divmod(rest - self._simple**2, MAX_OPERAND)
            left, right = self._simple_expression(i), j + 1
        else:  # (number, expression)
            i, j = divmod(rest - self._simple**2 - self._simple * MAX_OPERAND, self._simple)
            left, right = i + 1, self._simple_expression(j)
        return (OPERATORS[op], left, right)

    def input_at(self, key: tuple[int, int], index: int) -> str:
        """The input of expression ``index``."""
        return to_polish(self._expression(index))

    def unrank(self, key: tuple[int, int], index: int) -> tuple[str, str]:
        """``(input, target)`` of expression ``index``."""
        expression = self._expression(index)
        return to_polish(expression), format_result(evaluate(expression))

    def classify(self, text: str) -> tuple[int, int] | None:
        """``(0, level)`` if ``text`` is the canonical text of an expression of this space, else ``None``."""
        try:
            expression = parse_polish(text)
        except ValueError:
            return None
        if to_polish(expression) != text or expression_depth(expression) != self.level:
            return None

        def allowed(e: Expression) -> bool:
            if isinstance(e, int):
                return 1 <= e <= MAX_OPERAND
            return e[0] in OPERATORS and allowed(e[1]) and allowed(e[2])

        return (0, self.level) if allowed(expression) else None
