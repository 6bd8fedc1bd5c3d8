"""Neural-network layers of pyg-grapheme (PyTorch Geometric modules)."""

from pyg_grapheme.nn.pool import MergeHistory, MergeInfo, ThresholdMergePool

__all__ = ["MergeHistory", "MergeInfo", "ThresholdMergePool"]
