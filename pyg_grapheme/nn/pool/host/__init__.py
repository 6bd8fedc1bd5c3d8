"""Host kernels of :class:`~pyg_grapheme.nn.ThresholdMergePool`: the select, reduce and connect
steps compiled with Numba for CPU arrays, twins of the tensor code under the same names."""
