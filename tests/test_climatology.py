"""Climatologies against straightforward numpy on small data with leap years, gaps and partial years."""

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from climax_nb.data.climatology import (
    climatology,
    climatology_at,
    climatology_from_dict,
    climatology_to_dict,
    load_climatology,
    save_climatology,
    window_weights,
)
from tests.conftest import make_canonical


def small_dataset(start="2003-03-01", end="2004-12-31T18", gap=("2003-07-10", "2003-07-20"), freq="6h"):
    """t2m and z500 on a 4 x 8 grid with a seasonal cycle, a diurnal cycle and noise; lsm constant."""
    time = pd.date_range(start, end, freq=freq)
    if gap:
        time = time[(time < gap[0]) | (time > gap[1])]
    rng = np.random.default_rng(3)
    phase = 2 * np.pi * time.dayofyear.values / 366
    diurnal = np.cos(2 * np.pi * time.hour.values / 24)
    base = (10 * np.sin(phase) + 3 * diurnal)[:, None, None]
    fields = {
        "t2m": (("time", "lat", "lon"), (280 + base + rng.normal(0, 1, (len(time), 4, 8))).astype("float32")),
        "z500": (("time", "lat", "lon"), (5e4 + 50 * base + rng.normal(0, 9, (len(time), 4, 8))).astype("float32")),
        "lsm": (("lat", "lon"), rng.random((4, 8)).astype("float32")),
    }
    coords = {"time": time, "lat": [-60.0, -20.0, 20.0, 60.0], "lon": np.arange(8) * 45.0}
    ds = xr.Dataset(fields, coords=coords)
    for vid, units in (("t2m", "K"), ("z500", "m2 s-2"), ("lsm", "1")):
        ds[vid].attrs["units"] = units
    return ds


def reference(values: np.ndarray, times: pd.DatetimeIndex, window: int) -> np.ndarray:
    """WeatherBench 2's recipe, step by step: stack years by day of year per hour, copy day 365 into a
    missing day 366, pad by wrapping, then a triangular-weighted mean over window days and years."""
    half = window // 2
    w = np.concatenate([np.linspace(0, 1, half + 1), np.linspace(1, 0, half + 1)[1:]]) if window > 1 else np.ones(1)
    years, hours = sorted(set(times.year)), sorted(set(times.hour))
    out = np.empty((len(hours), 366, *values.shape[1:]))
    for h, hour in enumerate(hours):
        stack = np.full((len(years), 366, *values.shape[1:]), np.nan)
        for i, year in enumerate(years):
            pick = (times.year == year) & (times.hour == hour)
            stack[i, times[pick].dayofyear - 1] = values[pick]
        stack[:, 365] = np.where(np.isnan(stack[:, 365]), stack[:, 364], stack[:, 365])
        padded = np.concatenate([stack[:, 366 - half :], stack, stack[:, :half]], axis=1) if half else stack
        for d in range(366):
            win = padded[:, d : d + window]
            weight = w[None, :, None, None] * np.isfinite(win)
            out[h, d] = np.nansum(win * w[None, :, None, None], axis=(0, 1)) / weight.sum(axis=(0, 1))
    return out


def weatherbench2_xarray(ds: xr.Dataset, window: int) -> xr.Dataset:
    """WeatherBench 2's xarray procedure (rolling window over stacked years, weighted mean)."""
    half = window // 2
    w = np.concatenate([np.linspace(0, 1, half + 1), np.linspace(1, 0, half + 1)[1:]])
    weights = xr.DataArray(w / w.mean(), dims=["window"])
    by_hour = []
    hours = sorted(set(ds["time"].dt.hour.values.tolist()))
    for hour in hours:
        sub = ds.isel(time=ds["time"].dt.hour == hour)
        per_year = []
        for year in np.unique(sub["time"].dt.year):
            one = sub.sel(time=str(year))
            per_year.append(one.assign_coords(time=one["time"].dt.dayofyear).rename(time="dayofyear"))
        stacked = xr.concat(per_year, dim="year", join="outer")
        stacked = stacked.fillna(stacked.sel(dayofyear=365))
        stacked = stacked.pad(pad_width={"dayofyear": half}, mode="wrap")
        stacked = stacked.rolling(dayofyear=window, center=True).construct("window")
        mean = stacked.weighted(weights).mean(dim=("window", "year"))
        by_hour.append(mean.isel(dayofyear=slice(half, -half)))
    return xr.concat(by_hour, dim=xr.DataArray(hours, dims="hour"))


def test_equals_weatherbench2_xarray_procedure_on_whole_years():
    ds = small_dataset(start="2003-01-01", gap=None)[["t2m"]]
    expected = weatherbench2_xarray(ds, 61)["t2m"].transpose("hour", "dayofyear", "lat", "lon")
    np.testing.assert_allclose(climatology(ds, window=61)["t2m"].values, expected.values, rtol=1e-6)


