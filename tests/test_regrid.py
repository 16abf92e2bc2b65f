"""Conservative regridding: exact weights, conserved means, known analytic area means."""

import numpy as np
import pytest
import xarray as xr

from climax_nb.data.regrid import (
    Regridder,
    area_mean,
    gaussian_latitudes,
    gaussian_sin_bounds,
    lat_bounds_from_centers,
    lat_overlap_matrix,
    lon_overlap_matrix,
    regrid,
)
from climax_nb.grid import WB5625, Grid

T21_NLAT, T21_NLON = 32, 64
T31_NLAT, T31_NLON = 48, 96
DST_SIN = np.sin(np.deg2rad(WB5625.lat_bounds()))


def _lon(nlon: int) -> np.ndarray:
    return 360.0 * np.arange(nlon) / nlon


def _gaussian_regridder(nlat: int, nlon: int) -> Regridder:
    return Regridder.from_gaussian(nlat, _lon(nlon), WB5625)


def _field(nlat: int, nlon: int, fn) -> np.ndarray:
    lat = np.deg2rad(gaussian_latitudes(nlat))[:, None]
    lon = np.deg2rad(_lon(nlon))[None, :]
    return np.broadcast_to(fn(lat, lon), (nlat, nlon)).astype(np.float64)


def test_gaussian_bounds_give_the_quadrature_weights_as_areas():
    nodes, weights = np.polynomial.legendre.leggauss(T31_NLAT)
    bounds = gaussian_sin_bounds(T31_NLAT)
    np.testing.assert_allclose(np.diff(bounds), weights, rtol=1e-12)
    assert bounds[0] == -1.0 and bounds[-1] == 1.0
    # every Gaussian node lies inside its own cell
    assert np.all((bounds[:-1] < nodes) & (nodes < bounds[1:]))


