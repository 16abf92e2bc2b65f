"""WeatherBench 2 ERA5 zarr stores written by the test in the bucket's layout."""

import dask.array
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from climax_nb.data import NotInSourceError
from climax_nb.data import open_dataset as _open_dataset
from climax_nb.data.sources import store_url
from climax_nb.data.sources.lexicons import G
from climax_nb.grid import Grid


def open_dataset(*args, **kwargs):
    """The package's ``open_dataset``; the values here encode where they came from, not weather."""
    return _open_dataset(*args, check_ranges=False, **kwargs)


LEVELS = [50, 100, 150, 200, 250, 300, 400, 500, 600, 700, 850, 925, 1000]


def write_wb2(path, lat, lon, *, lon_lat_order: bool, steps: int = 8) -> xr.Dataset:
    """A store shaped like ``gs://weatherbench2/datasets/era5/*.zarr`` (zarr v2, consolidated)."""
    time = pd.date_range("2019-12-31T12", periods=steps, freq="6h")
    horiz = ("longitude", "latitude") if lon_lat_order else ("latitude", "longitude")
    shape = tuple(len(lon) if d == "longitude" else len(lat) for d in horiz)
    lat_field = np.broadcast_to(lat[None, :] if lon_lat_order else lat[:, None], shape)
    lon_field = np.broadcast_to(lon[:, None] if lon_lat_order else lon[None, :], shape)
    base = (lat_field + 1000 * lon_field)[None] + 1e6 * np.arange(steps)[:, None, None]
    level = np.array(LEVELS, np.int64)
    f32 = np.float32
    ds = xr.Dataset(
        {
            "2m_temperature": (("time", *horiz), (250 + base).astype(f32), {"units": "K"}),
            "geopotential": (
                ("time", "level", *horiz),
                (base[:, None] + 10 * level[None, :, None, None]).astype(f32),
                {"units": "m**2 s**-2"},
            ),
            "total_precipitation_6hr": (("time", *horiz), np.full((steps, *shape), 1e-3, f32), {"units": "m"}),
            "toa_incident_solar_radiation": (
                ("time", *horiz),
                np.full((steps, *shape), 1e6, f32),
                {"units": "J m**-2"},
            ),
            "vertical_velocity": (("time", "level", *horiz), np.zeros((steps, len(level), *shape), f32)),
            "geopotential_at_surface": (horiz, (G * lat_field).astype(f32), {"units": "m**2 s**-2"}),
            "land_sea_mask": (horiz, np.full(shape, 0.5, f32), {"units": "(0 - 1)"}),
        },
        coords={"time": time, "level": level, "latitude": lat, "longitude": lon},
    )
    ds.to_zarr(path, zarr_format=2, consolidated=True)
    return ds


@pytest.fixture
def store_64x32(tmp_path):
    grid = Grid.weatherbench(5.625)
    path = tmp_path / "1959-2023_01_10-6h-64x32_equiangular_conservative.zarr"
    return path, write_wb2(path, grid.lat, grid.lon, lon_lat_order=True)


def test_lon_lat_store_opens_lazily_with_levels_picked(store_64x32):
    path, native = store_64x32
    ds = open_dataset(str(path), variables=["z500", "z850", "t2m", "orography", "lsm", "tp6h", "tisr"])
    assert list(ds.data_vars) == ["z500", "z850", "t2m", "orography", "lsm", "tp6h", "tisr"]
    assert ds["z500"].dims == ("time", "lat", "lon") and ds.sizes == {"time": 8, "lat": 32, "lon": 64}
    assert isinstance(ds["z500"].data, dask.array.Array)
    expected = native["geopotential"].sel(level=500).transpose("time", "latitude", "longitude").values
    np.testing.assert_array_equal(ds["z500"].values, expected)
    np.testing.assert_allclose(ds["orography"].values, np.broadcast_to(ds.lat.values[:, None], (32, 64)), rtol=1e-5)
    assert ds["orography"].attrs["units"] == "m" and ds["z500"].attrs["units"] == "m2 s-2"
    assert Grid.weatherbench(5.625).matches(ds.lat.values, ds.lon.values)


