"""ClimaX npz shards: written here, read back, and read as ClimaX's own script writes them."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from climax_nb.data import NotInSourceError, open_dataset
from climax_nb.data.sources import read_climax_stats, write_climax_npz
from climax_nb.grid import WB5625
from tests.conftest import make_canonical

IDS = ("z500", "t850", "t2m", "tp6h", "lsm", "orography")


@pytest.fixture
def three_years() -> xr.Dataset:
    """Eight 6-hourly steps from 1 January in each of 2000, 2001 and 2002."""
    parts = [make_canonical(IDS, steps=8, start=f"{year}-01-01") for year in (2000, 2001, 2002)]
    ds = xr.concat([p.drop_vars(["lsm", "orography"]) for p in parts], dim="time")
    return ds.assign(lsm=parts[0]["lsm"], orography=parts[0]["orography"])


def test_round_trip_keeps_values_times_and_layout(tmp_path, three_years):
    root = write_climax_npz(three_years, tmp_path / "npz", {"train": [2000], "val": [2001], "test": [2002]}, 2)
    assert sorted(p.name for p in (root / "train").iterdir()) == ["2000_0.npz", "2000_1.npz", "climatology.npz"]
    shard = np.load(root / "val" / "2001_1.npz")
    assert set(shard.files) == {
        "geopotential_500",
        "temperature_850",
        "2m_temperature",
        "total_precipitation_6hr",
        "land_sea_mask",
        "orography",
        "lattitude",
    }
    assert shard["geopotential_500"].shape == (4, 1, 32, 64) and shard["geopotential_500"].dtype == np.float32
    assert shard["land_sea_mask"].shape == (4, 1, 32, 64)  # constants repeat along N, as in ClimaX
    np.testing.assert_array_equal(shard["lattitude"][0, 0, :, 0], WB5625.lat.astype(np.float32))
    mean = np.load(root / "normalize_mean.npz")
    assert set(mean.files) == set(shard.files) and all(mean[k].shape == (1,) for k in mean.files)
    clim = np.load(root / "test" / "climatology.npz")
    assert "land_sea_mask" not in clim.files and clim["2m_temperature"].shape == (1, 32, 64)
    np.testing.assert_array_equal(np.load(root / "lat.npy"), WB5625.lat)

    back = open_dataset(str(root))
    assert set(back.data_vars) == set(IDS)
    np.testing.assert_array_equal(back.time.values, three_years.time.values)
    for vid in IDS:
        np.testing.assert_array_equal(back[vid].values, three_years[vid].values)
    assert open_dataset(str(root), years=[2001], variables=["t2m"]).sizes["time"] == 8


def test_statistics_come_from_training_years(tmp_path, three_years):
    root = write_climax_npz(three_years, tmp_path / "npz", {"train": [2000, 2001], "test": [2002]}, 4)
    stats = read_climax_stats(root)
    train = three_years.sel(time=three_years.time.dt.year.isin([2000, 2001]))
    assert float(stats.mean["t2m"]) == pytest.approx(float(train["t2m"].mean()), rel=1e-6)
    assert float(stats.std["z500"]) == pytest.approx(float(train["z500"].std()), rel=1e-5)
    assert float(stats.mean["lsm"]) == pytest.approx(float(three_years["lsm"].mean()), rel=1e-6)
    np.testing.assert_allclose(stats.climatology["t850"].values, train["t850"].mean("time").values, rtol=1e-6)
    test_clim = read_climax_stats(root, split="test").climatology
    np.testing.assert_allclose(test_clim["t850"].values, three_years["t850"].sel(time="2002").mean("time"), rtol=1e-6)


def test_writer_refuses_years_it_cannot_time_stamp(tmp_path):
    ds = make_canonical(("t2m",), steps=8, start="2000-03-01")
    with pytest.raises(ValueError, match="shards carry no time stamps"):
        write_climax_npz(ds, tmp_path / "npz", {"train": [2000]}, 2)
    with pytest.raises(NotInSourceError, match=r"no year\(s\) \[2001\]"):
        write_climax_npz(ds, tmp_path / "npz", {"train": [2001]}, 2)


def write_climax_era5(root, hours_per_shard: int = 6) -> None:
    """Shards as ClimaX's nc2np_equally_era5.py leaves them: hourly, no time stamps, extra keys."""
    rng = np.random.default_rng(1)
    shape = (hours_per_shard, 1, 32, 64)
    (root / "train").mkdir(parents=True)
    for shard in range(2):
        start = shard * hours_per_shard
        hours = np.arange(start, start + hours_per_shard, dtype=np.float32)
        arrays = {
            "land_sea_mask": np.broadcast_to(np.float32(0.3), shape),
            "orography": np.broadcast_to(np.float32(50.0), shape),
            "lattitude": np.broadcast_to(WB5625.lat[None, None, :, None], shape).astype(np.float32),
            "2m_temperature": (280 + rng.standard_normal(shape)).astype(np.float32),
            "geopotential_500": np.broadcast_to(5e4 + hours[:, None, None, None], shape).astype(np.float32),
            "geopotential_100": np.ones(shape, np.float32),
            "total_precipitation": np.broadcast_to(1e-4 * (1 + hours[:, None, None, None]), shape).astype(np.float32),
        }
        np.savez(root / "train" / f"1979_{shard}.npz", **arrays)
    np.savez(root / "normalize_mean.npz", **{k: np.ones(1, np.float32) for k in arrays})
    np.savez(root / "normalize_std.npz", **{k: np.ones(1, np.float32) for k in arrays})
    np.save(root / "lat.npy", WB5625.lat)
    np.save(root / "lon.npy", WB5625.lon)


