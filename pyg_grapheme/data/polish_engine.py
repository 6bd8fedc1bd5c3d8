r"""A symbolic engine for the project's Polish notation: evaluate, ``d/dx``, ``int``, solve.

GRAPHEME, the predecessor project, answered expressions typed at a prompt with
an engine; this is that engine for this project's notation
(:mod:`.polish_grammar`), built on the sympy conversion of
:mod:`.symbolic_polish` and on the operations whose answers the math curriculum
(:mod:`.math_levels`) trains on, so the engine and the training targets agree on
every problem of levels 1-7:

==============================  ===============================  =============================
input                           answer                           how
==============================  ===============================  =============================
``(* (+ 3 4) 5)``               ``35``                           value, in canonical form
``(let x 7 (* 12 x))``          ``84``                           ``let`` binds, then value
``(* x (+ x 1))``               ``(+ (^ x 2) x)``                expanded (canonical form)
``(d/dx (* 3 (sin (* 2 x))))``  ``(* 6 (cos (* 2 x)))``          :func:`.derivative_in_x`
``(int (* 2 (^ x 3)))``         ``(/ (^ x 4) 2)``                :func:`.antiderivative_in_x`
``(= (+ (* 3 x) 4) 10)``        ``2``                            :func:`.solutions_for_x`
``(= (^ x 2) 4)``               ``-2, 2``                        every real solution
==============================  ===============================  =============================

A task head (``d/dx``, ``int``, ``=``) may only be the outermost head: it names
the question, not a value. An equation answers with all its real solutions in
sympy's order, separated by ``", "`` (a comma is not in the notation, so the
list reads back unambiguously); complex solutions are left out, as the
notation has no imaginary unit.

**Errors** (:class:`EngineError`, a ``ValueError``, with a one-line message):
text outside the grammar (with the character offset), a task head inside an
expression, a value that is undefined (``(/ 1 0)``, ``(ln 0)``) or not real
(``(sqrt -4)``), an answer the notation cannot write (``(int (exp (^ x 2)))``
needs ``erfi``), an equation without ``x``, with no real solution, solved by
every ``x`` or beyond sympy (``(= (sin x) x)``), and a power too large to
compute: a number raised to a number may have at most :data:`MAX_POWER_BITS`
bits, and a non-number raised to a number an exponent of at most
:data:`MAX_SYMBOLIC_EXPONENT` (``(^ (+ x 1) 1000)`` expands to 1,001 terms of up
to 300 digits). Powers are checked before sympy computes them, with ``let``
values substituted, so a typed line cannot hang the session on ``(^ 10 (^ 10
10))``.
"""

from __future__ import annotations

import math

import sympy

from pyg_grapheme.data.math_levels import antiderivative_in_x, derivative_in_x, solutions_for_x
from pyg_grapheme.data.polish_grammar import PolishTree, parse_polish_tree, tree_to_text
from pyg_grapheme.data.symbolic_polish import X, canonical_form, sympy_to_polish, tree_to_sympy

__all__ = ["MAX_POWER_BITS", "MAX_SYMBOLIC_EXPONENT", "TASK_HEADS", "EngineError", "answer_polish"]

TASK_HEADS = ("d/dx", "int", "=")
"""Heads that name a question (differentiate, integrate, solve) rather than a value."""

MAX_POWER_BITS = 100_000
"""Largest ``|e| * log2|b|`` of a number ``b`` raised to a number ``e`` (about 30,000 digits)."""

MAX_SYMBOLIC_EXPONENT = 100
"""Largest ``|e|`` of a non-number raised to a number ``e`` (expansion grows with ``e``)."""


class EngineError(ValueError):
    """A question the engine cannot answer; the message says why."""


def _bound(tree: PolishTree, bindings: tuple[tuple[str, PolishTree], ...]) -> PolishTree:
    for name, value in reversed(bindings):
        tree = ("let", name, value, tree)
    return tree


