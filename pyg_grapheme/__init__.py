"""pyg-grapheme: threshold merge pooling and a structural graph loss for PyTorch Geometric.

Text becomes a chain graph of Unicode grapheme clusters (:mod:`pyg_grapheme.text`),
a network morphs it by merging nodes (:class:`pyg_grapheme.nn.ThresholdMergePool`),
and :class:`pyg_grapheme.loss.StructuralLoss` compares the morphed graph with a target.
"""

import warnings

# PyG 2.8 compiles a few helpers with torch.jit.script at import, which torch 2.13
# deprecates with a warning per call; importing it here, quietly, keeps that notice
# (which no user of this package can act on) out of every script that imports us.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated")
    import torch_geometric  # noqa: F401

__version__ = "0.1.0"
