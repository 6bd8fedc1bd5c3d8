"""A built wheel works from any folder: configs ship inside it, and every output goes under the
run's root dir."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_installed_wheel_fits_from_another_folder(tmp_path):
    # Build from a copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    source = tmp_path / "source"
    shutil.copytree(
        REPO,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", "build", "dist", "*.egg-info", "__pycache__", "outputs", "lightning_logs"
        ),
    )
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = dist.glob("pyg_grapheme-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "lightning_modules/conf/default.yaml" in names
    assert "lightning_modules/conf/math_l1.yaml" in names

    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
         str(wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Only the installed copy is importable: not the source tree.
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-m", "lightning_modules.fit", "--trainer.max_epochs", "1",
         "--data.n_train", "64", "--data.n_val", "16", "--trainer.default_root_dir", "run",
         "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "=== validation report ===" in done.stdout
    # The embedded default (dedupe) was used, not the class defaults (which have no task data).
    config = next((elsewhere / "run" / "csv").glob("version_*/config.yaml")).read_text()
    assert "task: dedupe" in config and "augment: 0.5" in config
    assert (elsewhere / "run" / "checkpoints" / "last.ckpt").is_file()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["run"]  # no outputs/, lightning_logs/
    # Where the package is found, without importing it (an import costs Lightning's).
    find = "import importlib.util; print(importlib.util.find_spec('lightning_modules').origin)"
    found = subprocess.run(
        [sys.executable, "-c", find], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert str(site) in found.stdout, found.stderr
