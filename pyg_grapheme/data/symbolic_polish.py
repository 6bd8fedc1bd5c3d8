r"""Symbolic math in the project's Polish notation: sympy conversion and the canonical form.

The grammar (heads, arities, tokens) is :mod:`.polish_grammar`.

**Canonical form** (:func:`sympy_to_polish`, :func:`canonical_form`). An answer is
computed with sympy, *expanded* (products distributed over sums, powers of sums
multiplied out; nothing else: no logarithm, power or trigonometric rewriting),
then written by these rules, so one value has one text:

* an integer is its digits (``-3``), a non-integer rational is ``(/ p q)`` in
  lowest terms with the sign on ``p`` (``(/ -7 3)``), a float is
  :func:`~.math_expressions.format_result` of it;
* a sum is written term by term in the order sympy prints it
  (``Expr.as_ordered_terms``: by descending degree, the constant last, except
  that sympy puts a positive number first when the only other term is a
  negative multiple of one factor, ``13 - 5*x``), nested to the left; a term
  after the first whose coefficient is negative is subtracted with the
  opposite sign: ``x**3 - 2*x + 5 -> (+ (- (^ x 3) (* 2 x)) 5)``, ``13 - 5*x ->
  (- 13 (* 5 x))``, ``-x**2 + sin(x) -> (+ (* -1 (^ x 2)) (sin x))``;
* a term is its numerator over its denominator: the numerator is the
  coefficient's numerator (left out when it is 1 and there are other factors;
  ``-1`` stays, so ``-x -> (* -1 x)``) times the factors with positive
  exponents, the denominator is the coefficient's denominator times the
  factors with negative exponents (their reciprocals), each a product nested
  to the left in sympy's factor order (``Expr.as_ordered_factors``); ``(/ N D)``
  only when there is a denominator: ``3*x**2/2 -> (/ (* 3 (^ x 2)) 2)``,
  ``-1/x -> (/ -1 x)``;
* ``b**(1/2)`` is ``(sqrt b)``, other powers ``(^ b e)``; ``exp(1)`` is
  ``(exp 1)``; ``log`` is ``ln``, ``Abs`` is ``abs``.

:func:`~.polish_grammar.parse_polish_tree` reads any text of the grammar; :func:`tree_to_sympy`
turns a tree without task heads into a sympy expression; writing that
expression back gives the canonical text, which is how the curriculum
recognises its own inputs.
"""

from __future__ import annotations

import sympy

from pyg_grapheme.data.math_expressions import format_result
from pyg_grapheme.data.polish_grammar import (
    PolishTree,
    is_number,
    is_symbol,
    tree_to_text,
)

__all__ = [
    "FUNCTIONS",
    "X",
    "canonical_form",
    "sympy_to_polish",
    "tree_to_sympy",
]

X = sympy.Symbol("x")
"""The variable of the calculus levels (differentiation, integration, equations)."""


_BINARY = {
    "+": sympy.Add,
    "-": lambda a, b: a - b,
    "*": sympy.Mul,
    "/": lambda a, b: a / b,
    "^": sympy.Pow,
}
FUNCTIONS = {
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "exp": sympy.exp,
    "ln": sympy.log,
    "sqrt": sympy.sqrt,
    "abs": sympy.Abs,
}
"""The function heads and the sympy functions they name."""


_WRITE_FUNCTIONS = {
    sympy.sin: "sin",
    sympy.cos: "cos",
    sympy.tan: "tan",
    sympy.exp: "exp",
    sympy.log: "ln",
    sympy.Abs: "abs",
}


