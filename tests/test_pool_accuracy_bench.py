"""The accuracy bench: per-seed differences against the first pool, regression scoring, the
random-split and cross-validation protocols."""

import math
import statistics

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from bench.pool_accuracy import (
    ABLATIONS,
    POOLS,
    RunResult,
    paired_difference,
    pool_call,
    print_tables,
    split_for,
    stratified_folds,
    train_and_test,
)
from pyg_grapheme.data.graph_benchmarks import GraphBenchmark


def runs(accuracies: dict[int, float]) -> list[RunResult]:
    return [RunResult(a, epoch_seconds=0.1, kept=0.5, seed=s) for s, a in accuracies.items()]


def test_paired_difference_uses_only_common_seeds_and_the_stdev_of_the_differences():
    reference = runs({0: 0.80, 1: 0.90, 2: 0.70, 5: 0.60})
    other = runs({0: 0.82, 1: 0.91, 2: 0.73, 3: 0.99})
    mean, error, n = paired_difference(other, reference)
    # Differences 0.02, 0.01, 0.03 on seeds 0-2 (seed 3 has no partner, seed 5 no run).
    assert n == 3
    assert mean == pytest.approx(0.02)
    assert error == pytest.approx(0.01 / math.sqrt(3))
    # The seeds' common shift is gone: either pool's own spread is over 20 times larger.
    assert statistics.stdev(r.score for r in reference) > 20 * error


def test_paired_difference_with_one_or_no_common_seed():
    assert paired_difference(runs({4: 0.5}), runs({4: 0.25})) == (0.25, 0.0, 1)
    mean, error, n = paired_difference(runs({1: 0.5}), runs({2: 0.5}))
    assert n == 0 and math.isnan(mean) and math.isnan(error)


def test_tables_print_the_paired_row_against_the_first_pool(capsys):
    results = {"molecules": {"a": runs({0: 0.80, 1: 0.90}), "b": runs({0: 0.83, 1: 0.91})}}
    print_tables(results, ["a", "b"])
    out = capsys.readouterr().out
    assert "## Paired with a" in out
    assert "| molecules | +0.0200 ± 0.0100 (2 seeds) |" in out


def test_a_regression_row_is_marked_and_its_lowest_rmse_is_the_best(capsys):
    results = {
        "solvation": {"a": runs({0: 1.20, 1: 1.00}), "b": runs({0: 1.00, 1: 0.90})},
        "molecules": {"a": runs({0: 0.80, 1: 0.90}), "b": runs({0: 0.70, 1: 0.80})},
    }
    print_tables(results, ["a", "b"], regressions=["solvation"])
    out = capsys.readouterr().out
    assert "| solvation (RMSE) | 1.100 ± 0.141 | **0.950 ± 0.071** |" in out
    assert "| molecules | **0.850 ± 0.071** | 0.750 ± 0.071 |" in out
    assert "| solvation (RMSE) | -0.1500 ± 0.0500 (2 seeds) |" in out


def _chain(n: int) -> Data:
    ends = torch.arange(n - 1)
    edge_index = torch.stack([torch.cat([ends, ends + 1]), torch.cat([ends + 1, ends])])
    return Data(x=torch.ones(n, 1), edge_index=edge_index, y=torch.tensor([float(n)]))


def test_train_and_test_scores_a_regression_by_rmse_in_the_targets_units():
    # Target: the chain's length, 3..20 nodes, which the sum readout can count.
    graphs = [_chain(3 + (7 * k) % 18) for k in range(72)]
    data = GraphBenchmark("chains", graphs[:54], graphs[54:], 1, 1, "regression")
    spread = torch.cat([g.y for g in data.test]).std().item()
    untrained = train_and_test(data, None, seed=0, epochs=0)
    trained = train_and_test(data, None, seed=0, epochs=80)
    assert untrained.score > 0.8 * spread  # an untrained head predicts about the mean
    assert trained.score < 0.15 * spread  # in node counts, not standardised units


