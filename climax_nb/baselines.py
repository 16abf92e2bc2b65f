"""Reference forecasts in the forecast layout: persistence, climatology and weekly climatology.

Each returns an ``xr.Dataset`` with dims (init_time, lead_time, lat, lon) and a
``valid_time`` coordinate, so it is scored exactly like a model's forecast.
Lead times given as plain numbers are hours.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.data.climatology import climatology_at
from climax_nb.metrics.align import MetricInputError, field_variables

Times = Sequence | np.ndarray | pd.DatetimeIndex
Leads = Sequence | np.ndarray | pd.TimedeltaIndex


def forecast_axes(init_times: Times, lead_times: Leads) -> xr.Dataset:
    """An empty forecast frame: init_time, lead_time (timedelta) and 2-D valid_time coordinates."""
    inits = pd.DatetimeIndex(init_times)
    leads = np.asarray(lead_times)
    leads = pd.to_timedelta(leads, unit="h") if np.issubdtype(leads.dtype, np.number) else pd.to_timedelta(leads)
    frame = xr.Dataset(coords={"init_time": inits, "lead_time": leads})
    return frame.assign_coords(valid_time=frame["init_time"] + frame["lead_time"])


def _pick(ds: xr.Dataset, variables: Sequence[str] | None, need_time: str | None, source: str) -> list[str]:
    have = field_variables(ds, need_time)
    ids = list(variables) if variables is not None else have
    missing = [v for v in ids if v not in have]
    if missing:
        raise MetricInputError(f"{source} has no variable(s) {missing}; it has {have}")
    return ids


def _layout(ds: xr.Dataset, frame: xr.Dataset) -> xr.Dataset:
    out = ds.broadcast_like(frame).transpose("init_time", "lead_time", "lat", "lon")
    return out.assign_coords(valid_time=frame["valid_time"])


def persistence(
    truth: xr.Dataset, init_times: Times, lead_times: Leads, variables: Sequence[str] | None = None
) -> xr.Dataset:
    """The truth at each init time, repeated at every lead time."""
    frame = forecast_axes(init_times, lead_times)
    ids = _pick(truth, variables, "time", "truth")
    inits = frame.indexes["init_time"]
    missing = inits[~inits.isin(truth.indexes["time"])]
    if len(missing):
        raise MetricInputError(
            f"truth has no data at {len(missing)} init time(s) (first {missing[0]}); "
            "choose init times from truth['time']"
        )
    at_init = truth[ids].sel(time=inits).rename(time="init_time")
    return _layout(at_init, frame).assign_attrs(baseline="persistence")


def climatology_forecast(
    clim: xr.Dataset, init_times: Times, lead_times: Leads, variables: Sequence[str] | None = None
) -> xr.Dataset:
    """The climatology at each valid time (day of year and hour), or the time mean for a time-mean climatology."""
    frame = forecast_axes(init_times, lead_times)
    ids = _pick(clim, variables, "dayofyear" if "dayofyear" in clim.dims else None, "climatology")
    try:
        at = climatology_at(clim[ids], frame["valid_time"])
    except ValueError as err:
        raise MetricInputError(str(err)) from err
    return _layout(at.drop_vars("valid_time", errors="ignore"), frame).assign_attrs(baseline="climatology")


def weekly_climatology(
    clim: xr.Dataset,
    init_times: Times,
    lead_times: Leads,
    variables: Sequence[str] | None = None,
    days: int = 7,
) -> xr.Dataset:
    """The day-of-year x hour climatology averaged over the ``days`` centred on each valid day, same hour.

    The reference for week-mean targets at subseasonal leads; with
    WeatherBench 2's 61-day smoothing it stays close to the daily climatology.
    """
    if "dayofyear" not in clim.dims:
        raise MetricInputError(
            "weekly_climatology needs a day-of-year climatology; compute one with climatology(ds, 'dayofyear_hour')"
        )
    if days < 1 or days % 2 == 0:
        raise ValueError(f"days must be a positive odd number (e.g. 7), got {days}")
    half = days // 2
    weekly = sum(clim.roll(dayofyear=s, roll_coords=False) for s in range(-half, half + 1)) / days
    weekly = weekly.assign_attrs(clim.attrs)
    return climatology_forecast(weekly, init_times, lead_times, variables).assign_attrs(
        baseline="weekly_climatology", days=days
    )
