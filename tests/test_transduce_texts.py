"""GraphTransformNet.transduce_texts (what the end-of-fit report draws its morphs from):
evaluation mode inside and the former mode restored after, even on an error; the batch in
the model's precision; and the report's morphs of a list holding an empty input."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from lightning_modules.report import FitReport
from pyg_grapheme.models import GraphTransformNet, TransducerGrowth

TEXTS = ["xy", "y0x", "0"]


def _net() -> GraphTransformNet:
    torch.manual_seed(0)
    growth = TransducerGrowth(max_children=2, decoder_layers=1, decoder_heads=2)
    net = GraphTransformNet(
        hidden_channels=16, num_layers=2, heads=2, attention_layers=1, dropout=0.3,
        growth=growth, output_vocab=("x", "y", "0"),
    )  # fmt: skip
    return net.double()


def test_runs_in_evaluation_mode_in_the_models_precision_and_restores_training():
    net = _net().train()
    data, result = net.transduce_texts(TEXTS, beam=2)
    assert net.training and all(m.training for m in net.modules())
    assert data.x.dtype == torch.float64 and data.num_graphs == 3
    # Dropout 0.3 was off inside: the same outputs as transform_text, twice.
    assert result.outputs == net.transform_text(TEXTS, beam=2)
    assert net.transduce_texts(TEXTS, beam=2)[1].outputs == result.outputs


def test_the_former_mode_is_restored_when_transduce_raises(monkeypatch):
    net = _net().train()

    def fail(data, beam=1):
        assert not net.training
        raise RuntimeError("boom")

    monkeypatch.setattr(net, "transduce", fail)
    with pytest.raises(RuntimeError, match="boom"):
        net.transduce_texts(TEXTS)
    assert net.training
    net.eval()
    with pytest.raises(RuntimeError, match="boom"):
        net.transduce_texts(TEXTS)
    assert not net.training


def test_an_empty_text_is_refused():
    with pytest.raises(ValueError, match="every text must be non-empty"):
        _net().transduce_texts(["xy", ""])


def test_the_reports_morphs_draw_an_empty_input_as_nothing():
    net = _net().train()
    module = SimpleNamespace(net=net, hparams=SimpleNamespace(beam=1))
    drawn = FitReport._morphs(module, ["xy", "", "0"])
    expected = net.transform_text(["xy", "0"], with_morph=True)
    assert [(output, morph) for output, morph, _ in drawn] == [
        expected[0], ("", ""), expected[1],
    ]  # fmt: skip
    assert drawn[1][2] == ([], [], [], [])
    sources, clusters, units, parents = drawn[0][2]
    assert sources == ["x", "y"] and len(clusters) == 2
    assert "".join(units) == drawn[0][0] and len(parents) == len(units)
    assert net.training
