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
        """Cell edges in latitude: midpoints between centres, closed at the poles on a global grid, half a
        spacing beyond the outer centres on a box (``lat_bounds_from_centers``)."""
        return lat_bounds_from_centers(self.lat)

    def lon_bounds(self) -> np.ndarray:
        """Cell edges in longitude: midpoints between centres, periodic."""
        lon = self.lon
        step = np.diff(np.concatenate([lon, [lon[0] + 360.0]]))
        left = lon - np.concatenate([[step[-1]], step[:-1]]) / 2
        return np.concatenate([left, [left[0] + 360.0]])

    def area_weights(self) -> np.ndarray:
        """Latitude weights proportional to cell area, normalised to mean 1 (over the grid's own rows: a box's
        weights are its cells' areas, the edge rows no larger than the others)."""
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


def lat_bounds_from_centers(lat: np.ndarray) -> np.ndarray:
    """Latitude edges (degrees) halfway between ascending centres.

    The outer edges are closed at the poles when the outermost centre is within one
    spacing of the pole (every global grid); a regional grid ends half a spacing
    beyond its outermost centres, so a box's edge rows are cells of the box's size,
    not bands reaching to the pole.
    """
    lat = np.asarray(lat, dtype=np.float64)
    if len(lat) < 2:
        return np.array([-90.0, 90.0])
    first, last = lat[1] - lat[0], lat[-1] - lat[-2]
    south = -90.0 if lat[0] - first <= -90.0 else lat[0] - first / 2
    north = 90.0 if lat[-1] + last >= 90.0 else lat[-1] + last / 2
    return np.concatenate([[south], (lat[1:] + lat[:-1]) / 2, [north]])


def unwrapped_lon(lon: np.ndarray) -> np.ndarray:
    """Longitudes listed west to east made continuous: each one the previous plus its eastward step.

    A box across 0 deg holds ``[337.5, ..., 354.375, 0, ..., 39.375]`` (canonical values, west to
    east); unwrapped they are ``-22.5 ... 39.375``, ascending, so a map draws the box in one piece.
    The first longitude is moved into [-180, 180).
    """
    lon = np.asarray(lon, dtype=np.float64)
    if lon.size == 0:
        return lon
    start = (lon[0] + 180.0) % 360.0 - 180.0
    return start + np.concatenate([[0.0], np.cumsum(np.diff(lon) % 360.0)])


def spans_all_lon(lon: np.ndarray) -> bool:
    """True when longitudes listed west to east go once round the globe (the gap after the last is one step)."""
    east = unwrapped_lon(lon)
    if len(east) < 2:
        return True
    step = float(np.median(np.diff(east)))
    return abs(east[-1] - east[0] + step - 360.0) <= 1e-3 * step


#: WeatherBench 5.625° grid, the package default (32 x 64).
WB5625 = Grid.weatherbench(5.625)
#: WeatherBench 2.8125° grid (64 x 128), the fine grid of downscaling (embedded ``t42``).
WB2812 = Grid.weatherbench(2.8125)
