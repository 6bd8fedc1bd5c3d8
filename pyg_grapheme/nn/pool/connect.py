r"""Connect step of :class:`~pyg_grapheme.nn.ThresholdMergePool` in tensor code: the edges
between clusters.

Every input edge :math:`(u, v)` becomes :math:`(c(u), c(v))`; duplicates are coalesced,
direction kept, and self-loops (the edges inside a cluster) either kept as one self-loop
per cluster, as EdgePooling does, or removed, so a chain stays a chain. TorchScript-compatible,
with no host read: the output edges are padded to :math:`E` (their count :math:`E'`
stays a 0-d tensor until the layer reads every count at once).

* :func:`pooled_edges`: the coalesced edges and the output edge of every input edge.
* :func:`edge_weights`: the soft weight :math:`\mathrm{mean}(1 - g)` of each output edge.
* :func:`edge_attr_means`: the mean attributes of each output edge.

:mod:`pyg_grapheme.nn.pool.host.connect` holds the same as compiled loops (Numba) for
CPU arrays, under the same names.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pyg_grapheme.nn.pool.select import run_starts


def pooled_edges(
    edge_index: Tensor, cluster: Tensor, num_nodes: int, self_loops: bool = False
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    r"""Input edges mapped to clusters, duplicates coalesced, self-loops kept (coalesced
    too: one per cluster with an edge inside) or removed.

    One sort of the :math:`E` edge keys :math:`c(u) N + c(v)` (clusters number below
    :math:`N`, so :math:`N` serves as the base without knowing :math:`C`) and one
    run-length pass.

    Args:
        edge_index (torch.Tensor): Input edges :math:`[2, E]`.
        cluster (torch.Tensor): :math:`[N]`, input node -> output node.
        num_nodes (int): :math:`N`.
        self_loops (bool): Keep the edges inside a cluster as its self-loop.

    Returns:
        * **slot** (*torch.Tensor*): :math:`[E]`, the output edge of each input edge,
          :math:`E` for a dropped edge (inside a cluster, without ``self_loops``).
        * **edge_index** (*torch.Tensor*): :math:`[2, E]`, the output edges, sorted
          lexicographically, in the first :math:`E'` columns (zeros after).
        * **count** (*torch.Tensor*): :math:`[E]`, input edges mapping to each output
          edge (zeros after :math:`E'`).
        * **num_edges** (*torch.Tensor*): :math:`E'`, 0-d.
    """
    num_edges = edge_index.size(1)
    base = max(num_nodes, 1)
    edge_cluster = cluster.index_select(0, edge_index.reshape(-1)).view(2, -1)
    sentinel = base * base
    key = edge_cluster[0] * base + edge_cluster[1]
    if not self_loops:  # the edges inside a cluster sort last, past every output edge
        key = torch.where(edge_cluster[0] != edge_cluster[1], key, sentinel)
    sorted_key, order = torch.sort(key)
    is_first = (sorted_key != sentinel) & run_starts(sorted_key)
    run = is_first.long().cumsum(0) - 1
    run = torch.where(sorted_key != sentinel, run, num_edges)
    slot = torch.empty_like(run).scatter_(0, order, run)
    count = torch.zeros(num_edges + 1, dtype=torch.long, device=edge_index.device)
    count = count.index_add_(0, run, torch.ones_like(run))[:num_edges]
    out = torch.zeros(2, num_edges + 1, dtype=torch.long, device=edge_index.device)
    target = torch.where(is_first, run, num_edges)
    out[0].scatter_(0, target, sorted_key // base)
    out[1].scatter_(0, target, sorted_key % base)
    edge_index_out = torch.where(count > 0, out[:, :num_edges], 0)
    return slot, edge_index_out, count, is_first.sum()


def edge_weights(gate: Tensor, pair_of_edge: Tensor, slot: Tensor, count: Tensor) -> Tensor:
    r"""Soft weights :math:`w_{e'} = \frac{1}{n_{e'}}\sum_{e \to e'} (1 - g_{p(e)})`
    :math:`[E]` of the output edges (a scatter sum over the input edges divided by the
    counts; :math:`g = 0` for input edges that are no candidate pair, whose
    ``pair_of_edge`` points past the gates; :math:`1` in the padding past :math:`E'`).

    Args:
        gate (torch.Tensor): :math:`[M]`.
        pair_of_edge (torch.Tensor): :math:`[E]`, :math:`M` for non-candidates.
        slot (torch.Tensor): :math:`[E]`, output edge of each input edge (``len(count)``
            if dropped).
        count (torch.Tensor): Input edges per output edge, one entry per output row.
    """
    rows = count.numel()
    pair_gate = torch.cat([gate, gate.new_zeros(1)]).index_select(0, pair_of_edge)
    total = gate.new_zeros(rows + 1).index_add(0, slot, 1.0 - pair_gate)[:rows]
    return total / count.clamp_min(1).to(gate.dtype)


def edge_attr_means(edge_attr: Tensor | None, slot: Tensor, count: Tensor) -> Tensor | None:
    r"""Mean attributes :math:`[\mathrm{len(count)}, \ldots]` of the input edges that map
    to each output edge (zeros in the padding); ``slot`` as in :func:`edge_weights`."""
    if edge_attr is None:
        return None
    rows = count.numel()
    shape = list(edge_attr.shape)
    shape[0] = rows + 1
    total = edge_attr.new_zeros(shape).index_add(0, slot, edge_attr)[:rows]
    scale = count.clamp_min(1).to(total.dtype).view([-1] + [1] * (total.dim() - 1))
    return total / scale
