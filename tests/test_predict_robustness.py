"""predict answers every input with one line: empty strings, text that is not Unicode,
control characters; a bad file stops it before its first line; an input the model cannot
transform is named by file:line; a reader that goes away ends it quietly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from robust_cases import tiny_fit

from lightning_modules import predict as predict_cli
from lightning_modules.command_line import one_line_errors
from lightning_modules.prediction_lines import one_line, transform_in_batches
from pyg_grapheme.data import TextPair

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return tiny_fit(tmp_path_factory.mktemp("tiny"))


def _run(capsys, *args: str) -> tuple[int, list[str], list[str]]:
    """``predict ARGS`` as the command runs it: (status, stdout lines, stderr lines)."""
    status = 0
    try:
        with one_line_errors("predict"):
            predict_cli.main(list(args))
    except SystemExit as stop:
        status = stop.code
    captured = capsys.readouterr()
    return status, captured.out.split("\n")[:-1], captured.err.splitlines()


def _jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_empty_text_and_a_file_of_empty_inputs_get_one_line_each(ckpt, tmp_path, capsys):
    # Before: IndexError from argmax over no classes (decoding.py:40), exit 1, nothing printed.
    assert _run(capsys, "--ckpt", str(ckpt), "--text", "") == (0, [""], [])
    path = _jsonl(tmp_path / "empty.jsonl", [{"input": "", "target": ""}] * 3)
    status, lines, errors = _run(capsys, "--ckpt", str(ckpt), "--input", str(path))
    assert (status, errors) == (0, [])
    assert lines[:3] == ["\t"] * 3 and lines[3].startswith("exact_match=1.0000 ")
    assert lines[3].endswith(" n=3")


def test_targets_the_model_can_never_write_get_a_note_on_stderr(ckpt, tmp_path, capsys):
    """A target unit outside the checkpoint's vocabulary that the input cannot copy: the
    score line stays last on stdout and one note on stderr says which and where."""
    path = _jsonl(
        tmp_path / "dev.jsonl",
        [{"input": "ab", "target": "ab"}, {"input": "ab", "target": "жa"},
         {"input": "щ", "target": "щ"}],
    )  # fmt: skip
    status, lines, errors = _run(capsys, "--ckpt", str(ckpt), "--input", str(path))
    assert status == 0 and len(lines) == 4 and lines[3].startswith("exact_match=")
    assert errors == [
        f"note: 1 of 3 targets hold graphemes that no training target holds and their "
        f"input cannot copy ('ж'; first at {path}:2): those pairs can never be exact, so "
        f"exact match is at most 0.667"
    ]


def test_several_checkpoints_decode_as_an_ensemble(ckpt, tmp_path, capsys):
    """``--ckpt '[A, B]'``: every model's beam proposes and the mean log-likelihood votes;
    two copies of one checkpoint vote as that checkpoint's rescored beam does."""
    path = _jsonl(
        tmp_path / "pairs.jsonl",
        [{"input": t, "target": t[:-1]} for t in ["abc", "hello", "", "xyz zy", "q"]],
    )
    alone = _run(capsys, "--ckpt", str(ckpt), "--input", str(path), "--beam", "3")
    both = _run(capsys, "--ckpt", f"[{ckpt}, {ckpt}]", "--input", str(path), "--beam", "3")
    assert alone[0] == 0 and len(alone[1]) == 6
    assert both == alone
    status, lines, errors = _run(
        capsys, "--ckpt", f"[{ckpt}, {ckpt}]", "--text", "ab", "--show_morph", "true"
    )
    assert (status, lines) == (2, [])
    assert errors == [
        "predict: error: --interactive, --engine and --show_morph take one --ckpt (an "
        "ensemble of checkpoints has no single morph; one checkpoint of several members "
        "draws its first member's)"
    ]


def test_text_that_is_not_unicode_or_breaks_lines_is_printed_escaped(ckpt, capsys):
    # A lone surrogate (what undecodable bytes of --text become) could not be written
    # as UTF-8: predict died on "'utf-8' codec can't encode".
    outputs = predict_cli.predict(str(ckpt), text="a\ud800\nb")
    (line,) = capsys.readouterr().out.splitlines()  # one line, whatever the output holds
    assert line == one_line(outputs[0])
    line.encode("utf-8")  # always writable
    assert one_line("a\ud800\nb\tc\\d\u2028e") == "a\\ud800\\nb\\tc\\\\d\\u2028e"
    assert one_line("plain text, ünïcode 👍🏽") == "plain text, ünïcode 👍🏽"


