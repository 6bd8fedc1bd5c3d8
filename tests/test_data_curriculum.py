"""Tests for pyg_grapheme.data.curriculum.generate: every task, exact outputs, exact space sizes."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable

import pytest
from uniform_draws import assert_uniform

from pyg_grapheme.data import ALPHABETS, TASKS, TextPair, evaluate_polish, format_result, generate
from pyg_grapheme.data.math_expressions import expression_depth, parse_polish
from pyg_grapheme.text import segment, text_to_graph

# --------------------------------------------------------------------------- reference rules


def _collapse_runs(text: str) -> str:
    return "".join(cluster for cluster, _ in itertools.groupby(segment(text)))


def _runs(text: str) -> list[int]:
    return [len(list(group)) for _, group in itertools.groupby(segment(text))]


def _check_pair(task: str, pair: TextPair, alphabet: Iterable[str], lo: int, hi: int) -> None:
    """The task's rule, written independently of the generator."""
    allowed = set(alphabet)
    clusters = segment(pair.input)
    if task == "copy":
        assert pair.target == pair.input
        assert lo <= len(clusters) <= hi
        assert set(clusters) <= allowed
    elif task == "drop_last":
        assert pair.target == "".join(clusters[:-1])
        assert max(lo, 2) <= len(clusters) <= hi
        assert set(clusters) <= allowed
    elif task == "dedupe":
        assert pair.target == _collapse_runs(pair.input)
        runs = _runs(pair.input)
        assert max(runs) in (2, 3) and min(runs) >= 1
        assert lo <= len(segment(pair.target)) == len(runs) <= hi
        assert set(clusters) <= allowed
    elif task == "squeeze_spaces":
        assert pair.target == re.sub(" +", " ", pair.input)
        assert not pair.input.startswith(" ") and not pair.input.endswith(" ")
        assert "  " in pair.input and "    " not in pair.input
        assert max(lo, 3) <= len(segment(pair.target)) <= hi
        assert set(clusters) <= allowed | {" "}
    elif task == "double":
        assert pair.target == "".join(c + c for c in clusters)
        assert segment(pair.target) == [c for c in clusters for _ in (0, 1)]
        assert lo <= len(clusters) <= hi
        assert set(clusters) <= allowed
    elif task == "spaced":
        assert pair.target == " ".join(clusters)
        assert len(segment(pair.target)) == 2 * len(clusters) - 1
        assert lo <= len(clusters) <= hi
        assert set(clusters) <= allowed
    elif task == "strip":
        assert pair.target == pair.input.strip(" ")
        assert pair.target != pair.input  # always something to strip
        lead = len(pair.input) - len(pair.input.lstrip(" "))
        trail = len(pair.input) - len(pair.input.rstrip(" "))
        assert pair.target == "" or (lead <= 3 and trail <= 3)
        assert re.fullmatch(r"( {1,3}[^ ]+)*", " " + pair.target) or pair.target == ""
        assert lo <= len(clusters) <= hi
        assert set(clusters) <= allowed | {" "}
    else:
        raise AssertionError(task)
    assert pair.meta["task"] == task


# --------------------------------------------------------------------------- exact outputs

