"""Tests for pyg_grapheme.data.polish_grammar and .symbolic_polish: grammar, sympy conversion,
the canonical form."""

from __future__ import annotations

import pytest
import sympy
from sympy import E, Rational, cos, exp, log, sin, sqrt, tan

from pyg_grapheme.data import canonical_form, parse_polish_tree, sympy_to_polish, tree_to_sympy
from pyg_grapheme.data.polish_grammar import FUNCTION_HEADS, OPERATORS, tree_to_text
from pyg_grapheme.data.symbolic_polish import FUNCTIONS, X

x = X


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("42", "42"),
        ("-2.5", "-2.5"),
        ("(+ 16 9)", ("+", "16", "9")),
        ("(d/dx (* 3 (sin x)))", ("d/dx", ("*", "3", ("sin", "x")))),
        ("(int (^ x 2))", ("int", ("^", "x", "2"))),
        ("(= (+ (* 3 x) 4) 10)", ("=", ("+", ("*", "3", "x"), "4"), "10")),
        ("(let x 2 (- x 1))", ("let", "x", "2", ("-", "x", "1"))),
        ("(  abs   -3 )", ("abs", "-3")),
    ],
)
def test_parse_and_print_trees(text: str, tree: object) -> None:
    assert parse_polish_tree(text) == tree
    assert tree_to_text(tree) == " ".join(text.split()).replace("( ", "(").replace(" )", ")")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expression ends too early at offset 0 of ''"),
        ("(+ 1", "missing ')' at offset 4 of '(+ 1'"),
        ("(+ 1 2))", "unexpected text at offset 7 of '(+ 1 2))'"),
        (")", "unexpected ')' at offset 0 of ')'"),
        ("(foo 1)", "expected a head at offset 1 of '(foo 1)', got 'foo'"),
        ("(", "expected a head at offset 1 of '(', got 'the end'"),
        ("(sin 1 2)", "'sin' takes 1 argument(s), got 2 before offset 8 of '(sin 1 2)'"),
        ("(+ 1)", "'+' takes 2 argument(s), got 1 before offset 4 of '(+ 1)'"),
        ("(+ 1 2.)", "'2.' at offset 5 of '(+ 1 2.)' is not a number or symbol"),
        ("(+ 1 sin)", "'sin' at offset 5 of '(+ 1 sin)' is not a number or symbol"),
        ("1 2", "unexpected text at offset 2 of '1 2'"),
    ],
)
def test_parse_errors_name_the_offset(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_polish_tree(text)
    assert str(info.value) == message


def test_every_value_head_of_the_grammar_has_a_sympy_meaning() -> None:
    assert tuple(FUNCTIONS) == FUNCTION_HEADS
    values = [tree_to_sympy((op, "6", "3")) for op in OPERATORS]
    assert values == [9, 3, 18, 2, 216]
    assert [tree_to_sympy((head, "4")) for head in FUNCTION_HEADS] == [
        sin(4),
        cos(4),
        tan(4),
        exp(4),
        log(4),
        2,
        4,
    ]


def test_tree_to_sympy() -> None:
    assert tree_to_sympy(parse_polish_tree("(let x 2 (- x 1))")) == 1
    assert tree_to_sympy(parse_polish_tree("(let x 3 (let y 4 (* x y)))")) == 12
    assert tree_to_sympy(parse_polish_tree("(/ 7 2)")) == Rational(7, 2)
    assert tree_to_sympy(parse_polish_tree("(sqrt (^ -5 2))")) == 5
    assert tree_to_sympy(parse_polish_tree("(ln (exp -3))")) == -3
    assert tree_to_sympy(parse_polish_tree("(abs (- 3 8))")) == 5
    assert tree_to_sympy(parse_polish_tree("(tan (* 2.5 x))")) == tan(2.5 * x)
    for text in ("(d/dx x)", "(int x)", "(= x 1)"):
        with pytest.raises(ValueError, match="names a task, not a value"):
            tree_to_sympy(parse_polish_tree(text))
    with pytest.raises(ValueError, match="let binds a symbol, got '2'"):
        tree_to_sympy(("let", "2", "2", "x"))


CANONICAL = [
    (sympy.Integer(-3), "-3"),
    (Rational(-7, 3), "(/ -7 3)"),
    (sympy.Float(2.5), "2.5"),
    (E, "(exp 1)"),
    (x**3 - 2 * x + 5, "(+ (- (^ x 3) (* 2 x)) 5)"),
    (13 - 5 * x, "(- 13 (* 5 x))"),  # sympy's one exception to descending degree
    (-(x**2) + sin(x), "(+ (* -1 (^ x 2)) (sin x))"),
    (-x, "(* -1 x)"),
    (-x / 2, "(/ (* -1 x) 2)"),
    (Rational(3, 2) * x**2 - sin(x), "(- (/ (* 3 (^ x 2)) 2) (sin x))"),
    (-1 / x, "(/ -1 x)"),
    (-6 / x**3, "(/ -6 (^ x 3))"),
    (1 / (2 * sqrt(x)), "(/ 1 (* 2 (sqrt x)))"),
    (x ** Rational(3, 2), "(^ x (/ 3 2))"),
    (x * exp(x) - exp(x), "(- (* x (exp x)) (exp x))"),
    (3 * log(2 * x), "(* 3 (ln (* 2 x)))"),
    (sin(x) ** 2 / 2, "(/ (^ (sin x) 2) 2)"),
    (tan(x) ** 2 + 1, "(+ (^ (tan x) 2) 1)"),
    (sympy.Abs(x - 1), "(abs (- x 1))"),
    (-exp(2 * x), "(* -1 (exp (* 2 x)))"),
    (
        exp(x) * sin(x) / 2 - exp(x) * cos(x) / 2,
        "(- (/ (* (exp x) (sin x)) 2) (/ (* (exp x) (cos x)) 2))",
    ),
]


@pytest.mark.parametrize(("expr", "text"), CANONICAL)
def test_canonical_text_and_round_trip(expr: sympy.Expr, text: str) -> None:
    assert sympy_to_polish(expr) == text
    back = tree_to_sympy(parse_polish_tree(text))
    assert back == expr
    assert sympy_to_polish(back) == text


def test_canonical_form_expands_products_only() -> None:
    assert canonical_form((x + 1) ** 2) == x**2 + 2 * x + 1
    assert canonical_form((x - 1) * exp(x)) == x * exp(x) - exp(x)
    assert canonical_form(3 * log(2 * x)) == 3 * log(2 * x)  # no log(2) + log(x)
    assert canonical_form(exp(x + 1)) == exp(x + 1)  # no E * exp(x)
    assert canonical_form(sin(2 * x)) == sin(2 * x)  # no trigonometric expansion


def test_writer_rejects_what_the_grammar_cannot_say() -> None:
    for expr in (sympy.asin(x), sympy.I * x, sympy.oo, sympy.Function("f")(x)):
        with pytest.raises(ValueError, match="in Polish notation"):
            sympy_to_polish(expr)
