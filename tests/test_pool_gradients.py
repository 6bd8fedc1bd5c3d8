"""Gradients of ThresholdMergePool: exact within a merge pattern, learnable threshold across them."""

from __future__ import annotations

import math

import pytest
import torch
from pool_settings import classic_pool

from pyg_grapheme.nn import MorphHistory, ThresholdMergePool, pairwise_straight_through
from pyg_grapheme.nn.pool.pair_cosine import pair_cosine, pair_cosine_reference

THRESHOLD = 0.8


def clustered_batch(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three chain graphs (5, 4 and 6 nodes, one chord each) whose nodes come in runs of
    near-identical features, so similarities are either high (~0.98) or clearly lower."""
    gen = torch.Generator().manual_seed(seed)
    runs = [[2, 3], [1, 3], [3, 1, 2]]  # run lengths per graph
    prototypes = torch.randn(8, 6, generator=gen, dtype=torch.float64)
    xs, edges, batch, offset, proto = [], [], [], 0, 0
    for graph, lengths in enumerate(runs):
        n = sum(lengths)
        for length in lengths:
            noise = 0.08 * torch.randn(length, 6, generator=gen, dtype=torch.float64)
            xs.append(prototypes[proto] + noise)
            proto += 1
        src = torch.arange(n - 1) + offset
        edges += [torch.stack([src, src + 1]), torch.stack([src + 1, src])]
        edges.append(torch.tensor([[offset], [offset + n - 1]]))  # a chord, one direction
        batch += [graph] * n
        offset += n
    return torch.cat(xs), torch.cat(edges, dim=1), torch.tensor(batch)


def pooled_outputs(pool: ThresholdMergePool, x, edge_index, batch) -> torch.Tensor:
    """Every differentiable output of the layer, flattened."""
    x_out, _, _, info = pool(x, edge_index, batch)
    return torch.cat(
        [x_out.flatten(), info.member_weight, info.similarity, info.gate, info.edge_weight]
    )


def margin(pool: ThresholdMergePool, x, edge_index, batch) -> float:
    """Distance of the nearest decision to flipping: a similarity to the threshold and,
    for matching, the order of two eligible pairs that share a node."""
    with torch.no_grad():
        _, _, _, info = pool(x, edge_index, batch)
        tau = float(pool.threshold)
    s = info.similarity
    gap = float((s - tau).abs().min())
    if pool.mode == "matching":
        eligible = (s > tau).nonzero().view(-1).tolist()
        for a in eligible:
            for b in eligible:
                shared = set(info.candidate_index[:, a].tolist()) & set(
                    info.candidate_index[:, b].tolist()
                )
                if a < b and shared:
                    gap = min(gap, abs(float(s[a] - s[b])))
    return gap


@pytest.mark.parametrize("mode", ["components", "matching"])
@pytest.mark.parametrize("candidates", ["edges", "all"])
def test_gradcheck_x_projection_and_threshold(gradcheck, module_gradcheck, mode, candidates):
    x, edge_index, batch = clustered_batch(seed=0)
    pool = classic_pool(6, threshold=THRESHOLD, mode=mode, candidates=candidates).double()
    with torch.no_grad():  # a generic projection, not the identity start
        pool.lin.weight.add_(0.2 * torch.randn(6, 6, dtype=torch.float64))
    # eps=1e-6 moves a similarity by about 1e-6: no decision can flip.
    assert margin(pool, x, edge_index, batch) > 1e-4
    _, _, _, info = pool(x, edge_index, batch)
    assert 0 < int(info.merged.sum()) < info.merged.numel()  # a real, partial merge pattern
    assert info.num_clusters < x.size(0)

    gradcheck(lambda x: pooled_outputs(pool, x, edge_index, batch), [x])
    module_gradcheck(
        pool,
        lambda m: pooled_outputs(m, x, edge_index, batch),
        names=["lin.weight", "threshold_logit"],
    )


def test_pooled_features_depend_on_threshold_within_a_pattern():
    """With components of three or more members, the member weights move with tau."""
    x, edge_index, batch = clustered_batch(seed=0)
    pool = classic_pool(6, threshold=THRESHOLD).double()
    x_out, _, _, info = pool(x, edge_index, batch)
    assert int(torch.bincount(info.cluster).max()) >= 3
    (grad,) = torch.autograd.grad((x_out * torch.randn_like(x_out)).sum(), pool.threshold_logit)
    assert abs(float(grad)) > 1e-6


@pytest.mark.parametrize("mode", ["components", "matching"])
def test_gradient_reaches_every_merged_member(mode):
    x, edge_index, batch = clustered_batch(seed=1)
    x = x.float().requires_grad_(True)
    pool = classic_pool(6, threshold=THRESHOLD, mode=mode)
    x_out, _, _, info = pool(x, edge_index, batch)
    assert info.num_clusters < x.size(0)
    (x_out * torch.randn_like(x_out)).sum().backward()
    assert bool((x.grad.abs().sum(dim=1) > 0).all())  # every input node, merged or not
    merged_nodes = info.candidate_index[:, info.merged].unique()
    assert merged_nodes.numel() >= 4
    assert bool((x.grad[merged_nodes].abs().sum(dim=1) > 0).all())
    if mode == "components":  # the gates weigh the members of a cluster of three or more
        assert pool.lin.weight.grad is not None and float(pool.lin.weight.grad.abs().sum()) > 0
    else:  # a matched pair weighs 1/2 each, whatever its gate: nothing reaches the projection
        assert pool.lin.weight.grad is None


def test_gradient_reaches_every_input_node_through_merge_history():
    x, edge_index, batch = clustered_batch(seed=2)
    x = x.float().requires_grad_(True)
    first = classic_pool(6, threshold=0.9)
    second = classic_pool(6, threshold=0.2, mode="matching")
    history = MorphHistory()
    h, e, b, info = first(x, edge_index, batch)
    history.append(info)
    h, e, b, info = second(h, e, b)
    history.append(info)
    assert history.num_clusters < first(x, edge_index, batch)[3].num_clusters < x.size(0)
    (h * torch.randn_like(h)).sum().backward()
    assert bool((x.grad.abs().sum(dim=1) > 0).all())


# --- The threshold learns across merge patterns --------------------------------------------

RHO = 0.9  # within-class cosine similarity
CROSS = 1.0 / 3.0  # cosine of the two class directions: across-class similarity RHO * CROSS = 0.3
LAMBDA = 0.4  # price of one output node, between the cost of a within- and an across-merge


def two_class_chains(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eight chains of 12 nodes in class runs of 1-4. Node i of class c is
    sqrt(rho_i) a_c + sqrt(1 - rho_i) e_i with unit class directions a_0, a_1
    (cos = 1/3), private orthonormal e_i and rho_i ~ 0.9 +- 0.02: within-class
    similarity sqrt(rho_i rho_j) ~ 0.9, across-class ~ 0.3."""
    gen = torch.Generator().manual_seed(seed)
    num_graphs, n = 8, 12
    labels = []
    for _ in range(num_graphs):
        row, c = [], int(torch.randint(2, (1,), generator=gen))
        while len(row) < n:
            row += [c] * int(torch.randint(1, 5, (1,), generator=gen))
            c = 1 - c
        labels += row[:n]
    label = torch.tensor(labels)
    num_nodes = label.numel()
    a = torch.zeros(2, num_nodes + 2, dtype=torch.float64)
    a[0, 0] = 1.0
    a[1, 0], a[1, 1] = CROSS, math.sqrt(1 - CROSS**2)
    rho = RHO + 0.04 * (torch.rand(num_nodes, generator=gen, dtype=torch.float64) - 0.5)
    private = torch.zeros(num_nodes, num_nodes + 2, dtype=torch.float64)
    private[:, 2:] = torch.eye(num_nodes, dtype=torch.float64)
    x = rho.sqrt().unsqueeze(1) * a[label] + (1 - rho).sqrt().unsqueeze(1) * private
    src = torch.arange(num_nodes).view(num_graphs, n)[:, :-1].reshape(-1)
    edge_index = torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], dim=1)
    batch = torch.arange(num_graphs).repeat_interleave(n)
    return x.float(), edge_index, batch, label


