"""Contract tests for ThresholdMergePool: exact outputs on hand-built graphs, oracles, invariants."""

from __future__ import annotations

import math
import warnings

import pytest
import scipy.sparse
import torch
from pool_settings import PATHS, classic_pool, pool_path
from scipy.sparse.csgraph import connected_components as scipy_components
from torch_geometric.nn.pool import EdgePooling

from pyg_grapheme.nn import MergeInfo, ThresholdMergePool

# Two graphs. Graph 0: chain 0-1-2-3 (both directions) plus the directed edge 0->3.
# Graph 1: chain 4-5-6 (both directions) and the isolated node 7.
X = torch.tensor(
    [
        [2.0, 0.0],
        [1.0, 0.0],
        [0.0, 1.0],
        [1.0, 3.0],
        [1.0, 0.0],
        [2.0, 0.0],
        [4.0, 0.0],
        [1.0, -1.0],
    ]
)
EDGE_INDEX = torch.tensor([[0, 1, 1, 2, 2, 3, 0, 4, 5, 5, 6], [1, 0, 2, 1, 3, 2, 3, 5, 4, 6, 5]])
EDGE_ATTR = torch.tensor(
    [[1.0], [1.0], [2.0], [4.0], [1.0], [1.0], [6.0], [1.0], [1.0], [1.0], [1.0]]
)
BATCH = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
# Cosine similarities of the candidate pairs (0,1) (0,3) (1,2) (2,3) (4,5) (5,6):
SIMILARITY = [1.0, 1 / math.sqrt(10), 0.0, 3 / math.sqrt(10), 1.0, 1.0]


def one_minus_gate(s: float, tau: float = 0.8, temperature: float = 0.1) -> float:
    return 1.0 - 1.0 / (1.0 + math.exp(-(s - tau) / temperature))


def chain(num_nodes: int, both_directions: bool = True) -> torch.Tensor:
    src = torch.arange(num_nodes - 1)
    edge_index = torch.stack([src, src + 1])
    if both_directions:
        edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    return edge_index


