"""The README's drop-in example over several model seeds: ThresholdMergePool against EdgePooling.

Trains the model of ``tests/test_pool_example.py`` (GCNConv -> pool -> GCNConv on token
chains) once per seed and pool, and prints each seed's test accuracy, the mean and the share
of nodes kept.

    python bench/pool_example.py --seeds 6
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_pool_example import train_and_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=6, help="model seeds 0..N-1")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| pool | accuracy per seed | mean | kept |\n|---|---|---|---|")
    for pool, name in (("threshold", "ThresholdMergePool"), ("edge", "EdgePooling")):
        runs = [train_and_test(pool, seed=seed) for seed in range(args.seeds)]
        accuracy = [a for a, _ in runs]
        print(
            f"| {name} | {' '.join(f'{a:.3f}' for a in accuracy)} | "
            f"{statistics.mean(accuracy):.3f} | {statistics.mean(k for _, k in runs):.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
