"""MergeHistory: composing cluster maps of stacked pool layers and routing values back."""

from __future__ import annotations

import pytest
import torch

from pyg_grapheme.nn import MergeHistory, ThresholdMergePool


def chain(num_nodes: int) -> torch.Tensor:
    src = torch.arange(num_nodes - 1)
    return torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], dim=1)


# One chain of 6 nodes: (0,1) alike, (2,3) alike, 4 and 5 alone; after the first merge,
# the pooled nodes {0,1} and {2,3} are alike at a lower threshold.
X = torch.tensor([[1.0, 0.0], [1.0, 0.05], [0.8, 0.6], [0.8, 0.65], [0.0, 1.0], [-1.0, 0.0]])


def two_layers() -> tuple[MergeHistory, torch.Tensor, ThresholdMergePool]:
    first = ThresholdMergePool(threshold=0.99)
    second = ThresholdMergePool(threshold=0.7)
    history = MergeHistory()
    x, edge_index, batch, info = first(X, chain(6))
    assert info.cluster.tolist() == [0, 0, 1, 1, 2, 3]
    history.append(info)
    x, edge_index, batch, info = second(x, edge_index, batch)
    assert info.cluster.tolist() == [0, 0, 1, 2]
    history.append(info)
    return history, x, second


def test_cluster_composes_the_layers():
    history, _, _ = two_layers()
    assert len(history) == 2
    assert history.cluster.tolist() == [0, 0, 0, 0, 1, 2]
    assert history.num_nodes == 6 and history.num_clusters == 3
    assert history.batch.tolist() == [0] * 6
    assert repr(history) == "MergeHistory(6 -> 4 -> 3)"
    assert [info.num_clusters for info in history] == [4, 3]
    assert history[0].cluster.tolist() == [0, 0, 1, 1, 2, 3]


def test_member_weight_is_the_composed_weighted_mean():
    history, x, _ = two_layers()
    w = history.member_weight
    assert torch.allclose(w, torch.tensor([0.25, 0.25, 0.25, 0.25, 1.0, 1.0]), atol=1e-6)
    # The final features are the composed weighted means of the input features.
    expected = torch.zeros(3, 2).index_add_(0, history.cluster, X * w.unsqueeze(-1))
    assert torch.allclose(x, expected, atol=1e-6)


def test_unpool_routes_final_values_to_input_nodes():
    history, x, _ = two_layers()
    values = torch.tensor([[10.0], [20.0], [30.0]])
    assert history.unpool(values).tolist() == [[10.0]] * 4 + [[20.0], [30.0]]
    assert torch.equal(history.unpool(x), x[history.cluster])
    with pytest.raises(ValueError, match="expected values with 3 rows"):
        history.unpool(torch.zeros(4, 1))


def test_append_checks_consecutive_layers_and_empty_history_is_an_error():
    history, _, second = two_layers()
    _, _, _, unrelated = second(X, chain(6))
    with pytest.raises(ValueError, match="pooled 6 input nodes, but the previous layer produced 3"):
        history.append(unrelated)
    empty = MergeHistory()
    assert len(empty) == 0 and repr(empty) == "MergeHistory()"
    with pytest.raises(ValueError, match="history is empty"):
        _ = empty.cluster
    with pytest.raises(ValueError, match="history is empty"):
        empty.unpool(torch.zeros(1))


def test_constructor_takes_records_in_order():
    first = ThresholdMergePool(threshold=0.99)
    x, edge_index, batch, info1 = first(X, chain(6))
    _, _, _, info2 = ThresholdMergePool(threshold=0.7)(x, edge_index, batch)
    assert MergeHistory([info1, info2]).cluster.tolist() == [0, 0, 0, 0, 1, 2]