def compression_loss(pool: ThresholdMergePool, x, edge_index, batch) -> tuple[torch.Tensor, ...]:
    """Hard loss  L = sum_i ||x_i - unpool(x_out)_i||^2 + LAMBDA * (number of output nodes),
    with the pairwise straight-through estimator for its dependence on the merge pattern:
    merging candidate pair (i, j) alone changes L by Delta_ij = ||x_i - x_j||^2 / 2 - LAMBDA,
    and sum_ij g_ij Delta_ij enters the backward pass only."""
    x_out, _, _, info = pool(x, edge_index, batch)
    x_up, _, _ = pool.unpool(x_out, info)
    hard = ((x - x_up) ** 2).sum() + LAMBDA * info.num_clusters
    row, col = info.candidate_index
    delta = ((x[row] - x[col]) ** 2).sum(dim=1) / 2 - LAMBDA
    return pairwise_straight_through(hard, info.gate, delta), info


def hard_loss_at(threshold: float, x, edge_index, batch) -> float:
    pool = classic_pool(threshold=threshold)
    with torch.no_grad():
        return float(compression_loss(pool, x, edge_index, batch)[0])


def test_compression_loss_is_lowest_for_exactly_the_within_class_merge():
    x, edge_index, batch, label = two_class_chains(seed=0)
    pool = classic_pool(threshold=0.6)
    _, info = compression_loss(pool, x, edge_index, batch)
    row, col = info.candidate_index
    within = label[row] == label[col]
    assert torch.equal(info.merged, within)
    assert float(info.similarity[within].min()) > 0.85
    assert float(info.similarity[~within].max()) < 0.35
    best = hard_loss_at(0.6, x, edge_index, batch)
    # Above every pair nothing merges, below every pair everything merges, at the median
    # within-class similarity half of the within-class pairs merge: all cost more.
    half = float(info.similarity[within].median())
    for tau in (0.97, half, 0.25, 0.05):
        assert hard_loss_at(tau, x, edge_index, batch) > best + 1.0, tau


