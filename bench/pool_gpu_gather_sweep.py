"""The similarity backward's pass by node on a GPU: rows and warps a program, swept at the
sizes where it runs (from ``gpu.scores.GATHER_MIN_PAIRS`` candidate pairs, 1M-node batches),
with GCNConv and TopKPooling timed in the same run.

Each setting is timed on the same batch as ``bench/pool_gpu_launches.py`` (32-node graphs,
64 block-structured features, forward + backward, best of ``--repeats`` calls), twice: the
settings in order, then in reverse, so a drift of the machine shows as a difference between
the two passes rather than as a difference between settings. The pass by node is the same
kernel for both merge rules, so ``matching`` is timed for every setting and ``components``
for the library's default and the fastest one.

    python bench/pool_gpu_gather_sweep.py                       # 1M chains and random graphs
    python bench/pool_gpu_gather_sweep.py --rows 16 32 --warps 4 8
"""

from __future__ import annotations

import sys
from pathlib import Path

# Measure this checkout's pyg_grapheme (also on a machine where it is not installed).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from pool import CHANNELS, GRAPH_SIZE, block_features, chain_batch, random_batch
from pool_gpu_launches import best_ms, call
from torch_geometric.nn import GCNConv
from torch_geometric.nn.pool import TopKPooling

from bench.command_line import OneLineParser
from pyg_grapheme.nn import ThresholdMergePool
from pyg_grapheme.nn.pool.gpu import scores as gpu_scores

Setting = tuple[int, int]  # (rows a program, warps a program)


def settings(rows: list[int], warps: list[int]) -> list[Setting]:
    """The library's default first (at this bench's channels), then every other pair."""
    default: Setting = (gpu_scores.gather_rows(CHANNELS), gpu_scores.GATHER_WARPS)
    return [default] + [(r, w) for r in rows for w in warps if (r, w) != default]


def label(setting: Setting) -> str:
    rows, warps = setting
    return f"rows {rows}, warps {warps}"


def time_setting(setting: Setting, pool, loss, x: torch.Tensor, repeats: int) -> float:
    gpu_scores.GATHER_ROWS, gpu_scores.GATHER_WARPS = setting
    call(pool, loss, x)  # compiles this setting's kernel
    return best_ms(pool, loss, x, repeats)


def sweep(num_nodes: int, kind: str, candidates: list[Setting], repeats: int) -> None:
    gen = torch.Generator().manual_seed(0)
    edges = chain_batch(num_nodes) if kind == "chain" else random_batch(num_nodes, gen)
    x = block_features(num_nodes, gen).cuda().requires_grad_(True)
    edge_index = edges.cuda()
    batch = torch.arange(num_nodes // GRAPH_SIZE).repeat_interleave(GRAPH_SIZE).cuda()
    gcn = GCNConv(CHANNELS, CHANNELS).cuda()
    topk = TopKPooling(CHANNELS).cuda()
    peers = {
        "GCNConv": (gcn, lambda: gcn(x, edge_index).sum()),
        "TopKPooling": (topk, lambda: topk(x, edge_index, batch=batch)[0].sum()),
    }
    peer_ms = {}
    for name, (module, loss) in peers.items():
        call(module, loss, x)
        peer_ms[name] = best_ms(module, loss, x, repeats)
    pools = {
        mode: ThresholdMergePool(CHANNELS, mode=mode).cuda() for mode in ("matching", "components")
    }
    losses = {
        mode: (lambda pool=pool: pool(x, edge_index, batch=batch)[0].sum())
        for mode, pool in pools.items()
    }
    for mode in pools:
        call(pools[mode], losses[mode], x)  # starts tau from the data
    default = candidates[0]
    library_default = (gpu_scores.GATHER_ROWS, gpu_scores.GATHER_WARPS)
    passes: dict[Setting, list[float]] = {s: [] for s in candidates}
    for order in (candidates, candidates[::-1]):
        for setting in order:
            ms = time_setting(setting, pools["matching"], losses["matching"], x, repeats)
            passes[setting].append(ms)
    best = min(candidates, key=lambda s: sum(passes[s]))
    components = {
        s: time_setting(s, pools["components"], losses["components"], x, repeats)
        for s in dict.fromkeys([default, best])
    }
    gpu_scores.GATHER_ROWS, gpu_scores.GATHER_WARPS = library_default
    gcn_ms, topk_ms = peer_ms["GCNConv"], peer_ms["TopKPooling"]
    print(f"\n## {kind}, {num_nodes} nodes: GCNConv {gcn_ms:.3f} ms, TopKPooling {topk_ms:.3f} ms")
    print("setting              matching ms (pass 1, pass 2)   x GCNConv  x TopKPooling")
    for setting in candidates:
        first, second = passes[setting]
        low = min(first, second)
        mark = " (default)" if setting == default else ""
        print(
            f"{label(setting):20} {first:8.3f} {second:8.3f}            "
            f"{low / gcn_ms:6.2f}x   {low / topk_ms:6.2f}x{mark}"
        )
    for setting, ms in components.items():
        print(
            f"components, {label(setting)}: {ms:.3f} ms, {ms / gcn_ms:.2f}x GCNConv, "
            f"{ms / topk_ms:.2f}x TopKPooling"
        )
    print(f"fastest (both passes summed): {label(best)}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1048576])
    parser.add_argument("--rows", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--warps", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    # Triton takes both only as powers of two; anything else would fail inside a launch.
    for flag, values in (("--rows", args.rows), ("--warps", args.warps)):
        for value in values:
            if value < 1 or value & (value - 1):
                parser.error(f"{flag} must be powers of two, got {value}")
    if not torch.cuda.is_available():
        print("pool_gpu_gather_sweep: needs a CUDA device", file=sys.stderr)
        raise SystemExit(2)
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(f"# the pass by node runs from {gpu_scores.GATHER_MIN_PAIRS} candidate pairs")
    candidates = settings(args.rows, args.warps)
    for num_nodes in args.sizes:
        for kind in ("chain", "random"):
            sweep(num_nodes, kind, candidates, args.repeats)


if __name__ == "__main__":
    main()
