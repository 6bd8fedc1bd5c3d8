"""Data: text pairs from JSONL files or seeded curriculum generators, as PyG graph pairs.

* :class:`TextPair` (``text_pair.py``): one (input, target) example with provenance.
* :func:`read_jsonl` (``jsonl.py``): the pairs, kindergarten, math and gsm8k JSONL
  formats of GRAPHEME; its expression trees in ``expression_tree.py``, its
  GSM8K word problems in ``gsm8k.py``; :func:`read_tsv` (``tsv.py``): tab-separated
  pairs (SIGMORPHON, WikiPron); :func:`read_pair_file` (``pair_files.py``): either, by
  the file's name; both read through the one line loop of ``line_reader.py``, as does
  :class:`~pyg_grapheme.data.input_files.InputReader` (``input_files.py``): files of
  inputs alone, without targets (``predict --input words.txt``).
* :func:`generate`, :data:`TASKS`, :func:`space_size` (``curriculum.py``): copy,
  drop_last, dedupe, squeeze_spaces, double, spaced, strip and math levels 1-7,
  seeded, no download; the input sets are indexed exactly in ``string_tasks.py``,
  ``math_expressions.py`` (levels 1-2) and ``math_levels.py`` (levels 3-7).
* ``python -m pyg_grapheme.data.generate`` (``generate.py``): any task or level as JSONL.
* :data:`ALPHABETS` (``alphabets.py``): grapheme-cluster alphabets, Latin to emoji.
* Polish notation: the grammar and :func:`parse_polish_tree`
  (``polish_grammar.py``); :func:`format_result` and the arithmetic of levels 1-2
  (``math_expressions.py``); sympy conversion and the canonical answer form
  (``symbolic_polish.py``); an engine that answers any question of the notation
  (evaluate, ``d/dx``, ``int``, solve) as the curriculum does (``polish_engine.py``).
* :class:`PairDataset`, :func:`collate_pairs` (``pair_dataset.py``): graphs for training.
"""

import importlib
import sys
import types

from pyg_grapheme.data.alphabets import ALPHABETS, resolve_alphabet
from pyg_grapheme.data.curriculum import TASKS, generate, space_size
from pyg_grapheme.data.expression_tree import ExpressionTreeError, tree_to_polish
from pyg_grapheme.data.jsonl import FORMATS, JsonlFormatError, JsonlPairs, read_jsonl
from pyg_grapheme.data.math_expressions import evaluate_polish, format_result, parse_polish
from pyg_grapheme.data.math_levels import MATH_LEVELS
from pyg_grapheme.data.pair_files import read_pair_file
from pyg_grapheme.data.polish_grammar import parse_polish_tree
from pyg_grapheme.data.symbolic_polish import canonical_form, sympy_to_polish, tree_to_sympy
from pyg_grapheme.data.text_pair import TextPair
from pyg_grapheme.data.tsv import read_tsv

__all__ = [
    "ALPHABETS",
    "FORMATS",
    "MATH_LEVELS",
    "TASKS",
    "ExpressionTreeError",
    "JsonlFormatError",
    "JsonlPairs",
    "PairDataset",
    "TextPair",
    "canonical_form",
    "collate_pairs",
    "evaluate_polish",
    "format_result",
    "generate",
    "parse_polish",
    "parse_polish_tree",
    "read_jsonl",
    "read_pair_file",
    "read_tsv",
    "resolve_alphabet",
    "space_size",
    "sympy_to_polish",
    "tree_to_polish",
    "tree_to_sympy",
]


class _Package(types.ModuleType):
    """This package, keeping ``generate`` the function.

    Importing the command-line module ``pyg_grapheme.data.generate`` makes Python
    set the package attribute ``generate`` to that module, which would shadow the
    function for every later ``from pyg_grapheme.data import generate``. The
    module stays reachable as ``sys.modules["pyg_grapheme.data.generate"]`` and
    through ``from pyg_grapheme.data.generate import main``.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if name == "generate" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


# The graph side (torch and PyG) loads when first asked for: the generators, the JSONL
# readers and `python -m pyg_grapheme.data.generate` need no torch, whose import (with
# PyG's) took that command's start from about 1 CPU second to 9.
_LAZY = {
    "PairDataset": "pyg_grapheme.data.pair_dataset",
    "collate_pairs": "pyg_grapheme.data.pair_dataset",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


sys.modules[__name__].__class__ = _Package