def test_whole_store_lists_registry_levels_only(store_64x32):
    path, _ = store_64x32
    ds = open_dataset(str(path), format="weatherbench2")
    zs = [v for v in ds.data_vars if v.startswith("z")]
    assert zs == ["z50", "z250", "z500", "z600", "z700", "z850", "z925"]  # 13 levels stored, 7 in the registry


def test_years_and_missing_variable(store_64x32):
    path, _ = store_64x32
    assert open_dataset(str(path), variables=["t2m"], years=[2020]).sizes["time"] == 6
    with pytest.raises(NotInSourceError, match=r"no variable\(s\) q700; it has: lsm, orography, t2m, tp6h, tisr, z50"):
        open_dataset(str(path), variables=["q700"])
    with pytest.raises(NotInSourceError, match=r"no year\(s\) \[1990\]; it has \[2019, 2020\]"):
        open_dataset(str(path), variables=["t2m"], years=[1990])


def test_descending_store_with_poles_is_flipped_and_can_be_regridded(tmp_path):
    lat = np.linspace(90, -90, 121)
    lon = np.arange(240) * 1.5
    path = tmp_path / "1959-2023_01_10-6h-240x121_equiangular_with_poles_conservative.zarr"
    write_wb2(path, lat, lon, lon_lat_order=False, steps=4)
    ds = open_dataset(str(path), variables=["t2m", "lsm"])
    assert ds.lat.values[0] == -90 and ds.lat.values[-1] == 90 and ds.sizes == {"time": 4, "lat": 121, "lon": 240}
    np.testing.assert_allclose(ds["t2m"].isel(time=0, lon=0).values, 250 + ds.lat.values)
    coarse = open_dataset(str(path), variables=["t2m", "lsm"], grid=Grid.weatherbench(5.625))
    assert coarse.sizes == {"time": 4, "lat": 32, "lon": 64}
    np.testing.assert_allclose(coarse["lsm"].values, 0.5, rtol=1e-6)  # float32 sums


def test_corrupt_store_is_named(store_64x32):
    path, _ = store_64x32
    (path / ".zmetadata").write_text("{not json")
    (path / ".zgroup").write_text("{not json")
    with pytest.raises(OSError, match="64x32_equiangular_conservative.zarr"):
        open_dataset(str(path))


def test_bucket_is_read_anonymously(monkeypatch):
    calls = []

    def opener(path, **kwargs):
        calls.append((path, kwargs))
        raise ConnectionError("no network in tests")

    monkeypatch.setattr(xr, "open_zarr", opener)
    url = store_url("64x32")
    assert url == "gs://weatherbench2/datasets/era5/1959-2023_01_10-6h-64x32_equiangular_conservative.zarr"
    with pytest.raises(OSError, match="could not read gs://weatherbench2/.*64x32.*no network"):
        open_dataset(url, variables=["z500"])
    assert calls == [(url, {"chunks": {}, "storage_options": {"token": "anon"}})]
    with pytest.raises(OSError):
        open_dataset(url, storage_options={"token": "/path/key.json"})
    assert calls[-1][1]["storage_options"] == {"token": "/path/key.json"}
    with pytest.raises(ValueError, match="choose one of"):
        store_url("10x5")


def test_sample_writer_round_trips_through_the_reader(tmp_path):
    from climax_nb.data.sources import write_weatherbench2_sample
    from tests.conftest import make_canonical

    ds = make_canonical(("z500", "z850", "t500", "t850", "t2m", "orography"), steps=4)
    ds["orography"] = ds["orography"] * 1000
    path = write_weatherbench2_sample(ds, tmp_path / "era5_sample.zarr")
    raw = xr.open_zarr(path)
    assert raw["temperature"].dims == ("time", "level", "longitude", "latitude")
    assert raw["geopotential_at_surface"].attrs["units"] == "m2 s-2"
    back = open_dataset(str(path))
    assert sorted(back.data_vars) == sorted(ds.data_vars)
    for vid in back.data_vars:
        xr.testing.assert_allclose(back[vid], ds[vid], rtol=1e-6)
