r"""Run features: where a node sits in its run of same-category graphemes.

A *run* is a maximal stretch of consecutive graphemes of one Unicode
category group (letters, digits, punctuation, ..., :data:`~pyg_grapheme.text.CATEGORY_GROUPS`).
Each node gets

- its **place**: distance to the run's right end, one-hot over
  :math:`0, 1, \ldots, P - 1` (the last bucket is "P - 1 or more"), and
- its run's **ordinal** among the runs of the same group in its text,
  one-hot over :math:`0, 1, \ldots, O - 1` (the last bucket is "O - 1 or more").

For numbers these are the place value of a digit (units, tens, ...) and which
number of the text it belongs to; for words, a letter's distance to the word
end and the word's ordinal. They are read off the category features and the
chain order only, so they mean the same in any script and at any length.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pyg_grapheme.text import CATEGORY_GROUPS, FeatureLayout

__all__ = ["NUM_ORDINALS", "NUM_PLACES", "run_position_features"]

NUM_PLACES = 4
"""Buckets of the distance to the run's right end: 0, 1, 2, 3+."""
NUM_ORDINALS = 3
"""Buckets of the run's ordinal among same-group runs of its text: 0, 1, 2+."""


def run_position_features(x: Tensor, pos: Tensor) -> Tensor:
    """``[N, NUM_PLACES + NUM_ORDINALS]`` run features of chain nodes (module docstring).

    Nodes of one text must be contiguous and in reading order with ``pos``
    starting at 0 (what :func:`~pyg_grapheme.text.graphs_from_texts` builds).
    Vectorised: runs come from a cumulative sum of "group changes here",
    ordinals from a stable sort of the runs by (text, group).

    Args:
        x: ``[N, FeatureLayout.width]`` text features.
        pos: ``LongTensor[N]`` reading position of each node in its text.
    """
    num_nodes = x.size(0)
    if num_nodes == 0:
        return x.new_zeros(0, NUM_PLACES + NUM_ORDINALS)
    group = x[:, FeatureLayout.category_group].argmax(dim=1)
    text_start = pos == 0
    previous = torch.cat([group.new_full((1,), -1), group[:-1]])
    start = text_start | (group != previous)
    run = torch.cumsum(start.long(), dim=0) - 1  # [N] run id
    num_runs = int(run[-1]) + 1
    index = torch.arange(num_nodes, device=x.device)
    run_end = torch.full((num_runs,), -1, dtype=torch.long, device=x.device)
    run_end = run_end.scatter_reduce(0, run, index, reduce="amax")
    place = (run_end[run] - index).clamp(max=NUM_PLACES - 1)
    # Ordinal of each run among the runs of the same group in the same text.
    text = torch.cumsum(text_start.long(), dim=0) - 1
    run_first = index[start]
    key = text[run_first] * len(CATEGORY_GROUPS) + group[run_first]
    order = torch.sort(key, stable=True).indices
    _, inverse = torch.unique_consecutive(key[order], return_inverse=True)
    rank = torch.arange(num_runs, device=x.device)
    first = torch.full((int(inverse.max()) + 1,), num_runs, dtype=torch.long, device=x.device)
    first = first.scatter_reduce(0, inverse, rank, reduce="amin")
    ordinal = torch.empty_like(rank)
    ordinal[order] = rank - first[inverse]
    ordinal = ordinal.clamp(max=NUM_ORDINALS - 1)[run]
    return torch.cat(
        [
            torch.nn.functional.one_hot(place, NUM_PLACES).to(x.dtype),
            torch.nn.functional.one_hot(ordinal, NUM_ORDINALS).to(x.dtype),
        ],
        dim=1,
    )
