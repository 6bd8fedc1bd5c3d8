"""A band for counts of a fair draw, so sampler tests check uniformity, not one seed's counts."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping


def assert_uniform(counts: Mapping[object, int], values: Iterable[object], sigmas: float = 4.0):
    """Every value in ``values`` was drawn ``n p`` times give or take ``sigmas`` standard
    deviations of the binomial ``B(n, p)``, with ``n`` the draws over ``values`` and ``p``
    one over their number (a fair draw falls outside 4 sigmas with probability < 1e-4 per
    value). Raises ``AssertionError`` naming the value and the band."""
    values = list(values)
    n = sum(counts.get(v, 0) for v in values)
    p = 1 / len(values)
    mean, spread = n * p, sigmas * math.sqrt(n * p * (1 - p))
    for v in values:
        assert abs(counts.get(v, 0) - mean) <= spread, (
            f"{v!r} drawn {counts.get(v, 0)} times, not {mean:.1f} ± {spread:.1f}"
        )
