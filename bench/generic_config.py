"""The generic config (conf/pairs.yaml) on tasks it was never tuned for.

Every task is trained the way a user trains their own data: 2,000 JSONL pairs
of Latin strings of 1-8 grapheme clusters, 200 validation pairs, then
``python -m lightning_modules.fit --config conf/pairs.yaml --data.train_path ...
--data.val_path ...`` (called in-process). The model at the end of training
(chosen by nothing) is scored by exact match on 300 new Latin strings of 9-16
clusters and 200 strings each of Greek, Cyrillic and emoji, and the table gives
the CPU seconds of training (one thread).

Tasks: the package's generated tasks (``pyg_grapheme.data.TASKS``, math aside)
and probes defined here, which no config or default was chosen on:

==================  ==========================  =====================================
probe               input -> target             what it needs
==================  ==========================  =====================================
``triple``          ``ab -> aaabbb``            growth by 3
``bracket``         ``ab -> [ab]``              graphemes generated at both ends
``dashes``          ``abc -> a-b-c``            a generated separator between nodes
``delete_spaces``   ``a b c -> abc``            deletion by content
``drop_first``      ``abc -> bc``               deletion by position
``first_only``      ``abc -> a``                empties all but one node
``rle_decode``      ``2a3b -> aabbb``           counts read off a neighbour (digits)
``vowels_out``      ``abe -> b``                deletion by a per-script property
``swap_pairs``      ``abcd -> badc``            reordering (not monotone)
``reverse``         ``abc -> cba``              reordering over the whole string
==================  ==========================  =====================================

    python bench/generic_config.py                 # every task, about 10 minutes
    python bench/generic_config.py double rle_decode
    python bench/generic_config.py strip --options "--model.net.init_args.relative_position false"

``--options`` adds fit options after the config's (here: the attention without reading
order, as ``default.yaml`` had before relative positions).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lightning_modules.fit import CONF_DIR, main
from lightning_modules.module import GraphTransformModule
from lightning_modules.report import checkpoint_paths
from pyg_grapheme.data import ALPHABETS, TASKS, generate
from pyg_grapheme.metrics import exact_match

Pair = tuple[str, str]
_VOWELS = set("aeiouαεηιουωаеёиоуыэюя")


def _rle(chars: list[str], rng: random.Random) -> Pair:
    runs = [(rng.randint(1, 4), c) for c in chars[: max(1, len(chars) // 2)]]
    return "".join(f"{n}{c}" for n, c in runs), "".join(c * n for n, c in runs)


def _swap(chars: list[str]) -> str:
    out = []
    for i in range(0, len(chars) - 1, 2):
        out += [chars[i + 1], chars[i]]
    return "".join(out + chars[len(chars) - len(chars) % 2 :])


PROBES: dict[str, Callable[[list[str], random.Random], Pair]] = {
    "triple": lambda c, r: ("".join(c), "".join(x * 3 for x in c)),
    "bracket": lambda c, r: ("".join(c), "[" + "".join(c) + "]"),
    "dashes": lambda c, r: ("".join(c), "-".join(c)),
    "delete_spaces": lambda c, r: (
        s := "".join(x if r.random() > 0.3 else " " for x in c),
        s.replace(" ", ""),
    ),
    "drop_first": lambda c, r: ("".join(c), "".join(c[1:])),
    "first_only": lambda c, r: ("".join(c), c[0]),
    "rle_decode": _rle,
    "vowels_out": lambda c, r: ("".join(c), "".join(x for x in c if x not in _VOWELS)),
    "swap_pairs": lambda c, r: ("".join(c), _swap(c)),
    "reverse": lambda c, r: ("".join(c), "".join(reversed(c))),
}
GENERATED = tuple(t for t in TASKS if t != "math")


def pairs(task: str, n: int, seed: int, alphabet: str, lo: int, hi: int, exclude=()) -> list[Pair]:
    """``n`` distinct pairs of ``task`` whose inputs avoid ``exclude``."""
    if task in GENERATED:
        drawn = generate(
            task, n, seed=seed, alphabet=alphabet, min_len=lo, max_len=hi, exclude=exclude
        )
        return [(p.input, p.target) for p in drawn]
    rng, seen, out = random.Random(seed), set(exclude), []
    letters = ALPHABETS[alphabet]
    while len(out) < n:
        chars = [rng.choice(letters) for _ in range(rng.randint(lo, hi))]
        pair = PROBES[task](chars, rng)
        if pair[0] not in seen:
            seen.add(pair[0])
            out.append(pair)
    return out


def _write(path: Path, rows: list[Pair]) -> None:
    path.write_text(
        "".join(json.dumps({"input": a, "target": b}, ensure_ascii=False) + "\n" for a, b in rows)
    )


def run(task: str, options: Sequence[str] = ()) -> dict[str, float]:
    """Train ``task`` with conf/pairs.yaml (and fit ``options`` after it) in a temporary
    folder; scores and CPU seconds."""
    folder = Path(tempfile.mkdtemp(prefix=f"generic-{task}-"))
    os.chdir(folder)
    train = pairs(task, 2000, 0, "latin", 1, 8)
    seen = {a for a, _ in train}
    _write(folder / "train.jsonl", train)
    _write(folder / "val.jsonl", pairs(task, 200, 1, "latin", 1, 16, exclude=seen))
    start = time.process_time()
    cli = main(
        ["--config", str(CONF_DIR / "pairs.yaml"),
         "--data.train_path", "train.jsonl", "--data.val_path", "val.jsonl",
         "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
         *options]
    )  # fmt: skip
    cpu = time.process_time() - start
    _, last = checkpoint_paths(cli.trainer)
    model = GraphTransformModule.load_from_checkpoint(last, map_location="cpu").net
    suites = {"latin_2x": pairs(task, 300, 101, "latin", 9, 16, exclude=seen)}
    for script in ("greek", "cyrillic", "emoji"):
        suites[script] = pairs(task, 200, 102, script, 1, 8)
    scores = {
        name: exact_match(model.transform_text([a for a, _ in rows]), [b for _, b in rows])
        for name, rows in suites.items()
    }
    return {**scores, "cpu_s": cpu}


if __name__ == "__main__":
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tasks", nargs="*", help="tasks and probes (default: all)")
    parser.add_argument("--options", default="", help="fit options, one string")
    args = parser.parse_args()
    chosen = args.tasks or [*GENERATED, *PROBES]
    unknown = [t for t in chosen if t not in GENERATED and t not in PROBES]
    if unknown:
        parser.error(f"unknown task(s) {unknown}; choose from {[*GENERATED, *PROBES]}")
    try:
        options = shlex.split(args.options)
    except ValueError as error:
        parser.error(f"--options: {error}")
    sys.argv = sys.argv[:1]  # the fit CLI parses sys.argv too
    print("| task | Latin, 9-16 | Greek | Cyrillic | emoji | training CPU s |")
    print("|---|---|---|---|---|---|")
    for task in chosen:
        r = run(task, options)
        print(
            f"| {task} | {r['latin_2x']:.3f} | {r['greek']:.3f} | {r['cyrillic']:.3f} | "
            f"{r['emoji']:.3f} | {r['cpu_s']:.0f} |",
            flush=True,
        )
