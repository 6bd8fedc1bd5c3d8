"""growth="decoder": the output decoder decides every cluster's length, one node at a time,
as a transducer. Training grows the target counts plus one end node per cluster; inference
grows the chain as the decoder writes it, and its rows equal the teacher-forced pass."""

import itertools
import random

import pytest
import torch
from decoder_cases import (
    end_at_the_median,
    exact_match_of,
    inference_batch,
    teacher_forced_loss,
    train_teacher_forced,
)

from pyg_grapheme.models import GraphTransformNet
from pyg_grapheme.models.objective import TransformObjective, build_supervision
from pyg_grapheme.models.text_transform import transform_text
from pyg_grapheme.text import graphs_from_texts

# Threshold 0.99: an untrained network merges nothing, so clusters are input nodes.
NET = dict(
    hidden_channels=16,
    heads=2,
    num_layers=2,
    decoder_layers=2,
    threshold=0.99,
    post_growth_layers=0,
    growth="decoder",
)


def test_decoder_growth_needs_the_decoder_and_nothing_reading_later_nodes():
    message = "growth='decoder' needs decoder_layers > 0, post_growth_layers=0 and spare_slots=0"
    with pytest.raises(ValueError, match=message):
        GraphTransformNet(**{**NET, "decoder_layers": 0})
    with pytest.raises(ValueError, match=message):
        GraphTransformNet(**{**NET, "post_growth_layers": 1})
    with pytest.raises(ValueError, match=message):
        GraphTransformNet(**NET, spare_slots=1)
    with pytest.raises(ValueError, match="growth must be 'count' or 'decoder', got 'auto'"):
        GraphTransformNet(growth="auto")
    assert GraphTransformNet(**NET).end_head is not None


def test_training_grows_each_cluster_its_target_count_plus_an_end_node():
    torch.manual_seed(0)
    net = GraphTransformNet(**NET, max_children=3).train()
    inputs = graphs_from_texts(["abc", "xy"])
    targets = graphs_from_texts(["aabc", "yyyy"])
    sup = build_supervision(inputs, targets, net.output_vocab)
    assert sup.length.tolist() == [2, 1, 1, 0, 4]  # y -> yyyy: more than max_children
    rows = GraphTransformNet.class_features(sup.space)[sup.target_class]
    out = net(inputs, length=sup.length, emitted=rows)
    # y's cluster is cut at max_children = 3 graphemes and has no end node.
    assert out.split.count.tolist() == [3, 2, 2, 1, 3]
    assert out.spare.tolist() == [
        False, False, True, False, True, False, True, True, False, False, False,
    ]  # fmt: skip
    index = TransformObjective.target_index(out, sup)
    assert index.tolist() == [0, 1, -1, 2, -1, 3, -1, -1, 4, 5, 6]
    assert out.end_logit.shape == (11,)


def test_a_childs_features_do_not_depend_on_its_clusters_count():
    """The decoder decides a count after the nodes before the end are decoded, so those
    nodes may not know it: two targets that differ in a's count give a's nodes up to the
    shorter one's end node the same rows."""
    torch.manual_seed(1)
    net = GraphTransformNet(**NET).eval()
    with torch.no_grad():
        net.split.after_embedding.weight.normal_()  # count-aware features would differ
    inputs = graphs_from_texts(["ab"])
    outs = []
    for target in ("ab", "aaab"):
        sup = build_supervision(inputs, graphs_from_texts([target]), net.output_vocab)
        rows = GraphTransformNet.class_features(sup.space)[sup.target_class]
        outs.append(net(inputs, length=sup.length, emitted=rows))
    # a's first two nodes read the same graphemes: "ab" ends a at the second, "aaab"
    # writes it; until the end head decides, the two are the same node.
    assert torch.allclose(outs[0].x[:2], outs[1].x[:2], atol=1e-6)
    # The third is b's first (after an end node) against a's third.
    assert not torch.allclose(outs[0].x[2], outs[1].x[2], atol=1e-3)


def test_the_objective_labels_the_end_nodes_and_types_only_the_written_ones():
    torch.manual_seed(2)
    net = GraphTransformNet(**NET).train()
    inputs = graphs_from_texts(["abc", "xy"])
    targets = graphs_from_texts(["aabc", "y"])
    sup = build_supervision(inputs, targets, net.output_vocab)
    rows = GraphTransformNet.class_features(sup.space)[sup.target_class]
    out = net(inputs, length=sup.length, emitted=rows)
    probs = net.type_probs(out, sup.member_class, sup.space)
    terms = TransformObjective(structural_weight=0.0)(out, probs, targets, sup)
    end = out.spare.to(out.end_logit.dtype)
    assert int(out.spare.sum()) == 5  # one end node per cluster
    assert torch.allclose(
        terms["end"], torch.nn.functional.binary_cross_entropy_with_logits(out.end_logit, end)
    )
    picked = probs[~out.spare].gather(1, sup.target_class.unsqueeze(1)).squeeze(1)
    assert torch.allclose(terms["type"], -picked.log().mean())


