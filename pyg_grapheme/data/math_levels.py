r"""The seven-level math curriculum as indexed problem spaces, answers computed with sympy.

Every level is a finite set of inputs split into classes; like the string tasks
(:mod:`.string_tasks`) each space has ``classes()``, ``count(key)``,
``unrank(key, i) -> (input, target)`` (a bijection from ``range(count(key))``),
``input_at(key, i)`` (the input alone, cheap) and ``classify(text)``, so
:func:`~pyg_grapheme.data.generate` draws without replacement, excludes held-out
inputs and knows when a request cannot be met. Every input has exactly one
answer: the task is part of the input. Answers are in the canonical form of
:mod:`.symbolic_polish` (computed with sympy, expanded, written by fixed
rules). Class keys are ``(family, level)``; the sampler draws a family
uniformly, then a problem of it uniformly, so a large family does not drown a
small one. Coefficients ``c`` below range over ``±1..±9`` (18 values).

==========  =========================================  ====================  ==========
level       input                                      target                problems
==========  =========================================  ====================  ==========
1           ``(+ 16 9)``: ``(op a b)``, ``+ - *``,     ``25``                1,200
            ``a, b`` in 1..20
2           ``(* (+ 3 4) 5)``: one level of nesting    ``35``                4,464,000
3           ``(let x 7 (* 12 x))``                     ``84``                7,380
4           ``(+ (ln (exp -3)) 5)``                    ``2``                 19,844
5           ``(d/dx (* 3 (sin (* 2 x))))``             ``(* 6 (cos (* 2      143,046
                                                       x)))``
6           ``(int (* 2 (^ x 3)))``                    ``(/ (^ x 4) 2)``     142,920
7           ``(= (+ (* 3 x) 4) 10)``                   ``2``                 544,644
==========  =========================================  ====================  ==========

**Level 3, substitution** (one class). ``(let v n F)`` with ``v`` in ``x y z``,
``n`` in 1..20 and ``F`` one of ``(op v b)``, ``(op b v)``, ``(op v v)``, ``op``
in ``+ - *``, ``b`` in 1..20: ``3 * 20 * 3 * 41 = 7,380``. The target is the
value of ``F`` at ``v = n``. The binding is in the input (GRAPHEME's
generator kept it in a side field, so one input had many answers).

**Level 4, functions** (two classes). A function term ``T`` is ``(sqrt k²)``
(``k`` in 0..20), ``(sqrt (^ a 2))``, ``(abs a)``, ``(ln (exp a))`` (``a`` in
-20..20) or ``(exp (ln n))`` (``n`` in 1..20): 164 terms whose value is an
integer (a square root of a square is the absolute value). Class 0 is ``T``
alone (164), class 1 is ``(op T b)`` or ``(op b T)`` with ``op`` in ``+ - *``,
``b`` in 1..20 (``164 * 3 * 2 * 20 = 19,680``).

**Levels 5 and 6, calculus** (five classes each), input ``(d/dx F)`` (level 5,
target ``F'``) or ``(int F)`` (level 6, target the antiderivative with no
constant: the sum of sympy's antiderivatives of the terms of ``F``, expanded,
with every term free of ``x`` dropped). ``F`` is written in canonical form and
is one of these families (``g`` in ``sin cos exp ln``):

0. power ``c x^n``, ``n`` in -2..6: 162;
1. polynomial ``a3 x^3 + a2 x^2 + a1 x + a0``, ``a_i`` in -9..9 with at least
   two non-zero: 130,248;
2. function ``c g(k x)``, ``k`` in 1..9: 648;
3. sum ``a x^n + c g(k x)``, ``n`` in 1..3, ``k`` in 1..3: 11,664;
4. product ``c m``: level 5, ``m`` is ``x^n g(x)`` (``n`` in 1..3) or ``g1(x)
   g2(x)`` for the 6 pairs: 324; level 6, ``m`` is ``x^n g(x)`` (``n`` in 1..2)
   or ``sin cos``, ``exp sin``, ``exp cos`` (the pairs with an elementary
   antiderivative): 198.

**Level 7, linear equations** (two classes). ``(= (a x + b) (c x + d))`` with
both sides written in canonical form, ``a`` a coefficient, ``b, d`` in
-20..20; class 0 has ``c = 0`` (``18 * 41 * 41 = 30,258``), class 1 has ``c`` a
coefficient other than ``a`` (``18 * 17 * 41 * 41 = 514,386``). The target is
``x = (d - b) / (a - c)``: an integer or ``(/ p q)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import sympy

from pyg_grapheme.data.math_expressions import MathSpace
from pyg_grapheme.data.polish_grammar import (
    PolishTree,
    is_number,
    parse_polish_tree,
    tree_to_text,
)
from pyg_grapheme.data.symbolic_polish import X, canonical_form, sympy_to_polish, tree_to_sympy

__all__ = [
    "MATH_LEVELS",
    "CalculusSpace",
    "FunctionValueSpace",
    "LinearEquationSpace",
    "SubstitutionSpace",
    "antiderivative_in_x",
    "derivative_in_x",
    "math_space",
    "solutions_for_x",
]

MATH_LEVELS = (1, 2, 3, 4, 5, 6, 7)

Key = tuple[int, int]

_OPERATORS = ("+", "-", "*")
_OPERAND = range(1, 21)
_COEFFICIENTS = tuple(c for c in range(-9, 10) if c != 0)
_BASIC = (sympy.sin, sympy.cos, sympy.exp, sympy.log)


_LONGEST_INPUT = 120
"""More characters than any input of levels 3-7 has; longer texts are not inputs."""


def _parse(text: str) -> PolishTree | None:
    """The tree of ``text`` if it could be an input, else ``None`` (never raises)."""
    if len(text) > _LONGEST_INPUT:  # also bounds the nesting depth
        return None
    try:
        return parse_polish_tree(text)
    except ValueError:
        return None


def _small_integers_only(tree: PolishTree) -> bool:
    """Every number an integer of at most 3 digits: true of every input of levels 3-7,
    and what keeps sympy from evaluating ``(^ 10 99999999)`` on a text to exclude."""
    if isinstance(tree, str):
        return not is_number(tree) or ("." not in tree and abs(int(tree)) < 1000)
    return all(_small_integers_only(arg) for arg in tree[1:])


def _integer(atom: PolishTree, allowed: range) -> int | None:
    if not isinstance(atom, str) or not is_number(atom) or "." in atom:
        return None
    value = int(atom)
    return value if value in allowed else None


class _IndexedSpace:
    """Shared sampling surface: ``unrank`` pairs ``input_at`` with a cached answer."""

    name = "math"
    level = 0

    def __init__(self) -> None:
        self._answers: dict[str, str] = {}

    def classes(self) -> tuple[Key, ...]:
        return tuple((family, self.level) for family in range(len(self._counts())))

    def count(self, key: Key) -> int:
        return self._counts()[key[0]]

    def _counts(self) -> tuple[int, ...]:
        raise NotImplementedError

    def input_at(self, key: Key, index: int) -> str:
        raise NotImplementedError

    def _answer(self, text: str) -> str:
        raise NotImplementedError

    def unrank(self, key: Key, index: int) -> tuple[str, str]:
        """``(input, target)`` of problem ``index`` of class ``key``."""
        text = self.input_at(key, index)
        if text not in self._answers:
            self._answers[text] = self._answer(text)
        return text, self._answers[text]

    def rank(self, text: str) -> tuple[Key, int] | None:
        """``(key, index)`` with ``input_at(key, index) == text``, or ``None``."""
        raise NotImplementedError

    def classify(self, text: str) -> Key | None:
        """The class of ``text`` if it is an input of this space (exact text), else ``None``."""
        found = self.rank(text)
        return None if found is None else found[0]

    def _verified(self, key: Key, index: int, text: str) -> tuple[Key, int] | None:
        if 0 <= index < self.count(key) and self.input_at(key, index) == text:
            return key, index
        return None


# --------------------------------------------------------------------------- level 3


class SubstitutionSpace(_IndexedSpace):
    """Level 3: ``(let v n F)``, the value of ``F`` with ``v = n`` (module docstring)."""

    level = 3
    variables = ("x", "y", "z")
    _SHAPES = 2 * len(_OPERAND) + 1  # (op v b), (op b v), (op v v)

    def _counts(self) -> tuple[int, ...]:
        return (len(self.variables) * len(_OPERAND) * len(_OPERATORS) * self._SHAPES,)

    def input_at(self, key: Key, index: int) -> str:
        rest, shape = divmod(index, self._SHAPES)
        rest, op = divmod(rest, len(_OPERATORS))
        variable, value = divmod(rest, len(_OPERAND))
        v, operator = self.variables[variable], _OPERATORS[op]
        if shape < len(_OPERAND):
            body = f"({operator} {v} {_OPERAND[shape]})"
        elif shape < 2 * len(_OPERAND):
            body = f"({operator} {_OPERAND[shape - len(_OPERAND)]} {v})"
        else:
            body = f"({operator} {v} {v})"
        return f"(let {v} {_OPERAND[value]} {body})"

    def _answer(self, text: str) -> str:
        return sympy_to_polish(tree_to_sympy(parse_polish_tree(text)))

    def rank(self, text: str) -> tuple[Key, int] | None:
        tree = _parse(text)
        if not (isinstance(tree, tuple) and tree[0] == "let" and isinstance(tree[3], tuple)):
            return None
        _, v, n, body = tree
        value = _integer(n, _OPERAND)
        if v not in self.variables or value is None or len(body) != 3:
            return None
        operator, left, right = body
        if operator not in _OPERATORS:
            return None
        if left == v and right == v:
            shape = 2 * len(_OPERAND)
        elif left == v:
            b = _integer(right, _OPERAND)
            shape = -1 if b is None else b - 1
        else:
            b = _integer(left, _OPERAND)
            shape = -1 if b is None or right != v else len(_OPERAND) + b - 1
        if shape < 0:
            return None
        index = (
            (self.variables.index(v) * len(_OPERAND) + value - 1) * len(_OPERATORS)
            + _OPERATORS.index(operator)
        ) * self._SHAPES + shape
        return self._verified((0, self.level), index, text)


# --------------------------------------------------------------------------- level 4


def _function_terms() -> tuple[str, ...]:
    terms = [f"(sqrt {k * k})" for k in range(21)]
    terms += [f"(sqrt (^ {a} 2))" for a in range(-20, 21)]
    terms += [f"(abs {a})" for a in range(-20, 21)]
    terms += [f"(ln (exp {a}))" for a in range(-20, 21)]
    terms += [f"(exp (ln {n}))" for n in range(1, 21)]
    return tuple(terms)


_TERMS = _function_terms()
_TERM_INDEX = {term: i for i, term in enumerate(_TERMS)}


class FunctionValueSpace(_IndexedSpace):
    """Level 4: integer values of ``sqrt``, ``abs``, ``exp`` and ``ln`` terms (module docstring)."""

    level = 4
    terms = _TERMS

    def _counts(self) -> tuple[int, ...]:
        return len(self.terms), len(self.terms) * len(_OPERATORS) * 2 * len(_OPERAND)

    def input_at(self, key: Key, index: int) -> str:
        if key[0] == 0:
            return self.terms[index]
        rest, b = divmod(index, len(_OPERAND))
        rest, side = divmod(rest, 2)
        term, op = divmod(rest, len(_OPERATORS))
        left, right = self.terms[term], str(_OPERAND[b])
        if side:
            left, right = right, left
        return f"({_OPERATORS[op]} {left} {right})"

    def _answer(self, text: str) -> str:
        return sympy_to_polish(tree_to_sympy(parse_polish_tree(text)))

    def rank(self, text: str) -> tuple[Key, int] | None:
        if text in _TERM_INDEX:
            return (0, self.level), _TERM_INDEX[text]
        tree = _parse(text)
        if not (isinstance(tree, tuple) and tree[0] in _OPERATORS):
            return None
        operator, left, right = tree
        side = 0 if isinstance(left, tuple) else 1
        term, b = (left, right) if side == 0 else (right, left)
        term_index = _TERM_INDEX.get(tree_to_text(term))
        value = _integer(b, _OPERAND)
        if term_index is None or value is None:
            return None
        index = (
            ((term_index * len(_OPERATORS) + _OPERATORS.index(operator)) * 2 + side) * len(_OPERAND)
            + value
            - 1
        )
        return self._verified((1, self.level), index, text)


# --------------------------------------------------------------------------- levels 5 and 6


def _locate(blocks: Sequence[tuple[Any, int]], index: int) -> tuple[Any, int]:
    """The item of the block ``(item, size)`` that holds ``index``, and the index inside it."""
    for item, size in blocks:
        if index < size:
            return item, index
        index -= size
    raise IndexError(f"index beyond the {sum(size for _, size in blocks)} members")


class _TermFamily:
    """Sums ``sum_s c_s m_s`` with one term per present slot ``s``.

    A slot offers monomials ``m`` (sympy expressions in ``x``; ``1`` for a
    constant) and coefficients ``c``. With ``min_terms`` set every slot is
    optional and at least ``min_terms`` must be present; otherwise all are.
    Index layout: presence pattern (in a fixed order), then per present slot
    ``monomial * len(coefficients) + coefficient`` in mixed radix.
    """

    def __init__(
        self,
        slots: Sequence[tuple[Sequence[sympy.Expr], Sequence[int]]],
        min_terms: int | None = None,
    ) -> None:
        self.slots = [(tuple(monomials), tuple(coefficients)) for monomials, coefficients in slots]
        self.radix = [len(m) * len(c) for m, c in self.slots]
        if min_terms is None:
            patterns = [tuple(range(len(self.slots)))]
        else:
            patterns = [
                present
                for size in range(min_terms, len(self.slots) + 1)
                for present in itertools.combinations(range(len(self.slots)), size)
            ]
        self.patterns = [
            (present, math.prod(self.radix[s] for s in present)) for present in patterns
        ]
        self.count = sum(size for _, size in self.patterns)
        self._slot_of = {
            monomial: (slot, position)
            for slot, (monomials, _) in enumerate(self.slots)
            for position, monomial in enumerate(monomials)
        }

    def expression(self, index: int) -> sympy.Expr:
        present, index = _locate(self.patterns, index)
        terms = []
        for slot in reversed(present):
            index, choice = divmod(index, self.radix[slot])
            monomials, coefficients = self.slots[slot]
            which, coefficient = divmod(choice, len(coefficients))
            terms.append(coefficients[coefficient] * monomials[which])
        return sympy.Add(*terms)

    def index(self, expr: sympy.Expr) -> int | None:
        """The index of ``expr`` in this family, or ``None`` if it is not a member."""
        choices: dict[int, int] = {}
        for monomial, coefficient in expr.as_coefficients_dict().items():
            found = self._slot_of.get(monomial)
            if found is None or found[0] in choices or not coefficient.is_Integer:
                return None
            slot, which = found
            coefficients = self.slots[slot][1]
            if int(coefficient) not in coefficients:
                return None
            choices[slot] = which * len(coefficients) + coefficients.index(int(coefficient))
        present = tuple(sorted(choices))
        offset = 0
        for pattern, size in self.patterns:
            if pattern == present:
                break
            offset += size
        else:
            return None
        index = 0
        for slot in present:
            index = index * self.radix[slot] + choices[slot]
        return offset + index


def _basic(scales: Sequence[int]) -> list[sympy.Expr]:
    return [g(k * X) for g in _BASIC for k in scales]


def _calculus_families(level: int) -> tuple[_TermFamily, ...]:
    sin, cos, exp, log = (g(X) for g in _BASIC)
    if level == 5:
        products = [X**n * g for n in (1, 2, 3) for g in (sin, cos, exp, log)]
        products += [a * b for a, b in itertools.combinations((sin, cos, exp, log), 2)]
    else:
        products = [X**n * g for n in (1, 2) for g in (sin, cos, exp, log)]
        products += [sin * cos, exp * sin, exp * cos]
    return (
        _TermFamily([([X**n for n in range(-2, 7)], _COEFFICIENTS)]),
        _TermFamily(
            [([monomial], _COEFFICIENTS) for monomial in (X**3, X**2, X, sympy.Integer(1))],
            min_terms=2,
        ),
        _TermFamily([(_basic(range(1, 10)), _COEFFICIENTS)]),
        _TermFamily([([X, X**2, X**3], _COEFFICIENTS), (_basic(range(1, 4)), _COEFFICIENTS)]),
        _TermFamily([(products, _COEFFICIENTS)]),
    )


@cache
def _antiderivative(monomial: sympy.Expr) -> sympy.Expr:
    return sympy.integrate(monomial, X)


def derivative_in_x(expr: sympy.Expr) -> sympy.Expr:
    """The answer to ``(d/dx F)``: ``F'`` in canonical form (level 5)."""
    return canonical_form(sympy.diff(expr, X))


