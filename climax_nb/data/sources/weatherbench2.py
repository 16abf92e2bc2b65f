"""WeatherBench 2: ERA5 zarr stores, opened lazily with dask, from the public bucket or a copy.

The public stores (anonymous access) live under ``gs://weatherbench2/datasets/era5/``;
``store_url("64x32")`` spells the full address of the common ones. Variables carry
long names (``2m_temperature``; ``geopotential`` on ``level`` in hPa;
``total_precipitation_6hr``; ``geopotential_at_surface`` in m2 s-2, returned as
``orography`` in m). The low-resolution stores order dims ``(time, level, longitude,
latitude)`` and some grids include the poles (240 x 121) or run north to south;
all come back as ``(time, lat, lon)`` with latitude ascending and longitude in [0, 360).
Only the variables, levels and years asked for are ever read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import xarray as xr

from climax_nb.data.regrid import regrid
from climax_nb.data.sources._common import (
    convert,
    finish,
    in_registry_order,
    native_fields,
    open_file,
    stack_levels,
    wanted_ids,
    wanted_years,
)
from climax_nb.data.sources.lexicons import WEATHERBENCH2, WEATHERBENCH2_CONVERSIONS, G, is_level_prefix, level_id
from climax_nb.grid import Grid
from climax_nb.variables import VARIABLES

BUCKET = "gs://weatherbench2/datasets/era5/"

#: ERA5 stores of the public bucket, by grid (longitude x latitude points).
STORES: dict[str, str] = {
    "64x32": "1959-2023_01_10-6h-64x32_equiangular_conservative.zarr",
    "240x121": "1959-2023_01_10-6h-240x121_equiangular_with_poles_conservative.zarr",
    "1440x721": "1959-2023_01_10-wb13-6h-1440x721_with_derived_variables.zarr",
}


def store_url(grid: str = "64x32") -> str:
    """The ``gs://`` address of the public ERA5 store on ``grid`` (a key of ``STORES``)."""
    if grid not in STORES:
        raise ValueError(f"no WeatherBench 2 ERA5 store for grid {grid!r}: choose one of {list(STORES)}")
    return BUCKET + STORES[grid]


def looks_like(path: str) -> bool:
    """A ``.zarr`` in the WeatherBench 2 bucket, or a local one with ``latitude``/``longitude`` arrays."""
    path = path.rstrip("/")
    if not path.endswith(".zarr"):
        return False
    return "weatherbench2" in path or ((Path(path) / "latitude").is_dir() and (Path(path) / "longitude").is_dir())


def open_store(path: str, storage_options: dict[str, Any] | None = None) -> xr.Dataset:
    """Open the store lazily; ``gs://`` addresses are read anonymously unless a token is given."""
    options = dict(storage_options or {})
    if path.startswith("gs://"):
        options.setdefault("token", "anon")
    elif "://" not in path and not Path(path).exists():
        raise FileNotFoundError(f"no such zarr store: {path}")
    kwargs: dict[str, Any] = {"chunks": {}}
    if options:
        kwargs["storage_options"] = options
    return open_file(path, xr.open_zarr, **kwargs)


def _catalog(ds: xr.Dataset) -> dict[str, tuple[str, int | None]]:
    """id -> (store variable, level to select or None)."""
    catalog: dict[str, tuple[str, int | None]] = {}
    for name, da in ds.data_vars.items():
        target = WEATHERBENCH2.get(str(name))
        if target is None or is_level_prefix(target) != ("level" in da.dims):
            continue
        if "level" not in da.dims:
            catalog[target] = (str(name), None)
            continue
        for level in ds["level"].values:
            if (vid := level_id(target, float(level))) is not None:
                catalog[vid] = (str(name), int(level))
    return {vid: catalog[vid] for vid in in_registry_order(catalog)}


def open_weatherbench2(
    path: str,
    variables: Sequence[str] | None = None,
    years: Iterable[int] | int | None = None,
    *,
    storage_options: dict[str, Any] | None = None,
    grid: Grid | None = None,
) -> xr.Dataset:
    """Read a WeatherBench 2 ERA5 zarr store lazily as a canonical Dataset.

    ``storage_options`` go to fsspec (``gs://`` defaults to anonymous access); ``grid``
    regrids conservatively (e.g. the 240 x 121 grid with poles to ``Grid.weatherbench(1.40625)``).
    """
    ds = open_store(path, storage_options)
    catalog = _catalog(ds)
    ids = wanted_ids(variables, catalog, path)
    picked = wanted_years(years, ds["time"].dt.year.values, path) if "time" in ds.dims else None
    if picked is not None:
        ds = ds.sel(time=ds["time"].dt.year.isin(picked))
    fields: dict[str, xr.DataArray] = {}
    for vid in ids:
        name, level = catalog[vid]
        da = ds[name] if level is None else ds[name].sel(level=level)
        fields[vid] = convert(da, WEATHERBENCH2_CONVERSIONS.get(name), VARIABLES[vid].units)
    ds = finish(fields, path)
    return ds if grid is None else regrid(ds, grid)


def write_weatherbench2_sample(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write a canonical dataset as a WeatherBench 2 ERA5 store (long names, one ``level`` axis,
    ``(time, level, longitude, latitude)`` order, surface geopotential instead of orography),
    so that ``open_weatherbench2`` can be tried and tested without the bucket.

    The store has one ``level`` axis for all level fields, so only the levels every level
    field has are written.
    """
    groups = native_fields(ds)
    level_sets = [{VARIABLES[v].level for v in ids} for ids in groups.values() if VARIABLES[ids[0]].level is not None]
    shared = set.intersection(*level_sets) if level_sets else set()
    fields = {}
    for stem, ids in groups.items():
        if ids == ["orography"]:
            fields["geopotential_at_surface"] = (ds["orography"] * G).assign_attrs(units="m2 s-2")
        elif VARIABLES[ids[0]].level is not None:
            fields[stem] = stack_levels(ds, [v for v in ids if VARIABLES[v].level in shared])
        else:
            fields[stem] = ds[ids[0]]
    out = xr.Dataset(fields).rename(lat="latitude", lon="longitude")
    out = out.transpose(*[d for d in ("time", "level", "longitude", "latitude") if d in out.dims])
    out.to_zarr(path, zarr_format=2, consolidated=True, mode="w")
    return Path(path)
