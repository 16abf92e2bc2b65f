"""One colour range for several fields, shared by the static maps, the explorer and the dashboard.

Truth and forecast drawn on one range compare by colour; errors and other
signed fields get a range symmetric about zero, so white means zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike


def colour_limits(arrays: Sequence[ArrayLike], centred: bool = False) -> tuple[float, float]:
    """(low, high) over the finite values of every array; ``centred``: (-m, m) with m the largest magnitude."""
    values = np.concatenate([np.asarray(a, float).ravel() for a in arrays])
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("nothing to draw: the field is all NaN")
    if centred:
        bound = float(np.abs(values).max()) or 1.0
        return -bound, bound
    lo, hi = float(values.min()), float(values.max())
    return (lo, hi) if hi > lo else (lo - 1.0, hi + 1.0)
