"""Exact-value tests of the model's building blocks (conv, attention, output classes)."""

import pytest
import torch
from torch_geometric.data import Batch, Data

from pyg_grapheme.models.output_classes import ClassSpace
from pyg_grapheme.nn.attention import GraphAttention
from pyg_grapheme.nn.conv import GraphemeConv


def test_grapheme_conv_is_mean_of_in_neighbours_and_self():
    conv = GraphemeConv(2, 2, normalize=False, residual=False)
    with torch.no_grad():
        conv.lin.weight.copy_(torch.eye(2))
        conv.lin.bias.zero_()
    x = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]])
    edge_index = torch.tensor([[0, 1], [1, 2]])  # chain 0 -> 1 -> 2
    out = conv(x, edge_index)
    # node 0: itself; node 1: mean(x1, x0); node 2: mean(x2, x1)
    assert torch.allclose(out, torch.tensor([[1.0, 0.0], [2.0, 1.0], [4.0, 3.0]]))
    back = GraphemeConv(2, 2, flow="target_to_source", normalize=False, residual=False)
    back.load_state_dict(conv.state_dict())
    assert torch.allclose(back(x, edge_index), torch.tensor([[2.0, 1.0], [4.0, 3.0], [5.0, 4.0]]))


def test_grapheme_conv_leaky_relu_slope_and_residual():
    conv = GraphemeConv(1, 1, normalize=False, residual=True)
    with torch.no_grad():
        conv.lin.weight.fill_(1.0)
        conv.lin.bias.zero_()
    x = torch.tensor([[-2.0]])
    out = conv(x, torch.zeros(2, 0, dtype=torch.long))
    assert torch.allclose(out, torch.tensor([[-2.0 - 0.02]]))


def test_grapheme_conv_rejects_wrong_width():
    with pytest.raises(
        ValueError, match="x has 5 channels but the layer was built with in_channels=3"
    ):
        GraphemeConv(3, 4)(torch.zeros(2, 5), torch.zeros(2, 0, dtype=torch.long))


def test_grapheme_conv_gradcheck(module_gradcheck):
    conv = GraphemeConv(3, 3)
    x = torch.randn(4, 3, dtype=torch.float64)
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 3]])
    assert module_gradcheck(conv, lambda m: m(x, edge_index).pow(2).sum())


def test_attention_stays_inside_each_graph():
    torch.manual_seed(0)
    attn = GraphAttention(8, heads=2).eval()
    a = torch.randn(3, 8)
    b = torch.randn(2, 8)
    together = attn(torch.cat([a, b]), torch.tensor([0, 0, 0, 1, 1]))
    assert torch.allclose(together[:3], attn(a), atol=1e-6)
    assert torch.allclose(together[3:], attn(b), atol=1e-6)


def test_attention_survives_a_graph_with_no_nodes():
    attn = GraphAttention(8, heads=2)
    data = Batch.from_data_list(
        [
            Data(x=torch.randn(2, 8), num_nodes=2),
            Data(x=torch.zeros(0, 8), num_nodes=0),
            Data(x=torch.randn(1, 8), num_nodes=1),
        ]
    )
    out = attn(data.x, data.batch)
    out.sum().backward()
    assert out.shape == (3, 8) and torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in attn.parameters() if p.grad is not None)


def test_attention_gradcheck(module_gradcheck):
    attn = GraphAttention(4, heads=2)
    x = torch.randn(5, 4, dtype=torch.float64)
    batch = torch.tensor([0, 0, 1, 1, 1])
    assert module_gradcheck(attn, lambda m: (m(x, batch) * torch.arange(4.0).double()).sum())


def _attention_by_hand(attn: GraphAttention, x: torch.Tensor) -> torch.Tensor:
    """One chain's relative-position attention written out head by head (the math of
    GraphAttention's docstring), in x's dtype."""
    n, channels = x.shape
    width = channels // attn.heads
    q, k, v = (x @ w.T + b for w, b in zip(attn.attn.in_proj_weight.chunk(3),
                                           attn.attn.in_proj_bias.chunk(3)))  # fmt: skip
    slopes = torch.nn.functional.softplus(attn.slope)
    heads = []
    for h, side in enumerate(attn._side):
        cols = slice(h * width, (h + 1) * width)
        scores = q[:, cols] @ k[:, cols].T / width**0.5
        for i in range(n):
            for j in range(n):
                if side == 0:  # a plain head
                    continue
                if side * (j - i) > 0:  # the other side of node i
                    scores[i, j] = float("-inf")
                else:
                    scores[i, j] = scores[i, j] - slopes[h] * abs(i - j)
        heads.append(torch.softmax(scores, dim=1) @ v[:, cols])
    out = torch.cat(heads, dim=1) @ attn.attn.out_proj.weight.T + attn.attn.out_proj.bias
    return attn.norm(x + out)