@pytest.mark.parametrize("nlat,nlon", [(T21_NLAT, T21_NLON), (T31_NLAT, T31_NLON)])
def test_weights_are_non_negative_and_rows_sum_to_one(nlat, nlon):
    r = _gaussian_regridder(nlat, nlon)
    assert r.target_shape == WB5625.shape and r.source_shape == (nlat, nlon)
    assert r.lat_weights.min() >= 0 and r.lon_weights.min() >= 0
    np.testing.assert_allclose(r.lat_weights.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(r.lon_weights.sum(axis=1), 1.0, atol=1e-12)


def test_constant_stays_constant():
    r = _gaussian_regridder(T31_NLAT, T31_NLON)
    out = r(np.full((T31_NLAT, T31_NLON), 287.5))
    np.testing.assert_allclose(out, 287.5, rtol=1e-12)


@pytest.mark.parametrize(
    "fn,exact",
    [
        (lambda lat, lon: np.cos(lat), np.pi / 4),
        (lambda lat, lon: np.sin(lat), 0.0),
        (lambda lat, lon: 1.0 + np.cos(lat) * np.cos(lon), 1.0),
        (lambda lat, lon: np.sin(lat) ** 2, 1.0 / 3.0),
    ],
    ids=["cos-lat", "sin-lat", "lon-dependent", "sin2-lat"],
)
@pytest.mark.parametrize("nlat,nlon", [(T21_NLAT, T21_NLON), (T31_NLAT, T31_NLON)])
def test_area_mean_is_conserved_and_matches_the_analytic_value(fn, exact, nlat, nlon):
    src = _field(nlat, nlon, fn)
    out = _gaussian_regridder(nlat, nlon)(src)
    src_mean = area_mean(src, gaussian_sin_bounds(nlat))
    dst_mean = area_mean(out, DST_SIN)
    assert abs(dst_mean - src_mean) <= 1e-6 * max(abs(src_mean), 1.0)
    # Gaussian quadrature integrates these low-order fields (nearly) exactly
    assert abs(src_mean - exact) < 1e-3
    assert abs(dst_mean - exact) < 1e-3


def test_smooth_field_lands_close_to_its_pointwise_values():
    src = _field(T31_NLAT, T31_NLON, lambda lat, lon: np.cos(lat) * np.cos(lon))
    out = _gaussian_regridder(T31_NLAT, T31_NLON)(src)
    lat = np.deg2rad(WB5625.lat)[:, None]
    lon = np.deg2rad(WB5625.lon)[None, :]
    assert np.abs(out - np.cos(lat) * np.cos(lon)).max() < 0.03


def test_random_field_mean_conserved_with_leading_dims_and_float32():
    rng = np.random.default_rng(0)
    src = rng.normal(280.0, 20.0, size=(3, 2, T21_NLAT, T21_NLON)).astype(np.float32)
    out = _gaussian_regridder(T21_NLAT, T21_NLON)(src)
    assert out.shape == (3, 2, *WB5625.shape) and out.dtype == np.float32
    np.testing.assert_allclose(
        area_mean(out, DST_SIN), area_mean(src, gaussian_sin_bounds(T21_NLAT)), rtol=1e-6
    )


def test_same_grid_is_the_identity():
    r = Regridder.from_rectilinear(WB5625.lat, WB5625.lon, WB5625)
    np.testing.assert_allclose(r.lat_weights, np.eye(32), atol=1e-12)
    np.testing.assert_allclose(r.lon_weights, np.eye(64), atol=1e-12)


def test_longitude_overlap_wraps_around_zero():
    # one source cell centred on 0 degrees spans [-90, 90): half of it is at the east end
    w = lon_overlap_matrix(np.array([-90.0, 90.0, 270.0]), np.array([0.0, 180.0, 360.0]))
    np.testing.assert_allclose(w, [[0.5, 0.5], [0.5, 0.5]])


def test_lat_overlap_is_area_weighted():
    # two source bands split at 30N; a target band from the equator to the pole
    src = np.sin(np.deg2rad([0.0, 30.0, 90.0]))
    dst = np.sin(np.deg2rad([0.0, 90.0]))
    np.testing.assert_allclose(lat_overlap_matrix(src, dst), [[0.5, 0.5]])


def test_bad_input_is_refused_with_a_clear_message():
    r = _gaussian_regridder(T21_NLAT, T21_NLON)
    with pytest.raises(ValueError, match="maps \\(lat, lon\\)"):
        r(np.zeros((T31_NLAT, T31_NLON)))
    with pytest.raises(ValueError, match="span 360"):
        lon_overlap_matrix(np.array([0.0, 90.0]), np.array([0.0, 360.0]))
    with pytest.raises(ValueError, match="ascending"):
        lat_overlap_matrix(np.array([1.0, -1.0]), DST_SIN)


def test_regrid_keeps_attrs_leading_dims_and_the_mean():
    lat, lon = gaussian_latitudes(T31_NLAT), _lon(T31_NLON)
    rng = np.random.default_rng(1)
    values = rng.normal(size=(2, T31_NLAT, T31_NLON)).astype(np.float32)
    ds = xr.Dataset(
        {
            "t850": (("time", "lat", "lon"), values, {"units": "K"}),
            "scalar": ((), 1.0),
        },
        coords={
            "time": np.array(["2000-01-01", "2000-01-02"], dtype="datetime64[ns]"),
            "lat": lat,
            "lon": lon,
        },
    )
    out = regrid(ds, WB5625, gaussian=True)
    assert out["t850"].dims == ("time", "lat", "lon") and out["t850"].shape == (2, 32, 64)
    assert out["t850"].attrs["units"] == "K" and out["t850"].dtype == np.float32
    np.testing.assert_array_equal(out["lat"].values, WB5625.lat)
    np.testing.assert_allclose(
        area_mean(out["t850"].values, DST_SIN),
        area_mean(values, gaussian_sin_bounds(T31_NLAT)),
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="Gaussian"):
        regrid(ds.assign_coords(lat=np.linspace(-80, 80, T31_NLAT)), WB5625, gaussian=True)


def test_coarse_to_fine_rectilinear_keeps_the_mean():
    fine = Grid.weatherbench(2.8125)
    src = _field(T21_NLAT, T21_NLON, lambda lat, lon: np.cos(lat) ** 2 + np.sin(lon))
    r = Regridder.from_gaussian(T21_NLAT, _lon(T21_NLON), fine)
    out = r(src)
    fine_sin = np.sin(np.deg2rad(fine.lat_bounds()))
    np.testing.assert_allclose(
        area_mean(out, fine_sin), area_mean(src, gaussian_sin_bounds(T21_NLAT)), rtol=1e-6
    )


def _dataset(lat, lon, values, **attrs) -> xr.Dataset:
    time = np.array(["2000-01-01", "2000-01-02"], dtype="datetime64[ns]")[: values.shape[0]]
    return xr.Dataset(
        {"t2m": (("time", "lat", "lon"), values.astype(np.float32), {"units": "K", **attrs})},
        coords={"time": time, "lat": lat, "lon": lon},
    )


def test_gaussian_latitudes_are_recognised():
    lat, lon = gaussian_latitudes(T21_NLAT), _lon(T21_NLON)
    values = np.random.default_rng(2).normal(size=(1, T21_NLAT, T21_NLON))
    ds = _dataset(lat, lon, values)
    auto, forced, midpoints = regrid(ds), regrid(ds, gaussian=True), regrid(ds, gaussian=False)
    xr.testing.assert_identical(auto, forced)
    assert not np.allclose(auto["t2m"].values, midpoints["t2m"].values, rtol=1e-6)


def test_matching_grid_is_returned_unchanged():
    ds = _dataset(WB5625.lat, WB5625.lon, np.zeros((1, *WB5625.shape)))
    assert regrid(ds) is ds


def test_dask_input_stays_lazy_and_gives_the_same_values():
    fine = Grid.weatherbench(2.8125)
    values = np.random.default_rng(3).normal(280, 5, size=(2, *fine.shape))
    ds = _dataset(fine.lat, fine.lon, values)
    lazy = regrid(ds.chunk({"time": 1, "lat": 16}))
    assert lazy["t2m"].chunks is not None and lazy["t2m"].dims == ("time", "lat", "lon")
    xr.testing.assert_identical(lazy.compute(), regrid(ds))


def test_nan_cells_are_left_out_of_the_means():
    # like CMIP6 levels below ground: a block of missing source cells
    fine = Grid.weatherbench(2.8125)
    values = np.full((1, *fine.shape), 250.0)
    values[0, 20:30, 10:20] = np.nan  # covers 5 x 4 target cells wholly (their edges sit mid-cell in longitude)
    values[0, 40:42, 59:62] = np.nan  # all the source cells of target cell (20, 30)
    out = regrid(_dataset(fine.lat, fine.lon, values))["t2m"].values[0]
    assert np.isnan(out).sum() == 5 * 4 + 1 and np.isnan(out[20, 30]) and np.isnan(out[10:15, 6:10]).all()
    np.testing.assert_allclose(out[np.isfinite(out)], 250.0, rtol=1e-6)


def test_regional_source_gives_nan_outside_and_is_not_wrapped():
    lat, lon = np.arange(-28.125, 30, 2.8125), np.arange(0, 90, 2.8125)  # 30S-30N, 0-90E
    values = np.full((1, len(lat), len(lon)), 300.0)
    out = regrid(_dataset(lat, lon, values))["t2m"]
    inside = out.sel(lat=slice(-28, 28), lon=slice(0.1, 84))
    np.testing.assert_allclose(inside.values, 300.0, rtol=1e-6)
    assert np.isnan(out.sel(lat=slice(40, 90)).values).all()
    assert np.isnan(out.sel(lon=slice(120, 300)).values).all()


def test_lat_bounds_close_at_the_poles_only_for_global_grids():
    np.testing.assert_allclose(lat_bounds_from_centers(WB5625.lat)[[0, -1]], [-90, 90])
    np.testing.assert_allclose(lat_bounds_from_centers(np.linspace(-90, 90, 121))[[0, 1, -1]], [-90, -89.25, 90])
    np.testing.assert_allclose(lat_bounds_from_centers(np.arange(-30, 31, 5.0))[[0, -1]], [-32.5, 32.5])
