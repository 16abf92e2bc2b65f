"""First-order conservative (area-weighted) regridding between global lat-lon grids.

Each target cell takes the area-weighted mean of the source cells it overlaps,
so the global area mean of every field is kept. On rectilinear grids the
overlap factorises: a latitude matrix built from overlaps in sin(latitude)
(area between two latitudes is proportional to the difference of their sines)
and a periodic longitude matrix. Applying both is two small matrix products
over the trailing (lat, lon) axes (``W_lat @ field @ W_lon.T``), for any number
of leading axes.

Gaussian grids (spectral models) have no midpoint bounds: their cell edges in
sin(latitude) are the cumulative sums of the Gauss-Legendre quadrature weights,
which makes each cell's area exactly its quadrature weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from climax_nb.grid import WB5625, Grid


def gaussian_latitudes(nlat: int) -> np.ndarray:
    """Gaussian latitudes (degrees, ascending) of an ``nlat``-row spectral grid."""
    nodes, _ = np.polynomial.legendre.leggauss(nlat)
    return np.rad2deg(np.arcsin(nodes))


def gaussian_sin_bounds(nlat: int) -> np.ndarray:
    """Cell edges in sin(latitude) of a Gaussian grid: -1, then cumulative weights, up to 1."""
    _, weights = np.polynomial.legendre.leggauss(nlat)
    bounds = np.concatenate([[-1.0], -1.0 + np.cumsum(weights)])
    bounds[-1] = 1.0  # the weights sum to 2 up to round-off
    return bounds


def lat_bounds_from_centers(lat: np.ndarray) -> np.ndarray:
    """Latitude edges (degrees) halfway between ascending centres, closed at the poles."""
    lat = np.asarray(lat, dtype=np.float64)
    return np.concatenate([[-90.0], (lat[1:] + lat[:-1]) / 2, [90.0]])


def lon_bounds_from_centers(lon: np.ndarray) -> np.ndarray:
    """Longitude edges (degrees) halfway between ascending centres, wrapping at 360."""
    lon = np.asarray(lon, dtype=np.float64)
    gaps = np.diff(np.concatenate([lon, [lon[0] + 360.0]]))
    left = lon - np.concatenate([[gaps[-1]], gaps[:-1]]) / 2
    return np.concatenate([left, [left[0] + 360.0]])


def _check_bounds(bounds: np.ndarray, what: str) -> np.ndarray:
    bounds = np.asarray(bounds, dtype=np.float64)
    if bounds.ndim != 1 or len(bounds) < 2 or np.any(np.diff(bounds) <= 0):
        raise ValueError(f"{what} must be a 1-D ascending array of cell edges")
    return bounds


def lat_overlap_matrix(src_sin_bounds: np.ndarray, dst_sin_bounds: np.ndarray) -> np.ndarray:
    """(n_dst, n_src) weights: share of each target cell's area lying in each source row.

    Bounds are cell edges in sin(latitude) (``np.sin(np.deg2rad(bounds))``), so
    overlaps are proportional to area. Rows sum to one where the source covers the target.
    """
    src = _check_bounds(src_sin_bounds, "source latitude bounds")
    dst = _check_bounds(dst_sin_bounds, "target latitude bounds")
    lo = np.maximum(dst[:-1, None], src[None, :-1])
    hi = np.minimum(dst[1:, None], src[None, 1:])
    overlap = np.clip(hi - lo, 0.0, None)
    return overlap / np.diff(dst)[:, None]


def lon_overlap_matrix(src_bounds: np.ndarray, dst_bounds: np.ndarray) -> np.ndarray:
    """(n_dst, n_src) periodic longitude weights from cell edges in degrees (each spanning 360)."""
    src = _check_bounds(src_bounds, "source longitude bounds")
    dst = _check_bounds(dst_bounds, "target longitude bounds")
    for name, bounds in (("source", src), ("target", dst)):
        if not np.isclose(bounds[-1] - bounds[0], 360.0):
            raise ValueError(f"{name} longitude bounds must span 360 degrees (global grids only)")
    overlap = np.zeros((len(dst) - 1, len(src) - 1))
    for shift in (-360.0, 0.0, 360.0):
        lo = np.maximum(dst[:-1, None], src[None, :-1] + shift)
        hi = np.minimum(dst[1:, None], src[None, 1:] + shift)
        overlap += np.clip(hi - lo, 0.0, None)
    return overlap / np.diff(dst)[:, None]


@dataclass(frozen=True)
class Regridder:
    """Conservative remapping as a latitude matrix and a longitude matrix.

    ``regridder(field)`` maps an array whose last two axes are the source
    (lat, lon) to the target (lat, lon), keeping any leading axes.
    """

    lat_weights: np.ndarray
    lon_weights: np.ndarray

    @classmethod
    def from_bounds(
        cls, src_sin_bounds: np.ndarray, src_lon_bounds: np.ndarray, target: Grid = WB5625
    ) -> Regridder:
        """From source edges (sin(latitude), degrees of longitude) to a target ``Grid``."""
        dst_sin = np.sin(np.deg2rad(target.lat_bounds()))
        dst_lon = target.lon_bounds()
        return cls(
            lat_overlap_matrix(src_sin_bounds, dst_sin),
            lon_overlap_matrix(src_lon_bounds, dst_lon),
        )

    @classmethod
    def from_gaussian(cls, nlat: int, lon: np.ndarray, target: Grid = WB5625) -> Regridder:
        """From an ``nlat``-row Gaussian grid with longitude centres ``lon`` (degrees)."""
        return cls.from_bounds(gaussian_sin_bounds(nlat), lon_bounds_from_centers(lon), target)

    @classmethod
    def from_rectilinear(cls, lat: np.ndarray, lon: np.ndarray, target: Grid = WB5625) -> Regridder:
        """From a rectilinear grid of ascending centres (bounds at midpoints, poles closed)."""
        src_sin = np.sin(np.deg2rad(lat_bounds_from_centers(lat)))
        return cls.from_bounds(src_sin, lon_bounds_from_centers(lon), target)

    @property
    def source_shape(self) -> tuple[int, int]:
        return (self.lat_weights.shape[1], self.lon_weights.shape[1])

    @property
    def target_shape(self) -> tuple[int, int]:
        return (self.lat_weights.shape[0], self.lon_weights.shape[0])

    def __call__(self, field: np.ndarray) -> np.ndarray:
        field = np.asarray(field)
        if field.shape[-2:] != self.source_shape:
            raise ValueError(
                f"field ends in shape {field.shape[-2:]}, but this regridder maps (lat, lon) = "
                f"{self.source_shape} to {self.target_shape}"
            )
        # two matrix products, longitude then latitude, in the field's precision (BLAS-fast)
        dtype = np.result_type(field.dtype, np.float32)
        along_lon = field.astype(dtype, copy=False) @ self.lon_weights.T.astype(dtype)
        return self.lat_weights.astype(dtype) @ along_lon


def area_mean(field: np.ndarray, sin_bounds: np.ndarray) -> np.ndarray:
    """Area-weighted global mean over the trailing (lat, lon) axes (uniform longitudes)."""
    weights = np.diff(np.asarray(sin_bounds, dtype=np.float64))
    zonal = np.asarray(field, dtype=np.float64).mean(axis=-1)
    return (zonal * weights).sum(axis=-1) / weights.sum()


def regrid_dataset(ds: xr.Dataset, target: Grid = WB5625, *, gaussian: bool = False) -> xr.Dataset:
    """A global ``(…, lat, lon)`` dataset (lat ascending) conservatively regridded to ``target``.

    ``gaussian=True`` derives the source cell edges from Gauss-Legendre weights
    (spectral model output); otherwise edges are midpoints between centres.
    Variables without both ``lat`` and ``lon`` dims are kept as they are.
    """
    lat, lon = ds["lat"].values, ds["lon"].values
    if gaussian:
        if not np.allclose(lat, gaussian_latitudes(len(lat)), atol=1e-3):
            raise ValueError(
                "the dataset's latitudes are not Gaussian latitudes in ascending order"
            )
        regridder = Regridder.from_gaussian(len(lat), lon, target)
    else:
        regridder = Regridder.from_rectilinear(lat, lon, target)
    out = {}
    for name, da in ds.data_vars.items():
        if "lat" not in da.dims or "lon" not in da.dims:
            out[name] = da
            continue
        da = da.transpose(..., "lat", "lon")
        values = regridder(da.values)
        out[name] = xr.DataArray(values, dims=da.dims, attrs=da.attrs)
    coords = {k: v for k, v in ds.coords.items() if "lat" not in v.dims and "lon" not in v.dims}
    coords.update(lat=target.lat, lon=target.lon)
    return xr.Dataset(out, coords=coords, attrs=ds.attrs)
