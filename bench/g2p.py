r"""Grapheme-to-phoneme on SIGMORPHON 2020 task 1: our model against the seq2seq peer.

For every language ``L`` with ``L_train``, ``L_dev`` and ``L_test`` files in the data
directory, each ``.jsonl`` (records ``{"input": word, "target": "p h o n e s"}``) or
``.tsv`` (lines ``word<TAB>p h o n e s``, as the task's repository and WikiPron ship them):

1. **Ours.** ``python -m lightning_modules.fit --config conf/g2p.yaml`` on train, with
   dev as the validation file (its best checkpoint by dev exact match is the model;
   model selection sees dev only). The CPU seconds of that whole process (start-up,
   training, validation) are measured with ``os.wait4``.
2. **The peer.** ``bench/seq2seq_baseline.py``'s Transformer, on the same pairs, with
   the same output units (phones as tokens), the same CPU seconds as ours for its
   training steps, its weights chosen on dev the same way (its dev decoding is not
   charged to it), and the same beam.
3. Both decode test with beam ``--beam`` and are scored: word error rate (WER, 100 minus
   exact match in %) and phone error rate (PER, edit distance over phones in %).

Published test WER (Gorman et al. 2020, "The SIGMORPHON 2020 shared task on multilingual
grapheme-to-phoneme conversion", table 3) sit beside each row. The data comes from the
task's public repository (Wiktionary via WikiPron); this package ships none of it.

Command (the results page, ``bench/results/g2p.md``, says how long it ran)::

    python bench/g2p.py --data-dir ../shared/data/g2p2020 --jobs 2 \
        --out bench/results/g2p.md

``--langs fre geo`` runs some languages; ``--no-baseline`` only ours; extra arguments
after ``--`` go to the fit command (``-- --trainer.max_epochs 30``).

A table takes about as long for the peer as for ours. ``--peers-only --peer-seconds S``
trains the peer alone, ``S`` CPU seconds a language, into ``--work``; a later run with
``--reuse-baseline`` that folder takes those results wherever ``S`` is at least its own
fit's seconds, and trains the peer again only where it is not. ``S = 850`` is just above
what a fit of ``conf/g2p.yaml`` takes (its 840-second budget, ended by a last
validation: 813-845 s so far), so the peer keeps at most a few per cent more than ours::

    python bench/g2p.py --data-dir ../shared/data/g2p2020 --jobs 2 --peers-only \
        --peer-seconds 850 --work PEERS
    python bench/g2p.py --data-dir ../shared/data/g2p2020 --jobs 2 \
        --reuse-baseline PEERS --out bench/results/g2p.md
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.command_line import OneLineParser  # noqa: E402
from pyg_grapheme.data.jsonl import JsonlFormatError  # noqa: E402
from pyg_grapheme.metrics import exact_match, unit_error_rate  # noqa: E402

PUBLISHED: dict[str, tuple[float, float, float, float]] = {
    # language: (pair n-gram, LSTM, Transformer, best system), test WER in %
    "ady": (32.00, 28.00, 28.44, 24.67),
    "arm": (18.00, 14.67, 14.22, 12.22),
    "bul": (41.33, 31.11, 34.00, 22.22),
    "dut": (23.78, 16.44, 15.78, 13.56),
    "fre": (13.56, 6.22, 6.89, 5.11),
    "geo": (37.78, 26.44, 28.00, 24.89),
    "gre": (21.78, 18.89, 18.89, 14.44),
    "hin": (12.67, 6.67, 9.56, 5.11),
    "hun": (6.67, 5.33, 5.33, 4.00),
    "ice": (17.56, 10.00, 10.22, 9.11),
    "jpn": (9.56, 7.56, 7.33, 4.89),
    "kor": (52.22, 46.89, 43.78, 24.00),
    "lit": (23.11, 19.11, 20.67, 18.67),
    "rum": (11.56, 10.67, 12.00, 9.78),
    "vie": (8.44, 4.67, 7.56, 0.89),
}
"""Gorman et al. (2020), test WER: the pair n-gram, LSTM and Transformer baselines and the
best submitted system per language."""


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """``(input, target)`` of every record of a G2P JSONL or ``.tsv`` file (the project's
    reader, so a bad line is reported with ``file:line``)."""
    from pyg_grapheme.data import read_pair_file

    return [(p.input, p.target) for p in read_pair_file(str(path))]


SUFFIXES = (".jsonl", ".tsv")
"""A split's file names, in the order looked for."""


