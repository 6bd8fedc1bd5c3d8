"""Tests for pyg_grapheme.data.expression_tree: GRAPHEME's JSON trees as Polish text."""

from __future__ import annotations

from typing import Any

import pytest

from pyg_grapheme.data import ExpressionTreeError, tree_to_polish


def V(kind: str, value: Any) -> dict:
    return {"Value": {kind: value}}


def B(op: str, left: dict, right: dict) -> dict:
    return {"BinOp": {"op": op, "left": left, "right": right}}


def F(func: str, *args: dict) -> dict:
    return {"Function": {"func": func, "args": list(args)}}


X = V("Symbol", "x")


@pytest.mark.parametrize(
    ("tree", "text"),
    [
        (V("Integer", 16), "16"),
        (V("Integer", -3), "-3"),
        (V("Float", 25.0), "25"),
        (V("Float", 2.718281828459045), "2.718281828459045"),
        (V("Float", 1e-7), "0.0000001"),
        (V("Float", 3), "3"),  # serde reads a JSON integer as f64
        (V("Symbol", "theta_1"), "theta_1"),
        (V("Rational", [1, 2]), "(/ 1 2)"),
        (V("Rational", [-3, 4]), "(/ -3 4)"),
        (B("Add", V("Integer", 16), V("Integer", 9)), "(+ 16 9)"),
        (B("Sub", X, V("Integer", 1)), "(- x 1)"),
        (B("Div", X, V("Integer", 2)), "(/ x 2)"),
        (B("Mod", V("Integer", 7), V("Integer", 3)), "(% 7 3)"),
        (
            B(
                "Mul",
                B("Mul", V("Integer", 3), B("Pow", X, B("Sub", V("Integer", 3), V("Integer", 1)))),
                V("Integer", 1),
            ),
            "(* (* 3 (^ x (- 3 1))) 1)",
        ),
        ({"UnaryOp": {"op": "Neg", "operand": F("Cos", X)}}, "(- (cos x))"),
        (F("Log", V("Integer", 100)), "(log 100)"),
        (F("Ln", F("Exp", X)), "(ln (exp x))"),
        (
            F("Sqrt", F("Abs", F("Floor", F("Ceil", F("Tan", X))))),
            "(sqrt (abs (floor (ceil (tan x)))))",
        ),
    ],
)
def test_every_node_kind_prints(tree: dict, text: str) -> None:
    assert tree_to_polish(tree) == text


MALFORMED = [
    (
        [],
        "",
        "expected an object with one key of Value, BinOp, UnaryOp, Function, got array",
    ),
    (
        {},
        "",
        "expected an object with one key of Value, BinOp, UnaryOp, Function, got an object "
        "with keys []",
    ),
    (
        {"Value": {"Integer": 1}, "BinOp": {}},
        "",
        "expected an object with one key of Value, BinOp, UnaryOp, Function, got an object "
        "with keys ['BinOp', 'Value']",
    ),
    ({"Number": 3}, "", "unknown kind 'Number'; expected one of Value, BinOp, UnaryOp, Function"),
    (
        {"Value": 3},
        "Value",
        "expected an object with one key of Integer, Float, Symbol, Rational, got number",
    ),
    (
        {"Value": {"Complex": [1, 2]}},
        "Value",
        "unknown kind 'Complex'; expected one of Integer, Float, Symbol, Rational",
    ),
    (V("Integer", 2.0), "Value.Integer", "expected a 64-bit integer, got 2.0"),
    (V("Integer", True), "Value.Integer", "expected a 64-bit integer, got True"),
    (V("Integer", 2**63), "Value.Integer", f"expected a 64-bit integer, got {2**63}"),
    (V("Integer", "7"), "Value.Integer", "expected a 64-bit integer, got '7'"),
    (V("Float", "2.5"), "Value.Float", "expected a number, got string '2.5'"),
    (V("Float", None), "Value.Float", "expected a number, got null None"),
    (V("Float", float("inf")), "Value.Float", "expected a finite number, got inf"),
    (V("Symbol", ""), "Value.Symbol", "expected a name without spaces or parentheses, got ''"),
    (
        V("Symbol", "x y"),
        "Value.Symbol",
        "expected a name without spaces or parentheses, got 'x y'",
    ),
    (
        V("Symbol", "f(x)"),
        "Value.Symbol",
        "expected a name without spaces or parentheses, got 'f(x)'",
    ),
    (V("Symbol", 3), "Value.Symbol", "expected a name without spaces or parentheses, got 3"),
    (V("Rational", [1]), "Value.Rational", "expected [numerator, denominator] integers, got [1]"),
    (
        V("Rational", [1, 2.0]),
        "Value.Rational",
        "expected [numerator, denominator] integers, got [1, 2.0]",
    ),
    (
        V("Rational", {"n": 1}),
        "Value.Rational",
        "expected [numerator, denominator] integers, got {'n': 1}",
    ),
    (V("Rational", [1, 0]), "Value.Rational", "denominator is 0 in [1, 0]"),
    (
        {"BinOp": {"op": "Add", "left": X}},
        "BinOp",
        "expected an object with keys ['op', 'left', 'right'], got keys ['left', 'op']",
    ),
    (
        {"BinOp": {"op": "Add", "left": X, "right": X, "extra": 1}},
        "BinOp",
        "expected an object with keys ['op', 'left', 'right'], got keys ['extra', 'left', 'op', 'right']",
    ),
    ({"BinOp": [X, X]}, "BinOp", "expected an object with keys ['op', 'left', 'right'], got array"),
    (
        B("Neg", X, X),
        "BinOp.op",
        "unknown operator 'Neg'; expected one of Add, Sub, Mul, Div, Pow, Mod",
    ),
    (
        B("Add", X, {"Value": {}}),
        "BinOp.right.Value",
        "expected an object with one key of Integer, Float, Symbol, Rational, got an object with keys []",
    ),
    (
        {"UnaryOp": {"op": "Add", "operand": X}},
        "UnaryOp.op",
        "unknown unary operator 'Add'; expected Neg",
    ),
    (
        {"UnaryOp": {"op": "Neg"}},
        "UnaryOp",
        "expected an object with keys ['op', 'operand'], got keys ['op']",
    ),
    (
        F("Derive", X),
        "Function.func",
        "unknown function 'Derive'; expected one of Sin, Cos, Tan, Log, Ln, Exp, Sqrt, Abs, Floor, Ceil",
    ),
    (F("Sin"), "Function.args", "expected a list of one argument, got 0 arguments"),
    (F("Sin", X, X), "Function.args", "expected a list of one argument, got 2 arguments"),
    (
        {"Function": {"func": "Sin", "args": X}},
        "Function.args",
        "expected a list of one argument, got object",
    ),
    (
        F("Sin", B("Add", X, V("Integer", 1.5))),
        "Function.args[0].BinOp.right.Value.Integer",
        "expected a 64-bit integer, got 1.5",
    ),
]


@pytest.mark.parametrize(("tree", "where", "problem"), MALFORMED)
def test_malformed_tree_names_the_node(tree: Any, where: str, problem: str) -> None:
    with pytest.raises(ExpressionTreeError) as info:
        tree_to_polish(tree)
    assert (info.value.where, info.value.problem) == (where, problem)
    assert str(info.value) == (f"{where}: {problem}" if where else problem)
    assert isinstance(info.value, ValueError)
