"""ThresholdMergePool's drop-in options: centred similarity, data-started threshold, merge-score
gated features and the ratio control. Exact outputs on hand-built graphs, bounds, gradcheck."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pool_settings import classic_pool
from test_pool_gradients import clustered_batch, margin
from test_pool_threshold_merge import BATCH, EDGE_INDEX, SIMILARITY, X, chain, random_batch

from pyg_grapheme.nn import ThresholdMergePool
from pyg_grapheme.nn.pool.select import most_similar_per_graph


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def test_centered_similarity_subtracts_each_graphs_mean():
    pool = classic_pool(similarity="centered")
    _, _, _, info = pool(X, EDGE_INDEX, BATCH)
    # Independent reference: numpy, graph by graph.
    x = X.numpy().astype(np.float64)
    graph = BATCH.numpy()
    centred = x - np.stack([x[graph == g].mean(0) for g in graph])
    expected = []
    for i, j in info.candidate_index.t().tolist():
        a, b = centred[i], centred[j]
        expected.append(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    # Graph 0's mean is (1, 1): node 0 -> (1, -1), node 1 -> (0, -1), so cos(0, 1) = 1/sqrt(2).
    assert expected[0] == pytest.approx(1 / math.sqrt(2))
    assert torch.allclose(info.similarity, torch.tensor(expected, dtype=torch.float32), atol=1e-6)
    # Non-negative features that all look alike under cosine are told apart once centred.
    assert float(info.similarity.max()) < 0.75 < max(SIMILARITY)


def test_threshold_none_starts_at_the_median_of_the_first_call_and_then_learns_from_there():
    pool = classic_pool(threshold=None)
    _, _, _, info = pool(X, EDGE_INDEX, BATCH)
    # Sorted similarities: 0, 1/sqrt(10), 3/sqrt(10), 1, 1, 1; the median interpolates.
    median = (3 / math.sqrt(10) + 1.0) / 2
    assert pool.threshold.item() == pytest.approx(median, abs=1e-6)
    # The pairs strictly above the median merge: the three pairs of similarity 1.
    assert info.merged.tolist() == [True, False, False, False, True, True]
    # A second call (other data) keeps tau.
    pool(2 * X.flip(0), EDGE_INDEX, BATCH)
    assert pool.threshold.item() == pytest.approx(median, abs=1e-6)
    # reset_parameters re-arms the data start; a loaded state never restarts.
    pool.reset_parameters()
    state = classic_pool(threshold=0.3).state_dict()
    pool.load_state_dict(state)
    pool(X, EDGE_INDEX, BATCH)
    assert pool.threshold.item() == pytest.approx(0.3, abs=1e-6)


def test_threshold_none_clamps_into_the_sigmoid_range():
    # All similarities negative: tau cannot follow below 0, it starts just above it.
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.1], [1.0, -0.2]])
    pool = classic_pool(threshold=None)
    _, _, _, info = pool(x, chain(3))
    assert bool((info.similarity < 0).all())
    assert pool.threshold.item() == pytest.approx(1e-3, rel=1e-4)
    assert not bool(info.merged.any())


def test_gate_features_components_scales_by_the_mean_gate_of_the_merged_pairs():
    plain = classic_pool(2)
    gated = classic_pool(2, gate_features=1.0)
    x_plain, _, _, _ = plain(X, EDGE_INDEX, BATCH)
    x_gated, _, _, info = gated(X, EDGE_INDEX, BATCH)
    g = [sigmoid((s - 0.8) / 0.1) for s in SIMILARITY]
    # Clusters {0,1} (pair 0), {2,3} (pair 3), {4,5,6} (pairs 4, 5), {7} alone.
    expected_score = [g[0], g[3], (g[4] + g[5]) / 2, 1.0]
    assert torch.allclose(info.score, torch.tensor(expected_score), atol=1e-6)
    assert torch.allclose(x_gated, x_plain * info.score.unsqueeze(-1), atol=1e-6)
    # Without the option the record still carries scores of one.
    assert plain(X, EDGE_INDEX, BATCH)[3].score.tolist() == [1.0, 1.0, 1.0, 1.0]


def test_gate_features_matching_scales_each_pair_by_its_gate():
    pool = classic_pool(2, mode="matching", gate_features=1.0)
    x, _, _, info = pool(X, EDGE_INDEX, BATCH)
    g = [sigmoid((s - 0.8) / 0.1) for s in SIMILARITY]
    # Pairs (0,1), (2,3), (4,5) matched; 6 and 7 alone.
    assert torch.allclose(info.score, torch.tensor([g[0], g[3], g[4], 1.0, 1.0]), atol=1e-6)
    expected = [[1.5 * g[0], 0.0], [0.5 * g[3], 2.0 * g[3]], [1.5 * g[4], 0.0], [4.0, 0.0]]
    assert torch.allclose(x[:4], torch.tensor(expected), atol=1e-6)
    # The task loss reaches the projection through the gates (it does not without them).
    x.sum().backward()
    assert float(pool.lin.weight.grad.abs().sum()) > 0
    assert pool.threshold_logit.grad.abs().item() > 0


@pytest.mark.parametrize("host", [True, False], ids=["host", "tensor"])
@pytest.mark.parametrize("mode", ["components", "matching"])
def test_gate_strength_scales_by_one_minus_alpha_plus_alpha_times_the_score(
    mode, host, monkeypatch
):
    if not host:
        monkeypatch.setattr(ThresholdMergePool, "_runs_on_host", lambda self, x: False)
    x_plain, _, _, _ = classic_pool(2, mode=mode)(X, EDGE_INDEX, BATCH)
    x, _, _, info = classic_pool(2, mode=mode, gate_features=0.3)(X, EDGE_INDEX, BATCH)
    g = [sigmoid((s - 0.8) / 0.1) for s in SIMILARITY]
    if mode == "components":  # {0,1} (pair 0), {2,3} (pair 3), {4,5,6} (pairs 4, 5), {7}
        score = [g[0], g[3], (g[4] + g[5]) / 2, 1.0]
    else:  # pairs (0,1), (2,3), (4,5) matched; 6 and 7 alone
        score = [g[0], g[3], g[4], 1.0, 1.0]
    assert torch.allclose(info.score, torch.tensor(score), atol=1e-6)
    scale = torch.tensor([0.7 + 0.3 * s for s in score])
    assert torch.allclose(x, x_plain * scale.unsqueeze(-1), atol=1e-6)
    # Cluster {0, 1}: the mean of (1, 0) and (2, 0), scaled by 0.7 + 0.3 g_01.
    assert x[0].tolist() == pytest.approx([1.5 * (0.7 + 0.3 * g[0]), 0.0], abs=1e-6)
    # A node that merged with nothing passes through unscaled.
    assert x[-1].tolist() == pytest.approx(X[7].tolist(), abs=1e-6)


@pytest.mark.parametrize("host", [True, False], ids=["host", "tensor"])
def test_gate_strength_scales_the_gradient_the_gates_send_to_the_projection_and_tau(
    host, monkeypatch
):
    """A loss linear in the pooled features of a matching (member weights exactly 1/2, so the
    gates act only through the scale): the projection and tau learn only through the gates, and
    at strength alpha their gradients are exactly alpha times those at 1, which a scale-free
    optimiser such as Adam turns into the same steps."""
    if not host:
        monkeypatch.setattr(ThresholdMergePool, "_runs_on_host", lambda self, x: False)
    x, edge_index, batch = clustered_batch(seed=0)
    settings = dict(threshold=0.5, mode="matching", similarity="centered", reduce="sum")
    full = classic_pool(6, **settings, gate_features=1.0).double()
    with torch.no_grad():
        full.lin.weight.add_(0.2 * torch.randn(6, 6, dtype=torch.float64))
    partial = classic_pool(6, **settings, gate_features=0.3).double()
    partial.load_state_dict(full.state_dict())
    weight = None
    grads = {}
    for alpha, pool in ((1.0, full), (0.3, partial)):
        x_out, _, _, info = pool(x, edge_index, batch)
        assert 0 < int(info.merged.sum()) < info.merged.numel()
        if weight is None:
            weight = torch.randn(x_out.shape, dtype=x_out.dtype,
                                 generator=torch.Generator().manual_seed(3))  # fmt: skip
        parameters = [pool.lin.weight, pool.threshold_logit]
        grads[alpha] = torch.autograd.grad((x_out * weight).sum(), parameters)
    assert float(grads[1.0][0].abs().sum()) > 0 and float(grads[1.0][1].abs()) > 0
    for got, want in zip(grads[0.3], grads[1.0]):
        assert torch.allclose(got, 0.3 * want, atol=1e-12)


def test_ratio_keeps_the_best_pairs_of_each_graph():
    # Chain of six identical nodes: every pair has similarity 1 and would merge.
    x = torch.ones(6, 3)
    _, _, _, info = classic_pool(ratio=0.5)(x, chain(6))
    # floor(6 * 0.5) = 3 pairs may merge; ties go to pair order: (0,1), (1,2), (2,3).
    assert info.cluster.tolist() == [0, 0, 0, 0, 1, 2]
    _, _, _, info = classic_pool(ratio=1.0)(x, chain(6))
    assert info.num_clusters == 6


def test_most_similar_per_graph_ranks_within_each_graph():
    candidate_index = torch.tensor([[0, 1, 2, 4, 5, 6], [1, 2, 3, 5, 6, 7]])
    score = torch.tensor([0.1, 0.9, 0.5, 0.2, 0.3, 0.3])
    batch = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    valid = torch.ones(6, dtype=torch.bool)
    allowed = most_similar_per_graph(candidate_index, score, valid, batch, ratio=0.6)
    # Each graph has 4 nodes: floor(4 * 0.4) = 1 pair; in graph 1 the tie goes to pair 4.
    assert allowed.tolist() == [False, True, False, False, True, False]
    empty = most_similar_per_graph(candidate_index[:, :0], score[:0], valid[:0], batch, 0.5)
    assert empty.numel() == 0
    # Padding (valid False) is never allowed and takes no graph's budget.
    padded = torch.cat([candidate_index, torch.tensor([[7], [7]])], dim=1)
    padded_score = torch.cat([score, torch.tensor([5.0])])
    padded_valid = torch.cat([valid, torch.tensor([False])])
    allowed = most_similar_per_graph(padded, padded_score, padded_valid, batch, ratio=0.6)
    assert allowed.tolist() == [False, True, False, False, True, False, False]


@pytest.mark.parametrize("mode", ["components", "matching"])
@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.8])
def test_ratio_is_a_lower_bound_on_the_nodes_kept_per_graph(mode, ratio):
    x, edge_index, batch = random_batch(30, 20, 0.4, 4, seed=7)
    x = x.abs() + 1.0  # post-ReLU-like: everything similar, so the ratio is what binds
    pool = classic_pool(4, threshold=0.05, mode=mode, ratio=ratio)
    _, _, batch_out, _ = pool(x, edge_index, batch)
    nodes = torch.bincount(batch)
    kept = torch.bincount(batch_out, minlength=nodes.numel())
    assert bool((kept >= torch.ceil(ratio * nodes - 1e-9)).all())
    # The bound binds somewhere: without it the same layer keeps fewer nodes.
    _, _, free_batch, _ = classic_pool(4, threshold=0.05, mode=mode)(x, edge_index, batch)
    assert free_batch.numel() < batch_out.numel()


def check_gradients_within_the_merge_pattern(
    pool: ThresholdMergePool, gradcheck, module_gradcheck
) -> None:
    """gradcheck of the pooled features, scores, gates and member weights w.r.t. x, the
    projection and the threshold logit, on a clustered batch with some (not all) pairs merged
    and every similarity clear of the threshold."""
    x, edge_index, batch = clustered_batch(seed=0)
    assert margin(pool, x, edge_index, batch) > 1e-4
    _, _, _, info = pool(x, edge_index, batch)
    assert 0 < int(info.merged.sum()) < info.merged.numel()

    def outputs(module: ThresholdMergePool, x: torch.Tensor) -> torch.Tensor:
        x_out, _, _, info = module(x, edge_index, batch)
        return torch.cat([x_out.flatten(), info.score, info.gate, info.member_weight])

    gradcheck(lambda x: outputs(pool, x), [x.requires_grad_()])
    module_gradcheck(
        pool, lambda m: outputs(m, x.detach()), names=["lin.weight", "threshold_logit"]
    )


@pytest.mark.parametrize("strength", [1.0, 0.3])
@pytest.mark.parametrize("mode", ["components", "matching"])
def test_gradcheck_with_centered_similarity_and_gated_features(
    gradcheck, module_gradcheck, mode, strength
):
    pool = classic_pool(
        6, threshold=0.5, mode=mode, similarity="centered", gate_features=strength
    ).double()
    with torch.no_grad():
        pool.lin.weight.add_(0.2 * torch.randn(6, 6, dtype=torch.float64))
    check_gradients_within_the_merge_pattern(pool, gradcheck, module_gradcheck)


def test_defaults_are_the_drop_in_settings():
    """No arguments: centred similarity, tau from the first batch, matching, sums scaled by
    0.9 + 0.1 times the merge score."""
    pool = ThresholdMergePool()
    assert (pool.mode, pool.similarity, pool.reduce) == ("matching", "centered", "sum")
    assert pool.gate_features == 0.1 and pool.ratio is None
    x, _, _, info = pool(X, EDGE_INDEX, BATCH)
    centred = ThresholdMergePool(threshold=0.5)(X, EDGE_INDEX, BATCH)[3].similarity
    assert torch.allclose(info.similarity, centred)
    # Centred similarities -0.707, 0, 0, 0.124, 0.243, 0.707: the median is (0 + 0.124) / 2,
    # with cos(5, 6) = 0.0625 / (0.25 * sqrt(4.0625)) after centring graph 1 on (2, -0.25).
    assert pool.threshold.item() == pytest.approx(0.0625 / (0.25 * math.sqrt(4.0625)) / 2, abs=1e-6)
    # Matching by descending similarity: (0, 1), then (4, 5); (5, 6) is blocked at 5.
    assert info.merged.tolist() == [True, False, False, False, True, False]
    assert info.cluster.tolist() == [0, 0, 1, 2, 3, 3, 4, 5]
    # The merge scores are the pairs' gates: cos(0, 1) = 1/sqrt(2) and cos(4, 5) = 1/sqrt(17)
    # after centring, against that tau at temperature 0.1.
    tau = pool.threshold.item()
    gate_01, gate_45 = (sigmoid((s - tau) / 0.1) for s in (1 / math.sqrt(2), 1 / math.sqrt(17)))
    assert info.score.tolist() == pytest.approx([gate_01, 1, 1, gate_45, 1, 1], abs=1e-6)
    # Each output node: the sum of its members times 0.9 + 0.1 * its merge score.
    members = torch.zeros(info.num_clusters, X.size(1)).index_add_(0, info.cluster, X)
    assert torch.allclose(x, members * (0.9 + 0.1 * info.score).unsqueeze(-1), atol=1e-6)
    assert x[3].tolist() == pytest.approx([3.0 * (0.9 + 0.1 * gate_45), 0.0], abs=1e-6)


def test_similarity_channels_projects_to_fewer_dimensions_with_orthonormal_rows():
    torch.manual_seed(0)
    pool = ThresholdMergePool(6, threshold=0.5, similarity_channels=3)
    weight = pool.lin.weight.detach()
    assert weight.shape == (3, 6)
    assert torch.allclose(weight @ weight.t(), torch.eye(3), atol=1e-6)
    # The similarity is measured in the projected space; the pooled features keep all six.
    x, edge_index, batch = clustered_batch(seed=0)
    x = x.float()
    x_out, _, _, info = pool(x, edge_index, batch)
    h = x @ weight.t()
    h = (
        h
        - torch.zeros(3, 3).index_add_(0, batch, h).div(torch.bincount(batch).unsqueeze(-1))[batch]
    )
    row, col = info.candidate_index
    expected = torch.nn.functional.cosine_similarity(h[row], h[col])
    assert torch.allclose(info.similarity, expected, atol=1e-5)
    assert x_out.size(1) == 6
    # Square projections stay the identity; bad sizes name the layer and the value.
    assert torch.equal(ThresholdMergePool(6).lin.weight.detach(), torch.eye(6))
    for bad in ({"similarity_channels": 0, "in_channels": 6}, {"similarity_channels": 3}):
        with pytest.raises(ValueError, match="ThresholdMergePool: similarity_channels"):
            ThresholdMergePool(**bad)


def test_gradcheck_with_similarity_channels(gradcheck, module_gradcheck):
    torch.manual_seed(1)
    pool = ThresholdMergePool(6, threshold=0.3, similarity_channels=4).double()
    check_gradients_within_the_merge_pattern(pool, gradcheck, module_gradcheck)
