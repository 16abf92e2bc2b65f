"""Matching a forecast to the truth at its valid times, with errors that name what is wrong.

Every metric goes through ``align``: it picks the variables both sides have,
checks that they share one grid, and looks up the truth at each forecast's
``valid_time`` so the two line up as (init_time, lead_time, lat, lon).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.data.climatology import climatology_at

FORECAST_DIMS: tuple[str, ...] = ("init_time", "lead_time", "lat", "lon")


class MetricInputError(ValueError):
    """Forecast, truth or climatology cannot be compared; the message says what to change."""


def field_variables(ds: xr.Dataset, need_time: str | None = None) -> list[str]:
    """Data variables on the lat/lon grid (and along ``need_time`` when given); constants are left out."""
    return [
        str(v)
        for v, da in ds.data_vars.items()
        if {"lat", "lon"} <= set(da.dims) and (need_time is None or need_time in da.dims)
    ]


def check_forecast(forecast: xr.Dataset) -> None:
    """Raise unless ``forecast`` has the forecast dims and a timedelta ``lead_time``."""
    missing = [d for d in FORECAST_DIMS if d not in forecast.dims]
    if missing:
        raise MetricInputError(
            f"forecast lacks dim(s) {missing}: it has {list(forecast.dims)}; a forecast is laid out as "
            f"{FORECAST_DIMS} (+ member), e.g. from climax_nb.baselines.persistence"
        )
    if not np.issubdtype(forecast["lead_time"].dtype, np.timedelta64):
        raise MetricInputError(
            f"forecast lead_time is {forecast['lead_time'].dtype}, not timedelta64; "
            "convert it with pd.to_timedelta(hours, unit='h')"
        )


def check_grid(a: xr.Dataset, b: xr.Dataset, name_a: str, name_b: str) -> None:
    """Raise when ``a`` and ``b`` are on different lat/lon grids."""
    same = a.sizes["lat"] == b.sizes["lat"] and a.sizes["lon"] == b.sizes["lon"]
    if same:
        same = np.allclose(a["lat"], b["lat"], atol=1e-4) and np.allclose(a["lon"], b["lon"], atol=1e-4)
    if not same:

        def describe(ds: xr.Dataset) -> str:
            lat, lon = ds["lat"].values, ds["lon"].values
            return f"{len(lat)}x{len(lon)} (lat {lat.min():g}..{lat.max():g}, lon {lon.min():g}..{lon.max():g})"

        raise MetricInputError(
            f"{name_a} grid {describe(a)} differs from {name_b} grid {describe(b)}; "
            f"regrid one onto the other before scoring"
        )


def common_variables(forecast: xr.Dataset, truth: xr.Dataset, variables: Sequence[str] | None = None) -> list[str]:
    """Variables to score: ``variables`` (each must be in both), else all the forecast's that the truth has."""
    have_f, have_t = field_variables(forecast), field_variables(truth, "time")
    if variables is not None:
        for v in variables:
            for side, have in (("forecast", have_f), ("truth", have_t)):
                if v not in have:
                    raise MetricInputError(f"{side} has no variable {v!r}; it has {have}; pick variables from both")
        return list(variables)
    common = [v for v in have_f if v in have_t]
    if not common:
        raise MetricInputError(
            f"forecast and truth share no variable: forecast has {have_f}, truth has {have_t}; "
            "rename to registry ids (climax_nb.variables) or pass matching data"
        )
    return common


def valid_time(forecast: xr.Dataset) -> xr.DataArray:
    """The forecast's ``valid_time`` coordinate, or init_time + lead_time when it has none."""
    if "valid_time" in forecast.coords:
        return forecast["valid_time"]
    return (forecast["init_time"] + forecast["lead_time"]).rename("valid_time")


