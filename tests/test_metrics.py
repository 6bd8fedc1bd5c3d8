"""Exact match and character error rate."""

import pytest
import torch

from pyg_grapheme.metrics import CharErrorRate, ExactMatch, exact_match


def test_exact_match_function_and_metric_agree():
    preds, targets = ["ab", "xy", "1"], ["ab", "xz", "1"]
    assert exact_match(preds, targets) == pytest.approx(2 / 3)
    metric = ExactMatch()
    metric.update(preds[:2], targets[:2])
    metric.update(preds[2:], targets[2:])
    assert float(metric.compute()) == pytest.approx(2 / 3)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="2 predictions but 1 targets"):
        exact_match(["a", "b"], ["a"])


def test_cer_is_edit_distance_over_target_length():
    cer = CharErrorRate()
    assert float(cer(["abd"], ["abc"])) == pytest.approx(1 / 3)
    assert torch.isclose(CharErrorRate()(["ab"], ["ab"]), torch.tensor(0.0))
