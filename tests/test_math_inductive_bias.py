"""Run-position features, interleaved attention and the commutative-swap augmentation."""

import torch

from pyg_grapheme.data import TextPair, collate_pairs
from pyg_grapheme.data.commutative_swap import CommutativeSwapDataset
from pyg_grapheme.models import GraphTransformNet
from pyg_grapheme.models.feedforward import FeedForward
from pyg_grapheme.models.run_position import run_position_features
from pyg_grapheme.text import graphs_from_texts


def _place_and_ordinal(texts):
    batch = graphs_from_texts(texts)
    features = run_position_features(batch.x, batch.pos)
    place = features[:, :4].argmax(dim=1).tolist()
    ordinal = features[:, 4:].argmax(dim=1).tolist()
    return place, ordinal


def test_run_features_give_digit_place_and_number_ordinal():
    place, ordinal = _place_and_ordinal(["(+ 16 9)", "ab cd"])
    # "(+ 16 9)": "1" is tens (place 1) of number 0, "6" units of number 0, "9" units of number 1.
    assert place[3:5] == [1, 0] and ordinal[3:5] == [0, 0]
    assert place[6] == 0 and ordinal[6] == 1
    # "ab cd" (second text, starts at node 8): ordinals restart per text.
    assert place[8:13] == [1, 0, 0, 1, 0]
    assert ordinal[8:13] == [0, 0, 0, 1, 1]


MATH_OPTIONS = {
    "hidden_channels": 16,
    "output_vocab": list("0123456789"),
    "attention_layers": 2,
    "feedforward": True,
    "post_pool_layers": 1,
    "run_features": True,
}
"""A small network with the arithmetic options of conf/math_l1.yaml."""


def test_model_with_math_options_runs_and_keeps_defaults_unchanged():
    torch.manual_seed(0)
    default = GraphTransformNet(hidden_channels=16)
    assert len(default.encoder.attention) == 1 and len(default.post_pool.attention) == 0
    model = GraphTransformNet(**MATH_OPTIONS)
    # Attention block k follows convolution floor((k + 1) L / A) - 1: after 2 and 4 of 4.
    assert model.encoder.attention_after == [2, 4]
    out = model(graphs_from_texts(["(+ 16 9)", "(* 2 3)"]))
    assert out.vocab_logit.shape == (out.x.size(0), 10)
    out.vocab_logit.sum().backward()
    assert model.encoder.attention[1].attn.in_proj_weight.grad is not None
    # Untrained, it still writes only what it can: digits of its vocabulary, or graphemes
    # copied from its input; and decoding is deterministic.
    (answer,) = model.transform_text(["(- 3 4)"])
    assert set(answer) <= set("0123456789") | set("(- 3 4)")
    assert model.transform_text(["(- 3 4)"]) == [answer]


def test_dropout_is_off_by_default_acts_in_training_only_and_keeps_checkpoint_keys():
    kwargs = MATH_OPTIONS
    torch.manual_seed(0)
    plain = GraphTransformNet(**kwargs)
    torch.manual_seed(0)
    dropped = GraphTransformNet(dropout=0.5, **kwargs)
    # Same parameters under the same names: checkpoints load either way.
    assert plain.state_dict().keys() == dropped.state_dict().keys()
    dropped.load_state_dict(plain.state_dict())
    batch = graphs_from_texts(["(+ 16 9)", "(* 2 3)"])
    plain.eval(), dropped.eval()
    assert torch.equal(plain(batch).vocab_logit, dropped(batch).vocab_logit)
    plain.train(), dropped.train()
    assert torch.equal(plain(batch).vocab_logit, plain(batch).vocab_logit)
    assert not torch.equal(dropped(batch).vocab_logit, plain(batch).vocab_logit)


def test_commutative_swap_never_produces_an_excluded_input():
    torch.manual_seed(0)
    pairs = [TextPair("(+ 1 2)", "3"), TextPair("(* 3 4)", "12"), TextPair("(- 5 1)", "4")]
    data = CommutativeSwapDataset(pairs, p=1.0, exclude={"(* 4 3)"})
    inputs, targets = collate_pairs([data[i] for i in range(3)])
    assert list(inputs.text) == ["(+ 2 1)", "(* 3 4)", "(- 5 1)"]
    assert list(targets.text) == ["3", "12", "4"]


def test_gated_feedforward_is_a_glu_that_can_multiply(module_gradcheck):
    block = FeedForward(4, gated=True).double()
    with torch.no_grad():
        for layer in (block.expand, block.gate, block.project):
            layer.weight.zero_(), layer.bias.zero_()
        # hidden_0 = LeakyReLU(x_0) * x_1; channel 2 of the residual branch gets it.
        block.expand.weight[0, 0] = 1.0
        block.gate.weight[0, 1] = 1.0
        block.project.weight[2, 0] = 1.0
    x = torch.tensor([[3.0, 7.0, 0.0, 0.0], [5.0, -2.0, 0.0, 0.0]], dtype=torch.float64)
    branch = block.project(block.activation(block.expand(x)) * block.gate(x))
    assert branch[:, 2].tolist() == [21.0, -10.0]
    assert torch.allclose(block(x), block.norm(x + branch))
    # The plain block has no gate (and no gate weights).
    assert FeedForward(4).gate is None
    assert "gate.weight" not in FeedForward(4).state_dict()
    torch.manual_seed(0)
    block = FeedForward(3, gated=True)
    x = torch.randn(5, 3, dtype=torch.float64)
    assert module_gradcheck(block, lambda m: m(x).pow(2).sum())
