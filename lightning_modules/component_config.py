"""A component's configuration (``class_path`` + ``init_args``), read back from the live object.

The LightningModule receives its network and objective as objects (LightningCLI
builds them from ``class_path``/``init_args`` in YAML). A checkpoint must be
able to rebuild them, whether the module was made by the CLI or in Python, so
the module saves each component's configuration as a hyper-parameter:

- :func:`component_config` reads it off the object: every constructor
  argument must be stored as an attribute of the same name (the PyG
  convention our modules follow); nested components become nested configs;
- :func:`build_component` turns such a config back into the object, for
  ``load_from_checkpoint`` outside the CLI. Only classes that are already
  imported and subclass the expected type are built: a checkpoint cannot make
  this import or run arbitrary code.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Mapping
from typing import Any, TypeVar

import torch

__all__ = ["build_component", "component_config"]

T = TypeVar("T")


def component_config(component: torch.nn.Module) -> dict[str, Any]:
    """``{"class_path": ..., "init_args": {...}}`` of ``component``, recursively."""
    cls = type(component)
    init_args: dict[str, Any] = {}
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if not hasattr(component, name):
            raise TypeError(
                f"{cls.__name__} does not keep its constructor argument {name!r} as an "
                "attribute of the same name, so its configuration cannot be saved"
            )
        value = getattr(component, name)
        if isinstance(value, torch.nn.Module):
            value = component_config(value)
        elif isinstance(value, tuple):
            value = list(value)
        init_args[name] = value
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": init_args}


def _imported_class(class_path: str) -> type:
    module_name, _, name = class_path.rpartition(".")
    module = sys.modules.get(module_name)
    cls = getattr(module, name, None) if module is not None else None
    if not isinstance(cls, type):
        raise ValueError(
            f"the checkpoint names class {class_path!r}, which is not imported; import the "
            "module that defines it before loading"
        )
    return cls


def build_component(value: T | Mapping[str, Any], expected: type[T]) -> T:
    """``value`` itself if it is an ``expected``, else the object its config describes."""
    if isinstance(value, expected):
        return value
    if not isinstance(value, Mapping) or "class_path" not in value:
        raise TypeError(
            f"expected a {expected.__name__} or its config with 'class_path' and 'init_args', "
            f"got {type(value).__name__}"
        )
    cls = _imported_class(str(value["class_path"]))
    if not issubclass(cls, expected):
        raise ValueError(f"{value['class_path']!r} is not a {expected.__name__}")
    init_args = {
        name: build_component(arg, torch.nn.Module)
        if isinstance(arg, Mapping) and "class_path" in arg
        else arg
        for name, arg in dict(value.get("init_args", {})).items()
    }
    return cls(**init_args)