@pytest.fixture(scope="module")
def data():
    return small_dataset()


@pytest.mark.parametrize("window", [61, 5, 1])
def test_dayofyear_hour_matches_weatherbench2_recipe(data, window):
    clim = climatology(data, "dayofyear_hour", window=window, chunk_size=97)
    times = pd.DatetimeIndex(data["time"].values)
    for vid in ("t2m", "z500"):
        expected = reference(data[vid].values.astype(np.float64), times, window)
        assert clim[vid].dims == ("hour", "dayofyear", "lat", "lon")
        np.testing.assert_allclose(clim[vid].values, expected, rtol=2e-6)
    assert clim["hour"].values.tolist() == [0, 6, 12, 18]
    assert clim["dayofyear"].values.tolist() == list(range(1, 367))
    assert clim.attrs["window"] == window and clim.attrs["years"] == [2003, 2004]
    np.testing.assert_array_equal(clim["lsm"].values, data["lsm"].values)


def test_non_leap_training_years_still_give_day_366(data):
    clim = climatology(data, years=[2003], window=5)
    times = pd.DatetimeIndex(data["time"].sel(time="2003").values)
    expected = reference(data["t2m"].sel(time="2003").values.astype(np.float64), times, 5)
    np.testing.assert_allclose(clim["t2m"].values, expected, rtol=2e-6)
    assert np.all(np.isfinite(clim["t2m"].sel(dayofyear=366).values))


def test_days_without_data_in_the_whole_window_are_nan():
    ds = small_dataset(start="2004-06-01", end="2004-06-30T18", gap=None)
    clim = climatology(ds, window=3)
    assert np.isnan(clim["t2m"].sel(dayofyear=1).values).all()
    assert np.isfinite(clim["t2m"].sel(dayofyear=170).values).all()


def test_time_mean_matches_numpy(data):
    clim = climatology(data, "time_mean", years=[2004], chunk_size=50)
    expected = data["z500"].sel(time="2004").values.astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(clim["z500"].values, expected, rtol=1e-6)
    assert clim["z500"].dims == ("lat", "lon") and clim.attrs["kind"] == "time_mean"


def test_lookup_by_time_picks_day_and_hour(data):
    clim = climatology(data, window=5)
    times = pd.to_datetime(["2004-12-31T18", "2005-03-01T06"])
    got = climatology_at(clim, times)
    assert got["t2m"].dims == ("time", "lat", "lon")
    np.testing.assert_array_equal(got["t2m"].values[0], clim["t2m"].sel(hour=18, dayofyear=366).values)
    np.testing.assert_array_equal(got["t2m"].values[1], clim["t2m"].sel(hour=6, dayofyear=60).values)
    valid = xr.DataArray(np.array([times.values, times.values]), dims=("init_time", "lead_time"))
    assert climatology_at(clim, valid)["t2m"].dims == ("init_time", "lead_time", "lat", "lon")
    with pytest.raises(ValueError, match=r"hours \[0, 6, 12, 18\].*hour\(s\) \[3\]"):
        climatology_at(clim, pd.to_datetime(["2004-01-01T03"]))


def test_bad_arguments_are_explained(data):
    with pytest.raises(ValueError, match="unknown climatology kind 'weekly'"):
        climatology(data, "weekly")
    with pytest.raises(ValueError, match="positive odd number"):
        climatology(data, window=60)
    with pytest.raises(ValueError, match="NaN"):
        climatology(data.where(data["t2m"] < 290))
    with pytest.raises(ValueError, match="positive odd"):
        window_weights(0)


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_save_and_load_beside_the_data(data, tmp_path, suffix):
    clim = climatology(data, window=5)
    back = load_climatology(save_climatology(clim, tmp_path / f"clim{suffix}"))
    xr.testing.assert_identical(back[["t2m", "lsm"]], clim[["t2m", "lsm"]])
    with pytest.raises(FileNotFoundError, match="save_climatology"):
        load_climatology(tmp_path / "nothing.nc")


@pytest.mark.parametrize("kind", ["time_mean", "dayofyear_hour"])
def test_dict_form_fits_a_weights_only_checkpoint(kind, tmp_path):
    ds = make_canonical(ids=("t2m", "lsm"), steps=12)
    clim = climatology(ds, kind, window=3)
    torch.save({"climatology": climatology_to_dict(clim)}, tmp_path / "c.pt")
    back = climatology_from_dict(torch.load(tmp_path / "c.pt", weights_only=True)["climatology"])
    xr.testing.assert_identical(back, clim)
