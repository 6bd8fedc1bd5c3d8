"""The accuracy bench: per-seed differences against the first pool, regression scoring."""

import math
import statistics

import pytest
import torch
from torch_geometric.data import Data

from bench.pool_accuracy import RunResult, paired_difference, print_tables, train_and_test
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