@pytest.mark.parametrize(
    ("heads", "sides"), [(2, [1, -1]), (3, [1, -1, 0]), (8, [1, 1, -1, -1, 0, 0, 0, 0])]
)
def test_relative_position_attention_equals_its_math_in_any_batch(heads, sides):
    """Left heads see p_j <= p_i, right heads p_j >= p_i, their scores lowered by
    slope * distance, the other heads plain: equal to the by-hand formula for each
    chain, whatever else (a longer chain, an empty graph) shares the batch."""
    torch.manual_seed(1)
    attn = GraphAttention(heads * 2, heads=heads, relative_position=True).double().eval()
    assert attn._side == sides and attn.slope.numel() == 2 * sides.count(1)
    with torch.no_grad():
        attn.slope.add_(torch.randn(attn.slope.numel(), dtype=torch.float64))
    a = torch.randn(3, heads * 2, dtype=torch.float64)
    b = torch.randn(5, heads * 2, dtype=torch.float64)
    batch = torch.tensor([0, 0, 0, 2, 2, 2, 2, 2])  # graph 1 has no nodes
    together = attn(torch.cat([a, b]), batch)
    assert torch.allclose(together[:3], _attention_by_hand(attn, a), atol=1e-12)
    assert torch.allclose(together[3:], _attention_by_hand(attn, b), atol=1e-12)
    # The starting slopes: 2^(-4 (k + 1/2) / K) on each side.
    fresh = GraphAttention(16, heads=8, relative_position=True)
    expected = torch.tensor([1 / 2, 1 / 8, 1 / 2, 1 / 8])
    assert torch.allclose(torch.nn.functional.softplus(fresh.slope), expected, atol=1e-6)
    assert GraphAttention(8, heads=4, relative_position=True)._side == [1, -1, 0, 0]


def test_relative_position_attention_gradcheck(module_gradcheck):
    attn = GraphAttention(4, heads=2, relative_position=True)
    x = torch.randn(5, 4, dtype=torch.float64)
    batch = torch.tensor([0, 0, 1, 1, 1])
    assert module_gradcheck(attn, lambda m: (m(x, batch) * torch.arange(4.0).double()).sum())


def test_class_space_puts_vocabulary_first():
    space = ClassSpace.build(["0", "1"], [["a", "b", "a"]], [["b", "c"]])
    assert space.graphemes == ["0", "1", "a", "b", "c"]
    assert space.encode(["c", "a", "1"]).tolist() == [4, 2, 1]
    with pytest.raises(KeyError, match="'z'"):
        space.encode(["z"])


def test_merges_in_training_are_the_merges_of_evaluation():
    """Without dropout before the pool (encoder_dropout, 0 by default) the pool merges the
    same nodes in training as in evaluation, whatever the dropout after it; with dropout
    before it, noise pulls equal neighbours apart in training only."""
    from pyg_grapheme.models import GraphTransformNet, TransducerGrowth
    from pyg_grapheme.text import graphs_from_texts

    data = graphs_from_texts(["solroob", "hello", "aabbcc", "xyzzy"])

    def clusters(net, mode):
        getattr(net, mode)()
        torch.manual_seed(0)
        with torch.no_grad():
            return net._pool(data).cluster.tolist()

    for encoder_dropout, parity_merge, same in ((0.0, False, True), (0.0, True, True),
                                                (0.5, False, False)):  # fmt: skip
        torch.manual_seed(1)
        net = GraphTransformNet(
            hidden_channels=16, num_layers=2, heads=2, attention_layers=1, dropout=0.5,
            encoder_dropout=encoder_dropout, parity_merge=parity_merge,
            growth=TransducerGrowth(max_children=2), output_vocab=["a"],
        )  # fmt: skip
        net.pool.threshold_logit.data.fill_(2.0)  # some pairs merge, some do not
        assert (clusters(net, "train") == clusters(net, "eval")) is same, encoder_dropout


