"""Files of inputs alone (pyg_grapheme.data.input_files): what holds targets, the inputs
of each layout read exactly, and a line of the other kind named by file:line."""

from __future__ import annotations

import pytest

from pyg_grapheme.data import JsonlFormatError
from pyg_grapheme.data.input_files import InputReader, holds_targets


def _write(path, text: str):
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.tsv", "abala\tʔ a b a l a\n", True),
        ("a.tsv", "abala\nabang\n", False),
        ("a.tsv", "\n  \nabala\n", False),  # the first non-blank line decides
        ("a.TSV", "\ufeffabala\tx\n", True),
        ("a.jsonl", '{"input": "abala", "target": "a"}\n', True),
        ("a.jsonl", '{"input": "abala"}\n', False),
        ("a.jsonl", '{"input": "abala", "id": 3}\n', False),
        ("a.jsonl", '{"input_polish": "(+ 1 2)", "expected_result": 3}\n', True),
        ("a.jsonl", "not json\n", True),  # left to the pair reader's error
        ("a.jsonl", "", True),
        ("a.txt", "abala\tx\n", False),  # a .txt line is one input, tabs and all
    ],
)
def test_holds_targets_reads_the_first_non_blank_line(tmp_path, name, text, expected):
    assert holds_targets(_write(tmp_path / name, text)) is expected


def test_each_layout_yields_its_inputs_exactly(tmp_path):
    txt = _write(tmp_path / "w.txt", "\ufeffabala\r\nka ng\n\tx\n\n")
    tsv = _write(tmp_path / "w.tsv", "ক্ক\r\nfoo bar\n \n")
    jsonl = _write(tmp_path / "w.jsonl", '{"input": "é", "id": 7}\n{"input": ""}\n')
    assert [(p.input, p.target) for p in InputReader(txt)] == [
        ("abala", ""), ("ka ng", ""), ("\tx", ""),
    ]  # fmt: skip
    pairs = list(InputReader(tsv))
    assert [p.input for p in pairs] == ["ক্ক", "foo bar"]
    assert pairs[1].meta == {"source": f"{tsv}:2", "format": "inputs"}
    records = list(InputReader(jsonl))
    assert [p.input for p in records] == ["é", ""]
    assert records[0].meta["extra"] == {"id": 7}


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("w.tsv", "abala\nabang\tx\n",
         "2: expected 1 column (the input: the file's first line has no target), got 2: "
         "'abang\\tx'"),
        ("w.jsonl", '{"input": "a"}\n{"input": "b", "target": "c"}\n',
         '2: record has a "target", but the file is of inputs alone (its first record has '
         "none): give every record a target, or none"),
        ("w.jsonl", '{"input": "a"}\n{"word": "b"}\n', "2: missing key \"input\"; its keys are ['word']"),
        ("w.jsonl", '{"input": "a"}\n{"input": 3}\n', "2: key 'input' must be a string, got number 3"),
        ("w.jsonl", '{"input": "a"}\n[1]\n', "2: expected a JSON object, got array"),
        ("w.jsonl", '{"input": "a"}\n{"input": "b", "input": "c"}\n', "2: duplicate key 'input'"),
        ("w.txt", "a\n\nb\n", "2: blank line before the last input (allowed only at the end)"),
        ("w.txt", "a\n\xff\n", "2: invalid UTF-8 at byte 0 of the line"),
    ],
)  # fmt: skip
def test_a_line_of_another_kind_is_named_by_file_and_line(tmp_path, name, text, problem):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if "\xff" not in text else text.encode("latin-1"))
    with pytest.raises(JsonlFormatError) as caught:
        list(InputReader(path))
    assert str(caught.value) == f"{path}:{problem}"


def test_bad_lines_can_be_skipped_and_counted(tmp_path):
    path = _write(tmp_path / "w.tsv", "a\nb\tc\nd\n")
    reader = InputReader(path, skip_bad_lines=True, warn=False)
    assert [p.input for p in reader] == ["a", "d"]
    assert [e.line for e in reader.errors] == [2]


def test_a_file_of_blank_lines_has_no_inputs(tmp_path):
    path = _write(tmp_path / "w.txt", "\n \n")
    with pytest.raises(JsonlFormatError, match=r"no inputs$"):
        list(InputReader(path))
