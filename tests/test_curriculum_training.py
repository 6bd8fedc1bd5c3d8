"""Curriculum training (levels in turn in one run) and ``--model.init_from``.

A folder of three tiny levels whose targets need new output units at each level; tiny
networks, one or two epochs per level. What is checked: the weights carry over from one
level to the next, the vocabulary grows with its learnt rows kept exactly (and the
optimizer's moments with them), a run stopped mid-curriculum resumes on its level, epoch
and vocabulary, and ``init_from`` maps a checkpoint's units onto a new vocabulary.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from fit_cases import fit

from lightning_modules.datamodule import GraphemeDataModule
from lightning_modules.fit import CONF_DIR
from lightning_modules.level_schedule import LevelSchedule
from lightning_modules.module import GraphTransformModule
from lightning_modules.optimizer_growth import grow_optimizer
from lightning_modules.weights_from import load_matching_weights
from pyg_grapheme.data import TextPair
from pyg_grapheme.data.level_folder import hold_out, level_files, parse_levels
from pyg_grapheme.models import GraphTransformNet, TransducerGrowth
from pyg_grapheme.text import graphs_from_texts

TINY = {
    "hidden_channels": 8, "num_layers": 1, "heads": 2, "attention_layers": 1,
    "post_pool_layers": 1, "dropout": 0.0, "relative_position": True,  # default.yaml's
}  # fmt: skip
TINY_ARGS = [
    *(f"--model.net.init_args.{k}={v}" for k, v in TINY.items()),
    "--model.net.init_args.growth.init_args.decoder_heads=2",
    "--model.net.init_args.growth.init_args.max_children=4",
    "--model.net.init_args.growth.init_args.joint_layers=1",
    "--model.net.init_args.growth.init_args.slot_units=true",  # default.yaml's
    "--data.batch_size=4",
]

# Level 1 writes 1 and 2; level 2 adds 3 and 4 (one file, validation held out); level 3
# adds + (and uses 1 again).
LEVELS = {
    "level_1_train.jsonl": [("ab", "1"), ("ba", "2"), ("aab", "12"), ("bba", "21")],
    "level_1_val.jsonl": [("abb", "11"), ("baa", "22")],
    "level_2.jsonl": [("ab", "3"), ("ba", "4"), ("abab", "34"), ("baba", "43"), ("aa", "31"),
                      ("bb", "42")],
    "level_3_train.jsonl": [("ab", "1+"), ("ba", "+2"), ("aba", "4+1")],
    "level_3_val.jsonl": [("bab", "+1")],
}  # fmt: skip
VOCAB = ["1", "2", "3", "4", "+"]


def _levels(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, pairs in LEVELS.items():
        lines = [json.dumps({"input": i, "target": t}) for i, t in pairs]
        (folder / name).write_text("\n".join(lines) + "\n")
    return folder


def _tiny_net(vocab, seed=0, hidden=8) -> GraphTransformNet:
    torch.manual_seed(seed)
    return GraphTransformNet(
        **{**TINY, "hidden_channels": hidden},
        growth=TransducerGrowth(max_children=4, decoder_heads=2, slot_units=True),
        output_vocab=vocab,
    )


# --------------------------------------------------------------------------- level folder
def test_parse_levels():
    assert parse_levels("1..7") == [1, 2, 3, 4, 5, 6, 7]
    assert parse_levels(" 3 .. 4 ") == [3, 4]
    assert parse_levels("1,3,5") == [1, 3, 5]
    assert parse_levels("4") == [4] and parse_levels(4) == [4] and parse_levels([2, 1]) == [2, 1]
    for bad, message in [
        ("7..1", "ends before it starts"), ("1,,2", "a range like"), ("", "a range like"),
        ("0..2", "count from 1"), ("1,2,1", "level 1 twice"), ([], "non-empty list"),
        (True, "levels like"),
    ]:  # fmt: skip
        with pytest.raises(ValueError, match=message):
            parse_levels(bad)


def test_level_files_and_hold_out(tmp_path):
    folder = _levels(tmp_path / "levels")
    one, two = level_files(folder, 1), level_files(folder, 2)
    assert (one.train.name, one.val.name, one.whole) == (
        "level_1_train.jsonl", "level_1_val.jsonl", None,
    )  # fmt: skip
    assert (two.train, two.val, two.whole.name) == (None, None, "level_2.jsonl")
    with pytest.raises(FileNotFoundError, match=r"neither level_4_train\.jsonl and level_4_val"):
        level_files(folder, 4)
    (folder / "level_4_train.jsonl").write_text("")
    with pytest.raises(FileNotFoundError, match=r"has no partner level_4_val\.jsonl"):
        level_files(folder, 4)
    pairs = [TextPair(i, t) for i, t in [("a", "1"), ("b", "2"), ("a", "3"), ("c", "4")]]
    train, val = hold_out(pairs, 0.34, seed=0)
    # Three inputs, round(1.02) = 1 held out, with every pair that has it; order kept.
    assert len({p.input for p in val}) == 1
    assert {p.input for p in train} & {p.input for p in val} == set()
    assert sorted(train + val, key=pairs.index) == pairs
    assert hold_out(pairs, 0.34, seed=0) == (train, val)
    with pytest.raises(ValueError, match="at least two distinct inputs"):
        hold_out(pairs[:1], 0.5, seed=0, where="x.jsonl")


def test_datamodule_levels(tmp_path):
    folder = _levels(tmp_path / "levels")
    data = GraphemeDataModule(levels="1..3", levels_dir=str(folder), val_share=0.34)
    assert data.current_level == 1 and data.next_level == 2
    assert [p.input for p in data.train_pairs] == ["ab", "ba", "aab", "bba"]
    assert data.output_units == "graphemes" and data.output_vocab == ["1", "2"]
    data.set_level(2)
    # Level 2's six inputs: two held out for validation, the rest trains.
    assert (len(data.train_pairs), len(data.val_pairs)) == (4, 2)
    assert data.output_vocab == ["1", "2", "3", "4"]
    assert data.state_dict() == {"level": 2}
    data.set_level(3)
    assert data.output_vocab == VOCAB and data.next_level is None
    fresh = GraphemeDataModule(levels=[1, 2, 3], levels_dir=str(folder), val_share=0.34)
    fresh.load_state_dict({"level": 3})
    assert fresh.current_level == 3 and fresh.output_vocab == VOCAB
    with pytest.raises(ValueError, match=r"at level 3, which data\.levels \[1, 2\]"):
        GraphemeDataModule(levels="1..2", levels_dir=str(folder)).load_state_dict({"level": 3})
    with pytest.raises(ValueError, match="go together"):
        GraphemeDataModule(levels="1..2")
    with pytest.raises(FileNotFoundError, match="level 4: "):
        GraphemeDataModule(levels="3..4", levels_dir=str(folder))


# --------------------------------------------------------------------------- growth
def test_extend_vocabulary_keeps_learnt_rows_and_ids():
    net = _tiny_net(["1", "2"]).eval()
    with torch.no_grad():
        net.growth.vocab_head.weight.normal_()
    rows = net.growth.vocab_head.weight.detach().clone()
    bias = net.growth.vocab_head.bias.detach().clone()
    data = graphs_from_texts(["ab", "ba"])
    data.num_graphs = 2
    before = net(data, net.targets(data, ["12", "2"])).lattice.emit
    net.extend_vocabulary(["3", "+"])
    assert net.output_vocab == ["1", "2", "3", "+"] and net.growth.vocab_size == 4
    head = net.growth.vocab_head
    assert head.weight.shape == (4, 8) and head.bias.shape == (4,)
    assert torch.equal(head.weight[:2], rows) and torch.equal(head.bias[:2], bias)
    # New units that are never written leave the old units' probabilities as they were.
    with torch.no_grad():
        head.bias[2:] = -1e4
    after = net(data, net.targets(data, ["12", "2"])).lattice.emit
    assert torch.allclose(after, before, atol=1e-6)
    # The grown net is what a checkpoint of it rebuilds.
    _tiny_net(net.output_vocab, seed=1).load_state_dict(net.state_dict())
    with pytest.raises(ValueError, match=r"already in the vocabulary: \['2'\]"):
        net.extend_vocabulary(["5", "2"])
    empty = _tiny_net([])
    assert empty.growth.vocab_head is None
    empty.extend_vocabulary(["x"])
    assert empty.growth.vocab_head.weight.shape == (1, 8) and empty.output_vocab == ["x"]


def test_grow_optimizer_moves_state_to_the_grown_parameters():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(5, 3)).sum().backward()
    optimizer.step()
    before = dict(model.named_parameters())
    old_state = {name: dict(optimizer.state[p]) for name, p in before.items()}
    grown = torch.nn.Linear(2, 4)
    with torch.no_grad():
        grown.weight[:2] = model[1].weight
        grown.bias[:2] = model[1].bias
    model[1] = grown
    extra = torch.nn.Parameter(torch.zeros(2))
    model.register_parameter("extra", extra)
    after = dict(model.named_parameters())
    grow_optimizer(optimizer, before, after)
    params = optimizer.param_groups[0]["params"]
    assert params[2] is grown.weight and params[3] is grown.bias and params[4] is extra
    state = optimizer.state[grown.weight]
    assert torch.equal(state["exp_avg"][:2], old_state["1.weight"]["exp_avg"])
    assert torch.equal(state["exp_avg"][2:], torch.zeros(2, 2))
    assert torch.equal(state["step"], old_state["1.weight"]["step"])
    assert before["1.weight"] not in optimizer.state and extra not in optimizer.state
    (model(torch.randn(5, 3)).sum() + extra.sum()).backward()
    optimizer.step()  # every parameter steps, the new ones from zero moments
    assert optimizer.state[extra]["step"] == 1
    with pytest.raises(ValueError, match="lost parameters"):
        grow_optimizer(optimizer, after, {})


# --------------------------------------------------------------------------- one run
class _Snapshot(pl.Callback):
    """Records the network and the optimizer's head moments at the end of each epoch (where
    it stands in the callback list says before or after the level change) and the
    network at the start of each epoch."""

    def __init__(self) -> None:
        self.end: list[tuple[dict, list[str], torch.Tensor]] = []
        self.start: list[dict] = []

    def on_train_epoch_start(self, trainer, pl_module):
        self.start.append({k: v.clone() for k, v in pl_module.net.state_dict().items()})

    def on_train_epoch_end(self, trainer, pl_module):
        head = pl_module.net.growth.vocab_head.weight
        moment = trainer.optimizers[0].state[head]["exp_avg"].clone()
        state = {k: v.clone() for k, v in pl_module.net.state_dict().items()}
        self.end.append((state, list(pl_module.net.output_vocab), moment))


def test_levels_in_one_run_keep_weights_and_grow_the_vocabulary(tmp_path):
    folder = _levels(tmp_path / "levels")
    data = GraphemeDataModule(levels="1..3", levels_dir=str(folder), val_share=0.34, batch_size=4)
    module = GraphTransformModule(_tiny_net(data.output_vocab), lr=0.01)
    before, after = _Snapshot(), _Snapshot()
    schedule = LevelSchedule(advance_threshold=0.0, min_epochs_per_level=1)
    trainer = pl.Trainer(
        max_epochs=-1, callbacks=[before, schedule, after], logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(module, datamodule=data)
    # A threshold of 0 passes every level after its one epoch: three epochs, three levels.
    assert trainer.current_epoch == 3 and schedule.finished
    assert [h["level"] for h in schedule.history] == [1, 2, 3]
    assert all(h["reached"] and h["epochs"] == 1 for h in schedule.history)
    assert [vocab for _, vocab, _ in after.end] == [VOCAB[:4], VOCAB, VOCAB]
    assert module.hparams["net"]["init_args"]["output_vocab"] == VOCAB
    head = "growth.vocab_head.weight"
    for epoch, width in ((0, 2), (1, 4)):
        (learnt, _, moment), (grown, _, grown_moment) = before.end[epoch], after.end[epoch]
        # The learnt rows and their Adam moments are kept exactly; the new rows are new.
        assert torch.equal(grown[head][:width], learnt[head])
        assert torch.equal(grown_moment[:width], moment)
        assert not grown_moment[width:].any()
        # Every weight the next level starts from is the one this level ended with.
        start = after.start[epoch + 1]
        assert all(torch.equal(start[k], grown[k]) for k in grown)
    # ... and the run trained: level 1's rows moved during level 2.
    assert not torch.equal(after.end[1][0][head][:2], after.end[0][0][head][:2])


# --------------------------------------------------------------------------- CLI, resume
def _curriculum(tmp_path, monkeypatch, *args):
    return fit(
        tmp_path, monkeypatch, "--config", str(CONF_DIR / "curriculum.yaml"),
        "--data.levels", "1..3", "--data.levels_dir", str(tmp_path / "levels"),
        "--data.val_share", "0.34", "--torch_threads", "1", *TINY_ARGS, *args,
    )  # fmt: skip


def test_curriculum_resumes_mid_level(tmp_path, monkeypatch, capsys):
    _levels(tmp_path / "levels")
    # A threshold no score reaches: every level takes max_epochs_per_level = 2 epochs.
    # The first run stops after 3 epochs, one epoch into level 2.
    never = ["--curriculum.advance_threshold", "1.01", "--curriculum.max_epochs_per_level", "2"]
    first = _curriculum(tmp_path, monkeypatch, *never, "--trainer.max_epochs", "3")
    last = tmp_path / "outputs" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, map_location="cpu", weights_only=True)
    assert saved["epoch"] == 2
    assert saved["GraphemeDataModule"]["level"] == 2
    (schedule_state,) = [v for k, v in saved["callbacks"].items() if "LevelSchedule" in k]
    assert schedule_state["epochs_on_level"] == 1 and not schedule_state["finished"]
    assert saved["hyper_parameters"]["net"]["init_args"]["output_vocab"] == VOCAB[:4]
    assert "stopped on level 2 after 1 epoch on it" in capsys.readouterr().out
    # The checkpoint rebuilds the grown network outside the CLI.
    reloaded = GraphTransformModule.load_from_checkpoint(str(last), map_location="cpu")
    assert reloaded.net.output_vocab == VOCAB[:4]
    assert torch.equal(
        reloaded.net.growth.vocab_head.weight, first.model.net.growth.vocab_head.weight
    )

    second = _curriculum(
        tmp_path, monkeypatch, *never, "--trainer.max_epochs", "-1", "--ckpt_path", "last"
    )
    out = capsys.readouterr().out
    assert "on level 2 after 1 epoch on it; output vocabulary 4 units" in out
    assert "level 2 done after 2 epochs" in out and "level 3 next, with 1 new output units" in out
    done = torch.load(last, map_location="cpu", weights_only=True)
    # One more epoch on level 2, two on level 3: the run ends after epoch 5.
    assert done["epoch"] == 5 and done["GraphemeDataModule"]["level"] == 3
    (schedule_state,) = [v for k, v in done["callbacks"].items() if "LevelSchedule" in k]
    assert schedule_state["finished"]
    assert [(h["level"], h["epochs"], h["reached"]) for h in schedule_state["history"]] == [
        (1, 2, False), (2, 2, False), (3, 2, False),
    ]  # fmt: skip
    assert second.model.net.output_vocab == VOCAB
    assert done["hyper_parameters"]["net"]["init_args"]["output_vocab"] == VOCAB


def test_curriculum_refuses_a_schedule_it_cannot_follow(tmp_path, monkeypatch):
    _levels(tmp_path / "levels")
    with pytest.raises(ValueError, match="lr_schedule onecycle"):
        _curriculum(tmp_path, monkeypatch, "--model.lr_schedule", "onecycle")
    with pytest.raises(ValueError, match="EarlyStopping"):
        _curriculum(
            tmp_path, monkeypatch, "--trainer.callbacks+=EarlyStopping",
            "--trainer.callbacks.monitor=val_exact_match",
        )  # fmt: skip
    # A merge warm-up counts its share of a training whose length a curriculum does not
    # know: refused before the first step, so nothing is trained or written.
    with pytest.raises(ValueError, match="merge_warmup needs a training of known length"):
        _curriculum(
            tmp_path, monkeypatch, "--trainer.max_epochs", "-1",
            "--model.objective.init_args.merge_warmup", "0.2",
        )  # fmt: skip
    assert not (tmp_path / "outputs" / "checkpoints").exists()


# --------------------------------------------------------------------------- init_from
def _checkpoint(tmp_path, monkeypatch) -> Path:
    """A one-epoch run on level 1 (vocabulary 1, 2)."""
    _levels(tmp_path / "levels")
    fit(
        tmp_path, monkeypatch, "--data.train_path", str(tmp_path / "levels/level_1_train.jsonl"),
        "--data.val_path", str(tmp_path / "levels/level_1_val.jsonl"),
        "--trainer.max_epochs", "1", *TINY_ARGS,
    )  # fmt: skip
    return tmp_path / "outputs" / "checkpoints" / "last.ckpt"


def test_init_from_maps_weights_by_name_and_units_by_unit(tmp_path, monkeypatch):
    ckpt = _checkpoint(tmp_path, monkeypatch)
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    # "0" is new and sorts first, so "1" and "2" move from ids 0, 1 to ids 1, 2.
    net = _tiny_net(["0", "1", "2"], seed=5)
    fresh_row = net.growth.vocab_head.weight[0].detach().clone()
    module = GraphTransformModule(net, init_from=str(ckpt))
    head = module.net.growth.vocab_head
    assert torch.equal(head.weight[1:], saved["net.growth.vocab_head.weight"])
    assert torch.equal(head.bias[1:], saved["net.growth.vocab_head.bias"])
    assert torch.equal(head.weight[0], fresh_row)
    state = module.net.state_dict()
    assert all(torch.equal(state[k[4:]], v) for k, v in saved.items() if "vocab_head" not in k)
    assert "init_from" not in module.hparams
    # Dropping a unit drops its row.
    assert torch.equal(
        GraphTransformModule(_tiny_net(["2"]), init_from=str(ckpt)).net.growth.vocab_head.weight,
        saved["net.growth.vocab_head.weight"][1:],
    )
    with pytest.raises(ValueError, match=r"net\.embed\.weight has shape \(8, \d+\) in the "):
        load_matching_weights(_tiny_net(["1"], hidden=12), ckpt)
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_matching_weights(net, tmp_path / "missing.ckpt")


def test_init_from_on_the_command_line(tmp_path, monkeypatch, capsys):
    ckpt = _checkpoint(tmp_path, monkeypatch)
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    # Level 2's data adds units 3 and 4 after 1 and 2; no training step (no batch) runs.
    cli = fit(
        tmp_path, monkeypatch, "--data.train_path", str(tmp_path / "levels/level_2.jsonl"),
        "--data.val_path", str(tmp_path / "levels/level_1_val.jsonl"),
        "--model.init_from", str(ckpt), "--trainer.max_epochs", "1",
        "--trainer.limit_train_batches", "0", "--trainer.limit_val_batches", "0", *TINY_ARGS,
    )  # fmt: skip
    assert "model.init_from: weights of" in capsys.readouterr().out
    net = cli.model.net
    assert net.output_vocab == ["1", "2", "3", "4"]
    rows = saved["net.growth.vocab_head.weight"]
    assert torch.equal(net.growth.vocab_head.weight[:2], rows)
    assert torch.equal(net.embed.weight, saved["net.embed.weight"])
    with pytest.raises(ValueError, match=r"net\.embed\.weight has shape"):
        fit(
            tmp_path, monkeypatch, "--data.train_path", str(tmp_path / "levels/level_2.jsonl"),
            "--data.val_path", str(tmp_path / "levels/level_1_val.jsonl"),
            "--model.init_from", str(ckpt), *TINY_ARGS,
            "--model.net.init_args.hidden_channels=12",
        )  # fmt: skip


# --------------------------------------------------------------------------- bench
def test_bench_table_scratch_and_warm_start(tmp_path, capsys):
    from bench.curriculum import main as bench

    folder = _levels(tmp_path / "levels")
    figures = tmp_path / "bench.json"
    bench(["--levels-dir", str(folder), "--levels", "1,3", "--epochs", "1", "--hidden", "8",
           "--batch-size", "4", "--json", str(figures)])  # fmt: skip
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "| level | start | loss@0 | loss@1 | loss@1 | CER@1 | EM@1 | CPU s |"
    assert [line.split(" | ")[:2] for line in lines[2:]] == [
        ["| 1", "scratch"], ["| 3", "scratch"], ["| 3", "level 1"],
    ]  # fmt: skip
    runs = json.loads(figures.read_text())["runs"]
    assert [(r["level"], r["start"], len(r["epochs"])) for r in runs] == [
        (1, "scratch", 2), (3, "scratch", 2), (3, "warm", 2),
    ]  # fmt: skip
    # Same seed, other starting weights: the warm run starts from another loss.
    assert runs[1]["epochs"][0]["val_loss"] != runs[2]["epochs"][0]["val_loss"]
    with pytest.raises(FileNotFoundError, match="needs level_2_train/val"):
        bench(["--levels-dir", str(folder), "--levels", "2", "--epochs", "1"])