def _log2_size(number: sympy.Number) -> float:
    """``log2`` of the larger of a number's numerator and denominator (its size in bits)."""
    if number == 0:
        return 0.0
    if number.is_Rational:
        return max(math.log2(abs(int(number.p))), math.log2(int(number.q)))
    return abs(math.log2(abs(float(number))))


def _check_powers(
    tree: PolishTree, bindings: tuple[tuple[str, PolishTree], ...], text: str
) -> None:
    """Refuse a ``^`` whose value would be too large to compute (module docstring)."""
    if isinstance(tree, str):
        return
    head, *args = tree
    if head in TASK_HEADS:
        raise EngineError(
            f"{head!r} names a question and may only be the outermost head, not inside {text!r}"
        )
    if head == "let":
        name, value, body = args
        _check_powers(value, bindings, text)
        _check_powers(body, (*bindings, (name, value)), text)
        return
    for arg in args:
        _check_powers(arg, bindings, text)
    if head != "^":
        return
    base, exponent = (tree_to_sympy(_bound(arg, bindings)) for arg in args)
    if not exponent.is_Number:
        return
    if base.is_Number:
        too_large = abs(float(exponent)) * _log2_size(base) > MAX_POWER_BITS
    else:
        too_large = abs(float(exponent)) > MAX_SYMBOLIC_EXPONENT
    if too_large:
        raise EngineError(
            f"{tree_to_text(tree)!r} is too large to compute (a number to a power may have "
            f"{MAX_POWER_BITS:,} bits, anything else a power of {MAX_SYMBOLIC_EXPONENT})"
        )


def _written(value: sympy.Expr, text: str) -> str:
    if value.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise EngineError(f"{text!r} is undefined (a division by zero or a pole)")
    if value.has(sympy.I):
        raise EngineError(f"{text!r} is not a real number ({value})")
    try:
        return sympy_to_polish(value)
    except ValueError:
        raise EngineError(f"the answer to {text!r}, {value}, is outside the notation") from None


def _solve(left: PolishTree, right: PolishTree, text: str) -> str:
    left_value, right_value = tree_to_sympy(left), tree_to_sympy(right)
    if not (left_value.has(X) or right_value.has(X)):
        raise EngineError(f"{text!r} has no x to solve for")
    if sympy.simplify(left_value - right_value) == 0:
        raise EngineError(f"every x solves {text!r}")
    try:
        found = solutions_for_x(left_value, right_value)
    except NotImplementedError:  # sympy's way of saying it has no method for this equation
        raise EngineError(f"sympy cannot solve {text!r}") from None
    solutions = [s for s in found if s.is_real is not False]
    if not solutions:
        raise EngineError(f"no real x solves {text!r}")
    return ", ".join(_written(solution, text) for solution in solutions)


def answer_polish(text: str) -> str:
    """The engine's answer to one question in Polish notation (module docstring).

    ``answer_polish("(d/dx (* 3 (sin x)))") == "(* 3 (cos x))"``;
    ``answer_polish("(= (* 2 x) 3)") == "(/ 3 2)"``.

    Raises:
        EngineError: a question it cannot answer (module docstring), with a one-line
            message.
    """
    try:
        tree = parse_polish_tree(text)
    except ValueError as exc:
        raise EngineError(str(exc)) from None
    head = tree[0] if isinstance(tree, tuple) else None
    args = list(tree[1:]) if head in TASK_HEADS else [tree]
    for arg in args:
        _check_powers(arg, (), text)
    if head == "d/dx":
        return _written(derivative_in_x(tree_to_sympy(args[0])), text)
    if head == "int":
        try:
            antiderivative = antiderivative_in_x(tree_to_sympy(args[0]))
        except NotImplementedError:
            antiderivative = sympy.Integral(tree_to_sympy(args[0]), X)
        if antiderivative.has(sympy.Integral):
            raise EngineError(f"sympy finds no antiderivative of {tree_to_text(args[0])!r}")
        return _written(antiderivative, text)
    if head == "=":
        return _solve(args[0], args[1], text)
    return _written(canonical_form(tree_to_sympy(tree)), text)
