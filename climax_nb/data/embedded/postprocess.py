"""Native model chunks -> canonical datasets on the WeatherBench grid.

Order of operations: interpolate to pressure levels on the model grid (where
each column's own surface pressure is known), then regrid conservatively to
the target grid (the source's ``grid_resolution``), then convert units to the registry's (ERA5/WeatherBench)
conventions and keep the variables the source archives. The ``lat`` id
(ClimaX's ``lattitude`` input) is not stored: a data variable cannot share the
name of the ``lat`` coordinate, and readers rebuild it from the coordinate.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from climax_nb.data.embedded.configs import SourceConfig
from climax_nb.data.embedded.simulate import NativeChunk, NativeGrid
from climax_nb.data.embedded.vertical import to_pressure_levels
from climax_nb.data.regrid import Regridder
from climax_nb.grid import Grid
from climax_nb.variables import PRESSURE_LEVELS, VARIABLES

#: Density of liquid water (kg m-3): kg m-2 of precipitation -> metres.
WATER_DENSITY = 1000.0
#: ERA5 accumulates ``tisr`` over one hour: W m-2 -> J m-2.
TISR_SECONDS = 3600.0


def _variable(values: np.ndarray, vid: str, dims: tuple[str, ...]) -> xr.DataArray:
    var = VARIABLES[vid]
    attrs = {"units": var.units, "long_name": var.long_name}
    if var.description:
        attrs["description"] = var.description
    return xr.DataArray(values.astype(np.float32), dims=dims, attrs=attrs)


class Postprocessor:
    """Turns ``NativeChunk``s of one source into canonical ``xr.Dataset``s on ``target``.

    ``target`` defaults to the source's own output grid (``config.grid``: 5.625 deg
    unless its ``grid_resolution`` says otherwise).
    """

    def __init__(self, config: SourceConfig, grid: NativeGrid, target: Grid | None = None):
        self.config = config
        self.grid = grid
        self.target = config.grid if target is None else target
        self.regrid = Regridder.from_gaussian(len(grid.lat), grid.lon, self.target)
        wanted = set(config.variables)
        self.levels = tuple(
            lev for lev in PRESSURE_LEVELS if any(VARIABLES[v].level == lev for v in wanted)
        )
        self.stored_ids = tuple(v for v in config.variables if v != "lat")
        self.constant_ids = tuple(v for v in self.stored_ids if VARIABLES[v].kind == "constant")
        self.time_ids = tuple(v for v in self.stored_ids if VARIABLES[v].kind != "constant")

    def constants(self) -> dict[str, xr.DataArray]:
        """Land-sea mask and orography on the target grid, as (lat, lon) fields."""
        values = {
            "lsm": np.clip(self.regrid(self.grid.land_fraction), 0.0, 1.0),
            "orography": self.regrid(self.grid.orography),
        }
        return {v: _variable(values[v], v, ("lat", "lon")) for v in self.constant_ids}

    def _surface(self, fields: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Registry surface and forcing ids -> native arrays in registry units."""
        return {
            "t2m": fields["t2m"],
            "u10": fields["u10"],
            "v10": fields["v10"],
            "sp": fields["ps"],
            "tp6h": fields["precip"] / WATER_DENSITY,
            "tisr": fields["toa_solar"] * TISR_SECONDS,
        }

    def __call__(self, chunk: NativeChunk, with_constants: bool = False) -> xr.Dataset:
        """The chunk's variables on the target grid: one (time, lat, lon) variable per id."""
        native = self._surface(chunk.fields)
        if self.levels:
            upper = {k: chunk.fields[k].astype(np.float64) for k in ("t", "z", "u", "v", "q")}
            on_levels = to_pressure_levels(upper, self.grid.sigma, chunk.fields["ps"], self.levels)
            for prefix, values in on_levels.items():
                for i, lev in enumerate(self.levels):
                    native[f"{prefix}{lev}"] = values[:, i]
        data = {
            v: _variable(self.regrid(native[v]), v, ("time", "lat", "lon")) for v in self.time_ids
        }
        if with_constants:
            data.update(self.constants())
        coords = {"time": chunk.time, "lat": self.target.lat, "lon": self.target.lon}
        ds = xr.Dataset(data, coords=coords)
        ds["lat"].attrs = {"units": "degrees_north", "standard_name": "latitude"}
        ds["lon"].attrs = {"units": "degrees_east", "standard_name": "longitude"}
        return ds[list(self.stored_ids)] if with_constants else ds
