"""Held-out arithmetic problems that need a fact never seen in training, and a trained
model's wrong answers among them.

A *fact* is one operation on two values, ``7 * 6 = 42``: every application inside a
problem, its operands evaluated (``(* (+ 3 4) 6)`` needs ``3 + 4`` and ``7 * 6``). Sums and
products are facts in either order: a model that has learnt that they commute answers one
order from the other (the operand-swap augmentation teaches that on training problems and
never writes a held-out one). A held-out problem whose facts all occur somewhere in
training can be answered from them; one that needs an unseen sum or difference can be
answered by an algorithm a model can learn from other sums (digits and carries); one that
needs an unseen product cannot be answered from what training shows, unless a model learns
to multiply.

    python bench/unseen_facts.py --row math_l1 [--ckpt RUN/outputs/checkpoints/last.ckpt]

``RUN`` is the ``run_dir`` that ``bench/results_table.py --json`` records for our model;
pass the run's ``--math-train`` too, since the held-out draw follows the training set.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench.command_line import OneLineParser
from bench.table_rows import add_run_math_train_option, row_data
from pyg_grapheme.data import TextPair
from pyg_grapheme.data.math_expressions import Expression, evaluate, parse_polish

__all__ = ["ARITHMETIC_ROWS", "FactReport", "fact_report", "facts", "main"]

ARITHMETIC_ROWS = ("math_l1", "math_l2")
"""Rows whose inputs are arithmetic alone (levels 3-7 bind, apply functions or solve)."""

Fact = tuple[str, int, int] | tuple[str, frozenset[int]]

_COMMUTATIVE = frozenset("+*")
_KINDS = {"*": "product", "+": "sum", "-": "difference"}


def facts(expression: Expression) -> set[Fact]:
    """The facts ``expression`` needs: ``("*", frozenset({6, 7}))`` for ``7 * 6``,
    ``("-", 5, 13)`` for ``5 - 13``."""
    found: set[Fact] = set()

    def walk(e: Expression) -> int:
        if isinstance(e, int):
            return e
        op, left, right = e
        a, b = walk(left), walk(right)
        found.add((op, frozenset((a, b))) if op in _COMMUTATIVE else (op, a, b))
        return int(evaluate((op, a, b)))  # this application alone: its operands are known

    walk(expression)
    return found


def _kind(needed: Iterable[Fact], seen: set[Fact]) -> str:
    """``"seen"`` when every fact occurs in training, else the hardest unseen operation:
    a product before a sum before a difference."""
    unseen = {fact[0] for fact in needed if fact not in seen}
    for op in "*+-":
        if op in unseen:
            return f"unseen {_KINDS[op]}"
    return "seen"


@dataclass
class FactReport:
    """Held-out problems by what they need, and (with predictions) the wrong ones."""

    problems: dict[str, int] = field(default_factory=dict)
    wrong: dict[str, int] = field(default_factory=dict)

    def ceiling(self) -> float:
        """Exact match of a learner right on everything except the unseen products."""
        total = sum(self.problems.values())
        return 1.0 - self.problems.get("unseen product", 0) / max(total, 1)

    def __str__(self) -> str:
        total = sum(self.problems.values())
        parts = []
        for kind, count in sorted(self.problems.items()):
            wrong = f", {self.wrong.get(kind, 0)} wrong" if self.wrong else ""
            parts.append(f"{kind} {count}{wrong}")
        text = f"{total} problems: " + "; ".join(parts)
        text += f"; right on all but the unseen products: {self.ceiling():.3f}"
        if self.wrong:
            text += f"; exact match {1.0 - sum(self.wrong.values()) / max(total, 1):.3f}"
        return text


def fact_report(
    train: Sequence[TextPair],
    held_out: Sequence[TextPair],
    predictions: Sequence[str] | None = None,
) -> FactReport:
    """Sort ``held_out`` by the facts it needs against those ``train`` shows; with
    ``predictions`` (one per held-out problem), count the wrong answers of each kind."""
    seen: set[Fact] = set()
    for pair in train:
        seen |= facts(parse_polish(pair.input))
    if predictions is not None and len(predictions) != len(held_out):
        raise ValueError(f"{len(predictions)} predictions for {len(held_out)} problems")
    report = FactReport()
    for i, pair in enumerate(held_out):
        kind = _kind(facts(parse_polish(pair.input)), seen)
        report.problems[kind] = report.problems.get(kind, 0) + 1
        if predictions is not None:
            report.wrong.setdefault(kind, 0)
            report.wrong[kind] += predictions[i] != pair.target
    return report


def main(argv: Sequence[str] | None = None) -> FactReport:
    parser = OneLineParser(prog="unseen_facts", description=__doc__.splitlines()[0])
    parser.add_argument("--row", required=True, choices=ARITHMETIC_ROWS)
    parser.add_argument("--ckpt", default=None, help="our model's checkpoint (optional)")
    add_run_math_train_option(parser)
    args = parser.parse_args(argv)
    try:
        data = row_data(args.row, math_train=args.math_train)
        net = None
        if args.ckpt is not None:
            from lightning_modules.module import GraphTransformModule

            net = GraphTransformModule.load_from_checkpoint(args.ckpt, map_location="cpu").net
    except (OSError, ValueError) as error:
        print(f"unseen_facts: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    held_out = data.suites["held_out"]
    predictions = None
    if net is not None:
        predictions = net.transform_text([p.input for p in held_out])
    report = fact_report(data.train, held_out, predictions)
    print(f"{args.row} held_out: {report}")
    return report


if __name__ == "__main__":
    main()
