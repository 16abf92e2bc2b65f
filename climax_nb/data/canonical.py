"""Standard conversions into the canonical layout, done only when asked.

``validate`` never changes data; this module is the explicit, documented way
to turn the usual layouts of ERA5/WeatherBench/ClimaX files into ours: files
opened with cfgrib, netCDF downloads from the Copernicus Climate Data Store
(CDS) and WeatherBench-style long names are recognised without a lexicon
(``climax_nb.data.sources.lexicons.NAMINGS`` lists the namings tried).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.data.schema import CONSTANT_DIMS, TIME_DIMS, normalise_units
from climax_nb.variables import PRESSURE_LEVELS, VARIABLES, UnknownVariableError, resolve

_COORD_ALIASES: dict[str, str] = {"latitude": "lat", "longitude": "lon", "valid_time": "time"}
#: Names of geopotential that, on a field without a pressure level, mean the surface's.
_GEOPOTENTIAL = ("geopotential", "z", "geopotential_at_surface")


def _lexicons() -> ModuleType:
    # imported here: the sources package imports this module, so a top-level import would be circular
    from climax_nb.data.sources import lexicons

    return lexicons


def _rename_coords(ds: xr.Dataset) -> xr.Dataset:
    lex = _lexicons()
    aliases = {**_COORD_ALIASES, **{name: "level" for name in lex.LEVEL_COORDS if name != "level"}}
    names = {old: new for old, new in aliases.items() if old in ds.variables or old in ds.dims}
    names = {old: new for old, new in names.items() if new not in ds.variables and new not in ds.dims}
    ds = ds.rename(names) if names else ds
    # cfgrib: ``time`` is when the forecast started and ``valid_time`` (time + step) when the field is valid
    if "valid_time" in ds.coords and ds["valid_time"].dims == ("time", "step"):
        ds = _stack_steps(ds)
    if "valid_time" in ds.coords and "time" in ds.coords and ds["valid_time"].dims == ds["time"].dims:
        ds = ds.assign_coords(time=ds["valid_time"].variable).drop_vars("valid_time")
    if "time" in ds.coords and ds["time"].ndim == 0:  # cfgrib opens a single time as a scalar
        ds = ds.expand_dims("time")
    grib = [c for c in lex.GRIB_COORDS if c in ds.coords and c not in ds.dims and set(ds[c].dims) <= {"time"}]
    return ds.drop_vars(grib)


def _stack_steps(ds: xr.Dataset) -> xr.Dataset:
    """cfgrib's ERA5 accumulations, on (forecast start ``time``, ``step``), on one axis of valid times."""
    valid = ds["valid_time"].values.ravel()
    flat = ds.drop_vars("valid_time").stack(_valid=("time", "step"))
    flat = flat.drop_vars(["_valid", "time", "step"]).rename(_valid="time").assign_coords(time=valid)
    keep = ~np.isnat(valid)
    keep[keep] = ~pd.Index(valid[keep]).duplicated()
    return flat.isel(time=np.flatnonzero(keep)).sortby("time")


@dataclass(frozen=True)
class _Field:
    """Where one registry id comes from: a native variable, at a level or not."""

    name: str
    level: float | None = None
    surface_geopotential: bool = False


@dataclass
class _Plan:
    """The ids a naming gives a dataset, and what it leaves out (and why)."""

    fields: dict[str, _Field]
    unknown: list[str]
    hourly: list[str]
    levels: list[str]
    recognised: int


def _level_id(stem: str, level: float) -> str | None:
    """The id of ``stem`` (a prefix ``t`` or a long stem ``temperature``) at ``level`` hPa."""
    lex = _lexicons()
    if lex.is_level_prefix(stem):
        return lex.level_id(stem, level)
    if abs(level - round(level)) > 1e-6:
        return None
    try:
        var = resolve(f"{stem}_{round(level)}")
    except UnknownVariableError:
        return None
    return var.id if var.level is not None else None


def _is_level_stem(stem: str) -> bool:
    return _level_id(stem, PRESSURE_LEVELS[0]) is not None


