"""NodeSplit: exact outputs on hand-built graphs, the input contract, gradients."""

from __future__ import annotations

import pytest
import torch

from pyg_grapheme.nn import NodeSplit

CHAIN5 = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])


def test_chain_children_follow_their_parents_and_stay_a_chain():
    split = NodeSplit()
    x = torch.arange(5.0).view(5, 1)
    out, edge_index, batch, info = split(x, CHAIN5, count=torch.tensor([2, 1, 0, 3, 1]))
    assert out.view(-1).tolist() == [0.0, 0.0, 1.0, 3.0, 3.0, 3.0, 4.0]
    assert info.parent.tolist() == [0, 0, 1, 3, 3, 3, 4]
    assert info.slot.tolist() == [0, 1, 0, 0, 1, 2, 0]
    # The deleted node 2 is bypassed: 1 -> 3 joins the chain again.
    assert edge_index.tolist() == [[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]]
    assert batch.tolist() == [0] * 7 and info.num_nodes == 7
    assert info.count_logit is None and info.presence is None


def test_runs_of_deleted_nodes_and_deleted_ends():
    split = NodeSplit()
    x = torch.arange(5.0).view(5, 1)
    _, edge_index, _, info = split(x, CHAIN5, count=torch.tensor([0, 1, 0, 0, 2]))
    assert info.parent.tolist() == [1, 4, 4]
    assert edge_index.tolist() == [[0, 1], [1, 2]]  # 1 -> (2, 3 deleted) -> 4, then siblings


def test_general_graph_edges_leave_from_last_child_and_enter_first_child():
    # 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3 (a diamond); node 2 deleted but has one in- and one
    # out-edge, so 0 -> 3 replaces 0 -> 2 -> 3 (coalesced with nothing: no 0 -> 3 before).
    edge_index = torch.tensor([[0, 0, 1, 2], [1, 2, 3, 3]])
    x = torch.eye(4)
    _, out_edges, _, info = NodeSplit()(x, edge_index, count=torch.tensor([2, 1, 0, 1]))
    assert info.parent.tolist() == [0, 0, 1, 3]
    assert out_edges.tolist() == [[0, 1, 1, 2], [1, 2, 3, 3]]
    # A deleted hub (two out-edges) is not bypassed: its edges are dropped.
    _, out_edges, _, _ = NodeSplit()(x, edge_index, count=torch.tensor([0, 1, 1, 1]))
    assert out_edges.tolist() == [[0, 1], [2, 2]]


def test_undirected_graphs_get_both_directions():
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])  # path 0 - 1 - 2, PyG layout
    x = torch.zeros(3, 2)
    _, out, _, _ = NodeSplit(undirected=True)(x, edge_index, count=torch.tensor([1, 2, 1]))
    assert out.tolist() == [[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]]


def test_batches_stay_apart_and_sorted():
    x = torch.arange(4.0).view(4, 1)
    edge_index = torch.tensor([[0, 2], [1, 3]])  # two chains of two nodes
    batch = torch.tensor([0, 0, 1, 1])
    _, out, out_batch, _ = NodeSplit()(x, edge_index, batch, count=torch.tensor([1, 0, 2, 1]))
    assert out_batch.tolist() == [0, 1, 1, 1]
    assert out.tolist() == [[1, 2], [2, 3]]  # no edge crosses graphs


def test_empty_graph_all_zero_counts_and_one_node():
    split = NodeSplit(4, max_children=3)
    empty = torch.zeros(0, 4)
    out, edge_index, batch, info = split(empty, torch.zeros(2, 0, dtype=torch.long))
    assert out.shape == (0, 4) and edge_index.shape == (2, 0) and batch.numel() == 0
    assert info.presence.shape == (0,)
    out, edge_index, batch, info = split(
        torch.ones(3, 4), CHAIN5[:, :2], count=torch.zeros(3, dtype=torch.long)
    )
    assert out.shape == (0, 4) and edge_index.shape == (2, 0) and info.num_nodes == 0
    out, edge_index, _, info = split(
        torch.ones(1, 4), torch.zeros(2, 0, dtype=torch.long), count=torch.tensor([3])
    )
    assert out.shape == (3, 4) and edge_index.tolist() == [[0, 1], [1, 2]]
    assert info.slot.tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    ("count", "message"),
    [
        (torch.tensor([1, 9, 0, 1, 1]), "counts must lie in 0..max_children=8, got 9"),
        (torch.tensor([1, -1, 0, 1, 1]), "counts must lie in 0..max_children=8, got -1"),
        (torch.tensor([1, 1, 1]), r"count must have shape \[num_nodes=5\], got \(3,\)"),
        (torch.tensor([1.0, 1, 1, 1, 1]), "count must be a long tensor, got torch.float32"),
        ([1, 1, 1, 1, 1], "count must be a long tensor, got list"),
    ],
)
def test_bad_counts_name_the_layer_and_the_value(count, message):
    with pytest.raises(ValueError, match=f"NodeSplit: {message}"):
        NodeSplit()(torch.zeros(5, 2), CHAIN5, count=count)


