"""Running the fit CLI in-process from a test, and reading back what it logged."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from lightning_modules.fit import main

QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str):
    """``python -m lightning_modules.fit ARGS`` run in ``tmp_path``, without progress bars;
    returns the LightningCLI."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["fit"])  # pytest's own options are not the CLI's
    return main([*args, *QUIET])


def metrics_rows(tmp_path: Path) -> list[dict[str, str]]:
    """The rows of the CSV log of the last run under ``tmp_path/outputs``."""
    (path,) = sorted((tmp_path / "outputs" / "csv").glob("version_*/metrics.csv"))[-1:]
    with open(path) as f:
        return list(csv.DictReader(f))
