"""CMIP6 model output: CMOR-named NetCDF files, converted to registry units and regridded.

Files follow CMIP6's data reference syntax,
``<variable>_<table>_<model>_<experiment>_<member>_<grid>[_<start>-<end>].nc``, e.g.
``ta_6hrPlevPt_MPI-ESM1-2-HR_historical_r1i1p1f1_gn_185001010600-185501010000.nc`` or
``orog_fx_MPI-ESM1-2-HR_historical_r1i1p1f1_gn.nc``, in one folder or below it.

- Fields on ``plev`` (Pa) become one id per registry level (``ta`` at 85000 Pa -> ``t850``).
- Units: ``zg`` m -> ``z`` m2 s-2 (x g = 9.80665), ``sftlf`` % -> ``lsm`` fraction, ``hus``
  "1" -> kg kg-1, ``pr`` kg m-2 s-1 -> ``tp6h`` m (x 21600 s / 1000 kg m-3, 6-hourly means
  only), ``rsdt`` W m-2 -> ``tisr`` J m-2 over an hour (x 3600; for a time mean this is
  the mean hour of the interval, not the last one).
- Time means (``pr``, ``rsdt``) are stamped at the end of their interval (``time_bnds``),
  as accumulations are. ``noleap``/``360_day`` calendars become the standard calendar;
  days that do not exist there are dropped, days it has and the model lacks are gaps.
- Latitude is made ascending, longitude [0, 360), and everything is conservatively
  regridded (``regrid``) to ``grid``, WeatherBench's 5.625 degrees by default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from climax_nb.data.regrid import regrid
from climax_nb.data.select import NotInSourceError, select_years
from climax_nb.data.sources._common import (
    CHUNKS,
    as_years,
    convert,
    finish,
    in_registry_order,
    native_step,
    open_file,
    wanted_ids,
    wanted_years,
)
from climax_nb.data.sources.lexicons import CMIP6, CMIP6_CONVERSIONS, is_level_prefix, level_id, target_units
from climax_nb.grid import WB5625, Grid

DRS = re.compile(
    r"^(?P<variable>[A-Za-z0-9]+)_(?P<table>[A-Za-z0-9]+)_(?P<model>[^_]+)_(?P<experiment>[^_]+)_"
    r"(?P<member>[^_]*r\d+i\d+p\d+f\d+)_(?P<grid>g[a-z0-9]+)(?:_(?P<start>\d{4,12})-(?P<end>\d{4,12}))?\.nc$"
)
#: Variables stored as means over an interval, stamped at its end here.
TIME_MEANS: frozenset[str] = frozenset({"pr", "rsdt"})
_SIX_HOURS = np.timedelta64(6, "h")

Files = dict[str, list[Path]]


def _nc_files(path: Path, pattern: str) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob(pattern) if DRS.match(p.name))


def looks_like(path: str) -> bool:
    """A NetCDF file, or a folder of them, named by the CMIP6 data reference syntax."""
    root = Path(path)
    if root.is_file():
        return DRS.match(root.name) is not None
    return root.is_dir() and any(DRS.match(p.name) for p in [*root.glob("*.nc"), *root.glob("*/*.nc")])


def _group(root: Path, pattern: str) -> Files:
    """Files per known CMOR variable, refusing a mix of runs, or of tables for one variable."""
    files = _nc_files(root, pattern)
    if not files:
        raise FileNotFoundError(f"no CMIP6 files (<variable>_<table>_<model>_..._<grid>[_<period>].nc) in {root}")
    matches = {p: m for p in files if (m := DRS.match(p.name)) and m["variable"] in CMIP6}
    runs = {(m["model"], m["experiment"], m["member"]) for m in matches.values() if m["table"] != "fx"}
    if len(runs) > 1:
        names = ", ".join("_".join(r) for r in sorted(runs))
        raise ValueError(f"{root} mixes several runs ({names}): pass pattern='*<model>_<experiment>_<member>*'")
    groups: Files = {}
    tables: dict[str, set[str]] = {}
    for path, match in matches.items():
        groups.setdefault(match["variable"], []).append(path)
        tables.setdefault(match["variable"], set()).add(match["table"])
    mixed = {v: sorted(t) for v, t in tables.items() if len(t) > 1}
    if mixed:
        raise ValueError(f"{root} holds variables from several tables {mixed}: pass pattern= to pick one")
    return groups


def _years(path: Path) -> range | None:
    match = DRS.match(path.name)
    if match is None or match["start"] is None:
        return None
    return range(int(match["start"][:4]), int(match["end"][:4]) + 1)


def _catalog(groups: Files) -> dict[str, tuple[str, float | None]]:
    """id -> (CMOR variable, plev in Pa to select or None)."""
    catalog: dict[str, tuple[str, float | None]] = {}
    for variable, paths in groups.items():
        target = CMIP6[variable]
        if not is_level_prefix(target):
            catalog[target] = (variable, None)
            continue
        for plev in open_file(paths[0], chunks=CHUNKS)["plev"].values:
            if (vid := level_id(target, float(plev) / 100)) is not None:
                catalog[vid] = (variable, float(plev))
    return {vid: catalog[vid] for vid in in_registry_order(catalog)}


def _open_part(path: Path, variable: str) -> xr.DataArray:
    ds = open_file(path, chunks=CHUNKS)
    if variable not in ds:
        raise OSError(f"{path}: no variable {variable!r} (it has {list(ds.data_vars)})")
    da = ds[variable]
    bounds = ds["time"].attrs.get("bounds", "time_bnds") if "time" in ds.dims else None
    if variable in TIME_MEANS and bounds in ds:
        da = da.assign_coords(time=ds[bounds].values[:, -1])
    return da


def _standard_calendar(da: xr.DataArray) -> xr.DataArray:
    if "time" not in da.dims or np.issubdtype(da["time"].dtype, np.datetime64):
        return da
    calendar = da["time"].dt.calendar
    align = "date" if calendar == "360_day" else None
    return da.convert_calendar("standard", align_on=align, use_cftime=False)


def _overlaps(path: Path, years: list[int] | None) -> bool:
    span = _years(path)
    return years is None or span is None or not set(span).isdisjoint(years)


def _read_variable(variable: str, paths: list[Path], years: list[int] | None) -> xr.DataArray:
    """One CMOR variable over ``years``, on the standard calendar, in registry units."""
    parts = [_open_part(p, variable) for p in paths if _overlaps(p, years)]
    if not parts:
        spans = sorted({y for p in paths for y in (_years(p) or ())})
        raise NotInSourceError(f"{variable} has no files for year(s) {years}; its files cover {spans}")
    da = _standard_calendar(parts[0] if len(parts) == 1 else xr.concat(parts, dim="time"))
    step = native_step(da["time"].values) if "time" in da.dims else None
    if variable == "pr" and step not in (None, _SIX_HOURS):
        raise ValueError(f"pr is stored every {step / np.timedelta64(1, 'h'):g} h; tp6h needs 6-hourly means (6hrPlev)")
    return convert(da, CMIP6_CONVERSIONS.get(variable), target_units(CMIP6[variable]))


def open_cmip6(
    path: str | Path,
    variables: Sequence[str] | None = None,
    years: Iterable[int] | int | None = None,
    *,
    grid: Grid | None = WB5625,
    pattern: str = "*.nc",
) -> xr.Dataset:
    """Read CMIP6 files lazily as a canonical Dataset on ``grid`` (None keeps the model grid).

    ``pattern`` picks files below ``path`` (e.g. ``"*MPI-ESM1-2-HR_historical_r1i1p1f1*"``)
    when a folder holds several runs or tables.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"no such file or directory: {root}")
    groups = _group(root, pattern)
    catalog = _catalog(groups)
    ids = wanted_ids(variables, catalog, str(root))
    spans = [y for paths in groups.values() for p in paths for y in (_years(p) or ())]
    picked = wanted_years(years, spans, str(root)) if spans else as_years(years)
    opened: dict[str, xr.DataArray] = {}
    fields: dict[str, xr.DataArray] = {}
    for vid in ids:
        variable, plev = catalog[vid]
        if variable not in opened:
            opened[variable] = _read_variable(variable, groups[variable], picked)
        da = opened[variable]
        if plev is not None:
            da = da.isel(plev=int(np.argmin(np.abs(da["plev"].values - plev))))
        fields[vid] = da
    ds = finish(fields, str(root))
    if picked is not None:
        ds = select_years(ds, picked, str(root))
    return ds if grid is None else regrid(ds, grid)
