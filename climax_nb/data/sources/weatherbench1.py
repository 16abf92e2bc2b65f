"""WeatherBench 1: one folder per variable of yearly NetCDF files, plus a constants file.

Layout (the same at 5.625, 2.8125 and 1.40625 degrees)::

    <root>/2m_temperature/2m_temperature_1979_5.625deg.nc             t2m (time, lat, lon)
    <root>/geopotential_500/geopotential_500hPa_1979_5.625deg.nc      z, scalar ``level`` coordinate
    <root>/temperature/temperature_1979_5.625deg.nc                   t (time, level, lat, lon), 13 levels
    <root>/total_precipitation/total_precipitation_1979_5.625deg.nc   tp, 1-hour totals in m
    <root>/constants/constants_5.625deg.nc                            orography, lsm, slt, lat2d, lon2d

Files are hourly and are returned hourly (``open_dataset(..., step="6h")`` subsamples).
``tp`` becomes ``tp6h`` by summing six 1-hour totals, reading the previous year's
file for the first hours of a year when it is there. ClimaX's flat ``constants.nc``
beside the folders is read too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import xarray as xr

from climax_nb.data.sources._common import (
    CHUNKS,
    accumulate_6h,
    finish,
    in_registry_order,
    native_fields,
    open_file,
    stack_levels,
    wanted_ids,
    wanted_years,
)
from climax_nb.data.sources.lexicons import (
    HOURLY_ACCUMULATIONS,
    WEATHERBENCH1,
    WEATHERBENCH1_CONSTANTS,
    field_id,
    is_level_prefix,
    level_id,
)
from climax_nb.variables import VARIABLES

_YEARLY = re.compile(r"_(\d{4})_(\d+(?:\.\d+)?)deg\.nc$")
_RESOLUTION = re.compile(r"_(\d+(?:\.\d+)?)deg\.nc$")

Files = dict[int, Path]


def looks_like(path: str) -> bool:
    """A folder with ``constants/`` or per-variable folders of ``<name>_<year>_<res>deg.nc``."""
    root = Path(path)
    if not root.is_dir() or (root / "normalize_mean.npz").exists():
        return False
    return (root / "constants").is_dir() or any(_YEARLY.search(p.name) for p in root.glob("*/*.nc"))


def _scan(root: Path, resolution: float | None) -> tuple[dict[str, Files], float | None]:
    """Yearly files per folder, for the one resolution present (or asked for)."""
    folders: dict[str, Files] = {}
    found: set[float] = set()
    for path in sorted(root.glob("*/*.nc")):
        match = _YEARLY.search(path.name)
        if path.parent.name == "constants" or match is None:
            continue
        res = float(match.group(2))
        if resolution is None or res == resolution:
            found.add(res)
            folders.setdefault(path.parent.name, {})[int(match.group(1))] = path
    if len(found) > 1:
        raise ValueError(f"{root} holds files at several resolutions {sorted(found)}: pass resolution=")
    if resolution is not None and not found:
        raise FileNotFoundError(f"{root} has no yearly files at {resolution} degrees")
    return folders, (found.pop() if found else resolution)


def _data_var(ds: xr.Dataset, path: Path) -> xr.DataArray:
    names = [str(n) for n in ds.data_vars]
    if len(names) != 1:
        raise OSError(f"{path}: expected one variable per WeatherBench file, found {names or 'none'}")
    return ds[names[0]]


def _catalog(folders: dict[str, Files]) -> dict[str, tuple[str, int | None]]:
    """id -> (folder, level to select or None); single-level folders win over full ones."""
    catalog: dict[str, tuple[str, int | None]] = {}
    singles: dict[str, tuple[str, int | None]] = {}
    for folder, files in folders.items():
        target = WEATHERBENCH1.get(folder)
        if target is not None and is_level_prefix(target):
            levels = open_file(files[min(files)], chunks=CHUNKS)["level"].values
            for level in levels:
                if (vid := level_id(target, float(level))) is not None:
                    catalog[vid] = (folder, int(level))
        elif (vid := field_id(folder, WEATHERBENCH1)) is not None:
            singles[vid] = (folder, None)
    return catalog | singles


def _constants_file(root: Path, resolution: float | None) -> Path | None:
    files = sorted((root / "constants").glob("*.nc")) + sorted(root.glob("constants.nc"))
    tags = {f: _RESOLUTION.search(f.name) for f in files}
    files = [f for f, tag in tags.items() if tag is None or resolution is None or float(tag.group(1)) == resolution]
    return files[0] if files else None


def _open_years(files: Files, years: list[int] | None) -> xr.DataArray:
    chosen = sorted(files) if years is None else sorted(y for y in files if y in years)
    parts = [_data_var(open_file(files[y], chunks=CHUNKS), files[y]) for y in chosen]
    return parts[0] if len(parts) == 1 else xr.concat(parts, dim="time")


def _read_folder(root: Path, folder: str, files: Files, years: list[int] | None) -> xr.DataArray:
    """One folder's variable over ``years``; 1-hour totals become 6-hour totals."""
    if folder not in HOURLY_ACCUMULATIONS:
        return _open_years(files, years)
    with_previous = None if years is None else sorted({y - 1 for y in years} | set(years))
    total = accumulate_6h(_open_years(files, with_previous), f"{root / folder}")
    return total if years is None else total.sel(time=total["time"].dt.year.isin(years))


