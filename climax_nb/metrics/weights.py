"""Area weights and the area-weighted spatial mean every metric reduces with."""

from __future__ import annotations

import numpy as np
import xarray as xr

from climax_nb.grid import Grid


def lat_weights(lat: xr.DataArray | np.ndarray) -> xr.DataArray:
    """Cell-area weights per latitude, normalised to mean 1 (as WeatherBench 2's ``get_lat_weights``).

    On a box (a regional forecast's rows) these are the box's own weights: each row's cell area
    (edges halfway between centres, ``climax_nb.grid.lat_bounds_from_centers``) over the box's mean,
    the same as WeatherBench 2's global weights restricted to the box's rows and renormalised.
    """
    lat = np.asarray(lat, dtype=np.float64)
    w = Grid(lat, np.zeros(1)).area_weights()
    return xr.DataArray(w, dims="lat", coords={"lat": lat}, name="lat_weight")


def spatial_mean(x: xr.Dataset | xr.DataArray) -> xr.Dataset | xr.DataArray:
    """Area-weighted mean over (lat, lon); weights have mean 1, so a plain mean of ``w * x`` is exact."""
    return (x * lat_weights(x["lat"])).mean(("lat", "lon"))
