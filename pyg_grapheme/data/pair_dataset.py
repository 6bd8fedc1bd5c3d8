"""``PairDataset``: (input graph, target graph) pairs for training, and their collate function.

Each :class:`TextPair` becomes two chain graphs built by
:func:`pyg_grapheme.text.text_to_graph`; :func:`collate_pairs` batches each
side with ``Batch.from_data_list``, so a loader yields ``(inputs, targets)``,
two PyG ``Batch`` objects over the same graphs-in-batch order::

    loader = DataLoader(PairDataset(pairs), batch_size=32, shuffle=True,
                        collate_fn=collate_pairs)
    for inputs, targets in loader:
        inputs.num_graphs == targets.num_graphs
        inputs.text[i], targets.text[i]   # the texts of pair i of the batch
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from torch.utils.data import Dataset
from torch_geometric.data import Batch, Data

from pyg_grapheme.data.curriculum import generate
from pyg_grapheme.data.jsonl import read_jsonl
from pyg_grapheme.data.text_pair import TextPair
from pyg_grapheme.input_units import input_splitter
from pyg_grapheme.text import text_to_graph

__all__ = ["PairDataset", "collate_pairs"]


class PairDataset(Dataset[tuple[Data, Data]]):
    """A map-style dataset of text pairs as graph pairs.

    Item ``i`` is ``(text_to_graph(pairs[i].input, input_units),
    text_to_graph(pairs[i].target))``.
    Graphs are built on first access and cached, so each pair is segmented
    once per process (each ``DataLoader`` worker keeps its own cache). The
    cached ``Data`` objects are shared between epochs: treat them as read-only
    (``Batch.from_data_list`` does).

    Args:
        pairs: the examples, e.g. from :func:`~pyg_grapheme.data.read_jsonl`
            or :func:`~pyg_grapheme.data.generate`.
        input_units: the units of the input chains, ``"graphemes"`` or ``"codepoints"``
            (:mod:`pyg_grapheme.input_units`); targets are always read as graphemes.

    Attributes:
        pairs: ``tuple[TextPair, ...]``.
        skipped: bad lines skipped by :meth:`from_jsonl` (0 otherwise).
    """

    def __init__(self, pairs: Sequence[TextPair], input_units: str = "graphemes") -> None:
        input_splitter(input_units)  # refuses an unknown mode before anything is read
        self.input_units = input_units
        self.pairs: tuple[TextPair, ...] = tuple(pairs)
        for k, pair in enumerate(self.pairs):
            if not isinstance(pair, TextPair):
                raise TypeError(f"pairs[{k}] must be a TextPair, got {type(pair).__name__}")
        self.skipped = 0
        self._graphs: list[tuple[Data, Data] | None] = [None] * len(self.pairs)

    @classmethod
    def from_jsonl(
        cls,
        path: str | os.PathLike[str],
        skip_bad_lines: bool = False,
        *,
        format: str | None = None,
        input_units: str = "graphemes",
    ) -> PairDataset:
        """Dataset of the records of a JSONL file (arguments of :func:`read_jsonl`), its
        inputs read in ``input_units``."""
        records = read_jsonl(path, skip_bad_lines, format=format)
        dataset = cls(records.pairs, input_units)
        dataset.skipped = records.skipped
        return dataset

    @classmethod
    def from_task(
        cls,
        task: str,
        n: int,
        *,
        seed: int,
        alphabet: str | Sequence[str] = "latin",
        min_len: int = 1,
        max_len: int = 8,
        level: int = 1,
        exclude: Iterable[str] = (),
        unique: bool = True,
        input_units: str = "graphemes",
    ) -> PairDataset:
        """Dataset of ``n`` generated examples (arguments of :func:`generate`), their inputs
        read in ``input_units``."""
        pairs = generate(
            task,
            n,
            seed=seed,
            alphabet=alphabet,
            min_len=min_len,
            max_len=max_len,
            level=level,
            exclude=exclude,
            unique=unique,
        )
        return cls(pairs, input_units)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[Data, Data]:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"PairDataset index must be an int, got {type(index).__name__}")
        if not -len(self.pairs) <= index < len(self.pairs):
            raise IndexError(f"index {index} is out of range for {len(self.pairs)} pairs")
        index %= len(self.pairs)
        graphs = self._graphs[index]
        if graphs is None:
            pair = self.pairs[index]
            graphs = (text_to_graph(pair.input, self.input_units), text_to_graph(pair.target))
            self._graphs[index] = graphs
        return graphs

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.pairs)})"


def collate_pairs(items: Sequence[tuple[Data, Data]]) -> tuple[Batch, Batch]:
    """Batch a list of ``(input, target)`` graph pairs side by side.

    Returns:
        ``(Batch.from_data_list(inputs), Batch.from_data_list(targets))``;
        graph ``i`` of both batches comes from ``items[i]``.
    """
    if len(items) == 0:
        raise ValueError("collate_pairs needs at least one (input, target) pair")
    for k, item in enumerate(items):
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise TypeError(f"items[{k}] must be an (input, target) pair of Data")
    inputs = Batch.from_data_list([item[0] for item in items])
    targets = Batch.from_data_list([item[1] for item in items])
    return inputs, targets