def test_without_a_count_head_counts_are_required():
    with pytest.raises(ValueError, match="NodeSplit: give count"):
        NodeSplit()(torch.zeros(5, 2), CHAIN5)
    with pytest.raises(ValueError, match="max_children must be >= 1"):
        NodeSplit(max_children=0)


def test_presence_is_a_probability_despite_rounding():
    # float32 logits whose tail sums round to 1.0000001 without the clamp (seen in training).
    logits = [3.6983702, 25.815071, -27.291016, 24.786055, 4.0940628, -10.111738, 9.929203]
    logits += [-4.4794502, -2.6489031]
    split = NodeSplit(9, max_children=8)
    with torch.no_grad():
        split.count_head.weight.copy_(torch.eye(9))
        split.count_head.bias.zero_()
    _, _, _, info = split(torch.tensor([logits]), torch.zeros(2, 0, dtype=torch.long))
    probs = torch.softmax(info.count_logit, dim=1)
    assert probs.flip(1).cumsum(1).flip(1).max() > 1.0  # the rounding is real
    assert info.count.tolist() == [1] and info.presence.tolist() == [1.0]


def test_count_head_argmax_presence_and_tentative_children():
    split = NodeSplit(2, max_children=3)
    with torch.no_grad():
        split.count_head.weight.zero_()
        # Node features pick the logits directly: node 0 -> count 2, node 1 -> count 0.
        split.count_head.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0]))
        split.count_head.weight[2, 0] = 5.0
        split.count_head.weight[0, 1] = 5.0
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    edge_index = torch.tensor([[0], [1]])
    _, _, _, info = split(x, edge_index)
    assert info.count.tolist() == [2, 0] and info.parent.tolist() == [0, 0]
    probs = torch.softmax(info.count_logit, dim=1)
    assert torch.allclose(info.presence, torch.stack([1 - probs[0, 0], probs[0, 2:].sum()]))
    _, edges, _, info = split(x, edge_index, extra=1)
    # One tentative child each: node 0 at slot 2, node 1 at slot 0.
    assert info.parent.tolist() == [0, 0, 0, 1] and info.slot.tolist() == [0, 1, 2, 0]
    tentative = info.slot >= info.count[info.parent]
    assert tentative.tolist() == [False, False, True, True]
    assert torch.allclose(info.presence[2], probs[0, 3]) and edges.tolist() == [
        [0, 1, 2],
        [1, 2, 3],
    ]


def test_children_start_as_copies_and_unsplit_is_the_mean():
    split = NodeSplit(3)
    x = torch.randn(5, 3)
    out, _, _, info = split(x, CHAIN5, count=torch.tensor([2, 1, 0, 3, 1]))
    assert torch.equal(out, x[info.parent])
    lifted, edge_index, _ = split.unsplit(out, info)
    assert torch.allclose(lifted[[0, 1, 3, 4]], x[[0, 1, 3, 4]], atol=1e-6)
    assert lifted[2].tolist() == [0.0, 0.0, 0.0] and torch.equal(edge_index, CHAIN5)
    with pytest.raises(ValueError, match="expected x with 7 rows"):
        split.unsplit(out[:3], info)


def test_gradcheck_features_embeddings_and_count_head(module_gradcheck):
    torch.manual_seed(0)
    split = NodeSplit(3, max_children=4).double()
    with torch.no_grad():
        split.slot_embedding.weight.normal_()
        split.after_embedding.weight.normal_()
    x = torch.randn(5, 3, dtype=torch.float64)
    count = torch.tensor([2, 1, 0, 3, 1])
    weights = torch.randn(7, 3, dtype=torch.float64)

    def loss(module: NodeSplit) -> torch.Tensor:
        out, _, _, info = module(x, CHAIN5, count=count, extra=1)
        return (out[: weights.size(0)] * weights).sum() + (info.presence**2).sum()

    assert module_gradcheck(split, loss)

    def of_x(features: torch.Tensor) -> torch.Tensor:
        out, _, _, info = split(features, CHAIN5, count=count)
        return (out * weights).sum() + info.presence.sum()

    assert torch.autograd.gradcheck(of_x, (x.clone().requires_grad_(),))


