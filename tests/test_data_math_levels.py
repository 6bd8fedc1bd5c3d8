"""Tests for the seven-level math curriculum (pyg_grapheme.data.math_levels) through generate.

Answers are checked independently of how they were computed: level 3 and 4 by
evaluating the input, level 5 against a central finite difference, level 6 by
differentiating the answer, level 7 by substituting it into the equation.
"""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
import sympy
from uniform_draws import assert_uniform

from pyg_grapheme.data import (
    MATH_LEVELS,
    canonical_form,
    generate,
    parse_polish_tree,
    space_size,
    sympy_to_polish,
    tree_to_sympy,
)
from pyg_grapheme.data.math_levels import CalculusSpace, math_space
from pyg_grapheme.data.symbolic_polish import X

C = 18  # coefficients +-1..+-9
POLYNOMIALS = 6 * C**2 + 4 * C**3 + C**4  # at least two of four coefficients non-zero
CALCULUS = [9 * C, POLYNOMIALS, 4 * 9 * C, 3 * C * 4 * 3 * C]  # families levels 5 and 6 share
FAMILIES = {
    3: [3 * 20 * 3 * (2 * 20 + 1)],
    4: [21 + 41 + 41 + 41 + 20, 164 * 3 * 2 * 20],
    5: [*CALCULUS, (12 + 6) * C],
    6: [*CALCULUS, (8 + 3) * C],
    7: [C * 41 * 41, C * 17 * 41 * 41],
}
"""Problems in each family of a level, counted by the formulas of math_levels' docstring."""
SIZES = {1: 3 * 20 * 20, 2: 4_464_000, **{level: sum(f) for level, f in FAMILIES.items()}}


def _value(text: str) -> sympy.Expr:
    return tree_to_sympy(parse_polish_tree(text))


def _numeric(expr: sympy.Expr, at: float) -> float:
    return float(expr.subs(X, at).evalf())


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("level", MATH_LEVELS)
def test_space_sizes(level: int) -> None:
    assert space_size("math", level=level) == SIZES[level]
    space = math_space(level)
    if level in FAMILIES:
        assert [space.count(key) for key in space.classes()] == FAMILIES[level]


def test_sizes_are_the_documented_ones() -> None:
    assert SIZES == {
        1: 1_200, 2: 4_464_000, 3: 7_380, 4: 19_844, 5: 143_046, 6: 142_920, 7: 544_644,
    }  # fmt: skip
    # Counted the other way: all 19**4 coefficient tuples but the zero one and the four
    # with a single non-zero coefficient.
    assert POLYNOMIALS == 19**4 - 1 - 4 * C


@pytest.mark.parametrize("level", [3, 4, 5, 6, 7])
def test_asking_for_one_more_than_the_space_fails_with_the_numbers(level: int) -> None:
    held_out = generate("math", 50, seed=1, level=level)
    with pytest.raises(ValueError) as info:
        generate(
            "math", SIZES[level] - 49, seed=0, level=level, exclude={p.input for p in held_out}
        )
    assert str(info.value).startswith(
        f"task 'math' has only {SIZES[level] - 50} distinct inputs with these settings "
        f"({SIZES[level]} in all, 50 excluded)"
    )


# --------------------------------------------------------------------------- exact outputs

GOLDEN = {
    3: [("(let y 7 (+ 17 y))", "24"), ("(let z 15 (* z 4))", "60"), ("(let y 19 (* y 19))", "361")],
    4: [("(* (ln (exp -16)) 18)", "-288"), ("(ln (exp 14))", "14"), ("(exp (ln 6))", "6")],
    5: [
        ("(d/dx (* -1 (exp (* 5 x))))", "(* -5 (exp (* 5 x)))"),
        ("(d/dx (* 3 (^ x 5)))", "(* 15 (^ x 4))"),
        ("(d/dx (* -4 (^ x 6)))", "(* -24 (^ x 5))"),
    ],
    6: [
        ("(int (* -1 (exp (* 5 x))))", "(/ (* -1 (exp (* 5 x))) 5)"),
        ("(int (* 3 (^ x 5)))", "(/ (^ x 6) 2)"),
        ("(int (* -4 (^ x 6)))", "(/ (* -4 (^ x 7)) 7)"),
    ],
    7: [
        ("(= (- (* -2 x) 15) (- 13 (* 5 x)))", "(/ 28 3)"),
        ("(= (- (* 8 x) 20) -5)", "(/ 15 8)"),
        ("(= (- (* 3 x) 6) 11)", "(/ 17 3)"),
    ],
}


@pytest.mark.parametrize("level", sorted(GOLDEN))
def test_exact_output_for_seed_7(level: int) -> None:
    pairs = generate("math", 3, seed=7, level=level)
    assert [(p.input, p.target) for p in pairs] == GOLDEN[level]
    assert pairs[0].meta["level"] == level


