r"""Threshold merge pooling: merge nodes more similar than a learnable threshold."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch_geometric
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.utils import scatter

from pyg_grapheme.nn.input_checks import check_graph_inputs
from pyg_grapheme.nn.pool import select_host
from pyg_grapheme.nn.pool.host_autograd import (
    HOST_DTYPES,
    edge_weights,
    matching_reduce,
    pair_scores,
)
from pyg_grapheme.nn.pool.merge_info import MergeInfo
from pyg_grapheme.nn.pool.pair_cosine import pair_cosine, pair_cosine_reference
from pyg_grapheme.nn.pool.select import (
    all_pair_candidates,
    connected_components,
    count_all_pairs,
    edge_candidates,
    greedy_matching,
    most_similar_per_graph,
    number_clusters,
    pair_of_edges,
    pooled_edges,
)

MODES = ("components", "matching")
CANDIDATES = ("edges", "all")
REDUCES = ("mean", "sum")
SIMILARITIES = ("cosine", "centered")
START_QUANTILE = 0.5  # threshold=None: tau starts at this quantile of the first similarities
GATE_STRENGTH = 0.1  # default gate_features: the share of the merge score in the pooled scale


def _scale_gradient(x: Tensor, factor: float) -> Tensor:
    r""":math:`\mathrm{sg}(\mathbf{x}) + \kappa(\mathbf{x} - \mathrm{sg}(\mathbf{x}))` with
    :math:`\kappa` = ``factor``: equal to ``x`` (exactly: the difference is zero), with its
    gradient multiplied by ``factor``."""
    if factor == 1.0:
        return x
    frozen = x.detach()
    if factor == 0.0:
        return frozen
    return frozen + factor * (x - frozen)


class ThresholdMergePool(torch.nn.Module):
    r"""Merges nodes whose features are more similar than a learnable threshold,
    and returns the cluster map as merge history.

    A drop-in for :class:`~torch_geometric.nn.pool.EdgePooling` and
    :class:`~torch_geometric.nn.pool.ClusterPooling`: same call, same return
    order, plus :meth:`unpool` for both merge rules. The four pooling steps:

    **Select.** Candidate pairs :math:`(i, j)`, :math:`i < j`, are the adjacent
    nodes (:obj:`candidates="edges"`) or every pair inside the same graph
    (:obj:`"all"`). Each is scored by the cosine similarity of the projected,
    per-graph centred features and gated against the threshold
    :math:`\tau = \sigma(\theta)` with learnable logit :math:`\theta`:

    .. math::
        \mathbf{h}_i = \mathbf{W}\mathbf{x}_i - \frac{1}{n_g}\sum_{k \in g}
            \mathbf{W}\mathbf{x}_k, \qquad
        s_{ij} = \frac{\langle \mathbf{h}_i, \mathbf{h}_j \rangle}
                      {\lVert \mathbf{h}_i \rVert \, \lVert \mathbf{h}_j \rVert}, \qquad
        g_{ij} = \sigma\!\left(\frac{s_{ij} - \tau}{T}\right),

    with :math:`\mathbf{W} = \mathbf{I}` unless :obj:`in_channels` is given.
    Centring matters for the features real models produce: post-ReLU vectors
    are non-negative, so their plain cosine is close to 1 for almost every pair
    and says little; :obj:`similarity="cosine"` skips it. With
    :obj:`threshold=None` (the default) :math:`\tau` starts at the median
    similarity of the first batch, so about half of the candidate pairs start
    above it whatever the feature scale; :obj:`ratio` caps the merges per graph.
    The pairs with :math:`s_{ij} > \tau` merge: with :obj:`mode="components"`
    clusters are the connected components of those pairs; with
    :obj:`mode="matching"` a greedy matching by descending :math:`s_{ij}` picks
    them (each node merges at most once, EdgePooling's rule). Both are
    vectorised, deterministic, and break ties by node index.

    **Reduce.** Each cluster :math:`c` becomes the weighted mean of its members

    .. math::
        \mathbf{x}'_c = \sum_{i \in c} w_i \mathbf{x}_i, \qquad
        w_i = \frac{d_i}{\sum_{k \in c} d_k}, \qquad
        d_i = \sum_{(i, j)\ \mathrm{merged}} g_{ij},

    the stationary distribution of a random walk on the cluster's gate-weighted
    merge graph (:math:`w_i = 1` for a node that merges with nothing, which
    passes through unchanged); a matched pair has :math:`w_i = w_j = 1/2`.
    :obj:`reduce="sum"` multiplies by the cluster size. The pooled features are
    then scaled by the cluster's merge score :math:`\bar g_c` (its pair's gate
    in a matching, the mean gate of its merged pairs in a component, 1 for a
    node that merged with nothing) at a strength
    :math:`\alpha` = :obj:`gate_features`,

    .. math::
        \mathbf{x}'_c \leftarrow (1 - \alpha + \alpha\, \bar g_c)\, \mathbf{x}'_c,

    so the task loss reaches the similarities, the projection and :math:`\tau`
    (EdgePooling multiplies by its edge score, :math:`\alpha = 1`). The
    gradient that the merge decisions send back through the similarities into
    the layers before the pool is :math:`\alpha` times that of
    :math:`\alpha = 1`; under a scale-invariant optimiser (Adam) the
    projection and :math:`\tau` learn at the same rate whatever
    :math:`\alpha`, while the backbone is pulled less towards making nodes
    mergeable and more by the task. The forward result stays an exact hard
    merge and the gradient the exact one of this forward.

    **Connect.** Every input edge :math:`(u, v)` becomes :math:`(c(u), c(v))`;
    self-loops are removed and duplicates coalesced (edge attributes averaged),
    direction kept, so a chain stays a chain. Each output edge carries the soft
    weight :math:`\mathrm{mean}(1 - g_{uv})` over the input edges mapping to it
    (:math:`1` for edges that are no candidate), so a loss on soft degrees can
    push pairs to merge or not.

    **Lift.** :meth:`unpool` gives every input node its cluster's features
    :math:`\mathbf{x}'_{c(i)}` and restores the input graph;
    :class:`~pyg_grapheme.nn.MergeHistory` composes several layers.

    **Gradients.** Within one merge pattern the outputs are exact differentiable
    functions of :math:`\mathbf{x}`, :math:`\mathbf{W}` and :math:`\theta`
    (with :obj:`similarity_gradient` :math:`\kappa < 1`, exact in :math:`\mathbf{W}`
    and :math:`\theta`, while the part of :math:`\partial/\partial\mathbf{x}` that passes
    through the similarities is multiplied by :math:`\kappa`)
    (through :math:`g_{ij}` in :math:`w_i`, ``info.gate`` and ``info.edge_weight``).
    The hard pattern itself is piecewise constant in :math:`\tau`. To learn
    :math:`\tau` across patterns, use the *pairwise straight-through* estimator:
    expand the loss to first order in the merge indicators
    :math:`m_{ij} \in \{0, 1\}`, :math:`L(m) \approx L_0 + \sum m_{ij}\Delta_{ij}`
    (:math:`\Delta_{ij}` the change of the loss when :math:`(i, j)` merges), and
    replace :math:`m_{ij}` by :math:`g_{ij}` in the backward pass only,

    .. math::
        L_{\mathrm{st}} = L + \sum g_{ij}\Delta_{ij}
                        - \mathrm{sg}\Big(\sum g_{ij}\Delta_{ij}\Big), \qquad
        \frac{\partial L_{\mathrm{st}}}{\partial \tau}
            = -\frac{1}{T}\sum g_{ij}(1 - g_{ij})\,\Delta_{ij}.

    A pair pulls :math:`\tau` below its similarity when merging it helps
    (:math:`\Delta_{ij} < 0`) and above it otherwise, weighted by its closeness
    to the boundary. Why this one: the forward pass stays the exact hard merge
    (a soft relaxation would change the pooled graph), it costs nothing beyond
    the gates already computed, and it is the exact gradient of the expected
    loss under independent Bernoulli(:math:`g_{ij}`) merges when the loss is
    additive over pairs, as counts are: on a forest of candidates (a chain) the
    number of output nodes is :math:`N - \sum m_{ij}`, with surrogate
    :math:`N - \sum g_{ij}`. Binary cross-entropy of ``info.gate`` against
    desired merges is the same estimator with :math:`\Delta` given by targets.
    Score-function (REINFORCE) estimates need no additivity but have high
    variance; Gumbel relaxations change the forward graph.

    **Cost.** Time and memory are linear in the number of edges (pairs for
    :obj:`"all"`). Two implementations give the same result (tested value for
    value and gradient for gradient):

    * on the CPU, for float32 and float64 features and adjacent candidates in
      eager mode, compiled host kernels
      (:mod:`~pyg_grapheme.nn.pool.select_host`,
      :mod:`~pyg_grapheme.nn.pool.host_autograd`): one pass per step, counting
      sorts, the greedy matching walked once and a union-find for components,
      and three autograd Functions for the differentiable steps; on the small
      batches graph models train on this costs a fraction of the tensor code's
      fixed per-operation overhead;
    * elsewhere (CUDA, TorchScript, :func:`torch.compile`, other dtypes,
      :obj:`candidates="all"`), tensor code: the similarity is a sparse SDDMM
      (no :math:`[P, F]` gathers), components and matchings propagate in
      rounds over the pairs, and the host reads a few scalars per call (output
      sizes, layout checks, one convergence flag per round), never per element.

    Args:
        in_channels (int, optional): Size of each input sample. If given, the
            similarity is measured after a learnable linear map
            :math:`\mathbf{W} \in \mathbb{R}^{k \times F}`, initialised to the
            identity when :math:`k = F`. (default: :obj:`None`)
        threshold (float, optional): Starting effective threshold
            :math:`\tau \in (0, 1)`; :obj:`None` starts it at the median
            similarity of the first call (kept by :meth:`load_state_dict`,
            averaged over the ranks of a distributed run; TorchScript starts at
            :math:`0.5`). (default: :obj:`None`)
        mode (str, optional): :obj:`"matching"` or :obj:`"components"`.
            (default: :obj:`"matching"`)
        candidates (str, optional): :obj:`"edges"` (adjacent pairs) or
            :obj:`"all"` (every pair inside a graph, :math:`\sum_g n_g(n_g-1)/2`
            pairs). (default: :obj:`"edges"`)
        reduce (str, optional): :obj:`"sum"` (weighted mean times cluster size:
            a matched pair gives :math:`\mathbf{x}_i + \mathbf{x}_j`, as in
            EdgePooling) or :obj:`"mean"` (weighted mean). (default: :obj:`"sum"`)
        temperature (float, optional): Gate temperature :math:`T > 0`.
            (default: :obj:`0.1`)
        max_pairs (int, optional): Refuse :obj:`candidates="all"` with more
            scored pairs :math:`P` than this; forward + backward hold about 90
            bytes per pair (no :math:`[P, F]` tensors). (default: :obj:`2**22`)
        similarity (str, optional): :obj:`"centered"` (cosine after subtracting
            each graph's mean) or :obj:`"cosine"`. (default: :obj:`"centered"`)
        gate_features (float, optional): :math:`\alpha \in [0, 1]`, how much the
            cluster merge scores ``info.score`` scale the pooled features, by
            :math:`1 - \alpha + \alpha \bar g_c`. :obj:`True` (:math:`1`)
            multiplies by the score itself, :obj:`False` (:math:`0`) leaves the
            features unscaled (``info.score`` is then all ones).
            (default: :obj:`0.1`)
        ratio (float, optional): If given, at most the
            :math:`\lfloor (1 - \mathrm{ratio})\, n_g \rfloor` most similar
            pairs of each graph may merge, so at least
            :math:`\lceil \mathrm{ratio} \cdot n_g \rceil` nodes are kept.
            (default: :obj:`None`)
        similarity_channels (int, optional): :math:`k`, the size of the space
            the similarity is measured in (needs :obj:`in_channels`); a smaller
            :math:`k` makes the similarity and its backward cheaper. Below
            :math:`F` the map starts with orthonormal rows, a random projection
            that keeps cosines close. :obj:`None` means :math:`k = F`.
            (default: :obj:`None`)
        similarity_gradient (float, optional): :math:`\kappa \in [0, 1]`, the share
            of the gradient through the similarities that reaches :math:`\mathbf{x}`:
            the similarity is measured on
            :math:`\mathrm{sg}(\mathbf{x}) + \kappa(\mathbf{x} - \mathrm{sg}(\mathbf{x}))`,
            the same forward pass. :math:`1` is the exact gradient; :math:`0` detaches
            it, so the task loss reaches the merge decisions only through
            :math:`\mathbf{W}` and :math:`\theta` and the layers before the pool are not
            trained to move merges; in between, those layers learn from the merge
            gates at a :math:`\kappa` share. :math:`\mathbf{W}` and :math:`\theta`
            keep their exact gradients.
            (default: :obj:`1.0`)
    """

    # TorchScript compiles `threshold` per concrete module type and then refuses a
    # second definition; forward reads the logit directly instead.
    __jit_unused_properties__ = ["threshold"]  # noqa: RUF012

    def __init__(
        self,
        in_channels: int | None = None,
        threshold: float | None = None,
        mode: str = "matching",
        candidates: str = "edges",
        reduce: str = "sum",
        temperature: float = 0.1,
        max_pairs: int = 2**22,
        similarity: str = "centered",
        gate_features: float = GATE_STRENGTH,
        ratio: float | None = None,
        similarity_channels: int | None = None,
        similarity_gradient: float = 1.0,
    ) -> None:
        super().__init__()
        if in_channels is not None and in_channels <= 0:
            raise ValueError(f"ThresholdMergePool: in_channels must be positive, got {in_channels}")
        if threshold is not None and not 0.0 < threshold < 1.0:
            raise ValueError(
                f"ThresholdMergePool: threshold is the effective value sigmoid(logit) and must "
                f"lie strictly between 0 and 1, got {threshold}"
            )
        if mode not in MODES:
            raise ValueError(f"ThresholdMergePool: mode must be one of {MODES}, got {mode!r}")
        if candidates not in CANDIDATES:
            raise ValueError(
                f"ThresholdMergePool: candidates must be one of {CANDIDATES}, got {candidates!r}"
            )
        if reduce not in REDUCES:
            raise ValueError(f"ThresholdMergePool: reduce must be one of {REDUCES}, got {reduce!r}")
        if not temperature > 0.0:
            raise ValueError(f"ThresholdMergePool: temperature must be positive, got {temperature}")
        if max_pairs < 0:
            raise ValueError(f"ThresholdMergePool: max_pairs must be >= 0, got {max_pairs}")
        if similarity not in SIMILARITIES:
            raise ValueError(
                f"ThresholdMergePool: similarity must be one of {SIMILARITIES}, got {similarity!r}"
            )
        if ratio is not None and not 0.0 < ratio <= 1.0:
            raise ValueError(f"ThresholdMergePool: ratio must lie in (0, 1], got {ratio}")
        if not 0.0 <= gate_features <= 1.0:
            raise ValueError(
                f"ThresholdMergePool: gate_features must lie in [0, 1] (False = 0, True = 1), "
                f"got {gate_features}"
            )
        if not 0.0 <= similarity_gradient <= 1.0:
            raise ValueError(
                f"ThresholdMergePool: similarity_gradient must lie in [0, 1], "
                f"got {similarity_gradient}"
            )
        if similarity_channels is not None and (in_channels is None or similarity_channels <= 0):
            raise ValueError(
                f"ThresholdMergePool: similarity_channels needs in_channels and must be positive, "
                f"got similarity_channels={similarity_channels}, in_channels={in_channels}"
            )

        self.in_channels = in_channels
        self.initial_threshold = None if threshold is None else float(threshold)
        self.mode = mode
        self.candidates = candidates
        self.reduce = reduce
        self.temperature = float(temperature)
        self.max_pairs = int(max_pairs)
        self.similarity = similarity
        self.gate_features = float(gate_features)
        self.similarity_gradient = float(similarity_gradient)
        self.ratio = None if ratio is None else float(ratio)
        self.similarity_channels = (
            in_channels if similarity_channels is None else int(similarity_channels)
        )
        # threshold=None: the first call sets tau from its own similarities (see forward).
        self._start_from_data = False

        self.lin = (
            None
            if in_channels is None
            else Linear(
                in_channels, self.similarity_channels, bias=False, weight_initializer="glorot"
            )
        )
        self.threshold_logit = Parameter(torch.empty(()))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets the projection (identity if square, orthonormal rows otherwise) and
        :math:`\tau` to its starting value."""
        if self.lin is not None:
            with torch.no_grad():
                # Identity when square; otherwise orthonormal rows, a random projection that
                # keeps cosines close (Johnson-Lindenstrauss).
                if self.lin.weight.size(0) == self.lin.weight.size(1):
                    torch.nn.init.eye_(self.lin.weight)
                else:
                    torch.nn.init.orthogonal_(self.lin.weight)
        tau = self.initial_threshold
        self._start_from_data = tau is None
        with torch.no_grad():
            self.threshold_logit.fill_(0.0 if tau is None else math.log(tau / (1.0 - tau)))

    @property
    def threshold(self) -> Tensor:
        r"""Effective threshold :math:`\tau = \sigma(\theta)` (scalar, differentiable)."""
        return torch.sigmoid(self.threshold_logit)

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor | None = None,
        edge_attr: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, MergeInfo]:
        r"""Pools the graph.

        Args:
            x (torch.Tensor): Node features :math:`[N, F]`.
            edge_index (torch.Tensor): Edge indices :math:`[2, E]`.
            batch (torch.Tensor, optional): Batch vector :math:`[N]`, assigning each
                node to a graph; :obj:`None` means a single graph. (default: :obj:`None`)
            edge_attr (torch.Tensor, optional): Floating edge features
                :math:`[E, \ldots]`. (default: :obj:`None`)

        Returns:
            * **x** (*torch.Tensor*): Pooled features :math:`[C, F]`.
            * **edge_index** (*torch.Tensor*): Pooled edges :math:`[2, E']`.
            * **batch** (*torch.Tensor*): Pooled batch vector :math:`[C]`, sorted
              when the input one is.
            * **info** (:class:`~pyg_grapheme.nn.MergeInfo`): The merge record,
              consumed by :meth:`unpool` and :class:`~pyg_grapheme.nn.MergeHistory`.
        """
        if not torch.jit.is_scripting():
            self._check_input(x, edge_index, batch, edge_attr)
        num_nodes = x.size(0)
        if batch is None:
            batch = torch.zeros(num_nodes, dtype=torch.long, device=x.device)

        # TorchScript compiles the branch unless `not torch.jit.is_scripting()` alone guards it.
        if not torch.jit.is_scripting():  # noqa: SIM102
            if self._runs_on_host(x):
                return self._forward_on_host(x, edge_index, batch, edge_attr)

        # Select: score candidate pairs, decide hard merges, number the clusters.
        candidate_index, pair_of_edge = self._candidates(edge_index, batch, num_nodes)
        similarity = self._similarity(
            _scale_gradient(x, self.similarity_gradient), candidate_index, batch
        )
        if self._start_from_data and not torch.jit.is_scripting():
            self._start_threshold(similarity)
        threshold = torch.sigmoid(self.threshold_logit)
        gate = torch.sigmoid((similarity - threshold) * (1.0 / self.temperature))
        above = similarity.detach() > threshold.detach()
        if self.ratio is not None:
            above = above & most_similar_per_graph(
                candidate_index, similarity.detach(), batch, self.ratio
            )
        if self.mode == "components":
            merged = above
            root = connected_components(candidate_index, merged, num_nodes)
        else:
            merged = greedy_matching(candidate_index, similarity, above, num_nodes)
            # The smaller end of a matched pair is the root of both.
            partner = torch.where(merged, candidate_index[0], candidate_index[1])
            root = torch.arange(num_nodes, device=x.device)
            root = root.scatter_reduce(0, candidate_index[1], partner, reduce="amin")
        cluster, num_clusters = number_clusters(root, batch)

        # Reduce: weighted mean of the members (times the cluster size, times the merge score).
        if self.mode == "components":
            x_out, member_weight, cluster_size, score = self._component_reduce(
                x, gate, merged, candidate_index, cluster, num_clusters
            )
        else:
            # A matched pair has d_i = d_j = g_ij, so w = 1/2 exactly: no gate in the weights.
            x_out, member_weight, cluster_size, score = self._pair_reduce(
                x, gate, merged, candidate_index, cluster, num_clusters, self.gate_features > 0.0
            )
            if self.reduce == "mean":
                x_out = x_out / cluster_size.unsqueeze(-1)
            if self.gate_features > 0.0:
                x_out = x_out * self._feature_scale(score).unsqueeze(-1)
        batch_out = batch.new_empty(num_clusters).scatter_(0, cluster, batch)

        # Connect: edges between clusters.
        keep, slot, edge_index_out, count = pooled_edges(edge_index, cluster, num_clusters)
        edge_weight = self._edge_weights(gate, pair_of_edge, keep, slot, count)
        edge_attr_out = self._edge_attr_means(edge_attr, keep, slot, count)

        info = MergeInfo(
            cluster=cluster,
            edge_index=edge_index,
            batch=batch,
            member_weight=member_weight,
            candidate_index=candidate_index,
            similarity=similarity,
            gate=gate,
            merged=merged,
            edge_weight=edge_weight,
            edge_attr=edge_attr_out,
            num_clusters=num_clusters,
            score=score,
        )
        return x_out, edge_index_out, batch_out, info

    @torch.jit.export
    def unpool(self, x: Tensor, info: MergeInfo) -> tuple[Tensor, Tensor, Tensor]:
        r"""Lifts pooled node values back to the input graph.

        Args:
            x (torch.Tensor): Values on the pooled nodes :math:`[C, \ldots]`.
            info (MergeInfo): The record returned by :meth:`forward`.

        Returns:
            * **x** (*torch.Tensor*): :math:`[N, \ldots]`, each input node gets its
              cluster's value (its cluster mean for :obj:`reduce="sum"`).
            * **edge_index** (*torch.Tensor*): The input edges :math:`[2, E]`.
            * **batch** (*torch.Tensor*): The input batch vector :math:`[N]`.
        """
        if x.dim() == 0 or x.size(0) != info.num_clusters:
            raise ValueError(
                f"ThresholdMergePool.unpool: expected x with {info.num_clusters} rows (one per "
                f"pooled node), got shape {list(x.shape)}"
            )
        if self.reduce == "sum":
            size = torch.bincount(info.cluster, minlength=info.num_clusters).to(x.dtype)
            x = x / size.view([-1] + [1] * (x.dim() - 1))
        return x.index_select(0, info.cluster), info.edge_index, info.batch

    def _similarity(self, x: Tensor, candidate_index: Tensor, batch: Tensor) -> Tensor:
        r"""Cosine similarity :math:`[P]` of the (projected, centred) features of each pair.

        Sparse kernels (SDDMM forward, SpMM backward, see
        :func:`~pyg_grapheme.nn.pool.pair_cosine.pair_cosine`); a zero row has
        similarity 0 with everything. TorchScript runs the same math with gathers.
        """
        h = x if self.lin is None else self.lin(x)
        if self.similarity == "centered":
            h = h - scatter(h, batch, 0, reduce="mean").index_select(0, batch)
        if torch.jit.is_scripting():
            return pair_cosine_reference(h, candidate_index)
        return self._pair_cosine(h, candidate_index)

    @torch.jit.unused
    def _start_threshold(self, similarity: Tensor) -> None:
        """threshold=None: set tau to a quantile of the first call's similarities (one read)."""
        self._start_from_data = False
        if similarity.numel() == 0:
            return
        tau = torch.quantile(similarity.detach().float(), START_QUANTILE)
        tau = tau.clamp(-1.0 + 1e-3, 1.0 - 1e-3)
        # The logit parametrises tau in (0, 1): similarities below 0 start it near 0.
        tau = tau.clamp_min(1e-3)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # Every replica must start from the same tau: average the ranks' first batches.
            tau = tau.to(self.threshold_logit.device)
            torch.distributed.all_reduce(tau)
            tau = tau / torch.distributed.get_world_size()
        with torch.no_grad():
            self.threshold_logit.copy_(torch.logit(tau))

    def _load_from_state_dict(
        self, state_dict: dict[str, Tensor], prefix: str, *args: object, **kwargs: object
    ) -> None:
        """A loaded tau is a trained (or already started) one: the first call keeps it."""
        if prefix + "threshold_logit" in state_dict:
            self._start_from_data = False
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.jit.unused
    def _pair_cosine(self, h: Tensor, candidate_index: Tensor) -> Tensor:
        """Sparse-kernel cosine (an autograd Function, which TorchScript cannot compile)."""
        return pair_cosine(h, candidate_index)

    def _candidates(
        self, edge_index: Tensor, batch: Tensor, num_nodes: int
    ) -> tuple[Tensor, Tensor]:
        """Candidate pairs ``[2, P]`` and the pair of each input edge ``[E]`` (``P`` if none)."""
        if self.candidates == "edges":
            return edge_candidates(edge_index, batch, num_nodes)
        num_pairs, largest, batch_is_sorted = count_all_pairs(batch)
        if num_pairs > self.max_pairs:
            raise ValueError(
                f"ThresholdMergePool: candidates='all' would score {num_pairs} pairs "
                f"(sum of n*(n-1)/2 over the graphs; largest graph has {largest} nodes), more "
                f"than max_pairs={self.max_pairs}. Use candidates='edges', smaller graphs, or a "
                f"larger max_pairs (forward + backward hold about 90 bytes per pair)."
            )
        candidate_index = all_pair_candidates(batch, batch_is_sorted)
        return candidate_index, pair_of_edges(edge_index, candidate_index, num_nodes)

    @staticmethod
    def _member_weight(
        gate: Tensor,
        merged: Tensor,
        candidate_index: Tensor,
        cluster: Tensor,
        num_clusters: int,
        with_score: bool = True,
    ) -> tuple[Tensor, Tensor, Tensor]:
        r"""Member weights :math:`w_i = d_i / \sum_{k \in c} d_k` :math:`[N]`, cluster sizes
        :math:`[C]` and cluster merge scores :math:`[C]`.

        The score is the mean gate of the cluster's merged pairs, :math:`\sum_{i \in c} d_i
        / \sum_{i \in c} m_i` with :math:`m_i` the number of merged pairs at :math:`i`
        (each pair counts at both ends in both sums), and :math:`1` for a cluster of one;
        without ``with_score`` it is all ones.
        """
        num_nodes = cluster.numel()
        ends = candidate_index.view(-1)
        merged_gate = torch.where(merged, gate, 0.0)
        soft_degree = scatter(
            torch.cat([merged_gate, merged_gate]), ends, 0, num_nodes, reduce="sum"
        )
        cluster_size = torch.bincount(cluster, minlength=num_clusters).to(gate.dtype)
        # Members of a cluster of two or more merged with someone; the others pass through.
        weight = torch.where(cluster_size.index_select(0, cluster) > 1, soft_degree, 1.0)
        total = scatter(weight, cluster, 0, num_clusters, reduce="sum")
        if not with_score:
            score = torch.ones_like(total)
        else:
            hard = merged.to(gate.dtype)
            merged_degree = scatter(torch.cat([hard, hard]), ends, 0, num_nodes, reduce="sum")
            merged_total = scatter(merged_degree, cluster, 0, num_clusters, reduce="sum")
            score = torch.where(merged_total > 0, total / merged_total.clamp_min(1.0), 1.0)
        return weight / total.index_select(0, cluster), cluster_size, score

    @staticmethod
    def _pair_reduce(
        x: Tensor,
        gate: Tensor,
        merged: Tensor,
        candidate_index: Tensor,
        cluster: Tensor,
        num_clusters: int,
        with_score: bool,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Matching: cluster sums :math:`[C, F]`, member weights (1/2 or 1) :math:`[N]`, cluster
        sizes :math:`[C]` and scores (the matched pair's gate, 1 for a node left alone) :math:`[C]`."""
        x_sum = scatter(x, cluster, 0, num_clusters, reduce="sum")
        size = torch.bincount(cluster, minlength=num_clusters).to(x.dtype)
        member_weight = size.reciprocal().index_select(0, cluster)
        score = torch.ones_like(size)
        if with_score:
            # Each cluster holds at most one matched pair, so a plain scatter (differentiable,
            # unlike scatter-multiply) places that pair's gate.
            matched = merged.nonzero().view(-1)
            pair_cluster = cluster.index_select(0, candidate_index[0].index_select(0, matched))
            score = score.scatter(0, pair_cluster, gate.index_select(0, matched))
        return x_sum, member_weight, size, score

    @staticmethod
    def _edge_weights(
        gate: Tensor, pair_of_edge: Tensor, keep: Tensor, slot: Tensor, count: Tensor
    ) -> Tensor:
        """Soft weights ``mean(1 - gate)`` :math:`[E']` of the pooled edges: scatter sums over
        the kept input edges divided by the counts (gate 0 for edges that are no candidate)."""
        pair_gate = torch.cat([gate, gate.new_zeros(1)]).index_select(
            0, pair_of_edge.index_select(0, keep)
        )
        return scatter(1.0 - pair_gate, slot, 0, count.numel(), reduce="sum") / count.to(gate.dtype)

    @staticmethod
    def _edge_attr_means(
        edge_attr: Tensor | None, keep: Tensor, slot: Tensor, count: Tensor
    ) -> Tensor | None:
        """Mean attributes :math:`[E', \\ldots]` of the input edges that map to each pooled edge."""
        if edge_attr is None:
            return None
        total = scatter(edge_attr.index_select(0, keep), slot, 0, count.numel(), reduce="sum")
        return total / count.to(total.dtype).view([-1] + [1] * (total.dim() - 1))

    def _component_reduce(
        self,
        x: Tensor,
        gate: Tensor,
        merged: Tensor,
        candidate_index: Tensor,
        cluster: Tensor,
        num_clusters: int,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Components: pooled features :math:`[C, F]`, member weights :math:`[N]`, cluster sizes
        :math:`[C]` and merge scores :math:`[C]`."""
        member_weight, cluster_size, score = self._member_weight(
            gate, merged, candidate_index, cluster, num_clusters, self.gate_features > 0.0
        )
        x_out = scatter(x * member_weight.unsqueeze(-1), cluster, 0, num_clusters, "sum")
        if self.reduce == "sum":
            x_out = x_out * cluster_size.unsqueeze(-1)
        if self.gate_features > 0.0:
            x_out = x_out * self._feature_scale(score).unsqueeze(-1)
        return x_out, member_weight, cluster_size, score

    def _feature_scale(self, score: Tensor) -> Tensor:
        r""":math:`1 - \alpha + \alpha \bar g_c` :math:`[C]` from the merge scores :math:`[C]`
        (the score itself at :math:`\alpha = 1`, with no rounding)."""
        if self.gate_features == 1.0:
            return score
        return (1.0 - self.gate_features) + self.gate_features * score

    @torch.jit.unused
    def _runs_on_host(self, x: Tensor) -> bool:
        """Whether :meth:`_forward_on_host` serves this call: adjacent candidates of float32 or
        float64 features on the CPU, outside ``torch.compile`` (whose tracing cannot enter
        the host kernels)."""
        return (
            x.device.type == "cpu"
            and x.dtype in HOST_DTYPES
            and (self.lin is None or self.lin.weight.dtype == x.dtype)
            and self.candidates == "edges"
            and not torch.compiler.is_compiling()
        )

    @torch.jit.unused
    def _forward_on_host(
        self, x: Tensor, edge_index: Tensor, batch: Tensor, edge_attr: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor, MergeInfo]:
        """:meth:`forward` for CPU tensors: the same four steps, with the integer work in
        :mod:`~pyg_grapheme.nn.pool.select_host` and the differentiable work in the autograd
        Functions of :mod:`~pyg_grapheme.nn.pool.host_autograd`."""
        num_nodes = x.size(0)
        edges, graph = edge_index.numpy(), batch.numpy()
        num_graphs = int(graph.max()) + 1 if num_nodes else 0

        # Select.
        candidates, pair_of_edge = select_host.edge_candidates(edges, graph, num_nodes)
        weight = None if self.lin is None else self.lin.weight
        scores = (candidates, graph, num_graphs, self.similarity == "centered", self.temperature)
        # kappa = 0: nothing to pass back to x, so the kernel need not compute it.
        kappa = self.similarity_gradient
        x_scored = x.detach() if kappa == 0.0 else x
        similarity, gate = pair_scores(x_scored, weight, self.threshold_logit, *scores, kappa)
        if self._start_from_data:
            self._start_threshold(similarity)
            similarity, gate = pair_scores(x_scored, weight, self.threshold_logit, *scores, kappa)
        similarity_host = similarity.detach().numpy()
        above = similarity_host > torch.sigmoid(self.threshold_logit.detach()).numpy()
        candidate_index = torch.from_numpy(candidates)
        if self.ratio is not None:
            above &= most_similar_per_graph(
                candidate_index, similarity.detach(), batch, self.ratio
            ).numpy()
        if self.mode == "components":
            merged = above
            root = select_host.connected_components(candidates, merged, num_nodes)
        else:
            merged = select_host.greedy_matching(candidates, similarity_host, above, num_nodes)
            root = select_host.matching_roots(candidates, merged, num_nodes)
        cluster_host, num_clusters = select_host.number_clusters(root, graph)
        cluster, merged_mask = torch.from_numpy(cluster_host), torch.from_numpy(merged)

        # Reduce.
        if self.mode == "components":
            x_out, member_weight, _, score = self._component_reduce(
                x, gate, merged_mask, candidate_index, cluster, num_clusters
            )
        else:
            x_out, member_weight, _, score = matching_reduce(
                x, gate, candidates, merged, cluster_host, num_clusters,
                mean=self.reduce == "mean", strength=self.gate_features,
            )  # fmt: skip
        batch_out = np.empty(num_clusters, dtype=np.int64)
        batch_out[cluster_host] = graph

        # Connect.
        keep, slot, edge_index_out, count = select_host.pooled_edges(
            edges, cluster_host, num_clusters
        )
        edge_weight = edge_weights(gate, pair_of_edge, keep, slot, count)
        edge_attr_out = self._edge_attr_means(
            edge_attr, torch.from_numpy(keep), torch.from_numpy(slot), torch.from_numpy(count)
        )
        info = MergeInfo(
            cluster=cluster,
            edge_index=edge_index,
            batch=batch,
            member_weight=member_weight,
            candidate_index=candidate_index,
            similarity=similarity,
            gate=gate,
            merged=merged_mask,
            edge_weight=edge_weight,
            edge_attr=edge_attr_out,
            num_clusters=num_clusters,
            score=score,
        )
        return x_out, torch.from_numpy(edge_index_out), torch.from_numpy(batch_out), info

    @torch.jit.unused
    def _check_input(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor | None,
        edge_attr: Tensor | None,
    ) -> None:
        name = self.__class__.__name__
        check_graph_inputs(name, x, edge_index, batch, self.in_channels)
        if edge_attr is not None and (
            edge_attr.dim() == 0
            or edge_attr.size(0) != edge_index.size(1)
            or not edge_attr.is_floating_point()
        ):
            raise ValueError(
                f"{name}: edge_attr must be a floating tensor [num_edges={edge_index.size(1)}, ...], "
                f"got {tuple(edge_attr.shape)} of dtype {edge_attr.dtype}"
            )
        devices = {t.device for t in (x, edge_index, batch, edge_attr) if t is not None}
        if len(devices) > 1:
            raise ValueError(f"{name}: inputs are on different devices {sorted(map(str, devices))}")
        if torch_geometric.is_debug_enabled() and edge_index.numel() > 0:
            low, high = int(edge_index.min()), int(edge_index.max())
            if low < 0 or high >= x.size(0):
                raise ValueError(
                    f"{name}: edge_index refers to node {low if low < 0 else high}, "
                    f"but x has {x.size(0)} nodes"
                )

    def __repr__(self) -> str:
        threshold = "None" if self._start_from_data else f"{float(self.threshold.detach()):.2f}"
        ratio = "" if self.ratio is None else f", ratio={self.ratio}"
        channels = (
            ""
            if self.similarity_channels == self.in_channels
            else f", similarity_channels={self.similarity_channels}"
        )
        kappa = self.similarity_gradient
        gradient = "" if kappa == 1.0 else f", similarity_gradient={kappa}"
        return (
            f"{self.__class__.__name__}({self.in_channels}, threshold={threshold}, "
            f"mode={self.mode!r}, candidates={self.candidates!r}, "
            f"similarity={self.similarity!r}, gate_features={self.gate_features}"
            f"{ratio}{channels}{gradient})"
        )
