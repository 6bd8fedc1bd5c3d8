"""The commands as a user meets them: one-line errors, the config layout, checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from fit_cases import run_in_process

from lightning_modules.component_config import build_component, component_config
from lightning_modules.module import GraphTransformModule
from pyg_grapheme.loss import StructuralLoss
from pyg_grapheme.models import GraphTransformNet, TransformObjective

REPO = Path(__file__).resolve().parent.parent


def run(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_line_error(done: subprocess.CompletedProcess, prog: str, message: str) -> None:
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(f"{prog}: error: ")]
    assert errors == [f"{prog}: error: {message}"], done.stderr[-2000:]
    assert "Traceback" not in done.stderr


# --------------------------------------------------------------------------- bad input
def test_fit_names_the_file_and_line_of_a_malformed_record(tmp_path):
    rows = ['{"input": "aa", "target": "a"}', '{"input": "bb", "target": "b"}', '{"input": 5}']
    (tmp_path / "train.jsonl").write_text("\n".join(rows) + "\n")
    done = run(
        "lightning_modules.fit",
        "--data.train_path", "train.jsonl", "--data.val_path", "train.jsonl",
        cwd=tmp_path,
    )  # fmt: skip
    assert_one_line_error(done, "fit", "train.jsonl:3: key 'input' must be a string, got number 5")


def test_fit_reports_a_missing_file_an_unknown_task_and_a_bad_option(tmp_path, monkeypatch, capfd):
    here = {"cwd": tmp_path, "monkeypatch": monkeypatch, "capfd": capfd}
    fit = "lightning_modules.fit"
    done = run_in_process(
        fit, "--data.train_path", "nope.jsonl", "--data.val_path", "v.jsonl", **here
    )
    assert_one_line_error(done, "fit", "[Errno 2] No such file or directory: 'nope.jsonl'")
    done = run_in_process(fit, "--data.task", "reverse", **here)
    assert done.returncode == 2 and "fit: error: unknown task 'reverse'" in done.stderr
    assert "Traceback" not in done.stderr
    done = run_in_process(fit, "--model.learning_rate", "3", **here)
    assert_one_line_error(done, "fit", "unrecognized arguments: --model.learning_rate 3")
    assert not (tmp_path / "outputs").exists()  # nothing was written before the error


@pytest.mark.slow
def test_predict_reports_a_missing_checkpoint_as_a_process(tmp_path):
    done = run("lightning_modules.predict", "--ckpt", "none.ckpt", "--text", "ab", cwd=tmp_path)
    assert_one_line_error(done, "predict", "none.ckpt: no such checkpoint file")


def test_predict_reports_a_missing_ckpt_option(tmp_path, monkeypatch, capfd):
    here = {"cwd": tmp_path, "monkeypatch": monkeypatch, "capfd": capfd}
    done = run_in_process("lightning_modules.predict", "--text", "ab", **here)
    assert_one_line_error(done, "predict", "--ckpt PATH is required")


# --------------------------------------------------------------------------- checkpoints
def _save(module: GraphTransformModule, path: Path) -> None:
    trainer = pl.Trainer(max_epochs=0, logger=False, enable_progress_bar=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)


def test_a_module_built_in_python_reloads_with_its_components(tmp_path):
    net = GraphTransformNet(hidden_channels=16, num_layers=2, output_vocab=["x", "y"])
    objective = TransformObjective(StructuralLoss(epsilon=0.05, outer_iter=4), merge_weight=0.5)
    module = GraphTransformModule(net, objective, lr=0.01)
    _save(module, tmp_path / "m.ckpt")
    loaded = GraphTransformModule.load_from_checkpoint(tmp_path / "m.ckpt")
    assert loaded.net.hidden_channels == 16 and loaded.net.output_vocab == ["x", "y"]
    assert loaded.objective.merge_weight == 0.5 and loaded.hparams.lr == 0.01
    assert loaded.objective.structural.epsilon == 0.05
    assert loaded.objective.structural.solver.outer_iter == 4
    state, reloaded = module.state_dict(), loaded.state_dict()
    assert state.keys() == reloaded.keys()
    assert all(torch.equal(state[k], reloaded[k]) for k in state)


def test_component_config_round_trips_nested_components():
    objective = TransformObjective(StructuralLoss(gamma=0.5, clique_weights=(0.1, 0.9)))
    config = component_config(objective)
    assert config["class_path"] == "pyg_grapheme.models.objective.TransformObjective"
    assert config["init_args"]["structural"]["init_args"]["clique_weights"] == [0.1, 0.9]
    rebuilt = build_component(json.loads(json.dumps(config)), TransformObjective)
    assert rebuilt.structural.gamma == 0.5 and rebuilt.structural.clique_weights == (0.1, 0.9)
    with pytest.raises(ValueError, match="is not a GraphTransformNet"):
        build_component(config, GraphTransformNet)
    with pytest.raises(ValueError, match="not imported"):
        build_component({"class_path": "no_such_module.Net", "init_args": {}}, GraphTransformNet)


def test_the_loss_is_configured_from_yaml(tmp_path):
    """model.objective.init_args.structural reaches StructuralLoss's constructor."""
    from lightning_modules.fit import main

    config = tmp_path / "loss.yaml"
    config.write_text(
        "model:\n  objective:\n    class_path: pyg_grapheme.models.TransformObjective\n"
        "    init_args:\n      merge_weight: 0.25\n      structural:\n"
        "        class_path: pyg_grapheme.loss.StructuralLoss\n"
        "        init_args: {epsilon: 0.1, outer_iter: 3, gamma: 0.0}\n"
    )
    cwd = os.getcwd()
    argv = sys.argv
    try:
        os.chdir(tmp_path)
        sys.argv = ["fit"]
        cli = main(
            ["--config", str(config), "--trainer.max_epochs", "0", "--data.n_train", "32",
             "--data.n_val", "8", "--trainer.enable_progress_bar", "false"]
        )  # fmt: skip
    finally:
        os.chdir(cwd)
        sys.argv = argv
    structural = cli.model.objective.structural
    assert (structural.epsilon, structural.outer_iter, structural.gamma) == (0.1, 3, 0.0)
    assert cli.model.objective.merge_weight == 0.25
