"""Tests for pyg_grapheme.text: segmentation, features, chain graphs, batching, round trip."""

from __future__ import annotations

import hashlib
import math
import unicodedata

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Batch, Data

from pyg_grapheme.text import (
    HASH_DIM,
    NUM_NODE_FEATURES,
    PROPERTY_DIM,
    FeatureLayout,
    cluster_features,
    graph_to_text,
    graphs_from_texts,
    segment,
    text_to_graph,
)

# --------------------------------------------------------------------------- segmentation


@pytest.mark.parametrize(
    ("text", "clusters"),
    [
        ("abc", ["a", "b", "c"]),
        ("e\u0301", ["e\u0301"]),  # e + combining acute: one cluster
        ("\u00e9", ["\u00e9"]),  # precomposed é
        ("a\u0301\u0323b", ["a\u0301\u0323", "b"]),  # two combining marks stay on their base
        ("\u0301a", ["\u0301", "a"]),  # a mark with no base is a cluster of its own
        ("👍🏽", ["👍🏽"]),  # skin-tone modifier
        ("👍🏽👍", ["👍🏽", "👍"]),
        ("👨\u200d👩\u200d👧\u200d👦", ["👨\u200d👩\u200d👧\u200d👦"]),  # ZWJ family
        ("🏳️\u200d🌈!", ["🏳️\u200d🌈", "!"]),  # ZWJ + variation selector
        ("🇫🇷🇩🇪", ["🇫🇷", "🇩🇪"]),  # flags pair regional indicators two by two
        ("🇺🇸🇫", ["🇺🇸", "🇫"]),  # odd one out stays alone
        ("1\ufe0f\u20e3", ["1\ufe0f\u20e3"]),  # keycap
        ("a\r\nb", ["a", "\r\n", "b"]),  # CRLF is one cluster
        ("\n\r", ["\n", "\r"]),  # LF CR is not
        ("\r\r\n", ["\r", "\r\n"]),
        ("\u1100\u1161\u11a8", ["\u1100\u1161\u11a8"]),  # Hangul jamo L V T -> one syllable
        ("कि", ["कि"]),  # Devanagari consonant + vowel sign (spacing mark)
        ("a b", ["a", " ", "b"]),
        ("", []),
    ],
)
def test_segment_extended_grapheme_clusters(text: str, clusters: list[str]) -> None:
    assert segment(text) == clusters


def test_segment_rejects_non_str() -> None:
    with pytest.raises(TypeError, match="segment expects a str, got bytes"):
        segment(b"abc")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- graph structure


def test_text_to_graph_is_a_chain_of_clusters() -> None:
    text = "he\u0301 👍🏽🇫🇷"
    data = text_to_graph(text)
    assert data.clusters == ["h", "e\u0301", " ", "👍🏽", "🇫🇷"]
    assert data.text == text
    assert data.num_nodes == 5
    assert data.x.shape == (5, NUM_NODE_FEATURES)
    assert data.x.dtype == torch.float32
    assert data.edge_index.tolist() == [[0, 1, 2, 3], [1, 2, 3, 4]]
    assert data.edge_index.dtype == torch.long
    assert data.pos.tolist() == [0, 1, 2, 3, 4]
    assert data.pos.dtype == torch.long
    # signature, properties, then the NFD base and marks blocks (one signature wide each)
    assert NUM_NODE_FEATURES == HASH_DIM + PROPERTY_DIM + 2 * HASH_DIM == 205


def test_single_cluster_graph_has_no_edges() -> None:
    data = text_to_graph("👨\u200d👩\u200d👧\u200d👦")
    assert data.num_nodes == 1
    assert data.edge_index.shape == (2, 0)
    assert data.pos.tolist() == [0]


def test_empty_string_is_a_graph_with_zero_nodes() -> None:
    data = text_to_graph("")
    assert data.num_nodes == 0
    assert data.x.shape == (0, NUM_NODE_FEATURES)
    assert data.edge_index.shape == (2, 0)
    assert data.pos.shape == (0,)
    assert data.clusters == []
    assert graph_to_text(data) == ""


def test_batch_with_empty_single_and_longer_graphs() -> None:
    batch = graphs_from_texts(["", "a", "abc"])
    assert isinstance(batch, Batch)
    assert batch.num_graphs == 3
    assert batch.num_nodes == 4
    assert batch.x.shape == (4, NUM_NODE_FEATURES)
    assert batch.batch.tolist() == [1, 2, 2, 2]
    assert batch.ptr.tolist() == [0, 0, 1, 4]
    # The chain "abc" starts at node 1: its edges are shifted by the one node before it.
    assert batch.edge_index.tolist() == [[1, 2], [2, 3]]
    assert batch.pos.tolist() == [0, 0, 1, 2]
    assert batch.text == ["", "a", "abc"]
    assert batch.clusters == [[], ["a"], ["a", "b", "c"]]
    assert graph_to_text(batch) == ["", "a", "abc"]
    parts = batch.to_data_list()
    assert [d.num_nodes for d in parts] == [0, 1, 3]
    assert [d.edge_index.tolist() for d in parts] == [[[], []], [[], []], [[0, 1], [1, 2]]]


