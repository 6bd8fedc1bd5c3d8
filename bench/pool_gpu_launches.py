"""ThresholdMergePool on a GPU: time, kernel launches and host reads per call, against GCNConv
and PyG's pools, side by side in one run; and the CPU/CUDA parity over tied batches.

Each call is a forward and a backward pass on a batch of 32-node graphs (chains in PyG's
undirected layout, or random graphs of average degree 4) with 64 block-structured features
(4 consecutive nodes around one prototype), as in ``bench/pool.py``. Per method and size it
prints the best of ``--repeats`` calls in ms and the ratio to GCNConv; for ours and GCNConv
also the CUDA kernels one call launches (``torch.profiler``) and the operations that wait for
the device (``torch.cuda.set_sync_debug_mode``). EdgePooling and ClusterPooling are skipped
above ``--slow-pool-max`` nodes (the output says so).

    python bench/pool_gpu_launches.py                      # CUDA, 2k .. 1M nodes
    python bench/pool_gpu_launches.py --sizes 2048 --parity 20
    python bench/pool_gpu_launches.py --sizes 131072 1048576 --gather-min-pairs 0
    python bench/pool_gpu_launches.py --parity 0 --launcher both   # direct against Triton's
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

# Measure this checkout's pyg_grapheme (also on a machine where it is not installed).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from pool import CHANNELS, GRAPH_SIZE, block_features, chain_batch, random_batch
from torch_geometric.nn import GCNConv
from torch_geometric.nn.pool import ClusterPooling, EdgePooling, TopKPooling

from bench.command_line import OneLineParser
from pyg_grapheme.nn import ThresholdMergePool
from pyg_grapheme.nn.pool.gpu import launch
from pyg_grapheme.nn.pool.gpu import scores as gpu_scores

DIRECT = ", direct launch)"  # suffix of ours launched directly (launch.DIRECT_LAUNCH)


def methods(
    x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor, launcher: str = "public"
) -> dict:
    """Name -> (module, a forward pass to a scalar). Ours is launched through Triton's
    public launcher, or with ``launcher`` ``"direct"`` directly (``launch.DIRECT_LAUNCH``;
    names ending in :data:`DIRECT`), or with ``"both"`` both ways, one after the other."""
    device = x.device
    gcn = GCNConv(CHANNELS, CHANNELS).to(device)
    out: dict[str, tuple[torch.nn.Module, Callable[[], torch.Tensor]]] = {
        "GCNConv": (gcn, lambda: gcn(x, edge_index).sum())
    }
    ours = {}
    for mode in ("matching", "components"):
        if launcher != "direct":
            ours[f"ours ({mode})"] = ThresholdMergePool(CHANNELS, mode=mode)
        if launcher != "public":
            ours[f"ours ({mode}{DIRECT}"] = ThresholdMergePool(CHANNELS, mode=mode)
    pools = {
        **ours,
        "TopKPooling": TopKPooling(CHANNELS),
        "EdgePooling": EdgePooling(CHANNELS),
        "ClusterPooling": ClusterPooling(CHANNELS),
    }
    for name, pool in pools.items():
        pool = pool.to(device)
        out[name] = (pool, lambda pool=pool: pool(x, edge_index, batch=batch)[0].sum())
    return out


def call(module: torch.nn.Module, loss: Callable[[], torch.Tensor], x: torch.Tensor) -> None:
    module.zero_grad(set_to_none=True)
    x.grad = None
    loss().backward()


def best_ms(module, loss, x: torch.Tensor, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        call(module, loss, x)
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return min(times)


def launches_and_reads(module, loss, x: torch.Tensor) -> tuple[int, int]:
    """CUDA kernels launched and synchronising operations in one call (forward + backward)."""
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        call(module, loss, x)
        torch.cuda.synchronize()
    kernels = sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            call(module, loss, x)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    reads = sum("called a synchronizing" in str(w.message) for w in caught)
    return kernels, reads


def speed(args: argparse.Namespace) -> None:
    gen = torch.Generator().manual_seed(0)
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(f"kind    nodes    {'method':34} ms      x GCNConv  kernels  host reads")
    for kind in ("chain", "random"):
        for num_nodes in args.sizes:
            edge_index = chain_batch(num_nodes) if kind == "chain" else random_batch(num_nodes, gen)
            x = block_features(num_nodes, gen).cuda().requires_grad_(True)
            edge_index = edge_index.cuda()
            batch = torch.arange(num_nodes // GRAPH_SIZE).repeat_interleave(GRAPH_SIZE).cuda()
            base = None
            for name, (module, loss) in methods(x, edge_index, batch, args.launcher).items():
                launch.DIRECT_LAUNCH = name.endswith(DIRECT)
                slow = name in ("EdgePooling", "ClusterPooling")
                if slow and num_nodes > args.slow_pool_max:
                    print(f"{kind:7} {num_nodes:8} {name:34} skipped above {args.slow_pool_max}")
                    continue
                try:
                    call(module, loss, x)  # warm-up: compiles kernels, starts tau, fills caches
                    ms = best_ms(module, loss, x, 1 if slow else args.repeats)
                    counts = ""
                    if not slow and name != "TopKPooling":
                        kernels, reads = launches_and_reads(module, loss, x)
                        counts = f"{kernels:7}  {reads:5}"
                except Exception as error:  # one failing pool must not hide the others
                    print(f"{kind:7} {num_nodes:8} {name:34} failed: {error!r:.300}")
                    continue
                base = ms if name == "GCNConv" else base
                print(f"{kind:7} {num_nodes:8} {name:34} {ms:8.3f} {ms / base:8.2f}x  {counts}")
            launch.DIRECT_LAUNCH = args.launcher != "public"
            sys.stdout.flush()


def profile_table(
    num_nodes: int, rows: int, kind: str = "random", device_only: bool = False
) -> None:
    """Where one call of ours goes on ``kind`` graphs (``"random"`` or ``"chain"``) of
    ``num_nodes`` nodes: the operations by host time (launch-bound sizes) and by device time
    (large sizes; only these with ``device_only``), from ``torch.profiler`` over 3 calls
    after a warm-up."""
    from torch.profiler import ProfilerActivity, profile

    gen = torch.Generator().manual_seed(0)
    x = block_features(num_nodes, gen).cuda().requires_grad_(True)
    edges = chain_batch(num_nodes) if kind == "chain" else random_batch(num_nodes, gen)
    edge_index = edges.cuda()
    batch = torch.arange(num_nodes // GRAPH_SIZE).repeat_interleave(GRAPH_SIZE).cuda()
    for mode in ("matching", "components"):
        pool = ThresholdMergePool(CHANNELS, mode=mode).cuda()

        def loss(pool=pool) -> torch.Tensor:
            return pool(x, edge_index, batch=batch)[0].sum()

        call(pool, loss, x)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(3):
                call(pool, loss, x)
            torch.cuda.synchronize()
        table = prof.key_averages()
        print(f"\n## profile: ours ({mode}), {kind} graphs, {num_nodes} nodes, 3 calls")
        orders = ["self_device_time_total"]
        if not device_only:
            orders.insert(0, "self_cpu_time_total")
        for order in orders:
            print(table.table(sort_by=order, row_limit=rows, max_name_column_width=60))


def parity(count: int) -> None:
    """CPU host kernels against the CUDA path over ``count`` tied batches."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_pool_paths_agree import tied_batch

    differ = 0
    for seed in range(count):
        x, edge_index, batch, options = tied_batch(seed)
        cpu_pool = ThresholdMergePool(**options)
        cpu = cpu_pool(x, edge_index, batch)
        cuda_pool = ThresholdMergePool(**options).cuda()
        gpu = cuda_pool(x.cuda(), edge_index.cuda(), batch.cuda())
        same = (
            torch.equal(cpu[3].cluster, gpu[3].cluster.cpu())
            and torch.equal(cpu[3].merged, gpu[3].merged.cpu())
            and torch.equal(cpu[1], gpu[1].cpu())
            and torch.equal(cpu[2], gpu[2].cpu())
            and torch.allclose(cpu[0], gpu[0].cpu(), atol=1e-5)
        )
        differ += not same
    print(f"parity: {count - differ} of {count} tied batches give the same clusters and edges")


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 16384, 131072, 1048576])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--slow-pool-max", type=int, default=16384)
    parser.add_argument("--parity", type=int, default=200, help="tied batches (0: none)")
    parser.add_argument(
        "--profile",
        type=int,
        nargs="*",
        default=[],
        help="also print torch.profiler tables of ours at these sizes (random graphs)",
    )
    parser.add_argument("--profile-rows", type=int, default=25)
    parser.add_argument(
        "--gather-min-pairs",
        type=int,
        default=None,
        help="candidate pairs from which the similarity's backward runs its pass by node "
        "(default: the library's, gpu.scores.GATHER_MIN_PAIRS; 0: always)",
    )
    parser.add_argument(
        "--gather-rows", type=int, default=None, help="rows a program of the pass by node gathers"
    )
    parser.add_argument("--gather-warps", type=int, default=None, help="its warps a program")
    parser.add_argument(
        "--launcher",
        choices=("direct", "public", "both"),
        default="public",
        help="launch ours' kernels through Triton's public launcher every time (the library's "
        "default), directly after their first launch (launch.DIRECT_LAUNCH), or time both",
    )
    args = parser.parse_args(argv)
    launch.DIRECT_LAUNCH = args.launcher != "public"
    if args.gather_min_pairs is not None:
        gpu_scores.GATHER_MIN_PAIRS = args.gather_min_pairs
    # Triton takes both only as powers of two; anything else would fail inside a launch.
    for flag, value in (("--gather-rows", args.gather_rows), ("--gather-warps", args.gather_warps)):
        if value is not None and (value < 1 or value & (value - 1)):
            parser.error(f"{flag} must be a power of two, got {value}")
    if args.gather_rows is not None:
        gpu_scores.GATHER_ROWS = args.gather_rows
    if args.gather_warps is not None:
        gpu_scores.GATHER_WARPS = args.gather_warps
    print(
        f"# the backward's pass by node from {gpu_scores.GATHER_MIN_PAIRS} candidate pairs, "
        f"{gpu_scores.gather_rows(CHANNELS)} rows and {gpu_scores.GATHER_WARPS} warps a program"
    )
    if not torch.cuda.is_available():
        print("pool_gpu_launches: needs a CUDA device", file=sys.stderr)
        raise SystemExit(2)
    if args.parity:
        try:
            parity(args.parity)
        except Exception as error:  # report, then time anyway
            print(f"parity failed: {error!r:.2000}")
    speed(args)
    for num_nodes in args.profile:
        profile_table(num_nodes, args.profile_rows)
    print(f"# launches of ours that skipped Triton's launcher: {launch.direct_launches()}")
    for failure in launch.DIRECT_FAILURES:
        print(f"# a direct launch failed, Triton's launcher used instead: {failure}")


if __name__ == "__main__":
    main()
