"""Triton kernels of :class:`~pyg_grapheme.nn.ThresholdMergePool` for CUDA tensors: the merge
rules with a fixed number of launches and no host read."""
