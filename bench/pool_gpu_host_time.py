"""Where ThresholdMergePool's host time goes on a GPU at launch-bound sizes: the Python
functions of one call (forward + backward), by their own time, from ``cProfile`` over
``--calls`` calls after a warm-up, beside the call's wall time and GCNConv's.

Below 1M nodes a call waits on the host (about 3 ms of host time against 0.7 ms on the
device at 16k nodes, ``bench/results/pool_gpu.md``); ``torch.profiler`` names the CUDA API
calls, this names the Python that issues them (Triton's launcher, the autograd nodes, the
torch operators), which is what a change to the host side must shorten.

    python bench/pool_gpu_host_time.py                     # 2k and 16k nodes, random graphs
    python bench/pool_gpu_host_time.py --sizes 2048 --kind chain --rows 40
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
from pathlib import Path

# Measure this checkout's pyg_grapheme (also on a machine where it is not installed).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from pool import CHANNELS, GRAPH_SIZE, block_features, chain_batch, random_batch
from pool_gpu_launches import best_ms, call
from torch_geometric.nn import GCNConv

from bench.command_line import OneLineParser
from pyg_grapheme.nn import ThresholdMergePool


def host_profile(num_nodes: int, kind: str, calls: int, rows: int, repeats: int) -> None:
    gen = torch.Generator().manual_seed(0)
    edges = chain_batch(num_nodes) if kind == "chain" else random_batch(num_nodes, gen)
    x = block_features(num_nodes, gen).cuda().requires_grad_(True)
    edge_index = edges.cuda()
    batch = torch.arange(num_nodes // GRAPH_SIZE).repeat_interleave(GRAPH_SIZE).cuda()
    gcn = GCNConv(CHANNELS, CHANNELS).cuda()

    def gcn_loss() -> torch.Tensor:
        return gcn(x, edge_index).sum()

    call(gcn, gcn_loss, x)
    gcn_ms = best_ms(gcn, gcn_loss, x, repeats)
    for mode in ("matching", "components"):
        pool = ThresholdMergePool(CHANNELS, mode=mode).cuda()

        def loss(pool=pool) -> torch.Tensor:
            return pool(x, edge_index, batch=batch)[0].sum()

        call(pool, loss, x)
        ms = best_ms(pool, loss, x, repeats)
        torch.cuda.synchronize()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls):
            call(pool, loss, x)
        torch.cuda.synchronize()
        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        total_ms = stats.total_tt * 1e3 / calls  # type: ignore[attr-defined]
        print(
            f"\n## ours ({mode}), {kind} graphs, {num_nodes} nodes: best call {ms:.3f} ms "
            f"(GCNConv {gcn_ms:.3f} ms, {ms / gcn_ms:.2f}x); profiled host time "
            f"{total_ms:.3f} ms a call over {calls} calls (cProfile's own cost included)"
        )
        stats.sort_stats("tottime").print_stats(rows)
        stats.sort_stats("cumulative").print_stats(rows)
        print("\n".join(line for line in text.getvalue().splitlines() if line.strip()))
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 16384])
    parser.add_argument("--kind", choices=("chain", "random"), default="random")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rows", type=int, default=30, help="functions printed per table")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("pool_gpu_host_time: needs a CUDA device", file=sys.stderr)
        raise SystemExit(2)
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}")
    for num_nodes in args.sizes:
        host_profile(num_nodes, args.kind, args.calls, args.rows, args.repeats)


if __name__ == "__main__":
    main()