GOLDEN = [
    ("copy", {}, [("rvwdzl", "rvwdzl"), ("r", "r"), ("wy", "wy"), ("b", "b")]),
    (
        "drop_last",
        {},
        [("lufp", "luf"), ("oxrmjzv", "oxrmjz"), ("qnqfrb", "qnqfr"), ("wydzgg", "wydzg")],
    ),
    ("dedupe", {}, [("zzzaaffvvzzbb", "zafvzb"), ("rr", "r"), ("xxxvv", "xv"), ("bb", "b")]),
    (
        "squeeze_spaces",
        {},
        [
            ("vc   wi", "vc wi"),
            ("y   pchsoj", "y pchsoj"),
            ("iof   p", "iof p"),
            ("i   iq", "i iq"),
        ],
    ),
    (
        "math",
        {},
        [("(* 1 9)", "9"), ("(* 15 18)", "270"), ("(* 20 14)", "280"), ("(+ 4 17)", "21")],
    ),
    (
        "math",
        {"level": 2},
        [
            ("(* (+ 15 1) (+ 1 20))", "336"),
            ("(+ (- 13 19) (+ 2 1))", "-3"),
            ("(* (* 14 8) (+ 14 20))", "3808"),
            ("(+ (- 11 1) (* 9 18))", "172"),
        ],
    ),
    (
        "copy",
        {"alphabet": "emoji", "max_len": 3},
        [
            ("🏳️\u200d🌈🏳️\u200d🌈", "🏳️\u200d🌈🏳️\u200d🌈"),
            ("🤔😎🇫🇷", "🤔😎🇫🇷"),
            ("🚀🇫🇷💪🏾", "🚀🇫🇷💪🏾"),
            ("👩🏼🇺🇦👨\u200d👩\u200d👧", "👩🏼🇺🇦👨\u200d👩\u200d👧"),
        ],
    ),
    (
        "dedupe",
        {"alphabet": "cyrillic", "max_len": 3},
        [("щщиии", "щи"), ("ввьй", "вьй"), ("оммэээ", "омэ"), ("уууёёр", "уёр")],
    ),
    (
        "squeeze_spaces",
        {"alphabet": "cjk", "max_len": 5},
        [
            ("人王   小", "人王 小"),
            ("上  大先青", "上 大先青"),
            ("字月   月中", "字月 月中"),
            ("大白田   子", "大白田 子"),
        ],
    ),
    (
        "double",
        {},
        [("rvwdzl", "rrvvwwddzzll"), ("r", "rr"), ("wy", "wwyy"), ("b", "bb")],
    ),
    (
        "spaced",
        {},
        [("rvwdzl", "r v w d z l"), ("r", "r"), ("wy", "w y"), ("b", "b")],
    ),
    (
        "strip",
        {},
        [(" cw   ", "cw"), ("b ", "b"), (" h", "h"), ("h ", "h")],
    ),
    (
        "double",
        {"alphabet": "emoji", "max_len": 3},
        [
            ("🏳️\u200d🌈🏳️\u200d🌈", "🏳️\u200d🌈🏳️\u200d🌈🏳️\u200d🌈🏳️\u200d🌈"),
            ("🤔😎🇫🇷", "🤔🤔😎😎🇫🇷🇫🇷"),
            ("🚀🇫🇷💪🏾", "🚀🚀🇫🇷🇫🇷💪🏾💪🏾"),
            ("👩🏼🇺🇦👨\u200d👩\u200d👧", "👩🏼👩🏼🇺🇦🇺🇦👨\u200d👩\u200d👧👨\u200d👩\u200d👧"),
        ],
    ),
    (
        "spaced",
        {"alphabet": "greek", "max_len": 4},
        [("μζν", "μ ζ ν"), ("σ", "σ"), ("τ", "τ"), ("β", "β")],
    ),
    (
        "strip",
        {"alphabet": "cyrillic", "max_len": 6},
        [("   ", ""), ("     ", ""), (" ", ""), ("  г", "г")],
    ),
    (
        "drop_last",
        {"alphabet": "latin_combining", "max_len": 3},
        [
            ("u\u0303e\u0301u\u0303", "u\u0303e\u0301"),
            ("c\u0327i\u0301\u0323", "c\u0327"),
            ("a\u030au\u0303", "a\u030a"),
            ("e\u0301u\u0303", "e\u0301"),
        ],
    ),
]


@pytest.mark.parametrize(("task", "kwargs", "expected"), GOLDEN)
def test_exact_output_for_seed_7(task: str, kwargs: dict, expected: list[tuple[str, str]]) -> None:
    pairs = generate(task, 4, seed=7, **kwargs)
    assert [(p.input, p.target) for p in pairs] == expected


def test_meta() -> None:
    (pair,) = generate("copy", 1, seed=7)
    assert pair.meta == {"source": "generate:copy:seed=7:0", "task": "copy", "length": 6}
    pairs = generate("math", 2, seed=7)
    assert pairs[1].meta == {
        "source": "generate:math:seed=7:1",
        "task": "math",
        "length": None,
        "level": 1,
        "expected_result": 270.0,
    }


def test_same_arguments_same_output_different_seed_different_output() -> None:
    for task in TASKS:
        first = generate(task, 50, seed=3)
        assert first == generate(task, 50, seed=3)
        assert [p.input for p in first] != [p.input for p in generate(task, 50, seed=4)]


def test_output_does_not_depend_on_the_string_hash_seed() -> None:
    """``exclude`` is a set internally; set order must not leak into the draws.

    One subprocess with a fixed string-hash seed against this process (whose
    seed is random unless PYTHONHASHSEED is set).
    """
    exclude = [f"{a}{b}" for a in "abc" for b in "abc"]
    code = (
        "import json; from pyg_grapheme.data import generate; "
        f"print(json.dumps([p.input for p in generate('copy', 20, seed=5, alphabet=list('abc'), "
        f"max_len=3, exclude={exclude!r})]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    local = [
        p.input
        for p in generate("copy", 20, seed=5, alphabet=list("abc"), max_len=3, exclude=exclude)
    ]
    assert json.loads(result.stdout) == local
    assert len(set(local)) == 20
    assert not set(local) & set(exclude)