def random_batch(
    num_graphs: int, max_nodes: int, edge_prob: float, channels: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random undirected graphs of 1..max_nodes nodes, concatenated as a PyG batch."""
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.randint(1, max_nodes + 1, (num_graphs,), generator=gen)
    edges, offset = [], 0
    for n in sizes.tolist():
        adj = torch.rand(n, n, generator=gen) < edge_prob
        row, col = torch.triu(adj, diagonal=1).nonzero().t()
        edges.append(torch.stack([torch.cat([row, col]), torch.cat([col, row])]) + offset)
        offset += n
    x = torch.randn(offset, channels, generator=gen)
    batch = torch.arange(num_graphs).repeat_interleave(sizes)
    return x, torch.cat(edges, dim=1), batch


def test_repr_and_threshold():
    pool = classic_pool(16, threshold=0.7, mode="matching")
    assert str(pool) == (
        "ThresholdMergePool(16, threshold=0.70, mode='matching', candidates='edges', "
        "similarity='cosine', gate_features=0.0, self_loops=False)"
    )
    assert str(ThresholdMergePool(ratio=0.5)) == (
        "ThresholdMergePool(None, threshold=None, mode='matching', candidates='edges', "
        "similarity='centered', gate_features=0.1, ratio=0.5, self_loops=True)"
    )
    assert isinstance(pool.threshold_logit, torch.nn.Parameter)
    assert pool.threshold.item() == pytest.approx(0.7, abs=1e-6)
    assert pool.threshold_logit.item() == pytest.approx(math.log(0.7 / 0.3), abs=1e-6)
    assert torch.equal(pool.lin.weight, torch.eye(16))  # similarity starts as raw cosine
    with torch.no_grad():
        pool.threshold_logit.fill_(0.0)
        pool.lin.weight.mul_(3.0)
    pool.reset_parameters()
    assert pool.threshold.item() == pytest.approx(0.7, abs=1e-6)
    assert torch.equal(pool.lin.weight, torch.eye(16))


def test_exact_output_components():
    pool = classic_pool(2)
    x, edge_index, batch, info = pool(X, EDGE_INDEX, BATCH, edge_attr=EDGE_ATTR)

    assert isinstance(info, MergeInfo)
    assert info.cluster.tolist() == [0, 0, 1, 1, 2, 2, 2, 3]
    assert info.num_clusters == 4
    # Pairs average; the chain 4-5-6 weighs its middle twice (soft degrees g, 2g, g).
    expected_x = [[1.5, 0.0], [0.5, 2.0], [2.25, 0.0], [1.0, -1.0]]
    assert torch.allclose(x, torch.tensor(expected_x), atol=1e-6)
    expected_weight = [0.5, 0.5, 0.5, 0.5, 0.25, 0.5, 0.25, 1.0]
    assert torch.allclose(info.member_weight, torch.tensor(expected_weight), atol=1e-6)
    assert batch.tolist() == [0, 0, 1, 1]
    # 1->2 and 0->3 both become 0->1; 2->1 becomes 1->0; everything else is inside a cluster.
    assert edge_index.tolist() == [[0, 1], [1, 0]]
    assert torch.allclose(info.edge_attr, torch.tensor([[(2.0 + 6.0) / 2], [4.0]]))
    expected_edge_weight = [
        (one_minus_gate(SIMILARITY[2]) + one_minus_gate(SIMILARITY[1])) / 2,
        one_minus_gate(SIMILARITY[2]),
    ]
    assert torch.allclose(info.edge_weight, torch.tensor(expected_edge_weight), atol=1e-6)

    assert info.candidate_index.tolist() == [[0, 0, 1, 2, 4, 5], [1, 3, 2, 3, 5, 6]]
    assert torch.allclose(info.similarity, torch.tensor(SIMILARITY), atol=1e-6)
    expected_gate = [1 - one_minus_gate(s) for s in SIMILARITY]
    assert torch.allclose(info.gate, torch.tensor(expected_gate), atol=1e-6)
    assert info.merged.tolist() == [True, False, False, True, True, True]
    assert info.edge_index is EDGE_INDEX and info.batch is BATCH


def test_exact_output_matching():
    pool = classic_pool(2, mode="matching")
    x, edge_index, batch, info = pool(X, EDGE_INDEX, BATCH)

    # Descending similarity, ties by node index: (0,1), (4,5), then (5,6) is blocked, then (2,3).
    assert info.merged.tolist() == [True, False, False, True, True, False]
    assert info.cluster.tolist() == [0, 0, 1, 1, 2, 2, 3, 4]
    expected_x = [[1.5, 0.0], [0.5, 2.0], [1.5, 0.0], [4.0, 0.0], [1.0, -1.0]]
    assert torch.allclose(x, torch.tensor(expected_x), atol=1e-6)
    assert batch.tolist() == [0, 0, 1, 1, 1]
    assert edge_index.tolist() == [[0, 1, 2, 3], [1, 0, 3, 2]]
    edge_weight_56 = one_minus_gate(1.0)
    expected_edge_weight = [
        (one_minus_gate(SIMILARITY[2]) + one_minus_gate(SIMILARITY[1])) / 2,
        one_minus_gate(SIMILARITY[2]),
        edge_weight_56,
        edge_weight_56,
    ]
    assert torch.allclose(info.edge_weight, torch.tensor(expected_edge_weight), atol=1e-6)
    assert info.edge_attr is None


def test_reduce_sum_scales_by_cluster_size_and_unpools_to_mean():
    pool = classic_pool(2, reduce="sum")
    x, _, _, info = pool(X, EDGE_INDEX, BATCH)
    expected_x = [[3.0, 0.0], [1.0, 4.0], [6.75, 0.0], [1.0, -1.0]]
    assert torch.allclose(x, torch.tensor(expected_x), atol=1e-6)
    x_up, _, _ = pool.unpool(x, info)
    mean = [[1.5, 0.0]] * 2 + [[0.5, 2.0]] * 2 + [[2.25, 0.0]] * 3 + [[1.0, -1.0]]
    assert torch.allclose(x_up, torch.tensor(mean), atol=1e-6)


@pytest.mark.parametrize("mode", ["components", "matching"])
@pytest.mark.parametrize("candidates", ["edges", "all"])
def test_shapes_bounds_and_batch_consistency(mode, candidates):
    x, edge_index, batch = random_batch(12, 9, 0.4, 8, seed=1)
    pool = classic_pool(8, threshold=0.3, mode=mode, candidates=candidates)
    x_out, edge_index_out, batch_out, info = pool(x, edge_index, batch)
    num_out = x_out.size(0)

    assert x_out.shape == (info.num_clusters, 8)
    assert 0 < num_out < x.size(0)  # something merged, nothing vanished
    assert info.cluster.shape == (x.size(0),) and info.cluster.dtype == torch.long
    assert int(info.cluster.min()) == 0 and int(info.cluster.max()) == num_out - 1
    assert torch.unique(info.cluster).numel() == num_out  # every output node has a member
    assert edge_index_out.dtype == torch.long and edge_index_out.size(0) == 2
    if edge_index_out.numel() > 0:
        assert int(edge_index_out.max()) < num_out and int(edge_index_out.min()) >= 0
    assert bool((edge_index_out[0] != edge_index_out[1]).all())  # no self-loops
    assert torch.unique(edge_index_out, dim=1).size(1) == edge_index_out.size(1)  # no duplicates
    assert info.edge_weight.shape == (edge_index_out.size(1),)
    # Batch vector: sorted, and every member sits in its cluster's graph.
    assert torch.equal(batch_out[info.cluster], batch)
    assert bool((batch_out[1:] >= batch_out[:-1]).all())
    # Within a graph, clusters are ordered by their smallest member.
    smallest = torch.full((num_out,), x.size(0)).scatter_reduce(
        0, info.cluster, torch.arange(x.size(0)), "amin"
    )
    assert bool((smallest[1:] > smallest[:-1]).all())
    # Member weights form a distribution over each cluster.
    total = torch.zeros(num_out).index_add_(0, info.cluster, info.member_weight.detach())
    assert torch.allclose(total, torch.ones(num_out), atol=1e-6)
    assert bool((info.member_weight > 0).all())
    # The pairs: i < j inside one graph, sorted, unique, with gate and similarity per pair.
    row, col = info.candidate_index
    assert bool((row < col).all()) and torch.equal(batch[row], batch[col])
    key = row * x.size(0) + col
    assert bool((key[1:] > key[:-1]).all())
    p = info.candidate_index.size(1)
    assert info.similarity.shape == info.gate.shape == info.merged.shape == (p,)
    if candidates == "all":
        sizes = torch.bincount(batch)
        assert p == int((sizes * (sizes - 1) // 2).sum())
    # Merged pairs are above the threshold and end in one cluster.
    assert bool((info.similarity[info.merged] > pool.threshold).all())
    assert torch.equal(info.cluster[row[info.merged]], info.cluster[col[info.merged]])
    if mode == "matching":  # each node merges at most once
        ends = info.candidate_index[:, info.merged].reshape(-1)
        assert torch.unique(ends).numel() == ends.numel()


def test_components_match_scipy():
    for seed in range(5):
        x, edge_index, batch = random_batch(20, 15, 0.25, 6, seed=seed)
        pool = classic_pool(threshold=0.2 + 0.1 * seed)
        _, _, _, info = pool(x, edge_index, batch)
        above = info.similarity > pool.threshold
        row, col = info.candidate_index[:, above].numpy()
        n = x.size(0)
        adj = scipy.sparse.coo_matrix(([1] * len(row), (row, col)), shape=(n, n))
        _, label = scipy_components(adj, directed=False)
        label = torch.from_numpy(label).long()
        # Number scipy's components the documented way: by (graph, smallest member).
        smallest = torch.full((n,), n).scatter_reduce(0, label, torch.arange(n), "amin")[label]
        order = sorted(set(smallest.tolist()), key=lambda i: (int(batch[i]), i))
        expected = torch.tensor([order.index(i) for i in smallest.tolist()])
        assert torch.equal(info.cluster, expected)


def test_matching_matches_edge_pooling_greedy_rule():
    """The vectorised matching picks the same pairs as EdgePooling's sequential loop."""
    for seed in range(5):
        x, edge_index, batch = random_batch(15, 14, 0.35, 6, seed=seed)
        pool = classic_pool(threshold=0.1, mode="matching")
        _, _, _, info = pool(x, edge_index, batch)
        above = info.similarity > pool.threshold
        eligible = info.candidate_index[:, above]
        score = info.similarity[above].detach()
        assert torch.unique(score).numel() == score.numel()  # no ties: the order is unique
        _, _, _, reference = EdgePooling(6)._merge_edges(x, eligible, batch, score)
        groups = {}
        for node, c in enumerate(reference.cluster.tolist()):
            groups.setdefault(c, set()).add(node)
        expected = {frozenset(g) for g in groups.values()}
        ours = {}
        for node, c in enumerate(info.cluster.tolist()):
            ours.setdefault(c, set()).add(node)
        assert {frozenset(g) for g in ours.values()} == expected


def test_chain_stays_chain_and_direction_is_kept():
    # Directed chain 0->1->2->3->4; nodes 1 and 2 are alike, 3 is alone.
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0], [1.0, 1.0], [1.0, -1.0]])
    edge_index = chain(5, both_directions=False)
    pool = classic_pool(threshold=0.9)
    x_out, edge_index_out, _, info = pool(x, edge_index)
    assert info.cluster.tolist() == [0, 1, 1, 2, 3]
    assert edge_index_out.tolist() == [[0, 1, 2], [1, 2, 3]]
    assert torch.equal(x_out[[0, 2, 3]], x[[0, 3, 4]])


