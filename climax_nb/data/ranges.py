"""Plausible physical ranges per variable: the check that catches right units on wrong values.

A ``units`` attribute says what the values should be, not what they are: t2m in
degrees Celsius marked ``K``, or z500 as a height in metres marked ``m2 s-2``,
pass every layout check and are then forecast tens of standard deviations away
from anything the model saw. These bounds are wide (they hold for any weather on
Earth, and for climate-model worlds a few kelvin warmer or colder) and tight
enough to catch a unit slip; they also hold for the embedded GCM's colder, drier world
(its four reanalysis years were checked against them). ``validate`` checks them; pass ``ranges=`` to change
one, or ``check_ranges=False`` to switch the check off.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from climax_nb.variables import VARIABLES

Range = tuple[float, float]

_G = 9.80665

#: Geopotential (m2 s-2) per pressure level: wide around the standard atmosphere, and
#: below the height in metres (the usual slip) from 850 hPa up.
_GEOPOTENTIAL: dict[int, Range] = {
    50: (15_000 * _G, 23_000 * _G),
    250: (8_500 * _G, 12_000 * _G),
    500: (4_000 * _G, 6_300 * _G),
    600: (2_800 * _G, 4_900 * _G),
    700: (1_800 * _G, 3_600 * _G),
    850: (200 * _G, 2_500 * _G),
    925: (-1_500 * _G, 2_500 * _G),
}

_BY_PREFIX: dict[str, Range] = {
    "t": (140.0, 340.0),
    "u": (-150.0, 150.0),
    "v": (-150.0, 150.0),
    # the GCM's upper levels hold absurdly supersaturated air (r50 up to 7e4 %): bounded below only
    "r": (-10.0, np.inf),
    "q": (-1e-3, 0.05),
}

_SINGLE: dict[str, Range] = {
    "t2m": (170.0, 350.0),
    "u10": (-80.0, 80.0),
    "v10": (-80.0, 80.0),
    "sp": (30_000.0, 110_000.0),
    "tp6h": (-1e-3, 1.0),
    "tisr": (-1.0, 6e6),
    "co2": (0.0, 10_000.0),
    "sst_anomaly": (-20.0, 20.0),
    "dtr": (-0.01, 60.0),
    "pr": (-0.01, 200.0),
    "pr90": (-0.01, 500.0),
    "lsm": (-0.01, 1.01),
    "orography": (-1_000.0, 9_000.0),
    "lat": (-90.0, 90.0),
}


def _default(vid: str) -> Range | None:
    var = VARIABLES.get(vid)
    if var is None:
        return None
    if var.level is None:
        return _SINGLE.get(vid)
    prefix = vid[: -len(str(var.level))]
    if prefix == "z":
        return _GEOPOTENTIAL.get(var.level)
    return _BY_PREFIX.get(prefix)


#: id -> (lowest, highest) plausible value in the registry's units.
PLAUSIBLE: dict[str, Range] = {vid: r for vid in VARIABLES if (r := _default(vid)) is not None}


def plausible_range(vid: str, ranges: Mapping[str, Range] | None = None) -> Range | None:
    """The plausible ``(low, high)`` of ``vid``: ``ranges`` first, then ``PLAUSIBLE``; None if unbounded."""
    if ranges is not None and vid in ranges:
        low, high = ranges[vid]
        if not low < high:
            raise ValueError(f"the plausible range of {vid} must be (low, high) with low < high, got {ranges[vid]}")
        return float(low), float(high)
    return PLAUSIBLE.get(vid)


#: The ``quantity`` attribute of datasets whose variables are anomalies (``climax_nb.data.subseasonal``).
ANOMALY_QUANTITIES = ("window-mean anomaly",)


def anomaly_ranges(ds_attrs: Mapping[str, object]) -> dict[str, Range] | None:
    """Plausible ranges of anomalies, for a dataset whose ``quantity`` says it holds them: +-(high - low) of each
    variable's own range, since an anomaly is a difference of two plausible values. None for other datasets."""
    if ds_attrs.get("quantity") not in ANOMALY_QUANTITIES:
        return None
    return {vid: (-(high - low), high - low) for vid, (low, high) in PLAUSIBLE.items() if np.isfinite(high - low)}
