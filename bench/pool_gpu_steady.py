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
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from pool import CHANNELS, GRAPH_SIZE, block_features, chain_batch, random_batch
from pool_gpu_launches import best_ms, profile_table

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
    edge_index = chain_batch(num_nodes) if kind == "chain" else random_batch(num_nodes, gen)
    x = block_features(num_nodes, gen).cuda().requires_grad_(True)
    batch = (torch.arange(num_nodes) // GRAPH_SIZE).cuda()
    return x, edge_index.cuda(), batch


def pooled_sum(pool, x, edge_index, batch) -> torch.Tensor:  # type: ignore[no-untyped-def]
    return pool(x, edge_index, batch=batch)[0].sum()


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
                pool = ThresholdMergePool(CHANNELS, mode=mode).cuda()
                _counters.clear()
                ms = best_ms(pool, partial(pooled_sum, pool, x, edge_index, batch), x, CALLS)
                walk = (
                    f", {int(_counters[-1][gpu_scores.LEFT_OPEN])} pairs walked"
                    if _counters
                    else ""
                )
                cells.append(f"{mode} {ms:.2f} ms{walk}")
            print(f"{kind:7s} {num_nodes:8d}  " + " | ".join(cells), flush=True)
    for num_nodes in (65536, 8192):
        profile_table(num_nodes, 14, kind="chain", device_only=True)


if __name__ == "__main__":
    main()