def _plan(ds: xr.Dataset, lexicon: Mapping[str, str]) -> _Plan:
    """Map every data variable of ``ds`` to registry ids under ``lexicon`` (and the registry's names)."""
    lex = _lexicons()
    plan = _Plan({}, [], [], [], 0)
    scalar_level = "level" in ds.coords and ds["level"].ndim == 0
    for name in map(str, ds.data_vars):
        da = ds[name]
        target = lexicon.get(name, name)
        found: dict[str, _Field] = {}
        if "level" in da.dims and not _is_level_stem(target):
            plan.unknown.append(name)
        elif "level" in da.dims or (scalar_level and _is_level_stem(target)):
            levels = np.atleast_1d(ds["level"].values).astype(float)
            for level in levels:
                vid = _level_id(target, float(level))
                if vid is None:
                    plan.levels.append(f"{target}_{level:g}")
                else:
                    found[vid] = _Field(name, float(level) if "level" in da.dims else None)
        elif target in _GEOPOTENTIAL:
            found["orography"] = _Field(name, surface_geopotential=True)
        elif name in lex.HOURLY_ACCUMULATIONS and name not in lexicon:
            plan.hourly.append(name)
        else:
            try:
                vid = resolve(target).id
            except UnknownVariableError:
                vid = None
            if vid is None or vid == "lat":  # ``lat`` (ClimaX's lattitude) is the coordinate itself
                plan.unknown.append(name)
            else:
                found[vid] = _Field(name)
        for vid, where in found.items():
            if vid in plan.fields:
                raise ValueError(f"variables {plan.fields[vid].name!r} and {name!r} both map to id {vid!r}; drop one")
            plan.fields[vid] = where
        plan.recognised += bool(found)
    return plan


def _choose(ds: xr.Dataset, lexicon: Mapping[str, str] | None) -> tuple[str, _Plan]:
    """The plan under ``lexicon``, or under the naming that recognises the most variables."""
    if lexicon is not None:
        return "the lexicon passed", _plan(ds, lexicon)
    best: tuple[str, _Plan] | None = None
    for label, naming in _lexicons().NAMINGS:
        plan = _plan(ds, naming)
        if best is None or plan.recognised > best[1].recognised:
            best = (label, plan)
    assert best is not None
    return best


def _nothing_recognised(ds: xr.Dataset, label: str, plan: _Plan, tried_all: bool) -> UnknownVariableError:
    found = ", ".join(f"{name} {tuple(map(str, ds[name].dims))}" for name in map(str, ds.data_vars)) or "none"
    tried = "; ".join(n for n, _ in _lexicons().NAMINGS) if tried_all else label
    why = []
    if plan.levels:
        why.append(f"levels the registry lacks ({', '.join(plan.levels)})")
    if plan.hourly:
        why.append(f"1-hour precipitation totals ({', '.join(plan.hourly)}), which are not tp6h")
    example = next(iter(map(str, ds.data_vars)), "name")
    return UnknownVariableError(
        f"canonicalize recognised none of the variables it found: {found}"
        + (f" (only {'; '.join(why)})" if why else "")
        + f". Namings tried: {tried}. Pass lexicon={{'{example}': '<registry id or long name>'}} "
        "(a level field maps to an id prefix such as 't'); climax_nb.variables.VARIABLES lists the ids"
    )


def _warn_dropped(plan: _Plan) -> None:
    if plan.levels:
        warnings.warn(
            f"canonicalize dropped levels the registry does not know: {', '.join(plan.levels)}", stacklevel=3
        )
    if plan.unknown:
        first = plan.unknown[0]
        warnings.warn(
            f"canonicalize dropped variables with no registry id: {', '.join(plan.unknown)}; "
            f"pass lexicon={{'{first}': '<registry id>'}} to keep one (climax_nb.variables.VARIABLES "
            "lists the ids) or drop them before canonicalize",
            stacklevel=3,
        )
    if plan.hourly:
        first = plan.hourly[0]
        warnings.warn(
            f"canonicalize dropped {', '.join(plan.hourly)}: 1-hour precipitation totals (as ERA5 stores "
            f"them) are not tp6h. Sum six consecutive hours (ds['{first}'].rolling(time=6).sum()) into tp6h, "
            f"or pass lexicon={{'{first}': 'tp6h'}} if the file already holds 6-hour totals",
            stacklevel=3,
        )


