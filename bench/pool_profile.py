"""Where ThresholdMergePool's time goes on the small batches of the drop-in benchmark.

Runs the pool (default arguments, as built by ``bench/pool_accuracy.py``) forward and
backward on the first training batches of a benchmark from
:mod:`pyg_grapheme.data.graph_benchmarks` (64 graphs each, features from the first GIN
layer of that script's backbone, untrained) and prints:

* the CPU time of the forward and of the backward pass per batch (one thread, CPU clock,
  no profiler attached) and the tensor operations each runs (ATen calls at the
  dispatcher; the compiled host kernels' work is outside ATen and not counted);
* the ratio of forward + backward to one of the backbone's GIN layers on the same
  batches;
* the pool's own functions, by the time spent in each (``cProfile``, every function
  defined under ``pyg_grapheme/nn/pool/``, whatever module it lives in, so the table
  follows the layer's layout as it changes). The profiler's per-call overhead inflates
  these times, most for the functions called most: read them as shares, and the totals
  above as the cost.

    python bench/pool_profile.py                      # molecules
    python bench/pool_profile.py --benchmark digits --repeats 20
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Measure this checkout's pyg_grapheme (also on a machine where it is not installed).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch_geometric.loader import DataLoader

import pyg_grapheme.nn.pool
from pyg_grapheme.data.graph_benchmarks import BENCHMARKS, load_benchmark
from pyg_grapheme.nn import ThresholdMergePool

try:  # imported as bench.pool_profile, or run as a script with bench/ on the path
    from bench.pool_accuracy import POOLS, PoolNet
except ImportError:
    from pool_accuracy import POOLS, PoolNet  # type: ignore[no-redef]

POOL_SOURCE = Path(pyg_grapheme.nn.pool.__file__).resolve().parent


def count_operations(run: Callable[[], Any]) -> tuple[int, Any]:
    """Tensor operations (ATen calls at the top level of the dispatcher) that ``run`` makes,
    and what it returns."""

    class Counter(TorchDispatchMode):
        count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            Counter.count += 1
            return func(*args, **(kwargs or {}))

    with Counter():
        result = run()
    return Counter.count, result


def pool_functions(profile: cProfile.Profile, calls: int) -> list[tuple[str, float, float, int]]:
    """``(name, own ms, total ms, calls)`` per pool call of every profiled function defined
    under :data:`POOL_SOURCE`, the slowest (by own time) first; ``name`` is
    ``module:function:line``."""
    stats = pstats.Stats(profile)
    rows = []
    for (filename, line, function), entry in stats.stats.items():  # type: ignore[attr-defined]
        primitive_calls, _, own, total = entry[:4]
        path = Path(filename)
        if not path.is_absolute() or POOL_SOURCE not in path.resolve().parents:
            continue
        relative = path.resolve().relative_to(POOL_SOURCE).with_suffix("")
        name = f"{'.'.join(relative.parts)}:{function}:{line}"
        rows.append((name, own / calls * 1e3, total / calls * 1e3, primitive_calls // calls))
    return sorted(rows, key=lambda row: -row[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", choices=sorted(BENCHMARKS), default="molecules")
    parser.add_argument("--batches", type=int, default=16, help="training batches of 64 graphs")
    parser.add_argument("--repeats", type=int, default=10, help="passes over the batches")
    parser.add_argument("--top", type=int, default=12, help="pool functions listed")
    args = parser.parse_args(argv)
    if min(args.batches, args.repeats, args.top) < 1:
        parser.error("--batches, --repeats and --top must be at least 1")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = load_benchmark(args.benchmark)
    batches = list(DataLoader(data.train, batch_size=64))[: args.batches]
    model = PoolNet(data.num_features, data.num_classes, POOLS["threshold-matching"])
    pool, layer = model.pool, model.conv3  # the pool and the GIN layer after it
    if not isinstance(pool, ThresholdMergePool):
        raise TypeError(f"pool_profile: expected a ThresholdMergePool, got {type(pool)}")
    with torch.no_grad():
        inputs = [(model.conv1(b.x, b.edge_index).relu(), b.edge_index, b.batch) for b in batches]

    def forward(x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        x_out, _, _, info = pool(x, edge_index, batch)
        return x_out.sum() + info.edge_weight.sum()

    # The first call sets the threshold from the data; one forward and backward also load
    # (or compile) the host kernels, so that no compilation is timed.
    forward(inputs[0][0].clone().requires_grad_(), *inputs[0][1:]).backward()

    forward_seconds = backward_seconds = 0.0
    for _ in range(args.repeats):
        for x, edge_index, batch in inputs:
            x = x.clone().requires_grad_()
            start = time.process_time()
            loss = forward(x, edge_index, batch)
            middle = time.process_time()
            loss.backward()
            forward_seconds += middle - start
            backward_seconds += time.process_time() - middle
    calls = args.repeats * len(inputs)
    nodes = sum(x.size(0) for x, _, _ in inputs) / len(inputs)
    x, edge_index, batch = inputs[0]
    leaf = x.clone().requires_grad_()
    forward_ops, loss = count_operations(lambda: forward(leaf, edge_index, batch))
    backward_ops, _ = count_operations(loss.backward)

    profile = cProfile.Profile(time.process_time)
    profile.enable()
    for _ in range(args.repeats):
        for x, edge_index, batch in inputs:
            forward(x.clone().requires_grad_(), edge_index, batch).backward()
    profile.disable()

    # One GIN layer of the backbone, forward + backward, for scale.
    start = time.process_time()
    for _ in range(args.repeats):
        for x, edge_index, _ in inputs:
            layer(x.clone().requires_grad_(), edge_index).relu().sum().backward()
    gin_seconds = (time.process_time() - start) / calls

    print(
        f"{args.benchmark}: {len(inputs)} batches of 64 graphs, {nodes:.0f} nodes a batch, "
        f"{args.repeats} passes, torch {torch.__version__}, 1 thread, {pool!r}"
    )
    print("\n| pass | ms per batch | tensor operations |\n|---|---|---|")
    print(f"| forward | {forward_seconds / calls * 1e3:.3f} | {forward_ops} |")
    print(f"| backward | {backward_seconds / calls * 1e3:.3f} | {backward_ops} |")
    print(f"| one GIN layer (64 -> 64), forward + backward | {gin_seconds * 1e3:.3f} | - |")
    pool_seconds = (forward_seconds + backward_seconds) / calls
    print(f"\npool forward + backward / one GIN layer: {pool_seconds / gin_seconds:.2f}x")

    rows = pool_functions(profile, calls)
    print(
        f"\nThe pool's functions under cProfile (ms per batch, inflated by the profiler; "
        f"the {min(args.top, len(rows))} with the most own time of {len(rows)}):\n"
    )
    print("| function (module:name:line under nn/pool) | own ms | with callees ms | calls |")
    print("|---|---|---|---|")
    for name, own, total, count in rows[: args.top]:
        print(f"| {name} | {own:.3f} | {total:.3f} | {count} |")


if __name__ == "__main__":
    main()
