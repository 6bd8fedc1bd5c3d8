"""Fidelity of StructuralLoss() to exact graph edit distance (networkx).

The pair families and readouts are those of ``bench/ged_fidelity.py`` (which
runs larger sweeps). Spearman correlations are printed (``pytest -s -n 0``) and
asserted against the 0.97 target and against the tie ceiling: the exact GED
is an integer with many ties, and a score without ties cannot exceed the
Spearman of GED with GED plus an infinitesimal tie-break.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.ged_fidelity import (
    delta_family,
    exact_ged,
    loss_values,
    pair_family,
    size_baseline,
    spearman,
)


def _tie_ceiling(truth: np.ndarray) -> float:
    return spearman(truth, truth + 1e-9 * np.arange(len(truth)))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "max_edits", "seed"),
    [("mixed", 6, 11), ("same", 8, 12)],
)
def test_spearman_with_exact_ged(family, max_edits, seed):
    pairs = pair_family(family, 100, seed, max_edits=max_edits)
    truth = np.array([exact_ged(g, h, timeout=30) for g, h in pairs])
    ours = spearman(loss_values(pairs), truth)
    sizes = spearman(size_baseline(pairs), truth)
    ceiling = _tie_ceiling(truth)
    print(
        f"\n{family}: Spearman(StructuralLoss, exact GED) = {ours:.3f} "
        f"(tie ceiling {ceiling:.3f}, |dn|+|de| {sizes:.3f}, {len(pairs)} pairs)"
    )
    assert ours >= 0.97
    assert ours >= ceiling - 0.005
    assert ours > sizes + 0.1


def test_delta_graphs_track_the_number_of_edits():
    pairs, edits = delta_family(60, seed=13)
    truth = np.array(edits, dtype=float)
    values = loss_values(pairs)
    rho = spearman(values, truth)
    error = np.abs(values - truth).mean()
    print(f"\ndelta graphs: Spearman(StructuralLoss, k) = {rho:.3f}, mean |loss - k| = {error:.2f}")
    assert rho >= 0.97
    assert error < 0.5  # every edit costs 1; degree and clique terms add a little
