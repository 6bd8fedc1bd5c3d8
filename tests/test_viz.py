"""The report's figures: a morph diagram's size is bounded by MAX_DRAWN_NODES, whatever an
(untrained) model writes."""

from __future__ import annotations

import struct
from pathlib import Path

from pyg_grapheme.viz import MAX_CAPTION_CHARS, MAX_DRAWN_NODES, _caption, plot_morph_diagrams


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels from the PNG's IHDR chunk."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_a_short_diagram_is_as_wide_as_its_longest_chain(tmp_path):
    # "abbac" -> "aba": the two b merged (cluster 1), c deleted; 5 nodes wide at most.
    example = (["a", "b", "b", "a", "c"], [0, 1, 1, 2, 3], ["a", "b", "a"], [0, 1, 2])
    path = plot_morph_diagrams([example], tmp_path / "m.png")
    assert _png_size(path) == (round((0.6 * 5 + 1.5) * 110), round(1.8 * 110))


def test_a_runaway_output_draws_at_most_max_drawn_nodes(tmp_path):
    # One input node grown into 500 units (an untrained transducer's output), and two rows.
    runaway = (["a", "b"], [0, 1], ["x"] * 500, [0] * 250 + [1] * 250)
    short = (["a"], [0], ["a"], [0])
    path = plot_morph_diagrams([runaway, short], tmp_path / "m.png")
    assert _png_size(path) == (round((0.6 * MAX_DRAWN_NODES + 1.5) * 110), round(2 * 1.8 * 110))


def test_the_caption_spells_short_strings_and_cuts_long_ones():
    assert _caption(["a", "b"], ["b"]) == "ab  ->  b"
    long = _caption(["a"], ["x"] * 300)
    assert long == "a  ->  " + "x" * (MAX_CAPTION_CHARS - 7) + "... (107 more characters)"
