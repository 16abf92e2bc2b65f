"""The verifying data behind the dashboard: which dataset, which years to forecast, which to build a climatology.

The embedded reanalysis follows the package's split (forecast the test year,
climatology from the training years); any other dataset forecasts the years
asked for and builds its climatology from ``clim_years`` (default: the same
years, flagged as in-sample in the page).
"""

from __future__ import annotations

from dataclasses import dataclass

import xarray as xr

from climax_nb.dashboard.errors import DashboardError
from climax_nb.dashboard.settings import DataSpec


def _open(spec: DataSpec, years: tuple[int, ...] | None) -> xr.Dataset:
    from climax_nb.data import open_dataset
    from climax_nb.data.open import embedded_name

    name = embedded_name(spec.path)
    if name is not None:
        from climax_nb.data import embedded
        from climax_nb.data.embedded.cache import MANIFEST, source_dir

        if name not in embedded.sources():
            raise DashboardError(f"unknown embedded source {name!r}; choose one of {sorted(embedded.sources())}")
        if not (source_dir(name, spec.cache_dir) / MANIFEST).exists():
            raise DashboardError(
                f"the embedded source {name!r} has not been generated yet (no cache in "
                f"{source_dir(name, spec.cache_dir)}); run `climax-nb data --source {name}` first, "
                "or pass --data <path>"
            )
        return embedded.open_source(name, years=list(years) if years else None, length=spec.days,
                                    cache_dir=spec.cache_dir, progress=False)
    try:
        return open_dataset(spec.path, years=list(years) if years else None)
    except (OSError, ValueError) as err:
        raise DashboardError(f"cannot open the data {spec.path}: {err}; pass --data embedded/<source> or a "
                             "canonical NetCDF/zarr file or folder") from err


def _years(ds: xr.Dataset) -> tuple[int, ...]:
    return tuple(sorted({int(y) for y in ds["time"].dt.year.values})) if "time" in ds.dims else ()


@dataclass
class Truth:
    """The verifying dataset, the climatology source and the years each covers."""

    data: xr.Dataset
    clim_source: xr.Dataset
    clim_years: tuple[int, ...]
    in_sample: bool


def open_truth(spec: DataSpec) -> Truth:
    """Open the data for forecasting and scoring, following the package's year split where it applies."""
    everything = _open(spec, None)
    have = _years(everything)
    years, clim_years = spec.years, spec.clim_years
    if spec.path == "embedded/reanalysis" and spec.days is None:
        from climax_nb.defaults import REANALYSIS_TEST, REANALYSIS_TRAIN

        if years is None and set(REANALYSIS_TEST) <= set(have):
            years = REANALYSIS_TEST
        if clim_years is None and set(REANALYSIS_TRAIN) <= set(have):
            clim_years = REANALYSIS_TRAIN
    absent = sorted(set(years or ()) - set(have)) + sorted(set(clim_years or ()) - set(have))
    if absent:
        raise DashboardError(f"the data {spec.path} has no year(s) {sorted(set(absent))}; it has {list(have)}: "
                             "choose --years / --clim-years among them")
    data = everything.sel(time=everything["time"].dt.year.isin(list(years))) if years else everything
    clim_years = clim_years or _years(data)
    clim_source = everything.sel(time=everything["time"].dt.year.isin(list(clim_years)))
    return Truth(data, clim_source, tuple(clim_years), in_sample=bool(set(clim_years) & set(_years(data))))
