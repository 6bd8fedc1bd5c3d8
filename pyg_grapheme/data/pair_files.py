"""One entry point for a file of pairs, whatever its format: a name ending in ``.tsv``
is read as tab-separated pairs (:mod:`.tsv`), any other as JSONL (:mod:`.jsonl`, its
four record formats detected from the first record). The command lines
(``lightning_modules.fit``'s ``--data.*_path``, ``predict --input``) read through it.
"""

from __future__ import annotations

import os

from pyg_grapheme.data.jsonl import JsonlPairs, JsonlReader, read_jsonl
from pyg_grapheme.data.tsv import TsvReader, is_tsv_path, read_tsv

__all__ = ["pair_file_reader", "read_pair_file"]


def read_pair_file(
    path: str | os.PathLike[str], skip_bad_lines: bool = False, *, gsm8k_target: str = "final"
) -> JsonlPairs:
    """The pairs of a ``.tsv`` file (:func:`~pyg_grapheme.data.tsv.read_tsv`) or of a
    JSONL file (:func:`~pyg_grapheme.data.read_jsonl`; ``gsm8k_target`` is its option).

    Raises:
        JsonlFormatError: the first malformed line (``path:line: problem``), a file
            without records, or a folder.
        OSError: the file cannot be read.
    """
    if is_tsv_path(path):
        return read_tsv(path, skip_bad_lines)
    return read_jsonl(path, skip_bad_lines, gsm8k_target=gsm8k_target)


def pair_file_reader(
    path: str | os.PathLike[str], skip_bad_lines: bool = False
) -> JsonlReader | TsvReader:
    """A streaming reader of a ``.tsv`` or JSONL pair file (iterate for the pairs, read
    one line at a time; ``.errors`` and ``.warn`` as :class:`JsonlReader`'s)."""
    if is_tsv_path(path):
        return TsvReader(path, skip_bad_lines)
    return JsonlReader(path, skip_bad_lines)
