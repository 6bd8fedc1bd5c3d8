"""Training pipeline: the model learns, generalises, resumes, and runs under DDP.

Figures these tests measure are printed (``pytest -s -n 0`` shows them) and
recorded in the README.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from fit_cases import QUIET, fit, metrics_rows

from bench.ablation import held_out_scores
from lightning_modules.datamodule import GraphemeDataModule
from lightning_modules.fit import CONF_DIR
from lightning_modules.module import GraphTransformModule
from lightning_modules.predict import predict
from lightning_modules.report import checkpoint_paths
from pyg_grapheme.data import generate
from pyg_grapheme.data.held_out import HELD_OUT_SCRIPTS
from pyg_grapheme.loss import StructuralLoss
from pyg_grapheme.metrics import exact_match
from pyg_grapheme.models import GraphTransformNet, TransducerGrowth
from pyg_grapheme.models.objective import TransformObjective
from pyg_grapheme.text import graphs_from_texts

REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- gradients
def test_whole_model_loss_gradcheck(module_gradcheck, merge_margin):
    """The objective (transducer likelihood over every alignment, merge labels from the
    best alignment, structural loss) through embeddings, conv, attention, the pool
    threshold, the prediction network and the copy pointer, float64, away from merge
    boundaries."""
    torch.manual_seed(3)
    model = GraphTransformNet(
        hidden_channels=8, num_layers=2, heads=2, attention_layers=1, dropout=0.0,
        growth=TransducerGrowth(max_children=4, decoder_heads=2, slot_units=True), output_vocab=["0", "1"],
    )  # fmt: skip
    objective = TransformObjective(
        StructuralLoss(grad="autodiff", outer_iter=2, inner_iter=3, epsilon=0.5, epsilon_start=1.0),
        structural_weight=1.0,
    )
    # Merging, relabelling, growing ("mn" -> "mmnn") and emptying ("pp" -> "") pairs.
    inputs = graphs_from_texts(["aab", "xyz", "q", "mn", "pp"])
    inputs.x = inputs.x.double()
    model = model.double()
    targets = model.targets(inputs, ["ab", "x0", "q", "mmnn", ""])
    targets.unit_rows = targets.unit_rows.double()

    def loss_fn(m: GraphTransformNet) -> torch.Tensor:
        return objective(m(inputs, targets, with_classes=True), targets)["loss"]

    assert merge_margin(model, inputs) > 1e-3, "finite differences would cross a merge boundary"
    terms = objective(model(inputs, targets, with_classes=True), targets)
    assert float(terms["infeasible"]) == 0.0 and float(terms["merge"]) > 0.0
    names = [
        "embed.weight",
        "encoder.convs.0.lin.weight",
        "encoder.attention.0.attn.in_proj_weight",
        "signature_gain.weight",
        "pool.threshold_logit",
        "growth.slot_end.weight",
        "growth.slot_generate.weight",
        "growth.slot_copy.weight",
        "growth.decoder.lstm.weight_ih_l0",
        "growth.copy_query.weight",
    ]
    assert module_gradcheck(model, loss_fn, names=names, atol=1e-6, rtol=1e-4, fast_mode=True)


# --------------------------------------------------------------------------- descent
class _EpochLoss(pl.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.losses.append(float(trainer.callback_metrics["train_loss_epoch"]))


def test_descent_case_descends_and_decodes_exactly(tmp_path):
    """ "abc"->"ab", "xyz"->"xy", "123"->"12": GRAPHEME's loss rose here."""
    pl.seed_everything(0, verbose=False)
    data = GraphemeDataModule(
        train_path=str(CONF_DIR / "descent.jsonl"),
        val_path=str(CONF_DIR / "descent.jsonl"),
        batch_size=3,
    )
    module = GraphTransformModule(GraphTransformNet(output_vocab=data.output_vocab), augment=0.0)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    record = _EpochLoss()
    trainer = pl.Trainer(
        max_epochs=100,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[record],
        deterministic=True,
        gradient_clip_val=1.0,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, datamodule=data)
    losses = record.losses
    # Dropout makes single epochs noisy (one batch an epoch); the descent is of the
    # ten-epoch means, which must fall from each block to the next but at most one.
    blocks = [sum(losses[k : k + 10]) / 10 for k in range(0, 100, 10)]
    falls = sum(b < a for a, b in itertools.pairwise(blocks))
    print(
        f"\ndescent: loss {losses[0]:.4f} -> {losses[-1]:.6f} "
        f"({losses[-1] / losses[0]:.2%} of start), ten-epoch means fall {falls} of 9 times"
    )
    assert len(losses) == 100
    assert falls >= 8
    assert losses[-1] < 0.05 * losses[0]
    changed = [k for k, v in module.state_dict().items() if not torch.equal(v, before[k])]
    assert "net.pool.threshold_logit" in changed and "net.embed.weight" in changed
    assert module.transform_text(["abc", "xyz", "123"]) == ["ab", "xy", "12"]


