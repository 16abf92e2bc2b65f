"""Reference forecasts in the forecast layout: persistence, climatology and weekly climatology; for the masked
tasks (``climax_nb.forecast.masked``) linear interpolation in time, a box's climatology and nearest-cell infilling;
for downscaling, bilinear interpolation of the coarse fields (at lead 0); for sub-seasonal window-mean
anomalies (``climax_nb.data.subseasonal``), climatology (a zero anomaly) and damped persistence of the recent one;
for climate projection (``climax_nb.data.climate``), ClimateBench's pattern scaling and a linear regression on the
forcings, in the samples' layout (``time`` a sample axis, lat, lon).

Each returns an ``xr.Dataset`` with dims (init_time, lead_time, lat, lon) and a
``valid_time`` coordinate, so it is scored exactly like a model's forecast.
Lead times given as plain numbers are hours. The infilling baselines give only the
box's cells (``lat``/``lon``, in the order given), like the masked model's infilling.
"""

from __future__ import annotations

import datetime as dt
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


def bilinear(coarse: xr.Dataset, fine: xr.Dataset, init_times: Times | None = None,
             variables: Sequence[str] | None = None) -> xr.Dataset:
    """Downscaling's baseline: ``coarse`` bilinearly upsampled onto ``fine``'s grid, a forecast at lead 0."""
    from climax_nb.data.downscaling import upsample

    inputs = upsample(coarse, fine)
    times = inputs["time"].values if init_times is None else init_times
    return persistence(inputs, times, np.zeros(1), variables).assign_attrs(baseline="bilinear")


def perfect_model_bilinear(truth: xr.Dataset, init_times: Times, variables: Sequence[str] | None = None,
                           grid_resolution: float = 5.625) -> xr.Dataset:
    """``bilinear`` of the truth itself coarsened to ``grid_resolution``: the baseline of perfect-model downscaling."""
    from climax_nb.data.downscaling import coarsen
    from climax_nb.grid import Grid

    return bilinear(coarsen(truth, Grid.weatherbench(grid_resolution)), truth, init_times, variables)


def _at_times(truth: xr.Dataset, ids: Sequence[str], times: pd.DatetimeIndex, what: str) -> xr.Dataset:
    """``truth[ids]`` at ``times`` (dim ``time``); the error names the first missing one."""
    missing = times[~times.isin(truth.indexes["time"])]
    if len(missing):
        raise MetricInputError(
            f"truth has no data at {len(missing)} {what} (first {missing[0]}); choose times inside truth['time']"
        )
    return truth[ids].sel(time=times)


def linear_interpolation(
    truth: xr.Dataset, init_times: Times, lead_times: Leads, gap_end: float | np.timedelta64,
    variables: Sequence[str] | None = None,
) -> xr.Dataset:
    """Linear interpolation in time across a gap: the truth at each init time (the last step before the gap) and at
    ``init + gap_end`` (the first step after it), weighted by how far each lead lies between them.

    ``gap_end`` is hours (or a timedelta) from the init time to the first visible step after the gap; every
    lead must lie strictly between 0 and it.
    """
    frame = forecast_axes(init_times, lead_times)
    ids = _pick(truth, variables, "time", "truth")
    end = pd.Timedelta(gap_end) if isinstance(gap_end, np.timedelta64 | dt.timedelta) else pd.Timedelta(
        hours=float(gap_end))
    leads = frame.indexes["lead_time"]
    outside = leads[(leads <= pd.Timedelta(0)) | (leads >= end)]
    if len(outside):
        raise ValueError(f"lead {outside[0]} is not inside the gap (0, {end}): interpolate at leads between the "
                         "last step before the gap and the first after it")
    inits = frame.indexes["init_time"]
    before = _at_times(truth, ids, inits, "init time(s) (the last step before the gap)")
    after = _at_times(truth, ids, inits + end, "step(s) after the gap (init + gap_end)")
    before = before.rename(time="init_time").assign_coords(init_time=inits)
    after = after.rename(time="init_time").assign_coords(init_time=inits)
    weight = xr.DataArray(leads / end, dims="lead_time", coords={"lead_time": leads})
    out = before + (after - before) * weight
    return _layout(out, frame).assign_attrs(baseline="linear_interpolation", gap_end_hours=end / pd.Timedelta(hours=1))


