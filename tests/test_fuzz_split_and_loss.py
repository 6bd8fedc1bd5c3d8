"""Fuzzing NodeSplit and StructuralLoss with random graphs, batches and feature values.

Every example ends in one of two ways: a ``ValueError`` that names the problem, or
outputs that are finite and obey the layer's contract (sizes, order, no edge between
graphs; a loss of at least 0 with finite gradients). Feature values are drawn from
ordinary numbers mixed with NaN, infinities, the largest float32 values and
subnormals.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Batch, Data

from pyg_grapheme.loss import StructuralLoss
from pyg_grapheme.nn import NodeSplit

EXTREMES = [math.nan, math.inf, -math.inf, 3.0e38, -3.0e38, 1.0e-45, 0.0]
VALUES = st.one_of(st.floats(-10.0, 10.0, width=32), st.sampled_from(EXTREMES))
FINITE = st.floats(-10.0, 10.0, width=32)


@st.composite
def batched_graphs(draw, max_graphs: int = 3, max_nodes: int = 6, ids=None):
    """``(sizes, batch, edge_index)``: graphs of 0..max_nodes nodes, each with edges of its
    own (self-loops and duplicates allowed) and graph ids in increasing order (``ids``:
    a strategy for the gaps between successive ids, 0 = the next id)."""
    sizes = draw(st.lists(st.integers(0, max_nodes), min_size=1, max_size=max_graphs))
    ids_of = [0]
    for _ in sizes[1:]:
        ids_of.append(ids_of[-1] + 1 + (draw(ids) if ids is not None else 0))
    batch = torch.tensor([g for g, n in zip(ids_of, sizes) for _ in range(n)], dtype=torch.long)
    edges: list[tuple[int, int]] = []
    offset = 0
    for n in sizes:
        if n:
            pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
            edges += [(offset + i, offset + j) for i, j in draw(st.lists(pairs, max_size=2 * n))]
        offset += n
    edge_index = torch.tensor(edges, dtype=torch.long).t().reshape(2, -1)
    return sizes, batch, edge_index


@settings(max_examples=150, deadline=None)
@given(
    graphs=batched_graphs(ids=st.integers(0, 2)),
    channels=st.integers(1, 4),
    data=st.data(),
    head=st.booleans(),
    extra=st.integers(0, 1),
    undirected=st.booleans(),
)
def test_node_split_names_bad_features_or_keeps_its_contract(
    graphs, channels, data, head, extra, undirected
):
    sizes, batch, edge_index = graphs
    num_nodes = sum(sizes)
    values = data.draw(
        st.lists(VALUES, min_size=num_nodes * channels, max_size=num_nodes * channels)
    )
    x = torch.tensor(values, dtype=torch.float32).view(num_nodes, channels)
    max_children = data.draw(st.integers(1, 3))
    split = NodeSplit(channels if head else None, max_children=max_children, undirected=undirected)
    count = None
    if not head or data.draw(st.booleans()):
        count = torch.tensor(
            data.draw(
                st.lists(st.integers(0, max_children), min_size=num_nodes, max_size=num_nodes)
            ),
            dtype=torch.long,
        )
    if not bool(torch.isfinite(x).all()):
        with pytest.raises(ValueError, match="x holds a NaN or infinite value at node"):
            split(x, edge_index, batch, count=count, extra=extra)
        return
    try:
        out, out_edges, out_batch, info = split(x, edge_index, batch, count=count, extra=extra)
    except ValueError as error:  # finite but huge features can overflow the count head
        assert head and "count head gives a NaN or infinite logit" in str(error)
        return
    grown = info.count + extra * (info.count < max_children).long()
    assert info.num_nodes == out.size(0) == int(grown.sum())
    assert torch.equal(info.parent, torch.repeat_interleave(torch.arange(num_nodes), grown))
    assert bool((info.slot < grown[info.parent]).all())
    assert torch.equal(out_batch, batch[info.parent])
    assert bool(torch.isfinite(out).all())
    if info.presence is not None:
        presence = info.presence
        assert bool(torch.isfinite(presence).all()) and bool(
            ((0 <= presence) & (presence <= 1)).all()
        )
    if out_edges.numel():
        assert int(out_edges.min()) >= 0 and int(out_edges.max()) < info.num_nodes
        assert torch.equal(out_batch[out_edges[0]], out_batch[out_edges[1]])  # no cross-graph edge
    lifted, _, _ = split.unsplit(out, info)
    assert lifted.shape == x.shape and bool(torch.isfinite(lifted).all())


@settings(max_examples=60, deadline=None)
@given(
    graphs=batched_graphs(max_nodes=4),
    bad=st.integers(-3, 3),
)
def test_node_split_names_edges_outside_the_graph(graphs, bad):
    sizes, batch, edge_index = graphs
    num_nodes = sum(sizes)
    node = bad if bad < 0 else num_nodes + bad
    edges = torch.cat([edge_index, torch.tensor([[0], [node]])], dim=1)
    with pytest.raises(ValueError, match=rf"edge_index holds node {node}, outside"):
        NodeSplit()(torch.zeros(num_nodes, 2), edges, batch, count=torch.ones(num_nodes).long())


@st.composite
def graph_pairs(draw):
    """A pred and a target batch with the same number of graphs: soft or logit pred types
    from VALUES, class-index or soft target types, optional activations, presences and
    edge weights."""
    num_classes = draw(st.integers(1, 4))
    pred_sizes = draw(st.lists(st.integers(0, 5), min_size=1, max_size=3))
    target_graphs = st.lists(st.integers(0, 5), min_size=len(pred_sizes), max_size=len(pred_sizes))
    target_sizes = draw(target_graphs)
    graphs = []
    for sizes in (pred_sizes, target_sizes):
        data_list = []
        for n in sizes:
            pairs = st.tuples(st.integers(0, max(n - 1, 0)), st.integers(0, max(n - 1, 0)))
            edges = draw(st.lists(pairs, max_size=2 * n)) if n else []
            edge_index = torch.tensor(edges, dtype=torch.long).t().reshape(2, -1)
            data_list.append(Data(edge_index=edge_index, num_nodes=n))
        graphs.append(data_list)
    pred, target = (Batch.from_data_list(g) for g in graphs)
    n, m = pred.num_nodes, target.num_nodes
    logits = torch.tensor(
        draw(st.lists(VALUES, min_size=n * num_classes, max_size=n * num_classes))
    )
    pred.type = logits.view(n, num_classes)
    if draw(st.booleans()):
        target.type = torch.tensor(
            draw(st.lists(st.integers(0, num_classes - 1), min_size=m, max_size=m)),
            dtype=torch.long,
        )
    else:
        scores = torch.tensor(
            draw(st.lists(FINITE, min_size=m * num_classes, max_size=m * num_classes))
        )
        target.type = scores.view(m, num_classes).softmax(1)
    if draw(st.booleans()):
        pred.act = torch.tensor(draw(st.lists(VALUES, min_size=n, max_size=n)))
        target.act = torch.tensor(draw(st.lists(FINITE, min_size=m, max_size=m)))
    unit = st.floats(0.0, 1.0, width=32)
    if draw(st.booleans()):
        pred.presence = torch.tensor(draw(st.lists(unit, min_size=n, max_size=n)))
    if draw(st.booleans()):
        pred.edge_weight = torch.tensor(
            draw(st.lists(unit, min_size=pred.num_edges, max_size=pred.num_edges))
        )
    return pred, target


@settings(max_examples=120, deadline=None)
@given(pair=graph_pairs(), as_logits=st.booleans())
def test_structural_loss_names_bad_values_or_is_finite_and_bounded(pair, as_logits):
    pred, target = pair
    loss_fn = StructuralLoss(reduction="none", input="logits" if as_logits else "probabilities")
    scores = pred.type.clone().requires_grad_(True)
    if not as_logits:
        # Turn finite scores into probabilities; non-finite ones stay as they are.
        finite_rows = torch.isfinite(pred.type).all(1, keepdim=True)
        pred.type = torch.where(finite_rows, scores.softmax(1), scores)
    else:
        pred.type = scores
    act = getattr(pred, "act", None)
    # -inf logits are the usual mask (probability 0): what must be finite is the softmax.
    types = scores.detach().softmax(1) if as_logits else scores.detach()
    inputs_finite = bool(torch.isfinite(types).all()) and (
        act is None or bool(torch.isfinite(act).all())
    )
    if not inputs_finite:
        with pytest.raises(ValueError, match="NaN or Inf"):
            loss_fn(pred, target)
        return
    if act is not None and act.numel() and float(act.abs().max()) > torch.finfo().max ** 0.5 / 2:
        with pytest.raises(ValueError, match="overflow the node cost"):
            loss_fn(pred, target)
        return
    loss = loss_fn(pred, target)
    assert loss.shape == (len(target.to_data_list()),)
    assert bool(torch.isfinite(loss).all())
    assert float(loss.detach().min()) >= -1e-5  # every term is a cost
    loss.sum().backward()
    assert bool(torch.isfinite(scores.grad).all())
