"""bench/g2p.py's scoring, results page and reuse of a previous run's peer results
(the trainings themselves are the bench's, not the suite's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.g2p import (
    _best_checkpoint,
    _fresh_run_dir,
    _reusable_baseline,
    languages,
    read_pairs,
    results_page,
    sampling_z,
    score,
    split_file,
)
from pyg_grapheme.data import JsonlFormatError


def test_score_is_word_and_phone_error_in_percent() -> None:
    # One of two words wrong; 1 substitution over 3 + 2 target phones.
    got = score(["a b c", "d f"], ["a b c", "d  e"])
    assert got["wer"] == pytest.approx(50.0)
    assert got["per"] == pytest.approx(100.0 * 1 / 5)


def test_a_refit_starts_from_an_empty_folder_and_takes_its_own_best_checkpoint(
    tmp_path: Path,
) -> None:
    # An interrupted attempt left its best checkpoint (epoch 34); the new fit's best is at
    # epoch 29. A sort by name takes the stale one, so the bench empties the folder first
    # and refuses a folder holding two.
    checkpoints = tmp_path / "ours" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "best-epoch=34-val_exact_match=0.9311.ckpt").write_text("stale")
    run_dir = _fresh_run_dir(tmp_path / "ours")
    assert list(run_dir.iterdir()) == []
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "best-epoch=9-val_exact_match=0.9000.ckpt").write_text("new")
    assert _best_checkpoint(run_dir).name == "best-epoch=9-val_exact_match=0.9000.ckpt"
    (run_dir / "checkpoints" / "best-epoch=24-val_exact_match=0.8000.ckpt").write_text("old")
    with pytest.raises(RuntimeError, match=r"expected one best checkpoint.*found best-epoch=24"):
        _best_checkpoint(run_dir)
    with pytest.raises(RuntimeError, match="found none"):
        _best_checkpoint(_fresh_run_dir(run_dir))


def _row(lang: str, ours: float, peer: float, cpu: float = 100.0) -> dict:
    return {
        "lang": lang,
        "beam": 5,
        "ours": {"wer": ours, "per": ours / 4, "cpu_seconds": cpu},
        "baseline": {"wer": peer, "per": peer / 4, "cpu_seconds": cpu + 1},
    }


def test_results_page_counts_and_macro() -> None:
    # fre: below the LSTM (6.22) and the peer; bul: above both (LSTM 31.11).
    page = results_page([_row("fre", 5.0, 6.0), _row("bul", 40.0, 30.0, 300.0)], "cmd", 5)
    assert "| fre | 5.00 | 1.25 | 6.00 | 1.50 | 101 | 100 | 13.56 | 6.22 | 6.89 | 5.11 |" in page
    # macro: (5 + 40) / 2 and the published macros over the same two languages.
    assert "| **macro** | **22.50** | 5.62 | 18.00 | 4.50 | 201 | 200 | 27.45 | 18.66 |" in page
    assert "below the 2020 LSTM baseline on 1 of 2 languages" in page
    assert "seq2seq peer (same CPU seconds, same units, beam 5) on 1 of 2 languages" in page
    assert "earlier run" not in page
    reused = {**_row("fre", 5.0, 6.0), "baseline_reused": True}
    page = results_page([reused, _row("bul", 40.0, 30.0)], "cmd", 5)
    assert "- The peer's figures of fre come from an earlier run" in page
    # gre: 85 of 450 words wrong, 18.888...%, ties the LSTM's 18.89 (printed to two places).
    page = results_page([_row("gre", 100 * 85 / 450, 20.0)], "cmd", 5)
    assert "below the 2020 LSTM baseline on 0 of 1 languages" in page
    page = results_page([_row("gre", 100 * 84 / 450, 20.0)], "cmd", 5)
    assert "below the 2020 LSTM baseline on 1 of 1 languages" in page


def test_results_page_of_languages_outside_the_2020_table() -> None:
    """A user's own language has no published cells: no nan, and the counts say so."""
    page = results_page([_row("xyz", 10.0, 12.0)], "cmd", 5, test_words={"xyz": 450})
    assert "nan" not in page
    assert "| xyz | 10.00 | 2.50 | 12.00 | 3.00 | 101 | 100 |  |  |  |  |" in page
    assert "| **macro** | **10.00** | 2.50 | 12.00 | 3.00 | 101 | 100 |  |  |  |  |" in page
    assert "- No language here has published 2020 figures." in page
    assert "2020 LSTM" not in page.split("| **macro**")[1].split("seq2seq peer")[0]
    page = results_page([_row("fre", 5.0, 6.0), _row("xyz", 10.0, 12.0)], "cmd", 5)
    assert "| **macro** | **7.50** | 1.88 | 9.00 | 2.25 | 101 | 100 | 13.56 | 6.22 |" in page
    assert "below the 2020 LSTM baseline on 1 of 1 languages" in page
    assert "macro is over those 1 languages; 1 here have no published 2020 figures" in page


