"""How a fit's members could vote: their beams' proposals, scored by every member, picked by
several rules, against the rule in use (the mean log-likelihood,
``pyg_grapheme.models.ensemble.transducer_ensemble``).

For each word of a development file it collects the distinct outputs of every member's beam
search, scores each by each member's marginal log-likelihood, and counts the words each rule
gets wrong, and the words whose target no member proposed (which no rule can get right).

    python bench/g2p_ensemble_rules.py --ckpt outputs/g2p/bul/ours/checkpoints/best-*.ckpt \\
        --input ../shared/data/g2p2020/bul_dev.jsonl
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from bench.command_line import OneLineParser
from bench.g2p import read_pairs
from lightning_modules.module import GraphTransformModule

Rule = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # scores [M, R], lengths [R]

RULES: dict[str, Rule] = {
    "mean log-likelihood (in use)": lambda s, n: s.mean(0),
    "members' minimum": lambda s, n: s.min(0).values,
    "members' maximum": lambda s, n: s.max(0).values,
    "log of the mean probability": lambda s, n: torch.logsumexp(s, 0),
    "mean per unit": lambda s, n: s.mean(0) / n,
    "mean + 0.5 a unit": lambda s, n: s.mean(0) + 0.5 * n,
}


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", type=Path, required=True, help="a fit's checkpoint")
    parser.add_argument("--input", type=Path, required=True, help="JSONL development pairs")
    parser.add_argument("--beam", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    module = GraphTransformModule.load_from_checkpoint(args.ckpt, map_location="cpu")
    nets = [net.eval() for net in module.nets]
    pairs = read_pairs(args.input)
    texts = [source for source, _ in pairs]
    targets = [" ".join(target.split()) for _, target in pairs]
    with torch.no_grad():
        proposals: list[list[str]] = [[] for _ in texts]
        for net in nets:
            for found, outputs in zip(proposals, net.candidates(texts, args.beam)):
                found.extend(output for output in outputs if output not in found)
        rows = [(i, output) for i, outputs in enumerate(proposals) for output in outputs]
        scores = torch.stack(
            [
                net.log_likelihood([texts[i] for i, _ in rows], [o for _, o in rows]).double()
                for net in nets
            ]
        )
    units = torch.tensor([len(output.split()) + 1 for _, output in rows], dtype=torch.double)
    unproposed = sum(target not in found for found, target in zip(proposals, targets))
    print(f"{args.input.name}: {len(texts)} words, {len(nets)} members, beam {args.beam}")
    print(f"target among the proposals: {len(texts) - unproposed} words")
    for name, rule in RULES.items():
        score = rule(scores, units)
        best: dict[int, tuple[float, str]] = {}
        for r, (i, output) in enumerate(rows):
            if i not in best or float(score[r]) > best[i][0]:
                best[i] = (float(score[r]), output)
        wrong = sum(best[i][1] != targets[i] for i in range(len(texts)))
        print(f"{name:30} wrong {wrong:4} ({100 * wrong / len(texts):.2f}%)")


if __name__ == "__main__":
    main()
