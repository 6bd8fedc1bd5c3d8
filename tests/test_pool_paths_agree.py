"""The pool's three paths (host kernels, tensor code, tensor code with the Triton merge rules
and one deferred read) give the same clusters and edges, ties included; the Triton path reads
nothing back but its sizes; torch.compile breaks a model's graph once per pool call."""

from __future__ import annotations

from unittest.mock import patch

import pytest
import torch
from pool_settings import PATHS, kernels_available, pool_path
from test_pool_threshold_merge import random_batch

from pyg_grapheme.nn import ThresholdMergePool
from pyg_grapheme.nn.pool.gpu import select as gpu_select

BATCHES = 200


def tied_batch(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    """A random batch built to tie: features from a few small integers (one channel in a
    third of the batches: cosines of exactly +-1 or 0), repeated rows, self-loops, duplicate,
    one-way and cross-graph edges, a shuffled batch vector in half of them, and options
    that include thresholds some cosines equal (0.6, 0.8 between integer rows)."""
    gen = torch.Generator().manual_seed(seed)

    def pick(*values):
        return values[int(torch.randint(len(values), (1,), generator=gen))]

    num_graphs = int(torch.randint(1, 5, (1,), generator=gen))
    sizes = torch.randint(1, 11, (num_graphs,), generator=gen)
    n = int(sizes.sum())
    batch = torch.arange(num_graphs).repeat_interleave(sizes)
    channels = pick(1, 1, 2, 3)
    x = torch.randint(-2, 3, (n, channels), generator=gen).float()
    repeats = torch.rand(n, generator=gen) < 0.3  # copy the previous row: equal features
    for i in range(1, n):
        if repeats[i]:
            x[i] = x[i - 1]
    offsets = torch.cumsum(sizes, 0) - sizes
    src = torch.randint(0, n, (3 * n,), generator=gen)
    graph = batch[src]
    dst = offsets[graph] + (
        torch.randint(0, 1 << 20, (3 * n,), generator=gen) % sizes[graph]
    )  # mostly inside the graph
    stray = torch.randint(0, n, (2,), generator=gen)  # and two that may cross graphs
    edge_index = torch.cat([torch.stack([src, dst]), stray.view(2, 1)], dim=1)
    if pick(True, False):
        perm = torch.randperm(n, generator=gen)  # a shuffled (unsorted) batch vector
        inverse = torch.empty_like(perm).scatter_(0, perm, torch.arange(n))
        x, batch, edge_index = x[perm], batch[perm], inverse[edge_index]
    options = {
        "mode": pick("matching", "components"),
        "similarity": pick("cosine", "centered"),
        "threshold": pick(None, 0.3, 0.6, 0.8),
        "ratio": pick(None, None, 0.6),
        "reduce": pick("sum", "mean"),
        "self_loops": pick(True, False),
    }
    return x, edge_index, batch, options


def run_path(path: str, options: dict, x, edge_index, batch, state=None):
    pool = ThresholdMergePool(**options)
    if state is not None:
        pool.load_state_dict(state)
    with pool_path(path):
        out = pool(x, edge_index, batch)
    return out, pool


@pytest.mark.parametrize("part", range(4))
def test_the_paths_give_the_same_clusters_and_edges_on_tied_batches(part):
    """200 random batches with ties, every option that decides a merge: equal clusters,
    merged pairs, pooled edges and batch, features to rounding, and the same data start."""
    paths = PATHS if kernels_available() else PATHS[:2]
    ties = 0
    with patch.object(gpu_select, "ROUNDS", 2):  # fewer interpreted launches; any is exact
        for seed in range(part * BATCHES // 4, (part + 1) * BATCHES // 4):
            x, edge_index, batch, options = tied_batch(seed)
            results = [run_path(path, options, x, edge_index, batch) for path in paths]
            (x_ref, ei_ref, b_ref, info_ref), pool_ref = results[0]
            similarity = info_ref.similarity
            ties += int(similarity.numel() - torch.unique(similarity).numel())
            for (x_out, ei, b, info), pool in results[1:]:
                assert torch.equal(info.cluster, info_ref.cluster), seed
                assert torch.equal(info.candidate_index, info_ref.candidate_index), seed
                assert torch.equal(info.merged, info_ref.merged), seed
                assert torch.equal(ei, ei_ref) and torch.equal(b, b_ref), seed
                assert torch.allclose(info.edge_weight, info_ref.edge_weight, atol=1e-6), seed
                assert torch.allclose(x_out, x_ref, atol=1e-5), seed
                assert torch.allclose(info.similarity, similarity, atol=1e-6), seed
                assert pool.threshold.item() == pytest.approx(pool_ref.threshold.item(), abs=1e-6)
    assert ties > 100  # the batches really tie


def test_a_similarity_exactly_on_the_threshold_merges_on_no_path():
    """s > tau, strictly, everywhere: a pair whose cosine rounds to tau itself stays apart."""
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0], [3.0, 0.0], [3.0, 4.0]])  # cosines 1/sqrt2, 0.6
    edge_index = torch.tensor([[0, 2], [1, 3]])
    for s in (1 / 2**0.5, 0.6):
        target = torch.tensor(s, dtype=torch.float32)
        logit = torch.logit(target)
        while torch.sigmoid(logit) != target:  # the logit whose sigmoid is exactly s
            step = 1 if torch.sigmoid(logit) < target else -1
            logit = torch.nextafter(logit, torch.tensor(step * float("inf")))
        for path in PATHS:
            pool = ThresholdMergePool(threshold=0.5, similarity="cosine", mode="components")
            with torch.no_grad():
                pool.threshold_logit.copy_(logit)
            with pool_path(path):
                _, _, _, info = pool(x, edge_index)
            on = info.similarity == target
            assert bool(on.any()), (s, path, info.similarity)
            assert not bool(info.merged[on].any()), (s, path)
            assert bool(info.merged[info.similarity > target].all())


