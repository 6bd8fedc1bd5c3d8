"""bench/unseen_facts.py: the facts a held-out arithmetic problem needs, against training."""

import pytest

from bench.unseen_facts import fact_report, facts, main
from pyg_grapheme.data import TextPair
from pyg_grapheme.data.math_expressions import parse_polish


def test_facts_evaluate_operands_and_ignore_the_order_of_sums_and_products():
    assert facts(parse_polish("(* (+ 3 4) (- 5 13))")) == {
        ("+", frozenset({3, 4})),
        ("-", 5, 13),
        ("*", frozenset({7, -8})),
    }
    assert facts(parse_polish("(* 6 7)")) == facts(parse_polish("(* 7 6)"))
    assert facts(parse_polish("(- 6 7)")) != facts(parse_polish("(- 7 6)"))
    assert facts(parse_polish("(+ 2 2)")) == {("+", frozenset({2}))}


def test_report_sorts_problems_by_their_hardest_unseen_fact_and_counts_wrong_answers():
    train = [TextPair("(* 3 4)", "12"), TextPair("(+ 1 2)", "3"), TextPair("(- 9 4)", "5")]
    held_out = [
        TextPair("(* 4 3)", "12"),  # seen: the product in the other order
        TextPair("(- 4 9)", "-5"),  # unseen difference
        TextPair("(+ (* 3 4) 5)", "17"),  # seen product, unseen sum
        TextPair("(* (+ 2 1) 5)", "15"),  # seen sum, unseen product
        TextPair("(* (- 4 9) 2)", "-10"),  # unseen difference and product: a product
    ]
    report = fact_report(train, held_out)
    assert report.problems == {
        "seen": 1,
        "unseen difference": 1,
        "unseen sum": 1,
        "unseen product": 2,
    }
    assert report.wrong == {} and report.ceiling() == pytest.approx(3 / 5)
    report = fact_report(train, held_out, ["12", "-5", "16", "15", "-9"])
    assert report.wrong == {"seen": 0, "unseen difference": 0, "unseen sum": 1,
                            "unseen product": 1}  # fmt: skip
    assert str(report) == (
        "5 problems: seen 1, 0 wrong; unseen difference 1, 0 wrong; unseen product 2, "
        "1 wrong; unseen sum 1, 1 wrong; right on all but the unseen products: 0.600; "
        "exact match 0.600"
    )
    with pytest.raises(ValueError, match="4 predictions for 5 problems"):
        fact_report(train, held_out, ["12"] * 4)


def test_level_one_held_out_problems_needing_an_unseen_product(capsys):
    """25 of the row's 240 held-out problems are products whose fact (in either order)
    never occurs in its 864 training problems (960 less the 96 of its development set):
    215 / 240 = 0.896 is what a model right on everything else scores."""
    report = main(["--row", "math_l1"])
    assert report.problems == {
        "seen": 100,
        "unseen difference": 85,
        "unseen sum": 30,
        "unseen product": 25,
    }
    assert report.ceiling() == pytest.approx(215 / 240)
    assert capsys.readouterr().out.startswith("math_l1 held_out: 240 problems: seen 100;")


def test_command_line_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--row", "math_l1", "--ckpt", str(tmp_path / "missing.ckpt")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("unseen_facts: error:") and err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["--row", "math_l2", "--math-train", "99999999"])
    assert exit_info.value.code == 2
    assert "math level 2 has" in capsys.readouterr().err