def _box_positions(ds: xr.Dataset, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the cells ``lat`` x ``lon`` in ``ds``'s grid; the error names a cell not in it."""
    rows, cols = (pd.Index(np.round(ds[c].values, 4)).get_indexer(np.round(np.asarray(v, float), 4))
                  for c, v in (("lat", lat), ("lon", lon)))
    for name, index, values in (("latitude", rows, lat), ("longitude", cols, lon)):
        if (index < 0).any():
            raise MetricInputError(f"{name} {np.asarray(values)[index < 0][0]:g} is not a cell of the data's grid: "
                                   "give the box's cells as the data's coordinates (e.g. a masked forecast's)")
    return rows, cols


def box_climatology(
    clim: xr.Dataset, init_times: Times, lead_times: Leads, lat: np.ndarray, lon: np.ndarray,
    variables: Sequence[str] | None = None,
) -> xr.Dataset:
    """The climatology (of the training years) of the box's cells ``lat`` x ``lon`` at each valid time."""
    fc = climatology_forecast(clim, init_times, lead_times, variables)
    rows, cols = _box_positions(fc, lat, lon)
    return fc.isel(lat=rows, lon=cols).assign_attrs(baseline="box_climatology")


def nearest_fill(
    truth: xr.Dataset, init_times: Times, lead_times: Leads, lat: np.ndarray, lon: np.ndarray,
    hidden: np.ndarray | None = None, variables: Sequence[str] | None = None,
) -> xr.Dataset:
    """Each cell of the box ``lat`` x ``lon`` takes the truth of its nearest visible cell at the same valid time.

    ``hidden`` (bool ``[lat, lon]`` on the truth's grid) marks the cells that count as unknown (default: the
    box's own); "nearest" is the great-circle distance between cell centres, so boxes across 0 deg and near the
    poles fill from the right side.
    """
    frame = forecast_axes(init_times, lead_times)
    ids = _pick(truth, variables, "time", "truth")
    rows, cols = _box_positions(truth, lat, lon)
    shape = (truth.sizes["lat"], truth.sizes["lon"])
    if hidden is None:
        hidden = np.zeros(shape, dtype=bool)
        hidden[np.ix_(rows, cols)] = True
    hidden = np.asarray(hidden, dtype=bool)
    if hidden.shape != shape:
        raise ValueError(f"hidden must be bool [lat, lon] = {list(shape)} on the truth's grid, got {hidden.shape}")
    if hidden.all():
        raise ValueError("every cell is hidden: there is no visible cell to fill from")
    phi, lam = np.meshgrid(np.deg2rad(truth["lat"].values), np.deg2rad(truth["lon"].values), indexing="ij")
    xyz = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=-1).reshape(-1, 3)
    visible = np.flatnonzero(~hidden.reshape(-1))
    box = (rows[:, None] * shape[1] + cols[None, :]).reshape(-1)
    nearest = visible[np.argmax(xyz[box] @ xyz[visible].T, axis=1)]  # the largest cosine: the shortest arc
    valid = pd.DatetimeIndex(frame["valid_time"].values.reshape(-1))
    at = _at_times(truth, ids, valid, "valid time(s)")
    n, m = frame.sizes["init_time"], frame.sizes["lead_time"]
    dims = ("init_time", "lead_time", "lat", "lon")
    data = {}
    for vid in ids:
        flat = at[vid].transpose("time", "lat", "lon").values.reshape(len(valid), -1)
        data[vid] = xr.DataArray(flat[:, nearest].reshape(n, m, len(rows), len(cols)), dims=dims,
                                 attrs=truth[vid].attrs)
    coords = {"lat": truth["lat"].values[rows], "lon": truth["lon"].values[cols]}
    return xr.Dataset(data, coords=coords).assign_coords(frame.coords).assign_attrs(baseline="nearest_fill")


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


