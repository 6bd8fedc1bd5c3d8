"""Neural-network layers of pyg-grapheme (PyTorch Geometric modules)."""

from pyg_grapheme.nn.attention import GraphAttention
from pyg_grapheme.nn.conv import GraphemeConv
from pyg_grapheme.nn.pool import (
    MergeHistory,
    MergeInfo,
    ThresholdMergePool,
    pairwise_straight_through,
)

__all__ = [
    "GraphAttention",
    "GraphemeConv",
    "MergeHistory",
    "MergeInfo",
    "ThresholdMergePool",
    "pairwise_straight_through",
]
