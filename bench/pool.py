"""ThresholdMergePool against every PyG pool and one GCNConv layer, on CPU or CUDA.

Times forward + backward of GCNConv (the reference: what one conv layer costs), ours
in both modes (matching, the default, and components), EdgePooling, ClusterPooling,
TopKPooling, SAGPooling, ASAPooling and graclus (where PyG can call it), each with its
default arguments, side by side in one run, and prints every time with its ratio to
GCNConv. Batches of chain graphs (32 nodes each, PyG's undirected layout: both
directions, coalesced) and of random sparse graphs (32 nodes each, average degree 4),
64 features. Node features come in blocks of 4 consecutive nodes around a shared
prototype (cosine ~0.9 inside a block, ~0 across), so chains merge about 4:1 and random
graphs merge where an edge falls inside a block.

Per call (one forward + backward, after the timed ones) it also counts the tensor
operations (ATen calls at the dispatcher, both devices) and, on CUDA, the kernels
launched (the profiler's device events: kernels, then memory copies and sets) and the
host reads (operations that wait for the GPU, counted with
``torch.cuda.set_sync_debug_mode``). On CPU, ThresholdMergePool's compiled host kernels
(Numba) do their work outside ATen and are not counted as operations. The cost of
validating the indices (one ``aminmax`` of ``edge_index`` and its read back to the
host, the check a pool makes once per call) is timed on its own and set against our
call.

Memory (CPU): ``saved`` is the size of the tensors autograd keeps for backward (exact,
unique storages, inputs excluded); ``peak`` is the largest growth of the resident set
during forward + backward, sampled every millisecond.

A pool too slow or too large for a size is skipped with the reason printed:
ClusterPooling builds dense N x N matrices (above ``--cluster-pool-max`` nodes),
EdgePooling walks every edge in Python (above ``--edge-pool-max``), and any method but
GCNConv whose last size took long enough that this one would take over
``--max-call-seconds`` (scaled by the node count) is not run at the larger sizes.

    python bench/pool.py --threads 1 --clock cpu        # CPU, 2k .. 1M nodes
    python bench/pool.py --quick                        # 2k, 65k and 1M nodes, 3 repeats
    python bench/pool.py --device cuda --quick          # the same on a GPU (about 3 min)
    python bench/pool.py --sizes 8192 65536 --methods GCNConv ours-matching TopKPooling
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Measure this checkout's pyg_grapheme (also on a machine where it is not installed).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
import torch_geometric
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch_geometric.data import Batch
from torch_geometric.nn import GCNConv
from torch_geometric.nn.pool import (
    ASAPooling,
    ClusterPooling,
    EdgePooling,
    SAGPooling,
    TopKPooling,
    max_pool,
)
from torch_geometric.utils import coalesce, to_undirected

from pyg_grapheme.nn import ThresholdMergePool

GRAPH_SIZE = 32  # nodes per graph in the batch
CHANNELS = 64
BLOCK = 4  # consecutive nodes sharing a feature prototype
PAGE = 4096  # bytes per page for /proc/self/statm
REFERENCE = "GCNConv"
OURS = "ours-matching"


def chain_batch(num_nodes: int) -> Tensor:
    """Edges of ``num_nodes // 32`` chains of 32 nodes in PyG's undirected layout
    (both directions, coalesced, as ``to_undirected`` returns them)."""
    base = torch.arange(num_nodes).view(-1, GRAPH_SIZE)
    src, dst = base[:, :-1].reshape(-1), base[:, 1:].reshape(-1)
    return to_undirected(torch.stack([src, dst]), num_nodes=num_nodes)


def random_batch(num_nodes: int, gen: torch.Generator) -> Tensor:
    """Edges of ``num_nodes // 32`` random graphs of 32 nodes: each node draws two
    partners in its graph (average degree about 4), both directions, no duplicates."""
    src = torch.arange(num_nodes).repeat_interleave(2)
    offset = torch.randint(1, GRAPH_SIZE, (src.numel(),), generator=gen)
    dst = src // GRAPH_SIZE * GRAPH_SIZE + (src % GRAPH_SIZE + offset) % GRAPH_SIZE
    edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)
    return coalesce(edge_index, num_nodes=num_nodes)


def block_features(num_nodes: int, gen: torch.Generator) -> Tensor:
    prototypes = torch.randn(num_nodes // BLOCK + 1, CHANNELS, generator=gen)
    noise = torch.randn(num_nodes, CHANNELS, generator=gen)
    return prototypes[torch.arange(num_nodes) // BLOCK] + 0.35 * noise


# ---------------------------------------------------------------------------------------
# The methods: each maps (x, edge_index, batch) to node features whose sum is the loss.


def graclus_cluster() -> tuple[Callable[[Tensor, int], Tensor] | None, str]:
    """PyG's graclus clustering where it can run, else ``None`` and the reason.

    PyG 2.8's :func:`torch_geometric.nn.graclus` calls pyg-lib (>= 0.6); older code called
    torch-cluster's ``graclus_cluster``, which is used directly when only it is installed.
    """
    if getattr(torch_geometric.typing, "WITH_GRACLUS", False):
        from torch_geometric.nn import graclus

        return lambda edge_index, n: graclus(edge_index, num_nodes=n), ""
    try:
        from torch_cluster import graclus_cluster
    except ImportError:
        return None, (
            f"neither pyg-lib (>= 0.6, PyG {torch_geometric.__version__}'s graclus) nor "
            f"torch-cluster is installed for torch {torch.__version__} (pyg-lib has no wheel "
            "on PyPI; torch-cluster only an sdist to build against torch)"
        )
    return lambda edge_index, n: graclus_cluster(edge_index[0], edge_index[1], None, n), ""


class Graclus(torch.nn.Module):
    """graclus clustering (unweighted) + PyG's ``max_pool`` of the features and edges."""

    def __init__(self, cluster: Callable[[Tensor, int], Tensor]) -> None:
        super().__init__()
        self.cluster = cluster

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
        cluster = self.cluster(edge_index, x.size(0))
        return max_pool(cluster, Batch(x=x, edge_index=edge_index, batch=batch)).x


