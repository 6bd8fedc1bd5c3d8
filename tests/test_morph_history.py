"""MorphHistory: composing the records of merge and split layers and routing values back."""

from __future__ import annotations

import pytest
import torch
from pool_settings import classic_pool

import pyg_grapheme.nn
from pyg_grapheme.nn import MorphHistory, NodeSplit, ThresholdMergePool


def chain(num_nodes: int) -> torch.Tensor:
    src = torch.arange(num_nodes - 1)
    return torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], dim=1)


# One chain of 6 nodes: (0,1) alike, (2,3) alike, 4 and 5 alone; after the first merge,
# the pooled nodes {0,1} and {2,3} are alike at a lower threshold.
X = torch.tensor([[1.0, 0.0], [1.0, 0.05], [0.8, 0.6], [0.8, 0.65], [0.0, 1.0], [-1.0, 0.0]])


def two_layers() -> tuple[MorphHistory, torch.Tensor, ThresholdMergePool]:
    first = classic_pool(threshold=0.99)
    second = classic_pool(threshold=0.7)
    history = MorphHistory()
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
    assert repr(history) == "MorphHistory(6 -> 4 -> 3)"
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
    with pytest.raises(ValueError, match="has 6 input nodes, but the previous layer produced 3"):
        history.append(unrelated)
    empty = MorphHistory()
    assert len(empty) == 0 and repr(empty) == "MorphHistory()"
    assert not hasattr(pyg_grapheme.nn, "MergeHistory")  # the old alias is gone
    with pytest.raises(ValueError, match="history is empty"):
        _ = empty.cluster
    with pytest.raises(ValueError, match="history is empty"):
        empty.unpool(torch.zeros(1))


def test_constructor_takes_records_in_order():
    first = classic_pool(threshold=0.99)
    x, edge_index, batch, info1 = first(X, chain(6))
    _, _, _, info2 = classic_pool(threshold=0.7)(x, edge_index, batch)
    assert MorphHistory([info1, info2]).cluster.tolist() == [0, 0, 0, 0, 1, 2]


# --------------------------------------------------------------------------- with splits
def merge_then_split() -> tuple[MorphHistory, torch.Tensor]:
    """The two merges above (6 -> 3 nodes), then a split with counts (2, 0, 3)."""
    history, x, _ = two_layers()
    split = NodeSplit()
    edge_index = torch.tensor([[0, 1], [1, 2]])
    x, _, _, info = split(x, edge_index, count=torch.tensor([2, 0, 3]))
    history.append(info)
    return history, x


def test_assignment_composes_merges_and_splits():
    history, x = merge_then_split()
    assert repr(history) == "MorphHistory(6 -> 4 -> 3 => 5)"
    assert history.num_out == 5 and x.shape == (5, 2)
    # Nodes 0-3 merged into cluster 0, which split in two (outputs 0, 1); node 4 was
    # deleted; node 5 split in three (outputs 2, 3, 4).
    assert history.assignment().tolist() == [
        [0, 0, 1, 1, 2, 2, 3, 3, 5, 5, 5],
        [0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 4],
    ]
    with pytest.raises(ValueError, match="use assignment"):
        _ = history.cluster


def test_unpool_through_a_split_is_the_mean_of_the_children_and_routes_gradients():
    history, _ = merge_then_split()
    values = torch.tensor([[1.0], [3.0], [10.0], [20.0], [60.0]], requires_grad=True)
    lifted = history.unpool(values)
    assert lifted.tolist() == [[2.0]] * 4 + [[0.0], [30.0]]
    lifted.sum().backward()
    # Four inputs read the mean of outputs 0 and 1 (4 * 1/2 each); one reads the mean of 2-4.
    assert torch.allclose(values.grad.view(-1), torch.tensor([2.0, 2.0, 1 / 3, 1 / 3, 1 / 3]))


def test_a_split_first_then_a_merge():
    split = NodeSplit()
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    edge_index = torch.tensor([[0], [1]])
    grown, grown_edges, batch, info = split(x, edge_index, count=torch.tensor([3, 1]))
    assert grown_edges.tolist() == [[0, 1, 2], [1, 2, 3]]
    pool = classic_pool(threshold=0.9)  # the three equal children merge
    _, _, _, merged = pool(grown, grown_edges, batch)
    assert merged.cluster.tolist() == [0, 0, 0, 1]
    history = MorphHistory([info, merged])
    assert history.assignment().tolist() == [[0, 0, 0, 1], [0, 0, 0, 1]]
    assert history.unpool(torch.tensor([[5.0], [7.0]])).tolist() == [[5.0], [7.0]]
    with pytest.raises(TypeError, match="expected a MergeInfo or SplitInfo"):
        history.append("not a record")