# --------------------------------------------------------------------------- task rules


STRING_TASKS = [task for task in TASKS if task != "math"]


@pytest.mark.parametrize("task", STRING_TASKS)
@pytest.mark.parametrize("alphabet", sorted(ALPHABETS))
def test_string_tasks_follow_their_rule(task: str, alphabet: str) -> None:
    pairs = generate(task, 200, seed=11, alphabet=alphabet, min_len=2, max_len=6)
    assert len({p.input for p in pairs}) == 200
    for pair in pairs:
        _check_pair(task, pair, ALPHABETS[alphabet], 2, 6)


@pytest.mark.parametrize("level", [1, 2])
def test_math_follows_its_rule(level: int) -> None:
    pairs = generate("math", 300, seed=2, level=level)
    assert len({p.input for p in pairs}) == 300
    for pair in pairs:
        expression = parse_polish(pair.input)
        assert expression_depth(expression) == level
        assert pair.target == format_result(evaluate_polish(pair.input))
        assert pair.meta["expected_result"] == evaluate_polish(pair.input)
        numbers = [int(t) for t in re.findall(r"-?\d+", pair.input)]
        assert all(1 <= v <= 20 for v in numbers)
        assert set(re.findall(r"\((.)", pair.input)) <= {"+", "-", "*"}


def test_lengths_are_grapheme_clusters_and_graph_nodes() -> None:
    for pair in generate("copy", 100, seed=0, alphabet="emoji", max_len=5):
        assert text_to_graph(pair.input).num_nodes == pair.meta["length"]
        assert len(pair.input) > pair.meta["length"] or all(
            len(c) == 1 for c in segment(pair.input)
        )


def test_lengths_are_drawn_uniformly() -> None:
    lengths = Counter(p.meta["length"] for p in generate("copy", 800, seed=1))
    # Length 1 has only 26 inputs: used up, then the other lengths share its draws.
    assert lengths[1] == 26 and set(lengths) == set(range(1, 9))
    assert_uniform(lengths, range(2, 9))


def test_strip_has_empty_results_and_inner_spaces() -> None:
    pairs = generate("strip", 2000, seed=0)
    assert sum(p.target == "" for p in pairs) == 8  # "" .. "        ": one per length
    assert sum(" " in p.target for p in pairs) == 975  # inner spaces kept
    assert sum("  " in p.target for p in pairs) == 211  # inner runs of 2-3 kept too
    edges = Counter(len(p.input) - len(p.input.strip(" ")) for p in pairs if p.target)
    assert edges == {1: 917, 2: 496, 3: 362, 4: 151, 5: 55, 6: 11}
    words = Counter(
        len(p.target.split()) for p in generate("strip", 900, seed=0, min_len=7, max_len=7)
    )
    assert words == {1: 317, 3: 309, 2: 273, 0: 1}


def test_squeeze_spaces_word_counts_are_balanced() -> None:
    pairs = generate("squeeze_spaces", 900, seed=0, min_len=7, max_len=7)
    words = Counter(len(p.target.split(" ")) for p in pairs)
    # Seven clusters hold 2, 3 or 4 words; each word count is drawn uniformly, although
    # there are about 26 times more targets with one word fewer.
    assert set(words) == {2, 3, 4}
    assert_uniform(words, (2, 3, 4))


# --------------------------------------------------------------------------- exact space sizes

SMALL = list("ab")


def _all_strings(symbols: str, max_len: int) -> Iterable[str]:
    for length in range(1, max_len + 1):
        for chars in itertools.product(symbols, repeat=length):
            yield "".join(chars)


def _dedupe_ok(s: str) -> bool:
    runs = _runs(s)
    return max(runs) in (2, 3) and 1 <= len(runs) <= 2


def _strip_ok(s: str) -> bool:
    """The strip rule, by regular expression: all spaces, or 0-3 spaces, words joined
    by 1-3 spaces, 0-3 spaces, with at least one space at an edge."""
    if s.strip(" ") == "":
        return True
    match = re.fullmatch(r"( {0,3})[ab]+(?: {1,3}[ab]+)*( {0,3})", s)
    return bool(match) and (match.group(1) + match.group(2)) != ""


def _squeeze_ok(s: str) -> bool:
    return (
        bool(re.fullmatch(r"[ab]+( {1,3}[ab]+)+", s))
        and "  " in s
        and (3 <= len(re.sub(" +", " ", s)) <= 5)
    )


