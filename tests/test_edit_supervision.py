"""What each input node produces, from the alignment of input and target graphemes."""

import pytest

from pyg_grapheme.models.edit_supervision import EDIT_OPS, edit_targets
from pyg_grapheme.text import segment

K, D, M, INS = (EDIT_OPS.index(o) for o in ("keep", "delete", "modify", "insert"))


def targets(source: str, target: str, alignment: str = "lcs"):
    t = edit_targets(segment(source), segment(target), alignment)
    # Every target grapheme is produced exactly once, in order.
    assert int(t.length.sum()) == len(segment(target)) or not source
    return t


def test_copy_produces_one_each_and_merges_nothing():
    t = targets("xyz", "xyz")
    assert t.length.tolist() == [1, 1, 1] and t.op.tolist() == [K, K, K]
    assert t.group.tolist() == [0, 1, 2] and t.merge.tolist() == [0.0, 0.0]


def test_drop_last_deletes_the_last_node_on_its_own():
    t = targets("abc", "ab")
    assert t.length.tolist() == [1, 1, 0] and t.op.tolist() == [K, K, D]
    assert t.group.tolist() == [0, 1, 2]


def test_dedupe_merges_runs_of_equal_graphemes():
    t = targets("aabccc", "abc")
    assert t.group.tolist() == [0, 0, 1, 2, 2, 2]
    assert t.merge.tolist() == [1.0, 0.0, 0.0, 1.0, 1.0]
    assert t.op.tolist().count(D) == 3
    # Each group produces one grapheme, whichever member the matching picked.
    assert [sum(t.length[t.group == g].tolist()) for g in range(3)] == [1, 1, 1]


def test_squeeze_spaces_merges_space_runs_only():
    t = targets("aa   b", "aa b")
    assert t.group.tolist() == [0, 1, 2, 2, 2, 3]
    assert t.length.tolist() == [1, 1, 1, 0, 0, 1]


def test_double_grows_every_node_into_two_copies():
    t = targets("abc", "aabbcc")
    assert t.length.tolist() == [2, 2, 2] and t.op.tolist() == [INS, INS, INS]
    # Equal neighbours share their production evenly, wherever the matching fell.
    assert targets("wbdjjh", "wwbbddjjjjhh").length.tolist() == [2] * 6
    assert targets("aa", "aaa").length.tolist() == [2, 1]


def test_inserted_graphemes_with_no_equal_anchor_go_to_the_node_before():
    t = targets("abc", "a b c")
    assert t.length.tolist() == [2, 2, 1] and t.op.tolist() == [INS, INS, K]
    assert targets("hello", "hello world").length.tolist() == [1, 1, 1, 1, 7]
    # At the very start there is no node before: the first anchor takes them.
    assert targets("ab", "(ab").length.tolist() == [2, 1]


def test_strip_deletes_outer_spaces_and_an_all_space_input_empties():
    t = targets("  ab c  ", "ab c")
    assert t.length.tolist() == [0, 0, 1, 1, 1, 1, 0, 0]
    assert t.op.tolist() == [D, D, K, K, K, K, D, D]
    t = targets("   ", "")
    assert t.length.tolist() == [0, 0, 0] and t.group.tolist() == [0, 1, 2]


def test_inserted_graphemes_equal_to_an_anchor_grow_it():
    # Run-length decoding: the digits produce nothing, the letters grow.
    t = targets("3a2b", "aaabb")
    assert t.length.tolist() == [0, 3, 0, 2] and t.op.tolist() == [D, INS, D, INS]
    # Writing a count after a run: the run merges and its group produces "a3".
    t = targets("aaab", "a3b1")
    assert t.group.tolist() == [0, 0, 0, 1] and t.length.tolist() == [2, 0, 0, 2]


def test_leftovers_pair_up_in_order():
    t = targets("abc", "xyz")
    assert t.length.tolist() == [1, 1, 1] and t.op.tolist() == [M, M, M]
    t = targets("(+ 1 2)", "3")
    assert t.length.tolist() == [1, 0, 0, 0, 0, 0, 0]
    assert t.op.tolist() == [M] + [D] * 6
    t = targets("ab", "xyzw")  # surplus insertions go to the last paired node
    assert t.length.tolist() == [1, 3]


def test_graphemes_not_code_points():
    t = targets("e\u0301e\u0301x", "e\u0301x")
    assert len(t.op) == 3 and t.merge.tolist() == [1.0, 0.0]


def test_empty_sides():
    t = targets("", "")
    assert t.op.numel() == 0 and t.merge.numel() == 0
    t = targets("ab", "")
    assert t.op.tolist() == [D, D] and t.length.tolist() == [0, 0]
    t = edit_targets([], segment("ab"))
    assert t.length.numel() == 0  # nothing can produce it: callers check the sum


def test_right_alignment_anchors_result_digits_to_the_last_nodes():
    t = targets("(+ 16 9)", "25", "right")
    assert t.group.tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    assert t.length.tolist() == [0] * 6 + [1, 1]
    assert t.op.tolist() == [D] * 6 + [M, M]
    t = targets("(* 20 20)", "400", "right")
    assert t.group.tolist() == [0] * 7 + [1, 2]
    assert t.op.tolist()[-2] == K  # the "0" node emits "0"
    assert targets("(+ 1 2)", "3", "right").group.tolist() == [0] * 7
    longer = targets("ab", "xyz", "right")
    assert longer.length.tolist() == [2, 1]  # the leading surplus goes to the first node


def test_unknown_alignment_is_named():
    with pytest.raises(ValueError, match="alignment"):
        edit_targets(segment("ab"), segment("a"), alignment="left")


def test_whole_alignment_merges_everything_into_the_first_node():
    t = targets("abc", "cba", "whole")
    assert t.group.tolist() == [0, 0, 0] and t.merge.tolist() == [1.0, 1.0]
    assert t.length.tolist() == [3, 0, 0] and t.op.tolist() == [M, D, D]
    assert targets("ab", "abab", "whole").op.tolist() == [INS, D]
    assert targets("a", "a", "whole").op.tolist() == [K]
    # An empty target: one group that produces nothing.
    t = targets("abc", "", "whole")
    assert t.group.tolist() == [0, 0, 0] and t.length.tolist() == [0, 0, 0]
    assert t.op.tolist() == [D, D, D]
    assert targets("", "", "whole").op.numel() == 0