# --------------------------------------------------------------------------- generalisation
# Exact on the longer Latin strings; on each unseen script at most 2 of the 200 strings
# wrong. The unseen-script suites sit at an edge: one string of 200 flips with the training
# trajectory (the torch thread count, a package's rounding), e.g. drop_last's Cyrillic at
# 0.995 or 1.000 for one seed (bench/results/held_out.md records the figures).
UNSEEN_SCRIPT_BOUND = 0.99


def assert_generalises(scores: dict[str, float]) -> None:
    assert scores["latin_2x"] == 1.0, scores
    assert set(scores) == {"latin_2x", *HELD_OUT_SCRIPTS}
    assert all(scores[script] >= UNSEEN_SCRIPT_BOUND for script in HELD_OUT_SCRIPTS), scores


# One training of about a minute per mechanism runs by default (merge: dedupe, grow:
# double, delete and empty: strip, which deletes the spaces around a string and empties
# strings of spaces only); the tasks that repeat a mechanism (copy, drop_last,
# squeeze_spaces, spaced) are `long`, so the suite stays under 10 minutes on 2 cores:
# `pytest -m long` runs them, and bench/generic_config.py reproduces every README row.
@pytest.mark.slow
@pytest.mark.parametrize(
    "task",
    [
        pytest.param("copy", marks=pytest.mark.long),
        pytest.param("drop_last", marks=pytest.mark.long),
        "dedupe",
        pytest.param("squeeze_spaces", marks=pytest.mark.long),
    ],
)
def test_held_out_generalisation(task, tmp_path, monkeypatch):
    """Each task's config; new Latin strings up to 2x the length, and unseen scripts."""
    cli = fit(tmp_path, monkeypatch, "--config", str(CONF_DIR / f"{task}.yaml"))
    _, last = checkpoint_paths(cli.trainer)
    model = GraphTransformModule.load_from_checkpoint(last, map_location="cpu").net
    seen = {p.input for p in cli.datamodule.train_pairs}
    scores = held_out_scores(model, task, seen, cli.datamodule.hparams.max_len)
    print(f"\n{task}: " + " ".join(f"{k}={v:.4f}" for k, v in scores.items()))
    assert_generalises(scores)


def _write_jsonl(path: Path, pairs) -> None:
    path.write_text(
        "".join(json.dumps({"input": p.input, "target": p.target}) + "\n" for p in pairs)
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "task",
    [
        "double",
        pytest.param("spaced", marks=pytest.mark.long),
        "strip",
    ],
)
def test_generic_config_learns_tasks_that_grow_and_empty(task, tmp_path, monkeypatch):
    """conf/pairs.yaml on 2,000 JSONL pairs of 1-8 Latin clusters: 2x-long strings and
    unseen scripts. (strip empties inputs of spaces only; double and spaced grow.)"""
    train = generate(task, 2000, seed=0, alphabet="latin", min_len=1, max_len=8)
    val = generate(task, 200, seed=1, alphabet="latin", min_len=1, max_len=16,
                   exclude={p.input for p in train})  # fmt: skip
    _write_jsonl(tmp_path / "train.jsonl", train)
    _write_jsonl(tmp_path / "val.jsonl", val)
    cli = fit(
        tmp_path, monkeypatch, "--config", str(CONF_DIR / "pairs.yaml"),
        "--data.train_path", "train.jsonl", "--data.val_path", "val.jsonl",
    )  # fmt: skip
    _, last = checkpoint_paths(cli.trainer)
    model = GraphTransformModule.load_from_checkpoint(last, map_location="cpu").net
    scores = held_out_scores(model, task, {p.input for p in train}, max_len=8)
    print(f"\n{task} (pairs.yaml): " + " ".join(f"{k}={v:.4f}" for k, v in scores.items()))
    assert_generalises(scores)


