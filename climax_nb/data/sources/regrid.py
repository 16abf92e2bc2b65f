"""Conservative regridding of canonical datasets to a target grid (xarray-regrid).

Used for CMIP6 output and any grid that is not one of WeatherBench's; the
area-weighted mean of each field is kept. Global grids wrap in longitude, so the
cells next to 0° take their share from both sides of the seam.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from climax_nb.grid import WB5625, Grid


def _wrap_lon(ds: xr.Dataset) -> xr.Dataset:
    """Pad a global dataset with one wrapped column at each end of longitude."""
    lon = ds["lon"].values
    step = float(np.median(np.diff(lon))) if len(lon) > 1 else 360.0
    if abs(lon[-1] - lon[0] + step - 360.0) > 1e-3 * step:
        return ds
    west = ds.isel(lon=[-1]).assign_coords(lon=[lon[-1] - 360.0])
    east = ds.isel(lon=[0]).assign_coords(lon=[lon[0] + 360.0])
    return xr.concat([west, ds, east], dim="lon", data_vars="minimal", coords="minimal", compat="override")


def regrid(ds: xr.Dataset, grid: Grid = WB5625) -> xr.Dataset:
    """``ds`` (canonical: lat ascending, lon in [0, 360)) conservatively regridded to ``grid``.

    Target points outside the source's latitude range come back as NaN, which
    ``validate`` reports; an already matching grid is returned unchanged.
    """
    if grid.matches(ds["lat"].values, ds["lon"].values):
        return ds
    import xarray_regrid  # noqa: F401 - registers the ``.regrid`` accessor; needed only here

    target = xr.Dataset(coords={"lat": grid.lat, "lon": grid.lon})
    out = _wrap_lon(ds).regrid.conservative(target, latitude_coord="lat")
    for name, da in ds.data_vars.items():
        out[name] = out[name].astype(np.float32).assign_attrs(da.attrs)
    return out.assign_attrs(ds.attrs)