def test_torch_compile_equals_eager():
    torch.manual_seed(0)
    split = NodeSplit(4, max_children=3)
    with torch.no_grad():
        split.slot_embedding.weight.normal_()
    x = torch.randn(5, 4, requires_grad=True)
    count = torch.tensor([2, 1, 0, 3, 1])
    compiled = torch.compile(split, backend="eager", dynamic=True)
    eager_out = split(x, CHAIN5, count=count)
    compiled_out = compiled(x, CHAIN5, count=count)
    for a, b in zip(eager_out[:3], compiled_out[:3]):
        assert torch.equal(a, b)
    assert torch.equal(eager_out[3].presence, compiled_out[3].presence)
    (g_eager,) = torch.autograd.grad(eager_out[0].sum() + eager_out[3].presence.sum(), x)
    (g_compiled,) = torch.autograd.grad(compiled_out[0].sum() + compiled_out[3].presence.sum(), x)
    assert torch.allclose(g_eager, g_compiled)


# --- Counts learn from a structural loss, from both sides ------------------------------------


def structural_count_loss(split: NodeSplit, x: torch.Tensor, target_count: torch.Tensor):
    """StructuralLoss between the grown chain (each output node labelled by its parent, so
    only the counts can be wrong) and the chain the target counts grow. The split uses its
    own counts plus one tentative child per node (extra=1); presence is P(c > slot).

    A relabel is priced above a deletion plus an insertion (type_weight 3): with fixed
    labels, "one node too many here, one too few there" would otherwise be a single
    relabel to the loss, and no count would have a reason to move."""
    from torch_geometric.data import Data

    from pyg_grapheme.loss import StructuralLoss

    num_nodes = x.size(0)
    _, edge_index, _, info = split(x, CHAIN5, extra=1)
    pred = Data(
        type=torch.nn.functional.one_hot(info.parent, num_nodes).float(),
        edge_index=edge_index,
        presence=info.presence,
    )
    target_type = torch.repeat_interleave(torch.arange(num_nodes), target_count)
    src = torch.arange(max(target_type.numel() - 1, 0))
    target = Data(type=target_type, edge_index=torch.stack([src, src + 1]))
    return StructuralLoss(type_weight=3.0)(pred, target), info


@pytest.mark.parametrize("start", ["too few", "too many"])
def test_counts_learn_from_the_structural_loss_alone(start):
    torch.manual_seed(0)
    target_count = torch.tensor([2, 1, 3, 0, 1])
    split = NodeSplit(5, max_children=4)
    x = torch.eye(5)
    with torch.no_grad():  # every node starts with count 0 (too few) or 4 (too many)
        split.count_head.weight.zero_()
        split.count_head.bias.copy_(torch.tensor([3.0, 0, 0, 0, 0] if start == "too few"
                                                 else [0, 0, 0, 0, 3.0]))  # fmt: skip
    optimizer = torch.optim.Adam(split.count_head.parameters(), lr=0.1)
    _, info = structural_count_loss(split, x, target_count)
    assert info.count.tolist() == ([0] * 5 if start == "too few" else [4] * 5)
    for _ in range(150):
        optimizer.zero_grad()
        loss, info = structural_count_loss(split, x, target_count)
        loss.backward()
        optimizer.step()
    _, info = structural_count_loss(split, x, target_count)
    assert info.count.tolist() == target_count.tolist()


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_features_are_named_not_deleted(bad):
    # The argmax of a NaN count row is 0: before the check, every such node was silently
    # deleted, and with count given the NaN went on into the children.
    split = NodeSplit(in_channels=3)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    x[3, 1] = bad
    with pytest.raises(ValueError, match="NodeSplit: x holds a NaN or infinite value at node 3"):
        split(x, CHAIN5)
    with pytest.raises(ValueError, match="at node 3"):
        split(x, CHAIN5, count=torch.ones(5, dtype=torch.long))
    with pytest.raises(ValueError, match="at node 3"):
        NodeSplit()(x, CHAIN5, count=torch.ones(5, dtype=torch.long))


def test_count_head_overflow_is_named():
    split = NodeSplit(in_channels=2)
    with torch.no_grad():
        split.count_head.weight.fill_(3e38)
    x = torch.tensor([[0.0, 0.0], [2.0, 2.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="count head gives a NaN or infinite logit at node 1"):
        split(x, CHAIN5[:, :2])


@pytest.mark.parametrize(("edges", "bad"), [([[0, 1], [1, 5]], 5), ([[0, 1], [1, -1]], -1)])
def test_edge_indices_outside_the_graph_are_named(edges, bad):
    # Before the check: a RuntimeError about tensor sizes, or an IndexError without the layer.
    with pytest.raises(ValueError, match=rf"NodeSplit: edge_index holds node {bad}, outside"):
        NodeSplit()(torch.zeros(3, 1), torch.tensor(edges), count=torch.ones(3, dtype=torch.long))
