"""GSM8K records read as pairs: final answers, worked answers without calculator notes, errors.

``tests/data/gsm8k.jsonl`` is written by hand in GSM8K's format (``question``,
``answer`` with ``<<a*b=c>>`` notes and a ``#### <number>`` last line): a plain
answer, decimals, thousands commas, a negative answer and an extra key.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from lightning_modules.command_line import quiet_dependency_warnings
from lightning_modules.datamodule import GraphemeDataModule
from lightning_modules.fit import DEFAULT_CONFIG, GraphemeCLI
from lightning_modules.module import GraphTransformModule
from pyg_grapheme.data import JsonlFormatError, read_jsonl
from pyg_grapheme.data.gsm8k import gsm8k_pair, strip_calculator_notes

GSM8K_FILE = Path(__file__).parent / "data" / "gsm8k.jsonl"
QUESTIONS = [json.loads(line)["question"] for line in GSM8K_FILE.read_text("utf-8").splitlines()]

STEPS = [
    "She gives away 48/2 = 24 stickers.\nShe keeps 48-24 = 24 stickers.\n#### 24",
    "The lamps cost 3 * $12.50 = $37.50.\nIn total 37.50 + 45 = $82.50\n#### 82.5",
    "12,000 + 5,000 = 17,000\n#### 17,000",
    "10 - 25 = -15\n#### -15",
]


def _write(tmp_path: Path, *records: object) -> Path:
    path = tmp_path / "gsm8k.jsonl"
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_the_final_answer_is_the_number_after_the_mark_without_commas() -> None:
    records = read_jsonl(GSM8K_FILE)
    assert records.format == "gsm8k"
    assert [(p.input, p.target) for p in records] == list(
        zip(QUESTIONS, ["24", "82.5", "17000", "-15"])
    )
    last = records[3]
    assert last.meta == {
        "source": f"{GSM8K_FILE}:4",
        "format": "gsm8k",
        "answer": "10 - 25 = <<10-25=-15>>-15\n#### -15",
        "final_answer": "-15",
        "gsm8k_target": "final",
        "extra": {"source": "hand-written"},
    }


def test_steps_keep_the_worked_answer_and_its_mark_without_calculator_notes() -> None:
    records = read_jsonl(GSM8K_FILE, gsm8k_target="steps")
    assert [p.input for p in records] == QUESTIONS
    assert [p.target for p in records] == STEPS
    assert [p.meta["final_answer"] for p in records] == ["24", "82.5", "17000", "-15"]


def test_only_whole_notes_on_one_line_are_calculator_notes() -> None:
    assert strip_calculator_notes("a <<1+1=2>>2 b <<2*3=6>>6") == "a 2 b 6"
    # A "<<" with no ">>" on its line is text, and a note never spans lines.
    assert strip_calculator_notes("x << y\n>> z <<3=3>>3") == "x << y\n>> z 3"


def test_the_question_is_kept_as_written() -> None:
    record = {"question": "  Two spaces?\tAnd a tab. ", "answer": "1+1=<<1+1=2>>2\n####2"}
    pair = gsm8k_pair(record, "here")
    assert (pair.input, pair.target) == ("  Two spaces?\tAnd a tab. ", "2")


MALFORMED = [
    ({"question": "Q?", "answer": "It is 4."}, "the answer has no '####' marks"),
    ({"question": "Q?", "answer": "#### 4\n#### 5"}, "the answer has 2 '####' marks"),
    ({"question": "Q?", "answer": "It is 4.\n####   "}, "nothing follows '####'"),
    (
        {"question": "Q?", "answer": "#### four"},
        "the final answer after '####' must be a number, got 'four'",
    ),
    (
        {"question": "Q?", "answer": "#### $4"},
        "the final answer after '####' must be a number, got '$4'",
    ),
    (
        {"question": "Q?", "answer": "#### ,."},
        "the final answer after '####' must be a number, got ',.'",
    ),
    ({"question": "", "answer": "#### 4"}, "key 'question' is empty"),
    ({"question": " \n\t", "answer": "#### 4"}, "key 'question' is empty"),
    ({"question": 7, "answer": "#### 4"}, "key 'question' must be a string, got number 7"),
    ({"question": "Q?", "answer": ["#### 4"]}, "key 'answer' must be a string, got array"),
    ({"question": "Q?", "answer": None}, "key 'answer' must be a string, got null None"),
    ({"question": "Q?"}, "missing key 'answer'"),
    ({"answer": "#### 4"}, "missing key 'question'"),
]


@pytest.mark.parametrize(("record", "problem"), MALFORMED)
def test_a_malformed_record_names_its_file_and_line(
    record: dict, problem: str, tmp_path: Path
) -> None:
    path = _write(tmp_path, {"question": "Fine?", "answer": "#### 1"}, record)
    with pytest.raises(JsonlFormatError) as caught:
        read_jsonl(path)
    assert (caught.value.path, caught.value.line) == (str(path), 2)
    assert str(caught.value).startswith(f"{path}:2: {problem}")


def test_bad_lines_can_be_skipped_and_formats_do_not_mix(tmp_path: Path) -> None:
    good = {"question": "Fine?", "answer": "#### 1"}
    path = _write(tmp_path, good, {"question": "Q?", "answer": "no mark"}, good)
    result = read_jsonl(path, skip_bad_lines=True)
    assert (len(result), result.skipped, result.errors[0].line) == (2, 1, 2)
    path = _write(tmp_path, good, {"input": "a", "target": "b"})
    with pytest.raises(
        JsonlFormatError,
        match=r":2: record is in the pairs format but the file is in the gsm8k format",
    ):
        read_jsonl(path)
    with pytest.raises(JsonlFormatError, match=r":1: .*or \"question\" and \"answer\" \(gsm8k\)"):
        read_jsonl(_write(tmp_path, {"problem": "Q?", "solution": "#### 1"}))


def test_an_unknown_target_is_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"gsm8k_target must be one of \('final', 'steps'\)"):
        read_jsonl(tmp_path / "never-opened.jsonl", gsm8k_target="answer")
    with pytest.raises(ValueError, match="gsm8k_target must be one of"):
        GraphemeDataModule(train_path=str(GSM8K_FILE), val_path=str(GSM8K_FILE), gsm8k_target="")


def test_the_fit_command_line_passes_gsm8k_target_to_the_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quiet_dependency_warnings()
    monkeypatch.setattr(sys, "argv", ["fit"])  # pytest's own options are not the CLI's
    args = ["--data.train_path", str(GSM8K_FILE), "--data.val_path", str(GSM8K_FILE)]
    cli = GraphemeCLI(
        GraphTransformModule,
        GraphemeDataModule,
        run=False,
        args=[*args, "--data.gsm8k_target", "steps"],
        parser_kwargs={"default_config_files": [str(DEFAULT_CONFIG)], "exit_on_error": False},
    )
    assert [p.target for p in cli.datamodule.train_pairs] == STEPS
    # The output vocabulary is linked from these targets: the steps' newline is one of them.
    assert "\n" in cli.model.net.output_vocab