def split_file(data_dir: Path, lang: str, split: str) -> Path:
    """``lang``'s ``split`` file in ``data_dir``: ``{lang}_{split}.jsonl``, else the
    ``.tsv`` of that name (the JSONL name when neither exists, for the error)."""
    for suffix in SUFFIXES:
        path = data_dir / f"{lang}_{split}{suffix}"
        if path.is_file():
            return path
    return data_dir / f"{lang}_{split}{SUFFIXES[0]}"


def languages(data_dir: Path) -> list[str]:
    """Languages with all three splits in ``data_dir`` (each ``.jsonl`` or ``.tsv``),
    sorted."""
    found = {
        p.name[: -len(f"_train{suffix}")]
        for suffix in SUFFIXES
        for p in data_dir.glob(f"*_train{suffix}")
    }
    return [
        lang
        for lang in sorted(found)
        if all(split_file(data_dir, lang, split).is_file() for split in ("dev", "test"))
    ]


def _run_measured(command: list[str], log: Path) -> float:
    """Run ``command`` (output to ``log``) and return its CPU seconds (user + system, its
    children included) from ``os.wait4``; raise if it fails."""
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(command[:4])} failed: {' | '.join(tail)}")
    return usage.ru_utime + usage.ru_stime


def _best_checkpoint(run_dir: Path) -> Path:
    """The one best checkpoint a fit left in ``run_dir``. Two are an error, not a choice: a
    sort by name would take ``best-epoch=9`` over ``best-epoch=24``, or an interrupted
    attempt's file over this fit's."""
    best = sorted((run_dir / "checkpoints").glob("best-*.ckpt"))
    if len(best) != 1:
        found = ", ".join(p.name for p in best) or "none"
        raise RuntimeError(
            f"expected one best checkpoint in {run_dir / 'checkpoints'}, found {found}"
        )
    return best[0]


