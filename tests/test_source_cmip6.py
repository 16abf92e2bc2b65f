"""CMIP6 files written by the test with CMOR names, DRS file names and a model grid."""

import numpy as np
import pytest
import xarray as xr

from climax_nb.data import NotInSourceError, open_dataset
from climax_nb.data.sources import regrid
from climax_nb.data.sources.lexicons import G
from climax_nb.grid import WB5625, Grid

RUN = "TOY-ESM_historical_r1i1p1f1_gn"
LAT = np.arange(88.75, -90, -2.5)  # north to south, as many models store it
LON = np.arange(-180, 180, 2.5)  # [-180, 180)
PLEV = np.array([100000.0, 85000.0, 50000.0, 1000.0])


def _bounds(centres: np.ndarray) -> np.ndarray:
    step = np.diff(centres).mean()
    return np.stack([centres - step / 2, centres + step / 2], axis=1)


def _smooth(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    return 250 + 20 * np.cos(np.deg2rad(lat))[:, None] + 5 * np.sin(np.deg2rad(lon))[None, :]


def _write(path, name, data, dims, units, time=None, time_bnds=None, **coords):
    grid = {"lat": LAT, "lon": LON}
    ds = xr.Dataset(
        {
            name: (dims, data.astype(np.float32), {"units": units}),
            "lat_bnds": (("lat", "bnds"), _bounds(LAT)),
            "lon_bnds": (("lon", "bnds"), _bounds(LON)),
        },
        coords={**grid, **coords, **({"time": time} if time is not None else {})},
    )
    if time_bnds is not None:
        ds["time_bnds"] = (("time", "bnds"), time_bnds)
        ds["time"].attrs["bounds"] = "time_bnds"
    if time is not None:
        ds["time"].encoding.update(units="hours since 2000-01-01 00:00:00", calendar="noleap")
    ds.to_netcdf(path)


def write_cmip6(folder, run=RUN, steps=8):
    """Instantaneous 6-hourly fields (6hrPlevPt), 6-hourly mean pr (6hrPlev) and fx files, noleap calendar."""
    folder.mkdir(parents=True, exist_ok=True)
    time = xr.date_range("2000-01-01T06", periods=steps, freq="6h", calendar="noleap", use_cftime=True)
    period = "200001010600-200001030000"
    field = np.broadcast_to(_smooth(LAT, LON), (steps, len(PLEV), len(LAT), len(LON)))
    level_dims = ("time", "plev", "lat", "lon")
    _write(folder / f"ta_6hrPlevPt_{run}_{period}.nc", "ta", field, level_dims, "K", time, plev=PLEV)
    zg = np.broadcast_to(np.arange(steps)[:, None, None, None] * 10.0 + 5500, field.shape)
    _write(folder / f"zg_6hrPlevPt_{run}_{period}.nc", "zg", zg, level_dims, "m", time, plev=PLEV)
    _write(
        folder / f"hus_6hrPlevPt_{run}_{period}.nc",
        "hus",
        np.full(field.shape, 0.004),
        level_dims,
        "1",
        time,
        plev=PLEV,
    )
    surface = ("time", "lat", "lon")
    _write(folder / f"tas_6hrPlevPt_{run}_{period}.nc", "tas", field[:, 0], surface, "K", time)
    mid = xr.date_range("2000-01-01T03", periods=steps, freq="6h", calendar="noleap", use_cftime=True)
    bnds = np.stack([mid.shift(-3, "h"), mid.shift(3, "h")], axis=1)
    pr = np.full((steps, len(LAT), len(LON)), 1e-4)
    _write(folder / f"pr_6hrPlev_{run}_200001010300-200001022100.nc", "pr", pr, surface, "kg m-2 s-1", mid, bnds)
    _write(folder / f"orog_fx_{run}.nc", "orog", np.full((len(LAT), len(LON)), 300.0), ("lat", "lon"), "m")
    _write(folder / f"sftlf_fx_{run}.nc", "sftlf", np.full((len(LAT), len(LON)), 40.0), ("lat", "lon"), "%")


@pytest.fixture
def cmip6(tmp_path):
    folder = tmp_path / "cmip6"
    write_cmip6(folder)
    return folder


def test_converts_and_regrids_to_the_weatherbench_grid(cmip6):
    ds = open_dataset(str(cmip6), variables=["t850", "z500", "q850", "t2m", "tp6h", "lsm", "orography"])
    assert WB5625.matches(ds.lat.values, ds.lon.values) and ds.sizes["time"] == 8
    assert ds.time.values[0] == np.datetime64("2000-01-01T06") and ds.time.dtype.kind == "M"
    np.testing.assert_allclose(ds["z500"].isel(time=2).values, (5500 + 20) * G, rtol=1e-6)
    assert ds["z500"].attrs["units"] == "m2 s-2" and ds["q850"].attrs["units"] == "kg kg-1"
    np.testing.assert_allclose(ds["lsm"].values, 0.4, rtol=1e-6)
    np.testing.assert_allclose(ds["orography"].values, 300.0, rtol=1e-6)
    np.testing.assert_allclose(ds["tp6h"].values, 1e-4 * 6 * 3600 / 1000, rtol=1e-6)  # 6-h mean stamped at its end


def test_regridding_keeps_the_global_mean(cmip6):
    ds = open_dataset(str(cmip6), variables=["t2m"])
    native = Grid(LAT[::-1].copy(), np.mod(LON, 360)[np.argsort(np.mod(LON, 360))])
    src = _smooth(native.lat, native.lon)
    src_mean = (src * native.area_weights()[:, None]).mean()
    out = ds["t2m"].isel(time=0).values
    assert (out * WB5625.area_weights()[:, None]).mean() == pytest.approx(src_mean, rel=1e-5)
    # the seam at 0 degrees longitude takes cells from both sides
    assert float(ds["t2m"].isel(time=0).sel(lat=WB5625.lat[16], lon=0.0)) == pytest.approx(
        250 + 20 * np.cos(np.deg2rad(WB5625.lat[16])), abs=0.05
    )


def test_regrid_leaves_matching_grids_alone():
    from tests.conftest import make_canonical

    ds = make_canonical()
    assert regrid(ds) is ds


def test_missing_variable_and_corrupt_file(cmip6):
    with pytest.raises(NotInSourceError, match=r"no variable\(s\) u850; it has: lsm, orography, t2m, tp6h"):
        open_dataset(str(cmip6), variables=["u850"])
    bad = cmip6 / f"tas_6hrPlevPt_{RUN}_200001010600-200001030000.nc"
    bad.write_bytes(bad.read_bytes()[:500])
    with pytest.raises(OSError, match=bad.name):
        open_dataset(str(cmip6), variables=["t2m"])


def test_several_runs_need_a_pattern(cmip6):
    write_cmip6(cmip6, run="OTHER-ESM_ssp585_r2i1p1f1_gn")
    with pytest.raises(ValueError, match="several runs.*pattern="):
        open_dataset(str(cmip6), variables=["t2m"])
    ds = open_dataset(str(cmip6), variables=["t2m"], pattern="*TOY-ESM*")
    assert ds.sizes["time"] == 8
    one = open_dataset(str(cmip6 / f"tas_6hrPlevPt_{RUN}_200001010600-200001030000.nc"), grid=None)
    assert one.sizes == {"time": 8, "lat": 72, "lon": 144} and one.lon.values[0] == 0
