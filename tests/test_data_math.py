"""Tests for pyg_grapheme.data.math_expressions: format, parse, evaluate, the indexed space."""

from __future__ import annotations

import random

import pytest

from pyg_grapheme.data import evaluate_polish, format_result, parse_polish
from pyg_grapheme.data.math_expressions import MathSpace, evaluate, expression_depth, to_polish


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (25.0, "25"),
        (25, "25"),
        (-4.0, "-4"),
        (0.0, "0"),
        (-0.0, "0"),
        (3.5, "3.5"),
        (-0.25, "-0.25"),
        (1 / 3, "0.3333333333333333"),
        (1e16, "10000000000000000"),
        (1e-7, "0.0000001"),  # positional, as GRAPHEME (Rust) printed it
        (-1.5e-10, "-0.00000000015"),
        (2.718281828459045, "2.718281828459045"),
        (1e300, "1" + "0" * 300),
        (2.0**60, "1152921504606847000"),  # shortest digits, then zeros (not 2**60 exactly)
        (2**70, "1180591620717411303424"),
    ],
)
def test_format_result(value: float, text: str) -> None:
    assert format_result(value) == text


def test_format_result_errors() -> None:
    with pytest.raises(ValueError, match="format_result expects a finite number, got nan"):
        format_result(float("nan"))
    with pytest.raises(ValueError, match="got -inf"):
        format_result(float("-inf"))
    with pytest.raises(TypeError, match="format_result expects an int or float, got bool"):
        format_result(True)
    with pytest.raises(TypeError, match="got str"):
        format_result("3")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expression", "value"),
    [
        ("(+ 16 9)", ("+", 16, 9), 25.0),
        ("(- 3 7)", ("-", 3, 7), -4.0),
        ("(* (+ 3 4) 5)", ("*", ("+", 3, 4), 5), 35.0),
        ("(/ 7 2)", ("/", 7, 2), 3.5),
        ("( -   -3  (*  2 2) )", ("-", -3, ("*", 2, 2)), -7.0),
        ("42", 42, 42.0),
    ],
)
def test_parse_and_evaluate(text: str, expression: object, value: float) -> None:
    assert parse_polish(text) == expression
    assert evaluate(parse_polish(text)) == value
    assert evaluate_polish(text) == value


def test_to_polish_and_depth() -> None:
    assert to_polish(("*", ("+", 3, 4), 5)) == "(* (+ 3 4) 5)"
    assert to_polish(-2) == "-2"
    assert [expression_depth(parse_polish(t)) for t in ["7", "(+ 1 2)", "(+ 1 (* 2 (- 3 4)))"]] == [
        0,
        1,
        3,
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expression ends too early at offset 0 of ''"),
        ("(+ 1)", "'+' takes 2 argument(s), got 1 before offset 4 of '(+ 1)'"),
        ("(+ 1 2", "missing ')' at offset 6 of '(+ 1 2'"),
        ("(+ 1 2 3)", "'+' takes 2 argument(s), got 3 before offset 8 of '(+ 1 2 3)'"),
        ("(1 2 3)", "expected a head at offset 1 of '(1 2 3)', got '1'"),
        ("(+ 1 2) 3", "unexpected text at offset 8 of '(+ 1 2) 3'"),
        ("(% 1 2)", "expected a head at offset 1 of '(% 1 2)', got '%'"),
        ("+", "'+' at offset 0 of '+' is not a number or symbol"),
        # In the grammar, but not arithmetic:
        ("(+ x 2)", "'x' in '(+ x 2)' is not an integer"),
        ("(+ 1.5 2)", "'1.5' in '(+ 1.5 2)' is not an integer"),
        ("(* 2 (sin 2))", "'sin' in '(* 2 (sin 2))' is not an arithmetic operator (+ - * /)"),
        ("(^ 2 3)", "'^' in '(^ 2 3)' is not an arithmetic operator (+ - * /)"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_polish(text)
    assert str(info.value) == message


def test_division_by_zero_names_the_sub_expression() -> None:
    with pytest.raises(ZeroDivisionError, match=r"division by zero in '\(/ 4 \(- 2 2\)\)'"):
        evaluate_polish("(+ 1 (/ 4 (- 2 2)))")


def test_math_space_sizes() -> None:
    assert MathSpace(1).count((0, 1)) == 1200
    assert MathSpace(2).count((0, 2)) == 3 * (1220**2 - 20**2) == 4_464_000
    with pytest.raises(ValueError, match=r"math level must be one of \(1, 2\), got 0"):
        MathSpace(0)


def test_math_space_index_order_and_blocks() -> None:
    one, two = MathSpace(1), MathSpace(2)
    assert one.unrank((0, 1), 0) == ("(+ 1 1)", "2")
    assert one.unrank((0, 1), 1199) == ("(* 20 20)", "400")
    # level 2, per operator: (expr, expr) then (expr, number) then (number, expr)
    assert two.unrank((0, 2), 0) == ("(+ (+ 1 1) (+ 1 1))", "4")
    assert two.unrank((0, 2), 1_440_000) == ("(+ (+ 1 1) 1)", "3")
    assert two.unrank((0, 2), 1_464_000) == ("(+ 1 (+ 1 1))", "3")
    assert two.unrank((0, 2), 1_488_000) == ("(- (+ 1 1) (+ 1 1))", "0")
    assert two.unrank((0, 2), 4_463_999) == ("(* 20 (* 20 20))", "8000")


def test_math_space_classify_inverts_unrank() -> None:
    for space in (MathSpace(1), MathSpace(2)):
        key = space.classes()[0]
        rng = random.Random(0)
        indices = rng.sample(range(space.count(key)), 500)
        texts = [space.unrank(key, i)[0] for i in indices]
        assert len(set(texts)) == 500
        assert all(space.classify(t) == key for t in texts)


@pytest.mark.parametrize(
    "text",
    ["(+ 1 2 )", "(+ 0 2)", "(+ 21 2)", "(/ 1 2)", "(+ -1 2)", "(+ (+ 1 2) 3)", "3", "(+ 1", "abc"],
)
def test_level_1_classify_rejects(text: str) -> None:
    assert MathSpace(1).classify(text) is None


def test_level_2_classify() -> None:
    space = MathSpace(2)
    assert space.classify("(* (+ 3 4) 5)") == (0, 2)
    assert space.classify("(* 3 4)") is None
    assert space.classify("(* (+ 3 (- 1 2)) 5)") is None
