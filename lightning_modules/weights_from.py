"""``--model.init_from CKPT``: start a network from another run's weights.

:func:`load_matching_weights` copies every tensor of the network's state (parameters
and buffers) from the checkpoint entry of the same name, with one exception, the
generation head, whose rows are units of the output vocabulary: a unit the checkpoint
knew gets its learnt row (wherever its id is now), and a unit it did not know keeps the
fresh row the network was built with. Units of the checkpoint that this run's data
never writes are dropped with their rows.

Anything else that does not match is an error naming the tensor: a missing one, an
extra one, or a shape that differs (a different width or depth), since a network half
made of fresh layers would train without a word of warning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pyg_grapheme.models import GraphTransformNet

__all__ = ["VOCAB_HEAD", "checkpoint_vocabulary", "load_matching_weights"]

VOCAB_HEAD = "growth.vocab_head."
"""Prefix of the generation head's tensors in the network's state (rows = units)."""

_NET = "net."


def checkpoint_vocabulary(checkpoint: dict[str, Any], where: str) -> list[str]:
    """The output vocabulary a ``lightning_modules.fit`` checkpoint was saved with.

    Raises:
        ValueError: a checkpoint without it (not written by ``lightning_modules.fit``).
    """
    try:
        vocab = checkpoint["hyper_parameters"]["net"]["init_args"]["output_vocab"]
    except (KeyError, TypeError):
        raise ValueError(
            f"{where} is not a checkpoint of lightning_modules.fit (no net.output_vocab in "
            "its hyper-parameters)"
        ) from None
    return list(vocab)


def load_matching_weights(net: GraphTransformNet, path: str | Path) -> int:
    """Copy the weights of the checkpoint at ``path`` into ``net`` (module docstring);
    returns how many of ``net``'s units got a learnt generation row.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a ``fit`` checkpoint, or a tensor that is missing, extra or of
            another shape (one line naming it).
    """
    where = f"--model.init_from {path}"
    if not Path(path).is_file():
        raise FileNotFoundError(f"{where}: no such checkpoint file")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    old_vocab = checkpoint_vocabulary(checkpoint, where)
    saved = {
        key[len(_NET) :]: value
        for key, value in checkpoint.get("state_dict", {}).items()
        if key.startswith(_NET)
    }
    state = net.state_dict()
    extra = [name for name in saved if name not in state and not name.startswith(VOCAB_HEAD)]
    if extra:
        raise ValueError(f"{where}: the checkpoint has net.{extra[0]}, which this network has not")
    old_index = {unit: k for k, unit in enumerate(old_vocab)}
    rows = torch.tensor([old_index.get(unit, -1) for unit in net.output_vocab], dtype=torch.long)
    known = rows >= 0
    merged = {}
    for name, value in state.items():
        if name.startswith(VOCAB_HEAD):
            merged[name] = value.clone()
            if name in saved and bool(known.any()):
                old = saved[name]
                if old.shape[1:] != value.shape[1:]:
                    raise ValueError(
                        f"{where}: net.{name} has rows of shape {tuple(old.shape[1:])} in the "
                        f"checkpoint and {tuple(value.shape[1:])} here"
                    )
                merged[name][known] = old[rows[known]].to(value.dtype)
            continue
        if name not in saved:
            raise ValueError(f"{where}: this network's net.{name} is not in the checkpoint")
        if saved[name].shape != value.shape:
            raise ValueError(
                f"{where}: net.{name} has shape {tuple(saved[name].shape)} in the checkpoint "
                f"and {tuple(value.shape)} here"
            )
        merged[name] = saved[name].to(value.dtype)
    net.load_state_dict(merged)
    return int(known.sum())