def test_isolated_nodes_and_single_node_graphs_pass_through():
    # Graph 0: one node. Graph 1: nodes 1-2 adjacent, node 3 isolated (equal to node 1).
    # Graph 2: one node.
    x = torch.tensor([[0.3, 0.7], [1.0, 0.0], [1.0, 0.01], [1.0, 0.0], [-2.0, 5.0]])
    edge_index = torch.tensor([[1, 2], [2, 1]])
    batch = torch.tensor([0, 1, 1, 1, 2])
    expected_cluster = {
        ("components", "edges"): [0, 1, 1, 2, 3],  # node 3 has no edge: stays alone
        ("matching", "edges"): [0, 1, 1, 2, 3],
        ("components", "all"): [0, 1, 1, 1, 2],  # s(1,3) = 1 > s(1,2) = s(2,3) > 0.999
        ("matching", "all"): [0, 1, 2, 1, 3],  # (1,3) first; 2 is left alone
    }
    for (mode, candidates), cluster in expected_cluster.items():
        pool = classic_pool(mode=mode, candidates=candidates, threshold=0.999)
        x_out, edge_index_out, batch_out, info = pool(x, edge_index, batch)
        assert info.cluster.tolist() == cluster, (mode, candidates)
        assert torch.equal(x_out[0], x[0]) and torch.equal(x_out[-1], x[-1])  # bitwise
        assert batch_out.tolist()[0] == 0 and batch_out.tolist()[-1] == 2
        assert info.member_weight[0].item() == 1.0 and info.member_weight[-1].item() == 1.0
        # Only the matching over all pairs leaves the edge 1-2 between two clusters.
        expected_edges = [[1, 2], [2, 1]] if cluster == [0, 1, 2, 1, 3] else [[], []]
        assert edge_index_out.tolist() == expected_edges
    x_out, _, _, info = classic_pool(threshold=0.999)(x, edge_index, batch)
    assert torch.equal(x_out[2], x[3])  # the isolated node too