def test_batch_of_mixed_scripts_keeps_cluster_counts() -> None:
    texts = ["👍🏽", "héllo", "e\u0301e\u0301", "日本", "🇫🇷🇩🇪 ok", "x"]
    batch = graphs_from_texts(texts)
    assert batch.ptr.tolist() == [0, 1, 6, 8, 10, 15, 16]
    assert batch.edge_index.shape == (2, 0 + 4 + 1 + 1 + 4 + 0)
    # Every edge stays inside one graph and goes one step along the chain.
    source, target = batch.edge_index
    assert torch.equal(batch.batch[source], batch.batch[target])
    assert torch.equal(target - source, torch.ones_like(source))
    assert graph_to_text(batch) == texts
    assert torch.equal(batch.x[0], text_to_graph("👍🏽").x[0])


def test_graphs_from_texts_rejects_a_single_string() -> None:
    with pytest.raises(TypeError, match="not a single str"):
        graphs_from_texts("abc")


# --------------------------------------------------------------------------- reading back


def test_graph_to_text_reads_nodes_in_pos_order() -> None:
    data = Data(clusters=["c", "a", "b👍🏽"], pos=torch.tensor([2, 0, 1]), num_nodes=3)
    assert graph_to_text(data) == "ab👍🏽c"


def test_graph_to_text_without_pos_reads_node_order() -> None:
    assert graph_to_text(Data(clusters=["x", "y"], num_nodes=2)) == "xy"


def test_graph_to_text_errors() -> None:
    with pytest.raises(ValueError, match=r"needs the \.clusters attribute"):
        graph_to_text(Data(x=torch.zeros(2, 3)))
    with pytest.raises(ValueError, match="graph has 2 clusters but 3 positions"):
        graph_to_text(Data(clusters=["a", "b"], pos=torch.arange(3)))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_round_trip_any_text(text: str) -> None:
    clusters = segment(text)
    assert "".join(clusters) == text
    data = text_to_graph(text)
    assert data.num_nodes == len(clusters)
    assert data.edge_index.shape == (2, max(len(clusters) - 1, 0))
    assert graph_to_text(data) == text


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=6))
def test_round_trip_through_a_batch(texts: list[str]) -> None:
    batch = graphs_from_texts(texts)
    assert batch.num_graphs == len(texts)
    assert batch.num_nodes == sum(len(segment(t)) for t in texts)
    assert graph_to_text(batch) == texts


def test_round_trip_lone_surrogates() -> None:
    # st.text() never draws lone surrogates; Python strings can hold them.
    text = "a\ud800b\udfff"
    assert segment(text) == ["a", "\ud800", "b", "\udfff"]
    data = text_to_graph(text)
    assert graph_to_text(data) == text
    assert torch.isfinite(data.x).all()


# --------------------------------------------------------------------------- features