@pytest.mark.parametrize("mode", ["matching", "components"])
def test_the_kernel_path_has_the_host_gradients(mode, gradcheck):
    """Values and gradients w.r.t. x, the projection and tau agree in float64; gradcheck
    passes through the kernel path."""
    if not kernels_available():
        pytest.skip("the Triton kernels need triton (the [test] extra installs it)")
    x, edge_index, batch = random_batch(3, 7, 0.5, 4, seed=3)
    x = x.double()
    outputs = {}
    for path in ("host", "kernels"):
        torch.manual_seed(0)
        pool = ThresholdMergePool(4, threshold=0.3, mode=mode).double()
        with torch.no_grad():
            pool.lin.weight.add_(0.2 * torch.randn(4, 4, dtype=torch.float64))
        x_in = x.clone().requires_grad_(True)
        with pool_path(path):
            x_out, _, _, info = pool(x_in, edge_index, batch)
        loss = (x_out.square().sum() + (info.gate * info.similarity).sum()
                + info.edge_weight.sum() + info.score.sum() + info.member_weight.sum())  # fmt: skip
        loss.backward()
        outputs[path] = (x_out, info, x_in.grad, pool.lin.weight.grad, pool.threshold_logit.grad)
    (x_h, info_h, *grads_h), (x_k, info_k, *grads_k) = outputs["host"], outputs["kernels"]
    assert torch.equal(info_h.cluster, info_k.cluster) and 0 < int(info_h.merged.sum())
    assert torch.allclose(x_h, x_k, atol=1e-12)
    for got, want in zip(grads_k, grads_h):
        assert torch.allclose(got, want, atol=1e-10)
    # The whole Jacobian along random directions (fast mode): entry by entry, every one of
    # the 2 * 84 finite differences ran the kernels in Triton's interpreter (about 30 s a
    # mode); the host path's Jacobian is checked entry by entry in test_pool_gradients.py,
    # and the kernel path's gradients equal the host's above.
    pool = ThresholdMergePool(4, threshold=0.3, mode=mode).double()
    with pool_path("kernels"), patch.object(gpu_select, "ROUNDS", 1):
        assert gradcheck(lambda x: pool(x, edge_index, batch)[0], (x,), fast_mode=True)


