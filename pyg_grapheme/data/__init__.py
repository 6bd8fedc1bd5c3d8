"""Data: text pairs from JSONL files or seeded curriculum generators, as PyG graph pairs.

* :class:`TextPair` (``text_pair.py``): one (input, target) example with provenance.
* :func:`read_jsonl` (``jsonl.py``): the pairs and math-curriculum JSONL formats.
* :func:`generate`, :data:`TASKS` (``curriculum.py``): copy, drop_last, dedupe,
  squeeze_spaces and math examples, seeded, no download; the tasks' input sets
  are indexed exactly in ``string_tasks.py`` and ``math_expressions.py``.
* :data:`ALPHABETS` (``alphabets.py``): grapheme-cluster alphabets, Latin to emoji.
* :func:`format_result` and Polish notation (``math_expressions.py``).
* :class:`PairDataset`, :func:`collate_pairs` (``pair_dataset.py``): graphs for training.
"""

from pyg_grapheme.data.alphabets import ALPHABETS, resolve_alphabet
from pyg_grapheme.data.curriculum import TASKS, generate
from pyg_grapheme.data.jsonl import FORMATS, JsonlFormatError, JsonlPairs, read_jsonl
from pyg_grapheme.data.math_expressions import evaluate_polish, format_result, parse_polish
from pyg_grapheme.data.pair_dataset import PairDataset, collate_pairs
from pyg_grapheme.data.text_pair import TextPair

__all__ = [
    "ALPHABETS",
    "FORMATS",
    "TASKS",
    "JsonlFormatError",
    "JsonlPairs",
    "PairDataset",
    "TextPair",
    "collate_pairs",
    "evaluate_polish",
    "format_result",
    "generate",
    "parse_polish",
    "read_jsonl",
    "resolve_alphabet",
]