def tree_to_sympy(tree: PolishTree) -> sympy.Expr:
    """The sympy expression of a tree (sympy's automatic simplification applies).

    ``let`` binds its symbol while the body is built (``(let x 2 (- x 1)) -> 1``).
    Integers and decimals become ``sympy.Integer`` and ``sympy.Float``.

    Raises:
        ValueError: a task head (``d/dx``, ``int``, ``=``), which names a question
            rather than a value, or a ``let`` whose first argument is not a symbol.
    """
    if isinstance(tree, str):
        if is_number(tree):
            return sympy.Integer(int(tree)) if "." not in tree else sympy.Float(tree)
        return sympy.Symbol(tree)
    head, *args = tree
    if head == "let":
        name, value, body = args
        if not isinstance(name, str) or not is_symbol(name):
            raise ValueError(f"let binds a symbol, got {tree_to_text(name)!r}")
        return tree_to_sympy(body).subs(sympy.Symbol(name), tree_to_sympy(value))
    if head in ("d/dx", "int", "="):
        raise ValueError(f"{head!r} names a task, not a value: {tree_to_text(tree)!r}")
    values = [tree_to_sympy(arg) for arg in args]
    if head in _BINARY:
        return _BINARY[head](*values)
    return FUNCTIONS[head](*values)


def canonical_form(expr: sympy.Expr) -> sympy.Expr:
    """The expanded form answers are written in: products over sums and powers of
    sums multiplied out, and no other rewriting (logarithms, powers and
    trigonometric functions are left as they are)."""
    return sympy.expand(expr, power_exp=False, power_base=False, log=False)


def _number(value: sympy.Number) -> str:
    if value.is_Integer:
        return str(int(value))
    if value.is_Rational:
        return f"(/ {value.p} {value.q})"
    if value.is_Float:
        return format_result(float(value))
    raise ValueError(f"cannot write the number {value} in Polish notation")


def _product(parts: list[str]) -> str:
    text = parts[0]
    for part in parts[1:]:
        text = f"(* {text} {part})"
    return text


def _term(term: sympy.Expr) -> str:
    coefficient, rest = term.as_coeff_Mul()
    if rest == 1:
        return _number(coefficient)
    numerator: list[str] = []
    denominator: list[str] = []
    for factor in rest.as_ordered_factors():
        base, exponent = factor.as_base_exp()
        if exponent.is_Number and exponent < 0:
            denominator.append(_write(base ** (-exponent)))
        else:
            numerator.append(_write(factor))
    if coefficient.is_Rational:
        top, bottom = int(coefficient.p), int(coefficient.q)
        if top != 1 or not numerator:
            numerator.insert(0, str(top))
        if bottom != 1:
            denominator.insert(0, str(bottom))
    else:  # a float coefficient
        numerator.insert(0, _number(coefficient))
    text = _product(numerator)
    return f"(/ {text} {_product(denominator)})" if denominator else text


def _write(expr: sympy.Expr) -> str:
    if expr.is_Number:
        return _number(expr)
    if expr.is_Symbol:
        return expr.name
    if expr is sympy.E:
        return "(exp 1)"
    if expr.is_Add:
        terms = expr.as_ordered_terms()
        text = _term(terms[0])
        for term in terms[1:]:
            if term.could_extract_minus_sign():
                text = f"(- {text} {_term(-term)})"
            else:
                text = f"(+ {text} {_term(term)})"
        return text
    if expr.is_Mul:
        return _term(expr)
    if expr.is_Pow:
        base, exponent = expr.as_base_exp()
        if exponent.is_Number and exponent < 0:
            return _term(expr)
        if exponent == sympy.S.Half:
            return f"(sqrt {_write(base)})"
        return f"(^ {_write(base)} {_write(exponent)})"
    name = _WRITE_FUNCTIONS.get(expr.func)
    if name is not None and len(expr.args) == 1:
        return f"({name} {_write(expr.args[0])})"
    raise ValueError(f"cannot write {expr} ({type(expr).__name__}) in Polish notation")


def sympy_to_polish(expr: sympy.Expr) -> str:
    """The canonical text of a sympy expression (module docstring: the writing rules).

    The expression is written as it is; pass :func:`canonical_form` of it for an
    answer. ``sympy_to_polish(3*x**2/2 - sin(x)) == "(- (/ (* 3 (^ x 2)) 2) (sin x))"``.

    Raises:
        ValueError: something outside the grammar (another function, a complex
            number, infinity).
    """
    return _write(sympy.sympify(expr))
