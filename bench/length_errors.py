"""How many of a trained model's wrong answers have the wrong length, and its exact match
when it grows by the target counts (teacher-forced lengths, its own greedy graphemes).

The second figure bounds what a better count head (or spare slots) could gain: the
answers it still gets wrong are wrong in their graphemes, not their length.

    python bench/length_errors.py --row math_l5 --ckpt RUN/outputs/checkpoints/last.ckpt

``RUN`` is the ``run_dir`` that ``bench/results_table.py --json`` records for our model.
The held-out problems are the row's (``bench.table_rows.row_data``; pass the run's
``--math-train`` too, since the held-out draw follows the training set); the alignment
that gives the target counts is the checkpoint's own.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench.command_line import OneLineParser
from bench.table_rows import ROW_CONFIGS, add_run_math_train_option, row_data
from lightning_modules.module import segment
from pyg_grapheme.data import TextPair
from pyg_grapheme.models import GraphTransformNet
from pyg_grapheme.models.edit_supervision import edit_targets
from pyg_grapheme.models.text_transform import emit
from pyg_grapheme.text import graphs_from_texts

__all__ = ["LengthReport", "length_report", "main"]


@dataclass(frozen=True)
class LengthReport:
    """Exact match with the count head's counts and with the target counts."""

    problems: int
    exact_match: float
    wrong: int
    wrong_length: int
    exact_match_with_target_counts: float

    def __str__(self) -> str:
        return (
            f"{self.problems} problems: exact match {self.exact_match:.3f}; "
            f"{self.wrong} wrong, {self.wrong_length} of them of the wrong length; "
            f"with the target counts {self.exact_match_with_target_counts:.3f}"
        )


@torch.no_grad()
def length_report(
    net: GraphTransformNet, pairs: Sequence[TextPair], alignment: str, batch_size: int = 64
) -> LengthReport:
    """Score ``net`` on ``pairs`` twice: as at inference, and grown by the target counts of
    ``alignment`` (:func:`~pyg_grapheme.models.edit_supervision.edit_targets`)."""
    net.eval()
    free, forced = [], []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        data = graphs_from_texts([p.input for p in chunk])
        data.num_graphs = len(chunk)
        length = torch.cat(
            [edit_targets(segment(p.input), segment(p.target), alignment).length for p in chunk]
        )
        free += ["".join(nodes) for nodes in emit(net, data)[1]]
        forced += ["".join(nodes) for nodes in emit(net, data, length)[1]]
    targets = [p.target for p in pairs]
    wrong = [(got, want) for got, want in zip(free, targets) if got != want]
    return LengthReport(
        problems=len(pairs),
        exact_match=1.0 - len(wrong) / max(len(pairs), 1),
        wrong=len(wrong),
        wrong_length=sum(len(segment(got)) != len(segment(want)) for got, want in wrong),
        exact_match_with_target_counts=(
            sum(got == want for got, want in zip(forced, targets)) / max(len(pairs), 1)
        ),
    )


def main(argv: Sequence[str] | None = None) -> LengthReport:
    from lightning_modules.module import GraphTransformModule

    parser = OneLineParser(prog="length_errors", description=__doc__.splitlines()[0])
    parser.add_argument("--row", required=True, choices=sorted(ROW_CONFIGS))
    parser.add_argument("--ckpt", required=True, help="our model's checkpoint")
    parser.add_argument("--suite", default=None, help="held-out suite (default: each)")
    add_run_math_train_option(parser)
    args = parser.parse_args(argv)
    try:
        data = row_data(args.row, math_train=args.math_train)
        module = GraphTransformModule.load_from_checkpoint(args.ckpt, map_location="cpu")
    except (OSError, ValueError) as error:
        print(f"length_errors: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    torch.set_num_threads(1)
    report = None
    for name, pairs in data.suites.items():
        if args.suite is None or args.suite == name:
            report = length_report(module.net, pairs, module.hparams.alignment)
            print(f"{args.row} {name}: {report}")
    if report is None:
        parser.error(f"no suite {args.suite!r}; the row has {', '.join(data.suites)}")
    return report


if __name__ == "__main__":
    main()
