"""GraphemeConv and GraphAttention name bad input: edges outside the graph, edge weights of
another length, feature sizes, unsorted or negative graph ids."""

from __future__ import annotations

import pytest
import torch

from pyg_grapheme.nn import GraphAttention, GraphemeConv

X = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        # Before: PyG's "invalid 'dim_size'", or torch's "index -1 is out of bounds".
        ([[0, 1], [1, 3]], "GraphemeConv: edge_index holds node 3, outside [0, num_nodes=3)"),
        ([[0, 1], [1, -1]], "GraphemeConv: edge_index holds node -1, outside [0, num_nodes=3)"),
    ],
)
def test_conv_names_edges_outside_the_graph(edges, message):
    with pytest.raises(ValueError) as error:
        GraphemeConv(4, 4)(X, torch.tensor(edges))
    assert str(error.value) == message


def test_conv_names_edge_weights_of_another_length():
    # Before: an IndexError about a boolean mask inside PyG's remove_self_loops.
    with pytest.raises(
        ValueError, match=r"edge_weight must have shape \[num_edges=2\], got \(5,\)"
    ):
        GraphemeConv(4, 4)(X, torch.tensor([[0, 1], [1, 2]]), torch.ones(5))


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        # Before: torch errors about tensor sizes and indices, far from the cause.
        ([1, 0, 1], "GraphAttention: batch is not sorted"),
        ([-1, 0, 0], "GraphAttention: batch holds the negative graph id -1"),
        ([0, 0], r"GraphAttention: batch must be a long tensor \[num_nodes=3\]"),
    ],
)
def test_attention_names_bad_graph_ids(batch, message):
    with pytest.raises(ValueError, match=message):
        GraphAttention(4, 2)(X, torch.tensor(batch))


def test_attention_names_feature_sizes_and_keeps_graphs_apart():
    # Before: an AssertionError from MultiheadAttention.
    with pytest.raises(ValueError, match=r"x must be \[num_nodes, 4\], got \(3, 6\)"):
        GraphAttention(4, 2)(torch.randn(3, 6))
    attention = GraphAttention(4, 2).eval()
    together = attention(X, torch.tensor([0, 2, 2]))  # graph 1 has no node: allowed
    assert torch.allclose(together[:1], attention(X[:1]), atol=1e-6)
    assert torch.allclose(together[1:], attention(X[1:]), atol=1e-6)


def test_tensors_on_two_devices_are_named_before_any_kernel_runs():
    # "meta" stands in for a second device (a GPU) on machines without one.
    from torch_geometric.data import Data

    from pyg_grapheme.loss import StructuralLoss
    from pyg_grapheme.nn import NodeSplit

    x = torch.randn(3, 4, device="meta")
    edges = torch.tensor([[0, 1], [1, 2]])
    for layer in (NodeSplit(4), GraphemeConv(4, 4)):
        with pytest.raises(ValueError, match="edge_index is on cpu but x is on meta"):
            layer(x, edges)
    with pytest.raises(ValueError, match="batch is on cpu but x is on meta"):
        GraphAttention(4, 2)(x, torch.zeros(3, dtype=torch.long))
    empty = torch.empty(2, 0, dtype=torch.long)
    pred = Data(type=torch.full((2, 3), 1 / 3, device="meta"), edge_index=empty.to("meta"))
    target = Data(type=torch.tensor([0, 1]), edge_index=empty)
    with pytest.raises(ValueError, match="pred is on meta but target is on cpu"):
        StructuralLoss()(pred, target)