EXHAUSTIVE: list[tuple[str, dict, Callable[[], Iterable[str]], int]] = [
    ("copy", {"alphabet": list("abc"), "max_len": 3}, lambda: _all_strings("abc", 3), 39),
    (
        "drop_last",
        {"alphabet": list("abc"), "max_len": 3},
        lambda: (s for s in _all_strings("abc", 3) if len(s) >= 2),
        36,
    ),
    (
        "dedupe",
        {"alphabet": SMALL, "max_len": 2},
        lambda: (s for s in _all_strings("ab", 6) if _dedupe_ok(s)),
        20,
    ),
    (
        "squeeze_spaces",
        {"alphabet": SMALL, "max_len": 5},
        lambda: (s for s in _all_strings("ab ", 9) if _squeeze_ok(s)),
        200,
    ),
    ("double", {"alphabet": list("abc"), "max_len": 3}, lambda: _all_strings("abc", 3), 39),
    ("spaced", {"alphabet": list("abc"), "max_len": 3}, lambda: _all_strings("abc", 3), 39),
    (
        "strip",
        {"alphabet": SMALL, "max_len": 6},
        lambda: (s for s in _all_strings("ab ", 6) if _strip_ok(s)),
        # per length 1..6: 1, 1 + 4, 1 + 14, 1 + 36 + 8, 1 + 78 + 52, 1 + 160 + 212 + 16
        6 + 4 + 14 + 44 + 130 + 388,
    ),
    (
        "math",
        {},
        lambda: (f"({op} {a} {b})" for op in "+-*" for a in range(1, 21) for b in range(1, 21)),
        1200,
    ),
]


@pytest.mark.parametrize(("task", "kwargs", "brute_force", "size"), EXHAUSTIVE)
def test_unique_draws_cover_the_whole_space_then_fail(
    task: str, kwargs: dict, brute_force: Callable[[], Iterable[str]], size: int
) -> None:
    expected = set(brute_force())
    assert len(expected) == size
    pairs = generate(task, size, seed=9, **kwargs)
    assert {p.input for p in pairs} == expected
    if task != "math":
        for pair in pairs:
            _check_pair(task, pair, kwargs["alphabet"], 1, kwargs["max_len"])
    with pytest.raises(ValueError) as info:
        generate(task, size + 1, seed=9, **kwargs)
    assert str(info.value) == (
        f"task {task!r} has only {size} distinct inputs with these settings ({size} in all, "
        f"0 excluded) but n={size + 1} were requested with unique=True; widen the alphabet or "
        "the lengths, raise the math level, or pass unique=False"
    )


def test_math_level_2_space_size() -> None:
    with pytest.raises(ValueError, match=r"has only 4464000 distinct inputs .* n=4464001"):
        generate("math", 4_464_001, seed=0, level=2)


def test_dedupe_with_one_cluster_has_only_runs_of_it() -> None:
    pairs = generate("dedupe", 2, seed=0, alphabet=["🇫🇷"], max_len=4)
    assert sorted(p.input for p in pairs) == ["🇫🇷🇫🇷", "🇫🇷🇫🇷🇫🇷"]
    assert {p.target for p in pairs} == {"🇫🇷"}
    with pytest.raises(ValueError, match="has only 2 distinct inputs"):
        generate("dedupe", 3, seed=0, alphabet=["🇫🇷"], max_len=4)


# --------------------------------------------------------------------------- exclude, unique


def test_exclude_removes_inputs_and_shrinks_the_space() -> None:
    exclude = {"a", "bb", "zzz", "abc"}  # the last two are not inputs of this space
    pairs = generate("copy", 4, seed=0, alphabet=SMALL, max_len=2, exclude=exclude)
    assert {p.input for p in pairs} == {"b", "aa", "ab", "ba"}
    with pytest.raises(ValueError) as info:
        generate("copy", 5, seed=0, alphabet=SMALL, max_len=2, exclude=exclude)
    assert "has only 4 distinct inputs with these settings (6 in all, 2 excluded)" in str(
        info.value
    )


def test_held_out_split() -> None:
    test = generate("dedupe", 300, seed=100, max_len=4)
    held_out = {p.input for p in test}
    train = generate("dedupe", 3000, seed=0, max_len=4, exclude=held_out)
    assert not held_out & {p.input for p in train}
    assert len({p.input for p in train}) == 3000


def test_math_exclude_is_canonical_text() -> None:
    exclude = {f"(+ {a} {b})" for a in range(1, 21) for b in range(1, 21)}
    exclude |= {"(+ 1 2 )", "(+ 0 1)"}  # not canonical / not in the space: ignored
    pairs = generate("math", 800, seed=0, exclude=exclude)
    assert {p.input[1] for p in pairs} == {"-", "*"}
    with pytest.raises(
        ValueError, match=r"only 800 distinct inputs .* \(1200 in all, 400 excluded\)"
    ):
        generate("math", 801, seed=0, exclude=exclude)