def test_an_end_head_that_always_or_never_fires_gives_empty_or_full_clusters():
    torch.manual_seed(3)
    net = GraphTransformNet(**NET, max_children=3, output_vocab=["q"]).eval()
    texts = ["abc", "xy", ""]
    data, space, member_class = inference_batch(net, texts)
    with torch.no_grad():
        net.end_head.bias.fill_(100.0)
    out, _ = net.emit_classes(data, member_class, space)
    assert out.split.count.tolist() == [1] * 5 and out.spare.all()
    assert transform_text(net, texts) == ["", "", ""]
    with torch.no_grad():
        net.end_head.bias.fill_(-100.0)
    out, _ = net.emit_classes(data, member_class, space)
    assert out.split.count.tolist() == [3] * 5 and not out.spare.any()
    assert [len(t) for t in transform_text(net, texts)] == [9, 6, 0]


def test_greedy_growth_equals_the_teacher_forced_pass_on_its_own_choices():
    torch.manual_seed(4)
    net = GraphTransformNet(**NET, max_children=4, output_vocab=["q", "r"]).eval()
    texts = ["abcd", "xyz", "k"]
    data, space, member_class = inference_batch(net, texts)
    # An end head with a random direction, its threshold at the median node, ends some
    # clusters early and lets others write several graphemes.
    end_at_the_median(net, data, member_class, space)
    out, probs = net.emit_classes(data, member_class, space)
    assert out.cluster.tolist() == list(range(8))
    ends = torch.zeros_like(out.split.count).index_add(0, out.split.parent, out.spare.long())
    written = out.split.count - ends
    assert len(set(written.tolist())) > 1  # lengths differ between clusters
    # Each cluster's first end-head firing is its end node; nothing after it.
    ended = net.end_head(out.x).squeeze(1) > 0
    assert out.spare.tolist() == ended.tolist()
    # Teacher-forcing the chosen graphemes and counts reproduces every row.
    chosen = probs.argmax(dim=1)[~out.spare]
    emitted = GraphTransformNet.class_features(space)[chosen]
    forced = net(data, length=written, emitted=emitted)  # clusters are single nodes
    assert forced.split.count.tolist() == out.split.count.tolist()
    assert forced.spare.tolist() == out.spare.tolist()
    assert torch.allclose(forced.x, out.x, atol=1e-5)
    # Growing by given counts (length_errors) takes the same path as the forward pass.
    given, _ = net.emit_classes(data, member_class, space, length=written)
    assert torch.allclose(given.x, out.x, atol=1e-5)
    assert given.spare.tolist() == out.spare.tolist()


def test_decoder_growth_learns_lengths_read_off_the_input():
    """Run-length decoding, ``2a3b -> aabbb``: every length is the end head's decision
    (the count head is never read). 200 Adam steps on 400 pairs; 100 held-out pairs."""
    letters = "abcdefgh"
    pairs = [
        (f"{n}{a}{m}{b}", a * n + b * m)
        for a, b in itertools.product(letters, letters)
        for n, m in itertools.product((1, 2, 3), repeat=2)
    ]
    random.Random(0).shuffle(pairs)
    train, held_out = pairs[:400], pairs[400:500]
    torch.manual_seed(0)
    net = GraphTransformNet(**{**NET, "hidden_channels": 32, "decoder_layers": 1}, max_children=4)
    losses = train_teacher_forced(net, train, 200)
    score = exact_match_of(net, held_out)
    print(f"\nrle_decode, growth='decoder': loss {losses[0]:.3f} -> {losses[-1]:.3f}, "
          f"held-out exact match {score:.3f}")  # fmt: skip
    assert losses[-1] < 0.3 * losses[0]
    assert score >= 0.95


def test_whole_model_loss_gradcheck_with_decoder_growth(module_gradcheck, merge_margin):
    """The teacher-forced loss with end nodes, float64, away from merge boundaries: the end
    head, the slot embeddings the children read, the decoder and the layers before it."""
    torch.manual_seed(3)
    model = GraphTransformNet(**{**NET, "hidden_channels": 8, "decoder_layers": 1},
                              output_vocab=["0", "1"])  # fmt: skip
    loss_fn, inputs = teacher_forced_loss(model)

    model = model.double()
    with torch.no_grad():
        model.split.slot_embedding.weight.normal_(0.0, 0.3)
    assert merge_margin(model, inputs) > 1e-3, "finite differences would cross a merge boundary"
    names = [
        "embed.bias",
        "pools.0.threshold_logit",
        "split.slot_embedding.weight",
        "end_head.weight",
        "end_head.bias",
        "decoder.embed_previous.bias",
        "decoder.start",
        "decoder.layers.0.self_attn.in_proj_bias",
        "copy_query.bias",
    ]
    assert module_gradcheck(model, loss_fn, names=names, atol=1e-6, rtol=1e-4)
