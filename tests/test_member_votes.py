"""GraphTransformModule(vote_ratio=r): a member whose validation likelihood is far below
the best member's is left out of the decoding, in validation and after it."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader

from lightning_modules.checkpoint_io import load_module
from lightning_modules.module import GraphTransformModule, member_votes
from pyg_grapheme.data import collate_pairs, generate
from pyg_grapheme.data.pair_dataset import PairDataset
from pyg_grapheme.models import GraphTransformNet, TransformObjective


def _module(
    members: int = 2, vote_ratio: float | None = 2.0, train_left_out: bool = False
) -> GraphTransformModule:
    torch.manual_seed(0)
    net = GraphTransformNet(hidden_channels=8, num_layers=1, attention_layers=1, heads=2,
                            dropout=0.0, output_vocab=list("abcdefghijklmnopqrstuvwxyz"))  # fmt: skip
    return GraphTransformModule(
        net, TransformObjective(), lr=0.01, members=members, vote_ratio=vote_ratio,
        train_left_out=train_left_out,
    )  # fmt: skip


def _loader(n: int = 12, batch_size: int = 5) -> DataLoader:
    return DataLoader(
        PairDataset(generate("dedupe", n, seed=3)), batch_size=batch_size, collate_fn=collate_pairs
    )


def _collapse(net: GraphTransformNet) -> None:
    """Weights far from any training: confident and wrong, as a member that diverged."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 4.0)


def _validate(module: GraphTransformModule, tmp_path) -> pl.Trainer:
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.validate(module, dataloaders=_loader(), verbose=False)
    return trainer


@pytest.mark.parametrize(
    ("nll", "ratio", "expected"),
    [
        ([0.31, 2.20], 2.0, [True, False]),  # a collapsed member, 7x its partner's
        ([1.02, 1.021], 2.0, [True, True]),  # two healthy members (the G2P fits: <= 8%)
        ([0.5, 1.0, 1.01], 2.0, [True, True, False]),  # "at most", by the ratio
        ([0.001, 0.015, 0.03], 2.0, [True, True, False]),  # below the floor, 0.01 counts
        ([float("nan"), 3.0], 2.0, [False, True]),
        ([float("nan"), float("inf")], 2.0, [True, True]),  # nothing tells them apart
        ([4.0, 1.0], 1.0, [False, True]),  # the best votes whatever the ratio
    ],
)
def test_which_members_vote(nll, ratio, expected):
    got = member_votes(torch.tensor(nll, dtype=torch.float64), ratio)
    assert got.tolist() == expected


@pytest.mark.parametrize("ratio", [0.5, 0.0, -1.0])
def test_vote_ratio_below_one_is_refused(ratio):
    with pytest.raises(ValueError, match="vote_ratio must be >= 1"):
        _module(vote_ratio=ratio)


def test_validation_nll_is_the_transducer_term_over_the_validation_set(tmp_path):
    """Nats per unit and end over every validation batch, as the transducer term counts
    them within one batch; the training's random state is untouched."""
    module = _module().eval()
    trainer = _validate(module, tmp_path)
    rng = torch.get_rng_state()
    nll = module.validation_nll()
    assert torch.equal(torch.get_rng_state(), rng)
    (whole,) = list(DataLoader(PairDataset(generate("dedupe", 12, seed=3)), batch_size=12,
                               collate_fn=collate_pairs))  # fmt: skip
    inputs, targets = whole
    with torch.no_grad():
        sup = module._targets(inputs, targets)
        expected = [
            float(module.objective(member(inputs, sup), sup)["transducer"])
            for member in module.nets
        ]
    assert nll.tolist() == pytest.approx(expected, rel=1e-6)  # float32 sums, batched
    assert trainer.num_val_batches == [3]


