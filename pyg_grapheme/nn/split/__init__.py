"""Growth layers: split nodes into counted, chained children, and lift values back."""

from pyg_grapheme.nn.split.node_split import NodeSplit, lift_children
from pyg_grapheme.nn.split.split_info import SplitInfo

__all__ = ["NodeSplit", "SplitInfo", "lift_children"]