def test_sampling_error_of_two_word_error_rates() -> None:
    # 20% and 10% of 100 words: spread sqrt((0.16 + 0.09) / 100) = 0.05, so 2 errors apart.
    assert sampling_z(20.0, 10.0, 100) == pytest.approx(2.0)
    assert sampling_z(10.0, 20.0, 100) == pytest.approx(-2.0)
    assert sampling_z(5.0, 5.0, 450) == 0.0
    assert sampling_z(0.0, 0.0, 450) == 0.0 and sampling_z(100.0, 0.0, 10) == float("inf")
    # The page names what lies beyond 1.96 errors: fre 5 vs 6 (z -0.3) is within; bul
    # 40 vs 20 of 100 words (z +3.2) is beyond; kor 20 against the LSTM's 46.89 is beyond.
    rows = [_row("fre", 5.0, 6.0), _row("bul", 40.0, 20.0), _row("kor", 20.0, 20.0)]
    page = results_page(rows, "cmd", 5, {"fre": 100, "bul": 100, "kor": 100})
    assert "Against the peer, beyond" in page
    assert "ours better on none, worse on bul (+3.2); the other 2 differences are within it" in page
    assert "Against the 2020 LSTM" in page and "better on kor (-4.2)" in page
    assert "Against the peer, beyond" not in results_page(rows, "cmd", 5)


def test_peer_result_is_reused_only_with_at_least_our_cpu(tmp_path: Path) -> None:
    (tmp_path / "fre").mkdir()
    (tmp_path / "fre" / "row.json").write_text(json.dumps(_row("fre", 5.0, 6.0, cpu=99.0)))
    # The stored peer trained for 100 CPU seconds.
    assert _reusable_baseline(tmp_path, "fre", 5, 100.0)["wer"] == 6.0
    assert _reusable_baseline(tmp_path, "fre", 5, 100.5) is None  # less than our new fit
    assert _reusable_baseline(tmp_path, "fre", 1, 50.0) is None  # another beam
    assert _reusable_baseline(tmp_path, "bul", 5, 50.0) is None  # never run
    # A peer that read other input units than our fit is no peer of it; rows written
    # before the option read grapheme clusters.
    assert _reusable_baseline(tmp_path, "fre", 5, 50.0, "graphemes")["wer"] == 6.0
    assert _reusable_baseline(tmp_path, "fre", 5, 50.0, "codepoints") is None


def test_the_peer_reads_the_input_units_our_fit_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bench.g2p as g2p

    units: list[str | None] = []
    monkeypatch.setattr(
        g2p, "run_ours",
        lambda *a: {"wer": 5.0, "per": 1.0, "cpu_seconds": 800.0, "input_units": "codepoints"},
    )  # fmt: skip
    monkeypatch.setattr(
        g2p, "run_baseline", lambda lang, d, w, b, s, u=None: units.append(u) or _peer_result(s)
    )
    (tmp_path / "fre").mkdir()
    g2p.run_language("fre", tmp_path, tmp_path, 5, True, [])
    assert units == ["codepoints"]


