"""The sympy engine for Polish notation: exact answers, the curriculum's targets, errors."""

from __future__ import annotations

import pytest

from pyg_grapheme.data import MATH_LEVELS, generate
from pyg_grapheme.data.polish_engine import EngineError, answer_polish

ANSWERS = [
    ("17", "17"),
    ("(* (+ 3 4) 5)", "35"),
    ("(- 3 16)", "-13"),
    ("(/ 6 4)", "(/ 3 2)"),
    ("(^ 2 -3)", "(/ 1 8)"),
    ("(* 2.5 2)", "5"),
    ("(sqrt 8)", "(* 2 (sqrt 2))"),
    ("(let x 7 (* 12 x))", "84"),
    ("(let x 2 (let y x (^ y 10)))", "1024"),
    ("(* x (+ x 1))", "(+ (^ x 2) x)"),
    ("(d/dx (* 3 (sin (* 2 x))))", "(* 6 (cos (* 2 x)))"),
    ("(d/dx (* (^ x 2) (exp x)))", "(+ (* (^ x 2) (exp x)) (* (* 2 x) (exp x)))"),
    ("(int (* 2 (^ x 3)))", "(/ (^ x 4) 2)"),
    ("(int (/ 1 x))", "(ln x)"),
    ("(int (+ (cos x) 5))", "(+ (* 5 x) (sin x))"),
    ("(= (+ (* 3 x) 4) 10)", "2"),
    ("(= (* 3 x) 7)", "(/ 7 3)"),
    ("(= (^ x 2) 4)", "-2, 2"),
    ("(= (* y x) 3)", "(/ 3 y)"),
]


@pytest.mark.parametrize(("text", "answer"), ANSWERS)
def test_answers(text: str, answer: str) -> None:
    assert answer_polish(text) == answer


@pytest.mark.parametrize("level", MATH_LEVELS)
def test_the_engine_answers_every_level_as_the_curriculum_does(level: int) -> None:
    pairs = generate("math", 25, seed=11, level=level)
    assert [answer_polish(p.input) for p in pairs] == [p.target for p in pairs]


ERRORS = [
    ("(+ 1", "missing ')' at offset 4 of '(+ 1'"),
    ("(foo 1)", "expected a head at offset 1 of '(foo 1)', got 'foo'"),
    ("", "expression ends too early at offset 0 of ''"),
    (
        "(+ 1 (d/dx x))",
        "'d/dx' names a question and may only be the outermost head, not inside '(+ 1 (d/dx x))'",
    ),
    ("(/ 1 0)", "'(/ 1 0)' is undefined (a division by zero or a pole)"),
    ("(ln 0)", "'(ln 0)' is undefined (a division by zero or a pole)"),
    ("(sqrt -4)", "'(sqrt -4)' is not a real number (2*I)"),
    ("(int (exp (^ x 2)))", "the answer to '(int (exp (^ x 2)))', sqrt(pi)*erfi(x)/2, is outside"),
    ("(= 1 2)", "'(= 1 2)' has no x to solve for"),
    ("(= (+ x x) (* 2 x))", "every x solves '(= (+ x x) (* 2 x))'"),
    ("(= (^ x 2) -1)", "no real x solves '(= (^ x 2) -1)'"),
    ("(= (+ x 1) x)", "no real x solves '(= (+ x 1) x)'"),
    ("(= (sin x) x)", "sympy cannot solve '(= (sin x) x)'"),
    ("(= (sin x) (/ 1 2))", "the answer to '(= (sin x) (/ 1 2))', pi/6, is outside the notation"),
    ("(^ 10 (^ 10 10))", "'(^ 10 (^ 10 10))' is too large to compute"),
    ("(^ (+ x 1) 1000)", "'(^ (+ x 1) 1000)' is too large to compute"),
    ("(let n 100000 (d/dx (^ (+ x 1) n)))", "'d/dx' names a question"),
    ("(d/dx (let n 101 (^ (+ x 1) n)))", "'(^ (+ x 1) n)' is too large to compute"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_errors_say_what_is_wrong_in_one_line(text: str, message: str) -> None:
    with pytest.raises(EngineError) as caught:
        answer_polish(text)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_powers_at_the_limits_are_computed() -> None:
    # 2**100000 has exactly MAX_POWER_BITS bits per the bound; (x+1)**100 expands.
    assert answer_polish("(- (^ 2 100000) (^ 2 100000))") == "0"
    assert answer_polish("(d/dx (let n 100 (^ x n)))") == "(* 100 (^ x 99))"
    assert len(answer_polish("(^ (+ x 1) 100)").split("(^ x ")) == 100  # x^100 .. x^2
