"""The spelling reader of a cluster's code points (models/cluster_spelling) and the text
model's ``spelling`` option."""

from __future__ import annotations

import pytest
import torch

from pyg_grapheme.models import GraphTransformNet, TransducerGrowth
from pyg_grapheme.models.cluster_spelling import MAX_CODE_POINTS, ClusterSpelling, spelled
from pyg_grapheme.text import FeatureLayout, cluster_features, code_point_vector, graphs_from_texts


def test_a_conjuncts_consonants_have_their_standalone_vectors():
    # ग्न्या: ग, virama, न, virama, य, vowel sign aa; न alone has the same vector as in it.
    rows = spelled("ग्न्या")
    assert len(rows) == 6
    alone = cluster_features(["न"])[0, FeatureLayout.base]
    assert torch.equal(torch.tensor(rows[2], dtype=torch.float32), alone)
    assert rows[2] == tuple(code_point_vector("न")) and rows[0] == tuple(code_point_vector("ग"))
    # Precomposed and decomposed spellings read the same (NFD).
    assert (
        spelled("\u00e9")
        == spelled("e\u0301")
        == (tuple(code_point_vector("e")), tuple(code_point_vector("\u0301")))
    )
    assert len(spelled("👨‍👩‍👧‍👦")) == MAX_CODE_POINTS - 1  # 7 code points, read whole
    assert len(spelled("a" + "\u0301" * 12)) == MAX_CODE_POINTS


def test_the_state_follows_the_code_points_in_order():
    torch.manual_seed(0)
    speller = ClusterSpelling(8).double()
    like = torch.zeros(1, dtype=torch.float64)
    clusters = ["क्ष", "ष्क", "क्ष", "a", "e\u0301", "\u00e9", "a" + "\u0301" * 8, "a" + "\u0301" * 9]
    state = speller(clusters, like)
    assert state.shape == (8, 8) and state.dtype == torch.float64
    assert torch.equal(state[0], state[2]) and not torch.allclose(state[0], state[1])
    assert torch.equal(state[4], state[5])  # é either way
    assert torch.equal(state[6], state[7])  # past MAX_CODE_POINTS nothing is read
    # One cluster alone reads as it does in a batch (padding after the end is not read).
    assert torch.allclose(speller(["a"], like)[0], state[3], atol=1e-12, rtol=0)
    assert speller([], like).shape == (0, 8)


def test_spelling_gradients(module_gradcheck):
    torch.manual_seed(1)
    speller = ClusterSpelling(3)
    like = torch.zeros(1, dtype=torch.float64)
    weights = torch.randn(3, 3, dtype=torch.float64)
    assert module_gradcheck(
        speller, lambda m: (m(["ab", "क्ष", "e\u0301"][:3], like) * weights).sum()
    )


def _net(spelling: bool) -> GraphTransformNet:
    torch.manual_seed(0)
    return GraphTransformNet(
        hidden_channels=16, num_layers=1, attention_layers=1, heads=2,
        growth=TransducerGrowth(max_children=4), output_vocab=["a", "b", "k"],
        output_units="tokens", spelling=spelling,
    )  # fmt: skip


def test_the_net_adds_the_spelling_and_trains_it():
    net = _net(True)
    data = graphs_from_texts(["क्षa", "ab"])
    state = net._spelling(data, torch.zeros(data.num_nodes, 16))
    want = net.speller(["क्ष", "a", "a", "b"], torch.zeros(1))
    assert torch.equal(state, want)
    data.redrawn = torch.tensor([False, True, False, False])
    state = net._spelling(data, torch.zeros(data.num_nodes, 16))
    assert float(state[1].abs().sum()) == 0.0 and torch.equal(state[0], want[0])
    del data.redrawn
    targets = net.targets(data, ["k a", "a b"])
    out = net(data, targets)
    (-out.log_likelihood.sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.speller.parameters())
    # Off: no speller, and the same number of parameters as before the option existed.
    plain = _net(False)
    assert plain.speller is None
    extra = sum(p.numel() for p in net.speller.parameters())
    assert sum(p.numel() for p in net.parameters()) - extra == sum(
        p.numel() for p in plain.parameters()
    )


def test_spelling_needs_the_clusters():
    net = _net(True)
    data = graphs_from_texts(["ab"])
    del data.clusters
    with pytest.raises(ValueError, match="needs the clusters attribute"):
        net._spelling(data, torch.zeros(2, 16))