def antiderivative_in_x(expr: sympy.Expr) -> sympy.Expr:
    """The answer to ``(int F)`` (level 6): the sum of sympy's antiderivatives of the
    terms of ``F``, in canonical form, with every term free of ``x`` dropped (no constant)."""
    total = sympy.Add(*(c * _antiderivative(m) for m, c in expr.as_coefficients_dict().items()))
    return sympy.Add(*(t for t in sympy.Add.make_args(canonical_form(total)) if t.has(X)))


_CALCULUS_HEADS = {5: "d/dx", 6: "int"}


class CalculusSpace(_IndexedSpace):
    """Levels 5 (``(d/dx F)``) and 6 (``(int F)``): see the module docstring.

    Args:
        level: 5 or 6.
    """

    def __init__(self, level: int) -> None:
        super().__init__()
        if level not in _CALCULUS_HEADS:
            raise ValueError(f"CalculusSpace is levels 5 and 6, got {level!r}")
        self.level = level
        self.head = _CALCULUS_HEADS[level]
        self.families = _calculus_families(level)
        self._operation: Callable[[sympy.Expr], sympy.Expr] = (
            derivative_in_x if level == 5 else antiderivative_in_x
        )

    def _counts(self) -> tuple[int, ...]:
        return tuple(family.count for family in self.families)

    def function_at(self, key: Key, index: int) -> sympy.Expr:
        """``F`` of problem ``index`` of class ``key``."""
        return self.families[key[0]].expression(index)

    def input_at(self, key: Key, index: int) -> str:
        return f"({self.head} {sympy_to_polish(self.function_at(key, index))})"

    def _answer(self, text: str) -> str:
        tree = parse_polish_tree(text)
        return sympy_to_polish(self._operation(tree_to_sympy(tree[1])))

    def rank(self, text: str) -> tuple[Key, int] | None:
        tree = _parse(text)
        if not (isinstance(tree, tuple) and tree[0] == self.head and _small_integers_only(tree)):
            return None
        try:
            expr = tree_to_sympy(tree[1])
        except ValueError:
            return None
        for family, members in enumerate(self.families):
            index = members.index(expr)
            if index is not None:
                return self._verified((family, self.level), index, text)
        return None


