"""A tiny fit shared by the robustness tests: one epoch of a small model on a few pairs."""

from __future__ import annotations

from pathlib import Path

import pytest
from fit_cases import fit

TINY = [
    "--data.n_train", "32", "--data.n_val", "8", "--trainer.max_epochs", "1",
    "--model.net.init_args.hidden_channels", "8",
]  # fmt: skip


def tiny_fit(run_dir: Path) -> Path:
    """Fit the tiny model in ``run_dir``; returns its last.ckpt."""
    patch = pytest.MonkeyPatch()
    try:
        fit(run_dir, patch, *TINY)
    finally:
        patch.undo()
    return run_dir / "outputs" / "checkpoints" / "last.ckpt"
