"""Climatologies from training years: the baselines and the anomalies behind ACC.

Two kinds, by name:

- ``"dayofyear_hour"``: WeatherBench 2's climatology (its ``compute_hourly_stat``):
  for each hour of day, each year's values are indexed by day of year (1..366),
  day 366 of a year that lacks it takes that year's day 365, and a triangular
  window of ``window`` days (61 by default), wrapping around the year, averages
  over days and years together. Missing days carry no weight. The output
  always has days 1..366. This equals WeatherBench 2 when the training years
  are whole years including a leap year; with partial years or gaps they
  differ, because WeatherBench 2 fills *every* missing day of a year with
  its day 365, not only day 366.
- ``"time_mean"``: the mean over all training time steps, per grid cell, as
  WeatherBench 1 and ClimaX use for their climatology baseline and ACC.

Both are computed in one pass over bounded time chunks, in float64.
Constants are passed through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import xarray as xr

from climax_nb.data.fields import check_variables, constant_field, default_chunk_size, time_chunks
from climax_nb.data.select import available_years, select_years
from climax_nb.variables import is_constant

Kind = Literal["dayofyear_hour", "time_mean"]
KINDS: tuple[str, ...] = ("dayofyear_hour", "time_mean")
DAYS = 366


def window_weights(window: int) -> np.ndarray:
    """WeatherBench 2's triangular day weights (zero at both ends, mean 1); ``window=1`` means no smoothing."""
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number of days (e.g. 61), got {window}")
    if window == 1:
        return np.ones(1)
    half = window // 2
    w = np.concatenate([np.linspace(0, 1, half + 1), np.linspace(1, 0, half + 1)[1:]])
    return w / w.mean()


