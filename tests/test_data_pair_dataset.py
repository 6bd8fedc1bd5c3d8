"""Tests for pyg_grapheme.data.pair_dataset: JSONL -> dataset -> DataLoader -> two PyG batches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader
from torch_geometric.data import Batch

from pyg_grapheme.data import PairDataset, TextPair, collate_pairs, generate, read_jsonl
from pyg_grapheme.text import NUM_NODE_FEATURES, graph_to_text, segment, text_to_graph

DATA = Path(__file__).parent / "data"


def _sizes(batch: Batch) -> list[int]:
    return (batch.ptr[1:] - batch.ptr[:-1]).tolist()


def test_pairs_file_to_batches() -> None:
    dataset = PairDataset.from_jsonl(DATA / "pairs.jsonl")
    assert len(dataset) == 6
    assert dataset.skipped == 0
    loader = DataLoader(dataset, batch_size=4, shuffle=False, collate_fn=collate_pairs)
    batches = list(loader)
    assert len(batches) == 2
    (in0, out0), (in1, out1) = batches
    # Cluster counts: "he\u0301llo   wörld" is 13 clusters (é is e + U+0301), "👍🏽👍🏽🇫🇷" is 3.
    assert _sizes(in0) == [3, 6, 13, 3]
    assert _sizes(out0) == [2, 3, 11, 2]
    assert _sizes(in1) == [3, 1]
    assert _sizes(out1) == [3, 0]  # the empty target is a graph with no nodes
    assert out1.batch.tolist() == [0, 0, 0]
    for inputs, targets, pairs in [(in0, out0, dataset.pairs[:4]), (in1, out1, dataset.pairs[4:])]:
        assert inputs.num_graphs == targets.num_graphs == len(pairs)
        assert _sizes(inputs) == [len(segment(p.input)) for p in pairs]
        assert _sizes(targets) == [len(segment(p.target)) for p in pairs]
        assert inputs.text == [p.input for p in pairs]
        assert graph_to_text(targets) == [p.target for p in pairs]
        assert inputs.x.shape == (sum(_sizes(inputs)), NUM_NODE_FEATURES)
        assert inputs.edge_index.shape == (2, sum(max(s - 1, 0) for s in _sizes(inputs)))


def test_math_file_to_batches() -> None:
    dataset = PairDataset.from_jsonl(DATA / "math.jsonl")
    loader = DataLoader(dataset, batch_size=3, collate_fn=collate_pairs)
    sizes = [(_sizes(i), _sizes(t)) for i, t in loader]
    assert sizes == [([8, 7, 7], [2, 2, 3]), ([7, 13, 13], [18, 2, 7])]
    inputs, targets = next(iter(loader))
    assert inputs.text == ["(+ 16 9)", "(- 3 7)", "(/ 7 2)"]
    assert targets.text == ["25", "-4", "3.5"]


def test_generated_pairs_in_worker_processes() -> None:
    dataset = PairDataset.from_task("dedupe", 10, seed=0, alphabet="emoji", max_len=4)
    assert dataset.pairs == tuple(generate("dedupe", 10, seed=0, alphabet="emoji", max_len=4))
    loader = DataLoader(dataset, batch_size=5, num_workers=1, collate_fn=collate_pairs)
    batches = list(loader)
    assert len(batches) == 2
    for k, (inputs, targets) in enumerate(batches):
        pairs = dataset.pairs[5 * k : 5 * k + 5]
        assert _sizes(inputs) == [len(segment(p.input)) for p in pairs]
        assert _sizes(targets) == [p.meta["length"] for p in pairs]
        assert graph_to_text(inputs) == [p.input for p in pairs]


def test_item_is_the_two_chain_graphs_and_is_cached() -> None:
    dataset = PairDataset([TextPair("aab👍🏽", "ab👍🏽"), TextPair("x", "")])
    source, target = dataset[0]
    reference = text_to_graph("aab👍🏽")
    assert torch.equal(source.x, reference.x)
    assert source.edge_index.tolist() == [[0, 1, 2], [1, 2, 3]]
    assert source.clusters == ["a", "a", "b", "👍🏽"]
    assert target.clusters == ["a", "b", "👍🏽"]
    assert dataset[0][0] is source  # built once
    assert dataset[-1][1].num_nodes == 0
    assert dataset[-1] is dataset[1]
    assert repr(dataset) == "PairDataset(2)"


def test_skipped_lines_are_reported_on_the_dataset(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"input": "ab", "target": "a"}\n{"input": 1}\n{"input": "c", "target": "c"}\n')
    dataset = PairDataset.from_jsonl(path, skip_bad_lines=True)
    assert [(p.input, p.target) for p in dataset.pairs] == [("ab", "a"), ("c", "c")]
    assert dataset.skipped == 1
    assert PairDataset(read_jsonl(path, skip_bad_lines=True)).pairs == dataset.pairs


def test_index_and_type_errors() -> None:
    dataset = PairDataset([TextPair("a", "a")])
    with pytest.raises(IndexError, match="index 1 is out of range for 1 pairs"):
        dataset[1]
    with pytest.raises(IndexError, match="index -2 is out of range for 1 pairs"):
        dataset[-2]
    with pytest.raises(TypeError, match="PairDataset index must be an int, got slice"):
        dataset[0:1]  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"pairs\[1\] must be a TextPair, got tuple"):
        PairDataset([TextPair("a", "a"), ("b", "b")])  # type: ignore[list-item]


def test_collate_pairs_errors() -> None:
    with pytest.raises(
        ValueError, match=r"collate_pairs needs at least one \(input, target\) pair"
    ):
        collate_pairs([])
    graph = text_to_graph("a")
    with pytest.raises(TypeError, match=r"items\[0\] must be an \(input, target\) pair of Data"):
        collate_pairs([graph])  # type: ignore[list-item]


def test_text_pair_validation_and_hash() -> None:
    with pytest.raises(TypeError, match=r"TextPair\.target must be a str, got int"):
        TextPair("a", 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"TextPair\.meta must be a dict, got list"):
        TextPair("a", "b", [])  # type: ignore[arg-type]
    first = TextPair("a", "b", {"source": "x:1"})
    second = TextPair("a", "b", {"source": "y:9"})
    assert first != second
    assert hash(first) == hash(second)
    assert len({first, second, TextPair("a", "b", {"source": "x:1"})}) == 2