def test_the_kernel_path_reads_nothing_back_but_its_sizes():
    """No operation that waits for the device (item, nonzero, equal, bincount's size, ...)
    runs in a call on the kernel path, forward or backward; the one read of the sizes is a
    ``tolist`` outside the dispatcher, counted here by hand."""
    if not kernels_available():
        pytest.skip("the Triton kernels need triton (the [test] extra installs it)")
    from torch.utils._python_dispatch import TorchDispatchMode

    syncing = {
        "_local_scalar_dense", "nonzero", "equal", "is_nonzero", "item", "bincount",
        "unique_consecutive", "_unique2", "masked_select", "repeat_interleave",
    }  # fmt: skip

    class Watch(TorchDispatchMode):
        seen: set[str] = set()  # noqa: RUF012

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Watch.seen.add(func._schema.name.split("::")[-1])
            return func(*args, **(kwargs or {}))

    reads = []
    real_tolist = torch.Tensor.tolist

    def counted_tolist(self):
        reads.append(self.numel())
        return real_tolist(self)

    x, edge_index, batch = random_batch(6, 12, 0.3, 4, seed=2)
    for mode in ("matching", "components"):
        pool = ThresholdMergePool(4, mode=mode, ratio=0.7)  # threshold=None: the data start too
        x_in = x.clone().requires_grad_(True)
        with pool_path("kernels"), patch.object(torch.Tensor, "tolist", counted_tolist), Watch():
            x_out, _, _, info = pool(x_in, edge_index, batch)
            (x_out.sum() + info.gate.sum() + info.edge_weight.sum()).backward()
        assert not Watch.seen & syncing, Watch.seen & syncing
        assert len(reads) == 1 and 0 < int(info.merged.sum())
        reads.clear()


