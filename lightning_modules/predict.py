"""``python -m lightning_modules.predict --ckpt PATH (--text "..." | --input FILE.jsonl)``.

Prints one output per input. With ``--input`` (a pairs or math JSONL file) it
prints ``input<TAB>output`` lines and, as targets are present, ends with one
line ``exact_match=<0..1> cer=<0..1> n=<count>``. ``--show_morph true`` adds,
after a tab, what merged and split into what (``aa→a · b→bb · c→∅``). Bad input (a missing
checkpoint, a malformed JSONL line, conflicting options) ends it with one line
on stderr and exit status 2.
"""

from __future__ import annotations

import sys

from jsonargparse import auto_cli

from lightning_modules.checkpoint_io import load_module
from lightning_modules.command_line import one_line_errors, quiet_dependency_warnings
from lightning_modules.module import GraphTransformModule
from pyg_grapheme.data import read_jsonl
from pyg_grapheme.metrics import CharErrorRate, exact_match

__all__ = ["predict"]


def predict(
    ckpt: str | None = None,
    text: str | None = None,
    input: str | None = None,
    batch_size: int = 256,
    skip_bad_lines: bool = False,
    show_morph: bool = False,
) -> list[str]:
    """Load a checkpoint and transform ``--text`` or every record of ``--input``.

    Args:
        ckpt: Path to a checkpoint written by ``lightning_modules.fit``.
        text: One string to transform.
        input: A JSONL file (pairs or math format) to transform and score.
        batch_size: Strings per forward pass.
        skip_bad_lines: Skip malformed JSONL lines (reported) instead of failing.
        show_morph: Also print what merged and split into what, e.g.
            ``aa→a · b→bb · c→∅`` (after a tab).
    """
    if ckpt is None:
        raise ValueError("--ckpt PATH is required")
    if (text is None) == (input is None):
        raise ValueError("give exactly one of --text or --input")
    if batch_size < 1:
        raise ValueError(f"--batch_size must be >= 1, got {batch_size}")
    module = load_module(GraphTransformModule, ckpt, map_location="cpu")
    model = module.net.eval()
    pairs = [] if input is None else list(read_jsonl(input, skip_bad_lines=skip_bad_lines))
    sources = [text] if text is not None else [p.input for p in pairs]
    results: list[tuple[str, str]] = []
    for start in range(0, len(sources), batch_size):
        results.extend(model.transform_text(sources[start : start + batch_size], with_morph=True))
    outputs = [output for output, _ in results]
    for source, (output, morph) in zip(sources, results):
        line = output if text is not None else f"{source}\t{output}"
        print(f"{line}\t{morph}" if show_morph else line)
    if text is None:
        targets = [p.target for p in pairs]
        cer = float(CharErrorRate()(outputs, targets)) if pairs else 0.0
        print(f"exact_match={exact_match(outputs, targets):.4f} cer={cer:.4f} n={len(pairs)}")
    sys.stdout.flush()
    return outputs


def main(args: list[str] | None = None) -> None:
    quiet_dependency_warnings()
    auto_cli(predict, args=args, exit_on_error=False)


if __name__ == "__main__":
    with one_line_errors("predict"):
        main()
