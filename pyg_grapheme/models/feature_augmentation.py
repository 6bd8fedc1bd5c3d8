r"""Grapheme feature augmentation: train on one script, run on any.

A model trained on Latin letters sees only one corner of the feature space:
letter category, lower case, single code point. Greek and Cyrillic look alike
to it, but emoji (symbol category, emoji flag, several code points) are out of
distribution, and a model that leans on those properties fails on them (the
README gives the measured figures and the command that reproduces them).

:func:`randomize_graphemes` replaces, for a random subset of the grapheme
*classes* of a batch (probability ``p`` each),

- the hashed signature (the first ``HASH_DIM`` features) and the hashed
  composition (its base code point, and its other code points when it has any)
  by fresh random unit vectors, and
- the coarse properties other than whitespace (category group, case, digit,
  emoji, size) by a random draw,

consistently for every node of that class, so equal graphemes stay equal and
distinct ones distinct. Whitespace (category ``Z`` and the whitespace flag) is
never altered: tasks such as ``squeeze_spaces`` depend on it. The targets are
class ids, not features, so supervision is untouched.

Tasks whose rules depend on the properties (arithmetic needs to know digits)
keep ``p = 0``, the default.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pyg_grapheme.text import CATEGORY_GROUPS, FeatureLayout

__all__ = ["randomize_graphemes"]

_SEPARATOR_GROUP = CATEGORY_GROUPS.index("Z")
_DIGIT_GROUP = CATEGORY_GROUPS.index("N")
# A redrawn class may land in any group but the separators (whitespace is never redrawn).
_REDRAWN_GROUPS = torch.tensor([g for g in range(len(CATEGORY_GROUPS)) if g != _SEPARATOR_GROUP])


def randomize_graphemes(
    x: Tensor, node_class: Tensor, p: float, generator: torch.Generator | None = None
) -> Tensor:
    """Return a copy of ``x`` with the features of random grapheme classes redrawn.

    Args:
        x: ``[N, FeatureLayout.width]`` text features (``pyg_grapheme.text``).
        node_class: ``LongTensor[N]`` class id of each node (equal grapheme, equal id).
        p: probability that a class is redrawn.
        generator: optional random generator, for reproducibility.

    Returns:
        ``[N, F]`` augmented features (``x`` itself when ``p == 0`` or ``N == 0``).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"augmentation probability must be in [0, 1], got {p}")
    if p == 0.0 or x.size(0) == 0:
        return x
    if x.size(1) != FeatureLayout.width:
        raise ValueError(f"expected {FeatureLayout.width} text features, got {x.size(1)}")
    num_classes = int(node_class.max()) + 1
    device, dtype = x.device, x.dtype
    layout = FeatureLayout

    def draw(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=generator).to(device=device, dtype=dtype)

    chosen = draw(num_classes) < p
    rows = torch.zeros(num_classes, layout.width, device=device, dtype=dtype)
    signature = torch.randn(num_classes, layout.signature.stop, generator=generator)
    rows[:, layout.signature] = torch.nn.functional.normalize(signature, dim=1).to(device, dtype)
    for block in (layout.base, layout.marks):
        drawn = torch.randn(num_classes, block.stop - block.start, generator=generator)
        rows[:, block] = torch.nn.functional.normalize(drawn, dim=1).to(device, dtype)
    pick = torch.randint(len(_REDRAWN_GROUPS), (num_classes,), generator=generator)
    group = _REDRAWN_GROUPS[pick].to(device)
    rows[torch.arange(num_classes, device=device), layout.category_group.start + group] = 1.0
    case = (draw(num_classes, 2) < 0.3).to(dtype)
    rows[:, layout.upper_case], rows[:, layout.lower_case] = case[:, 0], case[:, 1]
    rows[:, layout.digit_value] = torch.where(group == _DIGIT_GROUP, draw(num_classes), 0.0)
    rows[:, layout.emoji] = (draw(num_classes) < 0.5).to(dtype)
    rows[:, layout.extra_code_points] = torch.floor(draw(num_classes) * 4) / 7.0

    node_chosen = chosen[node_class]
    whitespace = (x[:, layout.whitespace] > 0) | (
        x[:, layout.category_group.start + _SEPARATOR_GROUP] > 0
    )
    redraw_props = node_chosen & ~whitespace
    out = x.clone()
    out[node_chosen, layout.signature] = rows[node_class[node_chosen], layout.signature]
    out[node_chosen, layout.base] = rows[node_class[node_chosen], layout.base]
    # A cluster of one code point keeps an empty marks block: its size is not redrawn here.
    has_marks = (x[:, layout.marks] != 0).any(dim=1, keepdim=True).to(dtype)
    out[node_chosen, layout.marks] = (rows[:, layout.marks][node_class] * has_marks)[node_chosen]
    out[redraw_props, layout.properties] = rows[node_class[redraw_props], layout.properties]
    return out
