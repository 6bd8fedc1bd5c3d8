"""OutputDecoder and greedy decoding: ranks, causality, graphs kept apart, gradients, and the
network's greedy decode agreeing with its teacher-forced forward pass."""

import pytest
import torch
from decoder_cases import teacher_forced_loss

from pyg_grapheme.models import GraphTransformNet
from pyg_grapheme.models.output_classes import ClassSpace
from pyg_grapheme.models.output_decoder import OutputDecoder, chain_rank, previous_in_graph
from pyg_grapheme.text import FeatureLayout, graphs_from_texts

F = FeatureLayout.width


def test_chain_rank_and_previous_in_graph_on_a_hand_built_batch():
    batch = torch.tensor([0, 0, 0, 2, 3, 3])  # graph 1 has no node
    assert chain_rank(batch).tolist() == [0, 1, 2, 0, 0, 1]
    assert previous_in_graph(batch).tolist() == [False, True, True, False, False, True]
    empty = torch.zeros(0, dtype=torch.long)
    assert chain_rank(empty).tolist() == [] and previous_in_graph(empty).tolist() == []


def _inputs(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(5, 8, generator=generator)
    batch = torch.tensor([0, 0, 0, 1, 1])
    emitted = torch.randn(5, F, generator=generator)
    memory = torch.randn(4, 8, generator=generator)
    memory_batch = torch.tensor([0, 0, 1, 1])
    return x, batch, emitted, memory, memory_batch


def test_a_node_reads_only_the_ranks_before_it():
    decoder = OutputDecoder(8, num_layers=2, heads=2).eval()
    x, batch, emitted, memory, memory_batch = _inputs()
    out = decoder(x, batch, emitted, memory, memory_batch, 2)
    # Rank 1 of graph 0 (node 1) reads node 0's row; changing the rows of node 1 and 2 (its
    # own and a later one) and of graph 1 leaves nodes 0 and 1 unchanged.
    changed = emitted.clone()
    changed[1:] = torch.randn(4, F)
    again = decoder(x, batch, changed, memory, memory_batch, 2)
    assert torch.allclose(out[:2], again[:2], atol=1e-6)
    assert not torch.allclose(out[2], again[2], atol=1e-3)  # node 2 reads node 1's row
    # The first node of graph 1 reads the start vector, not node 2's row.
    assert torch.allclose(out[3], again[3], atol=1e-6)
    assert not torch.allclose(out[4], again[4], atol=1e-3)


def test_graphs_do_not_see_each_other():
    decoder = OutputDecoder(8, num_layers=1, heads=2).eval()
    x, batch, emitted, memory, memory_batch = _inputs()
    together = decoder(x, batch, emitted, memory, memory_batch, 2)
    first = decoder(x[:3], batch[:3], emitted[:3], memory[:2], memory_batch[:2], 1)
    second = decoder(x[3:], batch[3:] - 1, emitted[3:], memory[2:], memory_batch[2:] - 1, 1)
    assert torch.allclose(together[:3], first, atol=1e-6)
    assert torch.allclose(together[3:], second, atol=1e-6)


def test_graphs_without_output_or_input_nodes_give_no_nan():
    decoder = OutputDecoder(8, num_layers=1, heads=2)
    x = torch.randn(2, 8)
    out = decoder(
        x,
        torch.tensor([2, 2]),  # graphs 0 and 1 have no output node
        torch.randn(2, F),
        torch.randn(3, 8),
        torch.tensor([0, 2, 2]),  # graph 1 has no input node
        3,
    )
    assert out.shape == (2, 8) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in decoder.parameters() if p.grad is not None)
    nothing = decoder(torch.zeros(0, 8), torch.zeros(0, dtype=torch.long), torch.zeros(0, F),
                      torch.randn(2, 8), torch.tensor([0, 0]), 1)  # fmt: skip
    assert nothing.shape == (0, 8)


def test_decoder_gradcheck_inputs_and_weights(gradcheck, module_gradcheck):
    decoder = OutputDecoder(4, num_layers=1, heads=2).double()
    x, batch, emitted, memory, memory_batch = _inputs()
    x, memory = x[:, :4].double(), memory[:, :4].double()
    emitted = emitted.double()
    weight = torch.randn(5, 4, dtype=torch.float64)

    def of_inputs(x, emitted, memory):
        return (decoder(x, batch, emitted, memory, memory_batch, 2) * weight).sum()

    assert gradcheck(of_inputs, [x, emitted, memory])
    assert module_gradcheck(
        decoder, lambda m: (m(x, batch, emitted, memory, memory_batch, 2) * weight).sum()
    )


def test_decoder_rejects_emitted_rows_of_the_wrong_shape():
    decoder = OutputDecoder(8, num_layers=1, heads=2)
    x, batch, emitted, memory, memory_batch = _inputs()
    with pytest.raises(ValueError, match=r"emitted must be \[5, 77\]"):
        decoder(x, batch, emitted[:4], memory, memory_batch, 2)
    with pytest.raises(ValueError, match="num_layers"):
        OutputDecoder(8, num_layers=0)


