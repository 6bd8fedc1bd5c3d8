r"""Generated math problems written as GRAPHEME's math records.

The inverse of the math format of :func:`~pyg_grapheme.data.read_jsonl`: a
problem of :mod:`.math_levels` becomes a record that reads back as the same
``(input, target)``::

    {"id": "L3-00001", "input_polish": "(* 12 x)", "expected_result": 84.0,
     "expected_symbolic": null, "level": 3, "bindings": [["x", 7.0]]}

* ``input_polish`` is the input without what the reader writes back in: the
  ``let`` bindings, outermost first, go to ``bindings`` (values as floats, as
  GRAPHEME's ``f64`` wrote them), and the task head of levels 5
  (``d/dx``) and 6 (``int``) is left out, as GRAPHEME's files leave it out.
  Level 7 keeps its ``=``: the reader adds no head there.
* ``expected_result`` is the value as a float (``null`` at levels 5 and 6),
  and ``expected_symbolic`` the target text whenever the value does not print
  as the target (a symbolic answer, or a fraction ``(/ 7 3)`` of level 7).
* ``input_expr`` (GRAPHEME's expression tree) is optional in the
  format and left out.
"""

from __future__ import annotations

from typing import Any

from pyg_grapheme.data.math_expressions import format_result
from pyg_grapheme.data.polish_grammar import is_number, is_symbol, parse_polish_tree, tree_to_text
from pyg_grapheme.data.text_pair import TextPair

__all__ = ["math_record"]

_TASK_HEADS = {5: "d/dx", 6: "int"}


def math_record(pair: TextPair, level: int, record_id: str) -> dict[str, Any]:
    """GRAPHEME's record of a generated math pair (module docstring).

    Args:
        pair: a pair of :func:`~pyg_grapheme.data.generate` ``("math", ...,
            level=level)``; its ``meta["expected_result"]`` is used.
        level: its level, 1-7.
        record_id: the record's ``id`` (``"L3-00001"``).

    Raises:
        ValueError: an input that does not have the shape of its level (a level 5
            input without ``d/dx``, a ``let`` that binds something other than a
            number to a symbol).
    """
    tree = parse_polish_tree(pair.input)
    bindings: list[list[Any]] = []
    while isinstance(tree, tuple) and tree[0] == "let":
        _, name, value, tree = tree
        if not (isinstance(name, str) and is_symbol(name) and isinstance(value, str)):
            raise ValueError(f"level {level} input {pair.input!r}: let must bind a symbol")
        if not is_number(value):
            raise ValueError(f"level {level} input {pair.input!r}: let must bind a number")
        bindings.append([name, float(value)])
    if level in _TASK_HEADS:
        if not (isinstance(tree, tuple) and tree[0] == _TASK_HEADS[level]):
            raise ValueError(f"level {level} input {pair.input!r} must be ({_TASK_HEADS[level]} F)")
        tree = tree[1]
    result = pair.meta["expected_result"]
    printed = None if result is None else format_result(result)
    return {
        "id": record_id,
        "input_polish": tree_to_text(tree),
        "expected_result": result,
        "expected_symbolic": None if printed == pair.target else pair.target,
        "level": level,
        "bindings": bindings,
    }
