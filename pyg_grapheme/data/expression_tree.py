"""GRAPHEME's JSON expression trees, read into Polish text.

GRAPHEME (the predecessor project: ``docs/guides/data_formats.md``) stored
expressions, through Rust's serde, as externally tagged JSON:
every node is an object with exactly one key naming its kind.

===================================================  =======================
node                                                 Polish text
===================================================  =======================
``{"Value": {"Integer": 16}}``                       ``16``
``{"Value": {"Float": 2.5}}``                        ``2.5`` (``25.0 -> 25``)
``{"Value": {"Symbol": "x"}}``                       ``x``
``{"Value": {"Rational": [1, 2]}}``                  ``(/ 1 2)``
``{"BinOp": {"op": "Add", "left": L, "right": R}}``  ``(+ L R)``
``{"UnaryOp": {"op": "Neg", "operand": A}}``         ``(- A)``
``{"Function": {"func": "Sin", "args": [A]}}``       ``(sin A)``
===================================================  =======================

Operators ``Add Sub Mul Div Pow Mod`` print as ``+ - * / ^ %``; functions
``Sin Cos Tan Log Ln Exp Sqrt Abs Floor Ceil`` as their lower-case names (``Log``
is base 10, ``Ln`` natural). Floats print with
:func:`~.math_expressions.format_result`, as GRAPHEME's Rust printer
did. The text is the tree as it is, not simplified: GRAPHEME's derivative of
``x^3`` reads ``(* (* 3 (^ x (- 3 1))) 1)``.

Anything else is an :class:`ExpressionTreeError` naming where in the tree it is
(``BinOp.left.Function.args[0]``): an object with zero or several keys, an
unknown kind, operator or function, a missing or extra field, an integer that
is not a JSON integer in the signed 64-bit range, a non-finite float, a symbol
that is empty or holds whitespace or parentheses (it would not be one token),
a rational that is not two integers or has denominator 0, or a function
without exactly one argument.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pyg_grapheme.data.json_kind import json_kind
from pyg_grapheme.data.math_expressions import format_result

__all__ = ["FUNCTION_NAMES", "OPERATOR_SYMBOLS", "ExpressionTreeError", "tree_to_polish"]

OPERATOR_SYMBOLS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Pow": "^", "Mod": "%"}
"""Binary operators of GRAPHEME and their Polish heads."""

FUNCTION_NAMES = {
    name: name.lower()
    for name in ("Sin", "Cos", "Tan", "Log", "Ln", "Exp", "Sqrt", "Abs", "Floor", "Ceil")
}
"""Functions of GRAPHEME and their Polish heads."""

_I64 = range(-(2**63), 2**63)
_BAD_SYMBOL = re.compile(r"[\s()]")


class ExpressionTreeError(ValueError):
    """A malformed expression tree.

    Attributes:
        where: the path of the bad node (``""`` for the root).
        problem: what is wrong there.
    """

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}" if where else problem)


def _tagged(node: Any, where: str, kinds: tuple[str, ...]) -> tuple[str, Any]:
    """The one ``(kind, content)`` of an externally tagged object."""
    if not isinstance(node, dict) or len(node) != 1:
        found = f"an object with keys {sorted(node)}" if isinstance(node, dict) else json_kind(node)
        raise ExpressionTreeError(
            where, f"expected an object with one key of {', '.join(kinds)}, got {found}"
        )
    ((kind, content),) = node.items()
    if kind not in kinds:
        raise ExpressionTreeError(
            where, f"unknown kind {kind!r}; expected one of {', '.join(kinds)}"
        )
    return kind, content


def _fields(content: Any, where: str, names: tuple[str, ...]) -> list[Any]:
    if not isinstance(content, dict) or set(content) != set(names):
        found = f"keys {sorted(content)}" if isinstance(content, dict) else json_kind(content)
        raise ExpressionTreeError(where, f"expected an object with keys {list(names)}, got {found}")
    return [content[name] for name in names]


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in _I64


def _value(content: Any, where: str) -> str:
    kind, value = _tagged(content, where, ("Integer", "Float", "Symbol", "Rational"))
    where = f"{where}.{kind}"
    if kind == "Integer":
        if not _is_integer(value):
            raise ExpressionTreeError(where, f"expected a 64-bit integer, got {value!r}")
        return str(value)
    if kind == "Float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ExpressionTreeError(where, f"expected a number, got {json_kind(value)} {value!r}")
        if not math.isfinite(value):
            raise ExpressionTreeError(where, f"expected a finite number, got {value!r}")
        return format_result(float(value))
    if kind == "Symbol":
        if not isinstance(value, str) or not value or _BAD_SYMBOL.search(value):
            raise ExpressionTreeError(
                where, f"expected a name without spaces or parentheses, got {value!r}"
            )
        return value
    if not (isinstance(value, list) and len(value) == 2 and all(map(_is_integer, value))):
        raise ExpressionTreeError(
            where, f"expected [numerator, denominator] integers, got {value!r}"
        )
    if value[1] == 0:
        raise ExpressionTreeError(where, f"denominator is 0 in {value!r}")
    return f"(/ {value[0]} {value[1]})"


def _polish(node: Any, where: str) -> str:
    kind, content = _tagged(node, where, ("Value", "BinOp", "UnaryOp", "Function"))
    here = f"{where}.{kind}" if where else kind
    if kind == "Value":
        return _value(content, here)
    if kind == "BinOp":
        op, left, right = _fields(content, here, ("op", "left", "right"))
        if op not in OPERATOR_SYMBOLS:
            raise ExpressionTreeError(
                f"{here}.op",
                f"unknown operator {op!r}; expected one of {', '.join(OPERATOR_SYMBOLS)}",
            )
        return (
            f"({OPERATOR_SYMBOLS[op]} {_polish(left, f'{here}.left')} "
            f"{_polish(right, f'{here}.right')})"
        )
    if kind == "UnaryOp":
        op, operand = _fields(content, here, ("op", "operand"))
        if op != "Neg":
            raise ExpressionTreeError(f"{here}.op", f"unknown unary operator {op!r}; expected Neg")
        return f"(- {_polish(operand, f'{here}.operand')})"
    func, args = _fields(content, here, ("func", "args"))
    if func not in FUNCTION_NAMES:
        raise ExpressionTreeError(
            f"{here}.func",
            f"unknown function {func!r}; expected one of {', '.join(FUNCTION_NAMES)}",
        )
    if not isinstance(args, list) or len(args) != 1:
        found = f"{len(args)} arguments" if isinstance(args, list) else json_kind(args)
        raise ExpressionTreeError(f"{here}.args", f"expected a list of one argument, got {found}")
    return f"({FUNCTION_NAMES[func]} {_polish(args[0], f'{here}.args[0]')})"


def tree_to_polish(tree: Any) -> str:
    """Polish text of a GRAPHEME expression tree (parsed JSON; module docstring).

    >>> tree_to_polish({"BinOp": {"op": "Add", "left": {"Value": {"Integer": 16}},
    ...                           "right": {"Value": {"Float": 9.0}}}})
    '(+ 16 9)'

    Raises:
        ExpressionTreeError: the first malformed node, with its path.
    """
    return _polish(tree, "")