def test_languages_need_all_three_splits(tmp_path: Path) -> None:
    for name in ("fre_train", "fre_dev", "fre_test", "bul_train", "bul_test"):
        (tmp_path / f"{name}.jsonl").write_text("")
    assert languages(tmp_path) == ["fre"]


def test_splits_may_be_tsv_files_as_the_task_ships_them(tmp_path: Path) -> None:
    """SIGMORPHON's and WikiPron's ``word<TAB>p h o n e s`` files, or a mix with JSONL:
    the JSONL file of a split is taken where both exist."""
    for name in ("kor_train", "kor_dev", "kor_test", "geo_train", "geo_dev"):
        (tmp_path / f"{name}.tsv").write_text("ab\ta b\n")
    (tmp_path / "geo_test.jsonl").write_text('{"input": "ab", "target": "a b"}\n')
    (tmp_path / "kor_dev.jsonl").write_text('{"input": "cd", "target": "c d"}\n')
    assert languages(tmp_path) == ["geo", "kor"]
    assert split_file(tmp_path, "kor", "train").name == "kor_train.tsv"
    assert split_file(tmp_path, "kor", "dev").name == "kor_dev.jsonl"
    assert read_pairs(split_file(tmp_path, "kor", "test")) == [("ab", "a b")]
    assert split_file(tmp_path, "vie", "test").name == "vie_test.jsonl"  # named in errors
    (tmp_path / "bad_train.tsv").write_text("ab\n")
    with pytest.raises(JsonlFormatError, match=r"bad_train\.tsv:1: expected 2 tab-separated"):
        read_pairs(tmp_path / "bad_train.tsv")


def test_g2p_config_reads_phones_as_tokens_without_prediction_attention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """conf/g2p.yaml on word/phones pairs: one class per phone, the prediction network has
    no attention to the input (so no node can write the whole word), and training stops
    within the 15 CPU minutes a language that issue 41 allows."""
    import sys

    from lightning_modules.datamodule import GraphemeDataModule
    from lightning_modules.fit import CONF_DIR, GraphemeCLI
    from lightning_modules.module import GraphTransformModule

    pairs = [("chat", "ʃ a"), ("chaton", "ʃ a t ɔ̃"), ("thé", "t e")]
    for name in ("train", "dev"):
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps({"input": a, "target": b}) + "\n" for a, b in pairs)
        )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["fit"])
    cli = GraphemeCLI(
        GraphTransformModule, GraphemeDataModule, run=False,
        args=["--config", str(CONF_DIR / "g2p.yaml"), "--trainer.logger", "false",
              "--data.train_path", "train.jsonl", "--data.val_path", "dev.jsonl"],
        parser_kwargs={"default_config_files": [str(CONF_DIR / "default.yaml")]},
    )  # fmt: skip
    growth = cli.model.net.growth
    assert growth.decoder.attention is None
    assert cli.datamodule.hparams.target_units == "tokens"
    assert sorted(cli.model.net.output_vocab) == sorted({"ʃ", "a", "t", "ɔ̃", "e"})
    (budget,) = [c for c in cli.trainer.callbacks if type(c).__name__ == "CpuTimeBudget"]
    assert budget.seconds == 840.0
    # The table of bench/results/g2p.md: two members, no merge term, paced schedule,
    # batches of like lengths, without default.yaml's relative positions and slot terms.
    assert len(cli.model.nets) == 2
    assert cli.model.hparams.lr == 0.002 and cli.model.hparams.vote_ratio == 2.0
    assert cli.model.hparams.train_left_out is False
    assert cli.model.objective.merge_weight == 0.0
    assert budget.pace_schedule
    assert cli.datamodule.hparams.batch_by_length
    assert growth.slot_generate is None and growth.slot_copy is None
    assert cli.model.net.speller is not None  # each cluster's code points read in order
    assert cli.trainer.num_sanity_val_steps == 0  # 23 of the budget's CPU seconds