def open_weatherbench1(
    root: str | Path,
    variables: Sequence[str] | None = None,
    years: Iterable[int] | int | None = None,
    *,
    resolution: float | None = None,
) -> xr.Dataset:
    """Read a WeatherBench 1 folder lazily as a canonical Dataset (hourly, ``tp`` as ``tp6h``).

    ``resolution`` picks one grid when the folders hold files at several.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such WeatherBench 1 folder: {root}")
    folders, resolution = _scan(root, resolution)
    catalog = _catalog(folders)
    constants_path = _constants_file(root, resolution)
    constants = open_file(constants_path, chunks={}) if constants_path else xr.Dataset()
    constant_ids = {vid: name for name, vid in WEATHERBENCH1_CONSTANTS.items() if name in constants}
    ids = wanted_ids(variables, in_registry_order([*catalog, *constant_ids]), str(root))

    fields: dict[str, xr.DataArray] = {}
    opened: dict[str, xr.DataArray] = {}
    for vid in ids:
        if vid in constant_ids:
            fields[vid] = constants[constant_ids[vid]]
            continue
        folder, level = catalog[vid]
        if folder not in opened:
            picked = wanted_years(years, folders[folder], str(root / folder))
            opened[folder] = _read_folder(root, folder, folders[folder], picked)
        fields[vid] = opened[folder] if level is None else opened[folder].sel(level=level)
    return finish(fields, str(root))


def write_weatherbench1_sample(ds: xr.Dataset, root: str | os.PathLike, resolution: str = "5.625deg") -> Path:
    """Write a canonical dataset as a WeatherBench 1 folder (``<name>/<name>_<year>_<res>.nc`` and
    ``constants/``), so that ``open_weatherbench1`` can be tried and tested without a download.

    WeatherBench 1 stores hourly 1-hour precipitation, which a 6-hourly dataset cannot
    give, so ``tp6h`` is left out.
    """
    root = Path(root)
    for stem, ids in native_fields(ds).items():
        timed = [v for v in ids if "time" in ds[v].dims and v != "tp6h"]
        if not timed:
            continue
        data = stack_levels(ds, timed) if VARIABLES[timed[0]].level is not None else ds[timed[0]]
        (root / stem).mkdir(parents=True, exist_ok=True)
        for year, part in data.groupby("time.year"):
            part.rename(stem).to_dataset().to_netcdf(root / stem / f"{stem}_{year}_{resolution}.nc")
    constants = [v for v in ("orography", "lsm") if v in ds.data_vars]
    (root / "constants").mkdir(parents=True, exist_ok=True)
    ds[constants].to_netcdf(root / "constants" / f"constants_{resolution}.nc")
    return root
