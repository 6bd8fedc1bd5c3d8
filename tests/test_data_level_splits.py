"""``generate --all-levels --split``: every math level split train/val/test with no problem shared.

A problem is its input up to the order of ``+`` and ``*`` operands
(:func:`operand_order_key`); the splits of every level are checked for it, and
the files are checked to read back (GRAPHEME's math records) as the
pairs :func:`level_splits` draws.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyg_grapheme.data import MATH_LEVELS, TextPair, read_jsonl
from pyg_grapheme.data.generate import main
from pyg_grapheme.data.level_splits import SPLITS, level_splits, parse_fractions, split_sizes
from pyg_grapheme.data.math_levels import math_space
from pyg_grapheme.data.math_record import math_record
from pyg_grapheme.data.operand_order import operand_order_key, operand_order_variants

PROGRAM = "python -m pyg_grapheme.data.generate"
FRACTIONS = (0.8, 0.1, 0.1)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_operand_order_variants_and_key() -> None:
    assert operand_order_variants("(* (+ 3 4) 5)") == {
        "(* (+ 3 4) 5)",
        "(* (+ 4 3) 5)",
        "(* 5 (+ 3 4))",
        "(* 5 (+ 4 3))",
    }
    assert operand_order_variants("(- (* 2 x) 1)") == {"(- (* 2 x) 1)", "(- (* x 2) 1)"}
    assert operand_order_variants("(let x 7 (+ x x))") == {"(let x 7 (+ x x))"}
    assert operand_order_variants("(+ 1") == {"(+ 1"}  # outside the grammar: itself
    keys = {operand_order_key(t) for t in operand_order_variants("(* (+ 3 4) 5)")}
    assert keys == {"(* (+ 3 4) 5)"}
    assert operand_order_key("(- 4 3)") != operand_order_key("(- 3 4)")


def test_split_sizes_and_fractions() -> None:
    assert parse_fractions("0.8,0.1,0.1") == FRACTIONS
    assert split_sizes(20, FRACTIONS) == (16, 2, 2)
    assert split_sizes(25, FRACTIONS) == (19, 3, 3)  # 2.5 rounds up
    assert split_sizes(7, (0.5, 0.25, 0.25)) == (3, 2, 2)
    with pytest.raises(
        ValueError, match=r"--count 4 with --split 0\.8,0\.1,0\.1 leaves the val split"
    ):
        split_sizes(4, FRACTIONS)
    for text, problem in [
        ("0.8,0.2", "must be three numbers"),
        ("a,b,c", "must be three numbers"),
        ("0.8,0.1,nan", "must be three numbers"),
        ("1,0,0", "must be positive"),
        ("0.8,0.1,0.2", r"must sum to 1, got '0.8,0.1,0.2' \(sum 1.1\)"),
    ]:
        with pytest.raises(ValueError, match=problem):
            parse_fractions(text)


def test_math_record_reads_back_through_the_earlier_format() -> None:
    cases = [
        (3, "(let x 7 (* 12 x))", "84", 84.0, "(* 12 x)", None, [["x", 7.0]]),
        (5, "(d/dx (* 3 (sin x)))", "(* 3 (cos x))", None, "(* 3 (sin x))", "(* 3 (cos x))", []),
        (6, "(int (* 2 x))", "(^ x 2)", None, "(* 2 x)", "(^ x 2)", []),
        (7, "(= (* 3 x) 7)", "(/ 7 3)", 7 / 3, "(= (* 3 x) 7)", "(/ 7 3)", []),
        (7, "(= (* 3 x) 6)", "2", 2.0, "(= (* 3 x) 6)", None, []),
    ]
    for level, text, target, value, polish, symbolic, bindings in cases:
        pair = TextPair(text, target, {"expected_result": value})
        assert math_record(pair, level, "L0-00001") == {
            "id": "L0-00001",
            "input_polish": polish,
            "expected_result": value,
            "expected_symbolic": symbolic,
            "level": level,
            "bindings": bindings,
        }
    with pytest.raises(ValueError, match=r"level 5 input '\(int x\)' must be \(d/dx F\)"):
        math_record(TextPair("(int x)", "x", {"expected_result": None}), 5, "L5-00001")


def test_all_levels_writes_disjoint_splits_of_every_level(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "levels"  # created by the command
    argv = ["--all-levels", "--count", "20", "--seed", "4", "--split", "0.8,0.1,0.1"]
    status, stdout, err = _run([*argv, "--out", str(out)], capsys)
    assert (status, err) == (0, "")
    lines = stdout.splitlines()
    assert len(lines) == len(MATH_LEVELS)
    assert lines[0] == (
        f"wrote 16/2/2 train/val/test problems of math level 1 to "
        f"{out}/level_1_{{train,val,test}}.jsonl (a space of 1,200 inputs)"
    )
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"level_{level}_{name}.jsonl" for level in MATH_LEVELS for name in SPLITS
    )
    for level in MATH_LEVELS:
        expected = level_splits(level, 20, FRACTIONS, seed=4)
        space = math_space(level)
        ids, keys = [], {}
        for name in SPLITS:
            path = out / f"level_{level}_{name}.jsonl"
            records = read_jsonl(path)
            assert records.format == "math"
            pairs = [(p.input, p.target) for p in records]
            assert pairs == [(p.input, p.target) for p in expected[name]], (level, name)
            assert len(pairs) == {"train": 16, "val": 2, "test": 2}[name]
            assert all(space.classify(p.input) is not None for p in records)
            assert all(p.meta["level"] == level for p in records)
            ids += [json.loads(line)["id"] for line in path.read_text().splitlines()]
            keys[name] = {operand_order_key(p.input) for p in records}
        assert ids == [f"L{level}-{k:05d}" for k in range(1, 21)]
        assert not keys["train"] & keys["val"], level
        assert not keys["train"] & keys["test"], level
        assert not keys["val"] & keys["test"], level


def test_a_held_out_problem_keeps_its_mirror_image_out_of_training() -> None:
    # Level 1 half drawn: 60 test and 60 validation problems among 1,200, and 480 training
    # problems. About a third of the problems are "(+ a b)" or "(* a b)" with a != b, whose
    # mirror image is another input; drawn at random, 480 training problems would hold many.
    splits = level_splits(1, 600, FRACTIONS, seed=0)
    assert [len(splits[name]) for name in SPLITS] == [480, 60, 60]

    def mirrors(pairs: list[TextPair]) -> set[str]:
        found = set()
        for pair in pairs:
            op, a, b = pair.input[1:-1].split()
            if op in "+*" and a != b:
                found.add(f"({op} {b} {a})")
        return found

    test_mirrors, val_mirrors = mirrors(splits["test"]), mirrors(splits["val"])
    assert len(test_mirrors) >= 10 and len(val_mirrors) >= 10
    training = {p.input for p in splits["train"]}
    assert not (test_mirrors | val_mirrors) & training
    assert not test_mirrors & {p.input for p in splits["val"]}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--split", "0.8,0.1,0.1", "--task", "copy"], "--split applies to --all-levels only"),
        (
            ["--all-levels", "--task", "math", "--level", "2"],
            "--all-levels writes every math level; it takes no --task, --level",
        ),
        (
            ["--all-levels", "--allow-repeats"],
            "--all-levels writes every math level; it takes no --allow-repeats",
        ),
        (["--all-levels", "--split", "0.8,0.2"], "--split must be three numbers"),
        (["--all-levels", "--split", "0.5,0.25,0.5"], "--split fractions must sum to 1"),
        (
            ["--all-levels", "--count", "4"],
            "--count 4 with --split 0.8,0.1,0.1 leaves the val split empty",
        ),
        (
            ["--all-levels", "--count", "1200"],
            "level 1, train split: task 'math' has only 826 distinct inputs with these "
            "settings (1200 in all, 374 excluded) but n=960 were requested with unique=True; "
            "lower --count",
        ),
        (["--all-levels", "--seed", "-1"], "level 1, test split: seed must be >= 0, got -1"),
    ],
)
def test_bad_all_levels_arguments_print_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "levels"
    defaults = {"--count": "20", "--seed": "0", "--out": str(out)}
    for flag, value in defaults.items():
        if flag not in argv:
            argv = [*argv, flag, value]
    status, stdout, err = _run(argv, capsys)
    assert status == 2
    assert stdout == ""
    assert err.startswith(f"{PROGRAM}: error: {message}") and err.count("\n") == 1
    assert not out.exists()  # nothing is written before every level is drawn