def test_merges_never_cross_graphs():
    # Every node is identical; three graphs, and even an (invalid) edge between graphs.
    x = torch.ones(7, 3)
    batch = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]])
    for mode in ("components", "matching"):
        for candidates in ("edges", "all"):
            pool = classic_pool(mode=mode, candidates=candidates)
            _, _, batch_out, info = pool(x, edge_index, batch)
            assert torch.equal(batch_out[info.cluster], batch)
            if mode == "components":
                assert info.cluster.tolist() == [0, 0, 0, 1, 1, 2, 2]
    _, _, _, info = classic_pool()(x, edge_index, batch)
    assert [2, 3] not in info.candidate_index.t().tolist()


def test_unsorted_batch_gives_same_clusters_as_sorted():
    x, edge_index, batch = random_batch(6, 8, 0.4, 4, seed=3)
    perm = torch.randperm(x.size(0), generator=torch.Generator().manual_seed(0))
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel())
    for mode in ("components", "matching"):
        for candidates in ("edges", "all"):
            pool = classic_pool(threshold=0.3, mode=mode, candidates=candidates)
            _x_ref, _, b_ref, ref = pool(x, edge_index, batch)
            _x_p, _, b_p, info = pool(x[perm], inv[edge_index], batch[perm])
            assert bool((b_p[1:] >= b_p[:-1]).all())  # output batch is sorted anyway
            # Same partition; output nodes in the same graph order.
            assert torch.equal(b_p, b_ref)
            groups_ref = {
                frozenset((ref.cluster == c).nonzero().view(-1).tolist())
                for c in range(ref.num_clusters)
            }
            groups = {
                frozenset(perm[(info.cluster == c)].tolist()) for c in range(info.num_clusters)
            }
            assert groups == groups_ref