def zero_anomaly(anomalies: xr.Dataset, init_times: Times, lead_times: Leads,
                 variables: Sequence[str] | None = None) -> xr.Dataset:
    """Climatology for anomaly targets: an anomaly of zero at every lead (the usual S2S reference)."""
    frame = forecast_axes(init_times, lead_times)
    ids = _pick(anomalies, variables, "time", "the anomalies")
    zeros = xr.zeros_like(anomalies[ids].isel(time=0, drop=True))
    return _layout(zeros, frame).assign_attrs(baseline="climatology")


def recent_anomaly(anomalies: xr.Dataset, init_times: Times, window_days: int,
                   variables: Sequence[str] | None = None) -> xr.Dataset:
    """The anomaly of the window that ends at each init time (it starts ``window_days`` before), dim ``init_time``."""
    ids = _pick(anomalies, variables, "time", "the anomalies")
    inits = pd.DatetimeIndex(init_times).rename("init_time")
    starts = inits - pd.Timedelta(days=window_days)
    recent = _at_times(anomalies, ids, starts, f"window start(s) {window_days} days before an init time")
    return recent.rename(time="init_time").assign_coords(init_time=inits)


def damping_coefficients(anomalies: xr.Dataset, lead_times: Leads, window_days: int,
                         years: Sequence[int] | None = None, variables: Sequence[str] | None = None) -> xr.Dataset:
    """Per lead and cell, the least-squares slope of the anomaly at the lead on the recent one, over ``years``' days.

    Every day of ``years`` whose recent window and target lie inside ``anomalies`` is a fitting pair;
    the slope is correlation times the ratio of standard deviations, so it damps towards climatology.
    """
    ids = _pick(anomalies, variables, "time", "the anomalies")
    times = anomalies.indexes["time"]
    chosen = times if not years else times[times.year.isin(list(years))]
    frame = forecast_axes(chosen[:1], lead_times)
    slopes = []
    for lead in frame.indexes["lead_time"]:
        ok = chosen[chosen.isin(times + pd.Timedelta(days=window_days)) & (chosen + lead).isin(times)]
        if len(ok) < 2:
            raise ValueError(f"no two days of years {list(years or [])} have both a recent window and a target at "
                             f"{lead}: fit the damping on a longer stretch")
        recent = recent_anomaly(anomalies, ok, window_days, ids)
        target = _at_times(anomalies, ids, ok + lead, "targets").rename(time="init_time")
        target = target.assign_coords(init_time=ok.rename("init_time"))
        spread = (recent * recent).sum("init_time")  # 0 where the anomaly never moves (no rain in a desert)
        slopes.append(((recent * target).sum("init_time") / spread.where(spread > 0)).fillna(0.0))
    out = xr.concat(slopes, dim=pd.Index(frame.indexes["lead_time"], name="lead_time"))
    return out.assign_attrs(window_days=window_days, fit_days=len(chosen))


def damped_persistence(anomalies: xr.Dataset, init_times: Times, coefficients: xr.Dataset | None,
                       window_days: int, lead_times: Leads | None = None,
                       variables: Sequence[str] | None = None) -> xr.Dataset:
    """The recent window's anomaly times the fitted slope at each lead (``damping_coefficients``).

    With ``coefficients`` None the anomaly persists undamped at the ``lead_times`` given.
    """
    ids = list(variables) if variables is not None else (
        [str(v) for v in coefficients.data_vars] if coefficients is not None else None)
    recent = recent_anomaly(anomalies, init_times, window_days, ids)
    if coefficients is None:
        if lead_times is None:
            raise ValueError("give lead_times for undamped persistence (coefficients None)")
        frame = forecast_axes(init_times, lead_times)
        return _layout(recent, frame).assign_attrs(baseline="anomaly_persistence")
    frame = forecast_axes(init_times, coefficients.indexes["lead_time"])
    return _layout(recent * coefficients[list(recent.data_vars)], frame).assign_attrs(baseline="damped_persistence")


