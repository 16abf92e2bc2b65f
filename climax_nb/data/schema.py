"""The canonical dataset layout and the one check that enforces it.

Every source returns this layout, so models, normalisers and metrics never
guess at dimension order, latitude direction or units. ``validate`` changes
nothing: it lists every problem it finds, each with the variable, what is
wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import dask
import numpy as np
import xarray as xr

from climax_nb.data.ranges import Range, anomaly_ranges, plausible_range
from climax_nb.variables import UnknownVariableError, resolve

TIME_DIMS: tuple[str, ...] = ("time", "lat", "lon")
CONSTANT_DIMS: tuple[str, ...] = ("lat", "lon")

# Spellings of the same unit, mapped to the registry's spelling.
_UNIT_SPELLINGS: dict[str, str] = {
    "m**2 s**-2": "m2 s-2",
    "m^2 s^-2": "m2 s-2",
    "m2/s2": "m2 s-2",
    "m**2/s**2": "m2 s-2",
    "m/s": "m s-1",
    "m s**-1": "m s-1",
    "m.s-1": "m s-1",
    "kg/kg": "kg kg-1",
    "kg kg**-1": "kg kg-1",
    "(0 - 1)": "1",
    "0-1": "1",
    "fraction": "1",
    "degree_north": "degrees_north",
    "degrees_n": "degrees_north",
    "deg": "degrees_north",
    "J/m2": "J m-2",
    "J m**-2": "J m-2",
    "percent": "%",
}


def normalise_units(units: str) -> str:
    """The registry spelling of ``units`` (``m**2 s**-2`` -> ``m2 s-2``)."""
    text = units.strip()
    return _UNIT_SPELLINGS.get(text, _UNIT_SPELLINGS.get(text.lower(), text))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset: where, what, and the fix."""

    variable: str
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.variable}: {self.what}; fix: {self.fix}"


class SchemaError(ValueError):
    """A dataset is not in the canonical layout; ``.problems`` lists each issue."""

    def __init__(self, problems: list[Problem], where: str | None = None):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        what = f"{where} is" if where else "dataset is"
        super().__init__(f"{what} not in the canonical layout ({len(problems)} problem(s)):\n{lines}")


class DataReadError(OSError):
    """Stored values that cannot be read: a truncated or corrupt chunk or file."""


def _check_coords(ds: xr.Dataset, plausible: bool = True) -> list[Problem]:
    problems: list[Problem] = []
    for name, alias in (("lat", "latitude"), ("lon", "longitude")):
        if name not in ds.coords:
            fix = (
                f"rename it with ds.rename({{'{alias}': '{name}'}}) or climax_nb.data.canonicalize(ds)"
                if alias in ds.coords or alias in ds.dims
                else f"add a 1-D '{name}' coordinate in degrees"
            )
            problems.append(Problem(name, f"coordinate '{name}' is missing", fix))
    if problems:
        return problems
    lat, lon = ds["lat"].values, ds["lon"].values
    if ds["lat"].ndim != 1 or ds["lon"].ndim != 1:
        return [Problem("lat/lon", "coordinates must be 1-D", "regrid to a rectilinear grid first")]
    if len(lat) > 1 and not np.all(np.diff(lat) > 0):
        problems.append(
            Problem(
                "lat",
                f"latitude is not ascending (starts {lat[0]:g}, ends {lat[-1]:g})",
                "ds.sortby('lat') or climax_nb.data.canonicalize(ds)",
            )
        )
    if np.any(np.abs(lat) > 90):
        problems.append(Problem("lat", "latitude outside [-90, 90]", "check the coordinate is latitude in degrees"))
    if np.any(lon < 0) or np.any(lon >= 360):
        problems.append(
            Problem(
                "lon",
                f"longitude outside [0, 360) (range {lon.min():g} to {lon.max():g})",
                "convert with climax_nb.data.canonicalize(ds), which maps to [0, 360) and sorts",
            )
        )
    elif len(lon) > 1 and not np.all(np.diff(lon) > 0):
        problems.append(Problem("lon", "longitude is not ascending", "ds.sortby('lon')"))
    return problems + (_check_degrees(ds) if plausible else [])


def _check_degrees(ds: xr.Dataset) -> list[Problem]:
    """Coordinates that are not degrees: other units, or the pixel indices 0, 1, 2, ... of both axes."""
    problems = []
    for name, units in (("lat", "degrees_north"), ("lon", "degrees_east")):
        given = ds[name].attrs.get("units")
        if given is not None and not str(given).strip().lower().startswith("deg"):
            problems.append(Problem(name, f"{name} has units '{given}', not {units}", f"give {name} in {units}"))
    lat, lon = ds["lat"].values, ds["lon"].values
    if len(lat) > 2 and len(lon) > 2 and all(np.array_equal(c, np.arange(len(c))) for c in (lat, lon)):
        problems.append(
            Problem(
                "lat/lon",
                f"coordinates are 0..{len(lat) - 1} and 0..{len(lon) - 1}: pixel indices, not degrees",
                "assign the grid's degrees, e.g. ds.assign_coords(lat=grid.lat, lon=grid.lon) with a "
                "climax_nb.grid.Grid (or check_ranges=False if this really is a 1-degree box from 0N, 0E)",
            )
        )
    return problems