def test_not_unique_repeats_and_respects_exclude() -> None:
    assert [
        p.input for p in generate("copy", 3, seed=0, alphabet=["x"], max_len=1, unique=False)
    ] == [
        "x",
        "x",
        "x",
    ]
    pairs = generate(
        "copy", 40, seed=0, alphabet=list("abc"), max_len=1, exclude={"a"}, unique=False
    )
    assert Counter(p.input for p in pairs) == {"b": 11, "c": 29}
    with pytest.raises(
        ValueError, match=r"task 'copy' has no inputs with these settings \(1 in all, 1 excluded\)"
    ):
        generate("copy", 1, seed=0, alphabet=["x"], max_len=1, exclude={"x"}, unique=False)


def test_empty_space_without_exclusion() -> None:
    # One cluster: no dedupe target of length 2 or 3 (neighbours would be equal).
    with pytest.raises(
        ValueError, match=r"has no inputs with these settings \(0 in all, 0 excluded\)"
    ):
        generate("dedupe", 1, seed=0, alphabet=["a"], min_len=2, max_len=3, unique=False)


def test_exclude_may_be_any_iterable_of_strings() -> None:
    pairs = generate(
        "copy", 2, seed=0, alphabet=SMALL, max_len=1, exclude=iter(["a"]), unique=False
    )
    assert [p.input for p in pairs] == ["b", "b"]


def test_zero_examples() -> None:
    assert generate("copy", 0, seed=0) == []
    assert generate("copy", 0, seed=0, alphabet=["x"], max_len=1, exclude={"x"}) == []


def test_options_a_task_ignores() -> None:
    assert generate("math", 5, seed=0, alphabet="emoji", min_len=3, max_len=1) == generate(
        "math", 5, seed=0
    )
    assert generate("copy", 5, seed=0, level=2) == generate("copy", 5, seed=0)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"task": "reverse"},
            ValueError,
            "unknown task 'reverse'; tasks are ('copy', 'drop_last', 'dedupe', 'squeeze_spaces', "
            "'double', 'spaced', 'strip', 'math')",
        ),
        ({"alphabet": "klingon"}, ValueError, "unknown alphabet 'klingon'; names are"),
        ({"n": -1}, ValueError, "n must be >= 0, got -1"),
        ({"n": 2.0}, TypeError, "n must be an int, got float"),
        ({"seed": True}, TypeError, "seed must be an int, got bool"),
        ({"seed": -1}, ValueError, "seed must be >= 0, got -1"),
        ({"min_len": 0}, ValueError, "min_len must be >= 1, got 0"),
        ({"min_len": 3, "max_len": 2}, ValueError, "max_len (2) must be >= min_len (3)"),
        (
            {"task": "drop_last", "max_len": 1},
            ValueError,
            "task 'drop_last' needs lengths of at least 2 grapheme clusters, got min_len=1, max_len=1",
        ),
        (
            {"task": "squeeze_spaces", "max_len": 2},
            ValueError,
            "task 'squeeze_spaces' needs lengths of at least 3 grapheme clusters, got min_len=1, max_len=2",
        ),
        (
            {"task": "math", "level": 8},
            ValueError,
            "math level must be one of (1, 2, 3, 4, 5, 6, 7), got 8",
        ),
        (
            {"task": "math", "level": 0},
            ValueError,
            "math level must be one of (1, 2, 3, 4, 5, 6, 7), got 0",
        ),
        (
            {"exclude": "abc"},
            TypeError,
            "exclude must be a collection of input strings, not a single str",
        ),
        (
            {"exclude": [TextPair("a", "a")]},
            TypeError,
            "exclude must hold input strings, got TextPair; for pairs pass {p.input for p in pairs}",
        ),
        (
            {"task": "squeeze_spaces", "alphabet": ["a", " \u0301"]},
            ValueError,
            "squeeze_spaces needs an alphabet without spaces; ' \u0301' contains one",
        ),
        (
            {"alphabet": ["e", "\u0301"]},
            ValueError,
            "alphabet entries 'e' and '\u0301' fuse when written side by side",
        ),
    ],
)
def test_bad_arguments(kwargs: dict, error: type[Exception], message: str) -> None:
    arguments = {"task": "copy", "n": 3, "seed": 0, **kwargs}
    task, n = arguments.pop("task"), arguments.pop("n")
    with pytest.raises(error) as info:
        generate(task, n, **arguments)
    assert str(info.value).startswith(message)
