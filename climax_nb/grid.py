"""Regular latitude-longitude grids, WeatherBench style.

WeatherBench's equiangular grids put cell centres half a cell away from the
poles, so a 5.625° grid has 32 latitudes from -87.1875 to 87.1875 and 64
longitudes from 0 to 354.375.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Resolutions (degrees) published by WeatherBench and used by ClimaX.
WEATHERBENCH_RESOLUTIONS: tuple[float, ...] = (5.625, 2.8125, 1.40625)


@dataclass(frozen=True)
class Grid:
    """A rectilinear grid: ascending latitudes and longitudes in [0, 360)."""

    lat: np.ndarray = field(repr=False)
    lon: np.ndarray = field(repr=False)
    name: str = "custom"

    @classmethod
    def weatherbench(cls, resolution: float = 5.625) -> Grid:
        """The WeatherBench grid at ``resolution`` degrees (5.625, 2.8125 or 1.40625)."""
        if resolution not in WEATHERBENCH_RESOLUTIONS:
            raise ValueError(
                f"no WeatherBench grid at {resolution} degrees: "
                f"choose one of {WEATHERBENCH_RESOLUTIONS}"
            )
        nlat, nlon = round(180 / resolution), round(360 / resolution)
        lat = -90 + resolution * (np.arange(nlat) + 0.5)
        lon = resolution * np.arange(nlon)
        return cls(lat.astype(np.float64), lon.astype(np.float64), f"{resolution}deg")

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.lat), len(self.lon))

    def lat_bounds(self) -> np.ndarray:
        """Cell edges in latitude: midpoints between centres, closed at the poles."""
        mid = (self.lat[1:] + self.lat[:-1]) / 2
        return np.concatenate([[-90.0], mid, [90.0]])

    def lon_bounds(self) -> np.ndarray:
        """Cell edges in longitude: midpoints between centres, periodic."""
        lon = self.lon
        step = np.diff(np.concatenate([lon, [lon[0] + 360.0]]))
        left = lon - np.concatenate([[step[-1]], step[:-1]]) / 2
        return np.concatenate([left, [left[0] + 360.0]])

    def area_weights(self) -> np.ndarray:
        """Latitude weights proportional to cell area, normalised to mean 1."""
        bounds = np.deg2rad(self.lat_bounds())
        w = np.sin(bounds[1:]) - np.sin(bounds[:-1])
        return w / w.mean()

    def matches(self, lat: np.ndarray, lon: np.ndarray, atol: float = 1e-4) -> bool:
        """True when ``lat``/``lon`` are this grid's coordinates."""
        return (
            len(lat) == len(self.lat)
            and len(lon) == len(self.lon)
            and bool(np.allclose(lat, self.lat, atol=atol))
            and bool(np.allclose(lon, self.lon, atol=atol))
        )


#: WeatherBench 5.625° grid, the package default (32 x 64).
WB5625 = Grid.weatherbench(5.625)
