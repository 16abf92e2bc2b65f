"""Conservative regridding: the package's overlap-matrix regridder against xarray-regrid.

The package once had two conservative regridders: exact overlap matrices in
sin(latitude) and longitude (``climax_nb.data.regrid``) and xarray-regrid with a
wrapped longitude seam (``climax_nb.data.sources.regrid``, removed since). This
script measures both on the same inputs, in one run:

- accuracy: the source field holds the exact cell means of an analytic field
  (polynomials in sin(latitude) times longitude harmonics, integrated in closed
  form), so a perfect conservative regridder returns the exact target-cell means.
  Printed: the largest and the area-weighted RMS error against them; the largest
  difference from first-order conservative remapping evaluated by its definition
  in float64 (what is left is the implementation's own error: the rest is the
  method's, a field taken as constant over each source cell); and the change of
  the global area mean (conservation). All relative to the field's mean, 280;
- speed: seconds per call on a (time, lat, lon) Dataset of two float32 fields,
  weights included, best of several calls; and the same input in four dask chunks.

Source grids: WeatherBench's 1.40625 and 2.8125 degrees (nested in the 5.625
degree target), and three that are not nested: a CMIP6-like 2.5 degree grid, the
1.5 degree grid with poles of WeatherBench 2 (240 x 121), and a T63 Gaussian grid.
Cells are bounded halfway between centres and closed at the poles; Gaussian cells
by the quadrature weights.

    python benchmarks/regrid.py              # 32 steps per field, best of 5 calls
    python benchmarks/regrid.py --steps 8 --repeats 3
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import xarray as xr

from climax_nb.data import regrid as overlap
from climax_nb.grid import WB5625, Grid

Regrid = Callable[[xr.Dataset, Grid], xr.Dataset]


# -- the analytic field and its exact cell means ------------------------------------------------
# f(mu, lam) = sum_k a_k(mu) b_k(lam), mu = sin(latitude); each term's antiderivatives are known.

_TERMS: tuple[tuple[Callable, Callable], ...] = (
    (lambda m: 280.0 * m, lambda lam: lam),  # 280
    (lambda m: 20.0 * m**3 / 3, lambda lam: lam),  # 20 mu^2
    (lambda m: 10.0 * (m * np.sqrt(1 - m**2) + np.arcsin(m)) / 2, np.sin),  # 10 cos(lat) cos(lam)
    (lambda m: 5.0 * m**2 / 2, lambda lam: -np.cos(2 * lam) / 2),  # 5 mu sin(2 lam)
    (lambda m: 4.0 * m**5 / 5, lambda lam: np.sin(12 * lam) / 12),  # 4 mu^4 cos(12 lam)
)


def cell_means(sin_bounds: np.ndarray, lon_bounds_deg: np.ndarray) -> np.ndarray:
    """Exact means of the analytic field over the cells bounded by ``sin_bounds`` x ``lon_bounds_deg``."""
    m0, m1 = sin_bounds[:-1, None], sin_bounds[1:, None]
    lam = np.deg2rad(lon_bounds_deg)
    l0, l1 = lam[None, :-1], lam[None, 1:]
    total = sum((a(m1) - a(m0)) * (b(l1) - b(l0)) for a, b in _TERMS)
    return total / ((m1 - m0) * (l1 - l0))


Bounds = tuple[np.ndarray, np.ndarray]  # (sin(latitude) edges, longitude edges in degrees)


def exact_remap(field: np.ndarray, src: Bounds, dst: Bounds) -> np.ndarray:
    """First-order conservative remapping by its definition, in float64: each target cell is the
    mean of the source cells weighted by their overlap areas (in sin(latitude) x longitude)."""
    (src_sin, src_lon), (dst_sin, dst_lon) = src, dst

    def overlaps(a: np.ndarray, b: np.ndarray, period: float | None) -> np.ndarray:
        shifts = (-period, 0.0, period) if period else (0.0,)
        return sum(
            np.clip(np.minimum(b[1:, None], a[None, 1:] + s) - np.maximum(b[:-1, None], a[None, :-1] + s), 0, None)
            for s in shifts
        )

    area = overlaps(src_sin, dst_sin, None)[:, None, :, None] * overlaps(src_lon, dst_lon, 360.0)[None, :, None, :]
    return np.einsum("ijkl,kl->ij", area, field) / area.sum(axis=(2, 3))


def area_mean(field: np.ndarray, sin_bounds: np.ndarray, lon_bounds: np.ndarray) -> float:
    """Area-weighted mean over the cells (any longitude widths)."""
    weights = np.diff(sin_bounds)[:, None] * np.diff(lon_bounds)[None, :]
    return float((field * weights).sum() / weights.sum())


# -- source grids -------------------------------------------------------------------------------


def _sin(lat_bounds: np.ndarray) -> np.ndarray:
    return np.sin(np.deg2rad(lat_bounds))


def source_grids() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """name -> (lat centres, lon centres, sin(lat) bounds, lon bounds) of each source grid."""
    grids = {}
    for res in (1.40625, 2.8125):
        g = Grid.weatherbench(res)
        grids[f"WB {res} deg"] = (g.lat, g.lon, _sin(g.lat_bounds()), g.lon_bounds())
    cmip = Grid(np.arange(-88.75, 90, 2.5), np.arange(0, 360, 2.5))
    grids["CMIP-like 2.5 deg"] = (cmip.lat, cmip.lon, _sin(cmip.lat_bounds()), cmip.lon_bounds())
    poles = Grid(np.linspace(-90, 90, 121), np.arange(240) * 1.5)
    grids["WB2 240x121 poles"] = (poles.lat, poles.lon, _sin(poles.lat_bounds()), poles.lon_bounds())
    lat = overlap.gaussian_latitudes(96)
    lon = np.arange(192) * 360 / 192
    grids["Gaussian T63 96x192"] = (lat, lon, overlap.gaussian_sin_bounds(96), overlap.lon_bounds_from_centers(lon))
    return grids


def dataset(lat: np.ndarray, lon: np.ndarray, field: np.ndarray, steps: int) -> xr.Dataset:
    """Two float32 fields on (time, lat, lon): the analytic cell means, and them plus a time ramp."""
    ramp = np.arange(steps, dtype=np.float32)[:, None, None]
    values = np.broadcast_to(field.astype(np.float32), (steps, *field.shape))
    time_axis = np.datetime64("2000-01-01", "ns") + np.arange(steps) * np.timedelta64(6, "h")
    return xr.Dataset(
        {
            "t850": (("time", "lat", "lon"), values.copy(), {"units": "K"}),
            "t2m": (("time", "lat", "lon"), values + ramp, {"units": "K"}),
        },
        coords={"time": time_axis, "lat": lat, "lon": lon},
    )


# -- the two implementations, called as their users call them -----------------------------------


def xarray_regrid(ds: xr.Dataset, grid: Grid) -> xr.Dataset:
    """The former ``climax_nb.data.sources.regrid``: xarray-regrid, one wrapped column at each seam."""
    import xarray_regrid  # noqa: F401 - registers the ``.regrid`` accessor

    lon = ds["lon"].values
    step = float(np.median(np.diff(lon)))
    if abs(lon[-1] - lon[0] + step - 360.0) <= 1e-3 * step:
        west = ds.isel(lon=[-1]).assign_coords(lon=[lon[-1] - 360.0])
        east = ds.isel(lon=[0]).assign_coords(lon=[lon[0] + 360.0])
        ds = xr.concat([west, ds, east], dim="lon", data_vars="minimal", coords="minimal", compat="override")
    target = xr.Dataset(coords={"lat": grid.lat, "lon": grid.lon})
    out = ds.regrid.conservative(target, latitude_coord="lat")
    return out.astype(np.float32)


def overlap_matrices(ds: xr.Dataset, grid: Grid) -> xr.Dataset:
    """``climax_nb.data.regrid``: exact overlaps in sin(latitude) and longitude, two matrix products."""
    if hasattr(overlap, "regrid"):
        return overlap.regrid(ds, grid)
    return overlap.regrid_dataset(ds, grid)


IMPLEMENTATIONS: dict[str, Regrid] = {"overlap matrices": overlap_matrices, "xarray-regrid": xarray_regrid}


def available() -> dict[str, Regrid]:
    """The implementations this environment can run (xarray-regrid comes with the ``test`` extra)."""
    try:
        import xarray_regrid  # noqa: F401
    except ImportError:
        print("xarray-regrid is not installed (pip install -e '.[test]'): measuring the overlap matrices only")
        return {"overlap matrices": overlap_matrices}
    return IMPLEMENTATIONS


def seconds(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` calls after one warm-up call (the least disturbed by other jobs)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=32, help="time steps per field")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per measurement")
    args = parser.parse_args()

    implementations = available()
    target = WB5625
    dst_sin, dst_lon = _sin(target.lat_bounds()), target.lon_bounds()
    exact = cell_means(dst_sin, dst_lon)
    weights = np.diff(dst_sin)[:, None] * np.diff(dst_lon)[None, :]
    header = (
        f"{'source grid':22s} {'implementation':18s} {'max err':>9s} {'rms err':>9s} {'vs exact':>9s} "
        f"{'mean change':>11s} {'numpy s':>8s} {'dask s':>8s}"
    )
    print(f"to {target.name} 5.625 deg {target.shape}; {args.steps} steps x 2 float32 fields; errors relative to 280")
    print(header)
    print("-" * len(header))
    for name, (lat, lon, src_sin, src_lon) in source_grids().items():
        field = cell_means(src_sin, src_lon)
        src_mean = area_mean(field, src_sin, src_lon)
        reference = exact_remap(field, (src_sin, src_lon), (dst_sin, dst_lon))
        ds = dataset(lat, lon, field, args.steps)
        lazy = ds.chunk({"time": max(1, args.steps // 4)})
        for label, fn in implementations.items():
            out = fn(ds, target)["t850"].isel(time=0).values.astype(np.float64)
            err = np.where(np.isnan(out), np.inf, out - exact)
            max_err = float(np.abs(err).max()) / 280
            rms = float(np.sqrt((err**2 * weights).sum() / weights.sum())) / 280
            own = float(np.abs(np.where(np.isnan(out), np.inf, out - reference)).max()) / 280
            change = abs(area_mean(out, dst_sin, dst_lon) - src_mean) / abs(src_mean)
            eager = seconds(lambda fn=fn, ds=ds: fn(ds, target).load(), args.repeats)
            chunked = seconds(lambda fn=fn, lazy=lazy: fn(lazy, target).compute(), args.repeats)
            print(
                f"{name:22s} {label:18s} {max_err:9.1e} {rms:9.1e} {own:9.1e} {change:11.1e} "
                f"{eager:8.4f} {chunked:8.4f}"
            )


if __name__ == "__main__":
    main()
