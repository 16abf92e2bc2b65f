"""Forecast datasets: the layout, CF attributes, and writing to / reading from NetCDF and zarr.

``lead_time`` is stored as hours (CF ``units: hours``) and decoded back to
``timedelta64``; ``valid_time`` (init_time + lead_time) is a 2-D time coordinate.
Zarr stores are written in format 2, readable by zarr 2 and 3.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from climax_nb.forecast.leads import as_timedelta
from climax_nb.storage import atomic_write
from climax_nb.variables import VARIABLES

COORD_ATTRS: dict[str, dict[str, str]] = {
    "init_time": {"standard_name": "forecast_reference_time", "long_name": "initial time"},
    "lead_time": {"standard_name": "forecast_period", "long_name": "lead time"},
    "valid_time": {"standard_name": "time", "long_name": "valid time (init_time + lead_time)"},
    "lat": {"standard_name": "latitude", "units": "degrees_north", "long_name": "latitude"},
    "lon": {"standard_name": "longitude", "units": "degrees_east", "long_name": "longitude"},
    "member": {"long_name": "ensemble member"},
}


def forecast_dataset(
    values: np.ndarray,
    variables: Sequence[str],
    init_times: np.ndarray,
    leads_hours: Sequence[float],
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    ensemble: bool = False,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """``values`` [(member,) init, lead, var, lat, lon] as a Dataset with one CF-annotated variable per id."""
    dims = ("init_time", "lead_time", "lat", "lon")
    if ensemble:
        dims = ("member", *dims)
    lead = as_timedelta(leads_hours)
    init = np.asarray(init_times, dtype="datetime64[ns]")
    coords: dict[str, Any] = {
        "init_time": init,
        "lead_time": lead,
        "lat": np.asarray(lat, dtype=np.float64),
        "lon": np.asarray(lon, dtype=np.float64),
        "valid_time": (("init_time", "lead_time"), init[:, None] + lead[None, :]),
    }
    if ensemble:
        coords["member"] = np.arange(values.shape[0])
    data = {}
    for j, vid in enumerate(variables):
        var = VARIABLES[vid]
        da = xr.DataArray(values[..., j, :, :], dims=dims)  # a view: no copy of the forecast
        da.attrs = {"units": var.units, "long_name": var.long_name, "description": var.description}
        data[vid] = da
    ds = xr.Dataset(data, coords=coords, attrs={"Conventions": "CF-1.8", **dict(attrs or {})})
    for name, extra in COORD_ATTRS.items():
        if name in ds.coords:
            ds[name].attrs.update(extra)
    return ds


#: CF encodings of the time coordinates: lead times in hours, times in hours since 1970.
TIME_ENCODING: dict[str, dict[str, str]] = {
    "lead_time": {"units": "hours", "dtype": "float64"},
    "init_time": {"units": "hours since 1970-01-01", "calendar": "proleptic_gregorian"},
    "valid_time": {"units": "hours since 1970-01-01", "calendar": "proleptic_gregorian"},
}


#: Attribute that marks a file as a forecast written by ``save_forecast``.
FORECAST_MARK = "climax_nb_forecast"


def _is_our_forecast(path: Path) -> bool:
    """True for an existing forecast file or store of ours (marked, or in the forecast layout)."""
    try:
        with (xr.open_zarr(path) if path.suffix == ".zarr" else xr.open_dataset(path)) as ds:
            return FORECAST_MARK in ds.attrs or {"init_time", "lead_time"} <= set(ds.dims)
    except Exception:  # unreadable, or not a dataset at all
        return False


def _replace_store(tmp: Path, path: Path) -> None:
    """Put the zarr store ``tmp`` at ``path``, moving any old store aside first (a folder cannot be renamed over)."""
    old = path.with_name(f".{path.name}.{os.getpid()}.old")
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def save_forecast(ds: xr.Dataset, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write a forecast to NetCDF (``.nc``) or zarr (``.zarr``), with CF time encodings, atomically.

    An existing ``path`` is replaced only with ``overwrite=True``, and only when it is a
    forecast itself: a data store or any other file is never written over.
    """
    path = Path(path)
    if path.suffix not in (".zarr", ".nc", ".nc4", ".netcdf"):
        raise ValueError(f"cannot tell the format of {path}: name it *.nc (NetCDF) or *.zarr (zarr)")
    if path.exists():
        if not overwrite:
            raise FileExistsError(f"{path} exists: choose another path, or pass overwrite=True (--overwrite) "
                                  "to replace that forecast")
        if not _is_our_forecast(path):
            raise FileExistsError(f"{path} exists and is not a forecast: it is never overwritten; choose another path")
    encoding = {k: dict(v) for k, v in TIME_ENCODING.items() if k in ds.variables}
    marked = ds.assign_attrs({FORECAST_MARK: 1})
    if path.suffix == ".zarr":
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            marked.to_zarr(tmp, mode="w", encoding=encoding, zarr_format=2)  # v2: readable by zarr 2 and 3
            _replace_store(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        atomic_write(path, lambda tmp: marked.to_netcdf(tmp, encoding=encoding))
    return path


def open_forecast(path: str | os.PathLike) -> xr.Dataset:
    """A forecast written by ``save_forecast``, with ``lead_time`` decoded as ``timedelta64``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no forecast at {path}: write one with `climax-nb forecast --out {path}`")
    ds = xr.open_zarr(path, decode_timedelta=True) if path.suffix == ".zarr" else xr.open_dataset(
        path, decode_timedelta=True)
    ds.attrs.pop(FORECAST_MARK, None)  # the file's mark, not part of the forecast
    return ds
