"""Options of ``fit`` checked before anything is built: a bad value is one line naming the option.

jsonargparse checks types (``--model.lr abc`` is refused); these checks are about
values the types allow but the run cannot use, and that would otherwise fail
late with a traceback (``--trainer.check_val_every_n_epoch 0`` divides by zero
after the first epoch, ``--torch_threads 0`` is a RuntimeError) or, worse, run
and silently do the wrong thing (a negative ``--trainer.gradient_clip_val``
scales every gradient by a negative factor, so training climbs the loss).

Errors raised while the configured classes are built (a constructor refusing
``--model.net.init_args.hidden_channels -3`` with a RuntimeError about tensor
sizes) are reported as bad options too (:func:`building`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

__all__ = ["building", "check_fit_options"]

_BAD_INPUT = (ValueError, TypeError, KeyError, OSError)
# Errors that are about options already and say which one (Lightning's).
_NAMED_BY_TYPE = ("MisconfigurationException",)

_LOWEST = {
    "torch_threads": 1,
    "trainer.check_val_every_n_epoch": 1,
    "trainer.accumulate_grad_batches": 1,
    "trainer.num_sanity_val_steps": -1,
    "trainer.gradient_clip_val": 0,
    "trainer.log_every_n_steps": 0,
    "data.batch_size": 1,
    "data.n_train": 1,
    "data.n_val": 1,
    "data.num_workers": 0,
    "model.weight_decay": 0,
}
"""The smallest value each option can take (``None`` is always allowed: the default)."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _at_least(options: Mapping[str, Any], key: str, low: float, allow_none: bool = True) -> None:
    value = options.get(key)
    if value is None and allow_none:
        return
    if not _number(value) or not math.isfinite(value) or value < low:
        raise ValueError(f"--{key} must be a number >= {low:g}, got {value!r}")


def check_fit_options(config: Mapping[str, Any]) -> None:
    """Raise a ``ValueError`` naming the first option of the parsed ``fit`` config (flat keys
    such as ``trainer.max_epochs`` are looked up in its nested sections) whose value cannot
    work."""
    flat = _flat(config)
    for key, low in _LOWEST.items():
        _at_least(flat, key, low)
    value = flat.get("model.lr")
    if value is not None and not (_number(value) and math.isfinite(value) and value > 0):
        raise ValueError(f"--model.lr must be a positive number, got {value!r}")
    _at_least(flat, "model.weight_decay", 0)
    warmup = flat.get("model.warmup")
    if warmup is not None and not (_number(warmup) and 0 < warmup < 1):
        raise ValueError(f"--model.warmup must lie strictly between 0 and 1, got {warmup!r}")


def _flat(options: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(options, Mapping) and hasattr(options, "as_dict"):
        options = options.as_dict()
    if not isinstance(options, Mapping):
        return {prefix: options}
    flat: dict[str, Any] = {}
    for key, value in options.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and "class_path" not in value:
            flat.update(_flat(value, name))
        else:
            flat[name] = value
    return flat


@contextmanager
def building() -> Iterator[None]:
    """Turn an error raised while the configured classes are built into a ``ValueError``
    (bad input: one line, exit 2) that says so; bad-input errors pass as they are."""
    try:
        yield
    except _BAD_INPUT:
        raise
    except Exception as exc:
        if type(exc).__name__ in _NAMED_BY_TYPE:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(
            f"the options do not build a model: {type(exc).__name__}: {message}"
        ) from exc
