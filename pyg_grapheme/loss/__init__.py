"""Structural loss between graphs: batched log-domain Sinkhorn, node/edge/clique terms.

.. code-block:: python

    from pyg_grapheme.loss import StructuralLoss, sinkhorn

    plan = sinkhorn(cost, a, b, epsilon=0.1)   # [B, n, m], zero mass = padding
    loss = StructuralLoss()(pred, target)      # PyG Data/Batch pairs
"""

from .clique import clique_distance, out_degree_statistics
from .dense_graph import DenseGraphs, to_dense_graphs
from .edge_disagreement import edge_disagreement
from .fused_gromov import FusedGromovSolver, fused_gromov_plan
from .log_domain import LogSinkhorn
from .node_cost import NodeCost, augment_with_dummy, node_cost
from .rounding import round_to_marginals
from .sinkhorn import Sinkhorn, SinkhornResult, sinkhorn, sinkhorn2
from .smooth_abs import smooth_abs
from .structural import Alignment, StructuralLoss

__all__ = [
    "Alignment",
    "DenseGraphs",
    "FusedGromovSolver",
    "LogSinkhorn",
    "NodeCost",
    "Sinkhorn",
    "SinkhornResult",
    "StructuralLoss",
    "augment_with_dummy",
    "clique_distance",
    "edge_disagreement",
    "fused_gromov_plan",
    "node_cost",
    "out_degree_statistics",
    "round_to_marginals",
    "sinkhorn",
    "sinkhorn2",
    "smooth_abs",
    "to_dense_graphs",
]
