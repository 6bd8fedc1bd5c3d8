"""Tests for read_jsonl on GRAPHEME's records: kindergarten QA and symbolic math.

The fixtures in tests/data are written by hand in GRAPHEME's formats
(``kindergarten.jsonl``: the five-key QA records; ``math_symbolic.jsonl``:
``input_expr`` and ``expected_symbolic`` trees, ``bindings`` and levels 1-6).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from pyg_grapheme.data import JsonlFormatError, jsonl, read_jsonl

DATA = Path(__file__).parent / "data"
KINDERGARTEN_FILE = DATA / "kindergarten.jsonl"
SYMBOLIC_FILE = DATA / "math_symbolic.jsonl"

GOOD_KG = '{"input": "Hi?", "target": "Hi", "input_polish": "", "target_polish": "", "id": "k"}'
GOOD_MATH = '{"input_polish": "(+ 1 2)", "expected_result": 3.0, "level": 1, "bindings": []}'


def _write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "records.jsonl"
    path.write_text(content, encoding="utf-8")
    return path


def _x() -> dict:
    return {"Value": {"Symbol": "x"}}


def _math(**fields: object) -> str:
    record = {"input_polish": "(- x 1)", "expected_result": 1.0, "level": 3}
    record.update(fields)
    return json.dumps(record)


# --------------------------------------------------------------------------- kindergarten


def test_kindergarten_fixture_prefers_non_empty_polish_fields() -> None:
    records = read_jsonl(KINDERGARTEN_FILE)
    assert records.format == "kindergarten"
    assert [(p.input, p.target) for p in records] == [
        ("How many days in a week?", "A week has 7 days"),  # both empty: plain text
        ("(+ 2 3)", "5"),  # both in Polish notation
        ("(* 4 2)", "Eight"),  # only the input has it
        ("Say hi", "Hi"),
    ]
    assert records[1].meta == {
        "source": f"{KINDERGARTEN_FILE}:2",
        "format": "kindergarten",
        "id": "kg_2",
        "input_plain": "What is two plus three?",
        "target_plain": "Two plus three is five",
        "extra": {},
    }
    assert records[3].meta["extra"] == {"topic": "greeting"}


def test_kindergarten_id_is_optional_and_format_can_be_insisted_on(tmp_path: Path) -> None:
    path = _write(
        tmp_path, '{"input": "a", "target": "b", "input_polish": "", "target_polish": ""}\n'
    )
    (pair,) = read_jsonl(path, format="kindergarten")
    assert (pair.input, pair.target, pair.meta["id"]) == ("a", "b", None)
    with pytest.raises(
        JsonlFormatError,
        match=":1: record is in the kindergarten format but the file is in the pairs format",
    ):
        read_jsonl(path, format="pairs")


MALFORMED_KINDERGARTEN = [
    ('{"input": "a", "target": "b", "input_polish": ""}', "missing key 'target_polish'"),
    ('{"input": "a", "target": "b", "target_polish": ""}', "missing key 'input_polish'"),
    ('{"input": "a", "input_polish": "", "target_polish": ""}', "missing key 'target'"),
    (
        '{"input": "a", "target": "b", "input_polish": null, "target_polish": ""}',
        "key 'input_polish' must be a string, got null None",
    ),
    (
        '{"input": "a", "target": "b", "input_polish": "", "target_polish": 5}',
        "key 'target_polish' must be a string, got number 5",
    ),
    (
        '{"input": "a", "target": "b", "input_polish": "", "target_polish": "", "id": 1}',
        "key 'id' must be a string, got number 1",
    ),
    (
        '{"input": "a", "target": "b"}',
        "record is in the pairs format but the file is in the kindergarten format "
        "(detected from line 1)",
    ),
    (
        GOOD_MATH,
        "record is in the math format but the file is in the kindergarten format "
        "(detected from line 1)",
    ),
]


@pytest.mark.parametrize(("line", "problem"), MALFORMED_KINDERGARTEN)
def test_malformed_kindergarten_line(tmp_path: Path, line: str, problem: str) -> None:
    path = _write(tmp_path, f"{GOOD_KG}\n{line}\n")
    with pytest.raises(JsonlFormatError) as info:
        read_jsonl(path)
    assert str(info.value) == f"{path}:2: {problem}"


# --------------------------------------------------------------------------- symbolic math


def test_math_fixture_one_input_one_answer() -> None:
    records = read_jsonl(SYMBOLIC_FILE)
    assert records.format == "math"
    assert [(p.input, p.target) for p in records] == [
        ("(let x 2 (- x 1))", "1"),  # level 3: the binding is written into the input
        ("(let y 5 (* y 4))", "20"),
        ("(sqrt 16)", "4"),
        ("(exp 1)", "2.718281828459045"),  # GRAPHEME's number printing
        ("(d/dx (^ x 3))", "(* (* 3 (^ x (- 3 1))) 1)"),  # level 5, tree as it is
        ("(d/dx (sin x))", "(cos x)"),
        ("(int (sin x))", "(- (cos x))"),  # level 6: same (sin x), another task
        ("(int x)", "(* (/ 1 2) (^ x 2))"),
        ("(d/dx (* 2.5 x))", "2.5"),
        ("(% 7 3)", "1"),
    ]
    answers: dict[str, set[str]] = defaultdict(set)
    for pair in records:
        answers[pair.input].add(pair.target)
    assert all(len(targets) == 1 for targets in answers.values())
    assert records[0].meta == {
        "source": f"{SYMBOLIC_FILE}:1",
        "format": "math",
        "id": "L3-00001",
        "level": 3,
        "expected_result": 1.0,
        "expected_symbolic": None,
        "input_polish": "(- x 1)",
        "bindings": [("x", 2.0)],
        "extra": {},
    }
    assert records[4].meta["expected_symbolic"] == "(* (* 3 (^ x (- 3 1))) 1)"
    assert records[4].meta["expected_result"] is None


def test_bindings_nest_in_list_order_and_print_like_results(tmp_path: Path) -> None:
    line = _math(input_polish="(+ x y)", bindings=[["x", 2.0], ["y", -0.5]], expected_result=1.5)
    (pair,) = read_jsonl(_write(tmp_path, line + "\n"))
    assert (pair.input, pair.target) == ("(let x 2 (let y -0.5 (+ x y)))", "1.5")


def test_bindings_wrap_the_task_at_any_level(tmp_path: Path) -> None:
    tree = {"Function": {"func": "Cos", "args": [_x()]}}
    line = _math(input_polish="(sin x)", level=5, bindings=[["x", 0]], expected_symbolic=tree)
    (pair,) = read_jsonl(_write(tmp_path, line + "\n"))
    assert pair.input == "(let x 0 (d/dx (sin x)))"


def test_no_level_no_bindings_keeps_the_input(tmp_path: Path) -> None:
    line = '{"input_polish": "(sin x)", "expected_result": null, "expected_symbolic": "(cos x)"}'
    (pair,) = read_jsonl(_write(tmp_path, line + "\n"))
    assert (pair.input, pair.target, pair.meta["level"]) == ("(sin x)", "(cos x)", None)


def test_input_expr_numbers_are_compared_by_value(tmp_path: Path) -> None:
    tree = {"BinOp": {"op": "Add", "left": {"Value": {"Float": 2.0}}, "right": _x()}}
    line = _math(input_polish="(+ 2.0 x)", input_expr=tree, bindings=[["x", 1]])
    (pair,) = read_jsonl(_write(tmp_path, line + "\n"))
    assert pair.input == "(let x 1 (+ 2.0 x))"


def test_a_line_shaped_like_graphemes_generator_output(tmp_path: Path) -> None:
    line = (
        '{"id":"L1-00001","input_polish":"(* 12 3)","input_expr":{"BinOp":{"op":"Mul",'
        '"left":{"Value":{"Integer":12}},"right":{"Value":{"Integer":3}}}},'
        '"expected_result":36.0,"expected_symbolic":null,"level":1,"bindings":[]}'
    )
    (pair,) = read_jsonl(_write(tmp_path, line + "\n"))
    assert (pair.input, pair.target, pair.meta["id"]) == ("(* 12 3)", "36", "L1-00001")


MALFORMED_MATH = [
    (_math(level=8), "key 'level' must be one of (1, 2, 3, 4, 5, 6, 7), got 8"),
    (_math(level=0), "key 'level' must be one of (1, 2, 3, 4, 5, 6, 7), got 0"),
    (
        _math(bindings={"x": 2}),
        "key 'bindings' must be a list of [name, number], got object {'x': 2}",
    ),
    (
        _math(bindings=[["x"]]),
        "key 'bindings': entry 0 must be [name, number] with a symbol name "
        "(a letter, then letters, digits or _), got ['x']",
    ),
    (
        _math(bindings=[["x", "2"]]),
        "key 'bindings': entry 0 must be [name, number] with a symbol name "
        "(a letter, then letters, digits or _), got ['x', '2']",
    ),
    (
        _math(bindings=[["x", 1], ["x y", 2]]),
        "key 'bindings': entry 1 must be [name, number] with a symbol name "
        "(a letter, then letters, digits or _), got ['x y', 2]",
    ),
    (
        _math(bindings=[["let", 2]]),
        "key 'bindings': entry 0 must be [name, number] with a symbol name "
        "(a letter, then letters, digits or _), got ['let', 2]",
    ),
    (
        _math(bindings=[["x", True]]),
        "key 'bindings': entry 0 must be [name, number] with a symbol name "
        "(a letter, then letters, digits or _), got ['x', True]",
    ),
    (_math(bindings=[["x", 1], ["x", 2]]), "key 'bindings': 'x' is bound twice"),
    (
        _math().replace('"level": 3', '"level": 3, "bindings": [["x", 1e400]]'),
        "key 'bindings': entry 0 must be finite, got inf",
    ),
    (
        _math(
            input_expr={"BinOp": {"op": "Sub", "left": _x(), "right": {"Value": {"Integer": 2}}}}
        ),
        "input_expr reads '(- x 2)' but input_polish is '(- x 1)'; the record contradicts itself",
    ),
    (
        _math(input_expr={"BinOp": {"op": "Minus", "left": _x(), "right": _x()}}),
        "key 'input_expr': malformed expression tree at BinOp.op: unknown operator 'Minus'; "
        "expected one of Add, Sub, Mul, Div, Pow, Mod",
    ),
    (
        _math(input_expr="(- x 1)"),
        "key 'input_expr': malformed expression tree: expected an object with one key of "
        "Value, BinOp, UnaryOp, Function, got string",
    ),
    (
        _math(expected_result=None, expected_symbolic={"Value": {"Rational": [1, 0]}}),
        "key 'expected_symbolic': malformed expression tree at Value.Rational: "
        "denominator is 0 in [1, 0]",
    ),
    (
        _math(expected_symbolic=[1]),
        "key 'expected_symbolic' must be null, an expression tree (object) or a string, "
        "got array [1]",
    ),
    (
        _math(expected_symbolic={"Value": {"Integer": 1}}, input_expr=None),
        "key 'input_expr': malformed expression tree: expected an object with one key of "
        "Value, BinOp, UnaryOp, Function, got null",
    ),
    (
        '{"input_polish": "x", "expected_result": null, "expected_symbolic": '
        + '{"UnaryOp": {"op": "Neg", "operand": ' * 3000
        + "null"
        + "}}" * 3000
        + "}",
        "invalid JSON: nested too deeply to read",
    ),
]


@pytest.mark.parametrize(("line", "problem"), MALFORMED_MATH)
def test_malformed_grapheme_math_line(tmp_path: Path, line: str, problem: str) -> None:
    path = _write(tmp_path, f"{GOOD_MATH}\n{line}\n")
    with pytest.raises(JsonlFormatError) as info:
        read_jsonl(path)
    assert (info.value.line, info.value.problem) == (2, problem)
    assert str(info.value) == f"{path}:2: {problem}"


def test_deep_trees_print_exactly(tmp_path: Path) -> None:
    depth = 300
    tree = (
        '{"UnaryOp": {"op": "Neg", "operand": ' * depth + '{"Value": {"Integer": 1}}' + "}}" * depth
    )
    line = '{"input_polish": "x", "expected_result": null, "expected_symbolic": ' + tree + "}"
    records = read_jsonl(_write(tmp_path, f"{GOOD_MATH}\n{line}\n"))
    assert records[1].target == "(- " * depth + "1" + ")" * depth


def test_recursion_in_the_tree_printer_is_a_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On Pythons whose JSON parser nests deeper than Python code may recurse (3.12+),
    # a tree can parse and still be too deep to print: that is a line error too.
    def too_deep(tree: object) -> str:
        raise RecursionError

    monkeypatch.setattr(jsonl, "tree_to_polish", too_deep)
    line = _math(expected_result=None, expected_symbolic={"Value": {"Integer": 1}})
    with pytest.raises(JsonlFormatError) as info:
        read_jsonl(_write(tmp_path, f"{GOOD_MATH}\n{line}\n"))
    assert str(info.value).endswith(":2: expression tree nested too deeply to read")
