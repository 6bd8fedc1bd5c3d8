r"""Operand-order augmentation for arithmetic: ``(+ a b)`` and ``(+ b a)`` are the same problem.

Addition and multiplication commute, so a model of arithmetic should give
``"(* 7 12)"`` and ``"(* 12 7)"`` the same answer. A network does not know
that; :class:`CommutativeSwapDataset` teaches it by data: each time a
training example is drawn, every ``+`` and ``*`` application in it has its
two operands swapped with probability ``p`` (independently, at every nesting
level). The target does not change, since the value does not.

The swap is a rewrite of the *training input* only (through
:func:`~pyg_grapheme.data.math_expressions.parse_polish` and
:func:`~pyg_grapheme.data.math_expressions.to_polish`); the model never sees a
parser. A rewrite that would produce a text in ``exclude`` (the validation
inputs) is not made, so a held-out problem never reaches training, not even
as the mirror image of a training problem. Inputs that are not arithmetic
pass through unchanged.

For splitting data, :func:`operand_order_variants` lists every text of the
same problem in the whole Polish notation (``(let x 7 (* 12 x))`` and ``(let
x 7 (* x 12))``), and :func:`operand_order_key` names the problem, so held-out
splits can keep a problem and its mirror images on one side (both live in
:mod:`~pyg_grapheme.data.operand_order`, which needs no torch, and are re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch.utils.data import Dataset
from torch_geometric.data import Data

from pyg_grapheme.data.math_expressions import Expression, parse_polish, to_polish
from pyg_grapheme.data.operand_order import (
    COMMUTATIVE,
    operand_order_key,
    operand_order_variants,
)
from pyg_grapheme.data.text_pair import TextPair
from pyg_grapheme.input_units import input_splitter
from pyg_grapheme.text import text_to_graph

__all__ = [
    "COMMUTATIVE",
    "CommutativeSwapDataset",
    "operand_order_key",
    "operand_order_variants",
    "swap_operands",
]


def swap_operands(expression: Expression, draw: torch.Generator | None, p: float) -> Expression:
    """Swap the operands of each commutative application with probability ``p``."""
    if isinstance(expression, int):
        return expression
    op, left, right = expression
    left, right = swap_operands(left, draw, p), swap_operands(right, draw, p)
    if op in COMMUTATIVE and float(torch.rand((), generator=draw)) < p:
        left, right = right, left
    return (op, left, right)


class CommutativeSwapDataset(Dataset[tuple[Data, Data]]):
    """Training pairs whose ``+``/``*`` operands are swapped at random on every draw.

    Args:
        pairs: the training examples (math inputs in canonical Polish notation).
        p: probability of swapping each commutative application. (default: 0.5)
        exclude: input texts that must never be produced (validation inputs).
        generator: optional random generator (default: torch's global one,
            which ``seed_everything`` seeds).
        input_units: the units of the input chains (:mod:`pyg_grapheme.input_units`);
            targets are read as graphemes.
    """

    def __init__(
        self,
        pairs: Sequence[TextPair],
        p: float = 0.5,
        exclude: Iterable[str] = (),
        generator: torch.Generator | None = None,
        input_units: str = "graphemes",
    ) -> None:
        input_splitter(input_units)  # refuses an unknown mode
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"swap probability must be in [0, 1], got {p}")
        self.pairs = tuple(pairs)
        self.p = p
        self.exclude = frozenset(exclude)
        self.generator = generator
        self.input_units = input_units
        # One cache per side: an input and a target of the same text differ in units.
        self._graphs: dict[tuple[str, str], Data] = {}
        self._parsed: list[Expression | None] = []
        for pair in self.pairs:
            try:
                self._parsed.append(parse_polish(pair.input))
            except ValueError:
                self._parsed.append(None)

    def __len__(self) -> int:
        return len(self.pairs)

    def _graph(self, text: str, units: str) -> Data:
        graph = self._graphs.get((text, units))
        if graph is None:
            graph = self._graphs[(text, units)] = text_to_graph(text, units)
        return graph

    def __getitem__(self, index: int) -> tuple[Data, Data]:
        pair = self.pairs[index]
        text = pair.input
        expression = self._parsed[index]
        if expression is not None and self.p > 0.0:
            swapped = to_polish(swap_operands(expression, self.generator, self.p))
            if swapped not in self.exclude:
                text = swapped
        return self._graph(text, self.input_units), self._graph(pair.target, "graphemes")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.pairs)}, p={self.p})"