def test_bad_records_stop_predict_before_its_first_line(ckpt, tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"input": "aab", "target": "ab"}\n{"input": "\\ud800", "target": "a"}\n', encoding="utf-8"
    )
    status, lines, errors = _run(capsys, "--ckpt", str(ckpt), "--input", str(path))
    assert (status, lines) == (2, [])
    assert errors == [
        f"predict: error: {path}:2: key 'input' holds a lone surrogate \\ud800 at character 0: "
        "not Unicode text (a JSON escape of half a UTF-16 pair)"
    ]
    status, lines, errors = _run(
        capsys, "--ckpt", str(ckpt), "--input", str(path), "--skip_bad_lines", "true"
    )
    assert status == 0 and len(lines) == 2 and lines[1].endswith(" n=1")


def test_an_input_the_model_cannot_transform_is_named_by_its_line():
    def transform(texts: list[str]) -> list[str]:
        if any(len(t) > 5 for t in texts):
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate")
        return [t.upper() for t in texts]

    pairs = [TextPair(t, "", {"source": f"f.jsonl:{k}"}) for k, t in enumerate(["ab", "c", "x"], 1)]
    results = list(transform_in_batches(transform, pairs, batch_size=2))
    assert [(p.meta["source"], r) for p, r in results] == [
        ("f.jsonl:1", "AB"), ("f.jsonl:2", "C"), ("f.jsonl:3", "X"),
    ]  # fmt: skip
    pairs.insert(2, TextPair("abcdefgh", "", {"source": "f.jsonl:3"}))
    with pytest.raises(ValueError) as error:
        list(transform_in_batches(transform, pairs, batch_size=2))
    assert str(error.value) == (
        "f.jsonl:3: cannot transform this input of 8 grapheme clusters (RuntimeError: "
        "DefaultCPUAllocator: can't allocate memory: you tried to allocate)"
    )


def test_a_reader_that_goes_away_ends_predict_quietly(ckpt, tmp_path):
    path = _jsonl(tmp_path / "many.jsonl", [{"input": "aabb" * 8, "target": "ab"}] * 400)
    child = subprocess.Popen(
        [sys.executable, "-m", "lightning_modules.predict", "--ckpt", str(ckpt),
         "--input", str(path), "--batch_size", "4"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout.readline()  # the first line, then the reader leaves (| head -1)
    child.stdout.close()
    _, err = child.communicate(timeout=300)
    assert child.returncode == 141 and err == b""


def test_predict_reads_tsv_and_names_a_bad_line(ckpt, tmp_path, capsys):
    pairs = tmp_path / "dev.tsv"
    pairs.write_text("aab\tab\nxyy\txy\n", encoding="utf-8")
    jsonl = tmp_path / "dev.jsonl"
    jsonl.write_text('{"input": "aab", "target": "ab"}\n{"input": "xyy", "target": "xy"}\n')

    from_tsv = _run(capsys, "--ckpt", str(ckpt), "--input", str(pairs))
    assert from_tsv[0] == 0
    assert from_tsv == _run(capsys, "--ckpt", str(ckpt), "--input", str(jsonl))
    assert from_tsv[1][-1].endswith(" n=2")
    bad = tmp_path / "bad.tsv"
    bad.write_text("aab\tab\nxyy\n", encoding="utf-8")
    assert _run(capsys, "--ckpt", str(ckpt), "--input", str(bad)) == (
        2, [], [f"predict: error: {bad}:2: expected 2 tab-separated columns (input, target), "
                "got 1: 'xyy'"],
    )  # fmt: skip


def test_a_file_of_inputs_alone_is_transformed_without_a_score(ckpt, tmp_path, capsys):
    """A word list (``.txt``), a one-column ``.tsv`` (a shared task's test file) and JSONL
    records without targets print the outputs the same inputs get from a pair file, and
    no score line; a line of the other kind stops it before its first line."""
    inputs = ["aab", "xyy", "q z"]
    pairs = _jsonl(tmp_path / "dev.jsonl", [{"input": t, "target": t} for t in inputs])
    status, scored, _ = _run(capsys, "--ckpt", str(ckpt), "--input", str(pairs), "--beam", "2")
    assert status == 0 and scored[-1].startswith("exact_match=") and len(scored) == 4
    words = tmp_path / "words.txt"
    words.write_text("".join(t + "\n" for t in inputs), encoding="utf-8")
    column = tmp_path / "test.tsv"
    column.write_text("".join(t + "\n" for t in inputs), encoding="utf-8")
    records = _jsonl(tmp_path / "test.jsonl", [{"input": t} for t in inputs])
    for path in (words, column, records):
        assert _run(capsys, "--ckpt", str(ckpt), "--input", str(path), "--beam", "2") == (
            0, scored[:3], [],
        )  # fmt: skip
    column.write_text("aab\nxyy\tx\n", encoding="utf-8")
    assert _run(capsys, "--ckpt", str(ckpt), "--input", str(column)) == (
        2, [], [f"predict: error: {column}:2: expected 1 column (the input: the file's first "
                "line has no target), got 2: 'xyy\\tx'"],
    )  # fmt: skip