def test_network_needs_emitted_rows_with_a_decoder_and_refuses_them_without():
    data = graphs_from_texts(["ab", "c"])
    net = GraphTransformNet(hidden_channels=16, heads=2, decoder_layers=1)
    with pytest.raises(ValueError, match="emit_classes"):
        net(data)
    with pytest.raises(ValueError, match=r"one row per target grapheme, length\.sum"):
        net(data, length=torch.tensor([1, 1, 1]), emitted=torch.zeros(2, F))
    with pytest.raises(ValueError, match="decoder_layers > 0"):
        GraphTransformNet(hidden_channels=16, heads=2)(data, emitted=torch.zeros(3, F))
    with pytest.raises(ValueError, match="decoder_layers must be >= 0"):
        GraphTransformNet(decoder_layers=-1)


def test_greedy_decoding_is_the_teacher_forced_pass_fed_its_own_output():
    torch.manual_seed(3)
    net = GraphTransformNet(
        hidden_channels=16, heads=2, num_layers=2, output_vocab=["x", "y"], decoder_layers=2
    ).eval()
    texts = ["abca", "zz", "q"]
    data = graphs_from_texts(texts)
    data.num_graphs = len(texts)
    space = ClassSpace.build(net.output_vocab, data.clusters)
    member_class = space.encode(g for c in data.clusters for g in c)
    out, probs = net.emit_classes(data, member_class, space)
    chosen = probs.argmax(dim=1)
    # Untrained, the greedy decode still varies its choices: the check below is not vacuous.
    assert out.batch.numel() > 3 and len(set(chosen.tolist())) > 1
    # Feeding the chosen graphemes back as teacher-forced rows, with the counts the
    # greedy pass grew, gives the same distributions: each rank was decided from the
    # ranks before it exactly as a teacher-forced pass computes it.
    # Output nodes are in chain order, so the chosen graphemes are each graph's target, in order.
    rows = GraphTransformNet.class_features(space).index_select(0, chosen)
    length = torch.zeros(data.num_nodes, dtype=torch.long)
    first = torch.full((out.count_logit.size(0),), data.num_nodes, dtype=torch.long)
    first = first.scatter_reduce(0, out.cluster, torch.arange(data.num_nodes), reduce="amin")
    length[first] = out.split.count
    forced = net(data, length=length, emitted=rows)
    assert torch.allclose(net.type_probs(forced, member_class, space), probs, atol=1e-6)


def test_teacher_forcing_survives_counts_clamped_at_max_children():
    # Validation pairs may need more graphemes from one node than max_children: the node
    # grows max_children and its children stand for the first graphemes of its segment.
    torch.manual_seed(0)
    net = GraphTransformNet(hidden_channels=16, heads=2, num_layers=2, max_children=2,
                            decoder_layers=1, threshold=0.99)  # fmt: skip
    data = graphs_from_texts(["abc"])
    length = torch.tensor([4, 0, 1])  # node 0 must produce 4 graphemes, at most 2 grow
    out = net(data, length=length, emitted=torch.randn(5, F))
    assert out.split.count.tolist() == [2, 0, 1]
    assert out.x.shape == (3, 16) and torch.isfinite(out.x).all()


def test_whole_model_loss_gradcheck_through_the_decoder(module_gradcheck, merge_margin):
    """The teacher-forced loss of a network with a decoder, float64, away from merge
    boundaries: the decoder's layers, its embedding of the emitted graphemes and the
    layers before it."""
    torch.manual_seed(3)
    model = GraphTransformNet(hidden_channels=8, num_layers=2, heads=2, output_vocab=["0", "1"],
                              decoder_layers=1)  # fmt: skip
    loss_fn, inputs = teacher_forced_loss(model)

    model = model.double()
    assert merge_margin(model, inputs) > 1e-3, "finite differences would cross a merge boundary"
    # Biases where a layer's weight takes the same backward path: the check stays cheap.
    names = [
        "embed.bias",
        "pools.0.threshold_logit",
        "post_growth.attention.0.attn.in_proj_bias",
        "decoder.embed_previous.weight",
        "decoder.start",
        "decoder.layers.0.self_attn.in_proj_bias",
        "decoder.layers.0.multihead_attn.in_proj_bias",
        "decoder.layers.0.linear1.bias",
        "copy_query.bias",
    ]
    assert module_gradcheck(model, loss_fn, names=names, atol=1e-6, rtol=1e-4)


def test_training_step_feeds_targets_redrawn_like_the_inputs(monkeypatch):
    """With feature augmentation, a redrawn grapheme class looks the same in the inputs and in
    the teacher-forced rows of the targets."""
    from lightning_modules.module import GraphTransformModule

    net = GraphTransformNet(hidden_channels=16, heads=2, num_layers=2, decoder_layers=1)
    module = GraphTransformModule(net, augment=1.0)
    seen = {}
    forward = net.forward

    def spy(data, length=None, emitted=None):
        seen.update(x=data.x, emitted=emitted)
        return forward(data, length=length, emitted=emitted)

    monkeypatch.setattr(net, "forward", spy)
    inputs, targets = graphs_from_texts(["abc", "ca"]), graphs_from_texts(["cab", "aa"])
    module._shared_step((inputs, targets), augment=1.0)
    # Input graphemes a b c | c a; target graphemes c a b | a a.
    x, emitted = seen["x"], seen["emitted"]
    assert not torch.equal(x[0], inputs.x[0])  # redrawn (p = 1)
    for input_node, target_node in [(2, 0), (0, 1), (1, 2), (4, 3), (4, 4)]:
        assert torch.equal(emitted[target_node], x[input_node])
