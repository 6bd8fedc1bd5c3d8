"""The fused CUDA path's Triton kernels (nn/pool/gpu), each held to the tensor code it
replaces, in Triton's interpreter on CPU tensors (where there is no GPU): graph layout, pair
keys and scores, the matching rounds and walk, cluster numbers with both reduces, pooled
edges, and the gradients attached after the read."""

from __future__ import annotations

import pytest
import torch
from pool_settings import kernels_available, pool_path
from test_pool_host_path import awkward_batch
from torch_geometric.utils import scatter

from pyg_grapheme.nn import ThresholdMergePool
from pyg_grapheme.nn.pool import connect, reduce, select
from pyg_grapheme.nn.pool.gpu import connect as gpu_connect
from pyg_grapheme.nn.pool.gpu import reduce as gpu_reduce
from pyg_grapheme.nn.pool.gpu import scores as gpu_scores
from pyg_grapheme.nn.pool.gpu import select as gpu_select
from pyg_grapheme.nn.pool.pair_cosine import pair_cosine

pytestmark = pytest.mark.skipif(
    not kernels_available(), reason="the Triton kernels need triton (the [test] extra)"
)


@pytest.fixture(params=["int32", "int64"])
def key_width(request, monkeypatch) -> str:
    """Both widths of the sort keys: int32 (every input below 46341 nodes) and the int64 of
    larger inputs, forced here on small ones."""
    if request.param == "int64":
        monkeypatch.setattr(gpu_scores, "INT32_KEY_LIMIT", -1)
    return request.param


@pytest.fixture(params=["atomics", "gather", "gather-2-rows"])
def gradient_pass(request, monkeypatch) -> str:
    """Both passes of the similarity's backward: atomics per pair (fewer pairs than
    ``GATHER_MIN_PAIRS``) and the pass by node of many pairs, forced here on small inputs,
    also with tiles of two rows (graphs then span tiles: the tile's graph sums)."""
    if request.param != "atomics":
        monkeypatch.setattr(gpu_scores, "GATHER_MIN_PAIRS", 0)
    if request.param == "gather-2-rows":
        monkeypatch.setattr(gpu_scores, "GATHER_ROWS", 2)
    return request.param


def test_sort_keys_are_int32_while_n_squared_fits():
    assert gpu_scores.key_dtype(46340 * 46340) == torch.int32
    assert gpu_scores.key_dtype(2**31 - 1) == torch.int32
    assert gpu_scores.key_dtype(46341 * 46341) == torch.long


def counters() -> torch.Tensor:
    return torch.zeros(gpu_scores.NUM_COUNTERS, dtype=torch.long)


def test_graph_layout_names_each_graph_by_its_first_place_in_graph_order():
    batch = torch.tensor([7, 2, 7, 7, 0, 2, 9, 0])
    count = counters()
    graph, size, order, position, link = gpu_select.graph_layout(batch, count, matching=True)
    assert order.tolist() == [4, 7, 1, 5, 0, 2, 3, 6]  # by graph, then index
    assert position.tolist() == [4, 2, 5, 6, 0, 3, 7, 1]
    assert graph.tolist() == [4, 2, 4, 4, 0, 2, 7, 0]
    assert size.tolist() == [3, 2, 3, 3, 2, 2, 1, 2]
    assert link.tolist() == [-1] * 8 and int(count[gpu_scores.NEG_GRAPH]) == 0
    count = counters()
    _, _, _, _, link = gpu_select.graph_layout(torch.tensor([0, -3, 0]), count, matching=False)
    assert link.tolist() == [0, 1, 2] and int(count[gpu_scores.NEG_GRAPH]) == 3


