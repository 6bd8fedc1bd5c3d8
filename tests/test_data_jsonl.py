"""Tests for pyg_grapheme.data.jsonl: the pairs and math formats, detection, every malformed-line case.

The kindergarten format and GRAPHEME's math records (expression
trees, bindings, the one-input-one-answer rules) are in
``test_data_jsonl_grapheme_records.py``.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from pyg_grapheme.data import JsonlFormatError, JsonlPairs, TextPair, read_jsonl

DATA = Path(__file__).parent / "data"
PAIRS_FILE = DATA / "pairs.jsonl"
MATH_FILE = DATA / "math.jsonl"

GOOD_PAIR = '{"input": "ab", "target": "a"}'
GOOD_MATH = '{"id": "L1-1", "input_polish": "(+ 1 2)", "expected_result": 3.0, "expected_symbolic": null, "level": 1}'


def _write(tmp_path: Path, content: str | bytes, name: str = "records.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


# --------------------------------------------------------------------------- the two formats


def test_pairs_fixture() -> None:
    records = read_jsonl(PAIRS_FILE)
    assert isinstance(records, JsonlPairs)
    assert records.format == "pairs"
    assert records.skipped == 0
    assert records.errors == ()
    assert records.path == str(PAIRS_FILE)
    assert [(p.input, p.target) for p in records] == [
        ("abc", "ab"),
        ("aabccc", "abc"),
        ("he\u0301llo   wörld", "he\u0301llo wörld"),
        ("👍🏽👍🏽🇫🇷", "👍🏽🇫🇷"),
        ("日本語", "日本語"),
        ("x", ""),
    ]
    assert records[0].meta == {"source": f"{PAIRS_FILE}:1", "format": "pairs", "extra": {}}
    assert records[1].meta == {
        "source": f"{PAIRS_FILE}:2",
        "format": "pairs",
        "extra": {"task": "dedupe"},
    }


def test_math_fixture_targets_follow_the_result_rule() -> None:
    records = read_jsonl(MATH_FILE)
    assert records.format == "math"
    assert [(p.input, p.target) for p in records] == [
        ("(+ 16 9)", "25"),  # integral float printed as an integer
        ("(- 3 7)", "-4"),
        ("(/ 7 2)", "3.5"),  # non-integral: shortest float repr
        ("(/ 1 3)", "0.3333333333333333"),
        ("(* (+ 3 4) 5)", "35"),  # a JSON integer
        ("(+ x (* 2 x))", "(* 3 x)"),  # expected_symbolic wins when present
    ]
    assert records[0].meta == {
        "source": f"{MATH_FILE}:1",
        "format": "math",
        "id": "L1-00001",
        "level": 1,
        "expected_result": 25.0,
        "expected_symbolic": None,
        "input_polish": "(+ 16 9)",
        "bindings": [],
        "extra": {},
    }
    assert records[4].meta["expected_result"] == 35.0
    assert isinstance(records[4].meta["expected_result"], float)
    assert records[5].meta["expected_result"] is None
    assert records[5].meta["level"] == 3


def test_math_optional_keys_and_extra_keys(tmp_path: Path) -> None:
    path = _write(
        tmp_path, '{"input_polish": "(* 2 3)", "expected_result": 6, "note": "hand written"}\n'
    )
    (pair,) = read_jsonl(path)
    assert pair == TextPair(
        "(* 2 3)",
        "6",
        {
            "source": f"{path}:1",
            "format": "math",
            "id": None,
            "level": None,
            "expected_result": 6.0,
            "expected_symbolic": None,
            "input_polish": "(* 2 3)",
            "bindings": [],
            "extra": {"note": "hand written"},
        },
    )


def test_result_is_a_sequence_of_pairs() -> None:
    records = read_jsonl(PAIRS_FILE)
    assert len(records) == 6
    assert records[-1].input == "x"
    assert [p.input for p in records[1:3]] == ["aabccc", "he\u0301llo   wörld"]
    assert list(records) == list(records.pairs)
    assert records == read_jsonl(str(PAIRS_FILE))


def test_explicit_format(tmp_path: Path) -> None:
    assert read_jsonl(MATH_FILE, format="math").format == "math"
    with pytest.raises(JsonlFormatError) as info:
        read_jsonl(MATH_FILE, format="pairs")
    assert str(info.value) == (
        f"{MATH_FILE}:1: record is in the math format but the file is in the pairs format "
        "(format= given)"
    )
    with pytest.raises(
        ValueError,
        match=r"format must be one of \('pairs', 'kindergarten', 'math', 'gsm8k'\) or None",
    ):
        read_jsonl(MATH_FILE, format="csv")


# --------------------------------------------------------------------------- whitespace, encodings


def test_trailing_blank_lines_are_the_end_of_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, f"{GOOD_PAIR}\n{GOOD_PAIR}\n\n  \n\t\r\n\n")
    records = read_jsonl(path)
    assert len(records) == 2
    assert records.skipped == 0


def test_no_final_newline(tmp_path: Path) -> None:
    path = _write(tmp_path, f"{GOOD_PAIR}\n{GOOD_PAIR}")
    assert len(read_jsonl(path)) == 2


def test_crlf_line_ends_and_byte_order_mark(tmp_path: Path) -> None:
    path = _write(tmp_path, b"\xef\xbb\xbf" + f"{GOOD_PAIR}\r\n{GOOD_MATH}\r\n".encode())
    with pytest.raises(JsonlFormatError, match=":2: record is in the math format"):
        read_jsonl(path)
    path = _write(tmp_path, b"\xef\xbb\xbf" + f"{GOOD_PAIR}\r\n{GOOD_PAIR}\r\n".encode())
    assert [(p.input, p.target) for p in read_jsonl(path)] == [("ab", "a"), ("ab", "a")]


def test_unicode_line_separators_inside_strings_are_not_line_ends(tmp_path: Path) -> None:
    # JSON allows raw U+2028, U+2029, U+0085 and \r inside strings; only "\n" ends a line.
    text = "a\u2028b\u2029c\x85d"
    path = _write(tmp_path, f'{{"input": "{text}", "target": "x\\r\\ny"}}\n')
    (pair,) = read_jsonl(path)
    assert pair.input == text
    assert pair.target == "x\r\ny"


def test_escaped_lone_surrogates_are_refused_with_their_line(tmp_path: Path) -> None:
    # JSON allows the escape of half a UTF-16 pair, but the string is not Unicode text: it was
    # read, then predict died writing it out and fit trained before its report failed on it.
    path = _write(
        tmp_path,
        '{"input": "a\\ud83d\\ude00", "target": "a"}\n'  # a complete pair: one emoji
        '{"input": "x", "target": "\\\\ud800"}\n'  # an escaped backslash: plain text
        '{"input": "a", "target": "b", "note": ["ok", {"k\\udc00": 1}]}\n'
        '{"input": "a\\ud800", "target": "a"}\n',
    )
    with pytest.raises(JsonlFormatError) as error:
        read_jsonl(path)
    assert str(error.value) == (
        f"{path}:3: a key at note[1] holds a lone surrogate \\udc00: not Unicode text "
        "(a JSON escape of half a UTF-16 pair)"
    )
    records = read_jsonl(path, skip_bad_lines=True)
    assert [p.input for p in records] == ["a\U0001f600", "x"]
    assert records[1].target == "\\ud800"
    assert [e.line for e in records.errors] == [3, 4]
    assert records.errors[1].problem == (
        "key 'input' holds a lone surrogate \\ud800 at character 1: not Unicode text "
        "(a JSON escape of half a UTF-16 pair)"
    )


# --------------------------------------------------------------------------- malformed lines

MALFORMED = [
    # (second line, problem); line 1 is always a good pairs record
    ("{bad json", "invalid JSON: Expecting property name enclosed in double quotes at column 2"),
    ('{"input": "a", "target": "b"', "invalid JSON: Expecting ',' delimiter at column 29"),
    ('{"input": "a", "target": "b"} x', "invalid JSON: Extra data at column 31"),
    ('["input", "target"]', "expected a JSON object, got array"),
    ('"abc"', "expected a JSON object, got string"),
    ("17", "expected a JSON object, got number"),
    ("null", "expected a JSON object, got null"),
    ('{"input": "ab', "invalid JSON: Unterminated string starting at column 11"),  # not "at at"
    ('{"input": "a"}', "missing key 'target'"),
    (
        '{"target": "a", "input_x": 1}',
        (
            'record is in none of the formats: it needs "input" and "target" (pairs), those and '
            '"input_polish" and "target_polish" (kindergarten), "input_polish" and '
            '"expected_result" (math), or "question" and "answer" (gsm8k); its keys are '
            "['input_x', 'target']"
        ),
    ),
    (
        "{}",
        (
            'record is in none of the formats: it needs "input" and "target" (pairs), those and '
            '"input_polish" and "target_polish" (kindergarten), "input_polish" and '
            '"expected_result" (math), or "question" and "answer" (gsm8k); its keys are []'
        ),
    ),
    ('{"input": 5, "target": "a"}', "key 'input' must be a string, got number 5"),
    ('{"input": "a", "target": null}', "key 'target' must be a string, got null None"),
    ('{"input": "a", "target": ["a"]}', "key 'target' must be a string, got array ['a']"),
    ('{"input": true, "target": "a"}', "key 'input' must be a string, got boolean True"),
    ('{"input": "a", "target": "b", "input": "c"}', "duplicate key 'input'"),
    (
        '{"input": "a", "target": "b", "input_polish": "", "target_polish": ""}',
        "record is in the kindergarten format but the file is in the pairs format "
        "(detected from line 1)",
    ),
    ("   ", "blank line before the last record (blank lines are allowed only at the end)"),
    ("", "blank line before the last record (blank lines are allowed only at the end)"),
    (
        GOOD_MATH,
        "record is in the math format but the file is in the pairs format (detected from line 1)",
    ),
]


@pytest.mark.parametrize(("line", "problem"), MALFORMED)
def test_malformed_pairs_line_names_file_line_and_problem(
    tmp_path: Path, line: str, problem: str
) -> None:
    path = _write(tmp_path, f"{GOOD_PAIR}\n{line}\n{GOOD_PAIR}\n")
    with pytest.raises(JsonlFormatError) as info:
        read_jsonl(path)
    assert info.value.path == str(path)
    assert info.value.line == 2
    assert info.value.problem == problem
    assert str(info.value) == f"{path}:2: {problem}"


MALFORMED_MATH = [
    (
        '{"expected_result": 3.0, "input_polish": 3}',
        "key 'input_polish' must be a string, got number 3",
    ),
    ('{"input_polish": "(+ 1 2)"}', "missing key 'expected_result'"),
    (
        '{"input_polish": "(+ 1 2)", "expected_result": "3"}',
        "key 'expected_result' must be a number or null, got string '3'",
    ),
    (
        '{"input_polish": "(+ 1 2)", "expected_result": false}',
        "key 'expected_result' must be a number or null, got boolean False",
    ),
    (
        '{"input_polish": "(+ 1 2)", "expected_result": NaN}',
        "invalid JSON: NaN is not a JSON number",
    ),
    (
        '{"input_polish": "(+ 1 2)", "expected_result": -Infinity}',
        "invalid JSON: -Infinity is not a JSON number",
    ),
    (
        '{"input_polish": "(+ 1 2)", "expected_result": 1e400}',
        "key 'expected_result' must be finite, got inf",
    ),
    (
        '{"input_polish": "(+ 1 2)", "expected_result": 3, "expected_symbolic": 3}',
        "key 'expected_symbolic' must be null, an expression tree (object) or a string, "
        "got number 3",
    ),
    (
        '{"input_polish": "(+ 1 2)", "expected_result": null, "expected_symbolic": null}',
        "expected_result and expected_symbolic are both null: no target",
    ),
    (
        '{"input_polish": "(+ 1 2)", "expected_result": null}',
        "expected_result and expected_symbolic are both null: no target",
    ),
    (
        '{"input_polish": "(+ 1 2)", "expected_result": 3, "id": 7}',
        "key 'id' must be a string, got number 7",
    ),
    (
        '{"input_polish": "(+ 1 2)", "expected_result": 3, "level": 1.5}',
        "key 'level' must be an integer, got number 1.5",
    ),
    (
        '{"input_polish": "(+ 1 2)", "expected_result": 3, "level": true}',
        "key 'level' must be an integer, got boolean True",
    ),
    (
        '{"input_polish": "(+ 1 2)", "expected_result": 3, "level": 1, "level": 2}',
        "duplicate key 'level'",
    ),
    (
        GOOD_PAIR,
        "record is in the pairs format but the file is in the math format (detected from line 1)",
    ),
]


@pytest.mark.parametrize(("line", "problem"), MALFORMED_MATH)
def test_malformed_math_line_names_file_line_and_problem(
    tmp_path: Path, line: str, problem: str
) -> None:
    path = _write(tmp_path, f"{GOOD_MATH}\n{GOOD_MATH}\n{line}\n")
    with pytest.raises(JsonlFormatError) as info:
        read_jsonl(path)
    assert (info.value.line, info.value.problem) == (3, problem)
    assert str(info.value) == f"{path}:3: {problem}"


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD_PAIR.encode() + b'\n{"input": "\xff", "target": "a"}\n')
    with pytest.raises(JsonlFormatError) as info:
        read_jsonl(path)
    assert str(info.value) == f"{path}:2: invalid UTF-8 at byte 11 of the line"


def test_first_line_bad_is_line_one(tmp_path: Path) -> None:
    path = _write(tmp_path, f"[]\n{GOOD_PAIR}\n")
    with pytest.raises(
        JsonlFormatError, match=r"records\.jsonl:1: expected a JSON object, got array"
    ):
        read_jsonl(path)


def test_empty_and_blank_files_have_no_records(tmp_path: Path) -> None:
    for content in ["", "\n", "  \n\n\t\n"]:
        path = _write(tmp_path, content)
        with pytest.raises(JsonlFormatError) as info:
            read_jsonl(path)
        assert str(info.value) == f"{path}: no records"
        assert info.value.line is None


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"absent\.jsonl"):
        read_jsonl(tmp_path / "absent.jsonl")


def test_error_pickles_with_its_fields() -> None:
    error = JsonlFormatError("f.jsonl", 4, "missing key 'target'")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.line, copy.problem, str(copy)) == (
        "f.jsonl",
        4,
        "missing key 'target'",
        "f.jsonl:4: missing key 'target'",
    )
    assert isinstance(copy, ValueError)


# --------------------------------------------------------------------------- skipping bad lines


def test_skip_bad_lines_counts_lists_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    content = "\n".join(
        [
            GOOD_PAIR,
            "{oops",
            "",
            '{"input": "c", "target": "d"}',
            GOOD_MATH,
            '{"input": "e"}',
            '{"input": "f", "target": "g"}',
        ]
    )
    path = _write(tmp_path, content + "\n\n")
    with caplog.at_level(logging.WARNING, logger="pyg_grapheme.data.jsonl"):
        records = read_jsonl(path, skip_bad_lines=True)
    assert [(p.input, p.target) for p in records] == [("ab", "a"), ("c", "d"), ("f", "g")]
    assert [p.meta["source"] for p in records] == [f"{path}:1", f"{path}:4", f"{path}:7"]
    assert records.skipped == 4
    assert [(e.line, e.problem) for e in records.errors] == [
        (2, "invalid JSON: Expecting property name enclosed in double quotes at column 2"),
        (3, "blank line before the last record (blank lines are allowed only at the end)"),
        (
            5,
            "record is in the math format but the file is in the pairs format (detected from line 1)",
        ),
        (6, "missing key 'target'"),
    ]
    assert [(r.name, r.levelname) for r in caplog.records] == [
        ("pyg_grapheme.data.jsonl", "WARNING")
    ]
    assert caplog.records[0].getMessage() == (
        f"{path}: skipped 4 bad line(s): "
        "line 2: invalid JSON: Expecting property name enclosed in double quotes at column 2; "
        "line 3: blank line before the last record (blank lines are allowed only at the end); "
        "line 5: record is in the math format but the file is in the pairs format "
        "(detected from line 1); "
        "line 6: missing key 'target'"
    )


def test_skip_detects_the_format_from_the_first_valid_record(tmp_path: Path) -> None:
    path = _write(tmp_path, f"not json\n{GOOD_MATH}\n{GOOD_PAIR}\n{GOOD_MATH}\n")
    records = read_jsonl(path, skip_bad_lines=True)
    assert records.format == "math"
    assert len(records) == 2
    assert [(e.line, e.problem) for e in records.errors] == [
        (1, "invalid JSON: Expecting value at column 1"),
        (
            3,
            "record is in the pairs format but the file is in the math format (detected from line 2)",
        ),
    ]


def test_skip_warning_lists_ten_lines_then_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path, "\n".join([GOOD_PAIR] + ["[]"] * 13) + "\n")
    with caplog.at_level(logging.WARNING, logger="pyg_grapheme.data.jsonl"):
        records = read_jsonl(path, skip_bad_lines=True)
    assert records.skipped == 13
    message = caplog.records[0].getMessage()
    assert message.startswith(f"{path}: skipped 13 bad line(s): line 2: expected a JSON object")
    assert message.count("expected a JSON object, got array") == 10
    assert message.endswith("line 11: expected a JSON object, got array; and 3 more")


def test_no_warning_when_nothing_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pyg_grapheme.data.jsonl"):
        read_jsonl(PAIRS_FILE, skip_bad_lines=True)
    assert caplog.records == []


def test_skip_with_every_line_bad_is_still_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "[]\n{}\n")
    with pytest.raises(JsonlFormatError) as info:
        read_jsonl(path, skip_bad_lines=True)
    assert str(info.value) == f"{path}: no valid records (2 bad lines)"