def test_all_candidates_refuse_above_max_pairs():
    pool = classic_pool(candidates="all", max_pairs=5)
    x = torch.randn(4, 3)
    with pytest.raises(
        ValueError,
        match=r"would score 6 pairs .*largest graph has 4 nodes.*"
        r"max_pairs=5",
    ):
        pool(x, chain(4))
    # Two graphs of 3 nodes: 3 + 3 pairs.
    with pytest.raises(ValueError, match="would score 6 pairs"):
        pool(torch.randn(6, 3), chain(3), torch.tensor([0, 0, 0, 1, 1, 1]))
    _x_out, _, _, info = pool(torch.randn(5, 3), chain(3), torch.tensor([0, 0, 0, 1, 1]))
    assert info.candidate_index.tolist() == [[0, 0, 1, 3], [1, 2, 2, 4]]


def test_unpool_round_trip():
    x, edge_index, batch = random_batch(8, 10, 0.3, 5, seed=4)
    for mode in ("components", "matching"):
        pool = classic_pool(5, threshold=0.3, mode=mode)
        x_out, _, _, info = pool(x, edge_index, batch)
        x_up, edge_index_up, batch_up = pool.unpool(x_out, info)
        assert x_up.shape == x.shape
        assert torch.equal(x_up, x_out[info.cluster])
        assert torch.equal(edge_index_up, edge_index) and torch.equal(batch_up, batch)
    with pytest.raises(ValueError, match=f"expected x with {info.num_clusters} rows"):
        pool.unpool(x, info)


def test_batch_none_means_one_graph():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    _x_out, _, batch_out, info = classic_pool()(x, chain(3))
    assert info.batch.tolist() == [0, 0, 0] and batch_out.tolist() == [0, 0]
    assert info.cluster.tolist() == [0, 0, 1]


