"""WeatherBench 1 folders written by the test in the published layout."""

from pathlib import Path

import dask.array
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from climax_nb.data import NotInSourceError
from climax_nb.data import open_dataset as _open_dataset
from climax_nb.grid import Grid


def open_dataset(*args, **kwargs):
    """The package's ``open_dataset``; the values here encode where they came from, not weather."""
    return _open_dataset(*args, check_ranges=False, **kwargs)


LEVELS = [50, 250, 500, 850, 1000]


def _write(path: Path, name: str, data: np.ndarray, dims: tuple, coords: dict, units: str, **extra) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    da = xr.DataArray(data.astype(np.float32), dims=dims, coords=coords, attrs={"units": units})
    xr.Dataset({name: da}, coords=extra).to_netcdf(path)


def write_wb1(root: Path, times: dict[int, pd.DatetimeIndex], res: float = 5.625, constants: bool = True) -> None:
    """Yearly files per variable folder and the constants file, named and shaped as WeatherBench 1 ships them."""
    grid = Grid.weatherbench(res)
    lat, lon, tag = grid.lat, grid.lon, f"{res}deg"
    shape = grid.shape
    for year, time in times.items():
        hours = ((time - pd.Timestamp("2000-01-01")) / pd.Timedelta("1h")).to_numpy()
        ramp = np.broadcast_to(hours[:, None, None], (len(time), *shape))
        coords = {"time": time, "lat": lat, "lon": lon}
        dims = ("time", "lat", "lon")
        _write(root / "2m_temperature" / f"2m_temperature_{year}_{tag}.nc", "t2m", 250 + ramp, dims, coords, "K")
        _write(
            root / "geopotential_500" / f"geopotential_500hPa_{year}_{tag}.nc",
            "z",
            50000 + ramp,
            dims,
            coords,
            "m**2 s**-2",
            level=np.int32(500),
        )
        level = np.array(LEVELS, np.int32)
        temp = 200 + level[None, :, None, None] / 10 + ramp[:, None]
        _write(
            root / "temperature" / f"temperature_{year}_{tag}.nc",
            "t",
            temp,
            ("time", "level", "lat", "lon"),
            {**coords, "level": level},
            "K",
        )
        tp = 1e-4 * (1 + hours)
        _write(
            root / "total_precipitation" / f"total_precipitation_{year}_{tag}.nc",
            "tp",
            np.broadcast_to(tp[:, None, None], ramp.shape),
            dims,
            coords,
            "m",
        )
        _write(
            root / "toa_incident_solar_radiation" / f"toa_incident_solar_radiation_{year}_{tag}.nc",
            "tisr",
            1e6 + ramp,
            dims,
            coords,
            "J m**-2",
        )
    if constants:
        lat2d = np.broadcast_to(lat[:, None], shape)
        ds = xr.Dataset(
            {
                "orography": (("lat", "lon"), np.full(shape, 100.0, np.float32), {"units": "m"}),
                "lsm": (("lat", "lon"), np.full(shape, 0.25, np.float32), {"units": "(0 - 1)"}),
                "slt": (("lat", "lon"), np.ones(shape, np.float32)),
                "lat2d": (("lat", "lon"), lat2d),
                "lon2d": (("lat", "lon"), np.broadcast_to(lon[None, :], shape)),
            },
            coords={"lat": lat, "lon": lon},
        )
        (root / "constants").mkdir(parents=True, exist_ok=True)
        ds.to_netcdf(root / "constants" / f"constants_{tag}.nc")


@pytest.fixture
def wb1(tmp_path):
    root = tmp_path / "5.625deg"
    write_wb1(
        root,
        {
            2000: pd.date_range("2000-12-31T00", periods=24, freq="h"),
            2001: pd.date_range("2001-01-01T00", periods=24, freq="h"),
        },
    )
    return root


def test_opens_every_variable_hourly_by_guessing_the_layout(wb1):
    with pytest.warns(UserWarning, match="all of tp6h.*dropped steps from: t2m 5"):
        ds = open_dataset(str(wb1))
    assert list(ds.data_vars) == ["lsm", "orography", "t2m", "tp6h", "tisr", "z500", "t50", "t250", "t500", "t850"]
    assert ds.sizes == {"time": 48 - 5, "lat": 32, "lon": 64}
    assert (np.diff(ds.time.values) == np.timedelta64(1, "h")).all()
    assert ds.time.values[0] == np.datetime64("2000-12-31T05")  # the first full 6-hour total
    assert ds["t850"].dims == ("time", "lat", "lon") and ds["lsm"].dims == ("lat", "lon")
    assert float(ds["t850"].isel(time=0, lat=3, lon=5)) == pytest.approx(200 + 85 + float(ds["t2m"][0, 0, 0]) - 250)
    assert float(ds["lsm"][0, 0]) == 0.25 and ds["orography"].attrs["units"] == "m"
    assert ds["z500"].attrs["units"] == "m2 s-2"


