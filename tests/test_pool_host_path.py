"""ThresholdMergePool on CPU runs compiled host kernels (nn/pool/host); these tests hold them
to the tensor code (nn/pool/select, reduce, connect) and to the Triton kernels that CUDA runs
(nn/pool/gpu, in Triton's interpreter where there is no GPU)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from test_pool_threshold_merge import random_batch

from pyg_grapheme.nn import ThresholdMergePool
from pyg_grapheme.nn.pool import connect, select
from pyg_grapheme.nn.pool.gpu import select as gpu_select
from pyg_grapheme.nn.pool.host import connect as host_connect
from pyg_grapheme.nn.pool.host import select as host_select
from pyg_grapheme.nn.pool.host.connect import edge_weights
from pyg_grapheme.nn.pool.host.reduce import matching_reduce
from pyg_grapheme.nn.pool.host.select import pair_scores

KERNELS = gpu_select.available() and gpu_select.interpreted()  # on CPU tensors


def awkward_batch(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random graphs with self-loops, duplicate and one-way edges, edges between graphs, and
    the edge list shuffled: every layout the general paths must handle."""
    x, edge_index, batch = random_batch(12, 9, 0.35, 5, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    n = x.size(0)
    extra = torch.stack(
        [
            torch.randint(0, n, (8,), generator=gen),  # random: some cross graphs
            torch.randint(0, n, (8,), generator=gen),
        ]
    )
    loops = torch.arange(0, n, 7).repeat(2, 1)
    edge_index = torch.cat([edge_index, edge_index[:, :5], extra, loops], dim=1)
    return x, edge_index[:, torch.randperm(edge_index.size(1), generator=gen)], batch


def layouts(seed: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    x, edge_index, batch = random_batch(10, 12, 0.3, 5, seed=seed)
    chain = torch.stack([torch.arange(x.size(0) - 1), torch.arange(1, x.size(0))])
    chain = chain[:, batch[chain[0]] == batch[chain[1]]]
    return [(x, edge_index, batch), (x, chain, batch), awkward_batch(seed)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_select_and_connect_twins_equal_the_tensor_versions(seed):
    for x, edge_index, batch in layouts(seed):
        n = x.size(0)
        graph, _ = select.graph_ids(batch)
        padded, padded_pair_of_edge, num_pairs = select.edge_candidates(edge_index, graph, n)
        p = int(num_pairs)
        pairs = padded[:, :p]
        assert bool((padded[:, p:] == n - 1).all())  # padding: the last node, rows stay sorted
        pairs_host, pair_of_edge_host = host_select.edge_candidates(
            edge_index.numpy(), batch.numpy(), n
        )
        assert np.array_equal(pairs_host, pairs.numpy())
        # Non-candidates point past the pairs: M (= E) in the padded form, P on the host.
        pair_of_edge = padded_pair_of_edge.clone()
        pair_of_edge[pair_of_edge == padded.size(1)] = p
        assert np.array_equal(pair_of_edge_host, pair_of_edge.numpy())
        gen = torch.Generator().manual_seed(seed)
        # Scores with ties (rounded) so that the tie rule (pair order) is exercised too.
        score = torch.round(torch.rand(pairs.size(1), generator=gen) * 4) / 4
        active = score > 0.2
        matched = select.greedy_matching(pairs, score, active, n)
        matched_host = host_select.greedy_matching(pairs.numpy(), score.numpy(), active.numpy(), n)
        assert np.array_equal(matched_host, matched.numpy())
        assert matched.sum() > 0
        root = select.connected_components(pairs, active, n)
        root_host = host_select.connected_components(pairs.numpy(), active.numpy(), n)
        assert np.array_equal(root_host, root.numpy())
        if KERNELS:
            rank = select.descending_rank(score, active)
            for rounds in (0, 1, 8):  # any number of rounds: the walk finishes exactly
                got = gpu_select.greedy_matching(pairs, rank, active, n, rounds)
                assert torch.equal(got, matched), rounds
            assert torch.equal(gpu_select.connected_components(pairs, active, n), root)
        # Unsorted batch vectors number clusters by graph, then smallest member.
        shuffled_batch = batch[torch.randperm(n, generator=gen)]
        for b in (batch, shuffled_batch):
            cluster, count = select.number_clusters(root, select.graph_ids(b)[1])
            cluster_host, count_host = host_select.number_clusters(root.numpy(), b.numpy())
            assert count_host == int(count) and np.array_equal(cluster_host, cluster.numpy())
        c = int(count)
        slot, out, counts, num_out = connect.pooled_edges(edge_index, cluster, n)
        keep_host, slot_host, out_host, counts_host = host_connect.pooled_edges(
            edge_index.numpy(), cluster.numpy(), c
        )
        e_out = int(num_out)
        assert np.array_equal(out_host, out[:, :e_out].numpy())
        assert np.array_equal(counts_host, counts[:e_out].numpy())
        assert bool((counts[e_out:] == 0).all())
        kept = slot < edge_index.size(1)
        assert np.array_equal(keep_host, kept.nonzero().view(-1).numpy())
        assert np.array_equal(slot_host, slot[kept].numpy())


def test_matching_roots_and_components_on_hand_built_pairs():
    pairs = np.array([[0, 1, 2, 5, 6], [1, 2, 3, 6, 7]])
    matched = np.array([True, False, True, False, True])
    assert host_select.matching_roots(pairs, matched, 8).tolist() == [0, 0, 2, 2, 4, 5, 6, 6]
    # Labels that alternate along a path: the root is the smallest index all the same.
    order = [0, 5, 1, 6, 2, 7, 3, 8, 4, 9]
    lo = np.minimum(order[:-1], order[1:])
    hi = np.maximum(order[:-1], order[1:])
    path = np.stack([lo, hi])[:, np.argsort(lo * 10 + hi)]
    root = host_select.connected_components(path, np.ones(9, dtype=bool), 11)
    assert root.tolist() == [0] * 10 + [10]


OPTIONS = [
    dict(zip(("mode", "similarity", "gate_features", "reduce"), combo))
    for combo in itertools.product(
        ("matching", "components"), ("centered", "cosine"), (1.0, 0.3, 0.0), ("sum", "mean")
    )
]


def run(pool, x, edge_index, batch, edge_attr, host: bool, monkeypatch):
    """Forward and backward through one path; returns the outputs and the gradients."""
    with monkeypatch.context() as patch:
        if not host:
            patch.setattr(ThresholdMergePool, "_runs_on_host", lambda self, x: False)
        pool.zero_grad()
        x = x.clone().requires_grad_(True)
        x_out, edge_index_out, batch_out, info = pool(x, edge_index, batch, edge_attr)
    gen = torch.Generator().manual_seed(5)
    loss = (
        (x_out * torch.randn(x_out.shape, generator=gen, dtype=x_out.dtype)).sum()
        + (info.gate * torch.randn(info.gate.shape, generator=gen, dtype=x_out.dtype)).sum()
        + (info.edge_weight.square()).sum()
        + (info.score * torch.arange(info.score.numel(), dtype=x_out.dtype)).sum()
        + info.similarity.sum()
        + (info.member_weight * torch.arange(x.size(0), dtype=x_out.dtype)).sum()
    )
    loss.backward()
    grads = [x.grad, pool.threshold_logit.grad]
    if pool.lin is not None:
        grads.append(pool.lin.weight.grad)
    return (x_out, edge_index_out, batch_out, info), grads


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(map(str, o.values())))
@pytest.mark.parametrize("channels", [None, 5, 3], ids=["identity", "square", "projected"])
def test_host_path_equals_tensor_path(options, channels, monkeypatch):
    """Clusters, pooled graph, every differentiable output of the record, and the gradients
    w.r.t. x, the projection and the threshold logit agree in float64."""
    for seed, (x, edge_index, batch) in enumerate(layouts(3)):
        x = x.double()
        edge_attr = torch.rand(edge_index.size(1), 2, dtype=torch.float64)
        torch.manual_seed(seed)
        kwargs = {} if channels in (None, 5) else {"similarity_channels": channels}
        pool = ThresholdMergePool(
            None if channels is None else 5, threshold=0.3, **options, **kwargs
        )
        pool = pool.double()
        host, host_grads = run(pool, x, edge_index, batch, edge_attr, True, monkeypatch)
        tensor, tensor_grads = run(pool, x, edge_index, batch, edge_attr, False, monkeypatch)
        assert "_PairScores" in type(host[3].gate.grad_fn).__name__  # really two paths
        assert "_PairScores" not in type(tensor[3].gate.grad_fn).__name__
        assert torch.equal(host[1], tensor[1]) and torch.equal(host[2], tensor[2])
        assert torch.allclose(host[0], tensor[0], atol=1e-12)
        for name in ("cluster", "candidate_index", "merged", "edge_index", "batch"):
            assert torch.equal(getattr(host[3], name), getattr(tensor[3], name)), name
        assert host[3].num_clusters == tensor[3].num_clusters < x.size(0)
        for name in ("member_weight", "similarity", "gate", "edge_weight", "edge_attr", "score"):
            assert torch.allclose(getattr(host[3], name), getattr(tensor[3], name), atol=1e-12)
        for got, want in zip(host_grads, tensor_grads):
            assert got is not None and want is not None
            assert torch.allclose(got, want, atol=1e-10)


def test_host_path_with_a_ratio_and_float32_matches_tensor_path(monkeypatch):
    x, edge_index, batch = awkward_batch(4)
    pool = ThresholdMergePool(5, ratio=0.7)
    pool(x, edge_index, batch)  # tau starts from the data, on the host path
    host, host_grads = run(pool, x, edge_index, batch, None, True, monkeypatch)
    tensor, tensor_grads = run(pool, x, edge_index, batch, None, False, monkeypatch)
    assert torch.equal(host[3].cluster, tensor[3].cluster) and torch.equal(host[1], tensor[1])
    assert torch.allclose(host[0], tensor[0], atol=1e-5)
    for got, want in zip(host_grads, tensor_grads):
        assert torch.allclose(got, want, atol=1e-4)
    counts = torch.bincount(batch)
    kept = torch.bincount(host[2], minlength=counts.numel())
    assert bool((kept >= torch.ceil(0.7 * counts)).all())


def test_other_dtypes_take_the_tensor_path():
    x, edge_index, batch = random_batch(4, 8, 0.4, 4, seed=2)
    pool = ThresholdMergePool(threshold=0.3)
    half = pool(x.bfloat16(), edge_index, batch)
    full = pool(x, edge_index, batch)
    assert "_PairScores" not in type(half[3].gate.grad_fn or object()).__name__
    assert half[0].dtype == torch.bfloat16 and half[3].num_clusters > 0
    assert full[3].num_clusters > 0 and pool._runs_on_host(x)
    assert not pool._runs_on_host(x.bfloat16())
    assert not ThresholdMergePool(candidates="all")._runs_on_host(x)
    mixed = ThresholdMergePool(4).double()
    assert not mixed._runs_on_host(x)  # float32 features, float64 projection


def test_host_functions_gradcheck(gradcheck):
    """Each autograd Function alone, every differentiable output, in float64."""
    x, edge_index, batch = awkward_batch(6)
    x = x.double()
    n = x.size(0)
    pairs, pair_of_edge = host_select.edge_candidates(edge_index.numpy(), batch.numpy(), n)
    graph = batch.numpy()
    num_graphs = int(graph.max()) + 1
    weight = torch.randn(3, x.size(1), dtype=torch.float64, requires_grad=True)
    logit = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    leaf = x.clone().requires_grad_(True)
    assert gradcheck(
        lambda x, w, t: pair_scores(x, w, t, pairs, graph, num_graphs, True, 0.5),
        (leaf, weight, logit),
    )
    assert gradcheck(
        lambda x, t: pair_scores(x, None, t, pairs, graph, num_graphs, False, 0.5), (leaf, logit)
    )
    similarity, gate = pair_scores(x, None, logit.detach(), pairs, graph, num_graphs, True, 0.5)
    above = similarity.numpy() > 0.0
    merged = host_select.greedy_matching(pairs, similarity.numpy(), above, n)
    root = host_select.matching_roots(pairs, merged, n)
    cluster, num_clusters = host_select.number_clusters(root, graph)
    assert merged.sum() >= 3
    gate_leaf = gate.detach().clone().requires_grad_(True)
    for mean, strength in itertools.product((False, True), (0.0, 0.3, 1.0)):
        assert gradcheck(
            lambda x, g, m=mean, q=strength: [
                out
                for i, out in enumerate(
                    matching_reduce(x, g, pairs, merged, cluster, num_clusters, m, q)
                )
                if i in (0, 3) and out.requires_grad
            ],
            (leaf, gate_leaf),
        )
    keep, slot, _, count = host_connect.pooled_edges(edge_index.numpy(), cluster, num_clusters)
    assert gradcheck(lambda g: edge_weights(g, pair_of_edge, keep, slot, count), (gate_leaf,))


def test_host_path_on_empty_and_edgeless_graphs():
    pool = ThresholdMergePool(3, threshold=0.5)
    empty = pool(torch.zeros(0, 3), torch.zeros(2, 0, dtype=torch.long), None)
    assert empty[0].shape == (0, 3) and empty[1].shape == (2, 0) and empty[3].num_clusters == 0
    x = torch.randn(4, 3, requires_grad=True)
    alone = pool(x, torch.zeros(2, 0, dtype=torch.long), torch.tensor([0, 0, 1, 1]))
    assert alone[3].num_clusters == 4 and torch.equal(alone[2], torch.tensor([0, 0, 1, 1]))
    alone[0].sum().backward()
    assert torch.equal(x.grad, torch.ones(4, 3))  # a node left alone passes through, score 1


def test_changing_the_input_in_place_before_backward_is_caught():
    """The host Functions save their inputs as tensors, so autograd's version check applies."""
    x, edge_index, batch = random_batch(3, 8, 0.5, 4, seed=1)
    leaf = x.clone().requires_grad_(True)
    features = leaf * 1.0
    _, _, _, info = ThresholdMergePool(4, threshold=0.3)(features, edge_index, batch)
    features.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        info.gate.sum().backward()
