"""Host cost per call of the operations the pool's CUDA path is built from.

Each operation runs 200 times back to back and the wall time is divided by 200; at these
sizes the device finishes each call before the host has launched the next, so the figure
is the host's cost of one call (the launch, the allocator, the Python around it)::

    python bench/gpu_launch_costs.py

Results: ``bench/results/pool_gpu.md`` (needs a CUDA device and Triton).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from pyg_grapheme.nn.pool.gpu import launch

tl: Any = None  # bound to triton.language by launch.kernel() before the first launch


def _copy(out_ptr, in_ptr, size, BLOCK: tl.constexpr):  # type: ignore[no-untyped-def]
    index = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + index, tl.load(in_ptr + index, mask=index < size), mask=index < size)


def per_call_us(function: Callable[[], object], repeats: int = 200) -> float:
    """Microseconds of wall time per call, over ``repeats`` back-to-back calls."""
    for _ in range(10):
        function()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats * 1e6


def operations(size: int, device: torch.device) -> dict[str, Callable[[], object]]:
    """The operations timed at ``size`` nodes (4 * size pair keys, as a graph of average
    degree 4 has)."""
    keys = torch.randint(0, size * size, (4 * size,), device=device)
    keys32 = keys.to(torch.int32)
    values = torch.rand(4 * size, device=device)
    out = torch.empty_like(values)
    index = torch.randint(0, 4 * size, (size,), device=device)
    copy = launch.kernel(_copy, device)
    return {
        "sort int64 (4N)": lambda: torch.sort(keys),
        "sort int32 (4N)": lambda: torch.sort(keys32),
        "sort int64 stable (N)": lambda: torch.sort(keys[:size], stable=True),
        "cumsum int32 (4N)": lambda: torch.cumsum(keys32, 0),
        "zeros (4N)": lambda: torch.zeros(4 * size, device=device),
        "empty (4N)": lambda: torch.empty(4 * size, device=device),
        "add (4N)": lambda: values + values,
        "index_select (N)": lambda: values.index_select(0, index),
        "Triton launch (3 args)": lambda: copy[launch.grid(4 * size)](
            out, values, 4 * size, BLOCK=launch.BLOCK
        ),
        "tolist of 8 (a host read)": lambda: keys[:8].tolist(),
    }


def main() -> None:
    if not torch.cuda.is_available() or not launch.available():
        sys.exit("gpu_launch_costs.py: needs a CUDA device and Triton")
    device = torch.device("cuda")
    for size in (2048, 16384, 131072):
        for name, operation in operations(size, device).items():
            print(f"{size:8d} {name:28s} {per_call_us(operation):8.1f} us")


if __name__ == "__main__":
    main()
