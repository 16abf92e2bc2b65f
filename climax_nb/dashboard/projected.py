"""Lat-lon fields and coastlines on a map projection's plane, resampled once per grid and projection.

Reprojecting an image on every widget move is what made map updates slow. The
grid and the projection do not change while a widget moves, so the lookup from
each pixel of the projected raster to its nearest grid cell is computed once and
cached; drawing a new field is then a single array index.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cartopy.crs as ccrs
import numpy as np
import shapely

#: Global projections offered for the maps.
PROJECTIONS: dict[str, ccrs.Projection] = {
    "Robinson": ccrs.Robinson(),
    "Equal Earth": ccrs.EqualEarth(),
    "Mollweide": ccrs.Mollweide(),
    "Plate Carrée": ccrs.PlateCarree(),
}
GEODETIC = ccrs.PlateCarree()


def projection(name: str) -> ccrs.Projection:
    """The projection called ``name``; the error lists the choices."""
    if name not in PROJECTIONS:
        raise ValueError(f"unknown projection {name!r}; choose one of {list(PROJECTIONS)}")
    return PROJECTIONS[name]


def _nearest(grid: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index of the nearest grid value to each point (grid sorted either way, spacing free)."""
    order = np.argsort(grid)
    ordered = grid[order]
    right = np.clip(np.searchsorted(ordered, points), 1, len(ordered) - 1)
    left = right - 1
    nearer = np.where(np.abs(points - ordered[left]) <= np.abs(ordered[right] - points), left, right)
    return order[nearer]


def _nearest_lon(grid: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index of the nearest longitude, across the 0/360 seam."""
    grid = np.mod(grid, 360.0)
    extended = np.concatenate([grid - 360.0, grid, grid + 360.0])
    return _nearest(extended, np.mod(points, 360.0)) % len(grid)


def _covered(lat: np.ndarray, lon: np.ndarray, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Pixels within the grid's cells: all of the globe for a global grid, the box for a regional one."""
    dlat = float(np.median(np.abs(np.diff(lat)))) if len(lat) > 1 else 180.0
    dlon = float(np.median(np.diff(np.sort(np.mod(lon, 360.0))))) if len(lon) > 1 else 360.0
    south, north = lat.min() - dlat / 2, lat.max() + dlat / 2
    covered = (lats >= south) & (lats <= north)
    span = (np.mod(lon[-1] - lon[0], 360.0) + dlon) if len(lon) > 1 else dlon
    if span < 360.0 - 1e-6:  # a regional grid: keep its longitudes only (across 0 degrees too)
        covered &= np.mod(lons - (lon[0] - dlon / 2), 360.0) <= span
    return covered


@dataclass(frozen=True)
class Raster:
    """A projected image's placement and, per pixel, the grid cell it shows (``inside`` marks the globe)."""

    x0: float
    y0: float
    dw: float
    dh: float
    i_lat: np.ndarray
    i_lon: np.ndarray
    inside: np.ndarray
    lon: np.ndarray
    lat: np.ndarray

    def sample(self, values: np.ndarray) -> np.ndarray:
        """A (lat, lon) field as the projected image (rows from south to north, NaN off the globe)."""
        image = np.asarray(values, dtype=np.float32)[self.i_lat, self.i_lon]
        image[~self.inside] = np.nan
        return image


@functools.lru_cache(maxsize=32)
def raster(lat: tuple[float, ...], lon: tuple[float, ...], name: str, width: int) -> Raster:
    """The lookup from a ``width``-pixel-wide raster of projection ``name`` to the (lat, lon) grid."""
    proj = projection(name)
    (x0, x1), (y0, y1) = proj.x_limits, proj.y_limits
    height = max(1, round(width * (y1 - y0) / (x1 - x0)))
    xs = x0 + (np.arange(width) + 0.5) * (x1 - x0) / width
    ys = y0 + (np.arange(height) + 0.5) * (y1 - y0) / height
    x, y = np.meshgrid(xs, ys)
    inside = shapely.contains_xy(proj.domain, x, y)
    geo = GEODETIC.transform_points(proj, x, y)
    lons, lats = geo[..., 0], geo[..., 1]
    inside &= np.isfinite(lons) & np.isfinite(lats)
    lons, lats = np.where(inside, lons, 0.0), np.where(inside, lats, 0.0)
    inside &= _covered(np.asarray(lat, float), np.asarray(lon, float), lats, lons)
    i_lat = _nearest(np.asarray(lat, float), lats)
    i_lon = _nearest_lon(np.asarray(lon, float), lons)
    hide = np.where(inside, 1.0, np.nan)
    return Raster(float(x0), float(y0), float(x1 - x0), float(y1 - y0), i_lat, i_lon, inside,
                  (np.mod(lons, 360.0) * hide).astype(np.float32), (lats * hide).astype(np.float32))


def _lines(geometry) -> list[np.ndarray]:
    """The coordinates of every line in a (multi)line or polygon geometry."""
    if geometry.is_empty:
        return []
    if hasattr(geometry, "geoms"):
        return [part for g in geometry.geoms for part in _lines(g)]
    if geometry.geom_type == "Polygon":
        return [np.asarray(geometry.exterior.coords), *(np.asarray(r.coords) for r in geometry.interiors)]
    return [np.asarray(geometry.coords)]


def _joined(lines: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Lines as one x and one y array with NaN between them (one glyph draws them all)."""
    if not lines:
        return np.array([]), np.array([])
    gap = np.array([[np.nan, np.nan]])
    joined = np.concatenate([part for line in lines for part in (line[:, :2], gap)][:-1])
    return joined[:, 0], joined[:, 1]


@functools.cache
def coastline(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The shipped Natural Earth 110m coastline projected once onto projection ``name`` (NaN-separated)."""
    from cartopy.io.shapereader import Reader

    from climax_nb.viz import coastline_path

    proj = projection(name)
    lines = [line for geom in Reader(str(coastline_path())).geometries()
             for line in _lines(proj.project_geometry(geom, GEODETIC))]
    return _joined(lines)


@functools.cache
def outline(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The edge of the globe on projection ``name``."""
    return _joined(_lines(projection(name).boundary))


def to_lon_lat(name: str, x: float, y: float) -> tuple[float, float] | None:
    """The longitude (0-360) and latitude of a point on projection ``name``'s plane; None off the globe."""
    proj = projection(name)
    if not (np.isfinite([x, y]).all() and shapely.contains_xy(proj.domain, x, y)):
        return None
    lon, lat = GEODETIC.transform_point(x, y, proj)
    if not np.isfinite([lon, lat]).all():
        return None
    return float(lon) % 360.0, float(lat)
