"""Reading backward (pyg_grapheme.models.reading_order, GraphTransformNet(reading_order=...),
GraphTransformModule(member_reading=...)): a backward model is the forward model of the
reversed pairs, to the last bit of every likelihood and gradient."""

from __future__ import annotations

import pytest
import torch
from fit_cases import fit, metrics_rows

from lightning_modules.checkpoint_io import load_module
from lightning_modules.module import GraphTransformModule
from pyg_grapheme.models import GraphTransformNet, TransducerGrowth, TransformObjective
from pyg_grapheme.models.reading_order import (
    reverse_chains,
    reverse_targets,
    reversed_positions,
)
from pyg_grapheme.text import graphs_from_texts, segment

VOCAB = list("abcxyz")


def _pair() -> tuple[GraphTransformNet, GraphTransformNet]:
    """A forward and a backward model with the same weights, float64."""
    torch.manual_seed(0)
    options = dict(
        hidden_channels=16, num_layers=2, attention_layers=1, heads=2, dropout=0.0,
        output_vocab=VOCAB, output_units="tokens", spelling=True, threshold=0.9,
    )  # fmt: skip
    forward = GraphTransformNet(growth=TransducerGrowth(max_children=3), **options).double()
    backward = GraphTransformNet(
        growth=TransducerGrowth(max_children=3), reading_order="backward", **options
    ).double()
    backward.load_state_dict(forward.state_dict())
    return forward.eval(), backward.eval()


def _reversed_text(text: str) -> str:
    return "".join(reversed(segment(text)))


def _reversed_output(output: str) -> str:
    return " ".join(reversed(output.split()))


TEXTS = ["abc", "ca", "abcab", "b", "éa"]
OUTPUTS = ["x y z", "a", "c c x y", "a b", "y é a"]


def test_reversed_positions_on_a_hand_built_batch():
    batch = torch.tensor([0, 0, 0, 1, 2, 2])
    assert reversed_positions(batch, 3).tolist() == [2, 1, 0, 3, 5, 4]
    # A graph with no node in the middle of the batch moves nothing.
    assert reversed_positions(torch.tensor([0, 0, 2]), 3).tolist() == [1, 0, 2]


def test_reverse_chains_reads_each_chain_last_grapheme_first():
    data = graphs_from_texts(["abc", "de"])
    out = reverse_chains(data)
    expected = graphs_from_texts(["cba", "ed"])
    assert out.clusters == [["c", "b", "a"], ["e", "d"]]
    assert torch.equal(out.x, expected.x)
    assert out.pos.tolist() == expected.pos.tolist() == [0, 1, 2, 0, 1]
    assert sorted(map(tuple, out.edge_index.t().tolist())) == [(0, 1), (1, 2), (3, 4)]
    assert torch.equal(out.batch, data.batch)
    # Twice is the identity; the batch given is left as it was.
    again = reverse_chains(out)
    assert torch.equal(again.x, data.x) and again.clusters == data.clusters
    assert data.clusters == [["a", "b", "c"], ["d", "e"]]


def test_reverse_chains_refuses_interleaved_graphs():
    data = graphs_from_texts(["ab", "c"])
    data.batch = torch.tensor([0, 1, 0])
    with pytest.raises(ValueError, match="contiguous"):
        reverse_chains(data)


def test_reverse_targets_reverses_units_and_keeps_padding():
    forward, _ = _pair()
    data = graphs_from_texts(["abc", "b"])
    targets = forward.targets(data, ["x y", "a b c"])
    read = reverse_targets(targets, data)
    space = targets.space
    assert read.units == [["y", "x"], ["c", "b", "a"]]
    assert read.unit_class.tolist() == [
        [space.encode(["y"]).item(), space.encode(["x"]).item(), -1],
        space.encode(["c", "b", "a"]).tolist(),
    ]
    assert torch.equal(read.unit_rows[0, 0], targets.unit_rows[0, 1])
    assert torch.equal(read.unit_rows[0, 2], torch.zeros_like(read.unit_rows[0, 2]))
    assert read.member_class.tolist() == targets.member_class[[2, 1, 0, 3]].tolist()