def forcing_features(samples: xr.Dataset) -> np.ndarray:
    """Each sample's global forcing, ``[n, 2]``: ln(CO2 / 360 ppmv) (the log law of CO2's radiative forcing) and the
    area-weighted mean of ``sst_anomaly`` over the ocean."""
    from climax_nb.metrics.weights import lat_weights

    weights = lat_weights(samples["lat"]) * (1.0 - samples["lsm"])
    co2 = samples["co2"].weighted(lat_weights(samples["lat"])).mean(("lat", "lon"))
    sst = (samples["sst_anomaly"] * weights).sum(("lat", "lon")) / weights.sum(("lat", "lon"))
    return np.stack([np.log(co2.values / 360.0), sst.values], axis=1)


def _fit_predict(design_train: np.ndarray, y_train: np.ndarray, design_test: np.ndarray) -> np.ndarray:
    """Least squares with an intercept, one fit per column of ``y_train`` ``[n, k]``; predictions ``[m, k]``."""
    a = np.concatenate([np.ones((len(design_train), 1)), design_train], axis=1)
    b = np.concatenate([np.ones((len(design_test), 1)), design_test], axis=1)
    coef, *_ = np.linalg.lstsq(a, y_train, rcond=None)
    return b @ coef


def _like(test: xr.Dataset, values: dict[str, np.ndarray], train: xr.Dataset, name: str) -> xr.Dataset:
    dims = ("time", "lat", "lon")
    out = xr.Dataset({v: (dims, x.astype(np.float32), train[v].attrs) for v, x in values.items()},
                     coords={"time": test["time"], "lat": test["lat"], "lon": test["lon"]})
    return out.assign_attrs(baseline=name)


def pattern_scaling(train: xr.Dataset, test: xr.Dataset, variables: Sequence[str]) -> xr.Dataset:
    """ClimateBench's simplest emulator: each cell's value linear in the global-mean surface temperature, which is
    itself linear in the global forcings (``forcing_features``); both fitted on ``train``."""
    from climax_nb.metrics.weights import spatial_mean

    global_t = spatial_mean(train["t2m"]).values[:, None]
    predicted_t = _fit_predict(forcing_features(train), global_t, forcing_features(test))
    values = {}
    for vid in variables:
        flat = train[vid].values.reshape(train.sizes["time"], -1)
        values[vid] = _fit_predict(global_t, flat, predicted_t).reshape(test.sizes["time"], *train[vid].shape[1:])
    return _like(test, values, train, "pattern_scaling")


def linear_regression(train: xr.Dataset, test: xr.Dataset, variables: Sequence[str]) -> xr.Dataset:
    """Each cell's value linear in the global forcings and its own SST anomaly, fitted cell by cell on ``train``."""
    glob_train, glob_test = forcing_features(train), forcing_features(test)
    local_train = train["sst_anomaly"].values.reshape(train.sizes["time"], -1)
    local_test = test["sst_anomaly"].values.reshape(test.sizes["time"], -1)
    values = {}
    for vid in variables:
        flat = train[vid].values.reshape(train.sizes["time"], -1)
        out = np.empty((test.sizes["time"], flat.shape[1]))
        for cell in range(flat.shape[1]):
            design = np.concatenate([glob_train, local_train[:, cell:cell + 1]], axis=1)
            target = np.concatenate([glob_test, local_test[:, cell:cell + 1]], axis=1)
            out[:, cell] = _fit_predict(design, flat[:, cell:cell + 1], target)[:, 0]
        values[vid] = out.reshape(test.sizes["time"], *train[vid].shape[1:])
    return _like(test, values, train, "linear_regression")