def test_torch_compile_breaks_a_model_graph_once_per_pool_call():
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.before = torch.nn.Linear(4, 4)
            self.pool = ThresholdMergePool(4, threshold=0.4)
            self.after = torch.nn.Linear(4, 2)

        def forward(self, x, edge_index, batch):
            x, edge_index, batch, info = self.pool(self.before(x).relu(), edge_index, batch)
            return self.after(x).sum() + info.gate.sum() + batch.numel()

    x, edge_index, batch = random_batch(4, 10, 0.4, 4, seed=10)
    net = Net()
    explained = torch._dynamo.explain(net)(x, edge_index, batch)
    assert explained.graph_break_count == 1, explained.break_reasons
    assert "torch.compiler.disable" in str(explained.break_reasons[0].reason)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_and_cuda_give_the_same_clusters_and_edges_on_tied_batches():
    """The host kernels on the CPU and the Triton path on CUDA, 200 tied batches."""
    for seed in range(BATCHES):
        x, edge_index, batch, options = tied_batch(seed)
        (x_cpu, ei_cpu, b_cpu, info_cpu), pool = run_path("host", options, x, edge_index, batch)
        cuda_pool = ThresholdMergePool(**options).cuda()
        x_gpu, ei_gpu, b_gpu, info_gpu = cuda_pool(x.cuda(), edge_index.cuda(), batch.cuda())
        assert torch.equal(info_cpu.cluster, info_gpu.cluster.cpu()), seed
        assert torch.equal(info_cpu.merged, info_gpu.merged.cpu()), seed
        assert torch.equal(ei_cpu, ei_gpu.cpu()) and torch.equal(b_cpu, b_gpu.cpu()), seed
        assert torch.allclose(x_cpu, x_gpu.cpu(), atol=1e-5), seed
        assert pool.threshold.item() == pytest.approx(cuda_pool.threshold.item(), abs=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("mode", ["matching", "components"])
def test_direct_launches_give_what_tritons_launcher_gives_on_cuda(mode):
    """The built kernels' launchers called directly (launch.DIRECT_LAUNCH) give the clusters
    and edges Triton's public launcher gives, and the features and gradients to float
    rounding, on tied batches (1 to 3 channels: a constant passed by position picks the
    kernel); the second direct pass launches every kernel directly."""
    from pyg_grapheme.nn.pool.gpu import launch

    def run(direct: bool) -> list[torch.Tensor]:
        out = []
        with patch.object(launch, "DIRECT_LAUNCH", direct):
            for seed in range(12):
                x, edge_index, batch, options = tied_batch(seed)
                torch.manual_seed(seed)  # the same projection in every pass
                pool = ThresholdMergePool(**{**options, "mode": mode}).cuda()
                h = x.cuda().requires_grad_(True)
                x_out, ei, b, info = pool(h, edge_index.cuda(), batch.cuda())
                (x_out.square().sum() + info.gate.sum() + info.edge_weight.sum()).backward()
                out += [x_out, ei, b, info.cluster, info.merged, h.grad, pool.threshold.grad]
        return [t.detach().cpu() for t in out if t is not None]

    public = run(False)
    run(True)  # builds every key once through Triton's launcher
    before = launch.direct_launches()
    direct = run(True)
    # every call's kernels, directly
    assert launch.direct_launches() - before >= 12 * 10, launch.DIRECT_FAILURES
    assert len(public) == len(direct)
    for a, b in zip(public, direct, strict=True):  # float sums add atomically: any order
        assert torch.allclose(a, b, atol=1e-6) if a.is_floating_point() else torch.equal(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("mode", ["matching", "components"])
def test_one_host_read_per_call_on_cuda(mode):
    """torch.cuda's sync debug mode flags every operation that waits for the device: one
    per call (the sizes), forward and backward, the data-driven start included."""
    import warnings

    x, edge_index, batch = random_batch(40, 20, 0.2, 8, seed=4)
    pool = ThresholdMergePool(8, mode=mode).cuda()
    x = x.cuda().requires_grad_(True)
    edge_index, batch = edge_index.cuda(), batch.cuda()
    pool(x, edge_index, batch)  # compile the kernels first
    for _ in range(2):
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                x_out, _, _, info = pool(x, edge_index, batch)
                (x_out.sum() + info.gate.sum() + info.edge_weight.sum()).backward()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        syncs = [w for w in caught if "called a synchronizing" in str(w.message)]
        assert len(syncs) == 1, [str(w.message) for w in syncs]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("channels", [64, 300])
def test_the_pass_by_node_gives_the_atomic_gradients_on_cuda(channels):
    """At a size where the similarity's backward gathers each node's pairs by default
    (``GATHER_MIN_PAIRS`` pairs and more), with the library's tile and warps, the features'
    and the projection's gradients are those of the atomic sums per pair (float32: the two
    add in different orders). 300 channels pad to 512 columns: fewer rows a program."""
    from pyg_grapheme.nn.pool.gpu import scores as gpu_scores

    gen = torch.Generator().manual_seed(3)
    graphs, size = (gpu_scores.GATHER_MIN_PAIRS + 4096) // 31 + 1, 32  # 31 pairs a chain
    num_nodes = graphs * size
    first = torch.arange(num_nodes - 1)
    first = first[(first + 1) % size != 0]  # chains inside each graph
    pairs = torch.stack([first, first + 1])
    edge_index = torch.cat([pairs, pairs.flip(0)], 1).cuda()
    batch = torch.arange(graphs).repeat_interleave(size).cuda()
    x = torch.randn(num_nodes, channels, generator=gen).cuda()
    weights = torch.randn(num_nodes, channels, generator=gen).cuda()
    pool = ThresholdMergePool(channels, threshold=0.5).cuda()

    def gradients(min_pairs: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        with patch.object(gpu_scores, "GATHER_MIN_PAIRS", min_pairs):
            h = x.clone().requires_grad_(True)
            pool.zero_grad(set_to_none=True)
            x_out, _, _, info = pool(h, edge_index, batch)
            ((x_out * weights[: x_out.size(0)]).sum() + info.gate.square().sum()).backward()
            return h.grad, pool.lin.weight.grad, int(info.candidate_index.size(1))

    gathered, gathered_weight, num_pairs = gradients(gpu_scores.GATHER_MIN_PAIRS)
    atomic, atomic_weight, _ = gradients(1 << 40)
    assert num_pairs >= gpu_scores.GATHER_MIN_PAIRS
    assert torch.allclose(gathered, atomic, rtol=1e-4, atol=1e-5)
    assert torch.allclose(gathered_weight, atomic_weight, rtol=1e-4, atol=1e-3)
