r"""Threshold merge pooling: merge nodes more similar than a learnable threshold.

One orchestration (:meth:`ThresholdMergePool._pool`) runs the four steps, Select,
Reduce, Connect and Lift, choosing for each call the compiled host kernels
(:mod:`pyg_grapheme.nn.pool.host`) or the tensor code (:mod:`~pyg_grapheme.nn.pool.select`,
:mod:`~pyg_grapheme.nn.pool.reduce`, :mod:`~pyg_grapheme.nn.pool.connect`, with the
Triton merge rules of :mod:`~pyg_grapheme.nn.pool.gpu` on CUDA), and builds the
:class:`~pyg_grapheme.nn.MergeInfo` record in one place. On CUDA with adjacent candidates
the same four steps run fused into Triton kernels instead
(:meth:`ThresholdMergePool._pool_fused`), with one host read per call.
"""

import math
import warnings
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.utils import scatter

from pyg_grapheme.nn.input_checks import (
    check_graph_inputs,
    check_index_stats,
    index_stats,
    raise_for_non_finite,
)
from pyg_grapheme.nn.pool import connect, reduce, select
from pyg_grapheme.nn.pool.gpu import connect as gpu_connect
from pyg_grapheme.nn.pool.gpu import reduce as gpu_reduce
from pyg_grapheme.nn.pool.gpu import scores as gpu_scores
from pyg_grapheme.nn.pool.gpu import select as gpu_select
from pyg_grapheme.nn.pool.host import connect as host_connect
from pyg_grapheme.nn.pool.host import reduce as host_reduce
from pyg_grapheme.nn.pool.host import select as host_select
from pyg_grapheme.nn.pool.merge_info import MergeInfo
from pyg_grapheme.nn.pool.pair_cosine import pair_cosine, pair_cosine_reference, row_norms

MODES = ("components", "matching")
CANDIDATES = ("edges", "all")
REDUCES = ("mean", "sum")
SIMILARITIES = ("cosine", "centered")
GATE_STRENGTH = 0.1  # default gate_features: the share of the merge score in the pooled scale
NAME = "ThresholdMergePool"


class Selection(NamedTuple):
    """What the Select step decided, for Reduce and Connect (arrays past the counts are
    padding on the tensor path; exact sizes on the host path)."""

    candidate_index: Tensor  # [2, M], the first num_pairs are the pairs
    pair_of_edge: Tensor  # [E], M for edges that are no candidate
    similarity: Tensor  # [M]
    gate: Tensor  # [M]
    merged: Tensor  # bool [M]
    cluster: Tensor  # [N]
    num_pairs: Tensor  # 0-d
    num_clusters: Tensor  # 0-d
    finite: Tensor  # 0-d bool: the scored features and their squared norms are finite
    capacity: int  # cluster rows to allocate: C where known, else N


