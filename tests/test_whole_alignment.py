"""alignment="whole": the input merges into one node that grows the whole answer, written by
the output decoder (growth="decoder"), so answers may reorder the input."""

import itertools
import json
import random

import pytest
import torch
from decoder_cases import exact_match_of, train_teacher_forced
from fit_cases import fit, metrics_rows

from lightning_modules.fit import CONF_DIR
from lightning_modules.module import check_producible
from pyg_grapheme.data import TextPair
from pyg_grapheme.models import GraphTransformNet


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
    losses = train_teacher_forced(net, [(s, s[::-1]) for s in train], 300, "whole")
    score = exact_match_of(net, [(s, s[::-1]) for s in held_out])
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


def test_fit_trains_the_whole_alignment_from_the_command_line(tmp_path, monkeypatch):
    """``--model.alignment whole`` with decoder growth through the fit CLI on a user's JSONL
    pairs (reversal): the loss falls and every pooled node holds a whole input."""
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdef") for _ in range(rng.randint(2, 4))) for _ in range(256)]
    for name, chunk in (("train.jsonl", words[:192]), ("val.jsonl", words[192:])):
        (tmp_path / name).write_text(
            "".join(json.dumps({"input": w, "target": w[::-1]}) + "\n" for w in chunk)
        )
    cli = fit(
        tmp_path, monkeypatch,
        "--config", str(CONF_DIR / "pairs.yaml"),
        "--data.train_path", "train.jsonl", "--data.val_path", "val.jsonl",
        "--model.alignment", "whole", "--model.net.decoder_layers", "1",
        "--model.net.growth", "decoder", "--model.net.post_growth_layers", "0",
        "--model.objective.init_args.count_weight", "0", "--trainer.max_epochs", "6",
    )  # fmt: skip
    assert cli.model.hparams.alignment == "whole"
    rows = [r for r in metrics_rows(tmp_path) if r["train_loss_epoch"]]
    losses = [float(r["train_loss_epoch"]) for r in rows]
    ratio = float(rows[-1]["train_merge_ratio_epoch"])  # pooled nodes per input node
    print(f"\nfit, alignment='whole': loss {losses[0]:.3f} -> {losses[-1]:.3f}, "
          f"pooled nodes per input node {ratio:.3f}")  # fmt: skip
    assert len(losses) == 6 and losses[-1] < 0.7 * losses[0]
    assert all(b < a for a, b in itertools.pairwise(losses))
    # One pooled node per graph: 192 graphs of 2-4 input nodes, 3 on average.
    assert ratio < 0.4
