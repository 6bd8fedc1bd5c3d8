r"""How the pool's Triton kernels are built and launched, shared by every module of
:mod:`pyg_grapheme.nn.pool.gpu`.

Triton is imported on first use (it ships with CUDA builds of torch; CPU-only installs may
lack it): the kernels are plain functions that name ``tl`` as a global, which
:func:`available` binds, and :func:`kernel` turns them into Triton kernels once. Given CPU
tensors they run in Triton's interpreter (``TRITON_INTERPRET=1`` set before Triton is
imported), which is how the tests check every kernel on machines without a GPU.

Kernels that compare or order floating values (similarities, norms, the feature scale) are
built without fused multiply-adds, and divide and take roots correctly rounded
(``tl.div_rn``, ``tl.sqrt_rn``), so that they round as the host kernels and torch do.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

import torch

triton: Any = None
tl: Any = None

BLOCK = 1024  # one program's share of a one-dimensional launch
ROW_BLOCK = 128  # rows per program where each row loops over the feature channels
TILE = 2048  # elements of one program's [rows, channels] tile (kernels whose order is free)

# 32-bit mask and the largest 32-bit value: the low half of a matching key holds the pair.
LOW_BITS = 0xFFFFFFFF


def available() -> bool:
    """Whether Triton is importable (imports it on the first call and binds ``tl`` in every
    kernel module of this package)."""
    global triton, tl
    if triton is None:
        try:
            import triton as triton_module
            import triton.language as language
        except ImportError:
            return False
        triton, tl = triton_module, language
        for name, module in list(sys.modules.items()):
            if name.startswith("pyg_grapheme.nn.pool.gpu.") and hasattr(module, "tl"):
                module.tl = language
        for function in _DEVICE_FUNCTIONS:
            module = sys.modules[function.__module__]
            setattr(module, function.__name__, triton.jit(function))
    return True


_DEVICE_FUNCTIONS: list[Callable[..., Any]] = []


def device_function(function: Callable[..., Any]) -> Callable[..., Any]:
    """Marks ``function`` as a helper the kernels call: once Triton is imported
    (:func:`available`) its module's name for it is bound to the Triton function (Triton
    compiles a call only to one)."""
    _DEVICE_FUNCTIONS.append(function)
    return function


def interpreted() -> bool:
    """Whether Triton runs its kernels in its interpreter (``TRITON_INTERPRET=1`` set before
    Triton was imported): then they take CPU tensors, which is how the tests check them on
    machines without a GPU."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


_KERNELS: dict[Callable[..., None], Any] = {}


def kernel(function: Callable[..., None], device: torch.device) -> Any:
    """``function`` as a Triton kernel (built once), for tensors on ``device``.

    Raises:
        RuntimeError: without Triton, or for CPU tensors outside Triton's interpreter.
    """
    if not available():
        raise RuntimeError("pyg_grapheme.nn.pool.gpu needs Triton (pip install triton)")
    if device.type != "cuda" and not interpreted():
        raise RuntimeError(
            f"pyg_grapheme.nn.pool.gpu: the kernels take CUDA tensors (got {device}), or CPU "
            f"tensors in Triton's interpreter (TRITON_INTERPRET=1 before importing triton)"
        )
    built = _KERNELS.get(function)
    if built is None:
        module = sys.modules[function.__module__]
        if getattr(module, "tl", None) is None:
            module.tl = tl  # type: ignore[attr-defined]
        # Sizes and strides vary from call to call: a kernel specialised on their values (one,
        # or a multiple of 16) or on its pointers' alignment would be compiled again for many
        # batches, for no measurable gain in these memory-bound loops.
        parameters = inspect.signature(function).parameters
        values = [n for n, p in parameters.items() if "constexpr" not in str(p.annotation)]
        sizes = [n for n in values if not n.endswith("_ptr")]
        built = _KERNELS[function] = triton.jit(
            function, do_not_specialize=sizes, do_not_specialize_on_alignment=values
        )
    return built


def grid(size: int, block: int = BLOCK) -> tuple[int]:
    """Programs that cover ``size`` items, ``block`` each (at least one)."""
    return (max(1, (size + block - 1) // block),)


def tile(channels: int) -> tuple[int, int]:
    """``(rows, columns)`` of a program's tile over an :math:`[N, F]` array: the channels
    padded to a power of two (Triton's blocks are), about :data:`TILE` elements.

    A tile loads whole rows, so the threads of a warp read consecutive channels (one or two
    cache lines) and their atomics hit distinct addresses; a loop over the channels with one
    row per thread reads one element of each of 32 rows at a time, and its per-graph atomics
    put 32 threads on one address. Kernels whose arithmetic order the tie rules fix keep
    that loop.
    """
    columns = 1 << max(channels - 1, 0).bit_length()
    return max(1, TILE // columns), columns


def search_steps(size: int) -> int:
    """Halvings a binary search over ``size`` sorted entries needs to end (a kernel's
    compile-time constant: kernels are built once per power of two)."""
    steps = 1
    while (1 << steps) <= size:
        steps += 1
    return steps + 1
