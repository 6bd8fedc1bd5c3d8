"""ThresholdMergePool's steady cost a call on CUDA, matching against components, with the
pairs the matching's handshake rounds leave to its sequential walk; then where the device
time goes on chains (``torch.profiler``, 3 calls).

A diagnostic beside ``bench/pool.py``: there, on 65k-node chains, matching has cost
3.5-4.4x GCNConv in every run while components cost about 2x. Here each size gets a fresh
pool and 20 timed calls (best of 20), and no other pool runs in between.

    python bench/pool_gpu_steady.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pool as bench_pool
import torch
from torch.profiler import ProfilerActivity, profile

from pyg_grapheme.nn import ThresholdMergePool
from pyg_grapheme.nn.pool.gpu import scores as gpu_scores
from pyg_grapheme.nn.pool.gpu import select as gpu_select

SIZES = (8192, 65536, 262144)
CALLS = 20
_counters: list[torch.Tensor] = []
_match = gpu_select.match


def _match_and_keep_counters(*args, **kwargs) -> None:  # type: ignore[no-untyped-def]
    """``gpu_select.match``, keeping the call's counters (the pairs left to the walk)."""
    _match(*args, **kwargs)
    _counters.append(args[6])


def batch_of(kind: str, num_nodes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    if kind == "chain":
        edge_index = bench_pool.chain_batch(num_nodes)
    else:
        edge_index = bench_pool.random_batch(num_nodes, gen)
    x = bench_pool.block_features(num_nodes, gen).cuda().requires_grad_(True)
    batch = (torch.arange(num_nodes) // bench_pool.GRAPH_SIZE).cuda()
    return x, edge_index.cuda(), batch


def call(pool: ThresholdMergePool, x: torch.Tensor, edge_index, batch) -> None:  # type: ignore[no-untyped-def]
    x.grad = None
    pool.zero_grad(set_to_none=True)
    pool(x, edge_index, batch=batch)[0].sum().backward()


def main() -> None:
    if not torch.cuda.is_available():
        print("pool_gpu_steady: needs a CUDA device", file=sys.stderr)
        raise SystemExit(2)
    gpu_select.match = _match_and_keep_counters  # the module the layer calls it from
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}; best of {CALLS} calls")
    for kind in ("chain", "random"):
        for num_nodes in SIZES:
            x, edge_index, batch = batch_of(kind, num_nodes)
            cells = []
            for mode in ("matching", "components"):
                pool = ThresholdMergePool(bench_pool.CHANNELS, mode=mode).cuda()
                best = float("inf")
                for _ in range(CALLS):
                    _counters.clear()
                    torch.cuda.synchronize()
                    start = time.perf_counter()
                    call(pool, x, edge_index, batch)
                    torch.cuda.synchronize()
                    best = min(best, time.perf_counter() - start)
                walk = (
                    f", {int(_counters[-1][gpu_scores.LEFT_OPEN])} pairs walked"
                    if _counters
                    else ""
                )
                cells.append(f"{mode} {best * 1e3:.2f} ms{walk}")
            print(f"{kind:7s} {num_nodes:8d}  " + " | ".join(cells), flush=True)
    for num_nodes in (65536, 8192):
        x, edge_index, batch = batch_of("chain", num_nodes)
        for mode in ("matching", "components"):
            pool = ThresholdMergePool(bench_pool.CHANNELS, mode=mode).cuda()
            for _ in range(3):
                call(pool, x, edge_index, batch)
            torch.cuda.synchronize()
            with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                for _ in range(3):
                    call(pool, x, edge_index, batch)
                torch.cuda.synchronize()
            print(f"\n## chain {num_nodes} {mode}: by device time, 3 calls")
            table = prof.key_averages()
            print(
                table.table(
                    sort_by="self_device_time_total", row_limit=14, max_name_column_width=50
                )
            )


if __name__ == "__main__":
    main()