@pytest.mark.parametrize(
    ("mode", "start", "steps_to_enter"),
    [
        ("components", 0.97, 15),
        ("components", 0.05, 43),
        ("matching", 0.97, 15),
        ("matching", 0.05, 42),
    ],
)
def test_threshold_learns_across_merge_patterns(mode, start, steps_to_enter):
    x, edge_index, batch, label = two_class_chains(seed=0)
    pool = classic_pool(threshold=start, mode=mode)
    optimizer = torch.optim.SGD([pool.threshold_logit], lr=0.05)
    _, info = compression_loss(pool, x, edge_index, batch)
    row, col = info.candidate_index
    within = label[row] == label[col]
    # The start is wrong: no pair is above the threshold (0.97) or every pair is (0.05).
    above = info.similarity > start
    assert bool((~above).all()) if start > 0.5 else bool(above.all())

    trajectory = []
    for _ in range(200):
        optimizer.zero_grad()
        loss, info = compression_loss(pool, x, edge_index, batch)
        loss.backward()
        optimizer.step()
        trajectory.append(float(pool.threshold.detach()))
    tau = float(pool.threshold.detach())
    assert 0.3 < tau < 0.9, trajectory[::20]
    # Plain SGD on the threshold alone enters the gap (0.3, 0.9) between the across- and
    # within-class similarities after this many steps (the README quotes them).
    entered = next(step for step, t in enumerate(trajectory, 1) if 0.3 < t < 0.9)
    assert entered == steps_to_enter, trajectory[: steps_to_enter + 2]
    _, info = compression_loss(pool, x, edge_index, batch)
    if mode == "components":
        assert torch.equal(info.merged, within)
    else:  # the matching merges within-class pairs only, each node once
        assert bool(info.merged[~within].logical_not().all()) and int(info.merged.sum()) > 0


def test_pair_cosine_function_matches_autograd_reference(gradcheck):
    """The autograd Function (no [P, F] tensor kept) equals plain gathers + autograd, zero
    rows included."""
    gen = torch.Generator().manual_seed(3)
    h = torch.randn(12, 5, generator=gen, dtype=torch.float64)
    h[4] = 0.0  # a zero row: similarity 0, no gradient through its norm
    pairs = torch.tensor([[0, 0, 1, 2, 3, 4, 4, 7, 9], [1, 5, 2, 8, 11, 6, 9, 8, 10]])
    fast = pair_cosine(h, pairs)
    slow = pair_cosine_reference(h, pairs)
    assert torch.allclose(fast, slow, atol=1e-12)
    assert fast[5].item() == 0.0 and fast[6].item() == 0.0
    weights = torch.randn(pairs.size(1), generator=gen, dtype=torch.float64)
    grads = [
        torch.autograd.grad((fn(h.requires_grad_(True), pairs) * weights).sum(), h)[0]
        for fn in (pair_cosine, pair_cosine_reference)
    ]
    assert torch.allclose(grads[0], grads[1], atol=1e-12)
    h_nonzero = torch.randn(12, 5, generator=gen)
    gradcheck(lambda h: pair_cosine(h, pairs), [h_nonzero])
    # No pairs: an empty result that still joins the graph.
    empty = pair_cosine(h, torch.zeros(2, 0, dtype=torch.long))
    assert empty.shape == (0,)
