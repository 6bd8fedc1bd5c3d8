"""The forward algorithm and Viterbi over monotonic alignments, against brute force."""

from __future__ import annotations

import itertools

import pytest
import torch

from pyg_grapheme.models.monotonic_alignment import (
    LOG_ZERO,
    feasible,
    monotonic_forward,
    monotonic_viterbi,
)


def _enumerate(emit, end, n, m, max_per_node):
    """Every alignment of ``m`` units to ``n`` nodes (counts c, sum m, each <= K) and its
    log-probability ``sum_i (sum_s emit[i, s, a_i + s] + end[i, c_i, a_i + c_i])``
    (slot-free scores, ``[n, m]``, have no slot axis)."""
    slotted = emit.dim() == 3
    scored = []
    for counts in itertools.product(range(m + 1), repeat=n):
        if sum(counts) != m or (max_per_node is not None and max(counts, default=0) > max_per_node):
            continue
        total, start = emit.new_zeros(()), 0
        for i, c in enumerate(counts):
            for s in range(c):
                total = total + (emit[i, s, start + s] if slotted else emit[i, start + s])
            total = total + (end[i, c, start + c] if slotted else end[i, start + c])
            start += c
        scored.append((counts, total))
    return scored


CASES = [  # (nodes, units) per graph of one batch: growth, deletion, empty target, one node
    (4, 5),
    (3, 2),
    (1, 0),
    (2, 4),
    (3, 3),
]


@pytest.mark.parametrize(
    ("max_per_node", "slotted"), [(None, False), (1, False), (2, False), (3, False), (2, True),
                                  (3, True), (6, True)]
)  # fmt: skip
def test_forward_and_viterbi_equal_enumeration(max_per_node, slotted):
    """Slot-free and slot-dependent scores (what a node writes may depend on how many
    units it wrote already), growth and deletion, an empty target, K below and above m."""
    torch.manual_seed(0)
    n, m = 4, 5
    slots = (max_per_node + 1,) if slotted else ()
    emit = torch.randn(len(CASES), n, *slots, m, dtype=torch.float64)
    end = torch.randn(len(CASES), n, *slots, m + 1, dtype=torch.float64)
    num_nodes = torch.tensor([c[0] for c in CASES])
    num_units = torch.tensor([c[1] for c in CASES])
    logz = monotonic_forward(emit, end, num_nodes, num_units, max_per_node)
    count, best = monotonic_viterbi(emit, end, num_nodes, num_units, max_per_node)
    ok = feasible(num_nodes, num_units, max_per_node)
    for b, (nodes, units) in enumerate(CASES):
        scored = _enumerate(emit[b], end[b], nodes, units, max_per_node)
        assert bool(ok[b]) == bool(scored)
        if not scored:
            assert float(logz[b]) < LOG_ZERO / 2
            continue
        exact = torch.logsumexp(torch.stack([s for _, s in scored]), 0)
        assert float(logz[b]) == pytest.approx(float(exact), abs=1e-12)
        top_counts, top = max(scored, key=lambda cs: float(cs[1]))
        assert float(best[b]) == pytest.approx(float(top), abs=1e-12)
        assert tuple(count[b, :nodes].tolist()) == top_counts
        assert count[b, nodes:].tolist() == [0] * (n - nodes)


def test_forward_gradcheck_float64():
    torch.manual_seed(1)
    num_nodes, num_units = torch.tensor([3, 2, 3]), torch.tensor([4, 3, 0])
    for k, slots in ((None, ()), (2, ()), (2, (3,))):
        emit = torch.randn(3, 3, *slots, 4, dtype=torch.float64, requires_grad=True)
        end = torch.randn(3, 3, *slots, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(
            lambda e, s, k=k: monotonic_forward(e, s, num_nodes, num_units, k), (emit, end)
        )


def test_gradient_is_the_posterior_occupation():
    """d log p(y) / d s_ij is the posterior probability that node i ends after j units."""
    torch.manual_seed(2)
    emit = torch.randn(1, 3, 3, dtype=torch.float64)
    end = torch.randn(1, 3, 4, dtype=torch.float64, requires_grad=True)
    num_nodes, num_units = torch.tensor([3]), torch.tensor([3])
    monotonic_forward(emit, end, num_nodes, num_units).sum().backward()
    scored = _enumerate(emit[0], end[0].detach(), 3, 3, None)
    weights = torch.softmax(torch.stack([s for _, s in scored]), 0)
    posterior = torch.zeros(3, 4, dtype=torch.float64)
    for (counts, _), w in zip(scored, weights):
        start = 0
        for i, c in enumerate(counts):
            start += c
            posterior[i, start] += w
    assert torch.allclose(end.grad[0], posterior, atol=1e-12)


def test_empty_target_and_too_long_target():
    """An empty target: every node ends at once (log p = sum of the first ends). A target
    longer than K per node has no alignment: not feasible, score near LOG_ZERO, no NaN."""
    emit = torch.zeros(2, 2, 5)
    end = torch.log(torch.full((2, 2, 6), 0.25))
    num_nodes, num_units = torch.tensor([2, 2]), torch.tensor([0, 5])
    logz = monotonic_forward(emit, end, num_nodes, num_units, max_per_node=2)
    assert float(logz[0]) == pytest.approx(2 * float(torch.log(torch.tensor(0.25))))
    assert float(logz[1]) < LOG_ZERO / 2
    assert feasible(num_nodes, num_units, 2).tolist() == [True, False]
    emit.requires_grad_(True)
    monotonic_forward(emit, end, num_nodes, num_units, max_per_node=2).sum().backward()
    assert torch.isfinite(emit.grad).all()


def test_no_node_and_bad_shapes():
    emit, end = torch.zeros(2, 0, 1), torch.zeros(2, 0, 2)
    logz = monotonic_forward(emit, end, torch.tensor([0, 0]), torch.tensor([0, 1]))
    assert logz[0] == 0.0 and float(logz[1]) < LOG_ZERO / 2
    with pytest.raises(ValueError, match=r"end must be \[B, n, m \+ 1\]"):
        monotonic_forward(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), torch.tensor([2]),
                          torch.tensor([3]))  # fmt: skip
    with pytest.raises(ValueError, match="num_units"):
        monotonic_forward(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4), torch.tensor([2]),
                          torch.tensor([4]))  # fmt: skip
    with pytest.raises(ValueError, match="slot-dependent scores need max_per_node"):
        monotonic_forward(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 4), torch.tensor([2]),
                          torch.tensor([3]), max_per_node=4)  # fmt: skip
