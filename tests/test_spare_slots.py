"""Spare slots: the decoder, not only the count head, decides how long each cluster's output
is. Training grows random spare slots past the target counts and teaches the end head to
end them; inference grows the count head's counts plus ``spare_slots`` and drops the slots
the decoder ends."""

import pytest
import torch
from decoder_cases import end_at_the_median, inference_batch

from pyg_grapheme.models import GraphTransformNet
from pyg_grapheme.models.objective import TransformObjective, build_supervision
from pyg_grapheme.models.text_transform import transform_text
from pyg_grapheme.text import graphs_from_texts

# Threshold 0.99: an untrained network merges nothing, so clusters are input nodes.
NET = dict(hidden_channels=16, heads=2, num_layers=2, decoder_layers=1, threshold=0.99)


def _batch():
    inputs = graphs_from_texts(["abc", "xy"])
    targets = graphs_from_texts(["aabc", "y"])
    return inputs, targets


def test_spare_slots_need_the_decoder_and_are_not_negative():
    with pytest.raises(ValueError, match="spare_slots must be >= 0 and needs decoder_layers > 0"):
        GraphTransformNet(spare_slots=2)
    with pytest.raises(ValueError, match="spare_slots must be >= 0"):
        GraphTransformNet(decoder_layers=1, spare_slots=-1)
    assert GraphTransformNet(decoder_layers=1).end_head is None


def test_training_grows_spare_slots_past_the_target_counts_and_labels_them():
    torch.manual_seed(0)
    net = GraphTransformNet(**NET, spare_slots=2).train()
    inputs, targets = _batch()
    sup = build_supervision(inputs, targets, net.output_vocab)
    assert sup.length.tolist() == [2, 1, 1, 0, 1]  # a -> aa, b, c, x -> nothing, y
    rows = GraphTransformNet.class_features(sup.space)[sup.target_class]
    counts, spares = [], 0
    for _ in range(20):
        out = net(inputs, length=sup.length, emitted=rows)
        assert out.cluster.tolist() == [0, 1, 2, 3, 4]
        extra = out.split.count - sup.length
        assert ((extra >= 0) & (extra <= 2)).all()
        # Spare slots are the slots at or past the target count, and only those.
        wanted = sup.length.index_select(0, out.split.parent)
        assert out.spare.tolist() == (out.split.slot >= wanted).tolist()
        index = TransformObjective.target_index(out, sup)
        real = index >= 0
        assert real.tolist() == (~out.spare).tolist()
        # The real nodes still stand for the target graphemes, in order.
        assert index[real].tolist() == list(range(5))
        assert out.end_logit.shape == (out.split.count.sum(),)
        counts.append(extra)
        spares += int(out.spare.sum())
    # The draws cover the whole margin, 0 to 2 spare slots.
    assert set(torch.cat(counts).tolist()) == {0, 1, 2} and spares > 0
    # Evaluation mode grows exactly the target counts (the validation loss).
    out = net.eval()(inputs, length=sup.length, emitted=rows)
    assert out.split.count.tolist() == sup.length.tolist() and not out.spare.any()


def test_objective_trains_the_end_head_and_skips_spare_slots_in_the_type_term():
    torch.manual_seed(1)
    net = GraphTransformNet(**NET, spare_slots=3).train()
    inputs, targets = _batch()
    sup = build_supervision(inputs, targets, net.output_vocab)
    rows = GraphTransformNet.class_features(sup.space)[sup.target_class]
    out = net(inputs, length=sup.length, emitted=rows)
    assert out.spare.any()
    probs = net.type_probs(out, sup.member_class, sup.space)
    objective = TransformObjective(structural_weight=0.0)
    terms = objective(out, probs, targets, sup)
    spare = out.spare.to(out.end_logit.dtype)
    expected_end = torch.nn.functional.binary_cross_entropy_with_logits(out.end_logit, spare)
    assert torch.allclose(terms["end"], expected_end)
    target = sup.target_class
    picked = probs[~out.spare].gather(1, target.unsqueeze(1)).squeeze(1)
    assert torch.allclose(terms["type"], -picked.log().mean())
    expected = terms["merge"] + terms["count"] + terms["type"] + 0.1 * terms["edit"]
    assert torch.allclose(terms["loss"], expected + terms["end"])
    # A network without spare slots has no end term.
    plain = GraphTransformNet(**NET)
    out = plain(inputs, length=sup.length, emitted=rows)
    terms = objective(out, plain.type_probs(out, sup.member_class, sup.space), targets, sup)
    assert "end" not in terms


def test_inference_grows_the_counts_plus_spare_slots_and_the_decoder_ends_them():
    torch.manual_seed(2)
    net = GraphTransformNet(**NET, output_vocab=["q"], spare_slots=2).eval()
    texts = ["abc", "xy"]
    data, space, member_class = inference_batch(net, texts)
    with torch.no_grad():
        net.end_head.bias.fill_(-100.0)  # nothing ends: every slot emits
    out, _ = net.emit_classes(data, member_class, space)
    counts = out.count_logit.argmax(dim=1) + 2
    assert out.split.count.tolist() == counts.clamp(max=net.max_children).tolist()
    assert not out.spare.any()
    lengths = [len(t) for t in transform_text(net, texts)]
    per_graph = torch.zeros(2, dtype=torch.long).index_add(0, out.batch, torch.ones_like(out.batch))
    assert lengths == per_graph.tolist()
    with torch.no_grad():
        net.end_head.bias.fill_(100.0)  # every slot ends: nothing is emitted
    out, _ = net.emit_classes(data, member_class, space)
    assert out.spare.all() and transform_text(net, texts) == ["", ""]


