"""Running the fit CLI in-process from a test, and reading back what it logged."""

from __future__ import annotations

import csv
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lightning_modules.command_line import one_line_errors
from lightning_modules.fit import main

QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
REPO = Path(__file__).resolve().parent.parent


def fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str):
    """``python -m lightning_modules.fit ARGS`` run in ``tmp_path``, without progress bars;
    returns the LightningCLI."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["fit"])  # pytest's own options are not the CLI's
    return main([*args, *QUIET])


def fit_error_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> list[str]:
    """:func:`fit` with ``args`` as the command line runs it (``one_line_errors``), which must
    end with exit status 2; returns the lines it wrote on stderr."""
    with pytest.raises(SystemExit) as stop, one_line_errors("fit"):
        fit(tmp_path, monkeypatch, *args)
    assert stop.value.code == 2
    return capsys.readouterr().err.strip().splitlines()


def run_in_process(
    module: str,
    *args: str,
    cwd: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGS`` in ``cwd``, called in this process as its ``__main__`` block
    runs it (``with one_line_errors(prog): main(args)``); returns what ``subprocess.run``
    would: the exit status, stdout and stderr.

    It skips a new interpreter's imports (about 14 CPU seconds each); each command keeps
    tests that run it as a real process.
    """
    prog = module.rsplit(".", 1)[1]
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", [prog])  # as a process sees it: only its arguments
    capfd.readouterr()
    try:
        with one_line_errors(prog):
            importlib.import_module(module).main(list(args))
        returncode = 0
    except SystemExit as stop:  # SystemExit(None) is status 0, a message status 1
        returncode = 0 if stop.code is None else stop.code if isinstance(stop.code, int) else 1
    out, err = capfd.readouterr()
    return subprocess.CompletedProcess([module, *args], returncode, out, err)


def metrics_rows(tmp_path: Path) -> list[dict[str, str]]:
    """The rows of the CSV log of the last run under ``tmp_path/outputs``."""
    (path,) = sorted((tmp_path / "outputs" / "csv").glob("version_*/metrics.csv"))[-1:]
    with open(path) as f:
        return list(csv.DictReader(f))


def signal_config(run_dir: Path, step: int, signum: int) -> str:
    """Writes ``run_dir/stop_STEP.yaml``, a config whose callback
    (``interrupt_cases.SignalAtStep``) sends the fit's own process ``signum`` after
    optimizer step ``step``; returns its path, for ``--config``."""
    config = run_dir / f"stop_{step}.yaml"
    config.write_text(
        "trainer:\n  callbacks:\n    - class_path: interrupt_cases.SignalAtStep\n"
        f"      init_args: {{step: {step}, signum: {int(signum)}}}\n"
    )
    return str(config)


def fit_process(
    run_dir: Path, *args: str, stop_at: tuple[int, int] | None = None
) -> subprocess.CompletedProcess:
    """``python -m lightning_modules.fit ARGS`` as its own process in ``run_dir`` (made if
    missing); ``stop_at=(step, signum)`` signals it after ``step`` (:func:`signal_config`)."""
    run_dir.mkdir(exist_ok=True)
    extra = [] if stop_at is None else ["--config", signal_config(run_dir, *stop_at)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    return subprocess.run(
        [sys.executable, "-m", "lightning_modules.fit", *args, *extra],
        cwd=run_dir, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def last_checkpoint(run_dir: Path) -> dict:
    """The ``last.ckpt`` a fit in ``run_dir`` wrote."""
    return torch.load(
        run_dir / "outputs" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True
    )