@pytest.mark.parametrize("task", ["copy", "drop_last", "dedupe", "squeeze_spaces"])
def test_task_configs_are_the_generic_config_on_their_data(task, tmp_path, monkeypatch):
    """A task config trains exactly what conf/pairs.yaml trains on the same pairs, so its
    held-out figures above are the generic config's figures for that task."""
    from lightning_modules.fit import GraphemeCLI

    def parsed(*args: str) -> dict:
        monkeypatch.setattr(sys, "argv", ["fit"])
        cli = GraphemeCLI(
            GraphTransformModule, GraphemeDataModule, run=False, args=list(args),
            parser_kwargs={"default_config_files": [str(CONF_DIR / "default.yaml")]},
        )  # fmt: skip
        config = cli.config.as_dict()
        return {"model": config["model"], "trainer": config["trainer"], "data": cli.datamodule}

    monkeypatch.chdir(tmp_path)
    own = parsed("--config", str(CONF_DIR / f"{task}.yaml"))
    pairs = own["data"].train_pairs
    _write_jsonl(tmp_path / "train.jsonl", pairs)
    _write_jsonl(tmp_path / "val.jsonl", own["data"].val_pairs)
    generic = parsed(
        "--config", str(CONF_DIR / "pairs.yaml"),
        "--data.train_path", "train.jsonl", "--data.val_path", "val.jsonl",
    )  # fmt: skip
    assert own["model"] == generic["model"] and own["trainer"] == generic["trainer"]
    read = generic["data"].train_pairs
    assert [(p.input, p.target) for p in read] == [(p.input, p.target) for p in pairs]


# --------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One short default (dedupe) fit shared by the CLI tests."""
    tmp_path = tmp_path_factory.mktemp("fit")
    mp = pytest.MonkeyPatch()
    try:
        cli = fit(
            tmp_path, mp, "--trainer.max_epochs", "3", "--data.n_train", "600", "--data.n_val", "60"
        )
    finally:
        mp.undo()
    return tmp_path, cli


def test_fit_logs_every_step_and_writes_report(trained_run, capsys):
    tmp_path, cli = trained_run
    rows = metrics_rows(tmp_path)
    columns = set(rows[0])
    for name in (
        "train_loss_step",
        "train_transducer_step",
        "train_merge_step",
        "train_structural_step",
        "train_infeasible_step",
        "train_threshold_step",
        "train_merge_ratio_step",
        "val_exact_match",
        "val_cer",
        "val_uer",
    ):
        assert name in columns, name
    # 600 pairs in batches of 32: 19 steps an epoch, 3 epochs; every one logged, once.
    steps = [int(r["step"]) for r in rows if r.get("train_loss_step")]
    assert steps == list(range(3 * 19))
    log_dir = Path(cli.trainer.log_dir)
    for png in ("loss_curves.png", "threshold_curves.png", "morph_diagrams.png"):
        assert (tmp_path / log_dir / png).stat().st_size > 1000
    checkpoints = tmp_path / "outputs" / "checkpoints"
    assert (checkpoints / "last.ckpt").exists()
    assert any(p.name.startswith("best-") for p in checkpoints.iterdir())


