r"""Grapheme feature augmentation: train on one script, run on any.

A model trained on Latin letters sees only one corner of the feature space:
letter category, lower case, single code point. Greek and Cyrillic look alike
to it, but emoji (symbol category, emoji flag, several code points) are out of
distribution, and a model that leans on those properties fails on them
(measured: 16 % exact match on emoji for ``drop_last`` after Latin training).

:func:`randomize_graphemes` replaces, for a random subset of the grapheme
*classes* of a batch (probability ``p`` each),

- the hashed signature (the first ``HASH_DIM`` features) by a fresh random unit
  vector, and
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

from pyg_grapheme.text import HASH_DIM, PROPERTY_DIM

__all__ = ["randomize_graphemes"]

# Layout of the property block (see pyg_grapheme.text._property_vector).
_GROUPS = slice(0, 7)  # L M N P S Z C
_Z_GROUP = 5
_WHITESPACE = 7
_RANDOM_GROUPS = torch.tensor([0, 1, 2, 3, 4, 6])  # any group but Z


def randomize_graphemes(
    x: Tensor, node_class: Tensor, p: float, generator: torch.Generator | None = None
) -> Tensor:
    """Return a copy of ``x`` with the features of random grapheme classes redrawn.

    Args:
        x: ``[N, HASH_DIM + PROPERTY_DIM]`` text features (``pyg_grapheme.text``).
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
    if x.size(1) != HASH_DIM + PROPERTY_DIM:
        raise ValueError(f"expected {HASH_DIM + PROPERTY_DIM} text features, got {x.size(1)}")
    num_classes = int(node_class.max()) + 1
    device, dtype = x.device, x.dtype

    def draw(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=generator).to(device=device, dtype=dtype)

    chosen = draw(num_classes) < p
    signature = torch.randn(num_classes, HASH_DIM, generator=generator).to(device, dtype)
    signature = torch.nn.functional.normalize(signature, dim=1)
    groups = _RANDOM_GROUPS[torch.randint(len(_RANDOM_GROUPS), (num_classes,), generator=generator)]
    props = torch.zeros(num_classes, PROPERTY_DIM, device=device, dtype=dtype)
    props[torch.arange(num_classes), groups.to(device)] = 1.0
    props[:, 8:10] = (draw(num_classes, 2) < 0.3).to(dtype)  # upper / lower case flags
    props[:, 10] = torch.where(groups.to(device) == 2, draw(num_classes), 0.0)  # digit value
    props[:, 11] = (draw(num_classes) < 0.5).to(dtype)  # emoji flag
    props[:, 12] = torch.floor(draw(num_classes) * 4) / 7.0  # code points - 1, scaled

    node_chosen = chosen[node_class]
    whitespace = (x[:, HASH_DIM + _WHITESPACE] > 0) | (x[:, HASH_DIM + _Z_GROUP] > 0)
    redraw_props = node_chosen & ~whitespace
    out = x.clone()
    out[node_chosen, :HASH_DIM] = signature[node_class[node_chosen]]
    out[redraw_props, HASH_DIM:] = props[node_class[redraw_props]]
    return out