def test_empty_graph_and_no_edges():
    pool = classic_pool()
    x_out, edge_index_out, batch_out, info = pool(torch.zeros(0, 3), torch.zeros(2, 0).long())
    assert x_out.shape == (0, 3) and edge_index_out.shape == (2, 0) and batch_out.numel() == 0
    x = torch.randn(3, 3)
    x_out, edge_index_out, _, info = pool(x, torch.zeros(2, 0).long())
    assert torch.equal(x_out, x) and info.cluster.tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 1.0}, "strictly between 0 and 1"),
        ({"threshold": 0.0}, "strictly between 0 and 1"),
        ({"mode": "greedy"}, "mode must be one of"),
        ({"candidates": "knn"}, "candidates must be one of"),
        ({"reduce": "max"}, "reduce must be one of"),
        ({"temperature": 0.0}, "temperature must be positive"),
        ({"in_channels": 0}, "in_channels must be positive"),
        ({"max_pairs": -1}, "max_pairs must be >= 0"),
        ({"gate_features": -0.5}, r"gate_features must lie in \[0, 1\], got -0.5"),
        ({"gate_features": 2}, r"gate_features must lie in \[0, 1\], got 2"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        classic_pool(**kwargs)


def test_removed_and_deprecated_options():
    """similarity_gradient is gone; the True/False forms of gate_features still mean 1 and 0
    for one release, with a FutureWarning."""
    with pytest.raises(TypeError, match="similarity_gradient"):
        ThresholdMergePool(similarity_gradient=1.0)
    for flag, strength in ((True, 1.0), (False, 0.0)):
        with pytest.warns(FutureWarning, match=f"gate_features={flag} is deprecated"):
            pool = ThresholdMergePool(gate_features=flag)
        assert pool.gate_features == strength


def test_bad_inputs_name_what_is_wrong():
    pool = classic_pool(2)
    with pytest.raises(ValueError, match=r"x must be a floating tensor \[num_nodes, channels\]"):
        pool(X[:, 0], EDGE_INDEX)
    with pytest.raises(ValueError, match="x must be a floating tensor"):
        pool(X.long(), EDGE_INDEX)
    with pytest.raises(ValueError, match=r"x has 3 channels but .*in_channels=2"):
        pool(torch.randn(8, 3), EDGE_INDEX)
    with pytest.raises(ValueError, match=r"edge_index must be a long tensor \[2, num_edges\]"):
        pool(X, EDGE_INDEX.t())
    with pytest.raises(ValueError, match="edge_index must be a long tensor"):
        pool(X, EDGE_INDEX.float())
    with pytest.raises(ValueError, match=r"batch must be a long tensor \[num_nodes=8\]"):
        pool(X, EDGE_INDEX, BATCH[:5])
    with pytest.raises(ValueError, match=r"edge_attr must be a floating tensor \[num_edges=11"):
        pool(X, EDGE_INDEX, BATCH, EDGE_ATTR[:3])
    with pytest.raises(ValueError, match="edge_attr must be a floating tensor"):
        pool(X, EDGE_INDEX, BATCH, EDGE_ATTR.long())
    with pytest.raises(ValueError, match=r"edge_index holds node index 9 \(in edge 0\).*8 nodes"):
        pool(X, torch.tensor([[0], [9]]))


def test_determinism_across_runs():
    x, edge_index, batch = random_batch(10, 12, 0.3, 6, seed=5)
    for mode in ("components", "matching"):
        pool = classic_pool(6, threshold=0.25, mode=mode)
        first = pool(x, edge_index, batch)
        for _ in range(3):
            again = pool(x, edge_index, batch)
            for a, b in zip(first[:3], again[:3]):
                assert torch.equal(a, b)
            for a, b in zip(first[3], again[3]):
                if isinstance(a, torch.Tensor):
                    assert torch.equal(a, b)
                else:
                    assert a == b


@pytest.mark.parametrize("mode", ["components", "matching"])
def test_torchscript_equals_eager(mode):
    x, edge_index, batch = random_batch(6, 10, 0.3, 4, seed=6)
    edge_attr = torch.randn(edge_index.size(1), 2)
    pool = classic_pool(4, threshold=0.3, mode=mode)
    with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; it still compiles
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(pool)
    eager_out = pool(x, edge_index, batch, edge_attr)
    script_out = scripted(x, edge_index, batch, edge_attr)
    for a, b in zip(eager_out[:3], script_out[:3]):
        assert torch.allclose(a, b, atol=1e-6) if a.is_floating_point() else torch.equal(a, b)
    for name in MergeInfo._fields:
        a, b = getattr(eager_out[3], name), getattr(script_out[3], name)
        if isinstance(a, torch.Tensor) and a.is_floating_point():
            assert torch.allclose(a, b, atol=1e-6), name
        elif isinstance(a, torch.Tensor):
            assert torch.equal(a, b), name
        else:
            assert a == b, name
    x_up = scripted.unpool(script_out[0], script_out[3])[0]
    assert torch.equal(x_up, script_out[0][script_out[3].cluster])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("mode", ["components", "matching"])
@pytest.mark.parametrize("candidates", ["edges", "all"])
def test_cpu_cuda_parity(mode, candidates):
    x, edge_index, batch = random_batch(30, 20, 0.2, 8, seed=7)
    pool = classic_pool(8, threshold=0.3, mode=mode, candidates=candidates)
    cpu = pool(x, edge_index, batch)
    cuda = pool.cuda()(x.cuda(), edge_index.cuda(), batch.cuda())
    assert torch.equal(cpu[3].cluster, cuda[3].cluster.cpu())
    assert torch.equal(cpu[1], cuda[1].cpu()) and torch.equal(cpu[2], cuda[2].cpu())
    assert torch.allclose(cpu[0], cuda[0].cpu(), atol=1e-5)
    assert torch.allclose(cpu[3].edge_weight, cuda[3].edge_weight.cpu(), atol=1e-5)


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_torch_compile_of_the_whole_layer_equals_eager():
    """A model that compiles its pool layer gets the eager clusters, features and gradients
    (Dynamo splits the graph at the host reads; the tensor work between them is compiled)."""
    x, edge_index, batch = random_batch(4, 10, 0.4, 4, seed=10)
    pool = classic_pool(4, threshold=0.3)
    compiled = torch.compile(pool)
    results = []
    for fn in (pool, compiled):
        x_in = x.clone().requires_grad_(True)
        pool.zero_grad()
        x_out, edge_index_out, batch_out, info = fn(x_in, edge_index, batch)
        (x_out.square().sum() + info.gate.sum()).backward()
        results.append((x_out, edge_index_out, batch_out, info, x_in.grad, pool.lin.weight.grad))
    (x_e, ei_e, b_e, info_e, gx_e, gw_e), (x_c, ei_c, b_c, info_c, gx_c, gw_c) = results
    assert torch.equal(info_e.cluster, info_c.cluster) and torch.equal(ei_e, ei_c)
    assert torch.equal(b_e, b_c) and info_e.num_clusters < x.size(0)
    assert torch.allclose(x_e, x_c, atol=1e-5) and torch.allclose(gx_e, gx_c, atol=1e-5)
    assert torch.allclose(gw_e, gw_c, atol=1e-5)


@pytest.mark.parametrize("mode", ["matching", "components"])
def test_torch_compile_breaks_a_model_graph_once_per_pool_call(mode):
    """Dynamo's account of conv -> pool -> conv: of the graph breaks, exactly one is the
    pool's (its data-dependent sizes stay eager behind one ``torch.compiler.disable``);
    the others are the convs' own (GCNConv's self loops), there without the pool too."""
    from torch_geometric.nn import GCNConv

    x, edge_index, batch = random_batch(4, 10, 0.4, 4, seed=10)

    class ConvPoolConv(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.conv2 = GCNConv(4, 4), GCNConv(4, 4)
            self.pool = classic_pool(4, threshold=0.3, mode=mode)

        def forward(self, x, edge_index, batch):
            h = self.conv1(x, edge_index).relu()
            h, edge_index, batch, _ = self.pool(h, edge_index, batch)
            return self.conv2(h, edge_index).sum()

    torch._dynamo.reset()
    explained = torch._dynamo.explain(ConvPoolConv())(x, edge_index, batch)
    pool_file = ThresholdMergePool.forward.__code__.co_filename
    in_pool = [
        reason for reason in explained.break_reasons
        if any(frame.filename == pool_file for frame in reason.user_stack)
    ]  # fmt: skip
    assert len(in_pool) == 1, [reason.reason for reason in in_pool]
    assert "torch.compiler.disable" in in_pool[0].reason
    assert len(explained.break_reasons) > len(in_pool)  # the convs' breaks are seen too


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_torch_compile_of_the_differentiable_path_equals_eager():
    """Inductor-compiled Select scoring + Reduce (given the hard pattern) matches eager in
    values and in gradients w.r.t. x, the projection and the threshold logit."""
    from torch_geometric.utils import scatter

    from pyg_grapheme.nn.pool.reduce import member_weights

    x, edge_index, batch = random_batch(6, 10, 0.3, 4, seed=8)
    pool = classic_pool(4, threshold=0.3)
    with torch.no_grad():
        pool.lin.weight.add_(0.1 * torch.randn(4, 4))
    _, _, _, info = pool(x, edge_index, batch)
    assert 0 < int(info.merged.sum()) and int(torch.bincount(info.cluster).max()) >= 3

    def soft_pool(x: torch.Tensor, weight: torch.Tensor, logit: torch.Tensor):
        h = x @ weight.t()
        inv_norm = (h * h).sum(-1).clamp_min(1e-24).rsqrt()
        row, col = info.candidate_index
        s = (h[row] * h[col]).sum(-1) * inv_norm[row] * inv_norm[col]
        gate = torch.sigmoid((s - torch.sigmoid(logit)) / pool.temperature)
        w, _, _ = member_weights(
            gate, info.merged, info.candidate_index, info.cluster, info.num_clusters
        )
        x_out = scatter(x * w.unsqueeze(-1), info.cluster, 0, info.num_clusters, reduce="sum")
        return x_out, gate

    compiled = torch.compile(soft_pool, dynamic=False, fullgraph=True)
    results = []
    for fn in (soft_pool, compiled):
        inputs = [
            t.detach().clone().requires_grad_(True)
            for t in (x, pool.lin.weight, pool.threshold_logit)
        ]
        x_out, gate = fn(*inputs)
        (x_out.square().sum() + gate.sum()).backward()
        results.append((x_out, gate, *[t.grad for t in inputs]))
    for eager, comp in zip(*results):
        assert torch.allclose(eager, comp, atol=1e-5, rtol=1e-5)
    # The eager function is the layer: same pooled features and gates.
    x_layer, _, _, info_layer = pool(x, edge_index, batch)
    assert torch.allclose(results[0][0], x_layer, atol=1e-6)
    assert torch.allclose(results[0][1], info_layer.gate, atol=1e-6)


def test_edge_layouts_give_the_same_candidates_and_pooled_graph():
    """Sorted directed chains skip a sort on the host; every layout must give what the
    general path gives with the edges shuffled, pair for pair and edge for edge, and the
    tensor code (padded) the same pairs."""
    from torch_geometric.utils import to_undirected

    from pyg_grapheme.nn.pool.host.select import edge_candidates as host_candidates
    from pyg_grapheme.nn.pool.select import edge_candidates

    def candidates(edges, batch, n):
        pairs, pair_of_edge = host_candidates(edges.numpy(), batch.numpy(), n)
        padded, _, num_pairs = edge_candidates(edges, batch, n)
        assert torch.equal(padded[:, : int(num_pairs)], torch.from_numpy(pairs))
        return torch.from_numpy(pairs), torch.from_numpy(pair_of_edge)

    x, edge_index, batch = random_batch(10, 12, 0.3, 6, seed=9)
    directed_chain = torch.stack([torch.arange(x.size(0) - 1), torch.arange(1, x.size(0))])
    directed_chain = directed_chain[:, batch[directed_chain[0]] == batch[directed_chain[1]]]
    asymmetric = to_undirected(edge_index)[:, 1:]  # coalesced, one direction of a pair missing
    gen = torch.Generator().manual_seed(0)
    for layout in (directed_chain, to_undirected(edge_index), asymmetric):
        shuffled = layout[:, torch.randperm(layout.size(1), generator=gen)]
        fast, fast_pair = candidates(layout, batch, x.size(0))
        slow, slow_pair = candidates(shuffled, batch, x.size(0))
        assert torch.equal(fast, slow)
        # Each edge points at its own unordered pair in both.
        for ei, pair in ((layout, fast_pair), (shuffled, slow_pair)):
            lo, hi = ei.min(dim=0).values, ei.max(dim=0).values
            assert torch.equal(fast[0][pair], lo) and torch.equal(fast[1][pair], hi)
        pool = classic_pool(6, threshold=0.2)
        out_fast = pool(x, layout, batch)
        out_slow = pool(x, shuffled, batch)
        assert torch.equal(out_fast[1], out_slow[1])
        assert torch.equal(out_fast[3].cluster, out_slow[3].cluster)
        assert torch.allclose(out_fast[0], out_slow[0], atol=1e-6)
        assert torch.allclose(out_fast[3].edge_weight, out_slow[3].edge_weight, atol=1e-6)


def test_components_rounds_on_adversarial_label_orders():
    """Root hooking converges on a path whose labels alternate and on a star."""
    from pyg_grapheme.nn.pool import select

    # A path whose node labels alternate (0, 5, 1, 6, 2, 7, ...) and a star.
    order = [0, 5, 1, 6, 2, 7, 3, 8, 4, 9]
    path = torch.tensor([order[:-1], order[1:]])
    star = torch.tensor([[10, 10, 10, 10], [11, 12, 13, 14]])
    pairs = torch.cat([path, star], dim=1)
    lo, hi = pairs.min(0).values, pairs.max(0).values
    perm = torch.sort(lo * 15 + hi).indices
    pairs = torch.stack([lo[perm], hi[perm]])
    active = torch.ones(pairs.size(1), dtype=torch.bool)
    root = select.connected_components(pairs, active, 15)
    assert root.tolist() == [0] * 10 + [10] * 5


@pytest.mark.parametrize("path", PATHS)
def test_self_loops_keep_the_edges_inside_a_cluster_as_one_self_loop(path):
    """Chain 0-1-2-3 where only 0 and 1 merge: with self_loops the two edges between them
    become cluster 0's self-loop (its weight the mean of 1 - g over them, its attribute
    their mean), as EdgePooling keeps them; without, they are dropped."""
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    edge_attr = torch.arange(6.0).view(6, 1)
    merge_gate = torch.sigmoid(torch.tensor((1.0 - 0.8) / 0.1))  # cosine 1 against tau 0.8
    apart_gate = torch.sigmoid(torch.tensor((0.0 - 0.8) / 0.1))  # cosine 0: nodes 1, 2
    far_gate = torch.sigmoid(torch.tensor((0.5**0.5 - 0.8) / 0.1))  # nodes 2, 3
    expected = {
        True: ([[0, 0, 1, 1, 2], [0, 1, 0, 2, 1]], [0.5, 2.0, 3.0, 4.0, 5.0],
               [1 - merge_gate, 1 - apart_gate, 1 - apart_gate, 1 - far_gate, 1 - far_gate]),
        False: ([[0, 1, 1, 2], [1, 0, 2, 1]], [2.0, 3.0, 4.0, 5.0],
                [1 - apart_gate, 1 - apart_gate, 1 - far_gate, 1 - far_gate]),
    }  # fmt: skip
    for self_loops, (edges, attrs, weights) in expected.items():
        pool = classic_pool(threshold=0.8, mode="matching", self_loops=self_loops)
        with pool_path(path):
            _, edge_index_out, _, info = pool(x, edge_index, edge_attr=edge_attr)
        assert info.cluster.tolist() == [0, 0, 1, 2]
        assert edge_index_out.tolist() == edges
        assert info.edge_attr.view(-1).tolist() == attrs
        assert torch.allclose(info.edge_weight, torch.stack(weights), atol=1e-6)
