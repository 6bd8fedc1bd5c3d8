"""``python -m lightning_modules.predict --ckpt PATH (--text "..." | --input FILE.jsonl)``.

Prints one output per input. With ``--input`` (a pairs or math JSONL file) it
prints ``input<TAB>output`` lines and, as targets are present, ends with one
line ``exact_match=<0..1> cer=<0..1> n=<count>``. ``--show_morph true`` adds,
after a tab, what merged and split into what (``aa→a · b→bb · c→∅``). Every
record, empty or not, gets exactly one line: backslashes, tabs, line breaks and
text that is not Unicode (bytes of ``--text`` that are not UTF-8) are printed
escaped (:mod:`.prediction_lines`). The file is checked whole before the first
line is printed and then read in batches, so memory does not grow with it. Bad
input (a missing or damaged checkpoint, a malformed JSONL line, conflicting
options, an input the model cannot transform, named by ``file:line``) ends it
with one line on stderr and exit status 2.
"""

from __future__ import annotations

from collections.abc import Iterable

from jsonargparse import auto_cli

from lightning_modules.checkpoint_io import load_module
from lightning_modules.command_line import one_line_errors, quiet_dependency_warnings
from lightning_modules.module import GraphTransformModule
from lightning_modules.prediction_lines import flush, transform_in_batches, write_line
from pyg_grapheme.data import TextPair
from pyg_grapheme.data.jsonl import JsonlReader
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
    if input is not None:
        # The whole file is checked before anything is printed, then read again in batches:
        # a bad line stops predict before its first output, and memory stays flat.
        reader = JsonlReader(input, skip_bad_lines)
        for _ in reader:
            pass
        reader.warn = False
        pairs: Iterable[TextPair] = reader
    else:
        pairs = [TextPair(text, "", {"source": "--text"})]
    outputs: list[str] = []
    targets: list[str] = []
    for pair, (output, morph) in transform_in_batches(
        lambda texts: model.transform_text(texts, with_morph=True), pairs, batch_size
    ):
        fields = [output] if text is not None else [pair.input, output]
        write_line(*fields, *([morph] if show_morph else []))
        outputs.append(output)
        targets.append(pair.target)
    if text is None:
        cer = float(CharErrorRate()(outputs, targets)) if outputs else 0.0
        write_line(
            f"exact_match={exact_match(outputs, targets):.4f} cer={cer:.4f} n={len(outputs)}"
        )
    flush()
    return outputs


def main(args: list[str] | None = None) -> None:
    quiet_dependency_warnings()
    auto_cli(predict, args=args, exit_on_error=False)


if __name__ == "__main__":
    with one_line_errors("predict"):
        main()