def _build(ds: xr.Dataset, plan: _Plan) -> xr.Dataset:
    fields: dict[str, xr.DataArray] = {}
    order = {vid: i for i, vid in enumerate(VARIABLES)}
    for vid, where in sorted(plan.fields.items(), key=lambda item: order[item[0]]):
        da = ds[where.name]
        if "level" in da.dims:
            da = da.sel(level=where.level, drop=True)
        elif "level" in da.coords:
            da = da.drop_vars("level")
        if where.surface_geopotential:
            units = normalise_units(str(da.attrs.get("units", "")))
            if units == "m2 s-2":  # orography is a height: ERA5 and WeatherBench 2 store g times it
                da = (da / _lexicons().G).assign_attrs({**da.attrs, "units": "m"})
            da = da.assign_attrs(long_name=VARIABLES["orography"].long_name)
        fields[vid] = da
    coords = {k: v.variable for k, v in ds.coords.items() if k != "level" and "level" not in v.dims}
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
    if "time" in ds.dims and not any("time" in ds[v].dims for v in ds.data_vars):
        ds = ds.drop_dims("time")  # constants only: the time axis they were stored on means nothing
    return ds


def canonicalize(ds: xr.Dataset, *, lexicon: Mapping[str, str] | None = None) -> xr.Dataset:
    """Rename, flip, roll and transpose ``ds`` into the canonical layout.

    - coordinates ``latitude``/``longitude``/``valid_time`` become ``lat``/``lon``/``time``,
      pressure levels (``level``, cfgrib's ``isobaricInhPa``, the CDS's ``pressure_level``)
      become ``level``; GRIB bookkeeping (``number``, ``step``, ``surface``, ``expver``) is dropped;
    - variables are renamed to registry ids via ``lexicon`` (native name -> id or long name;
      for level fields an id prefix ``t`` or long stem ``temperature``) and the registry's
      own ids and long names. Without a lexicon the namings in ``lexicons.NAMINGS``
      (registry names, then ERA5/GRIB short names) are tried and the one recognising
      the most variables is used. A ``level`` dimension (or scalar coordinate) is split
      into one id per level;
    - what has no id is dropped with a warning naming it: levels the registry lacks,
      variables it does not know (``msl``) and 1-hour precipitation (ERA5 ``tp``), which
      is not ``tp6h``. If nothing at all is recognised, ``UnknownVariableError`` (a
      ``ValueError``) lists the variables found and how to pass a lexicon;
    - latitude is sorted ascending, longitude mapped to [0, 360) and sorted;
    - dims are transposed to ``(time, lat, lon)`` (constants lose their time axis), values
      cast to float32, unit spellings normalised (``m**2 s**-2`` -> ``m2 s-2``) and missing
      ``units`` filled from the registry. Units are never converted, with one exception:
      geopotential without a level (ERA5's surface ``z``, WeatherBench 2's
      ``geopotential_at_surface``) in m2 s-2 becomes ``orography`` in m, divided by g.
      ``validate`` reports any other units that differ from the registry's.
    """
    raw, ds = ds, _rename_coords(ds)
    label, plan = _choose(ds, lexicon)
    if not plan.fields:
        raise _nothing_recognised(raw, label, plan, tried_all=lexicon is None)
    _warn_dropped(plan)
    ds = _build(ds, plan)
    if "lat" in ds.coords and np.any(np.diff(ds["lat"].values) < 0):
        ds = ds.sortby("lat")
    if "lon" in ds.coords:
        ds = _fix_lon(ds)
    return _fix_fields(ds)