def test_stratified_folds_deal_each_class_round_robin():
    labels = np.array([0] * 9 + [1] * 3 + [2] * 25)
    fold = stratified_folds(labels, 10, np.random.default_rng(0))
    sizes = np.bincount(fold, minlength=10)
    assert sizes.sum() == 37 and sizes.max() - sizes.min() <= 1
    for label, count in ((0, 9), (1, 3), (2, 25)):
        per_fold = np.bincount(fold[labels == label], minlength=10)
        assert set(per_fold.tolist()) <= {count // 10, -(-count // 10)}
    # Class 0 (9 graphs) fills folds 0-8, class 1 goes on at fold 9, then 0 and 1.
    assert np.bincount(fold[labels == 1], minlength=10).tolist() == [1, 1] + [0] * 7 + [1]
    again = stratified_folds(labels, 10, np.random.default_rng(0))
    assert np.array_equal(fold, again)


def _benchmark(protocol: str, count: int = 40) -> GraphBenchmark:
    graphs = [_chain(3 + k % 18) for k in range(count)]
    for k, g in enumerate(graphs):
        g.y = torch.tensor([k % 4])  # four classes of ten
        g.index = k
    return GraphBenchmark("chains", graphs, [], 1, 4, protocol=protocol)


def test_random_split_draws_a_new_80_20_split_per_seed():
    data = _benchmark("random-split")
    first, second = split_for(data, 0), split_for(data, 1)
    for split in (first, second):
        assert (len(split.train), len(split.validation), len(split.test)) == (32, 0, 8)
        assert sorted(g.index for g in split.train + split.test) == list(range(40))
    assert {g.index for g in first.test} != {g.index for g in second.test}
    assert [g.index for g in split_for(data, 0).test] == [g.index for g in first.test]


def test_cross_validation_tests_every_graph_once_and_validates_every_class():
    data = _benchmark("cross-validation")
    tested = []
    for seed in range(10):
        split = split_for(data, seed)
        test = [g.index for g in split.test]
        validation = [g.index for g in split.validation]
        train = [g.index for g in split.train]
        assert len(test) == 4 and sorted({int(g.y) for g in split.test}) == [0, 1, 2, 3]
        # At least one graph per class (4 > 10% of 36) held out to pick the epoch.
        assert len(validation) == 4 and sorted(int(g.y) for g in split.validation) == [0, 1, 2, 3]
        assert sorted(test + validation + train) == list(range(40))
        tested += test
    assert sorted(tested) == list(range(40))
    # Seeds 10-19 are a second cross-validation with other folds.
    assert {g.index for g in split_for(data, 10).test} != {g.index for g in split_for(data, 0).test}


def test_cross_validation_tests_the_weights_of_the_best_validated_epoch():
    # Label: the chain has more than 11 nodes, which the sum readout counts.
    graphs = [_chain(3 + k % 18) for k in range(60)]
    for g in graphs:
        g.y = torch.tensor([int(g.num_nodes > 11)])
    data = GraphBenchmark("long chains", graphs, [], 1, 2, protocol="cross-validation")
    run = train_and_test(data, None, seed=3, epochs=30)
    assert 1 <= run.epoch <= 30
    assert run.score == 1.0  # six test chains, all told apart


def test_the_self_loop_variants_differ_only_in_the_loops_they_add():
    """Default: one self-loop on each merged cluster; no-self-loops: none; the control: one
    on every pooled node. The clusters and the edges between them are the same."""
    torch.manual_seed(0)
    x = torch.randn(10, 4)
    chain = torch.arange(9)
    edge_index = torch.cat([torch.stack([chain, chain + 1]), torch.stack([chain + 1, chain])], 1)
    batch = torch.zeros(10, dtype=torch.long)
    outputs = {}
    for name, build in [
        ("default", POOLS["threshold-matching"]),
        ("none", ABLATIONS["threshold-no-self-loops"]),
        ("everywhere", ABLATIONS["threshold-loops-everywhere"]),
    ]:
        torch.manual_seed(1)
        pool = build(4)
        pooled_x, pooled_edges, _ = pool_call(pool, x, edge_index, batch)
        outputs[name] = (pooled_x, pooled_edges)
    pooled_x, without = outputs["none"]
    nodes = pooled_x.size(0)
    assert 1 < nodes < 10  # some nodes merged, some not
    assert not bool((without[0] == without[1]).any())
    for name, edges in (
        ("default", outputs["default"][1]),
        ("everywhere", outputs["everywhere"][1]),
    ):
        assert torch.equal(outputs[name][0], pooled_x)
        between = edges[:, edges[0] != edges[1]]
        assert torch.equal(torch.sort(between[0] * nodes + between[1]).values,
                           torch.sort(without[0] * nodes + without[1]).values)  # fmt: skip
    looped = outputs["default"][1]
    looped = sorted(looped[0, looped[0] == looped[1]].tolist())
    everywhere = outputs["everywhere"][1]
    assert sorted(everywhere[0, everywhere[0] == everywhere[1]].tolist()) == list(range(nodes))
    assert 0 < len(looped) < nodes and len(looped) == 10 - nodes  # one per matched pair
