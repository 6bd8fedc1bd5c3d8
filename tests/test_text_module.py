"""The training module's own rules: which pairs it refuses, which it augments."""

from __future__ import annotations

import pytest
import torch

from lightning_modules.module import GraphTransformModule, check_producible
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


def test_only_pairs_written_by_copying_are_augmented():
    """A pair whose target units are all its own graphemes (or whitespace) gets redrawn
    features, the same for a grapheme in input and target (whitespace keeps its
    properties); a letters-to-phones pair keeps its features."""
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