def test_reads_climax_era5_shards_as_hourly(tmp_path):
    root = tmp_path / "5.625deg_npz"
    write_climax_era5(root)
    with pytest.warns(UserWarning, match="dropped steps"):
        ds = open_dataset(str(root))
    assert list(ds.data_vars) == ["lsm", "orography", "t2m", "tp6h", "z500"]  # lattitude, geopotential_100 skipped
    assert ds.time.values[0] == np.datetime64("1979-01-01T05") and ds.sizes["time"] == 7
    assert (np.diff(ds.time.values) == np.timedelta64(1, "h")).all()
    np.testing.assert_allclose(ds["z500"].isel(lat=0, lon=0).values, 5e4 + np.arange(5, 12))
    np.testing.assert_allclose(
        ds["tp6h"].isel(lat=0, lon=0).values, [1e-4 * sum(range(h - 4, h + 2)) for h in range(5, 12)]
    )
    assert float(ds["lsm"][0, 0]) == pytest.approx(0.3)
    six = open_dataset(str(root), variables=["z500", "t2m"], step="6h")
    assert list(six.time.values) == [np.datetime64("1979-01-01T00", "ns"), np.datetime64("1979-01-01T06", "ns")]
    daily = open_dataset(str(root), variables=["z500"], time_step="6h")
    assert daily.time.values[-1] == np.datetime64("1979-01-03T18")


def test_missing_variable_and_corrupt_shard(tmp_path):
    root = tmp_path / "npz"
    write_climax_era5(root)
    with pytest.raises(NotInSourceError, match=r"no variable\(s\) u10; it has: lsm, orography, t2m, tp6h, z500"):
        open_dataset(str(root), variables=["u10"])
    shard = root / "train" / "1979_1.npz"
    shard.write_bytes(shard.read_bytes()[:1000])
    with pytest.raises(OSError, match="1979_1.npz"):
        open_dataset(str(root), variables=["z500"])


def test_times_of_cmip6_periods(tmp_path):
    root = tmp_path / "mpi_npz"
    write_climax_era5(root)
    for shard in range(2):
        (root / "train" / f"1979_{shard}.npz").rename(root / "train" / f"185001010600-185001040000_{shard}.npz")
    ds = open_dataset(str(root), variables=["z500"])
    assert ds.time.values[0] == np.datetime64("1850-01-01T06") and ds.time.values[1] == np.datetime64("1850-01-01T12")
    assert pd.Timestamp(ds.time.values[-1]) == pd.Timestamp("1850-01-04T00")
