"""Decoding with the target counts, and bench/length_errors.py built on it."""

import pytest
import torch

import bench.length_errors as length_errors
from bench.length_errors import length_report, main
from lightning_modules.module import segment
from pyg_grapheme.data import TextPair
from pyg_grapheme.models import GraphTransformNet
from pyg_grapheme.models.edit_supervision import edit_targets
from pyg_grapheme.models.text_transform import emit
from pyg_grapheme.text import graphs_from_texts

PAIRS = [TextPair("abc", "aabbcc"), TextPair("xyz", "x"), TextPair("q r", "qr"), TextPair("m", "")]


@pytest.mark.parametrize("spare_slots", [0, 2])
def test_target_counts_fix_every_output_length(spare_slots):
    torch.manual_seed(0)
    net = GraphTransformNet(hidden_channels=16, heads=2, num_layers=2, output_vocab=["q"],
                            decoder_layers=1, spare_slots=spare_slots).eval()  # fmt: skip
    if spare_slots:
        with torch.no_grad():
            net.end_head.bias.fill_(100.0)  # would end every slot: target counts override it
    data = graphs_from_texts([p.input for p in PAIRS])
    data.num_graphs = len(PAIRS)
    length = torch.cat([edit_targets(segment(p.input), segment(p.target)).length for p in PAIRS])
    out, emitted = emit(net, data, length)
    assert [len("".join(nodes)) for nodes in emitted] == [6, 1, 2, 0]
    assert out.split.count.sum() == 9
    free = emit(net, data)[1]  # the count head's counts: untrained, other lengths
    assert [len(nodes) for nodes in free] != [6, 1, 2, 0]


def test_length_report_matches_transform_text():
    torch.manual_seed(1)
    net = GraphTransformNet(hidden_channels=16, heads=2, num_layers=2, decoder_layers=1)
    report = length_report(net, PAIRS, "lcs", batch_size=3)
    predictions = net.transform_text([p.input for p in PAIRS])
    wrong = [(got, p.target) for got, p in zip(predictions, PAIRS) if got != p.target]
    assert report.problems == 4 and report.wrong == len(wrong) > 0
    assert report.exact_match == 1 - len(wrong) / 4
    assert report.wrong_length == sum(len(got) != len(want) for got, want in wrong)
    assert "4 problems: exact match" in str(report)


def test_length_report_counts_hand_made_answers(monkeypatch):
    """With known answers in both modes, every figure of the report is exact, and the
    forced pass gets each pair's target counts (batches of 3: two chunks)."""
    free = {"abc": "aabbcc", "xyz": "xy", "q r": "qX", "m": "m"}  # 3 wrong, 2 in length
    forced = {"abc": "aabbcc", "xyz": "x", "q r": "qX", "m": ""}  # 1 wrong
    lengths = []

    def fake_emit(net, data, length=None):
        texts = ["".join(clusters) for clusters in data.clusters]
        if length is not None:
            lengths.append(length.tolist())
        answers = free if length is None else forced
        return None, [segment(answers[text]) for text in texts]

    monkeypatch.setattr(length_errors, "emit", fake_emit)
    net = GraphTransformNet(hidden_channels=8, heads=2, num_layers=1)
    report = length_report(net, PAIRS, "lcs", batch_size=3)
    assert report == length_errors.LengthReport(
        problems=4, exact_match=0.25, wrong=3, wrong_length=2, exact_match_with_target_counts=0.75
    )
    # abc -> aabbcc: 2 each; xyz -> x: 1, 0, 0; q r -> qr: 1, 0, 1; m -> "": 0.
    assert lengths == [[2, 2, 2, 1, 0, 0, 1, 0, 1], [0]]
    assert str(report) == (
        "4 problems: exact match 0.250; 3 wrong, 2 of them of the wrong length; "
        "with the target counts 0.750"
    )


def test_command_line_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--row", "math_l5", "--ckpt", str(tmp_path / "missing.ckpt")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("length_errors: error:") and err.count("\n") == 1


def test_math_train_picks_the_runs_held_out_problems(tmp_path, capsys):
    # The held-out draw follows the training set, so a run with --math-train is scored on
    # its own held-out problems; a count the level cannot hold is one line, before the
    # checkpoint is read.
    with pytest.raises(SystemExit) as exit_info:
        main(["--row", "math_l1", "--math-train", "5000", "--ckpt", str(tmp_path / "x.ckpt")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("length_errors: error: math level 1 has 1200 problems")
    assert err.count("\n") == 1
