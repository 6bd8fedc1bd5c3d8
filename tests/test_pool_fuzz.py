"""Fuzzing ThresholdMergePool (hypothesis): random graphs, batch vectors, feature values and
options, on the host and the tensor paths. No crash, no non-finite output without a
ValueError, no merge across graphs, and a pooled graph consistent with its record."""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pool_settings import pool_path

from pyg_grapheme.nn import ThresholdMergePool

FEATURE = st.one_of(
    st.sampled_from([0.0, 1.0, -1.0, 2.0]),  # ties, zero rows
    st.floats(-1e3, 1e3, allow_nan=False, width=32),
    st.sampled_from([1e-30, 1e30, math.nan, math.inf, -math.inf]),  # underflow, overflow, bad
)


@st.composite
def graphs(draw):
    num_nodes = draw(st.integers(0, 12))
    channels = draw(st.integers(1, 3))
    values = draw(st.lists(FEATURE, min_size=num_nodes * channels, max_size=num_nodes * channels))
    x = torch.tensor(values, dtype=torch.float32).view(num_nodes, channels)
    num_edges = draw(st.integers(0, 3 * num_nodes + 2))
    # Mostly valid node indices, sometimes one out of range (negative or >= N).
    low, high = (-2, num_nodes + 1) if draw(st.integers(0, 3)) == 0 else (0, max(num_nodes - 1, 0))
    ends = draw(st.lists(st.integers(low, high), min_size=2 * num_edges, max_size=2 * num_edges))
    edge_index = torch.tensor(ends, dtype=torch.long).view(2, num_edges)
    graph_ids = draw(st.lists(st.integers(-1 if draw(st.integers(0, 3)) == 0 else 0, 3),
                              min_size=num_nodes, max_size=num_nodes))  # fmt: skip
    batch = torch.tensor(graph_ids, dtype=torch.long)
    options = {
        "mode": draw(st.sampled_from(["matching", "components"])),
        "similarity": draw(st.sampled_from(["cosine", "centered"])),
        "threshold": draw(st.sampled_from([None, 0.2, 0.5, 0.9])),
        "reduce": draw(st.sampled_from(["sum", "mean"])),
        "ratio": draw(st.sampled_from([None, 0.5])),
        "gate_features": draw(st.sampled_from([0.0, 0.1, 1.0])),
        "self_loops": draw(st.booleans()),
    }
    if num_nodes and edge_index.numel() == 0:
        edge_index = torch.zeros(2, 0, dtype=torch.long)
    return x, edge_index, batch, options


def input_is_bad(x, edge_index, batch) -> bool:
    n = x.size(0)
    bad_edges = edge_index.numel() > 0 and (int(edge_index.min()) < 0 or int(edge_index.max()) >= n)
    return bad_edges or bool((batch < 0).any()) or not bool(torch.isfinite(x).all())


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.sampled_from(["host", "tensor"]))
def test_pool_never_crashes_never_hides_a_non_finite_value_never_merges_across_graphs(case, path):
    x, edge_index, batch, options = case
    pool = ThresholdMergePool(**options)
    with pool_path(path):
        try:
            x_out, edge_index_out, batch_out, info = pool(x, edge_index, batch)
        except ValueError as error:
            assert str(error).startswith("ThresholdMergePool: ")
            # Finite features whose squares overflow float32 are refused as well.
            too_large = "overflows" in str(error) and float(x.abs().max()) > 1e18
            assert input_is_bad(x, edge_index, batch) or too_large, str(error)
            return
    assert not input_is_bad(x, edge_index, batch)
    n, c = x.size(0), info.num_clusters
    assert bool(torch.isfinite(x_out).all()) and bool(torch.isfinite(info.gate).all())
    assert bool(torch.isfinite(info.edge_weight).all())
    assert math.isfinite(pool.threshold.item())
    assert x_out.shape == (c, x.size(1)) and info.cluster.shape == (n,)
    assert c == (int(info.cluster.max()) + 1 if n else 0)
    # No merge across graphs: every cluster's members share one graph id.
    assert torch.equal(batch_out.index_select(0, info.cluster), batch)
    merged_pairs = info.candidate_index[:, info.merged]
    assert torch.equal(info.cluster[merged_pairs[0]], info.cluster[merged_pairs[1]])
    # The pooled edges are the input edges mapped to clusters, coalesced, those inside a
    # cluster kept (as its self-loop) only with self_loops.
    mapped = info.cluster[edge_index]
    if not options["self_loops"]:
        mapped = mapped[:, mapped[0] != mapped[1]]
    expected = torch.unique(mapped[0] * max(c, 1) + mapped[1])
    assert torch.equal(edge_index_out[0] * max(c, 1) + edge_index_out[1], expected)