def test_page_only_lists_the_finished_languages(tmp_path: Path) -> None:
    from bench.g2p import main

    data, work = tmp_path / "data", tmp_path / "work"
    data.mkdir()
    for lang in ("fre", "bul"):
        for split in ("train", "dev", "test"):
            (data / f"{lang}_{split}.jsonl").write_text('{"input": "ab", "target": "a b"}\n')
    (work / "fre").mkdir(parents=True)
    (work / "fre" / "row.json").write_text(json.dumps(_row("fre", 5.0, 6.0)))
    out = tmp_path / "page.md"
    main(["--data-dir", str(data), "--work", str(work), "--page-only", "--out", str(out)])
    page = out.read_text()
    assert "| fre | 5.00 |" in page and "| bul |" not in page
    assert "on 1 of 1 languages" in page
    # One test word: 5% against 6% is within the sampling error.
    assert "ours better on none, worse on none; the other 1 differences are within it" in page
    (work / "fre" / "row.json").unlink()
    with pytest.raises(SystemExit):
        main(["--data-dir", str(data), "--work", str(work), "--page-only"])


def test_a_damaged_file_stops_the_bench_before_any_training(tmp_path: Path, capsys) -> None:
    from bench.g2p import main

    for split in ("train", "dev", "test"):
        (tmp_path / f"fre_{split}.jsonl").write_text('{"input": "ab", "target": "a b"}\n')
    (tmp_path / "fre_dev.jsonl").write_text('{"input": "ab", "target": "a b"}\n{"input": "ab"\n')
    with pytest.raises(SystemExit) as stopped:
        main(["--data-dir", str(tmp_path), "--work", str(tmp_path / "work")])
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{tmp_path / 'fre_dev.jsonl'}:2: invalid JSON" in err[0]
    assert not (tmp_path / "work").exists()  # nothing trained, nothing written


def test_the_page_says_what_our_cpu_seconds_cover() -> None:
    single = results_page([_row("fre", 5.0, 6.0)], "cmd", 5)
    assert "CPU seconds of our whole fit process (the peer" in single
    pair = _row("fre", 5.0, 6.0)
    pair["ours"]["members"] = 2
    page = results_page([pair], "cmd", 5)
    assert "fit process (its 2 members trained side by side" in page
    assert "voting where" not in page
    # A member the validation left out of the vote (model.vote_ratio) is named.
    other = _row("ady", 5.0, 6.0)
    other["ours"].update(members=2, voting=1)
    pair["ours"]["voting"] = 2
    page = results_page([pair, other], "cmd", 5)
    assert (
        "members voting where the validation left some out (model.vote_ratio): ady 1 of 2)" in page
    )


def test_the_published_table_is_the_one_its_committed_rows_give() -> None:
    # bench/results/g2p.md's table and the lines under it must be what results_page makes
    # of bench/results/g2p_rows/ (the rows of the run that measured it), so a figure edited
    # by hand, or rows committed without their page, fail here.
    results = Path(__file__).resolve().parents[1] / "bench" / "results"
    rows = [json.loads(p.read_text()) for p in sorted(results.glob("g2p_rows/*/row.json"))]
    assert len(rows) == 15
    # Every language of the task has 450 test words; the data are not in the repository.
    page = results_page(rows, "cmd", 5, {r["lang"]: 450 for r in rows})
    generated = page[page.index("| lang |") :].strip()
    assert generated in (results / "g2p.md").read_text()
    assert "| **macro** | **14.64** |" in generated


def _data_dir(root: Path, langs: tuple[str, ...]) -> Path:
    data = root / "data"
    data.mkdir()
    for lang in langs:
        for split in ("train", "dev", "test"):
            (data / f"{lang}_{split}.jsonl").write_text('{"input": "ab", "target": "a b"}\n')
    return data


def _peer_result(seconds: float) -> dict:
    return {"wer": 7.0, "per": 1.5, "cpu_seconds": seconds + 2.0, "epochs": 3.0}


