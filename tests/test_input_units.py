"""Input units: grapheme clusters or code points, and the choice between them."""

from __future__ import annotations

import itertools
import json
import random

import pytest
import torch

from pyg_grapheme.data import PairDataset, TextPair
from pyg_grapheme.input_units import (
    INPUT_UNIT_MODES,
    MAX_UNSEEN_CLUSTERS,
    choose_input_units,
    split_input,
)
from pyg_grapheme.text import graph_to_text, graphs_from_texts, text_to_graph

KHMER = "កក្កដា"  # 6 code points in 3 clusters: ក, ក្ក, ដា
GRAVE, ACUTE = "\u0300", "\u0301"


def sparse_cluster_words(n: int, seed: int = 0) -> list[str]:
    """``n`` words of three clusters, each a base letter with two of seven combining marks:
    245 cluster types, so most clusters of one half are new to the other half, while the
    twelve code points recur in every word."""
    marks = [chr(0x0300 + k) for k in range(7)]
    clusters = [b + m1 + m2 for b, m1, m2 in itertools.product("abcde", marks, marks)]
    draw = random.Random(seed)
    return ["".join(draw.choice(clusters) for _ in range(3)) for _ in range(n)]


def test_split_input_is_clusters_or_code_points_and_joins_back():
    assert split_input(KHMER) == ["ក", "ក្ក", "ដា"]
    assert split_input(KHMER, "codepoints") == list(KHMER)
    assert split_input("e" + ACUTE + "x", "graphemes") == ["e" + ACUTE, "x"]
    assert split_input("e" + ACUTE + "x", "codepoints") == ["e", ACUTE, "x"]
    # Code points are those of the canonical decomposition: precomposed é reads as the
    # decomposed one, and a Hangul syllable as its jamo.
    assert split_input("\u00e9", "codepoints") == ["e", ACUTE]
    assert split_input("\u00e9") == ["\u00e9"]
    assert split_input("각", "codepoints") == ["\u1100", "\u1161", "\u11a8"]
    for mode in INPUT_UNIT_MODES:
        assert "".join(split_input(KHMER + " e" + ACUTE, mode)) == KHMER + " e" + ACUTE
        assert split_input("", mode) == []
    assert "".join(split_input("caf\u00e9", "codepoints")) == "cafe" + ACUTE


def test_split_input_refuses_an_unknown_mode_and_a_non_string():
    with pytest.raises(
        ValueError, match=r"input units must be one of \('graphemes', 'codepoints'\), got 'bytes'"
    ):
        split_input("ab", "bytes")
    with pytest.raises(TypeError, match="expects a str, got int"):
        split_input(3)  # type: ignore[arg-type]


def test_choice_takes_code_points_only_where_clusters_are_sparse_and_code_points_recur():
    sparse = sparse_cluster_words(200)
    assert choose_input_units(sparse) == "codepoints"
    # The same words with their marks dropped: five clusters that all recur.
    plain = ["".join(c for c in w if c.isalpha()) for w in sparse]
    assert choose_input_units(plain) == "graphemes"
    # Hangul syllables are single code points, sparse, but decompose into jamo that recur.
    syllables = [chr(0xAC00 + k) for k in range(0, 11172, 7)]
    draw = random.Random(1)
    hangul = ["".join(draw.choice(syllables) for _ in range(3)) for _ in range(200)]
    assert choose_input_units(hangul) == "codepoints"
    # Ideographs are single code points that do not decompose, sparse as they are: code
    # points are the same units, so nothing is gained by switching.
    ideographs = [chr(0x4E00 + k) for k in range(0, 20000, 13)]
    chinese = ["".join(draw.choice(ideographs) for _ in range(3)) for _ in range(200)]
    assert choose_input_units(chinese) == "graphemes"
    # Too few clusters to measure (fewer than 100 in the odd half): clusters stay.
    assert choose_input_units(sparse[:60]) == "graphemes"
    assert choose_input_units([]) == "graphemes"


