"""ThresholdMergePool under bad input (issue 39's rows): a clear ValueError on every path, and
nothing persistent changed by a call that fails."""

from __future__ import annotations

import math

import pytest
import torch
from pool_settings import PATHS, classic_pool, pool_path
from test_pool_threshold_merge import chain

from pyg_grapheme.nn import ThresholdMergePool


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("edges", "bad"),
    [
        ([[0, 1, 2], [1, 2, 4]], 4),  # the Numba kernel read past the end (a segfault)
        ([[0, 1, 2], [1, 2, -1]], -1),  # wrapped silently to node 3
        ([[0, 1, 2], [1, 2, -100000]], -100000),  # read arbitrary memory
    ],
)
def test_edge_index_out_of_range_is_a_value_error(path, edges, bad):
    pool = ThresholdMergePool(threshold=0.5)
    with pool_path(path), pytest.raises(ValueError) as error:
        pool(torch.randn(4, 8), torch.tensor(edges))
    message = str(error.value)
    assert message.startswith("ThresholdMergePool: edge_index holds node index")
    assert f"index {bad} (in edge 2)" in message and "x has 4 nodes" in message


@pytest.mark.parametrize("path", PATHS)
def test_negative_graph_ids_are_a_value_error(path):
    """Graphs -1 and 0 were centred together (the host kernel wrapped -1 to the last graph)."""
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    with pool_path(path), pytest.raises(ValueError, match=r"negative graph id -1 \(node 0\)"):
        ThresholdMergePool()(x, chain(4), torch.tensor([-1, -1, 0, 0]))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_features_raise_and_leave_the_threshold_unstarted(path, value):
    """NaN in the first batch with threshold=None made tau NaN for good (state_dict too)."""
    torch.manual_seed(0)
    x = torch.rand(6, 3)  # positive: plain cosines lie in (0, 1)
    pool = classic_pool(3, threshold=None)  # starts from the first usable batch
    before = {name: t.clone() for name, t in pool.state_dict().items()}
    bad = x.clone()
    bad[2, 0] = value
    with pool_path(path), pytest.raises(ValueError, match=r"non-finite value .* at node 2"):
        pool(bad, chain(6))
    for name, tensor in pool.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    # The next good batch starts tau from its own data and merges as usual.
    with pool_path(path):
        x_out, _, _, info = pool(x, chain(6))
    assert math.isfinite(pool.threshold.item()) and pool.threshold.item() != 0.5
    # Five pairs: the two above the lower median merge.
    assert bool(torch.isfinite(x_out).all()) and int(info.merged.sum()) == 2


@pytest.mark.parametrize("path", PATHS)
def test_an_isolated_nan_node_is_an_error_too(path):
    """A node with no candidate pair passed its NaN through without an error."""
    x = torch.ones(3, 2)
    x[2] = math.nan
    with pool_path(path), pytest.raises(ValueError, match="at node 2"):
        classic_pool()(x, torch.tensor([[0], [1]]))


@pytest.mark.parametrize("path", PATHS)
def test_projection_overflow_is_named(path):
    pool = ThresholdMergePool(2, threshold=0.5)
    with torch.no_grad():
        pool.lin.weight.fill_(3e38)
    with pool_path(path), pytest.raises(ValueError, match=r"x is finite, but .* overflows"):
        pool(torch.tensor([[2.0, 2.0], [1.0, 0.0]]), chain(2))
    # Finite features whose squares overflow: the same error on every path, not a NaN cosine.
    x = torch.tensor([[1e30, 1.0], [1e30, 2.0], [3.0, 1.0]])
    with pool_path(path), pytest.raises(ValueError, match=r"x is finite, but .* overflows"):
        ThresholdMergePool(threshold=0.5, similarity="cosine")(x, chain(3))


@pytest.mark.parametrize("path", PATHS)
def test_a_first_batch_without_candidate_pairs_does_not_use_up_the_start(path):
    """Isolated nodes first: tau stayed at 0.5 for good; it must start on the next batch."""
    pool = classic_pool(threshold=None)
    x = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [1.0, 1.0]])
    with pool_path(path):
        pool(x, torch.zeros(2, 0, dtype=torch.long))
        assert repr(pool).startswith("ThresholdMergePool(None, threshold=None,")
        _, _, _, info = pool(x, chain(4))
    # Chain pairs' cosines: 0.995, 0.0995, 0.707; the lower median 0.707 and the next one up.
    s = sorted(info.similarity.tolist())
    assert pool.threshold.item() == pytest.approx((s[1] + s[2]) / 2, abs=1e-6)
    assert info.merged.tolist() == [True, False, False]


@pytest.mark.parametrize("path", PATHS)
def test_the_data_start_puts_no_similarity_on_the_threshold(path):
    """An odd number of pairs once put tau exactly on the median pair's similarity, which
    then merged or not by rounding; now tau lies strictly between two similarities."""
    x = torch.tensor([[1.0, 0.0], [1.0, 0.2], [1.0, 1.0], [0.0, 1.0], [-1.0, 1.0], [-1.0, 0.0]])
    pool = classic_pool(threshold=None)
    with pool_path(path):
        _, _, _, info = pool(x, chain(6))
    s = sorted(info.similarity.tolist())  # five pairs: the median is s[2]
    tau = pool.threshold.item()
    assert s[2] < tau < s[3] and tau == pytest.approx((s[2] + s[3]) / 2, abs=1e-6)
    assert int(info.merged.sum()) == 2
