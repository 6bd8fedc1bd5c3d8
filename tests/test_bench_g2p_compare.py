"""bench/g2p_compare.py: development and test WER of runs side by side, from their rows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.g2p_compare import comparison, main, run_scores


def _row(work: Path, lang: str, exact: str, wer: float) -> None:
    (work / lang).mkdir(parents=True)
    checkpoint = f"/w/{lang}/ours/checkpoints/best-epoch=9-val_exact_match={exact}.ckpt"
    row = {"lang": lang, "beam": 5, "ours": {"checkpoint": checkpoint, "wer": wer}}
    (work / lang / "row.json").write_text(json.dumps(row))


def test_two_runs_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    _row(old, "ady", "0.7500", 30.0)
    _row(old, "bul", "0.6000", 35.0)
    _row(old, "fre", "0.9000", 6.0)  # new has no fre: left out of both
    _row(new, "ady", "0.8000", 28.0)
    _row(new, "bul", "0.6000", 36.0)
    main([str(old), str(new), "--names", "two", "three"])
    assert capsys.readouterr().out.splitlines() == [
        "| run | ady | bul | mean |",
        "|---|---|---|---|",
        "| development, two | 25.00 | **40.00** | 32.50 |",
        "| development, three | **20.00** | **40.00** | **30.00** |",
        "| test, two | 30.00 | **35.00** | 32.50 |",
        "| test, three | **28.00** | 36.00 | **32.00** |",
        "",
        "- development, three against two: 1 gain, 0 lose, 1 equal; mean change -2.50 points "
        "(2 languages)",
    ]


def test_peer_only_rows_are_skipped_and_a_bad_name_is_reported(tmp_path: Path) -> None:
    work = tmp_path / "w"
    _row(work, "ady", "0.7500", 30.0)
    (work / "kor").mkdir()
    (work / "kor" / "row.json").write_text(json.dumps({"lang": "kor", "baseline": {}}))
    assert run_scores(work) == {"ady": (25.0, 30.0)}
    (work / "geo").mkdir()
    row = {"lang": "geo", "ours": {"checkpoint": "/w/last.ckpt", "wer": 1.0}}
    (work / "geo" / "row.json").write_text(json.dumps(row))
    with pytest.raises(ValueError, match=re.escape("geo/row.json: the checkpoint '/w/last.ckpt'")):
        run_scores(work)
    with pytest.raises(ValueError, match="share no finished language"):
        comparison(["a", "b"], [{"ady": (1.0, 1.0)}, {"bul": (1.0, 1.0)}])


def test_a_folder_without_rows_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path)])
    assert stop.value.code != 0
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("no finished language (LANG/row.json with our result)")
    )


def test_a_damaged_row_names_its_file(tmp_path: Path) -> None:
    (tmp_path / "ady").mkdir()
    row = tmp_path / "ady" / "row.json"
    row.write_text("{oops")
    with pytest.raises(ValueError, match=re.escape(f"{row}:1: not JSON")):
        run_scores(tmp_path)
    row.write_text(json.dumps({"lang": "ady", "ours": {"wer": 1.0}}))
    with pytest.raises(
        ValueError, match=re.escape(f"{row}: not a row of bench/g2p.py (no 'checkpoint')")
    ):
        run_scores(tmp_path)