def score(x, edge_index, batch, tau=0.3, centred=True, matching=True, propose=True):
    """The fused Select's first half, as the layer runs it."""
    n = x.size(0)
    count = counters()
    graph, size, _, _, _ = gpu_select.graph_layout(batch, count, matching)
    keys = gpu_scores.pair_keys(edge_index, graph, count, n)
    best = torch.zeros(n, dtype=torch.long)
    sums = torch.zeros(n, x.size(1), dtype=x.dtype) if centred else None
    tau = torch.tensor(tau, dtype=x.dtype)
    scored = gpu_scores.score_pairs(
        x, tau, *keys, graph, size, count, best, sums, 0.1, matching, propose
    )
    return scored, count, best


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("centred", [True, False])
def test_pair_keys_and_scores_equal_the_tensor_code(seed, centred, key_width):
    x, edge_index, batch = awkward_batch(seed)
    n, e = x.size(0), edge_index.size(1)
    graph, _, _, _, _ = gpu_select.graph_layout(batch, counters(), True)
    sorted_key = gpu_scores.pair_keys(edge_index, graph, counters(), n)[0]
    assert sorted_key.dtype == getattr(torch, key_width)
    scored, count, best = score(x, edge_index, batch, centred=centred)
    graph, _ = select.graph_ids(batch)
    want, want_pair_of_edge, num_pairs = select.edge_candidates(edge_index, graph, n)
    p = int(count[gpu_scores.PAIRS])
    assert p == int(num_pairs) > 0
    assert torch.equal(scored.candidate_index, want)  # padding (N-1, N-1) included
    assert torch.equal(scored.pair_of_edge, want_pair_of_edge)
    h = x - scatter(x, graph, 0, n, reduce="mean")[graph] if centred else x
    similarity = pair_cosine(h, want[:, :p])
    assert torch.allclose(scored.similarity[:p], similarity, atol=1e-6)
    gate = torch.sigmoid((scored.similarity[:p] - 0.3) / 0.1)
    assert torch.allclose(scored.gate[:p], gate, atol=1e-6)
    above = scored.similarity[:p] > 0.3
    assert torch.equal(scored.open[:p] != 0, above) and not scored.open[p:].any()
    assert not scored.merged.any()  # a matching's pairs merge in the rounds
    # The key: the similarity's bits, then the complement of the position; best per node.
    bits = scored.similarity[:p].view(torch.int32).long()
    key = torch.where(above, (bits << 32) | (0xFFFFFFFF - torch.arange(p)), 0)
    assert torch.equal(scored.rank_key[:p], key) and not scored.rank_key[p:].any()
    ends = want[:, :p].reshape(-1)
    assert torch.equal(
        best, torch.zeros(n, dtype=torch.long).scatter_reduce(0, ends, key.repeat(2), "amax")
    )
    assert int(count[gpu_scores.NON_FINITE]) == 0 and e > p


def test_scores_count_bad_indices_and_non_finite_rows_for_the_one_read():
    x = torch.tensor([[1.0, 0.0], [float("inf"), 1.0], [0.5, 0.5]])
    edge_index = torch.tensor([[0, -2, 1], [1, 2, 5]])
    scored, count, _ = score(x, edge_index, torch.zeros(3, dtype=torch.long), centred=False)
    assert int(count[gpu_scores.NEG_LOW]) == 2 and int(count[gpu_scores.HIGH]) == 5
    assert int(count[gpu_scores.NON_FINITE]) == 1
    # Until the read, bad indices are clamped: edges (0, 1), (0, 2), (1, 2).
    assert scored.candidate_index[:, : int(count[gpu_scores.PAIRS])].tolist() == [
        [0, 0, 1],
        [1, 2, 2],
    ]


def test_the_matching_is_the_sequential_greedy_one_whatever_the_rounds():
    # A chain whose scores rise along it: each round decides one pair, the walk the rest.
    n = 40
    pairs = torch.stack([torch.arange(n - 1), torch.arange(1, n)])
    for scores in (torch.arange(n - 1.0), torch.round(torch.rand(n - 1) * 3) / 3):
        eligible = scores > 0.2
        want = select.greedy_matching(pairs, scores, eligible, n)
        rank = select.descending_rank(scores, eligible)
        for rounds in (0, 1, 2, 6):
            got = gpu_select.greedy_matching(pairs, rank, eligible, n, rounds)
            assert torch.equal(got, want), rounds