def _missing_message(vt: xr.DataArray, present: np.ndarray, truth: xr.Dataset) -> str:
    times = truth.indexes["time"]
    leads = [
        f"{pd.Timedelta(lead) / pd.Timedelta(hours=1):g}h" for lead in vt["lead_time"].values[~present.all(axis=0)]
    ]
    first = pd.Timestamp(vt.values[~present][0])
    span = f"{times.min()} .. {times.max()}" if len(times) else "no times"
    return (
        f"truth has no data at {int((~present).sum())} forecast valid time(s) (first {first}) at lead time(s) "
        f"{', '.join(leads)}; truth covers {span}; pass truth covering init_time + lead_time, "
        "or select init times whose valid times it covers"
    )


def check_time_index(truth: xr.Dataset, side: str = "truth") -> None:
    """Raise naming repeated times: a valid time must pick one verifying state, not several."""
    if "time" not in truth.indexes:
        raise MetricInputError(f"the {side} has no 'time' coordinate to verify forecasts against")
    times = truth.indexes["time"]
    if not times.is_unique:
        repeated = times[times.duplicated()].unique()
        raise MetricInputError(
            f"the {side} has {len(repeated)} repeated time(s) (first {repeated[0]}): keep one state per time, "
            "e.g. truth.drop_duplicates('time')"
        )


def align(
    forecast: xr.Dataset, truth: xr.Dataset, variables: Sequence[str] | None = None
) -> tuple[xr.Dataset, xr.Dataset]:
    """(forecast, truth at each valid time), both with the forecast's dims and only the scored variables."""
    check_forecast(forecast)
    check_time_index(truth)
    ids = common_variables(forecast, truth, variables)
    check_grid(forecast, truth, "forecast", "truth")
    vt = valid_time(forecast).transpose("init_time", "lead_time")
    present = np.isin(vt.values, truth.indexes["time"].values)
    if not present.all():
        raise MetricInputError(_missing_message(vt, present, truth))
    at = truth[ids].sel(time=vt.drop_vars("valid_time", errors="ignore")).drop_vars("time")
    at = at.assign_coords(lat=forecast["lat"].values, lon=forecast["lon"].values)
    fc = forecast[ids]
    check_finite(fc, "forecast")
    check_finite(at, "truth at the forecast's valid times")
    return fc, at.transpose(*[d for d in fc.dims if d in at.dims]).assign_coords(valid_time=vt)


def check_finite(ds: xr.Dataset, side: str) -> None:
    """Raise naming each variable with NaN or infinite values: a score is never averaged around missing values."""
    bad = {str(v): int(n) for v, n in (~np.isfinite(ds)).sum().compute().items() if int(n)}
    if bad:
        counts = ", ".join(f"{v}: {n} of {ds[v].size}" for v, n in bad.items())
        raise MetricInputError(
            f"the {side} has NaN or infinite values ({counts}); scores would silently leave them out: fill or "
            "mask them, or select the times and places that have values"
        )


def climatology_at_valid_time(forecast: xr.Dataset, clim: xr.Dataset, variables: Sequence[str]) -> xr.Dataset:
    """The climatology at each valid time of ``forecast`` (unchanged for a time-mean climatology)."""
    missing = [v for v in variables if v not in clim.data_vars]
    if missing:
        raise MetricInputError(
            f"climatology has no variable(s) {missing}; it has {list(map(str, clim.data_vars))}; compute it with "
            f"climax_nb.data.climatology.climatology(train_ds, variables={list(variables)})"
        )
    check_grid(forecast, clim, "forecast", "climatology")
    try:
        out = climatology_at(clim[list(variables)], valid_time(forecast))
    except ValueError as err:
        raise MetricInputError(str(err)) from err
    return out.drop_vars("valid_time", errors="ignore").assign_coords(
        lat=forecast["lat"].values, lon=forecast["lon"].values
    )


def deterministic(forecast: xr.Dataset) -> xr.Dataset:
    """An ensemble's mean, or the forecast itself: deterministic scores of an ensemble score its mean."""
    return forecast.mean("member") if "member" in forecast.dims else forecast