def test_peers_only_trains_the_peer_alone_and_a_later_run_reuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bench.g2p as g2p

    data, peers = _data_dir(tmp_path, ("fre", "bul")), tmp_path / "peers"
    trained: list[tuple[str, float]] = []

    def fake_baseline(
        lang: str, data_dir: Path, work: Path, beam: int, seconds: float, units=None
    ) -> dict:
        trained.append((lang, seconds))
        (work / lang).mkdir(parents=True, exist_ok=True)
        return _peer_result(seconds)

    cpu = [850.0]

    def fake_ours(lang: str, data_dir: Path, work: Path, beam: int, extra, budget) -> dict:
        (work / lang / "ours").mkdir(parents=True, exist_ok=True)  # as a fit's folder
        return {"wer": 5.0, "per": 1.0, "cpu_seconds": cpu[0], "checkpoint": "best.ckpt"}

    monkeypatch.setattr(g2p, "run_baseline", fake_baseline)
    monkeypatch.setattr(g2p, "run_ours", fake_ours)
    common = ["--data-dir", str(data), "--langs", "fre", "bul"]
    g2p.main([*common, "--work", str(peers), "--peers-only", "--peer-seconds", "900"])
    assert sorted(trained) == [("bul", 900.0), ("fre", 900.0)]
    row = json.loads((peers / "fre" / "row.json").read_text())
    assert row == {"lang": "fre", "beam": 5, "baseline": _peer_result(900.0)}
    # A peers-only row is no finished language (it holds no result of ours) ...
    assert g2p._finished_row(peers, "fre", 5) is None
    # ... and --resume keeps its peers instead of training them again.
    g2p.main([*common, "--work", str(peers), "--peers-only", "--peer-seconds", "900", "--resume"])
    assert len(trained) == 2
    # Our run takes those peers (902 CPU s against our fit's 850) and trains none.
    out = tmp_path / "page.md"
    work = tmp_path / "work"
    g2p.main([*common, "--work", str(work), "--reuse-baseline", str(peers), "--out", str(out)])
    assert len(trained) == 2
    assert "| fre | 5.00 | 1.00 | 7.00 | 1.50 | 902 | 850 |" in out.read_text()
    # Where our fit took more than the stored peer, the peer trains again, for our seconds.
    cpu[0] = 950.0
    g2p.main([*common[:3], "--work", str(tmp_path / "w2"), "--reuse-baseline", str(peers)])
    assert trained[-1] == ("fre", 950.0)


def test_the_peer_trains_for_peer_seconds_where_that_is_more_than_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bench.g2p as g2p

    seconds: list[float] = []
    monkeypatch.setattr(g2p, "run_ours", lambda *a: {"wer": 5.0, "per": 1.0, "cpu_seconds": 800.0})
    monkeypatch.setattr(
        g2p, "run_baseline", lambda lang, d, w, b, s, u=None: seconds.append(s) or _peer_result(s)
    )
    (tmp_path / "fre").mkdir()
    g2p.run_language("fre", tmp_path, tmp_path, 5, True, [], peer_seconds=900.0)
    g2p.run_language("fre", tmp_path, tmp_path, 5, True, [], peer_seconds=700.0)
    g2p.run_language("fre", tmp_path, tmp_path, 5, True, [])
    assert seconds == [900.0, 800.0, 800.0]


@pytest.mark.parametrize(
    "options, message",
    [
        (["--peers-only"], "--peers-only needs --peer-seconds"),
        (["--peers-only", "--peer-seconds", "900", "--no-baseline"], "--peers-only needs"),
        (["--peer-seconds", "-5"], "--peer-seconds must be a positive number of seconds"),
    ],
)
def test_bad_peer_options_are_one_line(tmp_path: Path, capsys, options, message) -> None:
    from bench.g2p import main

    data = _data_dir(tmp_path, ("fre",))
    with pytest.raises(SystemExit) as stopped:
        main(["--data-dir", str(data), "--work", str(tmp_path / "work"), *options])
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
