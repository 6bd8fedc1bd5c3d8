"""``python -m lightning_modules.predict --ckpt PATH (--text "..." | --input FILE)``.

Prints one output per input. With ``--input`` (a JSONL file of pairs or math records,
or a ``.tsv`` file of ``input<TAB>target`` lines) it prints ``input<TAB>output`` lines
and, as targets are present, ends with one
line ``exact_match=<0..1> cer=<0..1> uer=<0..1> n=<count>`` (``uer``: the error rate
over the model's output units, the phone error rate for token outputs); targets holding
units the model can never write get one ``note:`` line on stderr
(:func:`~lightning_modules.module.unwritable_note`). A file of inputs alone (a ``.txt``
word list, a one-column ``.tsv`` such as a shared task's test file, JSONL records with
no ``"target"``: :mod:`pyg_grapheme.data.input_files`) gets its ``input<TAB>output``
lines and no score line.
``--beam K`` decodes with beam search (1, the default, is greedy). Several checkpoints
(``--ckpt '[A.ckpt, B.ckpt]'``) decode as an ensemble
(:func:`~pyg_grapheme.models.ensemble.transducer_ensemble`): each model's beam proposes,
the proposal of highest mean log-likelihood over the models wins. ``--show_morph true`` adds,
after a tab, what merged and split into what (``aa→a · b→bb · c→∅``). Every
record, empty or not, gets exactly one line: backslashes, tabs, line breaks and
text that is not Unicode (bytes of ``--text`` that are not UTF-8) are printed
escaped (:mod:`.prediction_lines`). The file is checked whole before the first
line is printed and then read in batches, so memory does not grow with it. Bad
input (a missing or damaged checkpoint, a malformed JSONL line, conflicting
options, an input the model cannot transform, named by ``file:line``) ends it
with one line on stderr and exit status 2.

``--interactive`` (with ``--ckpt``) answers lines from stdin until its end, and
``--engine`` does so with the sympy engine instead of a model
(:mod:`lightning_modules.interactive`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from jsonargparse import auto_cli

from lightning_modules.checkpoint_io import load_module
from lightning_modules.command_line import bare_flags, one_line_errors, quiet_dependency_warnings
from lightning_modules.interactive import run_interactive
from lightning_modules.module import GraphTransformModule, unwritable_note
from lightning_modules.prediction_lines import flush, transform_in_batches, write_line
from pyg_grapheme.data import TextPair
from pyg_grapheme.data.input_files import InputReader, holds_targets
from pyg_grapheme.data.pair_files import pair_file_reader
from pyg_grapheme.metrics import CharErrorRate, exact_match, unit_error_rate
from pyg_grapheme.models import ensemble_transform_text, transducer_ensemble
from pyg_grapheme.models.ensemble import check_members

__all__ = ["predict"]


def predict(
    ckpt: str | list[str] | None = None,
    text: str | None = None,
    input: str | None = None,
    batch_size: int = 256,
    skip_bad_lines: bool = False,
    show_morph: bool = False,
    interactive: bool = False,
    engine: bool = False,
    beam: int = 1,
) -> list[str]:
    """Load a checkpoint and transform ``--text`` or every record of ``--input``.

    Args:
        ckpt: Path to a checkpoint written by ``lightning_modules.fit``, or a list of
            them, which decode as an ensemble (models with the same output units).
        text: One string to transform.
        input: A JSONL file (pairs or math format) or a ``.tsv`` file of pairs to
            transform and score, or a file of inputs alone to transform (a ``.txt``
            file of one input a line, a one-column ``.tsv`` file, JSONL records
            without ``"target"``).
        batch_size: Strings per forward pass.
        skip_bad_lines: Skip malformed lines (reported) instead of failing.
        show_morph: Also print what merged and split into what, e.g.
            ``aa→a · b→bb · c→∅`` (after a tab).
        interactive: Answer the lines of stdin, one by one, until its end.
        engine: Answer the lines of stdin with the sympy engine (Polish notation), no checkpoint.
        beam: Hypotheses kept per input by the beam search (1: greedy).
    """
    paths = [ckpt] if isinstance(ckpt, str) else list(ckpt or [])
    if len(paths) > 1 and (interactive or engine or show_morph):
        raise ValueError(
            "--interactive, --engine and --show_morph take one --ckpt (an ensemble of "
            "checkpoints has no single morph; one checkpoint of several members draws its "
            "first member's)"
        )
    if interactive or engine:
        return run_interactive(
            paths[0] if paths else None, engine, show_morph, text=text, input=input
        )
    if not paths:
        raise ValueError("--ckpt PATH is required")
    if (text is None) == (input is None):
        raise ValueError("give exactly one of --text or --input")
    if batch_size < 1:
        raise ValueError(f"--batch_size must be >= 1, got {batch_size}")
    if beam < 1:
        raise ValueError(f"--beam must be >= 1, got {beam}")
    # Every voting member of every checkpoint (a fit with model.members > 1 holds several;
    # its validation may have left a collapsed one out: model.vote_ratio).
    models = [
        net.eval()
        for path in paths
        for net in load_module(GraphTransformModule, path, map_location="cpu").voting_nets
    ]
    model = models[0]
    if len(paths) == 1 and len(models) > 1:

        def transform(texts: list[str]) -> list[tuple[str, str]]:
            return ensemble_transform_text(models, texts, with_morph=True, beam=beam)  # type: ignore[return-value]
    elif len(models) > 1:
        check_members(models)  # before the file is read: one line naming the units

        def transform(texts: list[str]) -> list[tuple[str, str]]:
            return [(output, "") for output in transducer_ensemble(models, texts, beam)]
    else:

        def transform(texts: list[str]) -> list[tuple[str, str]]:
            return model.transform_text(texts, with_morph=True, beam=beam)  # type: ignore[return-value]

    if input is not None:
        # The whole file is checked before anything is printed, then read again in batches:
        # a bad line stops predict before its first output, and memory stays flat.
        scoring = holds_targets(input)
        reader = (
            pair_file_reader(input, skip_bad_lines)
            if scoring
            else InputReader(input, skip_bad_lines)
        )
        for _ in reader:
            pass
        reader.warn = False
        pairs: Iterable[TextPair] = reader
    else:
        scoring = False
        pairs = [TextPair(text, "", {"source": "--text"})]
    outputs: list[str] = []
    targets: list[str] = []
    scored: list[TextPair] = []
    for pair, (output, morph) in transform_in_batches(transform, pairs, batch_size):
        fields = [output] if text is not None else [pair.input, output]
        write_line(*fields, *([morph] if show_morph else []))
        outputs.append(output)
        targets.append(model.units.canonical(pair.target))
        scored.append(pair)
    if scoring:
        cer = float(CharErrorRate()(outputs, targets)) if outputs else 0.0
        uer = unit_error_rate(outputs, targets, model.output_units)
        write_line(
            f"exact_match={exact_match(outputs, targets):.4f} cer={cer:.4f} uer={uer:.4f} "
            f"n={len(outputs)}"
        )
    flush()
    if scoring:
        note = unwritable_note(scored, model.units, model.output_vocab, model.input_units)
        if note:  # on stderr: stdout keeps one line per record and the score line last
            print(f"note: {note}", file=sys.stderr, flush=True)
    return outputs


_FLAGS = ("skip_bad_lines", "show_morph", "interactive", "engine")
"""The boolean options, which may be given bare (``--engine`` for ``--engine true``)."""


def main(args: list[str] | None = None) -> None:
    quiet_dependency_warnings()
    args = sys.argv[1:] if args is None else args
    auto_cli(predict, args=bare_flags(args, _FLAGS), exit_on_error=False)


if __name__ == "__main__":
    with one_line_errors("predict"):
        main()
