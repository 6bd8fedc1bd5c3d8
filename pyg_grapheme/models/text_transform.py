r"""Text in, text out: run a :class:`GraphTransformNet` on strings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch_geometric.data import Batch

from pyg_grapheme.models.decoding import describe_morph, emitted_graphemes
from pyg_grapheme.models.output_classes import ClassSpace
from pyg_grapheme.text import graphs_from_texts

if TYPE_CHECKING:
    from pyg_grapheme.models.graph_transform_net import GraphTransformNet, TransformOutput

__all__ = ["emit", "morphs", "transform_text"]


@torch.no_grad()
def emit(
    model: GraphTransformNet, data: Batch, length: Tensor | None = None
) -> tuple[TransformOutput, list[list[str]]]:
    """Forward ``data`` (counts from the count head, or the target counts ``length``,
    ``LongTensor[N]``) and return each graph's emitted graphemes, one per output node
    (``""`` for a spare slot)."""
    space = ClassSpace.build(model.output_vocab, data.clusters)
    member_class = space.encode((g for c in data.clusters for g in c), device=data.x.device)
    out, probs = model.emit_classes(data, member_class, space, length)
    return out, emitted_graphemes(probs, out.batch, out.num_graphs, space, out.spare)


def morphs(data: Batch, out: TransformOutput, emitted: Sequence[Sequence[str]]) -> list[str]:
    """Each graph's merges and splits as text (:func:`~.decoding.describe_morph`)."""
    cluster = out.cluster.tolist()
    parent = out.split.parent.tolist()
    input_graph = data.batch.tolist() if data.num_nodes else []
    output_graph = out.batch.tolist()
    described = []
    for g, inputs in enumerate(data.clusters):
        graph_cluster = [k for k, b in zip(cluster, input_graph) if b == g]
        graph_parent = [k for k, b in zip(parent, output_graph) if b == g]
        described.append(describe_morph(inputs, graph_cluster, emitted[g], graph_parent))
    return described


@torch.no_grad()
def transform_text(
    model: GraphTransformNet, texts: Sequence[str], with_morph: bool = False
) -> list[str] | list[tuple[str, str]]:
    """``["abc", "xyz"] -> ["ab", "xy"]`` once trained; in evaluation mode, on the model's
    device. With ``with_morph``, each result is ``(output, morph)`` (:func:`morphs`)."""
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
        out, emitted = emit(model, data)
        outputs = ["".join(nodes) for nodes in emitted]
        if with_morph:
            return list(zip(outputs, morphs(data, out, emitted)))
        return outputs
    finally:
        model.train(was_training)
