"""Train one string task with its config (plus overrides) and score the held-out suites.

Reproduces the loss-term ablation of ``bench/results/loss_terms.md``, e.g. the
structural loss alone:

    python bench/ablation.py copy --model.objective.merge_weight 0 \\
        --model.objective.count_weight 0 --model.objective.type_weight 0 \\
        --model.objective.edit_weight 0

Suites (as in tests/test_training.py): 300 new Latin strings of 9-16 clusters
(never in training) and 200 strings each in Greek, Cyrillic and emoji.
Runs in a temporary folder; prints one line ``RESULT task suite=score ...``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lightning_modules.fit import CONF_DIR, main
from lightning_modules.module import GraphTransformModule
from lightning_modules.report import checkpoint_paths
from pyg_grapheme.data.held_out import held_out_suites
from pyg_grapheme.metrics import exact_match
from pyg_grapheme.models import GraphTransformNet

TASKS = ("copy", "drop_last", "dedupe", "squeeze_spaces")


def held_out_scores(
    model: GraphTransformNet, task: str, seen: set[str], max_len: int
) -> dict[str, float]:
    """Exact match on :func:`~pyg_grapheme.data.held_out.held_out_suites`: 300 new Latin
    strings of ``max_len + 1 .. 2 max_len`` clusters (none in ``seen``) and 200 strings of
    each script absent from training."""
    suites = held_out_suites(task, seen, max_len)
    return {
        name: exact_match(model.transform_text([p.input for p in pairs]), [p.target for p in pairs])
        for name, pairs in suites.items()
    }


def run(task: str, overrides: list[str]) -> dict[str, float]:
    if task not in TASKS:
        raise SystemExit(f"task must be one of {TASKS}, got {task!r}")
    torch.set_num_threads(1)
    os.chdir(tempfile.mkdtemp(prefix=f"ablation-{task}-"))
    cli = main(
        [
            "--config",
            str(CONF_DIR / f"{task}.yaml"),
            *overrides,
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.enable_model_summary",
            "false",
        ]
    )
    best, _ = checkpoint_paths(cli.trainer)
    model = GraphTransformModule.load_from_checkpoint(best, map_location="cpu").net
    seen = {p.input for p in cli.datamodule.train_pairs}
    scores = held_out_scores(model, task, seen, cli.datamodule.hparams.max_len)
    print("RESULT", task, " ".join(f"{k}={v:.4f}" for k, v in scores.items()), flush=True)
    return scores


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    run(sys.argv[1], sys.argv[2:])
