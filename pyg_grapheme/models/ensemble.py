r"""Several trained transducers decoding together: propose, then vote by likelihood.

Each model's beam search proposes its distinct outputs for an input; every model then
scores every proposal by its marginal log-likelihood (every monotonic alignment summed,
:meth:`GraphTransformNet.log_likelihood`), and the proposal of highest mean wins:

.. math::

    \hat y = \arg\max_{y \in \bigcup_m \mathrm{beam}_m(x)}
        \frac{1}{M} \sum_{m=1}^{M} \log p_m(y \mid x)

a product of the models' distributions, restricted to what their beams found. The
models need not pool an input alike (their merges are their own): each scores whole
outputs, never another model's alignment. A proposal that some model cannot write at
all (log-likelihood :math:`-\infty`) loses to any that every model can.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pyg_grapheme.models.graph_transform_net import GraphTransformNet

__all__ = ["check_members", "ensemble_transform_text", "transducer_ensemble"]


def check_members(models: Sequence[GraphTransformNet]) -> None:
    """Raise a ``ValueError`` unless ``models`` can vote together: at least one, all
    writing the same output units (an ensemble compares whole outputs)."""
    if not models:
        raise ValueError("an ensemble needs at least one model")
    kinds = {model.output_units for model in models}
    if len(kinds) > 1:
        raise ValueError(
            f"the models write different output units ({', '.join(sorted(kinds))}): an "
            f"ensemble compares outputs, so its models must write the same units"
        )


def transducer_ensemble(
    models: Sequence[GraphTransformNet], texts: Sequence[str], beam: int = 1
) -> list[str]:
    """The ensemble's output for each of ``texts``.

    Args:
        models: trained models with the same output units (``graphemes`` or ``tokens``).
        texts: the inputs.
        beam: hypotheses kept by each model's search (1: each model's greedy output).

    Returns:
        One output per input. Ties go to the proposal found first (the first model's
        best output first), so a single model returns its beam's best by likelihood.

    Raises:
        ValueError: no models, or models whose output units differ.
    """
    check_members(models)
    if not texts:
        return []
    proposals: list[list[str]] = [[] for _ in texts]
    for model in models:
        for found, outputs in zip(proposals, model.candidates(texts, beam)):
            found.extend(output for output in outputs if output not in found)
    rows = [(i, output) for i, outputs in enumerate(proposals) for output in outputs]
    row_texts = [texts[i] for i, _ in rows]
    row_outputs = [output for _, output in rows]
    score = torch.stack(
        [model.log_likelihood(row_texts, row_outputs).double() for model in models]
    ).mean(0)
    best = [float("-inf")] * len(texts)
    chosen = [outputs[0] for outputs in proposals]
    for r, (i, output) in enumerate(rows):
        if float(score[r]) > best[i]:
            best[i], chosen[i] = float(score[r]), output
    return chosen


def ensemble_transform_text(
    models: Sequence[GraphTransformNet],
    texts: Sequence[str],
    with_morph: bool = False,
    beam: int = 1,
) -> list[str] | list[tuple[str, str]]:
    """:meth:`GraphTransformNet.transform_text` for an ensemble: its outputs
    (:func:`transducer_ensemble`), with ``with_morph`` each paired with the first model's
    best alignment of that output (:meth:`GraphTransformNet.align`), e.g.
    ``("ab", "a→a · bb→b")``. An empty input writes the empty output with an empty morph.
    """
    if isinstance(texts, str):
        raise TypeError("ensemble_transform_text expects a list of str, not a single str")
    outputs = transducer_ensemble(models, texts, beam)
    if not with_morph:
        return outputs
    morphs = [""] * len(texts)
    nonempty = [i for i, text in enumerate(texts) if text]
    if nonempty:
        _, aligned = models[0].align_texts(
            [texts[i] for i in nonempty], [outputs[i] for i in nonempty]
        )
        for i, morph in zip(nonempty, aligned.morphs):
            morphs[i] = morph
    return list(zip(outputs, morphs))
