"""The accuracy bench's paired comparison: per-seed differences against the first pool."""

import math
import statistics

import pytest

from bench.pool_accuracy import RunResult, paired_difference, print_tables


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
    assert statistics.stdev(r.accuracy for r in reference) > 20 * error


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