def _fresh_run_dir(run_dir: Path) -> Path:
    """``run_dir`` emptied: a language without its ``row.json`` is fitted from the start, and
    what an interrupted attempt left there (its best checkpoint above all) must not stand
    in for the new fit's."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    return run_dir


def decode_test(checkpoint: Path, data_dir: Path, lang: str, beam: int) -> dict[str, float]:
    """Test WER and PER of a fit's checkpoint, every member decoding together
    (:meth:`GraphTransformModule.transform_text`) with ``beam``, one thread."""
    import torch

    from lightning_modules.module import GraphTransformModule

    torch.set_num_threads(1)
    module = GraphTransformModule.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    test = read_pairs(split_file(data_dir, lang, "test"))
    outputs: list[str] = []
    for first in range(0, len(test), 128):
        outputs += module.transform_text([a for a, _ in test[first : first + 128]], beam=beam)
    return {
        "members": len(module.nets),
        "voting": len(module.voting_nets),
        "input_units": module.net.input_units,
        **score(outputs, [b for _, b in test]),
    }


def score(outputs: list[str], targets: list[str]) -> dict[str, float]:
    """WER and PER in % (tokens: phones)."""
    canonical = [" ".join(t.split()) for t in targets]
    return {
        "wer": 100.0 * (1.0 - exact_match(outputs, canonical)),
        "per": 100.0 * unit_error_rate(outputs, canonical, "tokens"),
    }


def run_ours(
    lang: str,
    data_dir: Path,
    work: Path,
    beam: int,
    extra: list[str],
    cpu_budget: float | None = None,
) -> dict[str, Any]:
    """Fit with conf/g2p.yaml (``cpu_budget``: its CPU budget instead of the config's),
    then decode test from the best (dev) checkpoint with ``beam``: every member of the
    fit together (``model.members``; :meth:`GraphTransformModule.transform_text`)."""
    run_dir = _fresh_run_dir(work / lang / "ours")
    command = [
        sys.executable, "-m", "lightning_modules.fit", "--config", "conf/g2p.yaml",
        "--data.train_path", str(split_file(data_dir, lang, "train")),
        "--data.val_path", str(split_file(data_dir, lang, "dev")),
        "--trainer.default_root_dir", str(run_dir),
    ]  # fmt: skip
    if cpu_budget is not None:
        command += ["--cpu_budget.seconds", f"{cpu_budget:g}"]
    cpu = _run_measured([*command, *extra], run_dir / "fit.log")
    checkpoint = _best_checkpoint(run_dir)
    return {
        "cpu_seconds": cpu,
        "checkpoint": str(checkpoint),
        **decode_test(checkpoint, data_dir, lang, beam),
    }


def run_baseline(
    lang: str,
    data_dir: Path,
    work: Path,
    beam: int,
    cpu_seconds: float,
    input_units: str,
) -> dict[str, Any]:
    """The seq2seq peer in a process of its own, with the same CPU seconds and beam, reading
    ``input_units`` (those our fit read, or would choose: :func:`_chosen_units`)."""
    out = work / lang / "baseline.json"
    command = [
        sys.executable, str(REPO / "bench" / "g2p.py"), "--baseline-only", lang,
        "--data-dir", str(data_dir), "--work", str(work), "--beam", str(beam),
        "--cpu-seconds", f"{cpu_seconds:.1f}", "--input-units", input_units,
    ]  # fmt: skip
    (work / lang).mkdir(parents=True, exist_ok=True)
    _run_measured(command, work / lang / "baseline.log")
    return json.loads(out.read_text())


def _baseline_process(
    lang: str,
    data_dir: Path,
    work: Path,
    beam: int,
    cpu_seconds: float,
    input_units: str,
) -> None:
    import torch

    from bench.seq2seq_baseline import PRESETS, train, transform_text
    from pyg_grapheme.data import TextPair

    torch.set_num_threads(1)
    train_pairs = [TextPair(a, b) for a, b in read_pairs(split_file(data_dir, lang, "train"))]
    dev = [TextPair(a, b) for a, b in read_pairs(split_file(data_dir, lang, "dev"))]
    test = read_pairs(split_file(data_dir, lang, "test"))
    trained = train(
        train_pairs, cpu_seconds=cpu_seconds, config=PRESETS["g2p"], target_units="tokens",
        input_units=input_units, select_on=dev,
    )  # fmt: skip
    outputs = transform_text(trained, [a for a, _ in test], beam=beam)
    result = {
        "cpu_seconds": trained.cpu_seconds,
        "epochs": trained.epochs,
        "parameters": sum(p.numel() for p in trained.model.parameters()),
        "input_units": input_units,
        **score(outputs, [b for _, b in test]),
    }
    (work / lang / "baseline.json").write_text(json.dumps(result))


def _finished_row(
    work: Path, lang: str, beam: int, with_ours: bool = True
) -> dict[str, Any] | None:
    """The row a previous run finished for ``lang`` (same beam), or None; with
    ``with_ours`` only a row that holds our result (not a ``--peers-only`` one)."""
    path = work / lang / "row.json"
    if not path.is_file():
        return None
    row = json.loads(path.read_text())
    if row.get("beam") != beam or (with_ours and "ours" not in row):
        return None
    return row


def _reusable_baseline(
    previous: Path | None,
    lang: str,
    beam: int,
    cpu_seconds: float,
    input_units: str = "graphemes",
) -> dict[str, Any] | None:
    """The peer's result a previous run's work folder holds for ``lang`` when it used the
    same beam, read the same ``input_units`` (rows from before the option read clusters)
    and trained at least ``cpu_seconds`` (so reusing it can only favour the peer); None
    without a folder."""
    row = _finished_row(previous, lang, beam, with_ours=False) if previous else None
    old = row.get("baseline") if row else None
    if not old or old.get("input_units", "graphemes") != input_units:
        return None
    return old if old["cpu_seconds"] >= cpu_seconds else None


def run_language(
    lang: str,
    data_dir: Path,
    work: Path,
    beam: int,
    baseline: bool,
    extra: list[str],
    reuse_baseline: Path | None = None,
    cpu_budget: float | None = None,
    peer_seconds: float | None = None,
) -> dict[str, Any]:
    """Ours, then the peer (reused, or trained for our CPU seconds, or ``peer_seconds``
    where that is more); writes and returns the language's row."""
    began = time.time()
    ours = run_ours(lang, data_dir, work, beam, extra, cpu_budget)
    row: dict[str, Any] = {"lang": lang, "beam": beam, "ours": ours}
    if baseline:
        units = ours.get("input_units", "graphemes")
        old = _reusable_baseline(reuse_baseline, lang, beam, ours["cpu_seconds"], units)
        seconds = max(ours["cpu_seconds"], peer_seconds or 0.0)
        row["baseline"] = old or run_baseline(lang, data_dir, work, beam, seconds, units)
        row["baseline_reused"] = old is not None
    row["wall_seconds"] = time.time() - began
    (work / lang / "row.json").write_text(json.dumps(row))
    line = f"{lang}: ours {_scores_text(ours)}"
    if baseline:
        line += f" | baseline {_scores_text(row['baseline'])}"
    print(line, flush=True)
    return row


def _scores_text(result: dict[str, Any]) -> str:
    """``WER .. PER .. cpu ..s`` of one model's result, for the progress lines."""
    return f"WER {result['wer']:.2f} PER {result['per']:.2f} cpu {result['cpu_seconds']:.0f}s"


def _chosen_units(data_dir: Path, lang: str) -> str:
    """The input units the fit command chooses for ``lang``'s training words (conf/g2p.yaml
    leaves the choice to the data): those of a peer trained without a fit of ours."""
    from pyg_grapheme.input_units import choose_input_units

    return choose_input_units(a for a, _ in read_pairs(split_file(data_dir, lang, "train")))


def run_peer_only(
    lang: str, data_dir: Path, work: Path, beam: int, seconds: float, resume: bool
) -> dict[str, Any]:
    """The peer alone, trained for ``seconds`` (``--peers-only``), as a row that
    ``--reuse-baseline`` reads; with ``resume``, a row there that already holds a peer of
    at least ``seconds`` is kept."""
    units = _chosen_units(data_dir, lang)
    kept = _reusable_baseline(work, lang, beam, seconds, units) if resume else None
    if kept is not None:
        return {"lang": lang, "beam": beam, "baseline": kept}
    row = {
        "lang": lang,
        "beam": beam,
        "baseline": run_baseline(lang, data_dir, work, beam, seconds, units),
    }
    (work / lang / "row.json").write_text(json.dumps(row))
    print(f"{lang}: baseline {_scores_text(row['baseline'])}", flush=True)
    return row


def _fits(rows: list[dict[str, Any]]) -> str:
    """What our CPU seconds cover: one fit process, of one network or of several members
    trained side by side."""
    sizes = sorted({r["ours"].get("members", 1) for r in rows})
    if sizes == [1]:
        return "process"
    told = " or ".join(str(n) for n in sizes)
    # A member the validation left out of the vote (model.vote_ratio) is named: it trained,
    # so it is in the CPU seconds, but it did not decode.
    fewer = [
        f"{r['lang']} {r['ours']['voting']} of {r['ours']['members']}"
        for r in rows
        if r["ours"].get("voting", r["ours"].get("members", 1)) < r["ours"].get("members", 1)
    ]
    left_out = (
        f"; members voting where the validation left some out (model.vote_ratio): "
        f"{', '.join(fewer)}"
        if fewer
        else ""
    )
    return (
        f"process (its {told} members trained side by side, each from its own random "
        f"start, decoding test together{left_out})"
    )


def sampling_z(wer: float, other: float, words: int) -> float:
    r"""How many standard errors apart two word error rates (in %) on ``words`` test words
    are: :math:`(p - q) / \sqrt{(p (1 - p) + q (1 - q)) / n}`, the difference of two
    proportions (unpaired: it ignores that both systems read the same words, so it does not
    overstate a difference). Equal rates give 0; different rates with no spread, +-inf."""
    p, q = wer / 100.0, other / 100.0
    spread = math.sqrt((p * (1.0 - p) + q * (1.0 - q)) / max(words, 1))
    if spread == 0.0:
        return 0.0 if p == q else math.copysign(math.inf, p - q)
    return (p - q) / spread


def _beyond_sampling(pairs: list[tuple[str, float, float, int]], name: str) -> str:
    """One summary line: where ours differs from ``name`` by 1.96 standard errors or more."""
    z = {lang: sampling_z(ours, other, n) for lang, ours, other, n in pairs}
    better = [f"{lang} ({v:+.1f})" for lang, v in z.items() if v <= -1.96]
    worse = [f"{lang} ({v:+.1f})" for lang, v in z.items() if v >= 1.96]
    within = len(z) - len(better) - len(worse)
    return (
        f"- Against {name}, beyond the test sets' sampling error (1.96 standard errors of a "
        f"difference of two proportions, `bench/g2p.py:sampling_z`; z in brackets): ours "
        f"better on {', '.join(better) or 'none'}, worse on {', '.join(worse) or 'none'}; "
        f"the other {within} differences are within it."
    )


def results_page(
    rows: list[dict[str, Any]], command: str, beam: int, test_words: dict[str, int] | None = None
) -> str:
    """The Markdown results page: one row per language, then the macro averages, and,
    given each language's number of test words, which differences exceed sampling error."""
    import platform

    has_baseline = all("baseline" in r for r in rows)
    head = "| lang | ours WER | ours PER |"
    rule = "|---|---|---|"
    if has_baseline:
        head += " seq2seq WER | seq2seq PER | seq2seq CPU s |"
        rule += "---|---|---|"
    head += " CPU s | pair n-gram | LSTM | Transformer | best 2020 |"
    rule += "---|---|---|---|---|"
    lines = [head, rule]
    below_lstm = beats_peer = 0
    for r in rows:
        o = r["ours"]
        published = PUBLISHED.get(r["lang"])
        cells = [r["lang"], f"{o['wer']:.2f}", f"{o['per']:.2f}"]
        if has_baseline:
            b = r["baseline"]
            cells += [f"{b['wer']:.2f}", f"{b['per']:.2f}", f"{b['cpu_seconds']:.0f}"]
            beats_peer += o["wer"] <= b["wer"]
        cells.append(f"{o['cpu_seconds']:.0f}")
        cells += [f"{v:.2f}" for v in published] if published else ["", "", "", ""]
        if published:
            # The published figures have two decimals: 85 of 450 words is 18.888..., printed
            # 18.89, and is no better than an LSTM's 18.89.
            below_lstm += round(o["wer"], 2) < published[1]
        lines.append("| " + " | ".join(cells) + " |")

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else float("nan")

    macro = ["**macro**", f"**{mean([r['ours']['wer'] for r in rows]):.2f}**",
             f"{mean([r['ours']['per'] for r in rows]):.2f}"]  # fmt: skip
    if has_baseline:
        macro += [f"{mean([r['baseline']['wer'] for r in rows]):.2f}",
                  f"{mean([r['baseline']['per'] for r in rows]):.2f}",
                  f"{mean([r['baseline']['cpu_seconds'] for r in rows]):.0f}"]  # fmt: skip
    macro.append(f"{mean([r['ours']['cpu_seconds'] for r in rows]):.0f}")
    known = [PUBLISHED[r["lang"]] for r in rows if r["lang"] in PUBLISHED]
    # A language outside the 2020 table (a user's own data) has no published cells: the
    # published macro covers the languages that have them, and none is printed without.
    macro += [f"{mean([k[c] for k in known]):.2f}" if known else "" for c in range(4)]
    lines.append("| " + " | ".join(macro) + " |")
    if known:
        summary = [
            f"- Ours is below the 2020 LSTM baseline on {below_lstm} of {len(known)} "
            "languages with published figures."
        ]
        if len(known) < len(rows):
            summary.append(
                f"- The published columns' macro is over those {len(known)} languages; "
                f"{len(rows) - len(known)} here have no published 2020 figures."
            )
    else:
        summary = ["- No language here has published 2020 figures."]
    if test_words and known:
        summary.append(
            _beyond_sampling(
                [(r["lang"], r["ours"]["wer"], PUBLISHED[r["lang"]][1], test_words[r["lang"]])
                 for r in rows if r["lang"] in PUBLISHED and r["lang"] in test_words],
                "the 2020 LSTM",
            )
        )  # fmt: skip
    if has_baseline:
        summary.append(
            f"- Ours is at least as good as the seq2seq peer (same CPU seconds, same units, "
            f"beam {beam}) on {beats_peer} of {len(rows)} languages."
        )
        if test_words:
            summary.append(
                _beyond_sampling(
                    [(r["lang"], r["ours"]["wer"], r["baseline"]["wer"], test_words[r["lang"]])
                     for r in rows if r["lang"] in test_words],
                    "the peer",
                )
            )  # fmt: skip
        reused = [r["lang"] for r in rows if r.get("baseline_reused")]
        if reused:
            summary.append(
                f"- The peer's figures of {', '.join(reused)} come from an earlier run "
                "(`--reuse-baseline`) whose peer trained for at least our CPU seconds "
                "(seq2seq CPU s)."
            )
    return "\n".join(
        [
            "# Grapheme-to-phoneme (SIGMORPHON 2020 task 1)",
            "",
            f"Command: `{command}`",
            "",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; date {time.strftime('%Y-%m-%d')}. Test WER and PER "
            f"in %, beam {beam} for both models; CPU s: CPU seconds of our whole fit "
            f"{_fits(rows)} (the peer trained for at least as many: seq2seq CPU s). Published "
            "columns: Gorman et al. (2020), test WER.",
            "",
            *lines,
            "",
            *summary,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--langs", nargs="*", help="default: every language in --data-dir")
    parser.add_argument("--work", type=Path, default=REPO / "outputs" / "g2p")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=1, help="languages run in parallel")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--out", type=Path, help="write the results page here")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse the rows of languages already finished in --work (row.json)",
    )
    parser.add_argument(
        "--reuse-baseline",
        type=Path,
        metavar="WORK",
        help="take the peer's result from a previous run's work folder when it trained for "
        "at least the CPU seconds our new fit took (it can only favour the peer); retrain "
        "it otherwise",
    )
    parser.add_argument(
        "--page-only",
        action="store_true",
        help="train nothing: the page of the languages already finished in --work",
    )
    parser.add_argument(
        "--cpu-budget",
        type=float,
        metavar="SECONDS",
        help="our CPU budget for a language (default: conf/g2p.yaml's cpu_budget.seconds)",
    )
    parser.add_argument(
        "--peer-seconds",
        type=float,
        metavar="SECONDS",
        help="train the peer for this many CPU seconds where that is more than our fit took",
    )
    parser.add_argument(
        "--peers-only",
        action="store_true",
        help="train only the peer, --peer-seconds a language, for a later --reuse-baseline",
    )
    parser.add_argument("--baseline-only", metavar="LANG", help=argparse.SUPPRESS)
    parser.add_argument("--cpu-seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--input-units", help=argparse.SUPPRESS)
    args, extra = parser.parse_known_args(argv)
    extra = [a for a in extra if a != "--"]
    if not args.data_dir.is_dir():
        parser.error(f"--data-dir {args.data_dir} is not a directory")
    if args.cpu_budget is not None and not args.cpu_budget > 0:
        parser.error(f"--cpu-budget must be a positive number of seconds, got {args.cpu_budget}")
    if args.peer_seconds is not None and not args.peer_seconds > 0:
        parser.error(
            f"--peer-seconds must be a positive number of seconds, got {args.peer_seconds}"
        )
    if args.peers_only and (args.peer_seconds is None or args.no_baseline or args.page_only):
        parser.error("--peers-only needs --peer-seconds, and neither --no-baseline nor --page-only")
    if args.baseline_only:
        if args.cpu_seconds is None or args.input_units is None:
            parser.error("--baseline-only needs --cpu-seconds and --input-units")
        _baseline_process(
            args.baseline_only, args.data_dir, args.work, args.beam, args.cpu_seconds,
            args.input_units,
        )  # fmt: skip
        return
    langs = args.langs or languages(args.data_dir)
    missing = sorted(set(langs) - set(languages(args.data_dir)))
    if missing:
        parser.error(f"no train/dev/test files for {missing} in {args.data_dir}")
    try:
        # Every file read before any training: a damaged line stops the run at once, as one
        # line with its file and line (not after hours, in a worker); the page takes each
        # language's number of test words from here.
        test_words = {lang: _test_words(args.data_dir, lang) for lang in langs}
    except JsonlFormatError as error:
        parser.error(str(error))
    if args.page_only:
        rows = [row for lang in langs if (row := _finished_row(args.work, lang, args.beam))]
        if not rows:
            parser.error(f"no finished language (row.json, beam {args.beam}) in {args.work}")
        _write_page(rows, argv, args, test_words)
        return
    args.work.mkdir(parents=True, exist_ok=True)

    def one_language(lang: str) -> dict[str, Any]:
        if args.peers_only:
            return run_peer_only(
                lang, args.data_dir, args.work, args.beam, args.peer_seconds, args.resume
            )
        return (args.resume and _finished_row(args.work, lang, args.beam)) or run_language(
            lang, args.data_dir, args.work, args.beam, not args.no_baseline, extra,
            args.reuse_baseline, args.cpu_budget, args.peer_seconds,
        )  # fmt: skip

    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        rows = list(pool.map(one_language, langs))
    if not args.peers_only:  # a page needs our results
        _write_page(rows, argv, args, test_words)


def _test_words(data_dir: Path, lang: str) -> int:
    """Reads ``lang``'s three files (raising :class:`JsonlFormatError` on a bad line) and
    returns the number of its test words."""
    for split in ("train", "dev"):
        read_pairs(split_file(data_dir, lang, split))
    return len(read_pairs(split_file(data_dir, lang, "test")))


def _write_page(
    rows: list[dict[str, Any]],
    argv: list[str] | None,
    args: argparse.Namespace,
    test_words: dict[str, int],
) -> None:
    command = "python bench/g2p.py " + " ".join(argv if argv is not None else sys.argv[1:])
    page = results_page(rows, command, args.beam, test_words)
    print(page)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(page)


if __name__ == "__main__":
    main()
