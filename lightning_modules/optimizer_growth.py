"""Keep an optimizer in step with a network whose parameters were replaced by larger ones.

When the output vocabulary grows (:meth:`GraphTransformNet.extend_vocabulary
<pyg_grapheme.models.GraphTransformNet.extend_vocabulary>`), the generation head is a new
module: its parameters are new objects, with more rows. An optimizer built before still
holds the old ones, and would go on stepping tensors the network no longer uses.
:func:`grow_optimizer` points it at the new parameters and keeps what it learnt:

- a replaced parameter takes the old one's place in its group, and its state (Adam's
  moments, SGD's momentum) is copied into the leading rows of zero tensors of the new
  shape, so the rows that were there go on as if nothing happened and the new rows
  start from zero moments (scalar entries such as Adam's step count are kept);
- a parameter the network did not have before (a head created for a first unit) joins
  the first group, with no state yet, as a parameter seen for the first time does.

The learning-rate scheduler, which holds the optimizer, is untouched.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

__all__ = ["grow_optimizer"]


def _grown(value: object, old: Tensor, new: Tensor, name: str) -> object:
    """``value`` (a state entry of ``old``) for ``new``: leading rows copied, rest zero."""
    if not isinstance(value, Tensor) or value.shape != old.shape:
        return value
    if value.dim() != new.dim() or any(a > b for a, b in zip(old.shape, new.shape)):
        raise ValueError(
            f"optimizer state of {name}: cannot grow shape {tuple(old.shape)} into "
            f"{tuple(new.shape)} (a parameter may only gain rows)"
        )
    grown = value.new_zeros(new.shape)
    grown[tuple(slice(0, size) for size in old.shape)] = value
    return grown


def grow_optimizer(
    optimizer: torch.optim.Optimizer,
    before: Mapping[str, torch.nn.Parameter],
    after: Mapping[str, torch.nn.Parameter],
) -> None:
    """Move ``optimizer`` from a network's parameters ``before`` a change to those
    ``after`` it (both ``dict(net.named_parameters())``; module docstring).

    Raises:
        ValueError: a parameter that disappeared, or a replacement that is not the old
            shape with more rows.
    """
    gone = [name for name in before if name not in after]
    if gone:
        raise ValueError(f"the network lost parameters {gone}; an optimizer cannot follow")
    replaced = {id(before[name]): name for name in before if after[name] is not before[name]}
    for group in optimizer.param_groups:
        params = group["params"]
        for k, param in enumerate(params):
            name = replaced.get(id(param))
            if name is None:
                continue
            new = after[name]
            params[k] = new
            state = optimizer.state.pop(param, None)
            if state:
                optimizer.state[new] = {
                    key: _grown(value, param, new, name) for key, value in state.items()
                }
    added = [after[name] for name in after if name not in before]
    if added:
        optimizer.param_groups[0]["params"].extend(added)