def test_property_features_exact() -> None:
    # [L, M, N, P, S, Z, C | space, upper, lower, (digit+1)/10, emoji, min(len-1, 7)/7]
    rows = {
        "a": [1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0],
        "A": [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
        "7": [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0.8, 0, 0],
        "0": [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0.1, 0, 0],
        " ": [0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0],
        "!": [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        "\u0301": [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        "\r\n": [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1 / 7],
        "e\u0301": [1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1 / 7],
        "👍🏽": [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1 / 7],
        "👨\u200d👩\u200d👧\u200d👦": [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 6 / 7],
        "中": [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    }
    features = cluster_features(list(rows))
    expected = torch.tensor(list(rows.values()), dtype=torch.float32)
    assert features.shape == (len(rows), NUM_NODE_FEATURES)
    assert torch.equal(features[:, FeatureLayout.properties], expected)


def test_hash_features_follow_the_documented_recipe() -> None:
    """h(g): SHAKE-256 of the NFC form's UTF-8, 64 little-endian 16-bit draws, centred, unit norm."""
    for cluster in ["a", "👍🏽", "e\u0301", "日"]:
        digest = hashlib.shake_256(unicodedata.normalize("NFC", cluster).encode("utf-8")).digest(
            128
        )
        draws = [int.from_bytes(digest[2 * k : 2 * k + 2], "little") - 32767.5 for k in range(64)]
        norm = math.sqrt(sum(v * v for v in draws))
        expected = torch.tensor([v / norm for v in draws], dtype=torch.float32)
        assert torch.equal(cluster_features([cluster])[0, :HASH_DIM], expected)
    # Frozen values: the features must not change between machines or versions.
    golden = [-0.0026093097403645515, 0.08524321019649506, -0.06669119000434875]
    assert cluster_features(["a"])[0, :3].tolist() == golden


def test_canonically_equivalent_clusters_share_their_signature() -> None:
    composed, decomposed = cluster_features(["\u00e9", "e\u0301"])
    assert torch.equal(composed[:HASH_DIM], decomposed[:HASH_DIM])
    assert graph_to_text(text_to_graph("e\u0301")) == "e\u0301"  # the text is not normalised


def test_features_are_deterministic_and_per_cluster() -> None:
    first = text_to_graph("abca").x
    assert torch.equal(first, text_to_graph("abca").x)
    assert torch.equal(first[0], first[3])
    assert not torch.equal(first[0], first[1])
    assert torch.equal(cluster_features([]), torch.zeros(0, NUM_NODE_FEATURES))


def test_cluster_features_rejects_empty_or_non_str() -> None:
    with pytest.raises(ValueError, match="cluster 1 must be a non-empty str, got ''"):
        cluster_features(["a", ""])
    with pytest.raises(ValueError, match="cluster 0 must be a non-empty str, got 3"):
        cluster_features([3])  # type: ignore[list-item]


def _distinct_clusters() -> list[str]:
    """5,000 distinct single clusters: flags, accented letters, CJK, Hangul."""
    flags = [chr(0x1F1E6 + i) + chr(0x1F1E6 + j) for i in range(26) for j in range(26)]
    accented = [chr(ord("a") + i) + chr(0x0300 + j) for i in range(26) for j in range(50)]
    han = [chr(0x4E00 + k) for k in range(2000)]
    hangul = [chr(0xAC00 + k) for k in range(1024)]
    return flags + accented + han + hangul


def test_hash_features_are_nearly_orthogonal() -> None:
    """Measures the collision / near-collision claim of the text.py docstring.

    For 5,000 distinct clusters (12,497,500 pairs) the hashed parts are unit
    vectors with no exact duplicates; |cos| has standard deviation 1/8 (the
    value for random directions in R^64), and |cos| > 0.5 for 365 pairs, a
    rate of 2.9e-5 (the two-sided rate for uniformly random unit vectors in
    R^64 is 2.2e-5; 16-bit uniform draws have slightly heavier tails).
    """
    clusters = _distinct_clusters()
    assert len(set(clusters)) == 5000
    assert all(segment(c) == [c] for c in clusters)
    h = cluster_features(clusters)[:, :HASH_DIM].double()
    assert torch.allclose(h.norm(dim=1), torch.ones(5000, dtype=torch.float64), atol=1e-6)
    assert torch.unique(h, dim=0).shape[0] == 5000

    n = h.shape[0]
    pairs = n * (n - 1) // 2
    above_half = 0
    above_04 = 0
    largest = 0.0
    sum_sq = 0.0
    columns = torch.arange(n)
    for start in range(0, n, 1000):
        block = h[start : start + 1000] @ h.T
        rows = torch.arange(start, min(start + 1000, n))
        values = block[columns[None, :] > rows[:, None]].abs()
        above_half += int((values > 0.5).sum())
        above_04 += int((values > 0.4).sum())
        largest = max(largest, float(values.max()))
        sum_sq += float((values**2).sum())
    assert pairs == 12_497_500
    assert above_half == 365
    assert above_half / pairs < 1e-3
    assert above_half / pairs == pytest.approx(2.9206e-5, rel=1e-4)
    assert above_04 / pairs == pytest.approx(1.0433e-3, rel=1e-3)
    assert largest == pytest.approx(0.644823, abs=1e-6)
    assert math.sqrt(sum_sq / pairs) == pytest.approx(1 / 8, rel=0.01)


def test_feature_rows_are_fresh_copies_usable_in_any_grad_mode() -> None:
    # The rows are cached per cluster. Rows first made under inference mode must give
    # features that autograd can save outside it, and a caller that writes into its
    # features must not change what later calls get.
    from pyg_grapheme.text import _feature_row

    _feature_row.cache_clear()
    with torch.inference_mode():
        expected = cluster_features(["ж", "q"]).clone()
    weight = torch.ones(NUM_NODE_FEATURES, 1, requires_grad=True)
    features = cluster_features(["ж", "q", "ж"])
    assert not features.is_inference()
    (features @ weight).pow(2).sum().backward()  # saves the features for backward
    assert torch.allclose(weight.grad[:, 0], 2 * (features.T @ (features @ weight.detach()))[:, 0])
    assert torch.equal(features[0], features[2]) and torch.equal(features[:2], expected)
    features.mul_(0.0)
    assert torch.equal(cluster_features(["ж", "q"]), expected)
