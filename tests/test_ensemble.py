"""Ensembles of trained transducers (pyg_grapheme.models.ensemble) and the model methods
they are built on: each model's beam proposals, and the marginal log-likelihood of any
output, checked against the search and the forward algorithm."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from pyg_grapheme.models import GraphTransformNet, TransducerGrowth, transducer_ensemble

TEXTS = ["abc", "x", "", "yyzz", "ab"]


def _net(seed: int, vocab=("x", "y", "0"), output_units: str = "graphemes") -> GraphTransformNet:
    torch.manual_seed(seed)
    growth = TransducerGrowth(max_children=2, decoder_layers=1, decoder_heads=2)
    net = GraphTransformNet(
        hidden_channels=16, num_layers=2, heads=2, attention_layers=1, dropout=0.0,
        growth=growth, output_vocab=vocab, output_units=output_units,
    )  # fmt: skip
    return net.double().eval()


def test_candidates_are_the_beams_distinct_outputs():
    net = _net(0)
    greedy = net.transform_text(TEXTS, beam=1)
    assert net.candidates(TEXTS, beam=1) == [[g] for g in greedy]
    found = net.candidates(TEXTS, beam=4)
    assert found[2] == [""]  # an empty input writes nothing
    for outputs in found:
        assert 1 <= len(outputs) <= 4 and len(set(outputs)) == len(outputs)
    with pytest.raises(ValueError, match="beam must be >= 1"):
        net.candidates(TEXTS, beam=0)


def test_log_likelihood_is_the_rescored_beams_marginal():
    """transduce(beam > 1) picks the distinct beam output of highest log p(y|x) summed over
    alignments and reports it: log_likelihood must give the same number (float64)."""
    net = _net(1)
    nonempty = [t for t in TEXTS if t]
    data = net._batch(nonempty)
    result = net.transduce(data, beam=3)
    logp = net.log_likelihood(nonempty, result.outputs)
    assert torch.allclose(logp, torch.tensor(result.scores, dtype=logp.dtype), atol=1e-12)
    # The chosen output beats every other proposal of its beam.
    for text, output, outputs in zip(nonempty, result.outputs, net.candidates(nonempty, 3)):
        others = net.log_likelihood([text] * len(outputs), outputs)
        assert float(others.max()) == pytest.approx(float(net.log_likelihood([text], [output])[0]))


def test_log_likelihood_of_what_the_model_cannot_write():
    net = _net(2)
    # "q" is neither in the vocabulary nor in the input; 5 units from 2 nodes exceed
    # max_children = 2 a node; the empty input writes only the empty output.
    logp = net.log_likelihood(["ab", "ab", "", "", "ab"], ["q", "xxxxx", "", "x", "x"])
    assert logp[:2].tolist() == [-math.inf, -math.inf]
    assert logp[2].item() == 0.0 and logp[3].item() == -math.inf
    assert -math.inf < logp[4].item() < 0.0
    with pytest.raises(ValueError, match="2 inputs but 1 outputs"):
        net.log_likelihood(["a", "b"], ["x"])


def test_one_model_is_its_own_rescored_beam():
    net = _net(3)
    assert transducer_ensemble([net], TEXTS, beam=3) == net.transform_text(TEXTS, beam=3)
    # Two copies of one model vote as one.
    assert transducer_ensemble([net, copy.deepcopy(net)], TEXTS, beam=3) == net.transform_text(
        TEXTS, beam=3
    )


def test_ensemble_picks_the_highest_mean_log_likelihood_by_enumeration():
    """Against a by-hand vote: every proposal of every model's beam, scored by both."""
    models = [_net(4), _net(5)]
    chosen = transducer_ensemble(models, TEXTS, beam=2)
    for i, text in enumerate(TEXTS):
        proposals = list(dict.fromkeys(o for m in models for o in m.candidates([text], 2)[0]))
        mean = sum(m.log_likelihood([text] * len(proposals), proposals) for m in models) / 2
        assert chosen[i] == proposals[int(torch.argmax(mean))]
    assert transducer_ensemble(models, [], beam=2) == []


def test_models_writing_different_units_are_refused():
    with pytest.raises(ValueError, match="different output units"):
        transducer_ensemble([_net(0), _net(0, output_units="tokens")], TEXTS)
    with pytest.raises(ValueError, match="at least one model"):
        transducer_ensemble([], TEXTS)


def test_align_draws_the_rescored_beams_own_alignment():
    """With beam > 1 transduce reports the best alignment of the output it chose; align of
    that output finds the same morph, parents and score (float64)."""
    net = _net(3)
    nonempty = [t for t in TEXTS if t]
    data = net._batch(nonempty)
    result = net.transduce(data, beam=3)
    aligned = net.align(data, result.outputs)
    assert aligned.outputs == result.outputs
    assert aligned.morphs == result.morphs
    assert aligned.parent == result.parent
    assert aligned.scores == pytest.approx(result.scores, abs=1e-12)


def test_align_of_an_output_no_alignment_writes():
    """'q' is neither in the vocabulary nor in the input: its units stay, with no parents,
    no morph and the score -inf; the other rows are aligned as alone."""
    net = _net(4)
    data = net._batch(["ab", "ab"])
    aligned = net.align(data, ["q", "x"])
    alone = net.align(net._batch(["ab"]), ["x"])
    assert aligned.units == [["q"], ["x"]]
    assert aligned.parent[0] == [] and aligned.morphs[0] == ""
    assert aligned.scores[0] == -math.inf
    assert aligned.morphs[1] == alone.morphs[0] and aligned.morphs[1].endswith("x")
    with pytest.raises(ValueError, match="2 inputs but 1 outputs"):
        net.align(data, ["x"])


def test_ensemble_transform_text_pairs_the_vote_with_the_first_models_alignment():
    from pyg_grapheme.models import ensemble_transform_text

    models = [_net(5), _net(6)]
    outputs = transducer_ensemble(models, TEXTS, beam=2)
    assert ensemble_transform_text(models, TEXTS, beam=2) == outputs
    paired = ensemble_transform_text(models, TEXTS, with_morph=True, beam=2)
    assert [o for o, _ in paired] == outputs
    nonempty = [i for i, t in enumerate(TEXTS) if t]
    _, aligned = models[0].align_texts([TEXTS[i] for i in nonempty], [outputs[i] for i in nonempty])
    assert [paired[i][1] for i in nonempty] == aligned.morphs
    assert paired[2] == ("", "")  # the empty input
    assert not models[0].training
