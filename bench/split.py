"""NodeSplit against one GCNConv layer: forward + backward time, side by side, with ratios.

Batches of chain graphs of 32 nodes (PyG's undirected layout for GCNConv, the
directed chain for NodeSplit as the text model uses it), 64 features. NodeSplit
has its count head and grows every node by a count drawn uniformly from 0..3
(given, as in training), so about 1.5 output nodes per input node; its
backward reaches the features, the slot embeddings and the count head through
the presence probabilities. Timings are the median of ``--repeats`` runs after
a warm-up, both layers measured in the same process, interleaved.

    python bench/split.py                       # 2k .. 1M nodes
    python bench/split.py --quick               # 2k and 8k nodes
    python bench/split.py --clock cpu --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch_geometric.nn import GCNConv
from torch_geometric.utils import to_undirected

from pyg_grapheme.nn import NodeSplit

GRAPH_SIZE = 32
CHANNELS = 64


def chains(num_nodes: int) -> torch.Tensor:
    base = torch.arange(num_nodes).view(-1, GRAPH_SIZE)
    return torch.stack([base[:, :-1].reshape(-1), base[:, 1:].reshape(-1)])


def timed(step: Callable[[], None], repeats: int, clock: Callable[[], float]) -> float:
    step()  # warm-up
    times = []
    for _ in range(repeats):
        start = clock()
        step()
        times.append(clock() - start)
    return statistics.median(times)


def measure(num_nodes: int, repeats: int, clock: Callable[[], float]) -> tuple[float, float]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(num_nodes, CHANNELS, generator=gen, requires_grad=True)
    chain = chains(num_nodes)
    undirected = to_undirected(chain, num_nodes=num_nodes)
    count = torch.randint(0, 4, (num_nodes,), generator=gen)
    conv = GCNConv(CHANNELS, CHANNELS)
    split = NodeSplit(CHANNELS, max_children=8)

    def conv_step() -> None:
        out = conv(x, undirected)
        out.sum().backward()

    def split_step() -> None:
        out, _, _, info = split(x, chain, count=count)
        (out.sum() + info.presence.sum()).backward()

    return timed(conv_step, repeats, clock), timed(split_step, repeats, clock)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[2048, 8192, 65536, 262144, 1048576]
    )
    parser.add_argument("--quick", action="store_true", help="2k and 8k nodes, 5 repeats")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    sizes, repeats = ([2048, 8192], 5) if args.quick else (args.sizes, args.repeats)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(f"threads={torch.get_num_threads()} clock={args.clock} repeats={repeats}")
    print("| N | GCNConv fwd+bwd | NodeSplit fwd+bwd | NodeSplit / GCNConv |")
    print("|---|---|---|---|")
    for n in sizes:
        conv_s, split_s = measure(n, repeats, clock)
        print(f"| {n:,} | {conv_s * 1e3:.2f} ms | {split_s * 1e3:.2f} ms | {split_s / conv_s:.2f} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
