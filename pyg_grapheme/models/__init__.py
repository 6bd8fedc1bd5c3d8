"""Models that morph grapheme graphs."""

from pyg_grapheme.models.graph_transform_net import GraphTransformNet, TransformOutput

__all__ = ["GraphTransformNet", "TransformOutput"]
