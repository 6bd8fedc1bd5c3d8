"""pyg-grapheme: threshold merge pooling and a structural graph loss for PyTorch Geometric.

Text becomes a chain graph of Unicode grapheme clusters (:mod:`pyg_grapheme.text`),
a network morphs it by merging nodes (:class:`pyg_grapheme.nn.ThresholdMergePool`),
and :class:`pyg_grapheme.loss.StructuralLoss` compares the morphed graph with a target.
"""

# Nothing heavy is imported here: the data generators and their command need neither torch
# nor PyG, and each subpackage imports what it uses. (PyG's import raises a
# DeprecationWarning about torch.jit.script from torch's own module; Python shows those
# only in test runners, where pyproject.toml's filter names it.)

__version__ = "0.1.0"
