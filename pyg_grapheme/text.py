"""Text <-> graph: Unicode grapheme clusters as the nodes of a chain graph.

A text is segmented into extended grapheme clusters (Unicode UAX #29, the
``\\X`` pattern of the ``regex`` package), so ``"e" + U+0301`` is one node, a
skin-toned emoji or a ZWJ family is one node, a flag (two regional indicators)
is one node and ``"\\r\\n"`` is one node. Node ``i`` is joined to node ``i + 1``
by the directed edge ``i -> i + 1``: the graph is a chain, hence a DAG.

Node features are vocabulary-free. Every cluster ``g`` gets

.. math::

    x(g) = [\\, h(g) \\;\\|\\; c(g) \\;\\|\\; b(g) \\;\\|\\; r(g) \\,] \\in \\mathbb{R}^{F},
    \\qquad F = 64 + 13 + 64 + 64,

where ``h(g)`` is a fixed pseudo-random unit vector read off the SHAKE-256
digest of the UTF-8 bytes of the cluster's NFC form (so canonically
equivalent spellings, precomposed ``"é"`` and ``"e" + U+0301``, share it; the
text itself is never normalised) (64 signed 16-bit draws, centred and
L2-normalised) and ``c(g)`` are 13 coarse Unicode properties of the cluster
(general-category group, case, digit value, whitespace, emoji, size). ``b(g)`` and
``r(g)`` describe the cluster's canonical decomposition (NFD): its first code point and
the others (:class:`FeatureLayout`), so the 834 Hangul syllables of a Korean word list
share the 61 jamo they are built from, and a Devanagari conjunct its consonants. There is
no vocabulary file and no out-of-vocabulary case: any string, in any script,
maps to a deterministic feature that is identical on every machine and every
version of Python, NumPy or PyTorch (only ``hashlib`` and ``unicodedata``).

Collision rate: two distinct clusters get the same ``h`` only if their
1024-bit digests coincide (probability about ``2^-1024`` per pair, i.e. never).
They are *near* each other with small probability: the cosine of ``h`` for two
distinct clusters is approximately ``N(0, 1/64)`` (standard deviation 0.125);
``P(|cos| > 0.5)`` is about ``3e-5`` per pair (measured: 2.9e-5 over the
12.5 million pairs of 5,000 clusters, maximum 0.645), which
``tests/test_text.py::test_hash_features_are_nearly_orthogonal`` pins.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from pyg_grapheme.graphemes import segment
from pyg_grapheme.input_units import split_input

__all__ = [
    "CATEGORY_GROUPS",
    "COMPOSITION_DIM",
    "HASH_DIM",
    "NUM_NODE_FEATURES",
    "PROPERTY_DIM",
    "FeatureLayout",
    "cluster_features",
    "code_point_vector",
    "graph_to_text",
    "graphs_from_texts",
    "segment",
    "text_to_graph",
]

CATEGORY_GROUPS = ("L", "M", "N", "P", "S", "Z", "C")
"""Unicode general-category groups (first letter of the category), one-hot in the features."""


class FeatureLayout:
    """Column layout of a node feature row ``x[i]`` (:func:`cluster_features`), named once.

    Every reader of the features (position features, augmentation, the model's
    merge features) indexes through these names, never through raw numbers.
    """

    signature = slice(0, 64)
    """``h(g)``: the hashed unit vector of the cluster (64 columns)."""
    category_group = slice(64, 64 + len(CATEGORY_GROUPS))
    """One-hot of the general-category group, in :data:`CATEGORY_GROUPS` order."""
    whitespace = 71
    """1 if the cluster is whitespace."""
    upper_case = 72
    """1 if the first code point is an upper-case letter (``Lu``)."""
    lower_case = 73
    """1 if the first code point is a lower-case letter (``Ll``)."""
    digit_value = 74
    """``(d + 1) / 10`` for a decimal digit ``d``, else 0."""
    emoji = 75
    """1 if the cluster contains an emoji code point or joiner."""
    extra_code_points = 76
    """``min(len(cluster) - 1, 7) / 7``: how many code points beyond the first."""
    base = slice(77, 77 + 64)
    """``b(g)``: the hashed unit vector of the cluster's first code point after canonical
    decomposition (NFD): the base letter of ``"é"``, the initial consonant of a Hangul
    syllable, the first consonant of a Devanagari conjunct."""
    marks = slice(77 + 64, 77 + 128)
    """``r(g)``: the normalised sum of the hashed unit vectors of the other NFD code points
    (combining marks, Hangul vowel and final consonant, virama and the next consonant);
    zero for a cluster of one code point."""
    composition = slice(77, 77 + 128)
    """Both composition blocks."""
    width = 77 + 128
    """Number of columns."""

    properties = slice(64, 77)
    """The coarse Unicode property columns."""


HASH_DIM = FeatureLayout.signature.stop
PROPERTY_DIM = FeatureLayout.properties.stop - FeatureLayout.properties.start
COMPOSITION_DIM = FeatureLayout.composition.stop - FeatureLayout.composition.start
NUM_NODE_FEATURES = FeatureLayout.width

_EMOJI_JOINERS = {"\u200d", "\ufe0f", "\u20e3"}


def _hash_vector(cluster: str, salt: bytes = b"") -> list[float]:
    """Unit vector ``h(g)`` in R^64 from the SHAKE-256 digest of ``salt`` + ``cluster``."""
    canonical = unicodedata.normalize("NFC", cluster)
    digest = hashlib.shake_256(salt + canonical.encode("utf-8", "surrogatepass")).digest(
        2 * HASH_DIM
    )
    values = [
        int.from_bytes(digest[2 * k : 2 * k + 2], "little") - 32767.5 for k in range(HASH_DIM)
    ]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


def code_point_vector(code_point: str) -> list[float]:
    """The hashed unit vector of one code point as a cluster's first (:attr:`FeatureLayout.base`
    of a cluster that starts with it): the vector a reader of a cluster's code points
    (:mod:`pyg_grapheme.models.cluster_spelling`) gives it, wherever in a cluster it stands."""
    return _hash_vector(code_point, b"base:")


def _is_emoji(cluster: str) -> bool:
    for ch in cluster:
        code = ord(ch)
        if ch in _EMOJI_JOINERS or 0x1F000 <= code <= 0x1FAFF or 0x2600 <= code <= 0x27BF:
            return True
    return False


@lru_cache(maxsize=1 << 16)
def _feature_row(cluster: str) -> Tensor:
    """The feature row of ``cluster``, ``FloatTensor[NUM_NODE_FEATURES]``, cached: a word's
    rows are stacked from these: building the tensor from Python floats for every word
    took 216 us a word against 48 (Lithuanian words), and three epochs of a G2P fit 118
    CPU s against 108. Callers get copies (``torch.stack``), and a row first made under
    inference mode stacks into a normal tensor outside it."""
    return torch.tensor(_features(cluster), dtype=torch.float32)


def _features(cluster: str) -> list[float]:
    """The feature row of ``cluster``, column by column as :class:`FeatureLayout` names them."""
    row = [0.0] * FeatureLayout.width
    row[FeatureLayout.signature] = _hash_vector(cluster)
    base = cluster[0]
    category = unicodedata.category(base)
    row[FeatureLayout.category_group.start + CATEGORY_GROUPS.index(category[0])] = 1.0
    row[FeatureLayout.whitespace] = 1.0 if cluster.isspace() else 0.0
    row[FeatureLayout.upper_case] = 1.0 if category == "Lu" else 0.0
    row[FeatureLayout.lower_case] = 1.0 if category == "Ll" else 0.0
    digit = unicodedata.digit(base, -1)
    row[FeatureLayout.digit_value] = (digit + 1) / 10.0 if digit >= 0 else 0.0
    row[FeatureLayout.emoji] = 1.0 if _is_emoji(cluster) else 0.0
    row[FeatureLayout.extra_code_points] = min(len(cluster) - 1, 7) / 7.0
    row[FeatureLayout.base], row[FeatureLayout.marks] = _composition(cluster)
    return row


def _composition(cluster: str) -> tuple[list[float], list[float]]:
    """``(b(g), r(g))`` (:class:`FeatureLayout`): the canonical decomposition of a cluster
    as its first code point and the normalised sum of the others, each hashed with its own
    salt so that neither block equals the signature of a one-code-point cluster."""
    code_points = unicodedata.normalize("NFD", cluster)
    base = code_point_vector(code_points[0])
    if len(code_points) == 1:
        return base, [0.0] * HASH_DIM
    total = [0.0] * HASH_DIM
    for code_point in code_points[1:]:
        for k, v in enumerate(_hash_vector(code_point, b"mark:")):
            total[k] += v
    norm = math.sqrt(sum(v * v for v in total)) or 1.0
    return base, [v / norm for v in total]


def cluster_features(clusters: Sequence[str]) -> Tensor:
    """Features of a sequence of grapheme clusters.

    Returns:
        ``FloatTensor[len(clusters), NUM_NODE_FEATURES]``.
    """
    if len(clusters) == 0:
        return torch.zeros(0, NUM_NODE_FEATURES)
    for k, cluster in enumerate(clusters):
        if not isinstance(cluster, str) or cluster == "":
            raise ValueError(f"cluster {k} must be a non-empty str, got {cluster!r}")
    return torch.stack([_feature_row(c) for c in clusters])


def text_to_graph(text: str, units: str = "graphemes") -> Data:
    """Turn ``text`` into a chain graph of its grapheme clusters (or, with
    ``units="codepoints"``, of the code points of its canonical decomposition:
    :mod:`pyg_grapheme.input_units`).

    Returns:
        ``Data`` with ``x: [N, F]`` node features, ``edge_index: [2, N - 1]``
        (edges ``i -> i + 1``), ``pos: LongTensor[N]`` (reading position),
        ``text: str`` and ``clusters: list[str]`` (the nodes' units, whichever they
        are). The empty string gives a graph with zero nodes and zero edges, which
        batches like any other.
    """
    if not isinstance(text, str):
        raise TypeError(f"text_to_graph expects a str, got {type(text).__name__}")
    clusters = split_input(text, units)
    n = len(clusters)
    source = torch.arange(max(n - 1, 0), dtype=torch.long)
    edge_index = torch.stack([source, source + 1], dim=0)
    return Data(
        x=cluster_features(clusters),
        edge_index=edge_index,
        pos=torch.arange(n, dtype=torch.long),
        text=text,
        clusters=clusters,
        num_nodes=n,
    )


def graphs_from_texts(texts: Sequence[str], units: str = "graphemes") -> Batch:
    """Batch the chain graphs of many texts (``Batch.from_data_list`` of
    :func:`text_to_graph` with ``units``)."""
    if isinstance(texts, str):
        raise TypeError("graphs_from_texts expects a sequence of str, not a single str")
    if len(texts) == 0:
        raise ValueError("graphs_from_texts needs at least one text (got an empty sequence)")
    return Batch.from_data_list([text_to_graph(t, units) for t in texts])


def _chain_text(clusters: Sequence[str], pos: Tensor | None) -> str:
    if pos is None:
        return "".join(clusters)
    order = torch.argsort(pos.detach().cpu(), stable=True).tolist()
    return "".join(clusters[k] for k in order)


def graph_to_text(data: Data | Batch) -> str | list[str]:
    """Read a chain graph back as text, nodes in chain order (by ``pos``).

    For a single ``Data`` returns a ``str``; for a ``Batch`` a ``list[str]``,
    one per graph. ``graph_to_text(text_to_graph(t)) == t`` for every ``t``; with code
    points, the chain reads as ``t``'s NFD form (``text`` holds ``t`` as given).
    """
    if isinstance(data, Batch):
        return [graph_to_text(d) for d in data.to_data_list()]
    clusters = getattr(data, "clusters", None)
    if clusters is None:
        raise ValueError("graph_to_text needs the .clusters attribute set by text_to_graph")
    pos = getattr(data, "pos", None)
    if pos is not None and pos.numel() != len(clusters):
        raise ValueError(
            f"graph has {len(clusters)} clusters but {pos.numel()} positions; they must match"
        )
    return _chain_text(clusters, pos)
