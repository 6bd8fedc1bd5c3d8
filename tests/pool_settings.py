"""The pool with the settings the contract tests were written against."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest.mock import patch

import pytest

from pyg_grapheme.nn import ThresholdMergePool

CLASSIC = {
    "threshold": 0.8,
    "mode": "components",
    "similarity": "cosine",
    "gate_features": 0.0,
    "reduce": "mean",
    "self_loops": False,
}
"""Plain cosine, a fixed starting threshold of 0.8, connected components, ungated means, no
self-loops: the text model's settings, and the ones whose
exact outputs the hand-built cases spell out."""


def classic_pool(*args: Any, **kwargs: Any) -> ThresholdMergePool:
    """``ThresholdMergePool(*args, **kwargs)`` with :data:`CLASSIC` for every option not given."""
    return ThresholdMergePool(*args, **{**CLASSIC, **kwargs})


PATHS = ("host", "tensor", "kernels")
"""The three implementations of the pool's orchestration: the host kernels (CPU default),
the tensor code with its rounds (TorchScript, other dtypes), and the tensor code with the
Triton merge rules and the one deferred read of every size and check (CUDA; here in
Triton's interpreter)."""


def kernels_available() -> bool:
    """Whether the Triton kernels take CPU tensors here (Triton installed and in its
    interpreter, as the conftest sets up where there is no GPU; on a GPU machine the CUDA
    tests run them compiled instead)."""
    from pyg_grapheme.nn.pool.gpu import select as gpu_select

    return gpu_select.available() and gpu_select.interpreted()


@contextmanager
def pool_path(path: str) -> Iterator[None]:
    """Runs every ThresholdMergePool call inside on ``path`` (CPU tensors)."""
    if path == "kernels" and not kernels_available():
        pytest.skip("the Triton kernels need triton (the [test] extra installs it)")
    patches = {
        "host": {},
        "tensor": {"_runs_on_host": False},
        "kernels": {"_runs_on_host": False, "_uses_kernels": True, "_reads_once": True},
    }[path]
    with ExitStack() as stack:
        for name, value in patches.items():
            stack.enter_context(
                patch.object(ThresholdMergePool, name, lambda self, x, value=value: value)
            )
        yield