def test_once_a_slot_ends_the_rest_of_its_cluster_emits_nothing():
    torch.manual_seed(4)
    net = GraphTransformNet(**NET, output_vocab=["q"], spare_slots=3).eval()
    texts = ["abcd", "xyz"]
    data, space, member_class = inference_batch(net, texts)
    # An end head with a random direction, its threshold at the median node, ends some
    # slots and not others.
    end_at_the_median(net, data, member_class, space)
    out, _ = net.emit_classes(data, member_class, space)
    ended = net.end_head(out.x).squeeze(1) > 0
    assert 0 < int(out.spare.sum()) < out.spare.numel()
    for cluster in range(out.split.count.numel()):
        nodes = (out.split.parent == cluster).nonzero().view(-1)
        spare, end = out.spare[nodes].tolist(), ended[nodes].tolist()
        first = next((s for s, e in enumerate(end) if e), len(end))
        # The first slot its end head ends, and every slot after it, emit nothing.
        assert spare == [s >= first for s in range(len(end))]
    # The emitted text leaves the spare slots out.
    emitted = transform_text(net, texts)
    kept = torch.zeros(2, dtype=torch.long).index_add(0, out.batch, (~out.spare).long())
    assert [len(t) for t in emitted] == kept.tolist()


def test_end_term_gradcheck_through_the_decoder(module_gradcheck, merge_margin):
    """The teacher-forced loss with spare slots, float64: the end head, the decoder that
    feeds it and the layers before it. The spare draw is fixed by reseeding per call."""
    torch.manual_seed(5)
    model = GraphTransformNet(hidden_channels=8, num_layers=2, heads=2, output_vocab=["0"],
                              decoder_layers=1, spare_slots=2)  # fmt: skip
    # The structural loss has its own gradchecks; without it each evaluation is cheap.
    objective = TransformObjective(structural_weight=0.0)
    inputs = graphs_from_texts(["aab", "xyz", "q"])
    targets = graphs_from_texts(["ab", "x0", "qq"])
    sup = build_supervision(inputs, targets, model.output_vocab)
    inputs.x, targets.x = inputs.x.double(), targets.x.double()
    emitted = GraphTransformNet.class_features(sup.space).double()[sup.target_class]

    def loss_fn(m: GraphTransformNet) -> torch.Tensor:
        torch.manual_seed(0)
        out = m(inputs, length=sup.length, emitted=emitted)
        assert out.spare.any()
        return objective(out, m.type_probs(out, sup.member_class, sup.space), targets, sup)["loss"]

    model = model.double().train()
    assert merge_margin(model, inputs) > 1e-3, "finite differences would cross a merge boundary"
    names = ["end_head.weight", "end_head.bias", "decoder.layers.0.linear1.bias", "embed.bias"]
    assert module_gradcheck(model, loss_fn, names=names, atol=1e-6, rtol=1e-4)


def test_fit_with_spare_slots_learns_a_growth_task_and_reloads(tmp_path, monkeypatch):
    """The Lightning pipeline with spare slots (teacher forcing, the end term, validation
    decoding, checkpoint reload): after 8 epochs on 600 pairs of `double`, held-out Latin
    strings of the training lengths come out exactly."""
    import json
    import sys

    from lightning_modules.fit import CONF_DIR, main
    from lightning_modules.module import GraphTransformModule
    from lightning_modules.report import checkpoint_paths
    from pyg_grapheme.data import generate
    from pyg_grapheme.metrics import exact_match

    train = generate("double", 600, seed=0, max_len=6)
    val = generate("double", 100, seed=1, max_len=6, exclude={p.input for p in train})
    for name, pairs in (("train", train), ("val", val)):
        lines = (json.dumps({"input": p.input, "target": p.target}) + "\n" for p in pairs)
        (tmp_path / f"{name}.jsonl").write_text("".join(lines))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["fit"])
    cli = main([
        "--config", str(CONF_DIR / "pairs.yaml"),
        "--data.train_path", "train.jsonl", "--data.val_path", "val.jsonl",
        "--model.net.decoder_layers", "1", "--model.net.spare_slots", "2",
        "--trainer.max_epochs", "8", "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
    ])  # fmt: skip
    _, last = checkpoint_paths(cli.trainer)
    net = GraphTransformModule.load_from_checkpoint(last, map_location="cpu").net
    assert net.spare_slots == 2 and net.end_head is not None
    predictions = transform_text(net, [p.input for p in val])
    score = exact_match(predictions, [p.target for p in val])
    print(f"\ndouble with spare slots, 8 epochs: held-out exact match {score:.3f}")
    assert score >= 0.95
