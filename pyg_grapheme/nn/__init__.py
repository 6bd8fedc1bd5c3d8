"""Neural-network layers of pyg-grapheme (PyTorch Geometric modules)."""

from pyg_grapheme.nn.attention import GraphAttention
from pyg_grapheme.nn.conv import GraphemeConv
from pyg_grapheme.nn.morph_history import MorphHistory
from pyg_grapheme.nn.pool import MergeInfo, ThresholdMergePool, pairwise_straight_through
from pyg_grapheme.nn.split import NodeSplit, SplitInfo

__all__ = [
    "GraphAttention",
    "GraphemeConv",
    "MergeInfo",
    "MorphHistory",
    "NodeSplit",
    "SplitInfo",
    "ThresholdMergePool",
    "pairwise_straight_through",
]
