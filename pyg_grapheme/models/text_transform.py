r"""Text in, text out: run a :class:`GraphTransformNet` on strings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch_geometric.data import Batch

from pyg_grapheme.models.decoding import emitted_graphemes
from pyg_grapheme.models.output_classes import ClassSpace
from pyg_grapheme.text import graphs_from_texts

if TYPE_CHECKING:
    from pyg_grapheme.models.graph_transform_net import GraphTransformNet, TransformOutput

__all__ = ["emit", "transform_text"]


@torch.no_grad()
def emit(model: GraphTransformNet, data: Batch) -> tuple[TransformOutput, list[list[str]]]:
    """Forward ``data`` and return each graph's emitted graphemes, one per output node."""
    out = model(data)
    space = ClassSpace.build(model.output_vocab, data.clusters)
    member_class = space.encode((g for c in data.clusters for g in c), device=data.x.device)
    probs = model.type_probs(out, member_class, space)
    return out, emitted_graphemes(probs, out.batch, out.num_graphs, space)


@torch.no_grad()
def transform_text(model: GraphTransformNet, texts: Sequence[str]) -> list[str]:
    """``["abc", "xyz"] -> ["ab", "xy"]`` once trained; in evaluation mode, on the model's device."""
    if isinstance(texts, str):
        raise TypeError("transform_text expects a list of str, not a single str")
    if len(texts) == 0:
        return []
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        data = graphs_from_texts(list(texts)).to(device)
        data.num_graphs = len(texts)
        _, emitted = emit(model, data)
        return ["".join(nodes) for nodes in emitted]
    finally:
        model.train(was_training)
