"""The training module's own rules: which pairs it refuses, which it augments."""

from __future__ import annotations

import pytest
import torch

from lightning_modules.module import GraphTransformModule, check_producible, unwritable_note
from pyg_grapheme.data import TextPair
from pyg_grapheme.models import GraphTransformNet, TransducerGrowth
from pyg_grapheme.models.output_units import OutputUnits
from pyg_grapheme.text import FeatureLayout, graphs_from_texts


def test_check_producible_names_the_pair_and_the_fix():
    units = OutputUnits("graphemes")
    check_producible([TextPair("ab", "aaaa"), TextPair("", "")], units, max_children=2)
    with pytest.raises(ValueError, match=r"train.jsonl:7: .* cannot be produced from an empty"):
        check_producible([TextPair("", "x", meta={"source": "train.jsonl:7"})], units, 2)
    with pytest.raises(
        ValueError,
        match=r"the target has 5 graphemes for 2 input graphemes, more than "
        r"model.net.growth.max_children=2 .* at least 3",
    ):
        check_producible([TextPair("ab", "aaaaa")], units, max_children=2)
    tokens = OutputUnits("tokens")
    check_producible([TextPair("ab", "t͡s a ɑ̃ b")], tokens, max_children=2)  # 4 units


def test_unwritable_note_counts_the_pairs_no_training_can_match():
    """A unit outside the vocabulary that the pair's input cannot copy makes a pair
    unmatchable: counted once per pair, listed by frequency, the first pair located."""
    tokens = OutputUnits("tokens")
    vocab = ["a", "b", "t͡s"]
    pairs = [
        TextPair("ab", "a b", meta={"source": "dev.jsonl:1"}),
        TextPair("xy", "x t͡s", meta={"source": "dev.jsonl:2"}),  # x: copied from the input
        TextPair("ab", "ʏ ʏ ɲ", meta={"source": "dev.jsonl:3"}),
        TextPair("ab", "a ʏ", meta={"source": "dev.jsonl:4"}),
    ]
    assert unwritable_note(pairs[:2], tokens, vocab) == ""
    assert unwritable_note(pairs, tokens, vocab) == (
        "2 of 4 targets hold tokens that no training target holds and their input cannot "
        "copy ('ʏ', 'ɲ'; first at dev.jsonl:3): those pairs can never be exact, so exact "
        "match is at most 0.500"
    )
    graphemes = OutputUnits("graphemes")
    note = unwritable_note([TextPair("ab", "aq")], graphemes, ["a"])
    assert note.startswith("1 of 1 targets hold graphemes") and "('q';" in note


def test_only_pairs_written_by_copying_are_augmented():
    """A pair whose target units are all its own graphemes (or whitespace) gets redrawn
    features, the same for a grapheme in input and target (whitespace keeps its
    properties), and its nodes are marked redrawn; a letters-to-phones pair keeps its
    features."""
    torch.manual_seed(0)
    net = GraphTransformNet(hidden_channels=8, num_layers=1, heads=2, attention_layers=1,
                            growth=TransducerGrowth(max_children=3, decoder_heads=2),
                            output_vocab=["k", "s"])  # fmt: skip
    module = GraphTransformModule(net, augment=1.0)
    inputs = graphs_from_texts(["ab a", "xq"])
    targets = net.targets(inputs, ["a b", "ks"])
    augmented, redrawn = module._augmented(inputs, targets)
    first = inputs.batch == 0
    signature = FeatureLayout.signature
    changed = (augmented.x[:, signature] != inputs.x[:, signature]).any(dim=1)
    space = inputs.x[:, FeatureLayout.whitespace] > 0
    assert changed[first].all() and not changed[~first].any()
    # The batch names the redrawn nodes (a spelling reader must not see through them).
    assert torch.equal(augmented.redrawn, changed)
    properties = FeatureLayout.properties
    assert torch.equal(augmented.x[space][:, properties], inputs.x[space][:, properties])
    # Input "a" (node 0) and target unit "a" (unit 0 of graph 0) got the same new row.
    assert torch.equal(augmented.x[0], redrawn.unit_rows[0, 0])
    assert torch.equal(redrawn.unit_rows[1], targets.unit_rows[1])


def test_test_path_is_scored_by_trainer_test_and_kept_out_of_swaps(tmp_path):
    """A held-out file: never trained on, excluded from the operand swap, scored by
    ``trainer.test`` with the same decoding as validation."""
    import json

    import lightning.pytorch as pl

    from lightning_modules.datamodule import GraphemeDataModule

    rows = {"train": [("(+ 1 2)", "3"), ("(* 2 5)", "10")], "val": [("(+ 2 2)", "4")],
            "test": [("(+ 2 1)", "3"), ("(* 5 2)", "10")]}  # fmt: skip
    for name, pairs in rows.items():
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps({"input": a, "target": b}) + "\n" for a, b in pairs)
        )
    data = GraphemeDataModule(
        task=None, train_path=str(tmp_path / "train.jsonl"), val_path=str(tmp_path / "val.jsonl"),
        test_path=str(tmp_path / "test.jsonl"), swap_commutative=1.0, batch_size=2,
    )  # fmt: skip
    swapped = data.train_dataloader().dataset
    assert {"(+ 2 1)", "(* 5 2)"} <= swapped.exclude
    net = GraphTransformNet(hidden_channels=8, num_layers=1, heads=2, attention_layers=1,
                            growth=TransducerGrowth(max_children=3, decoder_heads=2),
                            output_vocab=data.output_vocab, output_units=data.output_units)  # fmt: skip
    module = GraphTransformModule(net, beam=2)
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False)  # fmt: skip
    (scores,) = trainer.test(module, datamodule=data, verbose=False)
    outputs = net.eval().transform_text(["(+ 2 1)", "(* 5 2)"], beam=2)
    wanted = sum(o == t for o, (_, t) in zip(outputs, rows["test"])) / 2
    assert scores["test_exact_match"] == pytest.approx(wanted)
    assert 0.0 <= scores["test_uer"]


def test_fit_notes_validation_targets_it_can_never_write(tmp_path, monkeypatch, capsys):
    """fit prints, before training, how many validation pairs no training can match."""
    import json

    from fit_cases import fit

    def write(name, pairs):
        path = tmp_path / name
        path.write_text("".join(json.dumps({"input": a, "target": b}) + "\n" for a, b in pairs))
        return str(path)

    train = write("train.jsonl", [("ab", "a b"), ("ba", "b a")] * 4)
    val = write("val.jsonl", [("ab", "a b"), ("ab", "a ʏ"), ("ba", "ɲ a")])
    fit(tmp_path, monkeypatch, "--data.task", "null", "--data.train_path", train,
        "--data.val_path", val, "--data.target_units", "tokens", "--trainer.max_epochs", "1",
        "--model.net.init_args.hidden_channels", "8")  # fmt: skip
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert notes == [
        f"note: validation: 2 of 3 targets hold tokens that no training target holds and "
        f"their input cannot copy ('ɲ', 'ʏ'; first at {val}:2): those pairs can never be "
        f"exact, so exact match is at most 0.333"
    ]