def pooled_x(pool: torch.nn.Module, x: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
    """The pooled features, whatever the pool returns."""
    if isinstance(pool, Graclus):
        return pool(x, edge_index, batch)
    if isinstance(pool, (TopKPooling, SAGPooling, ASAPooling)):
        return pool(x, edge_index, batch=batch)[0]
    return pool(x, edge_index, batch)[0]  # ThresholdMergePool, EdgePooling, ClusterPooling


METHODS: dict[str, Callable[[], torch.nn.Module]] = {
    "GCNConv": lambda: GCNConv(CHANNELS, CHANNELS),
    "ours-matching": lambda: ThresholdMergePool(CHANNELS),
    "ours-components": lambda: ThresholdMergePool(CHANNELS, mode="components"),
    "EdgePooling": lambda: EdgePooling(CHANNELS),
    "ClusterPooling": lambda: ClusterPooling(CHANNELS),
    "TopKPooling": lambda: TopKPooling(CHANNELS),
    "SAGPooling": lambda: SAGPooling(CHANNELS),
    "ASAPooling": lambda: ASAPooling(CHANNELS),
    "graclus": lambda: Graclus(graclus_cluster()[0]),  # type: ignore[arg-type]
}


# How a method's time grows with the nodes, for the --max-call-seconds estimate: linearly,
# except where it builds dense N x N matrices.
GROWTH = {"ClusterPooling": 2}


@dataclass
class Method:
    module: torch.nn.Module
    loss: Callable[[], Tensor]  # forward pass to a scalar
    kept: float | None = None  # pools: output nodes / input nodes of the last call


def make_method(name: str, x: Tensor, edge_index: Tensor, batch: Tensor) -> Method:
    module = METHODS[name]().to(x.device)
    method = Method(module, lambda: torch.zeros(()))
    if name == REFERENCE:
        method.loss = lambda: module(x, edge_index).sum()
        return method

    def loss() -> Tensor:
        out = pooled_x(module, x, edge_index, batch)
        method.kept = out.size(0) / x.size(0)
        return out.sum()

    method.loss = loss
    return method


# ---------------------------------------------------------------------------------------
# Measurements.


@dataclass
class Result:
    ms: float | None = None
    saved_mb: float | None = None
    peak_mb: float | None = None
    kept: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
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


def dense_parts(t: Tensor) -> list[Tensor]:
    """The strided tensors that hold a tensor's data (a sparse one: its indices and values)."""
    if t.layout == torch.sparse_coo:
        return [t._indices(), t._values()]
    if t.layout == torch.sparse_csr:
        return [t.crow_indices(), t.col_indices(), t.values()]
    if t.layout == torch.strided:
        return [t]
    raise ValueError(f"saved_for_backward: no storage rule for layout {t.layout}")


def saved_for_backward(fn: Callable[[], Tensor], inputs: list[Tensor]) -> float:
    """MB of unique storages autograd saves during ``fn`` (inputs excluded)."""
    skip = {t.untyped_storage().data_ptr() for t in inputs}
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        for part in dense_parts(t):
            storage = part.untyped_storage()
            if storage.data_ptr() not in skip:
                storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(storages.values()) / 2**20


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def synchronize(device: torch.device) -> None:
    """Waits for the GPU's queued kernels (they run asynchronously); nothing on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_once(method: Method, x: Tensor, clock: str) -> float:
    """Milliseconds of one forward + backward, the device's queue drained on both sides."""
    method.module.zero_grad(set_to_none=True)
    x.grad = None
    now = CLOCKS[clock]
    synchronize(x.device)
    start = now()
    method.loss().backward()
    synchronize(x.device)
    return (now() - start) * 1e3


class OperationCounter(TorchDispatchMode):
    """Counts the ATen operations that reach the dispatcher while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.count += 1
        return func(*args, **(kwargs or {}))


def count_host_reads(run: Callable[[], None]) -> int:
    """Operations in ``run`` that wait for the GPU (``.item()``, ``nonzero``, copies to the
    host, ...), as CUDA's sync debug mode reports them, one warning each."""
    torch.cuda.synchronize()  # the waits of the bench itself stay outside the counted window
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # every occurrence, not once per code location
            run()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    return sum("synchroniz" in str(w.message) for w in caught)


def count_launches(run: Callable[[], None]) -> dict[str, int]:
    """Device events the profiler records during ``run``: kernels, memory copies, memory sets."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        run()
        torch.cuda.synchronize()
    counts = {"kernels": 0, "copies": 0, "sets": 0}
    for event in prof.events():
        if event.device_type != torch.autograd.DeviceType.CUDA:
            continue
        name = event.name.lower()
        kind = "copies" if "memcpy" in name else "sets" if "memset" in name else "kernels"
        counts[kind] += 1
    return counts


def count_per_call(method: Method, x: Tensor) -> tuple[dict[str, int], str]:
    """Operations (and on CUDA launches and host reads) of one forward + backward, and an
    error message where a count could not be taken (then the counts are partial)."""

    def run() -> None:
        method.module.zero_grad(set_to_none=True)
        x.grad = None
        method.loss().backward()

    counts: dict[str, int] = {}
    try:
        counter = OperationCounter()
        with counter:
            run()
        counts["ops"] = counter.count
        if x.is_cuda:
            counts.update(count_launches(run))
            counts["reads"] = count_host_reads(run)
    except Exception as error:  # a count is a side measurement: report it, keep the timings
        return counts, f"count failed: {type(error).__name__}: {error}"
    return counts, ""


def validation_ms(edge_index: Tensor, clock: str, repeats: int) -> float:
    """Best time (ms) of validating the indices as a pool does once per call: one fused
    ``aminmax`` of ``edge_index`` and one read of both values back to the host."""
    now = CLOCKS[clock]
    best = float("inf")
    for _ in range(max(3, repeats)):
        synchronize(edge_index.device)
        start = now()
        low, high = torch.aminmax(edge_index)
        _ = (int(low), int(high))  # the host read (a sync on CUDA)
        best = min(best, (now() - start) * 1e3)
    return best


@dataclass
class SizeRows:
    num_nodes: int
    num_edges: int
    results: dict[str, Result]
    validation_ms: float


def bench_size(
    kind: str,
    num_nodes: int,
    names: list[str],
    args: argparse.Namespace,
    gen: torch.Generator,
    previous: dict[str, tuple[int, float]],
) -> SizeRows:
    """Times every method in ``names`` on one batch; ``previous`` holds each method's last
    (size, ms), updated here, from which a method too slow for this size is skipped."""
    edge_index = chain_batch(num_nodes) if kind == "chain" else random_batch(num_nodes, gen)
    x = block_features(num_nodes, gen)
    batch = torch.arange(num_nodes // GRAPH_SIZE).repeat_interleave(GRAPH_SIZE)
    device = torch.device(args.device)
    edge_index, batch = edge_index.to(device), batch.to(device)
    x = x.to(device).requires_grad_(True)
    results = {name: Result() for name in names}
    caps = {"EdgePooling": args.edge_pool_max, "ClusterPooling": args.cluster_pool_max}
    why_cap = {
        "EdgePooling": "walks every edge in Python",
        "ClusterPooling": "dense N x N matrices",
    }
    methods: dict[str, Method] = {}
    for name in names:
        if name in args.unavailable:  # said once, at the start
            continue
        if name in caps and num_nodes > caps[name]:
            results[name].note = f"skipped above {caps[name]} nodes ({why_cap[name]})"
            continue
        if name in previous and name != REFERENCE:  # every ratio needs the reference
            size, ms = previous[name]
            estimate = ms * (num_nodes / size) ** GROWTH.get(name, 1) / 1e3
            if estimate > args.max_call_seconds:
                growth = "squared" if GROWTH.get(name, 1) == 2 else "linear"
                results[name].note = (
                    f"skipped: {ms / 1e3:.1f} s a call at {size} nodes, so about "
                    f"{estimate:.0f} s here ({growth} in N; --max-call-seconds "
                    f"{args.max_call_seconds:g})"
                )
                continue
        methods[name] = make_method(name, x, edge_index, batch)
    active = list(methods)

    repeats = args.repeats if num_nodes <= 65536 else max(1, args.repeats // 2)
    times: dict[str, list[float]] = {name: [] for name in active}
    slow = set()  # seconds a call: one timed call is enough
    for name in active:  # one untimed warm-up call at this size (allocator, caches, tau)
        if time_once(methods[name], x, args.clock) / 1e3 > args.max_call_seconds / 4:
            slow.add(name)
    for r in range(repeats if active else 0):
        order = active[r % len(active) :] + active[: r % len(active)]  # rotate: fair under load
        for name in order:
            if r == 0 or name not in slow:
                times[name].append(time_once(methods[name], x, args.clock))
    for name in active:
        method, result = methods[name], results[name]
        result.ms = min(times[name])
        previous[name] = (num_nodes, result.ms)
        result.kept = method.kept
        result.counts, note = count_per_call(method, x)
        if note:
            result.note = note
        if args.memory:
            result.saved_mb = saved_for_backward(method.loss, [x, edge_index, batch])
            result.peak_mb = peak_rss_growth(lambda m=method: m.loss().backward())
    check = validation_ms(edge_index, args.clock, repeats)
    return SizeRows(num_nodes, edge_index.size(1), results, check)


# ---------------------------------------------------------------------------------------
# Tables.


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a / b:.2f}x"


def time_cell(ms: float | None, reference: float | None, available: bool = True) -> str:
    if not available:
        return "n/a"
    if ms is None:
        return "skipped"
    spec = ".2f" if ms < 100 else ".0f"
    return f"{ms:{spec}} ({ratio(ms, reference)})"


def count_cell(counts: dict[str, int], on_cuda: bool) -> str:
    if not counts:
        return "-"
    if not on_cuda:
        return str(counts["ops"])
    if "kernels" not in counts:
        return f"{counts['ops']} / - / -"
    launches = counts["kernels"] + counts["copies"] + counts["sets"]
    return f"{counts['ops']} / {launches} / {counts.get('reads', '-')}"


def print_tables(
    kind: str,
    rows: list[SizeRows],
    names: list[str],
    memory: bool,
    on_cuda: bool,
    unavailable: dict[str, str],
) -> None:
    """Markdown tables of one graph kind: times with their ratio to the reference, counts
    per call, nodes kept with the validation's cost, memory; ``unavailable`` methods (not
    installed) read n/a."""
    where = "CUDA" if on_cuda else "CPU"
    print(
        f"\n## {kind} graphs ({GRAPH_SIZE} nodes each, d={CHANNELS}) on {where}: "
        f"forward + backward, ms (best of repeats) and the ratio to {REFERENCE}\n"
    )
    head = "| N | E | " + " | ".join(names) + " |"
    print(head)
    print("|---|---|" + "---|" * len(names))
    notes = []
    for row in rows:
        reference = row.results[REFERENCE].ms if REFERENCE in row.results else None
        cells = [time_cell(row.results[n].ms, reference, n not in unavailable) for n in names]
        print(f"| {row.num_nodes} | {row.num_edges} | " + " | ".join(cells) + " |")
        for name in names:
            if row.results[name].note:
                notes.append(f"N={row.num_nodes}: {name} {row.results[name].note}")
    if notes:
        print("\n" + "\n".join(f"- {n}" for n in notes))

    if on_cuda:
        what = "ATen operations / device launches (kernels + copies + sets) / host reads"
    else:
        what = "ATen operations (compiled host kernels not counted)"
    print(f"\n### {kind}: per call (forward + backward): {what}\n")
    print(head)
    print("|---|---|" + "---|" * len(names))
    for row in rows:
        cells = [count_cell(row.results[n].counts, on_cuda) for n in names]
        print(f"| {row.num_nodes} | {row.num_edges} | " + " | ".join(cells) + " |")

    pools = [n for n in names if n != REFERENCE]
    print(f"\n### {kind}: nodes kept (output / input) and the index validation\n")
    print(
        "| N | "
        + " | ".join(pools)
        + " | validation ms (aminmax + host read) | validation / ours-matching |"
    )
    print("|---|" + "---|" * (len(pools) + 2))
    for row in rows:
        cells = [fmt(row.results[n].kept) for n in pools]
        ours = row.results[OURS].ms if OURS in row.results else None
        share = "-" if not ours else f"{100 * row.validation_ms / ours:.1f}%"
        print(
            f"| {row.num_nodes} | " + " | ".join(cells) + f" | {row.validation_ms:.3f} | {share} |"
        )

    if memory:
        print(f"\n### {kind}: memory, MB (saved for backward / peak RSS growth)\n")
        print(head)
        print("|---|---|" + "---|" * len(names))
        for row in rows:
            cells = []
            for name in names:
                r = row.results[name]
                cells.append("-" if r.saved_mb is None else f"{r.saved_mb:.1f} / {r.peak_mb:.0f}")
            print(f"| {row.num_nodes} | {row.num_edges} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> None:
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
        "--methods", nargs="+", choices=list(METHODS), default=list(METHODS), help="what to time"
    )
    parser.add_argument(
        "--edge-pool-max", type=int, default=262144, help="skip EdgePooling above this many nodes"
    )
    parser.add_argument(
        "--cluster-pool-max",
        type=int,
        default=8192,
        help="skip ClusterPooling (dense N x N) above this many nodes",
    )
    parser.add_argument(
        "--max-call-seconds",
        type=float,
        default=10.0,
        help="skip a method at a size where its last size's time, scaled by the nodes, "
        "says a call would take longer",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads on CPU (default 1)"
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall: elapsed time; cpu: process CPU time (with --threads 1, the compute time "
        "even when other jobs share the cores; CPU only)",
    )
    parser.add_argument(
        "--no-memory", dest="memory", action="store_false", help="skip the memory table"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2k, 65k and 1M nodes, 3 repeats, no memory table, --max-call-seconds 2",
    )
    parser.add_argument(
        "--device", default="cpu", help="cpu or cuda[:k] (on cuda: wall clock, no memory table)"
    )
    args = parser.parse_args(argv)
    try:
        device = torch.device(args.device)
    except RuntimeError:
        parser.error(f"--device {args.device!r} is not a device torch knows")
    if device.type not in ("cpu", "cuda"):
        parser.error(f"--device must be cpu or cuda, got {args.device!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            parser.error("--device cuda: no CUDA device is available")
        if args.clock == "cpu":
            parser.error("--clock cpu measures the host's time, not the GPU's: use wall on cuda")
        args.memory = False  # RSS and saved host storages do not see the GPU's memory
        if device.index is not None:
            torch.cuda.set_device(device)
    if args.quick:
        args.sizes, args.repeats, args.memory = [2048, 65536, 1048576], 3, False
        args.max_call_seconds = min(args.max_call_seconds, 2.0)
    if any(n <= 0 or n % GRAPH_SIZE for n in args.sizes):
        parser.error(f"--sizes must be positive multiples of {GRAPH_SIZE}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    torch.set_num_threads(args.threads)
    names = [n for n in METHODS if n in args.methods]
    if REFERENCE not in names:
        names.insert(0, REFERENCE)  # every ratio is against it
    args.unavailable = {}
    if "graclus" in names and graclus_cluster()[0] is None:
        args.unavailable["graclus"] = graclus_cluster()[1]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"torch {torch.__version__}, PyG {torch_geometric.__version__}, {args.device} ({name}), "
        f"{torch.get_num_threads()} threads, {args.clock} clock, sizes {args.sizes}, "
        f"repeats {args.repeats}"
    )
    for method, reason in args.unavailable.items():
        print(f"{method}: skipped: {reason}")

    gen = torch.Generator().manual_seed(0)
    # Warm up every method once on a tiny batch (imports, lazy initialisation, compilation).
    warm = argparse.Namespace(**{**vars(args), "repeats": 1, "memory": False})
    bench_size("chain", 64, names, warm, gen, {})
    kinds = ["chain", "random"] if args.graphs == "both" else [args.graphs]
    for kind in kinds:
        rows = []
        previous: dict[str, tuple[int, float]] = {}
        for num_nodes in args.sizes:
            row = bench_size(kind, num_nodes, names, args, gen, previous)
            rows.append(row)
            print(
                f"  {kind} N={num_nodes}: "
                + ", ".join(f"{k} {fmt(v.ms)} ms" for k, v in row.results.items()),
                flush=True,
            )
        print_tables(kind, rows, names, args.memory, device.type == "cuda", args.unavailable)
        sys.stdout.flush()
    if args.memory:
        print("\nsaved: tensors kept for backward; peak: resident-set growth during the call.")


if __name__ == "__main__":
    main()
