"""ThresholdMergePool against PyG's EdgePooling, ClusterPooling and one GCNConv layer.

Times forward + backward on batches of chain graphs (32 nodes each, PyG's
undirected layout: both directions, coalesced) and of random sparse graphs (32 nodes each, average degree 4), all
with 64 features, side by side in one run, and prints the ratios. Node
features come in blocks of 4 consecutive nodes around a shared prototype
(cosine ~0.9 inside a block, ~0 across), so chains merge about 4:1 and random
graphs merge where an edge falls inside a block.

Memory: ``saved`` is the size of the tensors autograd keeps for backward
(exact, unique storages, inputs excluded); ``peak`` is the largest growth of
the resident set during forward + backward, sampled every millisecond.

ClusterPooling builds dense N x N matrices and EdgePooling walks every edge in
Python; both are skipped above ``--cluster-pool-max`` / ``--edge-pool-max``
nodes (the output says so).

    python bench/pool.py                   # 2k .. 1M nodes
    python bench/pool.py --quick           # 2k and 8k nodes, fewer repeats
    python bench/pool.py --sizes 8192 65536 --repeats 7 --threads 1
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch_geometric.nn import GCNConv
from torch_geometric.nn.pool import ClusterPooling, EdgePooling
from torch_geometric.utils import coalesce, to_undirected

from pyg_grapheme.nn import ThresholdMergePool

GRAPH_SIZE = 32  # nodes per graph in the batch
CHANNELS = 64
BLOCK = 4  # consecutive nodes sharing a feature prototype
PAGE = 4096  # bytes per page for /proc/self/statm


def chain_batch(num_nodes: int) -> torch.Tensor:
    """Edges of ``num_nodes // 32`` chains of 32 nodes in PyG's undirected layout
    (both directions, coalesced, as ``to_undirected`` returns them)."""
    base = torch.arange(num_nodes).view(-1, GRAPH_SIZE)
    src, dst = base[:, :-1].reshape(-1), base[:, 1:].reshape(-1)
    return to_undirected(torch.stack([src, dst]), num_nodes=num_nodes)


def random_batch(num_nodes: int, gen: torch.Generator) -> torch.Tensor:
    """Edges of ``num_nodes // 32`` random graphs of 32 nodes: each node draws two
    partners in its graph (average degree about 4), both directions, no duplicates."""
    src = torch.arange(num_nodes).repeat_interleave(2)
    offset = torch.randint(1, GRAPH_SIZE, (src.numel(),), generator=gen)
    dst = src // GRAPH_SIZE * GRAPH_SIZE + (src % GRAPH_SIZE + offset) % GRAPH_SIZE
    edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)
    return coalesce(edge_index, num_nodes=num_nodes)


def block_features(num_nodes: int, gen: torch.Generator) -> torch.Tensor:
    prototypes = torch.randn(num_nodes // BLOCK + 1, CHANNELS, generator=gen)
    noise = torch.randn(num_nodes, CHANNELS, generator=gen)
    return prototypes[torch.arange(num_nodes) // BLOCK] + 0.35 * noise


@dataclass
class Result:
    ms: float | None = None
    saved_mb: float | None = None
    peak_mb: float | None = None
    kept: float | None = None
    note: str = ""


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def peak_rss_growth(fn: Callable[[], None]) -> float:
    """Largest RSS growth (MB) while ``fn`` runs, sampled every millisecond."""
    base = rss_bytes()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    peak[0] = max(peak[0], rss_bytes())
    return (peak[0] - base) / 2**20


def saved_for_backward(fn: Callable[[], torch.Tensor], inputs: list[torch.Tensor]) -> float:
    """MB of unique storages autograd saves during ``fn`` (inputs excluded)."""
    skip = {t.untyped_storage().data_ptr() for t in inputs}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(storages.values()) / 2**20


@dataclass
class Method:
    module: torch.nn.Module
    loss: Callable[[], torch.Tensor]  # forward pass to a scalar
    kept: float | None = None  # pools: output nodes / input nodes of the last call


def make_methods(
    x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor
) -> dict[str, Method]:
    gcn = GCNConv(CHANNELS, CHANNELS).to(x.device)
    methods = {"GCNConv": Method(gcn, lambda: gcn(x, edge_index).sum())}
    pools = {
        "ThresholdMergePool": ThresholdMergePool(CHANNELS),
        "EdgePooling": EdgePooling(CHANNELS),
        "ClusterPooling": ClusterPooling(CHANNELS),
    }
    for name, pool in pools.items():
        pool = pool.to(x.device)
        method = Method(pool, lambda: torch.zeros(()))

        def loss(pool: torch.nn.Module = pool, method: Method = method) -> torch.Tensor:
            out = pool(x, edge_index, batch)
            method.kept = out[0].size(0) / x.size(0)
            return out[0].sum()

        method.loss = loss
        methods[name] = method
    return methods


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def time_once(method: Method, x: torch.Tensor, clock: str) -> float:
    method.module.zero_grad(set_to_none=True)
    x.grad = None
    now = CLOCKS[clock]
    synchronize = torch.cuda.synchronize if x.is_cuda else lambda: None
    synchronize()
    start = now()
    method.loss().backward()
    synchronize()  # kernels run asynchronously: wait for them before reading the clock
    return (now() - start) * 1e3


def bench_size(
    kind: str, num_nodes: int, args: argparse.Namespace, gen: torch.Generator
) -> tuple[int, dict[str, Result]]:
    edge_index = chain_batch(num_nodes) if kind == "chain" else random_batch(num_nodes, gen)
    x = block_features(num_nodes, gen)
    batch = torch.arange(num_nodes // GRAPH_SIZE).repeat_interleave(GRAPH_SIZE)
    edge_index, batch = edge_index.to(args.device), batch.to(args.device)
    x = x.to(args.device).requires_grad_(True)
    methods = make_methods(x, edge_index, batch)
    results = {name: Result() for name in methods}
    caps = {"EdgePooling": args.edge_pool_max, "ClusterPooling": args.cluster_pool_max}
    active = []
    for name in methods:
        if name in caps and num_nodes > caps[name]:
            results[name].note = f"skipped above {caps[name]} nodes"
        else:
            active.append(name)

    repeats = args.repeats if num_nodes <= 65536 else max(1, args.repeats // 2)
    times: dict[str, list[float]] = {name: [] for name in active}
    for name in active:  # one untimed warm-up call at this size (allocator, caches)
        if name != "ClusterPooling":
            time_once(methods[name], x, args.clock)
    for r in range(repeats):
        order = active[r % len(active) :] + active[: r % len(active)]  # rotate: fair under load
        for name in order:
            if name == "ClusterPooling" and r > 0:
                continue  # seconds per call: one timed call
            times[name].append(time_once(methods[name], x, args.clock))
    for name in active:
        method = methods[name]
        results[name].ms = min(times[name])
        if args.memory:
            results[name].saved_mb = saved_for_backward(method.loss, [x, edge_index, batch])
            results[name].peak_mb = peak_rss_growth(lambda m=method: m.loss().backward())
        results[name].kept = method.kept
    return edge_index.size(1), results


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a / b:.2f}x"


def print_table(kind: str, rows: list[tuple[int, int, dict[str, Result]]], memory: bool) -> None:
    print(
        f"\n## {kind} graphs ({GRAPH_SIZE} nodes each, d={CHANNELS}), forward+backward, ms "
        f"(best of repeats)\n"
    )
    head = (
        "| N | E | kept (ours) | GCNConv | ThresholdMergePool | ours / GCN | EdgePooling "
        "| EdgePool / ours | ClusterPooling | ClusterPool / ours | ours us/edge |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    notes = []
    for num_nodes, num_edges, res in rows:
        g, o, e, c = (
            res[k] for k in ("GCNConv", "ThresholdMergePool", "EdgePooling", "ClusterPooling")
        )
        print(
            f"| {num_nodes} | {num_edges} | {fmt(o.kept, '.2f')} | {fmt(g.ms, '.2f')} | "
            f"{fmt(o.ms, '.2f')} | {ratio(o.ms, g.ms)} | {fmt(e.ms, '.1f')} | "
            f"{ratio(e.ms, o.ms)} | {fmt(c.ms, '.0f')} | {ratio(c.ms, o.ms)} | "
            f"{fmt(o.ms * 1e3 / num_edges if o.ms else None, '.3f')} |"
        )
        for name, r in res.items():
            if r.note:
                notes.append(f"N={num_nodes}: {name} {r.note}")
    if notes:
        print("\n" + "\n".join(f"- {n}" for n in sorted(set(notes), key=notes.index)))
    if memory:
        print(f"\n### {kind}: memory, MB (saved for backward / peak RSS growth)\n")
        print(
            "| N | E | GCNConv | ThresholdMergePool | ours saved B/edge | EdgePooling "
            "| ClusterPooling |"
        )
        print("|---|---|---|---|---|---|---|")
        for num_nodes, num_edges, res in rows:
            cells = []
            for name in ("GCNConv", "ThresholdMergePool", "EdgePooling", "ClusterPooling"):
                r = res[name]
                cells.append("-" if r.saved_mb is None else f"{r.saved_mb:.1f} / {r.peak_mb:.0f}")
            per_edge = res["ThresholdMergePool"].saved_mb
            per_edge_s = "-" if per_edge is None else f"{per_edge * 2**20 / num_edges:.0f}"
            print(
                f"| {num_nodes} | {num_edges} | {cells[0]} | {cells[1]} | {per_edge_s} | "
                f"{cells[2]} | {cells[3]} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[2048, 8192, 65536, 262144, 1048576],
        help="total nodes per batch (multiples of 32)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per method and size")
    parser.add_argument("--graphs", choices=["chain", "random", "both"], default="both")
    parser.add_argument(
        "--edge-pool-max", type=int, default=262144, help="skip EdgePooling above this many nodes"
    )
    parser.add_argument(
        "--cluster-pool-max",
        type=int,
        default=8192,
        help="skip ClusterPooling (dense N x N) above this many nodes",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall: elapsed time; cpu: process CPU time (with --threads 1, the compute time "
        "even when other jobs share the cores)",
    )
    parser.add_argument(
        "--no-memory", dest="memory", action="store_false", help="skip the memory columns"
    )
    parser.add_argument("--quick", action="store_true", help="2k and 8k nodes, 3 repeats")
    parser.add_argument(
        "--device", default="cpu", help="cpu or cuda (on cuda: wall clock, no memory columns)"
    )
    args = parser.parse_args()
    if args.device != "cpu":
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            parser.error("--device cuda: no CUDA device is available")
        args.clock, args.memory = "wall", False  # RSS and CPU time do not see the GPU
    if args.quick:
        args.sizes, args.repeats = [2048, 8192], 3
    if any(n % GRAPH_SIZE for n in args.sizes):
        parser.error(f"--sizes must be multiples of {GRAPH_SIZE}")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.device}, {torch.get_num_threads()} threads, "
        f"{args.clock} clock, "
        f"sizes {args.sizes}, repeats {args.repeats}"
    )

    gen = torch.Generator().manual_seed(0)
    # Warm up every method once on a tiny batch (imports, lazy initialisation).
    bench_size(
        "chain", 64, argparse.Namespace(**{**vars(args), "repeats": 1, "memory": False}), gen
    )
    kinds = ["chain", "random"] if args.graphs == "both" else [args.graphs]
    for kind in kinds:
        rows = []
        for num_nodes in args.sizes:
            num_edges, res = bench_size(kind, num_nodes, args, gen)
            rows.append((num_nodes, num_edges, res))
            print(
                f"  {kind} N={num_nodes}: "
                + ", ".join(f"{k} {fmt(v.ms, '.2f')} ms" for k, v in res.items()),
                flush=True,
            )
        print_table(kind, rows, args.memory)
    if args.memory:
        print("\nsaved: tensors kept for backward; peak: resident-set growth during the call.")


if __name__ == "__main__":
    main()
