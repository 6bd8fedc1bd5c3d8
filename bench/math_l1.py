"""Math level 1: train with conf/math_l1.yaml (or load a checkpoint), report held-out accuracy.

Prints exact match on the validation problems (never seen in training)
overall, per operator, and for ``+``/``*`` split by whether the operand-swapped
mirror of the problem is a training problem, and on the training problems.
After training it reports the *last* checkpoint (the model at the end of the
schedule, chosen by nothing) and then the best one (chosen on these same
validation problems, so optimistic). Training (640 epochs) takes about 14
minutes on one CPU core; ``tests/test_math_l1.py`` (``pytest -m long``)
asserts the same figures through :func:`train` and :func:`evaluate`.

    python bench/math_l1.py                  # train, then evaluate the last and best checkpoints
    python bench/math_l1.py --ckpt PATH      # evaluate a checkpoint
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lightning_modules.datamodule import GraphemeDataModule  # noqa: E402
from lightning_modules.fit import CONF_DIR, main  # noqa: E402
from lightning_modules.module import GraphTransformModule  # noqa: E402
from lightning_modules.report import checkpoint_paths  # noqa: E402


def swapped(problem: str) -> str:
    op, a, b = problem[1:-1].split(" ")
    return f"({op} {b} {a})"


def evaluate(ckpt: str) -> dict[str, float]:
    module = GraphTransformModule.load_from_checkpoint(ckpt, map_location="cpu")
    data = GraphemeDataModule(task="math", level=1, n_train=960, n_val=240)
    seen = {p.input for p in data.train_pairs}
    val = data.val_pairs
    if seen & {p.input for p in val}:
        raise AssertionError("a validation problem occurs in training")
    predictions = module.transform_text([p.input for p in val])
    groups: dict[str, list[bool]] = defaultdict(list)
    for predicted, pair in zip(predictions, val):
        correct = predicted == pair.target
        op = pair.input[1]
        groups["overall"].append(correct)
        groups[op].append(correct)
        if op in "+*":
            mirror = "mirror seen" if swapped(pair.input) in seen else "mirror unseen"
            groups[f"{op} {mirror}"].append(correct)
    train_predictions = module.transform_text([p.input for p in data.train_pairs])
    groups["train"] = [p == q.target for p, q in zip(train_predictions, data.train_pairs)]
    scores = {}
    for name, values in groups.items():
        scores[name] = sum(values) / len(values)
        print(f"{name:18s} {sum(values):4d}/{len(values):<4d} = {scores[name]:.3f}")
    return scores


def train() -> tuple[str, str]:
    """Fit ``conf/math_l1.yaml`` in the working directory; ``(best, last)`` checkpoint paths."""
    cli = main(
        [
            "--config",
            str(CONF_DIR / "math_l1.yaml"),
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.enable_model_summary",
            "false",
        ]
    )
    return checkpoint_paths(cli.trainer)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", help="evaluate this checkpoint instead of training")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.ckpt is not None:
        evaluate(args.ckpt)
        return
    best, last = train()
    print(f"last checkpoint ({last}):")
    evaluate(last)
    print(f"best checkpoint on the validation problems ({best}):")
    evaluate(best)


if __name__ == "__main__":
    run()