def test_parity_column_parts_equal_neighbours_by_the_learnt_gain():
    """The parity column lowers the cosine of the equal neighbours in "oo" by the gain
    the nodes learn: silent (bias -20) it is the cosine of a network without the column,
    to 1e-8; loud (bias 5, gain 5) it falls below zero."""
    from pyg_grapheme.models import GraphTransformNet, TransducerGrowth
    from pyg_grapheme.text import graphs_from_texts

    torch.manual_seed(0)
    net = GraphTransformNet(
        hidden_channels=8, num_layers=1, heads=2, attention_layers=1, dropout=0.0,
        growth=TransducerGrowth(max_children=2), output_vocab=["o"],
    ).double().eval()  # fmt: skip
    data = graphs_from_texts(["oo"])
    data.x = data.x.double()
    torch.nn.init.zeros_(net.parity_gain.weight)
    cosines = {}
    for bias in (-20.0, 5.0):
        torch.nn.init.constant_(net.parity_gain.bias, bias)
        with torch.no_grad():
            cosines[bias] = float(net._pool(data).info.similarity[0])
    without = GraphTransformNet(
        hidden_channels=8, num_layers=1, heads=2, attention_layers=1, dropout=0.0,
        parity_merge=False, growth=TransducerGrowth(max_children=2), output_vocab=["o"],
    ).double().eval()  # fmt: skip
    without.load_state_dict(
        {k: v for k, v in net.state_dict().items() if not k.startswith("parity_gain")}
    )
    with torch.no_grad():
        plain = without._pool(data)
        assert float(plain.info.similarity[0]) == pytest.approx(cosines[-20.0], abs=1e-8)
    assert cosines[5.0] < 0.0 < cosines[-20.0]


@pytest.mark.parametrize("slot_units", [True, False])
def test_transducer_generate_or_copy_follows_the_slot(slot_units):
    """Whether a node generates or copies depends on how many units it wrote
    (``slot_units``): with the joint silent (every logit 0 but the slot terms), slot
    features t_0 = (1/2, 0), t_1 = (0, 1/2) and t_2 = 0 give the copy of member "a" the
    logit 2 at slot 0 and each generated unit ("]", "[") the logit 2 at slot 1, as the
    last node of ``"ab" -> "[ab]"`` copies, then generates. Without the slot terms every
    slot scores end, "]", "[" and "a" alike: log 1/4."""
    import math

    from pyg_grapheme.models import TransducerGrowth
    from pyg_grapheme.models.transducer import TransducerContext

    growth = TransducerGrowth(max_children=2, slot_units=slot_units)
    growth.bind(2, ["]", "["])
    growth = growth.double().eval()
    half = math.atanh(0.5)
    with torch.no_grad():
        for p in growth.parameters():
            p.zero_()
        growth.slot_embedding.weight.copy_(torch.tensor([[half, 0.0], [0.0, half], [0.0, 0.0]]))
        if slot_units:
            growth.slot_generate.weight.copy_(torch.tensor([[0.0, 4.0]]))
            growth.slot_copy.weight.copy_(torch.tensor([[4.0, 0.0]]))
    ctx = TransducerContext(
        node=torch.zeros(1, 1, 2, dtype=torch.float64),
        num_nodes=torch.tensor([1]),
        member_class=torch.tensor([[[2]]]),  # classes: 0 "]", 1 "[" (vocabulary), 2 "a"
        key=torch.tensor([[[[1.0, 0.0]]]], dtype=torch.float64),
        key_bias=torch.zeros(1, 1, 1, dtype=torch.float64),
        memory=torch.zeros(1, 1, 2, dtype=torch.float64),
        memory_mask=torch.ones(1, 1, dtype=torch.bool),
        pooled_index=torch.tensor([[0]]),
    )
    rows = ctx.select(torch.tensor([0, 0, 0]))
    end, cls = growth.point_logp(
        rows, torch.tensor([0, 0, 0]), torch.tensor([0, 1, 2]),
        torch.zeros(3, 2, dtype=torch.float64), 3,
    )  # fmt: skip
    z0, z1, z2 = math.log(3 + math.exp(2)), math.log(2 + 2 * math.exp(2)), math.log(4)
    if slot_units:
        expected_end = [-z0, -z1, -z2]
        expected_cls = [[-z0, -z0, 2 - z0], [2 - z1, 2 - z1, -z1], [-z2, -z2, -z2]]
    else:
        expected_end = [-z2] * 3
        expected_cls = [[-z2, -z2, -z2]] * 3
    assert torch.allclose(end, torch.tensor(expected_end, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(cls, torch.tensor(expected_cls, dtype=torch.float64), atol=1e-12)