@pytest.mark.parametrize("mode", ["matching", "components"])
@pytest.mark.parametrize("strength", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("mean", [False, True])
def test_clusters_and_reduce_equal_the_tensor_code(mode, strength, mean):
    x, edge_index, batch = awkward_batch(3)
    n, f = x.shape
    batch = batch[torch.randperm(n, generator=torch.Generator().manual_seed(3))]  # unsorted
    matching = mode == "matching"
    scored, count, _ = score(x, edge_index, batch, matching=matching, propose=matching)
    _, _, order, position, link = gpu_select.graph_layout(batch, count, matching)
    p = int(count[gpu_scores.PAIRS])
    pairs, gate = scored.candidate_index, scored.gate
    if matching:
        gpu_select.match(
            pairs, scored.rank_key, scored.open, scored.merged, link,
            torch.zeros(2, n, dtype=torch.long), count, proposed=False,
        )  # fmt: skip
        merged = scored.merged[:p]
        partner = torch.where(merged, pairs[0, :p], pairs[1, :p])
        root = torch.arange(n).scatter_reduce(0, pairs[1, :p], partner, reduce="amin")
    else:
        link = gpu_select.connected_components(pairs, scored.merged, n, parent=link)
        merged = scored.merged[:p]
        root = select.connected_components(pairs[:, :p], merged, n)
        assert torch.equal(link, root)
    assert merged.any() and not merged.all()
    rank = gpu_select.root_ranks(order, link, pairs[0], matching)
    sums = torch.zeros(5, n) if not matching else None
    rows = torch.zeros(n, f) if not matching else None
    pooled = gpu_reduce.clusters(
        x, gate, batch, link, pairs, scored.merged, position, rank, count, matching, mean,
        strength, sums, rows,
    )  # fmt: skip
    cluster, c = select.number_clusters(root, select.graph_ids(batch)[1])
    assert torch.equal(pooled.cluster, cluster) and int(count[gpu_scores.CLUSTERS]) == int(c)
    c = int(c)
    assert torch.equal(
        pooled.batch[:c], torch.zeros(c, dtype=torch.long).scatter_(0, cluster, batch)
    )
    assert not pooled.batch[c:].any() and not pooled.x[c:].any()
    tensor_reduce = reduce.matching_reduce if matching else reduce.component_reduce
    x_out, member_weight, score_out = tensor_reduce(
        x, gate[:p], merged, pairs[:, :p], cluster, c, mean, strength
    )
    exact = matching  # a matching's rows are rounded as the tensor code rounds them
    assert (
        torch.equal(pooled.x[:c], x_out)
        if exact
        else torch.allclose(pooled.x[:c], x_out, atol=1e-6)
    )
    assert torch.allclose(pooled.member_weight, member_weight, atol=1e-7)
    assert torch.allclose(pooled.score[:c], score_out, atol=1e-7)
    assert bool((pooled.score[c:] == 1).all())


def test_pooled_edges_coalesce_runs_of_any_length(key_width):
    x, edge_index, _ = awkward_batch(4)
    n = x.size(0)
    # Runs of 1, 2 and many equal output edges: clusters of three, and repeated edges.
    cluster = torch.arange(n) // 3
    edge_index = torch.cat([edge_index, edge_index[:, :4].repeat(1, 3)], dim=1)
    e = edge_index.size(1)
    gate = torch.rand(e)
    pair_of_edge = torch.randint(0, e + 1, (e,))  # E: no candidate pair
    count = counters()
    edges = gpu_connect.pooled_edges(edge_index, cluster, pair_of_edge, gate, torch.zeros(e), count)
    slot, out, counts, num_out = connect.pooled_edges(edge_index, cluster, n)
    k = int(num_out)
    assert int(count[gpu_scores.EDGES]) == k and int(counts.max()) > 3
    assert torch.equal(edges.slot, slot) and torch.equal(edges.edge_index, out)
    assert torch.equal(edges.count, counts)
    weight = connect.edge_weights(gate, pair_of_edge, slot, counts)
    assert torch.allclose(edges.weight, weight, atol=1e-6)
    short = counts[:k] <= 2  # a halving is exact: the same mean as the tensor code's
    assert torch.equal(edges.weight[:k][short], weight[:k][short])


@pytest.mark.parametrize(
    "options",
    [
        {"mode": "matching", "reduce": "sum", "gate_features": 0.5},
        {"mode": "components", "reduce": "mean", "gate_features": 1.0, "similarity": "cosine"},
    ],
)
def test_the_attached_gradients_pass_gradcheck(options, gradient_pass, gradcheck, module_gradcheck):
    """Every differentiable output of the fused path at once, w.r.t. x, the projection and
    the threshold logit (float64; similarities kept off the threshold)."""
    x, edge_index, batch = awkward_batch(5)
    x, edge_index, batch = x[:12, :2], edge_index[:, (edge_index < 12).all(0)], batch[:12]
    pool = ThresholdMergePool(2, threshold=0.25, **options).double()

    def loss(module, x):
        x_out, _, _, info = module(x, edge_index, batch)
        return (
            x_out.square().sum() + (info.gate * info.similarity).sum()
            + (info.edge_weight * torch.arange(info.edge_weight.numel())).sum()
            + info.score.square().sum() + (info.member_weight * x[:, 0]).sum()
        )  # fmt: skip

    with pool_path("kernels"), torch.no_grad():
        _, _, _, info = pool(x.double(), edge_index, batch)
    assert 0 < int(info.merged.sum()) < info.merged.numel()
    assert float((info.similarity - 0.25).abs().min()) > 1e-4
    with pool_path("kernels"):
        assert gradcheck(lambda x: loss(pool, x), (x,), fast_mode=True)
        assert module_gradcheck(pool, lambda m: loss(m, x.double()), fast_mode=True)


def test_both_backward_passes_give_the_tensor_codes_gradient(monkeypatch):
    """A hub paired with every other node (first of some pairs, second of others), a chain
    and a lone node: the pass by node and the atomics give the gradient of the similarities
    and gates that autograd takes through the tensor code (float64)."""
    hub = [(5, v) for v in range(9) if v != 5]
    chain = [(9, 10), (10, 11), (11, 12)]
    pairs = torch.tensor(hub + chain).t()
    edge_index = torch.cat([pairs, pairs.flip(0)], 1)
    batch = torch.tensor([0] * 9 + [1] * 4 + [2])
    x = torch.randn(14, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    weights = torch.randn(2, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def gradient(h: torch.Tensor) -> torch.Tensor:
        h = h.clone().requires_grad_()
        scored, count, _ = score(h.detach(), edge_index, batch, propose=False)
        p = int(count[gpu_scores.PAIRS])
        logit = torch.tensor(0.0, dtype=h.dtype, requires_grad=True)
        similarity, gate = gpu_scores.PairScores.apply(h, logit, scored, p)
        ((similarity * weights[0, :p]).sum() + (gate * weights[1, :p]).sum()).backward()
        return h.grad

    monkeypatch.setattr(gpu_scores, "GATHER_MIN_PAIRS", 0)
    gathered = gradient(x)
    monkeypatch.setattr(gpu_scores, "GATHER_ROWS", 2)  # graphs span tiles
    gathered_in_pairs = gradient(x)
    monkeypatch.setattr(gpu_scores, "GATHER_MIN_PAIRS", 1 << 30)
    atomic = gradient(x)
    graph, _ = select.graph_ids(batch)
    want_pairs, _, num_pairs = select.edge_candidates(edge_index, graph, 14)
    p = int(num_pairs)
    assert p == 11
    h = x.clone().requires_grad_()
    centred = h - scatter(h, graph, 0, 14, reduce="mean")[graph]
    similarity = pair_cosine(centred, want_pairs[:, :p])
    gate = torch.sigmoid((similarity - 0.3) / 0.1)
    ((similarity * weights[0, :p]).sum() + (gate * weights[1, :p]).sum()).backward()
    assert torch.allclose(gathered, h.grad, atol=1e-12, rtol=0)
    assert torch.allclose(gathered_in_pairs, h.grad, atol=1e-12, rtol=0)
    assert torch.allclose(atomic, h.grad, atol=1e-12, rtol=0)
    assert float(h.grad[13].abs().max()) == 0.0 and float(h.grad[5].abs().max()) > 0.0
