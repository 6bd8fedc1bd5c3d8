"""Tests for ``python -m pyg_grapheme.data.generate``: JSONL that read_jsonl reads back, one-line errors.

The round trips call ``main`` in this process (fast); the command-line contract
(exit status 2, one line on stderr, no traceback) is checked through real
subprocesses, started together. The command imports neither torch nor PyG.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pyg_grapheme.data
from pyg_grapheme.data import MATH_LEVELS, TASKS, generate, read_jsonl
from pyg_grapheme.data.curriculum import generate as generate_function
from pyg_grapheme.data.generate import main

STRING_TASKS = [task for task in TASKS if task != "math"]
DATA = Path(__file__).parent / "data"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_importing_the_command_keeps_generate_the_function() -> None:
    assert pyg_grapheme.data.generate is generate_function
    assert generate is generate_function


def test_the_command_imports_neither_torch_nor_pyg() -> None:
    # They cost the command 8 of the 9.4 CPU seconds it took to start; the data
    # package's graph side (PairDataset, collate_pairs) loads when first asked for.
    code = (
        "import sys, pyg_grapheme.data.generate; "
        "print(sorted(m for m in ('torch', 'torch_geometric') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr[-2000:]


def test_the_graph_side_loads_when_asked_for() -> None:
    from pyg_grapheme.data.pair_dataset import PairDataset, collate_pairs

    assert pyg_grapheme.data.PairDataset is PairDataset
    assert pyg_grapheme.data.collate_pairs is collate_pairs
    with pytest.raises(AttributeError, match="has no attribute 'pair_datasets'"):
        _ = pyg_grapheme.data.pair_datasets


@pytest.mark.parametrize("task", STRING_TASKS)
def test_string_task_round_trip(
    task: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"{task}.jsonl"
    argv = ["--task", task, "--count", "12", "--seed", "3", "--alphabet", "greek"]
    status, stdout, err = _run([*argv, "--max-len", "5", "--out", str(out)], capsys)
    assert (status, err) == (0, "")
    assert stdout.startswith(f"wrote 12 pairs of {task} to {out} (a space of ")
    expected = generate(task, 12, seed=3, alphabet="greek", max_len=5)
    records = read_jsonl(out)
    assert records.format == "pairs"
    assert [(p.input, p.target) for p in records] == [(p.input, p.target) for p in expected]
    assert records[0].meta["extra"] == {"task": task, "id": f"{task}-00001"}
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert list(first) == ["input", "target", "task", "id"]


@pytest.mark.parametrize("level", MATH_LEVELS)
def test_math_level_round_trip(
    level: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "math.jsonl"
    argv = ["--task", "math", "--level", str(level), "--count", "10", "--seed", "0"]
    status, stdout, _ = _run([*argv, "--out", str(out)], capsys)
    assert status == 0
    size = {1: "1,200", 2: "4,464,000", 3: "7,380", 4: "19,844", 5: "143,046"}
    size |= {6: "142,920", 7: "544,644"}
    assert (
        stdout
        == f"wrote 10 pairs of math level {level} to {out} (a space of {size[level]} inputs)\n"
    )
    expected = generate("math", 10, seed=0, level=level)
    records = read_jsonl(out)
    assert [(p.input, p.target) for p in records] == [(p.input, p.target) for p in expected]
    assert records[9].meta["extra"] == {"task": "math", "level": level, "id": f"L{level}-00010"}


def test_exclude_holds_out_a_file_of_any_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    held_out, train = tmp_path / "held_out.jsonl", tmp_path / "train.jsonl"
    common = ["--task", "math", "--level", "1", "--seed"]
    assert _run([*common, "1", "--count", "240", "--out", str(held_out)], capsys)[0] == 0
    status, _, _ = _run(
        [*common, "2", "--count", "960", "--exclude", str(held_out), "--out", str(train)], capsys
    )
    assert status == 0
    inputs = [{p.input for p in read_jsonl(path)} for path in (held_out, train)]
    assert len(inputs[0]) == 240 and len(inputs[1]) == 960 and not inputs[0] & inputs[1]
    # 1200 - 240 = 960: one more is one too many
    status, _, err = _run(
        [*common, "2", "--count", "961", "--exclude", str(held_out), "--out", str(train)], capsys
    )
    assert status == 2
    assert "has only 960 distinct inputs" in err and "pass --allow-repeats" in err
    # GRAPHEME's math records, read with their rules, exclude their inputs too: a level-3
    # record keeps the binding apart ("(* 18 y)" with y = 7), the reader writes it in.
    argv = ["--task", "math", "--level", "3", "--count", "5", "--seed", "0"]
    first = generate("math", 5, seed=0, level=3)[0]
    variable, value, body = re.fullmatch(r"\(let (\w) (\d+) (.*)\)", first.input).groups()
    record = {"input_polish": body, "expected_result": float(first.target), "level": 3,
              "bindings": [[variable, float(value)]]}  # fmt: skip
    records = tmp_path / "grapheme_math.jsonl"
    records.write_text(json.dumps(record) + "\n" + (DATA / "math_symbolic.jsonl").read_text())
    out = tmp_path / "l3.jsonl"
    assert _run([*argv, "--exclude", str(records), "--out", str(out)], capsys)[0] == 0
    written = [p.input for p in read_jsonl(out)]
    assert first.input not in written and len(written) == 5
    expected = generate("math", 5, seed=0, level=3, exclude={p.input for p in read_jsonl(records)})
    assert written == [p.input for p in expected]


def test_allow_repeats_draws_independently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.jsonl"
    argv = ["--task", "copy", "--alphabet", "digits", "--max-len", "1", "--count", "30"]
    assert _run([*argv, "--seed", "0", "--allow-repeats", "--out", str(out)], capsys)[0] == 0
    expected = generate("copy", 30, seed=0, alphabet="digits", max_len=1, unique=False)
    assert [p.input for p in read_jsonl(out)] == [p.input for p in expected]


def test_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    status, stdout, _ = _run(["--sizes", "--alphabet", "digits", "--max-len", "3"], capsys)
    assert status == 0
    k = 10
    strip = 1 + (1 + 2 * k) + (1 + 2 * k**2 + 3 * k)  # lengths 1-3: spaces only, one word
    assert stdout.splitlines() == [
        f"copy: {k + k**2 + k**3:,}",
        f"drop_last: {k**2 + k**3:,}",
        f"dedupe: {sum(k * (k - 1) ** (n - 1) * (3**n - 1) for n in (1, 2, 3)):,}",
        f"squeeze_spaces: {k**2 * 2:,}",  # "a  b" and "a   b"
        f"double: {k + k**2 + k**3:,}",
        f"spaced: {k + k**2 + k**3:,}",
        f"strip: {strip:,}",
        "math level 1: 1,200",
        "math level 2: 4,464,000",
        "math level 3: 7,380",
        "math level 4: 19,844",
        "math level 5: 143,046",
        "math level 6: 142,920",
        "math level 7: 544,644",
    ]


def _bad_arguments(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """Named bad command lines and the start of the one line each must print."""
    bad = tmp / "bad.jsonl"
    bad.write_text('{"input": "a", "target": "b"}\n{"input": "a"}\n', encoding="utf-8")
    out = str(tmp / "out.jsonl")
    base = ["--count", "5", "--seed", "0", "--out", out]
    absent, no_folder = tmp / "absent.jsonl", tmp / "no" / "x.jsonl"
    return {
        "unknown task": (
            ["--task", "reverse", *base],
            "unknown task 'reverse'; tasks are ('copy', 'drop_last', 'dedupe', "
            "'squeeze_spaces', 'double', 'spaced', 'strip', 'math')",
        ),
        "level above 7": (
            ["--task", "math", "--level", "8", *base],
            "math level must be one of (1, 2, 3, 4, 5, 6, 7), got 8",
        ),
        "level 0": (
            ["--task", "math", "--level", "0", *base],
            "math level must be one of (1, 2, 3, 4, 5, 6, 7), got 0",
        ),
        "level of a string task": (
            ["--task", "copy", "--level", "2", *base],
            "--level applies to --task math only, not --task copy",
        ),
        "alphabet of math": (
            ["--task", "math", "--alphabet", "greek", *base],
            "--alphabet apply to the string tasks, not --task math",
        ),
        "count too large": (
            ["--task", "math", "--count", "1201", "--seed", "0", "--out", out],
            "task 'math' has only 1200 distinct inputs with these settings (1200 in all, "
            "0 excluded) but n=1201 were requested with unique=True; widen the alphabet or the "
            "lengths, raise the math level, or pass --allow-repeats",
        ),
        "missing exclude file": (
            ["--task", "copy", *base, "--exclude", str(absent)],
            f"exclude file not found: {absent}",
        ),
        "malformed exclude file": (
            ["--task", "copy", *base, "--exclude", str(bad)],
            f"{bad}:2: missing key 'target'",
        ),
        "no output folder": (
            ["--task", "copy", "--count", "5", "--seed", "0", "--out", str(no_folder)],
            f"cannot write {no_folder}: folder {no_folder.parent} does not exist",
        ),
        "negative count": (
            ["--task", "copy", "--count", "-1", "--seed", "0", "--out", out],
            "n must be >= 0, got -1",
        ),
        "count not a number": (
            ["--task", "copy", "--count", "five", "--seed", "0", "--out", out],
            "argument --count: invalid int value: 'five'",
        ),
        "no seed": (["--task", "copy", "--count", "5", "--out", out], "--seed is required"),
        "no output": (["--task", "copy", "--count", "5", "--seed", "0"], "--out is required"),
        "lengths reversed": (
            ["--task", "copy", *base, "--min-len", "4", "--max-len", "2"],
            "max_len (2) must be >= min_len (4)",
        ),
        "unknown alphabet": (
            ["--task", "copy", *base, "--alphabet", "klingon"],
            "unknown alphabet 'klingon'; names are",
        ),
        "unknown flag": (["--task", "copy", *base, "--colour"], "unrecognized arguments: --colour"),
    }


def test_bad_arguments_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in _bad_arguments(tmp_path).values():
        status, stdout, err = _run(argv, capsys)
        assert (status, stdout) == (2, ""), argv
        assert err.startswith(f"python -m pyg_grapheme.data.generate: error: {message}"), err
        assert err.count("\n") == 1, err
    assert [p.name for p in tmp_path.iterdir()] == ["bad.jsonl"]  # no output, no temporary file


# Each process imports torch (seconds of CPU): the kinds of bad argument the issue names,
# once each; every case above also runs in process.
SUBPROCESS_CASES = (
    "unknown task",
    "level above 7",
    "count too large",
    "missing exclude file",
    "malformed exclude file",
)


def test_command_line_contract_through_subprocesses(tmp_path: Path) -> None:
    """Bad arguments: exit status 2, exactly one line on stderr, nothing on stdout."""
    good_out = tmp_path / "good.jsonl"
    cases = _bad_arguments(tmp_path)
    runs: list[tuple[list[str], str | None]] = [cases[name] for name in SUBPROCESS_CASES]
    runs.append((["--task", "strip", "--count", "4", "--seed", "1", "--out", str(good_out)], None))
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "pyg_grapheme.data.generate", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv, _ in runs
    ]
    for (argv, message), process in zip(runs, processes):
        stdout, stderr = process.communicate(timeout=300)
        if message is None:
            assert (process.returncode, stderr) == (0, ""), stderr
            continue
        assert process.returncode == 2, (argv, stderr)
        assert stdout == ""
        assert stderr.startswith(f"python -m pyg_grapheme.data.generate: error: {message}")
        assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    expected = generate("strip", 4, seed=1)
    assert [(p.input, p.target) for p in read_jsonl(good_out)] == [
        (p.input, p.target) for p in expected
    ]
