"""Models that morph grapheme graphs, and their training objective."""

from pyg_grapheme.models.ensemble import ensemble_transform_text, transducer_ensemble
from pyg_grapheme.models.graph_transform_net import GraphTransformNet, Transduction, TransformOutput
from pyg_grapheme.models.objective import TransformObjective
from pyg_grapheme.models.transducer import TransducerGrowth

__all__ = [
    "GraphTransformNet",
    "TransducerGrowth",
    "Transduction",
    "TransformObjective",
    "TransformOutput",
    "ensemble_transform_text",
    "transducer_ensemble",
]