def _circular_smooth(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``sum_j w_j values[(d + j) % n]`` along axis 0, for j in [-half, half].

    One product with the circulant (n, n) weight matrix: a 61-day window over 366 days costs one
    matrix product per hour of day instead of 61 shifted copies of the whole array.
    """
    n, half = values.shape[0], len(weights) // 2
    days = np.arange(n)
    circulant = np.zeros((n, n))
    for j, w in zip(range(-half, half + 1), weights, strict=True):
        circulant[days, (days + j) % n] += w
    return (circulant @ values.reshape(n, -1)).reshape(values.shape)


def _check_finite(vid: str, values: np.ndarray) -> None:
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{vid} has NaN or infinite values; fill them before computing a climatology")


def _dayofyear_hour(da: xr.DataArray, hours: np.ndarray, window: int, chunk_size: int) -> np.ndarray:
    """Smoothed (hour, dayofyear, lat, lon) climatology of one variable."""
    nh, shape = len(hours), (da.sizes["lat"], da.sizes["lon"])
    sums = np.zeros((nh, DAYS, *shape))
    counts = np.zeros((nh, DAYS))
    pending: dict[int, np.ndarray] = {}  # day 365 of the current year, per hour, until day 366 shows up
    year = None

    def fill_day_366() -> None:
        for k, field in pending.items():
            sums[k, DAYS - 1] += field
            counts[k, DAYS - 1] += 1
        pending.clear()

    for times, values in time_chunks(da, chunk_size):
        _check_finite(str(da.name), values)
        stamp = pd.DatetimeIndex(times)
        rows = np.searchsorted(hours, stamp.hour)
        for i, (y, d, k) in enumerate(zip(stamp.year, stamp.day_of_year, rows, strict=True)):
            if y != year:
                fill_day_366()
                year = y
            sums[k, d - 1] += values[i]
            counts[k, d - 1] += 1
            if d == DAYS - 1:
                pending[int(k)] = values[i].copy()
            elif d == DAYS:
                pending.pop(int(k), None)
    fill_day_366()
    weights = window_weights(window)
    out = np.empty((nh, DAYS, *shape), dtype=np.float32)
    for k in range(nh):
        norm = _circular_smooth(counts[k], weights)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[k] = _circular_smooth(sums[k], weights) / norm[:, None, None]
    return out


def _time_mean(da: xr.DataArray, chunk_size: int) -> np.ndarray:
    total = np.zeros((da.sizes["lat"], da.sizes["lon"]))
    for _, values in time_chunks(da, chunk_size):
        _check_finite(str(da.name), values)
        total += values.sum(axis=0)
    return (total / da.sizes["time"]).astype(np.float32)


def climatology(
    ds: xr.Dataset,
    kind: Kind = "dayofyear_hour",
    years: Iterable[int] | int | None = None,
    window: int = 61,
    variables: Sequence[str] | None = None,
    *,
    chunk_size: int | None = None,
) -> xr.Dataset:
    """The ``kind`` climatology of ``ds`` over training ``years`` (all when None); see the module doc."""
    if kind not in KINDS:
        raise ValueError(f"unknown climatology kind {kind!r}: choose one of {KINDS}")
    ids = check_variables(ds, variables)
    if "lat" in ids and "lat" not in ds.data_vars:
        raise ValueError("'lat' is the latitude coordinate here, not a field with a climatology; leave it out")
    if kind == "dayofyear_hour":
        window_weights(window)  # fail early on a bad window
    ds = select_years(ds, years)
    hours = np.unique(pd.DatetimeIndex(ds["time"].values).hour) if "time" in ds.dims else np.array([], int)
    coords: dict[str, Any] = {"lat": ds["lat"].values, "lon": ds["lon"].values}
    fields: dict[str, xr.DataArray] = {}
    for vid in ids:
        attrs = dict(ds[vid].attrs)
        steps = chunk_size or default_chunk_size(ds[vid])
        if is_constant(vid):
            fields[vid] = xr.DataArray(constant_field(ds, vid), dims=("lat", "lon"), attrs=attrs)
        elif kind == "time_mean":
            fields[vid] = xr.DataArray(_time_mean(ds[vid], steps), dims=("lat", "lon"), attrs=attrs)
        else:
            data = _dayofyear_hour(ds[vid], hours, window, steps)
            fields[vid] = xr.DataArray(data, dims=("hour", "dayofyear", "lat", "lon"), attrs=attrs)
    if kind == "dayofyear_hour":
        coords |= {"hour": hours.astype(np.int64), "dayofyear": np.arange(1, DAYS + 1)}
    attrs = {"kind": kind, "years": available_years(ds) if "time" in ds.dims else []}
    if kind == "dayofyear_hour":
        attrs["window"] = window
    return xr.Dataset(fields, coords=coords, attrs=attrs)


def climatology_at(clim: xr.Dataset, times: xr.DataArray | np.ndarray | pd.DatetimeIndex) -> xr.Dataset:
    """The climatology at each of ``times`` (any dims, e.g. a forecast's ``valid_time``), for anomalies."""
    if not isinstance(times, xr.DataArray):
        times = xr.DataArray(np.asarray(times, dtype="datetime64[ns]"), dims="time")
        times = times.assign_coords(time=times)
    if clim.attrs.get("kind") == "time_mean" or "dayofyear" not in clim.dims:
        return clim
    wanted = np.unique(times.dt.hour.values)
    missing = sorted(set(wanted.tolist()) - set(clim["hour"].values.tolist()))
    if missing:
        raise ValueError(
            f"climatology has hours {clim['hour'].values.tolist()} but times include hour(s) {missing}; "
            "compute it from data with those hours"
        )
    out = clim.sel(dayofyear=times.dt.dayofyear, hour=times.dt.hour)
    return out.drop_vars(["dayofyear", "hour"])


def save_climatology(clim: xr.Dataset, path: str | Path) -> Path:
    """Write NetCDF, or zarr when ``path`` ends in ``.zarr`` (e.g. beside the data)."""
    path = Path(path)
    if path.suffix == ".zarr":
        clim.to_zarr(path, mode="w")
    else:
        clim.to_netcdf(path)
    return path


def load_climatology(path: str | Path) -> xr.Dataset:
    """Read a climatology written by ``save_climatology`` into memory."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no climatology at {path}; make one with save_climatology(climatology(ds), path)")
    opened = xr.open_zarr(path) if path.suffix == ".zarr" else xr.open_dataset(path)
    with opened:
        return opened.load()


def climatology_to_dict(clim: xr.Dataset) -> dict[str, Any]:
    """Tensors, lists and numbers only, so it fits in a checkpoint loaded with ``weights_only=True``."""
    return {
        "attrs": {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in clim.attrs.items()},
        "coords": {str(k): clim[k].values.tolist() for k in clim.coords},
        "variables": {
            str(k): {"dims": list(da.dims), "attrs": dict(da.attrs), "values": torch.from_numpy(da.values.copy())}
            for k, da in clim.data_vars.items()
        },
    }


def climatology_from_dict(d: dict[str, Any]) -> xr.Dataset:
    """The inverse of ``climatology_to_dict``."""
    fields = {
        k: xr.DataArray(np.asarray(v["values"]), dims=tuple(v["dims"]), attrs=v["attrs"])
        for k, v in d["variables"].items()
    }
    return xr.Dataset(fields, coords={k: np.asarray(v) for k, v in d["coords"].items()}, attrs=dict(d["attrs"]))
