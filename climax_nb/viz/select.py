"""Picking what to draw from a forecast: a variable, an initial time, lead times, and the truth to match.

Every plot of a forecast starts here, so a wrong name or time fails the same way
everywhere, with a message listing what the forecast has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.metrics.align import align, check_forecast, deterministic


def lead_label(lead: Any) -> str:
    """A lead time as a short label: ``"6 h"``, ``"36 h"``, ``"5 d"`` (whole days from 48 h on)."""
    hours = pd.Timedelta(lead) / pd.Timedelta(hours=1)
    if hours >= 48 and hours % 24 == 0:
        return f"{hours / 24:g} d"
    return f"{hours:g} h"


def check_variable(ds: xr.Dataset, variable: str, what: str = "forecast") -> None:
    """Raise unless ``variable`` is a data variable of ``ds``."""
    if variable not in ds.data_vars:
        raise ValueError(f"{what} has no variable {variable!r}; it has {list(map(str, ds.data_vars))}")


def _as_lead(lead: Any) -> np.timedelta64:
    if isinstance(lead, int | float | np.integer | np.floating) and not isinstance(lead, bool | np.timedelta64):
        return np.timedelta64(int(round(float(lead) * 3600)), "s").astype("timedelta64[ns]")
    return np.timedelta64(pd.Timedelta(lead).to_timedelta64(), "ns")


def pick_leads(forecast: xr.Dataset, lead_times: Sequence[Any] | None = None) -> list[np.timedelta64]:
    """Lead times to draw, as in the forecast: all of them, or ``lead_times`` (hours, timedeltas or ``"24h"``)."""
    check_forecast(forecast)
    have = forecast["lead_time"].values
    if lead_times is None:
        return list(have)
    wanted = [_as_lead(lead) for lead in lead_times]
    missing = [lead_label(w) for w in wanted if w not in have]
    if missing:
        raise ValueError(
            f"forecast has no lead time(s) {missing}; it has {[lead_label(h) for h in have]}; pick from those"
        )
    if not wanted:
        raise ValueError("no lead times given: pass at least one, or None for all")
    return wanted


def pick_init(forecast: xr.Dataset, init_time: Any = None) -> np.datetime64:
    """The initial time to draw: the first one, or ``init_time`` which the forecast must have."""
    check_forecast(forecast)
    have = forecast["init_time"].values
    if init_time is None:
        return have[0]
    wanted = np.datetime64(pd.Timestamp(init_time).to_datetime64(), "ns")
    if wanted not in have:
        shown = ", ".join(str(pd.Timestamp(t)) for t in have[:5]) + (" ..." if len(have) > 5 else "")
        raise ValueError(f"forecast has no init_time {pd.Timestamp(init_time)}; it has {shown}")
    return wanted


def forecast_and_truth(
    forecast: xr.Dataset, truth: xr.Dataset | None, variable: str
) -> tuple[xr.DataArray, xr.DataArray | None]:
    """The forecast's ``variable`` (ensemble mean if an ensemble) and the truth at its valid times, if given.

    ``truth`` is a canonical dataset with a ``time`` dimension covering every
    valid time (init_time + lead_time) of the forecast.
    """
    check_forecast(forecast)
    check_variable(forecast, variable)
    fc = deterministic(forecast[[variable]])
    if truth is None:
        return fc[variable], None
    check_variable(truth, variable, "truth")
    fc, at = align(fc, truth, [variable])
    return fc[variable], at[variable]


def units_of(*arrays: xr.DataArray | None) -> str:
    """The ``units`` attribute of the first array that has one (empty if none)."""
    return next((str(a.attrs["units"]) for a in arrays if a is not None and "units" in a.attrs), "")