def test_tp6h_sums_six_hours_across_the_year_boundary(wb1):
    ds = open_dataset(str(wb1), variables=["tp6h", "t2m"], years=[2001])
    assert ds.time.values[0] == np.datetime64("2001-01-01T00") and ds.sizes["time"] == 24
    # hourly tp is 1e-4 * (1 + hours since 2000-01-01): sum the six hours ending at each stamp
    end = (ds.time.values - np.datetime64("2000-01-01")) / np.timedelta64(1, "h")
    expected = 1e-4 * sum(1 + end - k for k in range(6))
    np.testing.assert_allclose(ds["tp6h"].isel(lat=0, lon=0).values, expected, rtol=1e-6)
    assert ds["tp6h"].attrs["units"] == "m"


def test_step_subsamples_to_six_hours(wb1):
    ds = open_dataset(str(wb1), variables=["t2m", "z500"], step="6h")
    hours = ds.time.dt.hour.values
    assert list(hours) == [0, 6, 12, 18] * 2
    with pytest.raises(ValueError, match="multiple"):
        open_dataset(str(wb1), variables=["t2m"], step="90min")


def test_missing_variable_and_year_list_what_exists(wb1):
    with pytest.raises(NotInSourceError, match=r"no variable\(s\) q700; it has: lsm, orography, t2m, tp6h"):
        open_dataset(str(wb1), variables=["t2m", "q700"])
    with pytest.raises(NotInSourceError, match=r"no year\(s\) \[1999\]; it has \[2000, 2001\]"):
        open_dataset(str(wb1), variables=["t2m"], years=[1999])


def test_corrupt_and_truncated_files_are_named(wb1):
    bad = wb1 / "2m_temperature" / "2m_temperature_2001_5.625deg.nc"
    bad.write_bytes(b"not netcdf")
    with pytest.raises(OSError, match="2m_temperature_2001_5.625deg.nc"):
        open_dataset(str(wb1), variables=["t2m"])
    cut = wb1 / "temperature" / "temperature_2000_5.625deg.nc"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    with pytest.raises(OSError, match="temperature_2000_5.625deg.nc"):
        open_dataset(str(wb1), variables=["t850"])


def test_several_resolutions_need_choosing(wb1):
    write_wb1(wb1, {2001: pd.date_range("2001-01-01", periods=2, freq="h")}, res=2.8125)
    with pytest.raises(ValueError, match=r"several resolutions \[2.8125, 5.625\]: pass resolution="):
        open_dataset(str(wb1), variables=["t2m"])
    ds = open_dataset(str(wb1), variables=["t2m", "lsm"], resolution=2.8125)
    assert Grid.weatherbench(2.8125).matches(ds.lat.values, ds.lon.values)


def test_finest_grid_opens_lazily(tmp_path):
    root = tmp_path / "1.40625deg"
    write_wb1(root, {1979: pd.date_range("1979-01-01", periods=2, freq="h")}, res=1.40625)
    ds = open_dataset(str(root), variables=["t850", "t2m", "orography"])
    assert Grid.weatherbench(1.40625).matches(ds.lat.values, ds.lon.values)
    assert ds["t850"].shape == (2, 128, 256)
    assert isinstance(ds["t850"].data, dask.array.Array) and isinstance(ds["t2m"].data, dask.array.Array)
    # one level per chunk: selecting t850 never reads the other levels
    assert ds["t850"].data.chunksize == (2, 128, 256)
    assert float(ds["t850"][1, 0, 0]) == pytest.approx(285 + float(ds["t2m"][1, 0, 0]) - 250)


def test_sample_writer_round_trips_through_the_reader(tmp_path):
    from climax_nb.data.sources import write_weatherbench1_sample
    from tests.conftest import make_canonical

    ds = make_canonical(("z500", "z850", "t850", "t2m", "tp6h", "lsm", "orography"), steps=8, start="2000-12-31T12")
    root = write_weatherbench1_sample(ds, tmp_path / "wb1")
    assert sorted(p.name for p in root.iterdir()) == ["2m_temperature", "constants", "geopotential", "temperature"]
    back = open_dataset(str(root))
    assert sorted(back.data_vars) == ["lsm", "orography", "t2m", "t850", "z500", "z850"]  # no hourly tp: no tp6h
    for vid in back.data_vars:
        xr.testing.assert_allclose(back[vid], ds[vid].astype(np.float32))