# --------------------------------------------------------------------------- level 7

_CONSTANTS = range(-20, 21)


def solutions_for_x(left: sympy.Expr, right: sympy.Expr) -> list[sympy.Expr]:
    """The answers to ``(= L R)`` (level 7): sympy's solutions of ``L = R`` for ``x``,
    in sympy's order (one for every equation of level 7)."""
    return sympy.solve(sympy.Eq(left, right), X)


class LinearEquationSpace(_IndexedSpace):
    """Level 7: ``(= (a x + b) (c x + d))`` solved for ``x`` (module docstring)."""

    level = 7

    def _counts(self) -> tuple[int, ...]:
        sides = len(_COEFFICIENTS) * len(_CONSTANTS) ** 2
        return sides, sides * (len(_COEFFICIENTS) - 1)

    def _coefficients(self, key: Key, index: int) -> tuple[int, int, int, int]:
        rest, d = divmod(index, len(_CONSTANTS))
        rest, b = divmod(rest, len(_CONSTANTS))
        if key[0] == 0:
            return _COEFFICIENTS[rest], _CONSTANTS[b], 0, _CONSTANTS[d]
        a, c = divmod(rest, len(_COEFFICIENTS) - 1)
        if c >= a:  # skip c == a: no solution or every x
            c += 1
        return _COEFFICIENTS[a], _CONSTANTS[b], _COEFFICIENTS[c], _CONSTANTS[d]

    def input_at(self, key: Key, index: int) -> str:
        a, b, c, d = self._coefficients(key, index)
        return f"(= {sympy_to_polish(a * X + b)} {sympy_to_polish(c * X + d)})"

    def _answer(self, text: str) -> str:
        _, left, right = parse_polish_tree(text)
        (solution,) = solutions_for_x(tree_to_sympy(left), tree_to_sympy(right))
        return sympy_to_polish(solution)

    def rank(self, text: str) -> tuple[Key, int] | None:
        tree = _parse(text)
        if not (isinstance(tree, tuple) and tree[0] == "=" and _small_integers_only(tree)):
            return None
        try:
            sides = [tree_to_sympy(side).as_coefficients_dict() for side in tree[1:]]
        except ValueError:
            return None
        values = []
        for side in sides:
            if set(side) - {X, sympy.Integer(1)} or not all(v.is_Integer for v in side.values()):
                return None
            values += [int(side.get(X, 0)), int(side.get(sympy.Integer(1), 0))]
        a, b, c, d = values
        if a not in _COEFFICIENTS or b not in _CONSTANTS or d not in _CONSTANTS:
            return None
        constants = (b - _CONSTANTS[0]) * len(_CONSTANTS) + d - _CONSTANTS[0]
        if c == 0:
            index = _COEFFICIENTS.index(a) * len(_CONSTANTS) ** 2 + constants
            return self._verified((0, self.level), index, text)
        if c not in _COEFFICIENTS or c == a:
            return None
        a_index, c_index = _COEFFICIENTS.index(a), _COEFFICIENTS.index(c)
        c_index -= c_index > a_index
        index = (a_index * (len(_COEFFICIENTS) - 1) + c_index) * len(_CONSTANTS) ** 2 + constants
        return self._verified((1, self.level), index, text)


def math_space(level: int) -> MathSpace | _IndexedSpace:
    """The problem space of a curriculum level (1-7).

    Raises:
        ValueError: a level outside :data:`MATH_LEVELS`.
    """
    if isinstance(level, bool) or level not in MATH_LEVELS:
        raise ValueError(f"math level must be one of {MATH_LEVELS}, got {level!r}")
    if level in (1, 2):
        return MathSpace(level)
    if level == 3:
        return SubstitutionSpace()
    if level == 4:
        return FunctionValueSpace()
    if level in (5, 6):
        return CalculusSpace(level)
    return LinearEquationSpace()