def test_a_collapsed_member_leaves_the_vote_and_the_checkpoint_keeps_it(tmp_path):
    module = _module()
    _collapse(module.more_nets[0])
    trainer = _validate(module, tmp_path)
    nll = module.validation_nll()
    assert float(nll[1]) > 2.0 * float(nll[0])
    assert module.member_votes.tolist() == [True, False]
    assert module.voting_nets == [module.net]
    # Validation decoded with the voting member alone, and so do test and transform_text.
    texts = ["aabbc", "xyzzy", "qq"]
    alone = module.net.eval().transform_text(texts, beam=2)
    assert module.eval().transform_text(texts, beam=2) == alone
    path = tmp_path / "voted.ckpt"
    trainer.save_checkpoint(path)
    loaded = load_module(GraphTransformModule, str(path), map_location="cpu").eval()
    assert loaded.member_votes.tolist() == [True, False]
    assert loaded.transform_text(texts, beam=2) == alone
    from lightning_modules.predict import predict

    assert [predict(ckpt=str(path), text=t, beam=2)[0] for t in texts] == alone
    # A checkpoint written before vote_ratio existed: every member votes.
    saved = torch.load(path, weights_only=False)
    del saved["member_votes"]
    torch.save(saved, tmp_path / "older.ckpt")
    older = load_module(GraphTransformModule, str(tmp_path / "older.ckpt"), map_location="cpu")
    assert older.member_votes.tolist() == [True, True]


def test_without_a_vote_ratio_every_member_votes(tmp_path):
    module = _module(vote_ratio=None)
    _collapse(module.more_nets[0])
    _validate(module, tmp_path)
    assert module.member_votes.tolist() == [True, True]


def test_a_healthy_pair_both_vote_and_a_member_that_recovers_votes_again(tmp_path):
    module = _module()
    module.member_votes.copy_(torch.tensor([True, False]))
    module.more_nets[0].load_state_dict(module.net.state_dict())  # as good as the first
    _validate(module, tmp_path)
    nll = module.validation_nll()
    assert float(nll[0]) == pytest.approx(float(nll[1]), rel=1e-12)
    assert module.member_votes.tolist() == [True, True]


class _Snapshots(pl.Callback):
    """Each member's weights at the end of every validation."""

    def __init__(self) -> None:
        self.taken: list[list[torch.Tensor]] = []

    def on_validation_end(self, trainer, pl_module) -> None:
        self.taken.append(
            [torch.cat([p.detach().flatten() for p in net.parameters()]) for net in pl_module.nets]
        )


def _fit(module: GraphTransformModule, tmp_path, epochs: int = 3) -> _Snapshots:
    snapshots = _Snapshots()
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False,
        enable_model_summary=False, default_root_dir=tmp_path, max_epochs=epochs,
        num_sanity_val_steps=0, callbacks=[snapshots],
    )  # fmt: skip
    trainer.fit(module, train_dataloaders=_loader(), val_dataloaders=_loader())
    return snapshots


@pytest.mark.parametrize("train_left_out", [False, True])
def test_a_member_left_out_of_the_vote_stops_training_unless_asked(tmp_path, train_left_out):
    """Both members train until the first validation leaves the collapsed one out; from
    then on its weights stay as they were (no forward, no gradient, no weight decay)
    while the voting member keeps training; with ``train_left_out`` both train."""
    module = _module(train_left_out=train_left_out)
    _collapse(module.more_nets[0])
    start = torch.cat([p.detach().flatten() for p in module.more_nets[0].parameters()])
    snapshots = _fit(module, tmp_path)
    assert module.member_votes.tolist() == [True, False]
    assert module.training_members == ([0, 1] if train_left_out else [0])
    first, *later = snapshots.taken
    assert not torch.equal(first[1], start)  # it trained in the first epoch
    for taken in later:
        assert not torch.equal(taken[0], first[0])  # the voting member trains on
        assert torch.equal(taken[1], first[1]) is not train_left_out
        first = taken


def test_a_member_that_votes_again_trains_again(tmp_path):
    module = _module()
    module.member_votes.copy_(torch.tensor([True, False]))
    assert module.training_members == [0]
    module.more_nets[0].load_state_dict(module.net.state_dict())  # as good as the first
    _validate(module, tmp_path)
    assert module.training_members == [0, 1]


def test_a_checkpoint_without_the_option_trains_every_member():
    """Fits written before ``train_left_out`` existed trained every member."""
    module = _module()
    module.member_votes.copy_(torch.tensor([True, False]))
    del module.hparams["train_left_out"]
    assert module.training_members == [0, 1]