def test_hand_picked_problems() -> None:
    cases = {
        5: [
            ("3*sin(2*x)", "(* 6 (cos (* 2 x)))"),
            ("2*x**3 - x + 5", "(- (* 6 (^ x 2)) 1)"),
            ("x*exp(x)", "(+ (* x (exp x)) (exp x))"),
            ("-2*log(3*x)", "(/ -2 x)"),
            ("4/x**2", "(/ -8 (^ x 3))"),
            ("7", "0"),
        ],
        6: [
            ("2*x**3", "(/ (^ x 4) 2)"),
            ("x*exp(x)", "(- (* x (exp x)) (exp x))"),
            ("3/x", "(* 3 (ln x))"),
            ("-5", "(* -5 x)"),
            ("sin(x)*cos(x)", "(/ (^ (sin x) 2) 2)"),
            ("2*log(3*x)", "(- (* (* 2 x) (ln (* 3 x))) (* 2 x))"),
            ("6*x**2 + 4*x - 1", "(- (+ (* 2 (^ x 3)) (* 2 (^ x 2))) x)"),
        ],
    }
    for level, problems in cases.items():
        space = CalculusSpace(level)
        for function, answer in problems:
            text = f"({space.head} {sympy_to_polish(sympy.sympify(function))})"
            key, index = space.rank(text)
            assert space.unrank(key, index) == (text, answer)
    equations = math_space(7)
    key, index = equations.rank("(= (+ (* 3 x) 4) 10)")
    assert equations.unrank(key, index) == ("(= (+ (* 3 x) 4) 10)", "2")
    key, index = equations.rank("(= (* -1 x) (+ (* 2 x) 1))")
    assert equations.unrank(key, index) == ("(= (* -1 x) (+ (* 2 x) 1))", "(/ -1 3)")


# --------------------------------------------------------------------------- answers are right


def test_level_3_substitutes_the_binding() -> None:
    for pair in generate("math", 300, seed=3, level=3):
        _, name, value, (op, left, right) = parse_polish_tree(pair.input)
        a, b = (int(value) if t == name else int(t) for t in (left, right))
        assert int(pair.target) == {"+": a + b, "-": a - b, "*": a * b}[op]
        assert pair.meta["expected_result"] == float(pair.target)


def test_level_4_values() -> None:
    functions = {"sqrt": math.sqrt, "abs": abs, "exp": math.exp, "ln": math.log}

    def value(tree: object) -> float:
        if isinstance(tree, str):
            return float(tree)
        head, *args = tree
        values = [value(arg) for arg in args]
        if head in functions:
            return functions[head](values[0])
        if head == "^":
            return values[0] ** values[1]
        return {"+": values[0] + values[1], "-": values[0] - values[1], "*": values[0] * values[1]}[
            head
        ]

    for pair in generate("math", 400, seed=4, level=4):
        assert str(int(pair.target)) == pair.target  # an integer, always
        assert int(pair.target) == pytest.approx(value(parse_polish_tree(pair.input)), abs=1e-9)


def test_level_5_against_a_finite_difference() -> None:
    h = 1e-5
    for pair in generate("math", 150, seed=5, level=5):
        function = tree_to_sympy(parse_polish_tree(pair.input)[1])
        answer = _value(pair.target)
        for at in (0.7, 1.3, 2.1):
            slope = (_numeric(function, at + h) - _numeric(function, at - h)) / (2 * h)
            assert _numeric(answer, at) == pytest.approx(slope, rel=1e-5, abs=1e-4), pair


def test_level_6_answer_differentiates_to_the_integrand() -> None:
    for pair in generate("math", 150, seed=6, level=6):
        integrand = tree_to_sympy(parse_polish_tree(pair.input)[1])
        answer = _value(pair.target)
        assert sympy.simplify(sympy.diff(answer, X) - integrand) == 0, pair
        # no constant of integration: no term of the answer is free of x
        assert all(term.has(X) for term in sympy.Add.make_args(answer)), pair


def test_level_7_answer_solves_the_equation() -> None:
    for pair in generate("math", 300, seed=7, level=7):
        _, left, right = parse_polish_tree(pair.input)
        solution = _value(pair.target)
        assert solution.is_Rational
        assert (tree_to_sympy(left) - tree_to_sympy(right)).subs(X, solution) == 0, pair
        assert pair.meta["expected_result"] == float(solution)