def test_a_backward_model_scores_as_the_forward_model_of_the_reversed_pairs():
    forward, backward = _pair()
    got = backward.log_likelihood(TEXTS, OUTPUTS)
    want = forward.log_likelihood(
        [_reversed_text(t) for t in TEXTS], [_reversed_output(o) for o in OUTPUTS]
    )
    assert torch.equal(got, want)
    assert bool(torch.isfinite(got).all())
    # Reading backward changes the model: the same weights score the pairs otherwise.
    assert not torch.allclose(got, forward.log_likelihood(TEXTS, OUTPUTS))


def test_a_backward_model_searches_as_the_forward_model_of_the_reversed_inputs():
    forward, backward = _pair()
    got = backward.candidates(TEXTS, 3)
    want = forward.candidates([_reversed_text(t) for t in TEXTS], 3)
    assert got == [[_reversed_output(o) for o in outputs] for outputs in want]
    greedy = backward.transform_text(TEXTS)
    assert greedy == [_reversed_output(o) for o in forward.transform_text(
        [_reversed_text(t) for t in TEXTS])]  # fmt: skip
    assert greedy == [outputs[0] for outputs in backward.candidates(TEXTS, 1)]
    # align writes the outputs it was given, in reading order, whatever the direction.
    _, aligned = backward.align_texts(TEXTS, OUTPUTS)
    assert aligned.outputs == OUTPUTS


def test_backward_gradients_equal_the_forward_gradients_of_the_reversed_pairs():
    """Every parameter's gradient of the objective (transducer, smoothing and structural
    terms), float64, to rounding: the reversal is an exact relabelling."""
    grads = []
    for model, texts, outputs in (
        (_pair()[1], TEXTS, OUTPUTS),
        (_pair()[0], [_reversed_text(t) for t in TEXTS], [_reversed_output(o) for o in OUTPUTS]),
    ):
        model.train()
        objective = TransformObjective(structural_weight=0.1, smoothing_weight=0.1).double()
        data = model._batch(texts)
        targets = model.targets(data, outputs)
        targets.unit_rows = targets.unit_rows.double()
        out = model(data, targets, with_classes=True)
        loss = objective(out, targets)["loss"]
        model.zero_grad()
        loss.backward()
        grads.append({k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 10
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-10, rtol=1e-8), name


def test_reading_order_is_checked():
    with pytest.raises(ValueError, match="reading_order must be one of"):
        GraphTransformNet(reading_order="sideways")


def _module(member_reading: str, members: int = 3) -> GraphTransformModule:
    torch.manual_seed(0)
    net = GraphTransformNet(hidden_channels=8, num_layers=1, attention_layers=1, heads=2,
                            dropout=0.0, output_vocab=VOCAB)  # fmt: skip
    return GraphTransformModule(net, lr=0.01, members=members, member_reading=member_reading)


def test_alternate_members_read_the_other_way():
    assert [net.reading_order for net in _module("alternate").nets] == [
        "forward", "backward", "forward",
    ]  # fmt: skip
    assert [net.reading_order for net in _module("forward").nets] == ["forward"] * 3


def test_a_fit_of_alternate_members_trains_and_reloads_them(tmp_path, monkeypatch):
    """Through the fit CLI: the backward member trains (its loss is finite and logged),
    and the checkpoint rebuilds it backward, with the same likelihoods."""
    cli = fit(
        tmp_path, monkeypatch, "--data.n_train", "32", "--data.n_val", "8",
        "--data.batch_size", "16", "--trainer.max_epochs", "1",
        "--model.net.init_args.hidden_channels", "16", "--model.members", "2",
        "--model.member_reading", "alternate",
    )  # fmt: skip
    path = tmp_path / "outputs" / "checkpoints" / "last.ckpt"
    loaded = load_module(GraphTransformModule, str(path), map_location="cpu")
    assert [net.reading_order for net in loaded.nets] == ["forward", "backward"]
    (val,) = [row for row in metrics_rows(tmp_path) if row.get("val_loss")]
    assert all(0.0 < float(val[f"val_loss_member{k}"]) < 50.0 for k in range(2))
    texts, outputs = ["abc", "b"], ["abc", "b"]
    for trained, reloaded in zip(cli.model.nets, loaded.nets):
        assert torch.equal(
            trained.log_likelihood(texts, outputs), reloaded.log_likelihood(texts, outputs)
        )


def test_member_reading_is_checked():
    with pytest.raises(ValueError, match="member_reading must be one of"):
        _module("backward")
