"""The JSON name of a decoded value's type, for error messages about JSON records."""

from __future__ import annotations

from typing import Any

__all__ = ["json_kind"]


def json_kind(value: Any) -> str:
    """``"null"``, ``"boolean"``, ``"number"``, ``"string"``, ``"array"`` or ``"object"``: what
    :func:`json.loads` decoded ``value`` from (``bool`` is tested before ``int``, its base class).
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