class Connection(NamedTuple):
    """What the Connect step built (padded to E on the tensor path)."""

    slot: Tensor  # [E], output edge of each input edge, rows for dropped ones
    edge_index: Tensor  # [2, rows]
    count: Tensor  # [rows]
    num_edges: Tensor  # 0-d
    edge_weight: Tensor  # [rows]


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
    similarity of the first batch with candidate pairs (just above it, between
    the median and the next similarity, so that no pair sits on :math:`\tau`),
    so about half of the candidate pairs start above it whatever the feature
    scale; :obj:`ratio` caps the merges per graph.
    The pairs with :math:`s_{ij} > \tau` merge: with :obj:`mode="components"`
    clusters are the connected components of those pairs; with
    :obj:`mode="matching"` a greedy matching by descending :math:`s_{ij}` picks
    them (each node merges at most once, EdgePooling's rule).

    **Ties.** One rule on every path: a pair merges when :math:`s_{ij} > \tau`
    (strictly; :math:`\tau` compared in the similarity's dtype), the matching
    ranks pairs by descending :math:`s_{ij}` with ties broken by position in
    ``info.candidate_index`` (that is, by node index), and a cluster is named by
    its smallest member. Every path computes the similarity by the same formula,
    :math:`\langle \mathbf{h}_i, \mathbf{h}_j \rangle / (\lVert\mathbf{h}_i\rVert
    \lVert\mathbf{h}_j\rVert)`, so values that are exact (a cosine of
    :math:`\pm 1` between one-channel features, equal rows) come out exact and
    equal everywhere, and the host kernels, the tensor code and the CUDA
    kernels give the same clusters and edges (tested over 200 random batches
    with ties). Sums over many channels may round differently on different
    devices, so two similarities within a unit in the last place of each other
    can still order differently across devices.

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

    **Connect.** Every input edge :math:`(u, v)` becomes :math:`(c(u), c(v))`,
    duplicates coalesced (edge attributes averaged), direction kept. With
    :obj:`self_loops=True` (the default, EdgePooling's rule) the edges inside a
    cluster become its one self-loop, so the layers after the pool can tell a
    merged node from one that merged with nothing (a message-passing layer
    otherwise sees both alike); :obj:`self_loops=False` removes them, so a chain
    stays a chain. Each output edge carries the soft
    weight :math:`\mathrm{mean}(1 - g_{uv})` over the input edges mapping to it
    (:math:`1` for edges that are no candidate), so a loss on soft degrees can
    push pairs to merge or not.

    **Lift.** :meth:`unpool` gives every input node its cluster's features
    :math:`\mathbf{x}'_{c(i)}` and restores the input graph;
    :class:`~pyg_grapheme.nn.MorphHistory` composes several layers.

    **Gradients.** Within one merge pattern the outputs are exact differentiable
    functions of :math:`\mathbf{x}`, :math:`\mathbf{W}` and :math:`\theta`
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

    **Validation.** Every call checks, whatever the path, that ``edge_index``
    holds node indices in :math:`[0, N)` and ``batch`` non-negative graph ids
    (one min/max reduction each), and that the (projected, centred) features
    are finite; a violation raises a ``ValueError`` that names the layer, the
    tensor, the bad value and where it sits. Nothing persistent changes before
    the error: the data-driven start of :math:`\tau` happens only on a batch
    that passes. ``edge_attr`` is averaged as given (non-finite attributes
    propagate to the pooled edges they map to).

    **Cost.** Time and memory are linear in the number of edges (pairs for
    :obj:`"all"`). Three implementations of one orchestration give the same
    clusters (tested value for value and gradient for gradient):

    * on the CPU, for float32 and float64 features and adjacent candidates,
      compiled host kernels (:mod:`~pyg_grapheme.nn.pool.host`): one pass per
      step, counting sorts, the greedy matching walked once and a union-find
      for components, and autograd Functions with compiled passes for the
      differentiable steps; on the small batches graph models train on this
      costs a fraction of the tensor code's fixed per-operation overhead;
    * on CUDA with adjacent candidates, the four steps fused into Triton kernels
      (:mod:`~pyg_grapheme.nn.pool.gpu`): about 20 kernel launches and 15 tensor
      operations for a forward and backward pass together (three sorts among
      them), sizes that depend on the data kept on the device (arrays padded to
      :math:`N` or :math:`E`), and **one host read per call**, which fetches the
      number of pairs, clusters and output edges and the validation results
      together; the gradients are attached after that read by autograd Functions
      whose backward passes are kernels too;
    * on CUDA with :obj:`candidates="all"`, tensor code
      (:mod:`~pyg_grapheme.nn.pool.select`, :mod:`~pyg_grapheme.nn.pool.reduce`,
      :mod:`~pyg_grapheme.nn.pool.connect`) with the merge rules as Triton
      kernels and one host read per call, plus one to size its pairs;
    * elsewhere (TorchScript, other dtypes, :obj:`candidates="all"` on the
      CPU), the same tensor code with the merge rules in rounds of tensor
      operations (one host read per round).

    Under :func:`torch.compile` the layer runs eagerly (one graph break per
    call): its output sizes depend on the data.

    Args:
        in_channels (int, optional): Size of each input sample. If given, the
            similarity is measured after a learnable linear map
            :math:`\mathbf{W} \in \mathbb{R}^{k \times F}`, initialised to the
            identity when :math:`k = F`. (default: :obj:`None`)
        threshold (float, optional): Starting effective threshold
            :math:`\tau \in (0, 1)`; :obj:`None` starts it at the median
            similarity of the first call with candidate pairs (kept by :meth:`load_state_dict`,
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
            :math:`1 - \alpha + \alpha \bar g_c`: :math:`1` multiplies by the
            score itself (EdgePooling's rule), :math:`0` leaves the features
            unscaled (``info.score`` is then all ones). :obj:`True` and
            :obj:`False` still mean 1 and 0 but are deprecated (a
            ``FutureWarning``) and will be refused in the next release.
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
        self_loops (bool, optional): Keep the edges inside each cluster as one
            self-loop (as EdgePooling does); :obj:`False` removes them.
            (default: :obj:`True`)
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
        self_loops: bool = True,
    ) -> None:
        super().__init__()
        if in_channels is not None and in_channels <= 0:
            raise ValueError(f"{NAME}: in_channels must be positive, got {in_channels}")
        if threshold is not None and not 0.0 < threshold < 1.0:
            raise ValueError(
                f"{NAME}: threshold is the effective value sigmoid(logit) and must "
                f"lie strictly between 0 and 1, got {threshold}"
            )
        if mode not in MODES:
            raise ValueError(f"{NAME}: mode must be one of {MODES}, got {mode!r}")
        if candidates not in CANDIDATES:
            raise ValueError(f"{NAME}: candidates must be one of {CANDIDATES}, got {candidates!r}")
        if reduce not in REDUCES:
            raise ValueError(f"{NAME}: reduce must be one of {REDUCES}, got {reduce!r}")
        if not temperature > 0.0:
            raise ValueError(f"{NAME}: temperature must be positive, got {temperature}")
        if max_pairs < 0:
            raise ValueError(f"{NAME}: max_pairs must be >= 0, got {max_pairs}")
        if similarity not in SIMILARITIES:
            raise ValueError(
                f"{NAME}: similarity must be one of {SIMILARITIES}, got {similarity!r}"
            )
        if ratio is not None and not 0.0 < ratio <= 1.0:
            raise ValueError(f"{NAME}: ratio must lie in (0, 1], got {ratio}")
        if isinstance(gate_features, bool):
            warnings.warn(
                f"{NAME}: gate_features={gate_features} is deprecated and will be refused in "
                f"the next release; pass the strength {float(gate_features)} instead",
                FutureWarning,
                stacklevel=2,
            )
        if not 0.0 <= gate_features <= 1.0:
            raise ValueError(f"{NAME}: gate_features must lie in [0, 1], got {gate_features}")
        if similarity_channels is not None and (in_channels is None or similarity_channels <= 0):
            raise ValueError(
                f"{NAME}: similarity_channels needs in_channels and must be positive, "
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
        self.ratio = None if ratio is None else float(ratio)
        self.self_loops = bool(self_loops)
        self.similarity_channels = (
            in_channels if similarity_channels is None else int(similarity_channels)
        )
        # threshold=None: the first call with candidate pairs sets tau from its similarities.
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
            edge_index (torch.Tensor): Edge indices :math:`[2, E]`, in :math:`[0, N)`.
            batch (torch.Tensor, optional): Batch vector :math:`[N]` of non-negative graph
                ids; :obj:`None` means a single graph. (default: :obj:`None`)
            edge_attr (torch.Tensor, optional): Floating edge features
                :math:`[E, \ldots]`. (default: :obj:`None`)

        Returns:
            * **x** (*torch.Tensor*): Pooled features :math:`[C, F]`.
            * **edge_index** (*torch.Tensor*): Pooled edges :math:`[2, E']`.
            * **batch** (*torch.Tensor*): Pooled batch vector :math:`[C]`, sorted
              by graph id.
            * **info** (:class:`~pyg_grapheme.nn.MergeInfo`): The merge record,
              consumed by :meth:`unpool` and :class:`~pyg_grapheme.nn.MorphHistory`.

        Raises:
            ValueError: for malformed inputs, node indices outside :math:`[0, N)`,
                negative graph ids, or non-finite features (see **Validation**).
        """
        if torch.jit.is_scripting():
            return self._pool(x, edge_index, batch, edge_attr)
        return self._pool_eagerly(x, edge_index, batch, edge_attr)

    @torch.jit.unused
    @torch.compiler.disable
    def _pool_eagerly(
        self, x: Tensor, edge_index: Tensor, batch: Tensor | None, edge_attr: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor, MergeInfo]:
        """:meth:`_pool` (or :meth:`_pool_fused`) after the input checks;
        :func:`torch.compile` leaves it eager (one graph break), since its output sizes
        depend on the data."""
        self._check_input(x, edge_index, batch, edge_attr)
        if self._fuses(x, edge_index):
            return self._pool_fused(x, edge_index, batch, edge_attr)
        return self._pool(x, edge_index, batch, edge_attr)

    @torch.jit.unused
    def _pool_fused(
        self, x: Tensor, edge_index: Tensor, batch: Tensor | None, edge_attr: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor, MergeInfo]:
        """The four steps on CUDA, fused into Triton kernels (:mod:`~pyg_grapheme.nn.pool.gpu`).

        Every step runs on arrays padded to :math:`N` nodes or :math:`E` edges, without
        autograd; the kernels write the validation results and the counts into one counter
        tensor, which the call reads once; then the outputs are cut to size and their
        gradients attached (custom autograd Functions whose backward passes are kernels too,
        sized by the counts)."""
        num_nodes, num_edges = x.size(0), edge_index.size(1)
        device = x.device
        matching = self.mode == "matching"
        mean = self.reduce == "mean"
        if batch is None:
            batch = torch.zeros(num_nodes, dtype=torch.long, device=device)
        h = x if self.lin is None else self.lin(x)  # the kernels read it detached
        rounds = gpu_select.ROUNDS if matching else 0
        # One zeroed buffer (long words): the counters, a matching's proposals per round, the
        # graph sums that centre the rows, the pooled edges' weight sums, and components' sums
        # and pooled rows (atomic sums all).
        floats = [
            num_nodes * h.size(1) if self.similarity == "centered" else 0,
            num_edges,
            0 if matching else gpu_reduce.COMPONENT_SUMS * num_nodes,
            0 if matching else num_nodes * x.size(1),
        ]
        words = [(size * x.element_size() + 7) // 8 for size in floats]
        parts = [gpu_scores.NUM_COUNTERS, rounds * num_nodes, *words]
        zeros = torch.zeros(sum(parts), dtype=torch.long, device=device).split(parts)
        counters = zeros[0]
        best = zeros[1].view(rounds, num_nodes)
        centre_sums, weight_sums, component_sums, component_rows = (
            part.view(x.dtype)[:size] for part, size in zip(zeros[2:], floats)
        )
        centre_sums = centre_sums.view(num_nodes, -1) if floats[0] else None

        # Select: graph layout, candidate pairs and their scores, the merge rule.
        graph, graph_size, order, position, link = gpu_select.graph_layout(
            batch, counters, matching
        )
        sorted_key, key_order, slot = gpu_scores.pair_keys(edge_index, graph, counters, num_nodes)
        # The scoring kernel ranks float32 pairs itself and makes the first proposals, unless
        # tau or the eligible pairs change after it (the data start, a ratio).
        proposes = (
            matching
            and rounds > 0
            and x.dtype == torch.float32
            and self.ratio is None
            and not self._start_from_data
        )

        def score(tau: Tensor) -> gpu_scores.ScoredPairs:
            return gpu_scores.score_pairs(
                h, tau, sorted_key, key_order, slot, graph, graph_size, counters,
                best[0] if rounds > 0 else counters, centre_sums, self.temperature, matching,
                proposes,
            )  # fmt: skip

        scored = score(torch.sigmoid(self.threshold_logit.detach()))
        if self._start_from_data:
            finite = counters[gpu_scores.NON_FINITE] == 0
            self._start_threshold(scored.similarity, counters[gpu_scores.PAIRS], finite)
            if centre_sums is not None:
                centre_sums.zero_()
            scored = score(torch.sigmoid(self.threshold_logit.detach()))
        if self.ratio is not None:
            valid = torch.arange(num_edges, device=device) < counters[gpu_scores.PAIRS]
            allowed = select.most_similar_per_graph(
                scored.candidate_index, scored.similarity, valid, graph, self.ratio
            )
            scored.open.masked_fill_(~allowed, 0)
            scored.merged.logical_and_(allowed)
        if matching:
            if not proposes:
                eligible = scored.open != 0
                rank = select.descending_rank(scored.similarity, eligible)
                scored.rank_key = gpu_select.rank_keys(rank, eligible)
            gpu_select.match(
                scored.candidate_index, scored.rank_key, scored.open, scored.merged, link, best,
                counters, proposes,
            )  # fmt: skip
        else:
            link = gpu_select.connected_components(
                scored.candidate_index, scored.merged, num_nodes, parent=link
            )
        rank = gpu_select.root_ranks(order, link, scored.candidate_index[0], matching)

        # Reduce.
        pooled = gpu_reduce.clusters(
            x, scored.gate, batch, link, scored.candidate_index, scored.merged, position, rank,
            counters, matching, mean, self.gate_features,
            None if matching else component_sums.view(-1, num_nodes),
            None if matching else component_rows.view(num_nodes, -1),
        )  # fmt: skip

        # Connect.
        edges = gpu_connect.pooled_edges(
            edge_index, pooled.cluster, scored.pair_of_edge, scored.gate, weight_sums, counters,
            self.self_loops,
        )  # fmt: skip
        edge_attr_out = connect.edge_attr_means(edge_attr, edges.slot, edges.count)

        # The one host read of the call: every count and every check together.
        sizes: list[int] = counters.tolist()
        check_index_stats(
            NAME,
            [-sizes[gpu_scores.NEG_LOW], sizes[gpu_scores.HIGH], -sizes[gpu_scores.NEG_GRAPH]],
            num_nodes,
            edge_index,
            batch,
        )
        if sizes[gpu_scores.NON_FINITE] > 0:
            raise_for_non_finite(NAME, x, -1)
        num_pairs = sizes[gpu_scores.PAIRS]
        num_clusters = sizes[gpu_scores.CLUSTERS]
        num_out = sizes[gpu_scores.EDGES]
        self._started(num_pairs)

        # Cut to size and attach the gradients.
        similarity, gate = gpu_scores.PairScores.apply(h, self.threshold_logit, scored, num_pairs)
        candidate_index = scored.candidate_index[:, :num_pairs]
        merged = scored.merged[:num_pairs]
        if matching:
            x_out, score_out = gpu_reduce.MatchingReduce.apply(
                x, gate, pooled, num_clusters, mean, self.gate_features
            )
            member_weight = pooled.member_weight
        else:
            x_out, member_weight, score_out = gpu_reduce.ComponentReduce.apply(
                x, gate, pooled, num_clusters, mean, self.gate_features
            )
        edge_weight = gpu_connect.EdgeWeights.apply(gate, edges, num_out)
        if edge_attr_out is not None:
            edge_attr_out = edge_attr_out[:num_out]
        info = MergeInfo(
            cluster=pooled.cluster,
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
            score=score_out,
        )
        return x_out, edges.edge_index[:, :num_out], pooled.batch[:num_clusters], info

    def _pool(
        self, x: Tensor, edge_index: Tensor, batch: Tensor | None, edge_attr: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor, MergeInfo]:
        """The orchestration: validate, select, reduce, connect, then one read of the sizes
        (tensor path) and one :class:`MergeInfo`."""
        num_nodes = x.size(0)
        on_host = False
        reads_once = False
        if not torch.jit.is_scripting():
            on_host = self._runs_on_host(x)
            reads_once = self._reads_once(x)
        stats = index_stats(edge_index, batch)
        if batch is None:
            batch = torch.zeros(num_nodes, dtype=torch.long, device=x.device)
        input_edges, input_batch = edge_index, batch
        if num_nodes == 0 or not reads_once:
            stat_values: list[int] = stats.tolist()
            check_index_stats("ThresholdMergePool", stat_values, num_nodes, edge_index, batch)
        else:
            # The check is read with the sizes at the end; until then keep every gather in
            # bounds (on a GPU an out-of-bounds index is a device-side assert, not an error).
            edge_index = edge_index.clamp(0, num_nodes - 1)
            batch = batch.clamp_min(0)

        # Select: score candidate pairs, decide hard merges, number the clusters.
        if on_host:
            chosen = self._select_on_host(x, edge_index, batch)
        else:
            chosen = self._select_tensors(x, edge_index, batch, reads_once)
        capacity = chosen.capacity

        # Reduce: weighted mean of the members (times the cluster size, times the merge score).
        mean = self.reduce == "mean"
        if self.mode == "components":
            x_out, member_weight, score = reduce.component_reduce(
                x, chosen.gate, chosen.merged, chosen.candidate_index, chosen.cluster,
                capacity, mean, self.gate_features,
            )  # fmt: skip
        elif on_host:
            x_out, member_weight, score = self._matching_reduce_on_host(x, chosen, mean)
        else:
            x_out, member_weight, score = reduce.matching_reduce(
                x, chosen.gate, chosen.merged, chosen.candidate_index, chosen.cluster,
                capacity, mean, self.gate_features,
            )  # fmt: skip
        batch_out = torch.zeros(capacity, dtype=batch.dtype, device=batch.device)
        batch_out = batch_out.scatter_(0, chosen.cluster, batch)

        # Connect: edges between clusters.
        if on_host:
            joined = self._connect_on_host(edge_index, chosen)
        else:
            slot, edge_index_out, count, num_out = connect.pooled_edges(
                edge_index, chosen.cluster, num_nodes, self.self_loops
            )
            edge_weight = connect.edge_weights(chosen.gate, chosen.pair_of_edge, slot, count)
            joined = Connection(slot, edge_index_out, count, num_out, edge_weight)
        edge_attr_out = connect.edge_attr_means(edge_attr, joined.slot, joined.count)

        candidate_index, similarity, gate, merged = (
            chosen.candidate_index, chosen.similarity, chosen.gate, chosen.merged,
        )  # fmt: skip
        edge_index_out, edge_weight = joined.edge_index, joined.edge_weight
        if on_host:
            num_clusters = capacity
        else:
            # The one host read of the call: every size and every check together.
            sizes: list[int] = torch.cat(
                [
                    torch.stack(
                        [
                            chosen.num_pairs,
                            chosen.num_clusters,
                            joined.num_edges,
                            chosen.finite.long(),
                        ]
                    ),
                    stats,
                ]
            ).tolist()
            if reads_once:
                check_index_stats(
                    "ThresholdMergePool", sizes[4:], num_nodes, input_edges, input_batch
                )
            if sizes[3] == 0:
                raise_for_non_finite("ThresholdMergePool", x, -1)
            if not torch.jit.is_scripting():
                self._started(sizes[0])
            num_pairs, num_clusters, num_edges = sizes[0], sizes[1], sizes[2]
            candidate_index = candidate_index[:, :num_pairs]
            similarity, gate, merged = (
                similarity[:num_pairs], gate[:num_pairs], merged[:num_pairs],
            )  # fmt: skip
            x_out, score, batch_out = (
                x_out[:num_clusters], score[:num_clusters], batch_out[:num_clusters],
            )  # fmt: skip
            edge_index_out = edge_index_out[:, :num_edges]
            edge_weight = edge_weight[:num_edges]
            if edge_attr_out is not None:
                edge_attr_out = edge_attr_out[:num_edges]

        info = MergeInfo(
            cluster=chosen.cluster,
            edge_index=input_edges,
            batch=input_batch,
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
            size = reduce.cluster_sizes(info.cluster, info.num_clusters, x.dtype)
            x = x / size.view([-1] + [1] * (x.dim() - 1))
        return x.index_select(0, info.cluster), info.edge_index, info.batch

    # Select ---------------------------------------------------------------------------

    def _select_tensors(
        self, x: Tensor, edge_index: Tensor, batch: Tensor, reads_once: bool
    ) -> Selection:
        """Select in tensor code: padded candidates, the similarity, the
        merge rule (Triton kernels on CUDA, rounds elsewhere) and the cluster numbers."""
        num_nodes = x.size(0)
        graph, order = select.graph_ids(batch)
        if self.candidates == "edges":
            candidate_index, pair_of_edge, num_pairs = select.edge_candidates(
                edge_index, graph, num_nodes
            )
        else:
            candidate_index = self._all_pairs(batch)
            pair_of_edge = select.pair_of_edges(edge_index, candidate_index, num_nodes)
            num_pairs = torch.full((), candidate_index.size(1), device=x.device)
        valid = torch.arange(candidate_index.size(1), device=x.device) < num_pairs

        h = x if self.lin is None else self.lin(x)
        if self.similarity == "centered":
            h = h - scatter(h, graph, 0, num_nodes, reduce="mean").index_select(0, graph)
        # NaN or infinity in h, or squares that overflow, would make cosines NaN: check the
        # squared norms, as the host kernel does.
        norm = row_norms(h.detach())
        finite = torch.isfinite(norm).all()
        if torch.jit.is_scripting():
            similarity = pair_cosine_reference(h, candidate_index)
        else:
            similarity = self._pair_cosine(h, candidate_index, norm)
            if not reads_once and not bool(finite):  # on the CPU a read is free: fail early
                raise_for_non_finite("ThresholdMergePool", x, -1)
            if self._start_from_data:
                self._start_threshold(similarity, num_pairs, finite)
        threshold = torch.sigmoid(self.threshold_logit)
        gate = torch.sigmoid((similarity - threshold) * (1.0 / self.temperature))
        above = valid & (similarity.detach() > threshold.detach().to(similarity.dtype))
        if self.ratio is not None:
            above = above & select.most_similar_per_graph(
                candidate_index, similarity, valid, graph, self.ratio
            )
        kernels = False
        if not torch.jit.is_scripting():
            kernels = self._uses_kernels(x)
        if self.mode == "components":
            merged = above
            if kernels:
                root = self._components_kernels(candidate_index, merged, num_nodes)
            else:
                root = select.connected_components(candidate_index, merged, num_nodes)
        else:
            if kernels:
                merged = self._matching_kernels(candidate_index, similarity, above, num_nodes)
            else:
                merged = select.greedy_matching(candidate_index, similarity, above, num_nodes)
            # The smaller end of a matched pair is the root of both.
            partner = torch.where(merged, candidate_index[0], candidate_index[1])
            root = torch.arange(num_nodes, device=x.device)
            root = root.scatter_reduce(0, candidate_index[1], partner, reduce="amin")
        cluster, num_clusters = select.number_clusters(root, order)
        return Selection(
            candidate_index, pair_of_edge, similarity, gate, merged, cluster, num_pairs,
            num_clusters, finite, num_nodes,
        )  # fmt: skip

    def _all_pairs(self, batch: Tensor) -> Tensor:
        """``candidates="all"``: every pair inside a graph, refused above ``max_pairs``."""
        num_pairs, largest, batch_is_sorted = select.count_all_pairs(batch)
        if num_pairs > self.max_pairs:
            raise ValueError(
                f"ThresholdMergePool: candidates='all' would score {num_pairs} pairs "
                f"(sum of n*(n-1)/2 over the graphs; largest graph has {largest} nodes), more "
                f"than max_pairs={self.max_pairs}. Use candidates='edges', smaller graphs, or a "
                f"larger max_pairs (forward + backward hold about 90 bytes per pair)."
            )
        return select.all_pair_candidates(batch, num_pairs, batch_is_sorted)

    @torch.jit.unused
    def _select_on_host(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> Selection:
        """Select with the host kernels: exact sizes, the similarity and its gradient in
        compiled loops, the greedy matching walked once, a union-find for components."""
        num_nodes = x.size(0)
        edges, graph = edge_index.numpy(), batch.numpy()
        num_graphs = int(graph.max()) + 1 if num_nodes else 0
        candidates, pair_of_edge = host_select.edge_candidates(edges, graph, num_nodes)
        num_pairs = candidates.shape[1]
        weight = None if self.lin is None else self.lin.weight
        options = (candidates, graph, num_graphs, self.similarity == "centered", self.temperature)
        try:
            similarity, gate = host_select.pair_scores(x, weight, self.threshold_logit, *options)
        except host_select.NonFiniteRow as error:
            raise_for_non_finite(NAME, x, error.row)
        if self._start_from_data and num_pairs > 0:
            self._start_threshold(similarity, torch.tensor(num_pairs), torch.tensor(True))
            self._started(num_pairs)
            similarity, gate = host_select.pair_scores(x, weight, self.threshold_logit, *options)
        similarity_host = similarity.detach().numpy()
        tau = torch.sigmoid(self.threshold_logit.detach()).to(similarity.dtype).numpy()
        above = similarity_host > tau
        candidate_index = torch.from_numpy(candidates)
        if self.ratio is not None:
            valid = torch.ones(num_pairs, dtype=torch.bool)
            above &= select.most_similar_per_graph(
                candidate_index, similarity.detach(), valid, select.graph_ids(batch)[0], self.ratio
            ).numpy()
        if self.mode == "components":
            merged = above
            root = host_select.connected_components(candidates, merged, num_nodes)
        else:
            merged = host_select.greedy_matching(candidates, similarity_host, above, num_nodes)
            root = host_select.matching_roots(candidates, merged, num_nodes)
        cluster, num_clusters = host_select.number_clusters(root, graph)
        return Selection(
            candidate_index, torch.from_numpy(pair_of_edge), similarity, gate,
            torch.from_numpy(merged), torch.from_numpy(cluster), torch.tensor(num_pairs),
            torch.tensor(num_clusters), torch.tensor(True), num_clusters,
        )  # fmt: skip

    @torch.jit.unused
    def _pair_cosine(self, h: Tensor, candidate_index: Tensor, norm: Tensor) -> Tensor:
        """The cosine as an autograd Function (which TorchScript cannot compile)."""
        return pair_cosine(h, candidate_index, norm)

    @torch.jit.unused
    def _components_kernels(
        self, candidate_index: Tensor, active: Tensor, num_nodes: int
    ) -> Tensor:
        return gpu_select.connected_components(candidate_index, active, num_nodes)

    @torch.jit.unused
    def _matching_kernels(
        self, candidate_index: Tensor, similarity: Tensor, eligible: Tensor, num_nodes: int
    ) -> Tensor:
        rank = select.descending_rank(similarity, eligible)
        return gpu_select.greedy_matching(candidate_index, rank, eligible, num_nodes)

    @torch.jit.unused
    def _start_threshold(self, similarity: Tensor, num_pairs: Tensor, finite: Tensor) -> None:
        """threshold=None: set tau from this call's similarities, on the device (no read).

        Kept as it was when the call has no candidate pairs or non-finite features (the
        call then raises), so a bad batch never changes the layer's state."""
        logit = select.starting_logit(similarity, num_pairs, self.threshold_logit)
        logit = torch.where(finite, logit, self.threshold_logit.detach())
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # Every replica must start from the same tau: average the ranks' starts.
            tau = torch.sigmoid(logit)
            torch.distributed.all_reduce(tau)
            logit = torch.logit(tau / torch.distributed.get_world_size())
        with torch.no_grad():
            self.threshold_logit.copy_(logit)

    @torch.jit.unused
    def _started(self, num_pairs: int) -> None:
        """The start is used up by the first call that had candidate pairs (and passed)."""
        if num_pairs > 0:
            self._start_from_data = False

    def _load_from_state_dict(
        self, state_dict: dict[str, Tensor], prefix: str, *args: object, **kwargs: object
    ) -> None:
        """A loaded tau is a trained (or already started) one: the first call keeps it."""
        if prefix + "threshold_logit" in state_dict:
            self._start_from_data = False
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # Reduce and Connect on the host ---------------------------------------------------

    @torch.jit.unused
    def _matching_reduce_on_host(
        self, x: Tensor, chosen: Selection, mean: bool
    ) -> tuple[Tensor, Tensor, Tensor]:
        x_out, member_weight, _, score = host_reduce.matching_reduce(
            x, chosen.gate, chosen.candidate_index.numpy(), chosen.merged.numpy(),
            chosen.cluster.numpy(), chosen.capacity, mean=mean, strength=self.gate_features,
        )  # fmt: skip
        return x_out, member_weight, score

    @torch.jit.unused
    def _connect_on_host(self, edge_index: Tensor, chosen: Selection) -> Connection:
        keep, slot, edge_index_out, count = host_connect.pooled_edges(
            edge_index.numpy(), chosen.cluster.numpy(), chosen.capacity, self.self_loops
        )
        pair_of_edge = chosen.pair_of_edge.numpy()
        edge_weight = host_connect.edge_weights(chosen.gate, pair_of_edge, keep, slot, count)
        # Every input edge's output edge, len(count) for the dropped ones.
        slot_of_edge = np.full(edge_index.size(1), count.size, dtype=np.int64)
        slot_of_edge[keep] = slot
        return Connection(
            torch.from_numpy(slot_of_edge), torch.from_numpy(edge_index_out),
            torch.from_numpy(count), torch.tensor(count.size), edge_weight,
        )  # fmt: skip

    # Which path ----------------------------------------------------------------------

    @torch.jit.unused
    def _runs_on_host(self, x: Tensor) -> bool:
        """Whether the host kernels serve this call: adjacent candidates of float32 or
        float64 features on the CPU (with a projection of the same dtype)."""
        return (
            x.device.type == "cpu"
            and x.dtype in host_select.HOST_DTYPES
            and (self.lin is None or self.lin.weight.dtype == x.dtype)
            and self.candidates == "edges"
        )

    @torch.jit.unused
    def _fuses(self, x: Tensor, edge_index: Tensor) -> bool:
        """Whether the call runs fused (:meth:`_pool_fused`): the Triton kernels serve it,
        the candidates are adjacent pairs, and there are nodes and edges."""
        return (
            self._uses_kernels(x)
            and self.candidates == "edges"
            and x.size(0) > 0
            and edge_index.size(1) > 0
        )

    @torch.jit.unused
    def _uses_kernels(self, x: Tensor) -> bool:
        """Whether the merge rules run as Triton kernels: CUDA tensors, Triton installed."""
        return x.device.type == "cuda" and gpu_select.available()

    @torch.jit.unused
    def _reads_once(self, x: Tensor) -> bool:
        """Whether the call defers its checks to its one read of the sizes (on CUDA, where
        each read waits for the device); on the CPU a read costs nothing, and the checks
        come first."""
        return x.device.type == "cuda"

    @torch.jit.unused
    def _check_input(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor | None,
        edge_attr: Tensor | None,
    ) -> None:
        check_graph_inputs(NAME, x, edge_index, batch, self.in_channels)
        if edge_attr is not None and (
            edge_attr.dim() == 0
            or edge_attr.size(0) != edge_index.size(1)
            or not edge_attr.is_floating_point()
        ):
            raise ValueError(
                f"{NAME}: edge_attr must be a floating tensor [num_edges={edge_index.size(1)}, ...], "
                f"got {tuple(edge_attr.shape)} of dtype {edge_attr.dtype}"
            )
        devices = {t.device for t in (x, edge_index, batch, edge_attr) if t is not None}
        if len(devices) > 1:
            raise ValueError(f"{NAME}: inputs are on different devices {sorted(map(str, devices))}")

    def __repr__(self) -> str:
        threshold = "None" if self._start_from_data else f"{float(self.threshold.detach()):.2f}"
        ratio = "" if self.ratio is None else f", ratio={self.ratio}"
        channels = (
            ""
            if self.similarity_channels == self.in_channels
            else f", similarity_channels={self.similarity_channels}"
        )
        return (
            f"{self.__class__.__name__}({self.in_channels}, threshold={threshold}, "
            f"mode={self.mode!r}, candidates={self.candidates!r}, "
            f"similarity={self.similarity!r}, gate_features={self.gate_features}"
            f"{ratio}{channels}, self_loops={self.self_loops})"
        )