def _check_time(ds: xr.Dataset, allow_gaps: bool) -> list[Problem]:
    if "time" not in ds.dims:
        return []
    if "time" not in ds.coords:
        return [Problem("time", "dimension 'time' has no coordinate", "assign datetime64 values to 'time'")]
    time = ds["time"].values
    if not np.issubdtype(time.dtype, np.datetime64):
        return [Problem("time", f"time has dtype {time.dtype}, not datetime64", "decode times with xr.decode_cf")]
    if len(time) == 0:
        return [Problem("time", "no time steps", "select times the data have (check the years and days asked for)")]
    if len(time) < 2:
        return []
    steps = np.diff(time)
    if np.any(steps <= np.timedelta64(0)):
        first = int(np.argmax(steps <= np.timedelta64(0)))
        what = f"time is not strictly increasing at {time[first + 1]}"
        return [Problem("time", what, "ds.sortby('time') and drop duplicates")]
    values, counts = np.unique(steps, return_counts=True)
    base = values[np.argmax(counts)]
    odd = steps != base
    if allow_gaps:
        odd = (steps % base) != np.timedelta64(0)
    if np.any(odd):
        first = int(np.argmax(odd))
        hours = base / np.timedelta64(1, "h")
        return [
            Problem(
                "time",
                f"uneven time steps: {time[first]} -> {time[first + 1]} against the usual {hours:g} h",
                "resample to a regular step, or pass allow_gaps=True when whole steps are missing",
            )
        ]
    return []


def _check_variable(
    name: str,
    da: xr.DataArray,
    check_values: bool,
    check_ranges: bool,
    ranges: Mapping[str, Range] | None,
    where: str | None,
) -> list[Problem]:
    try:
        var = resolve(str(name))
    except UnknownVariableError:
        fix = (
            "climax_nb.data.canonicalize(ds) splits a 'level' dimension into one id per level"
            if "level" in da.dims
            else "rename it to an id in climax_nb.variables.VARIABLES or drop it"
        )
        return [Problem(str(name), "not a registry id nor a known long name", fix)]
    if var.id != name:
        return [Problem(str(name), f"long name instead of the id '{var.id}'", "climax_nb.data.canonicalize(ds)")]
    problems: list[Problem] = []
    expected = CONSTANT_DIMS if var.kind == "constant" else TIME_DIMS
    if da.dims != expected:
        fix = (
            f"ds['{name}'].transpose{expected}"
            if set(da.dims) == set(expected)
            else f"give it dims {expected} (select or squeeze the others)"
        )
        problems.append(Problem(str(name), f"dims are {da.dims}, expected {expected}", fix))
    if da.dtype != np.float32:
        problems.append(Problem(str(name), f"dtype is {da.dtype}, expected float32", "ds.astype('float32')"))
    units = da.attrs.get("units")
    if units is None:
        problems.append(Problem(str(name), "no 'units' attribute", f"set attrs['units'] = '{var.units}'"))
    elif normalise_units(str(units)) != var.units:
        problems.append(
            Problem(str(name), f"units are '{units}', expected '{var.units}'", f"convert the values to {var.units}")
        )
    if check_values and da.size:
        problems += _check_values(str(name), da, plausible_range(var.id, ranges) if check_ranges else None, where)
    return problems


def _check_values(name: str, da: xr.DataArray, bounds: Range | None, where: str | None) -> list[Problem]:
    """NaN/inf count and, where ``bounds`` are given, values outside them (one read of the data)."""
    finite = np.isfinite(da)
    try:
        extremes = (da.where(finite).min(), da.where(finite).max()) if bounds is not None else ()
        bad, *extremes = dask.compute((~finite).sum(), *extremes)
    except Exception as err:  # a codec or file error, whatever the backend
        raise DataReadError(
            f"cannot read the values of {name} in {where or 'the dataset'} ({type(err).__name__}: {err}): a chunk "
            "or file is truncated or corrupt; download or write it again"
        ) from err
    bad = int(bad.values)
    low, high = (float(e.values) for e in extremes) if extremes else (np.nan, np.nan)
    problems = []
    if bad:
        problems.append(
            Problem(
                name,
                f"{bad} NaN or infinite value(s) (a zarr store's missing chunk files read as NaN)",
                "fill or mask them before use (e.g. interpolate), or restore the missing chunks",
            )
        )
    if bounds is not None and np.isfinite(low) and (low < bounds[0] or high > bounds[1]):
        units = da.attrs.get("units", "")
        problems.append(
            Problem(
                name,
                f"values {low:.6g}..{high:.6g} {units} lie outside the plausible {bounds[0]:.6g}..{bounds[1]:.6g}: "
                "wrong units under the right 'units' attribute?",
                "convert the values (e.g. degC + 273.15, metres x 9.80665), or pass ranges={...} or "
                "check_ranges=False (--no-check-ranges) if they are right",
            )
        )
    return problems


def validate(
    ds: xr.Dataset,
    *,
    check_values: bool = True,
    allow_gaps: bool = False,
    check_ranges: bool = True,
    ranges: Mapping[str, Range] | None = None,
    where: str | None = None,
) -> xr.Dataset:
    """Check ``ds`` is canonical and return it unchanged; raise ``SchemaError`` otherwise.

    ``check_values`` scans every value for NaN/inf (a full read of lazy data) and, with
    ``check_ranges``, for values outside the plausible range of the variable
    (``climax_nb.data.ranges``; ``ranges`` overrides some); ``allow_gaps`` accepts missing
    whole time steps, as after selecting years. ``where`` (a path) names the data in errors.
    Anomalies (a ``quantity`` attribute such as "window-mean anomaly") are held to ranges of differences.
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"validate expects an xarray.Dataset, got {type(ds).__name__}")
    problems = _check_coords(ds, check_ranges) + _check_time(ds, allow_gaps)
    ranges = {**(anomaly_ranges(ds.attrs) or {}), **(ranges or {})} or None
    if not ds.data_vars:
        problems.append(Problem("dataset", "no data variables", "add variables named by registry ids"))
    for name, da in ds.data_vars.items():
        problems += _check_variable(str(name), da, check_values, check_ranges, ranges, where)
    if problems:
        raise SchemaError(problems, where)
    return ds
