"""Pooling layers: select which nodes merge, reduce their features, connect the clusters, lift back."""

from pyg_grapheme.nn.pool.merge_info import MergeInfo
from pyg_grapheme.nn.pool.straight_through import pairwise_straight_through
from pyg_grapheme.nn.pool.threshold_merge import ThresholdMergePool

__all__ = ["MergeInfo", "ThresholdMergePool", "pairwise_straight_through"]