@pytest.mark.parametrize("level", [3, 4, 5, 6, 7])
def test_answers_are_in_canonical_form_and_one_per_input(level: int) -> None:
    pairs = generate("math", 120, seed=8, level=level)
    assert len({p.input for p in pairs}) == 120
    for pair in pairs:
        assert sympy_to_polish(canonical_form(_value(pair.target))) == pair.target
    space = math_space(level)
    for pair in pairs[:30]:
        key, index = space.rank(pair.input)
        assert space.unrank(key, index) == (pair.input, pair.target)


# --------------------------------------------------------------------------- indexing is exact


@pytest.mark.parametrize(
    ("level", "family"),
    [(3, 0), (4, 0), (4, 1), (5, 0), (5, 2), (5, 4), (6, 0), (6, 2), (6, 4)],
)
def test_small_classes_are_bijections(level: int, family: int) -> None:
    space = math_space(level)
    key = (family, level)
    texts = [space.input_at(key, i) for i in range(space.count(key))]
    assert len(set(texts)) == len(texts)
    assert [space.rank(text) for text in texts] == [(key, i) for i in range(len(texts))]


@pytest.mark.parametrize(("level", "family"), [(5, 1), (5, 3), (6, 1), (6, 3), (7, 0), (7, 1)])
def test_large_classes_rank_their_own_inputs(level: int, family: int) -> None:
    space = math_space(level)
    key = (family, level)
    rng = random.Random(level * 10 + family)
    indices = [0, space.count(key) - 1, *(rng.randrange(space.count(key)) for _ in range(200))]
    for index in indices:
        assert space.rank(space.input_at(key, index)) == (key, index)


@pytest.mark.parametrize(
    ("level", "text"),
    [
        (3, "(let x 7 (+ x 21))"),  # operand out of range
        (3, "(let w 7 (+ w 2))"),  # unknown variable
        (3, "(let x 7 (+ y 2))"),  # not the bound variable
        (3, "(let x 7  (+ x 2))"),  # not canonical spacing
        (4, "(sqrt 17)"),  # not a square
        (4, "(/ (abs 3) 2)"),
        (5, "(d/dx (* 10 (sin x)))"),  # coefficient out of range
        (5, "(d/dx (+ (sin x) (cos x)))"),  # two functions: no family
        (5, "(d/dx (+ x (* 3 (^ x 2))))"),  # not canonical order
        (5, "(int (sin x))"),  # the other task
        (5, "(d/dx (sin x) )"),
        (6, "(int (* x (ln (* 2 x))))"),  # product with a scaled function
        (6, "(int (* (exp x) (ln x)))"),  # no elementary antiderivative: not in level 6
        (7, "(= (+ (* 3 x) 4) (+ (* 3 x) 1))"),  # no solution
        (7, "(= (+ (* 3 x) 21) 1)"),  # constant out of range
        (7, "(= 4 (* 3 x))"),  # x must be on the left
        (7, "(= (^ x 2) 4)"),
        (7, "not polish"),
    ],
)
def test_texts_outside_the_space_are_not_classified(level: int, text: str) -> None:
    assert math_space(level).classify(text) is None


def test_exclude_holds_out_inputs_at_every_level() -> None:
    for level in (3, 4, 5, 6, 7):
        held_out = {p.input for p in generate("math", 100, seed=11, level=level)}
        train = generate("math", 150, seed=12, level=level, exclude=held_out)
        assert not held_out & {p.input for p in train}


def test_families_are_drawn_uniformly() -> None:
    space = math_space(5)
    pairs = generate("math", 500, seed=0, level=5)
    families = Counter(space.classify(p.input)[0] for p in pairs)
    # Uniform over the 5 families (100 each), not over problems: drawn in proportion to
    # their sizes, family 1 (130,248 of 143,046) would take about 455 of the 500.
    assert_uniform(families, range(5))
    assert all(p.meta["expected_result"] is None for p in pairs)


def test_answers_stay_short() -> None:
    """Mean target length over mean input length, in characters (graphemes here)."""
    for level, bound in ((5, 1.0), (6, 1.5)):
        pairs = generate("math", 300, seed=13, level=level)
        ratio = sum(len(p.target) for p in pairs) / sum(len(p.input) for p in pairs)
        assert ratio < bound, (level, ratio)


def test_hostile_texts_to_exclude_are_rejected_without_evaluating_them() -> None:
    deep = "(d/dx " + "(sin " * 500 + "x" + ")" * 501
    texts = ["(d/dx (^ 10 99999999))", "(int (^ 10 99999999))", "(= (^ 10 99999999) x)", deep]
    exclude = [*texts, "(d/dx (^ 10.5 2))", "(= x 1.5)"]
    for level in (3, 4, 5, 6, 7):
        assert all(math_space(level).classify(text) is None for text in exclude)
        assert len(generate("math", 3, seed=0, level=level, exclude=exclude)) == 3
