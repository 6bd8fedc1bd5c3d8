"""Tests for pyg_grapheme.data.alphabets: built-in alphabets and the fusion check."""

from __future__ import annotations

import pytest

from pyg_grapheme.data import ALPHABETS, generate, resolve_alphabet
from pyg_grapheme.text import segment


def test_alphabet_sizes() -> None:
    assert {name: len(clusters) for name, clusters in ALPHABETS.items()} == {
        "latin": 26,
        "latin_upper": 26,
        "digits": 10,
        "greek": 24,
        "cyrillic": 33,
        "arabic": 28,
        "cjk": 44,
        "devanagari": 39,
        "latin_combining": 10,
        "emoji": 48,
    }


def test_simple_alphabets_spelled_out() -> None:
    assert "".join(ALPHABETS["latin"]) == "abcdefghijklmnopqrstuvwxyz"
    assert "".join(ALPHABETS["latin_upper"]) == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert "".join(ALPHABETS["digits"]) == "0123456789"
    assert "".join(ALPHABETS["greek"]) == "αβγδεζηθικλμνξοπρστυφχψω"
    assert "".join(ALPHABETS["cyrillic"]) == "абвгдежзийклмнопрстуфхцчшщъыьэюяё"


@pytest.mark.parametrize("name", sorted(ALPHABETS))
def test_builtin_alphabets_are_pairwise_safe(name: str) -> None:
    """Checked directly, pair by pair, also against a space (for squeeze_spaces)."""
    clusters = ALPHABETS[name]
    assert resolve_alphabet(name) == clusters
    assert len(set(clusters)) == len(clusters)
    for a in (*clusters, " "):
        assert segment(a) == [a]
        for b in (*clusters, " "):
            if a == b == " ":
                continue
            assert segment(a + b) == [a, b], (a, b)


def test_emoji_has_multi_code_point_clusters() -> None:
    emoji = ALPHABETS["emoji"]
    multi = [c for c in emoji if len(c) > 1]
    assert len(multi) == 25
    for cluster in [
        "👍🏽",
        "👋🏿",
        "👨\u200d👩\u200d👧\u200d👦",
        "👩🏽\u200d🔬",
        "🏳️\u200d🌈",
        "🇫🇷",
        "🇯🇵",
        "1️⃣",
    ]:
        assert cluster in emoji
    assert sum("\u200d" in c for c in emoji) == 8  # ZWJ sequences
    assert sum(0x1F3FB <= ord(c[-1]) <= 0x1F3FF for c in emoji) == 6  # ends in a skin tone
    assert sum(all(0x1F1E6 <= ord(ch) <= 0x1F1FF for ch in c) for c in emoji) == 8  # flags


def test_non_latin_multi_code_point_clusters() -> None:
    assert [len(c) for c in ALPHABETS["latin_combining"]] == [2, 2, 2, 2, 2, 2, 2, 2, 3, 3]
    assert sum(len(c) == 2 for c in ALPHABETS["devanagari"]) == 9


def test_custom_alphabet_from_a_sequence() -> None:
    assert resolve_alphabet(["α", "👍🏽"]) == ("α", "👍🏽")
    assert resolve_alphabet(segment("日本🇫🇷")) == ("日", "本", "🇫🇷")
    pairs = generate("copy", 3, seed=0, alphabet=("日", "👍🏽"), max_len=2)
    assert all(set(segment(p.input)) <= {"日", "👍🏽"} for p in pairs)


@pytest.mark.parametrize(
    ("alphabet", "error", "message"),
    [
        (
            "abc",
            ValueError,
            "unknown alphabet 'abc'; names are ['arabic', 'cjk', 'cyrillic', 'devanagari', 'digits', 'emoji', 'greek', 'latin', 'latin_combining', 'latin_upper']; to use your own clusters pass a sequence, e.g. segment('abc')",
        ),
        ((), ValueError, "an alphabet needs at least one grapheme cluster, got none"),
        (["a", 1], TypeError, "alphabet entry 1 must be a str, got int"),
        (["a", ["b"]], TypeError, "alphabet entry 1 must be a str, got list"),
        (
            ["a", "ab"],
            ValueError,
            "alphabet entry 1 'ab' must be exactly one grapheme cluster, it is 2: ['a', 'b']",
        ),
        (
            ["a", ""],
            ValueError,
            "alphabet entry 1 '' must be exactly one grapheme cluster, it is 0: []",
        ),
        (["a", "b", "a"], ValueError, "alphabet entries 0 and 2 are both 'a'"),
        (
            ["e", "\u0301"],
            ValueError,
            "alphabet entries 'e' and '\u0301' fuse when written side by side: 'e\u0301' segments as ['e\u0301'], so lengths in grapheme clusters would be wrong",
        ),
        (
            ["\U0001f1fa", "\U0001f1f8"],
            ValueError,
            "alphabet entries '\U0001f1fa' and '\U0001f1fa' fuse when written side by side",
        ),
        (
            ["a", "\r", "\n"],
            ValueError,
            "alphabet entries '\\r' and '\\n' fuse when written side by side",
        ),
        (["\u1100", "\u1161"], ValueError, "alphabet entries '\u1100' and '\u1100' fuse"),
    ],
)
def test_bad_alphabets(alphabet: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        resolve_alphabet(alphabet)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)
