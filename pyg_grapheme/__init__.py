"""pyg-grapheme: threshold merge pooling and a structural graph loss for PyTorch Geometric.

Text becomes a chain graph of Unicode grapheme clusters (:mod:`pyg_grapheme.text`),
a network morphs it by merging nodes (:class:`pyg_grapheme.nn.ThresholdMergePool`),
and :class:`pyg_grapheme.loss.StructuralLoss` compares the morphed graph with a target.
"""

__version__ = "0.1.0"
