"""Has a member learnt to read its input (lightning_modules.input_blind)? The bigram
reference by hand, the warning's once-per-state rule, and the wiring through a validation."""

from __future__ import annotations

import math
import warnings

import lightning.pytorch as pl
import pytest
import torch

from lightning_modules.datamodule import GraphemeDataModule
from lightning_modules.input_blind import (
    bigram_nll,
    input_blind_members,
    input_blind_nll,
    ngram_nll,
)
from lightning_modules.module import GraphTransformModule
from pyg_grapheme.models import GraphTransformNet, TransformObjective


def test_bigram_nll_by_hand():
    # Counts: (start,a) 2, (a,b) 1, (b,end) 1, (a,end) 1; contexts start 2, a 2, b 1;
    # |V| = {a, b, end} = 3; k = 0.1.
    expected = -(math.log(2.1 / 2.3) + math.log(1.1 / 2.3) + math.log(1.1 / 1.3)) / 3
    assert bigram_nll([["a", "b"], ["a"]], [["a", "b"]]) == pytest.approx(expected, rel=1e-12)
    # A unit only the validation has joins the vocabulary: |V| = 4.
    unseen = -(math.log(0.1 / 2.4) + math.log(0.1 / 0.4)) / 2
    assert bigram_nll([["a", "b"], ["a"]], [["c"]]) == pytest.approx(unseen, rel=1e-12)
    # An empty target is one end; |V| = {a, end} = 2.
    assert bigram_nll([[], ["a"]], [[]]) == pytest.approx(-math.log(1.1 / 2.2), rel=1e-12)


def test_bigram_nll_refuses_no_smoothing_and_is_nan_without_targets():
    with pytest.raises(ValueError, match=r"smoothing must be positive, got 0\.0"):
        bigram_nll([["a"]], [["a"]], smoothing=0.0)
    assert math.isnan(bigram_nll([["a"]], []))


def test_the_reference_is_the_best_input_blind_model():
    train = [["a", "b"]] * 20
    val = [["a", "b"]]
    # Bigram: start->a, a->b and b->end each 20.1/20.3; frequencies alone: a third each.
    bigram = -math.log(20.1 / 20.3)
    assert input_blind_nll(train, val) == pytest.approx(bigram, rel=1e-12)
    assert ngram_nll(train, val, 1) == pytest.approx(math.log(3), rel=1e-12)
    with pytest.raises(ValueError, match="order must be 1 or 2, got 3"):
        ngram_nll(train, val, 3)


def test_which_members_are_input_blind():
    nll = torch.tensor([1.2, 1.5, 1.51, 2.6, float("nan")], dtype=torch.float64)
    assert input_blind_members(nll, 2.0) == [False, False, True, True, True]  # above 3/4
    assert input_blind_members(nll, 2.0, share=1.0) == [False, False, False, True, True]


def _module(members: int) -> GraphTransformModule:
    torch.manual_seed(0)
    net = GraphTransformNet(hidden_channels=8, num_layers=1, attention_layers=1, heads=2,
                            dropout=0.0, output_vocab=list("abc"), output_units="tokens")  # fmt: skip
    return GraphTransformModule(net, TransformObjective(), lr=0.01, members=members)


def _warnings(call) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [str(w.message) for w in caught if "of its input at" in str(w.message)]


def test_a_member_is_named_after_two_blind_validations_once_and_the_check_stops():
    module = _module(2)
    nll = torch.tensor([2.7, 2.9], dtype=torch.float64)
    assert _warnings(lambda: module.check_input_blind(nll, 2.54)) == []  # the first: slow?
    (message,) = _warnings(lambda: module.check_input_blind(nll, 2.54))
    assert message.startswith(
        "validation: every member has learnt little of its input at 2 validations in a row: "
        "likelihood 2.700, 2.900 nats a unit, above 0.75 of the 2.540 a model of the "
        "training targets alone reaches, so the outputs hardly depend on the input; a lower "
        "--model.lr"
    )
    assert _warnings(lambda: module.check_input_blind(nll, 2.54)) == []  # named already
    reads_one = torch.tensor([1.2, 2.9], dtype=torch.float64)
    assert _warnings(lambda: module.check_input_blind(reads_one, 2.54)) == []
    assert module._reads_input == [True, False] and module._warned_blind == [False, True]
    # Member 0 falls back onto the plateau for two validations: named alone.
    back = torch.tensor([2.6, 1.1], dtype=torch.float64)
    assert _warnings(lambda: module.check_input_blind(back, 2.54)) == []
    (alone,) = _warnings(lambda: module.check_input_blind(back, 2.54))
    assert alone.startswith(
        "validation: member 0 has learnt little of its input at 2 validations in a row: its "
        "likelihood 2.600 nats a unit is above 0.75 of the 2.540"
    )
    assert module._reads_input == [True, True]
    assert module._input_blind_reference() is None  # every member has read its input once


def test_one_blind_validation_between_sound_ones_names_nobody():
    module = _module(1)
    for value in (2.7, 1.0, 2.7, 1.0):
        nll = torch.tensor([value], dtype=torch.float64)
        assert _warnings(lambda nll=nll: module.check_input_blind(nll, 2.54)) == []


def test_a_validation_with_the_data_module_warns_an_untrained_model(tmp_path):
    """Through trainer.validate: the data module gives the reference, the untrained single
    member's likelihood is above 3/4 of it, one warning at the second validation. On five training words the smoothed
    bigram is worse than guessing, so the reference is the uniform guess, log |V|."""
    train = tmp_path / "train.tsv"
    val = tmp_path / "val.tsv"
    train.write_text("".join(f"{w}\t{' '.join(w)}\n" for w in ["ab", "ba", "abc", "cab", "bca"]))
    val.write_text("ac\ta c\ncb\tc b\n")
    data = GraphemeDataModule(
        train_path=str(train), val_path=str(val), target_units="tokens", batch_size=4
    )
    data.setup("validate")
    reference = data.input_blind_nll()
    train = [p.target.split() for p in data.train_pairs]
    assert bigram_nll(train, [["a", "c"], ["c", "b"]]) > math.log(4)
    assert reference == pytest.approx(math.log(4))  # a, b, c and the end
    module = _module(1)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    assert _warnings(lambda: trainer.validate(module, datamodule=data, verbose=False)) == []
    (message,) = _warnings(lambda: trainer.validate(module, datamodule=data, verbose=False))
    assert message.startswith(
        "validation: the model has learnt little of its input at 2 validations in a row"
    )