def test_predict_text_and_jsonl(trained_run, capsys, tmp_path):
    run_dir, _ = trained_run
    ckpt = str(run_dir / "outputs" / "checkpoints" / "last.ckpt")
    # What the checkpoint's network answers (three epochs do not train it to the end).
    net = GraphTransformModule.load_from_checkpoint(ckpt, map_location="cpu").net
    assert predict(ckpt, text="aabbbc") == net.transform_text(["aabbbc"])
    assert capsys.readouterr().out.strip() == net.transform_text(["aabbbc"])[0]
    path = tmp_path / "pairs.jsonl"
    rows = [
        {"input": "xxyz", "target": "xyz"},
        {"input": "qqq", "target": "q"},
        {"input": "mn", "target": "mn"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    outputs = predict(ckpt, input=str(path))
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[:3] == [f"{r['input']}\t{o}" for r, o in zip(rows, outputs)]
    wanted = exact_match(outputs, [r["target"] for r in rows])
    assert re.fullmatch(rf"exact_match={wanted:.4f} cer=\d\.\d{{4}} uer=\d\.\d{{4}} n=3", lines[-1])


def test_predict_module_entry_point(trained_run):
    run_dir, _ = trained_run
    ckpt = run_dir / "outputs" / "checkpoints" / "last.ckpt"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lightning_modules.predict",
            "--ckpt",
            str(ckpt),
            "--text",
            "ddeeff",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    net = GraphTransformModule.load_from_checkpoint(str(ckpt), map_location="cpu").net
    assert done.stdout == net.transform_text(["ddeeff"])[0] + "\n"  # one line, maybe empty


def test_same_input_same_merges_across_runs_and_reload(tmp_path, monkeypatch):
    texts = ["aabbbc", "xyyz", "qqqq", "hello  world"]
    results = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        cli = fit(
            tmp_path / run,
            monkeypatch,
            "--trainer.max_epochs",
            "1",
            "--data.n_train",
            "128",
            "--data.n_val",
            "32",
        )
        model = cli.model.net.eval()
        out = model.transduce(graphs_from_texts(texts))
        results.append((cli.model.state_dict(), out.cluster, model.transform_text(texts)))
        last = tmp_path / run / "outputs" / "checkpoints" / "last.ckpt"
        reloaded = GraphTransformModule.load_from_checkpoint(str(last), map_location="cpu")
        out2 = reloaded.net.eval().transduce(graphs_from_texts(texts))
        assert torch.equal(out2.cluster, out.cluster)
        assert reloaded.transform_text(texts) == results[-1][2]
        # ... and independent of what else is in the batch.
        assert [model.transform_text([t])[0] for t in texts] == results[-1][2]
    (state_a, cluster_a, text_a), (state_b, cluster_b, text_b) = results
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert torch.equal(cluster_a, cluster_b) and text_a == text_b


def test_last_checkpoint_without_validation_holds_the_last_epoch(tmp_path, monkeypatch):
    # A run that validates every k-th epoch with k past its last one never validates; its
    # last.ckpt must still be written, and hold the weights training ended with.
    cli = fit(
        tmp_path, monkeypatch,
        "--trainer.max_epochs", "2", "--trainer.check_val_every_n_epoch", "5",
        "--data.n_train", "64", "--data.n_val", "16",
    )  # fmt: skip
    last = tmp_path / "outputs" / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, map_location="cpu", weights_only=False)
    assert checkpoint["epoch"] == 1 and checkpoint["global_step"] == cli.trainer.global_step
    state = cli.model.state_dict()
    assert all(torch.equal(checkpoint["state_dict"][k], state[k]) for k in state)
    assert not list((tmp_path / "outputs" / "checkpoints").glob("best-*"))


# `long`: test_exact_resume.py kills a fit (SIGKILL) mid-epoch and resumes it to the
# weights of a fit never stopped, bit for bit, and test_checkpoint_io.py checks that a
# checkpoint write is atomic; this one kills the default fit at whatever moment it has
# written its first epoch's checkpoint.
@pytest.mark.slow
@pytest.mark.long
def test_resume_after_kill_continues_where_it_left_off(tmp_path):
    args = [
        sys.executable,
        "-m",
        "lightning_modules.fit",
        "--trainer.max_epochs",
        "200",
        "--data.n_train",
        "96",
        "--data.n_val",
        "16",
        *QUIET,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        args,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    last = tmp_path / "outputs" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            if last.exists():
                try:
                    if torch.load(last, map_location="cpu", weights_only=False)["epoch"] >= 1:
                        break
                except Exception:  # the file may be mid-rename
                    pass
            time.sleep(0.5)
        else:
            pytest.fail("fit wrote no checkpoint in time")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    state = torch.load(last, map_location="cpu", weights_only=False)
    epoch, step = state["epoch"], state["global_step"]
    done = subprocess.run(
        [*args[:3], "--trainer.max_epochs", str(epoch + 2), *args[5:], "--ckpt_path", "last"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    resumed = torch.load(last, map_location="cpu", weights_only=False)
    assert resumed["epoch"] == epoch + 1
    assert resumed["global_step"] == step + 96 // 32
    assert "Restoring states from the checkpoint" in done.stderr + done.stdout


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path):
    # Validation pairs alternate: short dedupe strings, which four epochs learn, and pairs
    # whose target holds a grapheme outside the model's vocabulary, which it can never
    # produce. The distributed sampler hands the even pairs to rank 0 and the odd ones to
    # rank 1, so the two halves score differently and only the synchronised figure equals
    # the exact match on all 64 pairs.
    val = tmp_path / "val.jsonl"
    letters = "abcdefgh"
    lines = []
    for k in range(32):
        text = letters[k % 8] * (1 + k % 2) + letters[(k // 2) % 8] * (k // 16)
        lines.append(json.dumps({"input": text, "target": "".join(dict.fromkeys(text))}))
        lines.append(json.dumps({"input": letters[k % 8], "target": "\u03a9"}))
    val.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lightning_modules.fit",
            "--trainer.strategy",
            "ddp",
            "--trainer.devices",
            "2",
            "--trainer.max_epochs",
            "4",
            "--model.lr_schedule",
            "constant",
            "--data.n_train",
            "1024",
            "--data.val_path",
            str(val),
            *QUIET,
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("=== validation report ===") == 1  # rank zero only
    last = tmp_path / "outputs" / "checkpoints" / "last.ckpt"
    match = re.search(r"exact_match=([\d.]+) cer=([\d.]+)", done.stdout)
    data = GraphemeDataModule(n_train=1024, val_path=str(val))
    model = GraphTransformModule.load_from_checkpoint(last, map_location="cpu").net
    outputs = model.transform_text([p.input for p in data.val_pairs])
    solved = [o == p.target for o, p in zip(outputs, data.val_pairs)]
    assert not any(solved[1::2]) and any(solved[0::2])  # rank 1 scores 0, rank 0 does not
    assert match and float(match.group(1)) == pytest.approx(sum(solved) / 64, abs=5e-5)
