"""``predict --interactive`` and ``predict --engine``: lines piped in, one answer per line,
one-line errors that do not end the session, exit 0 at the end of input."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from fit_cases import run_in_process

from lightning_modules.command_line import bare_flags
from lightning_modules.interactive import PROMPT, interactive_session
from lightning_modules.module import GraphTransformModule
from lightning_modules.predict import predict
from pyg_grapheme.models import GraphTransformNet

REPO = Path(__file__).resolve().parent.parent


def _predict(*args: str, stdin: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lightning_modules.predict", *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )


def test_engine_session_answers_every_line_and_survives_bad_ones() -> None:
    lines = [
        b"(+ 16 9)",
        b"",  # asks nothing
        b"  (d/dx (* 3 (sin (* 2 x))))  ",
        b"(/ 1 0)",
        b"(+ 1",
        b"\xff(+ 1 1)",
        b"(int (* 2 (^ x 3)))\r",  # a CRLF line end
        b"(= (^ x 2) 4)",  # no newline at the end of input
    ]
    done = _predict("--engine", stdin=b"\n".join(lines))
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().splitlines() == [
        "25",
        "(* 6 (cos (* 2 x)))",
        "(/ (^ x 4) 2)",
        "-2, 2",
    ]
    assert done.stderr.decode().splitlines() == [
        "predict: line 4: '(/ 1 0)' is undefined (a division by zero or a pole)",
        "predict: line 5: missing ')' at offset 4 of '(+ 1'",
        "predict: line 6: invalid UTF-8 at byte 0 of the line",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interactive": True}, r"--interactive needs --ckpt PATH \(a trained model\) or --engine"),
        ({"engine": True, "ckpt": "x.ckpt"}, "give --ckpt or --engine, not both"),
        (
            {"engine": True, "text": "(+ 1 2)"},
            "read lines from stdin; leave out --text and --input",
        ),
        ({"engine": True, "show_morph": True}, "--show_morph shows a model's merges and splits"),
    ],
)
def test_options_that_do_not_go_together(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        predict(**kwargs)


def test_the_session_loop_in_process() -> None:
    def answer(line: str) -> str | None:
        if line == "boom":
            raise RuntimeError("the model broke")
        if line == "keyerror":
            raise KeyError("'q' is not a grapheme it knows")
        return None if not line else f"{line}\nend"  # an answer with a newline in it

    out, err = io.StringIO(), io.StringIO()
    lines = io.BytesIO(b"a b\r\nboom\n\nkeyerror\nc")
    assert interactive_session(answer, lines, out, err, prompt=True) == ["a b\nend", "c\nend"]
    assert out.getvalue() == "a b\\nend\nc\\nend\n"
    assert err.getvalue() == (
        PROMPT * 2
        + "predict: line 2: RuntimeError: the model broke\n"
        + PROMPT * 2
        + "predict: line 4: \"'q' is not a grapheme it knows\"\n"
        + PROMPT * 2
        + "\n"
    )


def test_checkpoint_session_answers_as_the_model_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # An untrained small model: the session must give exactly what the model gives.
    torch.manual_seed(0)
    net = GraphTransformNet(hidden_channels=16, num_layers=2, output_vocab=["a", "b", "q"])
    trainer = pl.Trainer(max_epochs=0, logger=False, enable_progress_bar=False)
    trainer.strategy.connect(GraphTransformModule(net))
    ckpt = tmp_path / "model.ckpt"
    trainer.save_checkpoint(ckpt)
    questions = ["aabbbc", "xyyz", "  q  "]
    stdin = "\n".join([questions[0], "", questions[1]]).encode() + b"\n\xfe\n" + b"  q  \n"
    # In this process, as the command's __main__ runs it (a real process, which costs a
    # new interpreter's imports, is test_engine_session_... above): stdin is a pipe.
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    done = run_in_process(
        "lightning_modules.predict", "--ckpt", str(ckpt), "--interactive", "--show_morph",
        cwd=REPO, monkeypatch=monkeypatch, capfd=capfd,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    stdout, stderr = done.stdout, done.stderr
    expected = [net.transform_text([q], with_morph=True)[0] for q in questions]
    assert stdout.splitlines() == [f"{out}\t{morph}" for out, morph in expected]
    errors = [line for line in stderr.splitlines() if line.startswith("predict")]
    assert errors == ["predict: line 4: invalid UTF-8 at byte 0 of the line"]


def test_boolean_options_may_be_given_bare() -> None:
    names = ("show_morph", "interactive")
    assert bare_flags(["--ckpt", "m", "--interactive"], names) == [
        "--ckpt", "m", "--interactive", "true",
    ]  # fmt: skip
    assert bare_flags(["--show_morph", "--interactive", "FALSE"], names) == [
        "--show_morph", "true", "--interactive", "FALSE",
    ]  # fmt: skip
    assert bare_flags(["--text", "--interactive"], ("show_morph",)) == ["--text", "--interactive"]
