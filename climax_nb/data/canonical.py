"""Standard conversions into the canonical layout, done only when asked.

``validate`` never changes data; this module is the explicit, documented way
to turn the usual layouts of ERA5/WeatherBench/ClimaX files into ours.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import xarray as xr

from climax_nb.data.schema import CONSTANT_DIMS, TIME_DIMS, normalise_units
from climax_nb.variables import VARIABLES, UnknownVariableError, resolve

_COORD_ALIASES: dict[str, str] = {
    "latitude": "lat",
    "longitude": "lon",
    "valid_time": "time",
    "pressure_level": "level",
    "isobaricInhPa": "level",
}


def _rename_coords(ds: xr.Dataset) -> xr.Dataset:
    names = {old: new for old, new in _COORD_ALIASES.items() if old in ds.variables or old in ds.dims}
    names = {old: new for old, new in names.items() if new not in ds.variables and new not in ds.dims}
    return ds.rename(names) if names else ds


def _split_levels(ds: xr.Dataset, name: str, lexicon: Mapping[str, str]) -> dict[str, xr.DataArray]:
    """One variable per level (``temperature`` on ``level`` -> ``t500``, ``t850``, ...)."""
    da = ds[name]
    stem = lexicon.get(name, name)
    out: dict[str, xr.DataArray] = {}
    dropped: list[str] = []
    for level in ds["level"].values:
        label = f"{stem}_{int(level)}"
        try:
            vid = resolve(label).id
        except UnknownVariableError:
            dropped.append(label)
            continue
        out[vid] = da.sel(level=level, drop=True)
    if dropped:
        warnings.warn(f"canonicalize dropped levels the registry does not know: {', '.join(dropped)}", stacklevel=3)
    return out


def _rename_variables(ds: xr.Dataset, lexicon: Mapping[str, str]) -> xr.Dataset:
    fields: dict[str, xr.DataArray] = {}
    for name in ds.data_vars:
        name = str(name)
        if "level" in ds[name].dims:
            fields.update(_split_levels(ds, name, lexicon))
            continue
        try:
            vid = resolve(lexicon.get(name, name)).id
        except UnknownVariableError as err:
            raise UnknownVariableError(
                f"canonicalize cannot map variable {name!r} to a registry id: pass "
                f"lexicon={{'{name}': '<id>'}} or drop it first ({err})"
            ) from None
        if vid in fields:
            raise ValueError(f"variables {name!r} and another both map to id {vid!r}; drop one")
        fields[vid] = ds[name]
    coords = {k: v for k, v in ds.coords.items() if k != "level" and "level" not in v.dims}
    return xr.Dataset(fields, coords=coords, attrs=ds.attrs)


def _fix_lon(ds: xr.Dataset) -> xr.Dataset:
    lon = ds["lon"].values
    if np.any(lon < 0) or np.any(lon >= 360):
        ds = ds.assign_coords(lon=np.mod(lon, 360.0))
    return ds.sortby("lon") if np.any(np.diff(ds["lon"].values) <= 0) else ds


def _fix_fields(ds: xr.Dataset) -> xr.Dataset:
    for vid in list(ds.data_vars):
        var = VARIABLES[str(vid)]
        da = ds[vid]
        if var.kind == "constant" and "time" in da.dims:
            da = da.isel(time=0, drop=True)
        order = CONSTANT_DIMS if var.kind == "constant" else TIME_DIMS
        if set(da.dims) == set(order):
            da = da.transpose(*order)
        attrs = dict(da.attrs)
        attrs["units"] = normalise_units(str(attrs["units"])) if "units" in attrs else var.units
        attrs.setdefault("long_name", var.long_name)
        ds[vid] = da.astype(np.float32).assign_attrs(attrs)
    return ds


def canonicalize(ds: xr.Dataset, *, lexicon: Mapping[str, str] | None = None) -> xr.Dataset:
    """Rename, flip, roll and transpose ``ds`` into the canonical layout.

    - coordinates ``latitude``/``longitude``/``valid_time`` become ``lat``/``lon``/``time``;
    - variables are renamed to registry ids via ``lexicon`` (native name -> id or
      long name) and the registry's long names; a ``level`` dimension is split
      into one variable per level (levels the registry lacks are dropped with a warning);
    - latitude is sorted ascending, longitude mapped to [0, 360) and sorted;
    - dims are transposed to ``(time, lat, lon)``, values cast to float32, and
      missing ``units`` filled from the registry. Units that are present are
      never converted: ``validate`` reports any that differ.
    """
    ds = _rename_coords(ds)
    ds = _rename_variables(ds, lexicon or {})
    if "lat" in ds.coords and np.any(np.diff(ds["lat"].values) < 0):
        ds = ds.sortby("lat")
    if "lon" in ds.coords:
        ds = _fix_lon(ds)
    return _fix_fields(ds)
