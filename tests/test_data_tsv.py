"""Tab-separated pair files (SIGMORPHON, WikiPron): read exactly as the same pairs in
JSONL, by the data module (and by predict: test_predict_robustness.py); every malformed line is named by file:line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from lightning_modules.datamodule import GraphemeDataModule
from pyg_grapheme.data import JsonlFormatError, read_jsonl, read_pair_file, read_tsv

PAIRS = [("chat", "ʃ a"), ("lait", "l ɛ"), ("eau", "o"), ("a b", "a  b"), ("", "")]


def _tsv(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def test_a_tsv_file_reads_as_the_same_pairs_in_jsonl(tmp_path):
    tsv = _tsv(tmp_path / "fre_train.tsv", "".join(f"{a}\t{b}\n" for a, b in PAIRS))
    jsonl = tmp_path / "fre_train.jsonl"
    jsonl.write_text("".join(json.dumps({"input": a, "target": b}) + "\n" for a, b in PAIRS))
    read = read_pair_file(tsv)
    assert read.format == "tsv" and len(read) == 5 and read.skipped == 0
    assert [(p.input, p.target) for p in read] == PAIRS  # columns as they are
    assert [(p.input, p.target) for p in read_pair_file(jsonl)] == PAIRS
    assert read[1].meta == {"source": f"{tsv}:2", "format": "tsv"}
    # The name decides, in any case; the same file named .jsonl is not JSON.
    upper = _tsv(tmp_path / "X.TSV", "ab\ta b\n")
    assert [(p.input, p.target) for p in read_pair_file(upper)] == [("ab", "a b")]
    with pytest.raises(JsonlFormatError, match=r"\.jsonl:1: invalid JSON"):
        read_jsonl(_tsv(tmp_path / "tab.jsonl", "ab\ta b\n"))


def test_line_ends_a_bom_and_trailing_blank_lines_are_accepted(tmp_path):
    path = _tsv(tmp_path / "crlf.tsv", "\ufeffab\ta b\r\ncd\tc\r\n\r\n  \n")
    assert [(p.input, p.target) for p in read_tsv(path)] == [("ab", "a b"), ("cd", "c")]


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("ab\ta\nabc\n", 2, "expected 2 tab-separated columns (input, target), got 1: 'abc'"),
        (
            "ab\ta\t17\n",
            1,
            "expected 2 tab-separated columns (input, target), got 3: 'ab\\ta\\t17'",
        ),
        ("ab\ta\n\ncd\tc\n", 2, "blank line before the last pair (allowed only at the end)"),
    ],
)
def test_malformed_lines_are_named_by_file_and_line(tmp_path, text, line, problem):
    path = _tsv(tmp_path / "bad.tsv", text)
    with pytest.raises(JsonlFormatError) as raised:
        read_tsv(path)
    assert (raised.value.line, raised.value.problem) == (line, problem)
    assert str(raised.value) == f"{path}:{line}: {problem}"


def test_invalid_utf8_an_empty_file_and_a_folder_are_errors(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("ab\ta\ncafé\tk a f e\n".encode("latin-1"))
    with pytest.raises(JsonlFormatError, match=r"latin1\.tsv:2: invalid UTF-8 at byte 3"):
        read_tsv(path)
    with pytest.raises(JsonlFormatError, match=r"empty\.tsv: no pairs$"):
        read_tsv(_tsv(tmp_path / "empty.tsv", "\n"))
    (tmp_path / "dir.tsv").mkdir()
    with pytest.raises(JsonlFormatError, match="is a folder, not a TSV file"):
        read_tsv(tmp_path / "dir.tsv")


def test_skip_bad_lines_counts_and_logs_them(tmp_path, caplog):
    path = _tsv(tmp_path / "some.tsv", "ab\ta\nx\ncd\tc\nq\tr\ts\n")
    with caplog.at_level(logging.WARNING, logger="pyg_grapheme.data.tsv"):
        read = read_tsv(path, skip_bad_lines=True)
    assert [(p.input, p.target) for p in read] == [("ab", "a"), ("cd", "c")]
    assert read.skipped == 2 and [e.line for e in read.errors] == [2, 4]
    assert "skipped 2 bad line(s): line 2: expected 2" in caplog.text
    with pytest.raises(JsonlFormatError, match=r"no valid pairs \(1 bad lines\)"):
        read_tsv(_tsv(tmp_path / "none.tsv", "x\n"), skip_bad_lines=True)


def test_the_data_module_trains_on_tsv_files(tmp_path):
    train = _tsv(tmp_path / "train.tsv", "chat\tʃ a\nlait\tl ɛ\n")
    dev = _tsv(tmp_path / "dev.tsv", "eau\to\n")
    data = GraphemeDataModule(task=None, train_path=str(train), val_path=str(dev),
                              target_units="tokens")  # fmt: skip
    data.setup("fit")
    assert [(p.input, p.target) for p in data.train_pairs] == [("chat", "ʃ a"), ("lait", "l ɛ")]
    assert [(p.input, p.target) for p in data.val_pairs] == [("eau", "o")]
    assert data.output_vocab == ["a", "l", "ɛ", "ʃ"]
    bad = GraphemeDataModule(task=None, train_path=str(_tsv(tmp_path / "b.tsv", "chat\n")),
                             val_path=str(dev))  # fmt: skip
    with pytest.raises(JsonlFormatError, match=r"b\.tsv:1: expected 2 tab-separated columns"):
        bad.setup("fit")
