"""Helpers every source reader shares: file errors that name the file, variable and
year checks that list what a source has, unit conversion, precipitation totals,
time alignment, and the final step into the canonical layout."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.data.canonical import canonicalize
from climax_nb.data.schema import normalise_units
from climax_nb.data.select import NotInSourceError
from climax_nb.data.sources.lexicons import Conversion
from climax_nb.variables import VARIABLES, to_id

#: Lazy chunks for opened files: dask's default chunk size (128 MiB) along time and one
#: pressure level (``level`` in hPa, CMIP6 ``plev`` in Pa) per chunk, so no file is read
#: whole just to open it or to select from it.
CHUNKS: dict[str, Any] = {"time": "auto", "level": 1, "plev": 1}

T = TypeVar("T")


def open_file(path: Any, opener: Callable[..., T] = xr.open_dataset, **kwargs: Any) -> T:
    """Open (or read) one file or store; any failure is re-raised as ``OSError`` naming it."""
    try:
        return opener(path, **kwargs)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"no such file or directory: {path}") from err
    except Exception as err:  # each backend has its own error types; the path is what users need
        raise OSError(f"could not read {path}: {err}") from err


def in_registry_order(ids: Iterable[str]) -> list[str]:
    """``ids`` sorted as the registry lists them, so every source lists its variables alike."""
    order = {vid: i for i, vid in enumerate(VARIABLES)}
    return sorted(ids, key=order.__getitem__)


def wanted_ids(variables: Sequence[str] | None, available: Iterable[str], source: str) -> list[str]:
    """Registry ids asked for (all ``available`` when None); the error lists what ``source`` has."""
    have = list(available)
    if variables is None:
        return have
    ids = [to_id(v) for v in variables]
    missing = [v for v in ids if v not in have]
    if missing:
        raise NotInSourceError(f"{source} has no variable(s) {', '.join(missing)}; it has: {', '.join(have)}")
    return ids


def as_years(years: Iterable[int] | int | None) -> list[int] | None:
    """``years`` as a list of ints (None stays None, for all years)."""
    if years is None:
        return None
    return [years] if isinstance(years, int) else [int(y) for y in years]


def wanted_years(years: Iterable[int] | int | None, available: Iterable[int], source: str) -> list[int] | None:
    """Years asked for (None for all); the error lists the years ``source`` has."""
    wanted = as_years(years)
    if wanted is None:
        return None
    have = sorted({int(y) for y in available})
    missing = [y for y in wanted if y not in have]
    if missing:
        raise NotInSourceError(f"{source} has no year(s) {missing}; it has {have}")
    return wanted


def convert(da: xr.DataArray, conversion: Conversion | None, units: str) -> xr.DataArray:
    """Scale ``da`` into registry ``units`` when it carries the units the conversion expects.

    Other units are left alone so that ``validate`` names the mismatch instead of a
    silently wrong scale.
    """
    if conversion is None:
        return da
    native = normalise_units(str(da.attrs.get("units", conversion.from_units)))
    if native != conversion.from_units:
        return da
    out = da * conversion.scale if conversion.scale != 1 else da.copy()
    return out.assign_attrs({**da.attrs, "units": units})


def native_step(time: np.ndarray) -> np.timedelta64 | None:
    """The most common step of a time axis (None for fewer than two stamps)."""
    if len(time) < 2:
        return None
    values, counts = np.unique(np.diff(time), return_counts=True)
    return values[np.argmax(counts)]


def accumulate_6h(da: xr.DataArray, source: str) -> xr.DataArray:
    """Sum 1-hour accumulations (ERA5 ``tp``) into the 6 h ending at each stamp: ``tp6h``.

    ``tp6h`` at 06 UTC is the sum of the hourly values stamped 01 ... 06 UTC. Stamps
    whose window is not wholly on the time axis (the first five, and after gaps) are
    dropped, so no partial total is ever returned.
    """
    time = da["time"].values
    hour = np.timedelta64(1, "h")
    if native_step(time) not in (None, hour):
        raise ValueError(
            f"{source}: {da.name or 'precipitation'} holds 1-hour totals but is stored every "
            f"{native_step(time) / hour:g} h, so 6-hour totals cannot be formed; use hourly files"
        )
    span = np.full(len(time), np.timedelta64(-1, "h"))
    span[5:] = time[5:] - time[:-5]
    keep = np.flatnonzero(span == 5 * hour)
    if len(keep) == 0:
        raise ValueError(f"{source}: 6-hour precipitation totals need at least six consecutive hourly steps")
    total = da.rolling(time=6, min_periods=6).sum().isel(time=keep)
    attrs = {**da.attrs, "long_name": "precipitation accumulated over the 6 h before the time stamp"}
    return total.assign_attrs(attrs)


def _common_times(fields: dict[str, xr.DataArray], source: str) -> dict[str, xr.DataArray]:
    timed = {vid: da for vid, da in fields.items() if "time" in da.dims}
    if not timed:
        return fields
    common = functools.reduce(np.intersect1d, [da["time"].values for da in timed.values()])
    if len(common) == 0:
        ranges = "; ".join(f"{vid} {da.time.values[0]} .. {da.time.values[-1]}" for vid, da in timed.items())
        raise ValueError(f"{source}: the variables share no time step ({ranges})")
    cut = {vid: da.sizes["time"] - len(common) for vid, da in timed.items() if da.sizes["time"] > len(common)}
    if cut:
        limits = ", ".join(vid for vid in timed if vid not in cut)
        detail = ", ".join(f"{vid} {n}" for vid, n in cut.items())
        first, last = (np.datetime_as_string(t, unit="m") for t in (common[0], common[-1]))
        warnings.warn(
            f"{source}: variables cover different times; kept the {len(common)} steps they all share "
            f"({first} .. {last}{', all of ' + limits if limits else ''}) and dropped steps from: {detail}",
            stacklevel=4,
        )
    return {vid: da.sel(time=common) if vid in cut else da for vid, da in fields.items()}


def finish(fields: dict[str, xr.DataArray], source: str) -> xr.Dataset:
    """One canonical Dataset from fields named by registry id, on the times they all share."""
    if not fields:
        raise ValueError(f"{source}: no variables to return")
    fields = {vid: da.reset_coords(drop=True).rename(vid) for vid, da in fields.items()}
    ds = xr.Dataset(_common_times(fields, source), attrs={"source": source})
    return canonicalize(ds)


def subsample(ds: xr.Dataset, step: str | pd.Timedelta | np.timedelta64 | None) -> xr.Dataset:
    """Keep the stamps on a coarser step counted from 00 UTC (``"6h"``: 00, 06, 12, 18 UTC)."""
    if step is None or "time" not in ds.dims:
        return ds
    delta = pd.Timedelta(step).to_timedelta64().astype("timedelta64[ns]")
    time = ds["time"].values.astype("datetime64[ns]")
    native = native_step(time)
    if delta <= np.timedelta64(0) or (native is not None and delta % native != np.timedelta64(0)):
        raise ValueError(f"cannot subsample steps of {pd.Timedelta(native)} to {step}: use a multiple of the step")
    keep = time.astype(np.int64) % delta.astype(np.int64) == 0
    if not keep.any():
        raise ValueError(f"no time stamp falls on a {step} step counted from 00 UTC")
    return ds.isel(time=np.flatnonzero(keep))


# -- writing canonical data back in a source's native layout (sample files for the readers) ---------


def native_fields(ds: xr.Dataset) -> dict[str, list[str]]:
    """Registry ids of ``ds`` grouped by native long name, level fields under their stem
    (``temperature`` -> ``t500``, ``t850``): the files or arrays a native layout stores."""
    groups: dict[str, list[str]] = {}
    for vid in map(str, ds.data_vars):
        var = VARIABLES[vid]
        stem = var.long_name.removesuffix(f"_{var.level}") if var.level is not None else var.long_name
        groups.setdefault(stem, []).append(vid)
    return groups


def stack_levels(ds: xr.Dataset, ids: list[str]) -> xr.DataArray:
    """The per-level fields ``ids`` of one quantity as one array on an ascending ``level`` axis (hPa)."""
    levels = [VARIABLES[v].level for v in ids]
    return xr.concat([ds[v] for v in ids], "level").assign_coords(level=levels).sortby("level")
