"""Edit operations, target clusters and merge labels from rapidfuzz alignments."""

from pyg_grapheme.models.edit_supervision import EDIT_OPS, edit_targets
from pyg_grapheme.text import segment

K, D, M, INS = (EDIT_OPS.index(o) for o in ("keep", "delete", "modify", "insert"))


def targets(source: str, target: str):
    return edit_targets(segment(source), segment(target))


def test_drop_last_merges_the_last_node_into_its_left_neighbour():
    t = targets("abc", "ab")
    assert t.op.tolist() == [K, K, D]
    assert t.cluster.tolist() == [0, 1, 1]
    assert t.merge.tolist() == [0.0, 1.0]


def test_dedupe_merges_runs():
    t = targets("aabccc", "abc")
    assert t.cluster.tolist() == [0, 0, 1, 2, 2, 2]
    assert t.merge.tolist() == [1.0, 0.0, 0.0, 1.0, 1.0]
    assert t.op.tolist().count(D) == 3


def test_squeeze_spaces_merges_space_runs_only():
    t = targets("aa   b", "aa b")
    assert t.cluster.tolist() == [0, 1, 2, 2, 2, 3]
    assert t.merge.tolist() == [0.0, 0.0, 1.0, 1.0, 0.0]


def test_copy_merges_nothing():
    t = targets("xyz", "xyz")
    assert t.op.tolist() == [K, K, K]
    assert t.merge.tolist() == [0.0, 0.0]


def test_replacement_and_leading_deletion():
    t = targets("(+ 1 2)", "3")
    # rapidfuzz pairs the first node with the '3' (modify) and deletes the rest,
    # which all join cluster 0.
    assert t.cluster.tolist() == [0] * 7
    assert t.op.tolist()[0] == M and t.op.tolist()[1:] == [D] * 6
    t = targets("xab", "ab")
    assert t.op.tolist() == [D, K, K]
    assert t.cluster.tolist() == [0, 0, 1]  # a leading deletion joins the right neighbour


def test_insertion_is_put_on_the_node_before_it():
    t = targets("ac", "abc")
    assert t.op.tolist() == [INS, K]
    assert t.cluster.tolist() == [0, 2]


def test_graphemes_not_code_points():
    t = targets("e\u0301e\u0301x", "e\u0301x")
    assert len(t.op) == 3
    assert t.merge.tolist() == [1.0, 0.0]


def test_empty_sides():
    t = targets("", "")
    assert t.op.numel() == 0 and t.merge.numel() == 0
    t = targets("ab", "")
    assert t.op.tolist() == [D, D] and t.cluster.tolist() == [0, 0]


def test_right_alignment_anchors_result_digits_to_the_last_nodes():
    t = edit_targets(segment("(+ 16 9)"), segment("25"), alignment="right")
    assert t.cluster.tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    assert t.merge.tolist() == [1.0] * 6 + [0.0]
    assert t.op.tolist() == [D] * 6 + [M, M]
    t = edit_targets(segment("(* 20 20)"), segment("400"), alignment="right")
    assert t.cluster.tolist() == [0] * 7 + [1, 2]
    assert t.op.tolist()[-2] == K  # the "0" node emits "0"
    one = edit_targets(segment("(+ 1 2)"), segment("3"), alignment="right")
    assert one.cluster.tolist() == [0] * 7
    longer = edit_targets(segment("ab"), segment("xyz"), alignment="right")
    assert longer.cluster.tolist() == [1, 2]


def test_unknown_alignment_is_named():
    import pytest

    with pytest.raises(ValueError, match="alignment"):
        edit_targets(segment("ab"), segment("a"), alignment="left")
