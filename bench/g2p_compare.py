"""Two or more runs of ``bench/g2p.py`` side by side: development and test WER a language.

A configuration trial is judged on development, where the model is chosen, and its test
figures are only reported. Each run is a ``--work`` folder of ``bench/g2p.py`` (or a copy of
its rows, as ``bench/results/g2p_rows``): ``LANG/row.json`` per language. From each row:

- **development WER**: 100 minus the greedy exact match of the fit's best checkpoint, the
  figure model selection used, read from the checkpoint's name
  (``best-epoch=E-val_exact_match=X.ckpt``, as the fit names it);
- **test WER**: the row's, beam search with every voting member.

It prints a Markdown table (a row per run and split, a column per language and the mean over
the languages every run finished; the best of each column in bold) and, for every run after
the first, how many languages gained, lost and tied on development against the first::

    python bench/g2p_compare.py bench/results/g2p_rows \\
        bench/results/g2p_trials/lr0.003_warmup0.25 --names "peak 0.002" "peak 0.003"
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.command_line import OneLineParser

CHECKPOINT_SCORE = re.compile(r"val_exact_match=([0-9.]+)\.ckpt$")


def run_scores(work: Path) -> dict[str, tuple[float, float]]:
    """``{lang: (development WER, test WER)}`` of every finished language of a run.

    Raises:
        ValueError: no finished language, a row that is not JSON or lacks a field, or a
            row whose checkpoint name holds no development exact match (file named).
    """
    scores = {}
    for path in sorted(work.glob("*/row.json")):
        try:
            row = json.loads(path.read_text())
            if "ours" not in row:
                continue  # a --peers-only row
            lang, checkpoint = row["lang"], str(row["ours"]["checkpoint"])
            wer = float(row["ours"]["wer"])
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{error.lineno}: not JSON: {error.msg}") from None
        except (KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a row of bench/g2p.py (no {error})") from None
        found = CHECKPOINT_SCORE.search(checkpoint)
        if found is None:
            raise ValueError(
                f"{path}: the checkpoint {checkpoint!r} is not named "
                "best-epoch=E-val_exact_match=X.ckpt, so its development score is unknown"
            )
        scores[lang] = (100.0 * (1.0 - float(found.group(1))), wer)
    if not scores:
        raise ValueError(f"{work}: no finished language (LANG/row.json with our result)")
    return scores


def comparison(names: list[str], runs: list[dict[str, tuple[float, float]]]) -> str:
    """The Markdown table and the development counts (module docstring)."""
    langs = sorted(set.intersection(*(set(run) for run in runs)))
    if not langs:
        raise ValueError("the runs share no finished language")
    lines = [
        "| run | " + " | ".join(langs) + " | mean |",
        "|---|" + "---|" * (len(langs) + 1),
    ]
    for split, label in ((0, "development"), (1, "test")):
        table = [[run[lang][split] for lang in langs] for run in runs]
        for row in table:
            row.append(sum(row) / len(row))
        best = [min(column) for column in zip(*table)]
        for name, row in zip(names, table):
            cells = [
                f"**{value:.2f}**" if len(runs) > 1 and value == low else f"{value:.2f}"
                for value, low in zip(row, best)
            ]
            lines.append(f"| {label}, {name} | " + " | ".join(cells) + " |")
    lines.append("")
    first = runs[0]
    for name, run in zip(names[1:], runs[1:]):
        change = [round(run[lang][0] - first[lang][0], 2) for lang in langs]
        gained = sum(c < 0 for c in change)
        lost = sum(c > 0 for c in change)
        mean = sum(change) / len(change)
        lines.append(
            f"- development, {name} against {names[0]}: {gained} gain, {lost} lose, "
            f"{len(langs) - gained - lost} equal; mean change {mean:+.2f} points "
            f"({len(langs)} languages)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("works", type=Path, nargs="+", help="bench/g2p.py --work folders")
    parser.add_argument("--names", nargs="+", help="a label per folder (default: its path)")
    args = parser.parse_args(argv)
    names = args.names or [str(work) for work in args.works]
    if len(names) != len(args.works):
        parser.error(f"{len(names)} --names for {len(args.works)} folders")
    try:
        runs = [run_scores(work) for work in args.works]
        print(comparison(names, runs))
    except (OSError, ValueError) as error:
        parser.error(str(error))


if __name__ == "__main__":
    main()
