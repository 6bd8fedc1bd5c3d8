"""Models that morph grapheme graphs, and their training objective."""

from pyg_grapheme.models.graph_transform_net import GraphTransformNet, TransformOutput
from pyg_grapheme.models.objective import TransformObjective

__all__ = ["GraphTransformNet", "TransformObjective", "TransformOutput"]
