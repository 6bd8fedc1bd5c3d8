"""Where ThresholdMergePool's time goes on the small batches of the drop-in benchmark.

Runs the pool (default arguments, as built by ``bench/pool_accuracy.py``) forward and
backward on the first training batches of a benchmark from
:mod:`pyg_grapheme.data.graph_benchmarks` (64 graphs each, features from the first GIN
layer of that script's backbone, untrained), and prints the CPU time of each step of the
forward pass (on CPU the pool runs its compiled host kernels, ``pyg_grapheme.nn.pool.host``:
the integer steps and the autograd Functions), of the backward pass and the number of tensor
operations each runs, then the ratio against one of the backbone's GIN layers (forward +
backward on the same batches). One thread, CPU clock.

    python bench/pool_profile.py                      # molecules
    python bench/pool_profile.py --benchmark digits --repeats 20
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import torch
from pool_accuracy import POOLS, PoolNet
from torch_geometric.loader import DataLoader

from pyg_grapheme.data.graph_benchmarks import BENCHMARKS, load_benchmark
from pyg_grapheme.nn import ThresholdMergePool
from pyg_grapheme.nn.pool import connect, reduce
from pyg_grapheme.nn.pool.host import connect as host_connect
from pyg_grapheme.nn.pool.host import reduce as host_reduce
from pyg_grapheme.nn.pool.host import select as host_select

# The steps of the forward pass on CPU (the host kernels of nn/pool/host, as the pool's
# orchestration calls them).
FUNCTIONS = (
    (host_select, "edge_candidates"),
    (host_select, "pair_scores"),
    (host_select, "greedy_matching"),
    (host_select, "connected_components"),
    (host_select, "matching_roots"),
    (host_select, "number_clusters"),
    (host_reduce, "matching_reduce"),
    (reduce, "component_reduce"),
    (host_connect, "pooled_edges"),
    (host_connect, "edge_weights"),
    (connect, "edge_attr_means"),
)
METHODS = ("_check_input",)


@contextmanager
def timed_steps(totals: dict[str, float]) -> Any:
    """Wraps the pool's steps so that each adds its CPU time to ``totals``; unwraps after."""

    def wrap(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            result = function(*args, **kwargs)
            totals[name] = totals.get(name, 0.0) + time.process_time() - start
            return result

        return timed

    saved: list[tuple[Any, str, Any]] = []
    for module, name in FUNCTIONS:
        saved.append((module, name, getattr(module, name)))
        setattr(module, name, wrap(name, getattr(module, name)))
    for name in METHODS:
        raw = ThresholdMergePool.__dict__[name]  # staticmethod objects stay static
        saved.append((ThresholdMergePool, name, raw))
        function = raw.__func__ if isinstance(raw, staticmethod) else raw
        wrapped = wrap(name, function)
        setattr(
            ThresholdMergePool,
            name,
            staticmethod(wrapped) if isinstance(raw, staticmethod) else wrapped,
        )
    try:
        yield totals
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def count_operations(run: Callable[[], Any]) -> tuple[int, Any]:
    """Tensor operations (ATen calls at the top level of the dispatcher) that ``run`` makes,
    and what it returns."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Counter(TorchDispatchMode):
        count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            Counter.count += 1
            return func(*args, **(kwargs or {}))

    with Counter():
        result = run()
    return Counter.count, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", choices=sorted(BENCHMARKS), default="molecules")
    parser.add_argument("--batches", type=int, default=16, help="training batches of 64 graphs")
    parser.add_argument("--repeats", type=int, default=10, help="passes over the batches")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = load_benchmark(args.benchmark)
    batches = list(DataLoader(data.train, batch_size=64))[: args.batches]
    model = PoolNet(data.num_features, data.num_classes, POOLS["threshold-matching"])
    pool, layer = model.pool, model.conv3  # the pool and the GIN layer after it
    assert isinstance(pool, ThresholdMergePool)
    with torch.no_grad():
        inputs = [(model.conv1(b.x, b.edge_index).relu(), b.edge_index, b.batch) for b in batches]
    # The first call sets the threshold from the data; one forward and backward also load
    # (or compile) the host kernels, so that no compilation is timed.
    x_out, _, _, info = pool(inputs[0][0].clone().requires_grad_(), *inputs[0][1:])
    (x_out.sum() + info.edge_weight.sum()).backward()

    def forward(x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        x_out, _, _, info = pool(x, edge_index, batch)
        return x_out.sum() + info.edge_weight.sum()

    totals: dict[str, float] = {}
    forward_seconds = backward_seconds = 0.0
    with timed_steps(totals):
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

    # One GIN layer of the backbone, forward + backward, for scale.
    start = time.process_time()
    for _ in range(args.repeats):
        for x, edge_index, _ in inputs:
            layer(x.clone().requires_grad_(), edge_index).relu().sum().backward()
    gin_seconds = (time.process_time() - start) / calls

    print(
        f"{args.benchmark}: {len(inputs)} batches of 64 graphs, {nodes:.0f} nodes a batch, "
        f"{args.repeats} passes, torch {torch.__version__}, 1 thread"
    )
    print("| step | ms per batch |\n|---|---|")
    for name, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"| {name} | {seconds / calls * 1e3:.3f} |")
    print(
        f"| **forward** ({forward_ops} tensor operations) | {forward_seconds / calls * 1e3:.3f} |"
    )
    print(
        f"| **backward** ({backward_ops} tensor operations) | "
        f"{backward_seconds / calls * 1e3:.3f} |"
    )
    print(f"| one GIN layer (64 -> 64), forward + backward | {gin_seconds * 1e3:.3f} |")
    pool_seconds = (forward_seconds + backward_seconds) / calls
    print(f"pool forward + backward / one GIN layer: {pool_seconds / gin_seconds:.2f}x")


if __name__ == "__main__":
    main()
