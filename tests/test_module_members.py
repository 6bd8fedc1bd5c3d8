"""GraphTransformModule(members=M): M networks trained side by side, decoding together."""

from __future__ import annotations

import pytest
import torch
from fit_cases import fit, metrics_rows

from lightning_modules.checkpoint_io import load_module
from lightning_modules.module import GraphTransformModule
from pyg_grapheme.data import collate_pairs, generate
from pyg_grapheme.data.pair_dataset import PairDataset
from pyg_grapheme.models import GraphTransformNet, TransformObjective, transducer_ensemble


def _module(members: int, merge_warmup: float = 0.0, beam: int = 1) -> GraphTransformModule:
    torch.manual_seed(0)
    net = GraphTransformNet(hidden_channels=8, num_layers=1, attention_layers=1, heads=2,
                            dropout=0.0, output_vocab=list("abcdefghijklmnopqrstuvwxyz"))  # fmt: skip
    return GraphTransformModule(
        net, TransformObjective(merge_warmup=merge_warmup), lr=0.01, members=members, beam=beam
    )


def _batch(n: int = 6):
    pairs = generate("dedupe", n, seed=3)
    return collate_pairs([PairDataset(pairs)[i] for i in range(n)])


def test_members_start_apart_and_share_the_configuration():
    module = _module(3)
    assert len(module.nets) == 3 and module.nets[0] is module.net
    configs = {repr(net) for net in module.nets}
    assert len(configs) == 1
    first = dict(module.nets[0].named_parameters())
    for other in module.nets[1:]:
        assert any(not torch.equal(first[k], v) for k, v in other.named_parameters())
    assert module.hparams.members == 3


@pytest.mark.parametrize("members", [0, -1, 1.5])
def test_members_must_be_a_positive_integer(members):
    with pytest.raises(ValueError, match="members must be an integer >= 1"):
        _module(members)  # type: ignore[arg-type]


def test_each_member_learns_from_its_own_loss():
    """The loss minimised is the sum of the members' losses, so each member's gradient is
    the one its own loss gives it alone; the logged terms are the members' means."""
    module = _module(2)
    batch = _batch()
    terms, total = module._shared_step(batch)
    total.backward()
    together = {k: p.grad.clone() for k, p in module.named_parameters() if p.grad is not None}
    losses = []
    for k, member in enumerate(module.nets):
        module.zero_grad()
        inputs, targets = batch
        sup = module._targets(inputs, targets)
        loss = module.objective(member(inputs, sup), sup)["loss"]
        losses.append(loss.item())
        loss.backward()
        prefix = "net." if k == 0 else f"more_nets.{k - 1}."
        for name, p in module.named_parameters():
            if name.startswith(prefix) and p.grad is not None:
                assert torch.allclose(p.grad, together[name], atol=1e-6), name
    assert total.item() == pytest.approx(sum(losses))
    assert terms["loss"].item() == pytest.approx(sum(losses) / 2)
    # Each member's own loss is reported too, so a member that stops learning shows.
    assert [terms[f"loss_member{k}"].item() for k in range(2)] == pytest.approx(losses)
    assert "loss_member0" not in _module(1)._shared_step(batch)[0]


def test_one_parameter_group_per_member_and_per_members_merge_parameters():
    module = _module(2)
    groups = module.parameter_groups()
    assert [len(g["params"]) for g in groups] == [len(list(n.parameters())) for n in module.nets]
    warmed = _module(2, merge_warmup=0.5).parameter_groups()
    assert [bool(g.get("merge_decision")) for g in warmed] == [False, True, False, True]
    for k, net in enumerate(module.nets):
        assert len(warmed[2 * k + 1]["params"]) == len(net.merge_parameters())
    seen = [id(p) for g in warmed for p in g["params"]]
    assert len(seen) == len(set(seen))


def test_members_decode_together_in_validation():
    module = _module(2, beam=2).eval()
    inputs, _ = _batch()
    expected = transducer_ensemble(module.nets, list(inputs.text), beam=2)
    assert module._decode(inputs) == expected
    assert module.transform_text(list(inputs.text), beam=2) == expected
    single = _module(1).eval()
    assert single._decode(inputs) == single.net.transduce(inputs, beam=1).outputs


def test_a_fit_of_two_members_saves_both_and_predict_reads_both(tmp_path, monkeypatch):
    cli = fit(
        tmp_path, monkeypatch, "--data.n_train", "32", "--data.n_val", "8",
        "--data.batch_size", "16", "--trainer.max_epochs", "1",
        "--model.net.init_args.hidden_channels", "16", "--model.members", "2",
    )  # fmt: skip
    path = tmp_path / "outputs" / "checkpoints" / "last.ckpt"
    loaded = load_module(GraphTransformModule, str(path), map_location="cpu")
    assert len(loaded.nets) == 2
    # Both members' validation losses are logged, and their mean is the logged loss.
    (val,) = [row for row in metrics_rows(tmp_path) if row.get("val_loss")]
    each = [float(val[f"val_loss_member{k}"]) for k in range(2)]
    assert float(val["val_loss"]) == pytest.approx(sum(each) / 2, rel=1e-5)
    for a, b in zip(cli.model.nets, loaded.nets):
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            assert torch.equal(p, q), name
    from lightning_modules.predict import predict

    texts = ["aabbc", "xyz"]
    got = [predict(ckpt=str(path), text=t) for t in texts]
    assert [g[0] for g in got] == loaded.eval().transform_text(texts)
