"""alignment="whole": the input merges into one node that grows the whole answer, written by
the output decoder (growth="decoder"), so answers may reorder the input."""

import itertools
import random

import pytest
import torch

from lightning_modules.module import check_producible
from pyg_grapheme.data import TextPair
from pyg_grapheme.models import GraphTransformNet
from pyg_grapheme.models.objective import TransformObjective, build_supervision
from pyg_grapheme.models.text_transform import transform_text
from pyg_grapheme.text import graphs_from_texts


def test_whole_alignment_learns_to_reverse():
    """Reversal, ``abc -> cba``, out of reach of every in-order alignment (the README's
    generic-config table: 0.000): with the whole input merged into one node, the decoder
    copies from any input node. 300 Adam steps on 600 strings of 2-4 letters; 150
    held-out strings of the same lengths."""
    letters = "abcdefgh"
    strings = ["".join(p) for n in (2, 3, 4) for p in itertools.product(letters, repeat=n)]
    random.Random(0).shuffle(strings)
    train, held_out = strings[:600], strings[600:750]
    torch.manual_seed(0)
    net = GraphTransformNet(
        hidden_channels=32, heads=2, num_layers=2, decoder_layers=2, threshold=0.5,
        post_growth_layers=0, growth="decoder", max_children=4,
    )  # fmt: skip
    objective = TransformObjective(structural_weight=0.0)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for step in range(300):
        batch = random.Random(step).sample(train, 64)
        inputs = graphs_from_texts(batch)
        targets = graphs_from_texts([s[::-1] for s in batch])
        sup = build_supervision(inputs, targets, net.output_vocab, alignment="whole")
        rows = GraphTransformNet.class_features(sup.space)[sup.target_class]
        out = net.train()(inputs, length=sup.length, emitted=rows)
        probs = net.type_probs(out, sup.member_class, sup.space)
        loss = objective(out, probs, targets, sup)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    net.eval()
    written = transform_text(net, held_out)
    score = sum(w == s[::-1] for w, s in zip(written, held_out)) / len(held_out)
    print(f"\nreverse, alignment='whole': loss {losses[0]:.3f} -> {losses[-1]:.3f}, "
          f"held-out exact match {score:.3f}")  # fmt: skip
    assert losses[-1] < 0.2 * losses[0]
    assert score >= 0.95


def test_a_whole_answer_longer_than_max_children_is_refused_before_training():
    """Under "whole" one node grows the whole answer, so ``max_children`` bounds its length;
    the same pair passes under "lcs", where every node keeps its own grapheme."""
    pairs = [TextPair("ab", "ab"), TextPair("abcd", "abcd", {"source": "train.jsonl:2"})]
    check_producible(pairs, "lcs", max_children=1)
    with pytest.raises(ValueError, match=r"train.jsonl:2: one input node must produce 4 .*'whole'"):
        check_producible(pairs, "whole", max_children=3)
    check_producible(pairs, "whole", max_children=4)