def test_choice_threshold_is_the_share_of_unseen_clusters():
    """Exactly at the threshold clusters stay; one unseen cluster more switches."""
    marks = "".join(chr(0x0300 + k) for k in range(7))
    # The even half: "a", "b" and one cluster holding every mark, so every code point of
    # the odd half recurs.
    even = "ab" + "a" + marks

    def inputs(k: int) -> list[str]:
        """200 odd clusters, ``k`` of them new: ``a`` with two marks, never in ``even``."""
        new = "".join("a" + marks[i % 7] + marks[i // 7] for i in range(k))
        return [even, ("ab" * 100)[: 200 - k] + new]

    at = int(MAX_UNSEEN_CLUSTERS * 200)  # 20 of 200
    assert choose_input_units(inputs(at)) == "graphemes"
    assert choose_input_units(inputs(at + 1)) == "codepoints"


def test_code_point_chains_are_one_node_per_code_point():
    graph = text_to_graph(KHMER, "codepoints")
    assert graph.num_nodes == 6
    assert graph.clusters == list(KHMER)
    assert graph.edge_index.tolist() == [[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]]
    assert graph_to_text(graph) == KHMER
    clusters = text_to_graph(KHMER)
    assert clusters.num_nodes == 3
    # A code point's features are those of a one-code-point cluster of it.
    assert torch.equal(graph.x[0], clusters.x[0])
    batch = graphs_from_texts([KHMER, "e" + ACUTE], "codepoints")
    assert batch.batch.tolist() == [0] * 6 + [1] * 2
    assert graph_to_text(batch) == [KHMER, "e" + ACUTE]


def test_pair_dataset_reads_inputs_in_its_units_and_targets_as_graphemes(tmp_path):
    pairs = [TextPair(KHMER, "k ɑ ʔ k")]
    inputs, target = PairDataset(pairs, "codepoints")[0]
    assert inputs.clusters == list(KHMER)
    assert target.clusters == list("k ɑ ʔ k")
    assert PairDataset(pairs)[0][0].clusters == ["ក", "ក្ក", "ដា"]
    with pytest.raises(ValueError, match="input units must be one of"):
        PairDataset(pairs, "words")
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"input": KHMER, "target": "k a"}) + "\n")
    assert PairDataset.from_jsonl(path, input_units="codepoints")[0][0].num_nodes == 6
    generated = PairDataset.from_task("copy", 3, seed=0, input_units="codepoints")
    assert generated.input_units == "codepoints"


def test_producible_counts_input_units_of_the_chosen_kind():
    from lightning_modules.module import check_producible
    from pyg_grapheme.models.output_units import OutputUnits

    pair = TextPair(KHMER, "a b c d e f g h i j", {"source": "f.jsonl:3"})
    # 10 units from 3 clusters needs 4 per cluster; from 6 code points, 2 per code point.
    check_producible([pair], OutputUnits("tokens"), 2, "codepoints")
    with pytest.raises(ValueError, match=r"10 tokens for 6 input code points, more than"):
        check_producible([pair], OutputUnits("tokens"), 1, "codepoints")
    with pytest.raises(
        ValueError, match=r"f.jsonl:3: the target has 10 tokens for 3 input graphemes"
    ):
        check_producible([pair], OutputUnits("tokens"), 2, "graphemes")


def test_net_reads_texts_in_its_input_units():
    from pyg_grapheme.models.graph_transform_net import GraphTransformNet

    net = GraphTransformNet(hidden_channels=8, input_units="codepoints", output_vocab=["a"])
    assert net._batch([KHMER, "ab"]).num_nodes == 8
    assert GraphTransformNet(hidden_channels=8)._batch([KHMER]).num_nodes == 3
    assert "input_units='codepoints'" in repr(net)
    with pytest.raises(ValueError, match="input units must be one of"):
        GraphTransformNet(hidden_channels=8, input_units="bytes")


def test_datamodule_refuses_an_unknown_input_unit_mode():
    from lightning_modules.datamodule import GraphemeDataModule

    with pytest.raises(
        ValueError,
        match=r"data.input_units must be one of \('graphemes', 'codepoints'\) or null, got 'bytes'",
    ):
        GraphemeDataModule(task="copy", input_units="bytes")


def test_fit_chooses_code_points_on_sparse_clusters_and_predict_reads_them(
    tmp_path, monkeypatch, capsys
):
    """fit prints its choice, links it to the model, and the checkpoint keeps it: predict
    reads the same units without being told."""
    from fit_cases import fit

    from lightning_modules.module import GraphTransformModule

    words = sparse_cluster_words(120)

    def write(name, chosen):
        path = tmp_path / name
        path.write_text(
            "".join(json.dumps({"input": w, "target": " ".join(w[0::3])}) + "\n" for w in chosen)
        )
        return str(path)

    train, val = write("train.jsonl", words[:100]), write("val.jsonl", words[100:])
    fit(tmp_path, monkeypatch, "--data.task", "null", "--data.train_path", train,
        "--data.val_path", val, "--trainer.max_epochs", "1",
        "--trainer.default_root_dir", str(tmp_path / "run"),
        "--model.net.init_args.hidden_channels", "8")  # fmt: skip
    out = capsys.readouterr().out
    assert "data.input_units: codepoints (chosen from the training inputs)" in out
    (checkpoint,) = (tmp_path / "run").rglob("last.ckpt")
    module = GraphTransformModule.load_from_checkpoint(checkpoint, map_location="cpu")
    assert module.net.input_units == "codepoints"
    assert module.net._batch([words[0]]).num_nodes == 9  # 3 clusters of 3 code points
