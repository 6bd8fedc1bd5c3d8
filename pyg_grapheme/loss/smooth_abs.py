r"""Smooth absolute value used by the loss terms (pseudo-Huber).

.. math::

    \mathrm{sabs}_\delta(x) = \sqrt{x^2 + \delta^2} - \delta

It is 0 at 0 (so identical inputs cost exactly 0), within :math:`\delta` of
:math:`|x|` everywhere, and differentiable with slope
:math:`x / \sqrt{x^2 + \delta^2} \in (-1, 1)`, so a difference that reaches
0 during training gets a gradient that fades instead of flipping sign.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["smooth_abs"]


def smooth_abs(x: Tensor, delta: float = 1e-3) -> Tensor:
    r"""Pseudo-Huber :math:`\sqrt{x^2 + \delta^2} - \delta`, elementwise, any shape.

    Args:
        x (Tensor): Input.
        delta (float): Width :math:`\delta > 0` of the quadratic zone around 0.
            (default: :obj:`1e-3`)
    """
    if delta <= 0:
        raise ValueError(f"delta must be > 0, got {delta}")
    return (x * x + delta * delta).sqrt() - delta
