"""Forecasts round-trip through NetCDF and zarr with their CF attributes and time coordinates."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from climax_nb.forecast import Perturbation, forecast, open_forecast, save_forecast
from tests.forecast_helpers import initial_state, tiny_checkpoint


@pytest.fixture(scope="module")
def fc():
    ds = initial_state(steps=3)
    return forecast(tiny_checkpoint(), ds, [6, 24], ensemble=Perturbation(2, 0.05))


@pytest.mark.parametrize("name", ["fc.nc", "fc.zarr"])
def test_round_trip(tmp_path, fc, name):
    path = save_forecast(fc, tmp_path / name)
    back = open_forecast(path).load()
    xr.testing.assert_identical(back, fc)
    assert back["lead_time"].dtype == "timedelta64[ns]"
    assert back["t2m"].attrs["units"] == "K" and back["t2m"].attrs["long_name"] == "2m_temperature"
    assert back["lead_time"].attrs["standard_name"] == "forecast_period"
    assert back.attrs["mode"] == "continuous" and back.attrs["perturbation_scale"] == 0.05


def test_lead_time_stored_in_hours(tmp_path, fc):
    path = save_forecast(fc, tmp_path / "fc.nc")
    raw = xr.open_dataset(path, decode_times=False, decode_timedelta=False)
    assert raw["lead_time"].attrs["units"] == "hours"
    np.testing.assert_array_equal(raw["lead_time"].values, [6.0, 24.0])


def test_unknown_suffix(tmp_path, fc):
    with pytest.raises(ValueError, match=r"\*.nc.*\*.zarr"):
        save_forecast(fc, tmp_path / "fc.bin")


@pytest.mark.parametrize("name", ["fc.nc", "fc.zarr"])
def test_an_existing_file_is_replaced_only_when_asked_and_only_if_a_forecast(tmp_path, fc, name):
    path = save_forecast(fc, tmp_path / name)
    with pytest.raises(FileExistsError, match="exists: choose another path, or pass overwrite=True"):
        save_forecast(fc, path)
    save_forecast(fc * 2, path, overwrite=True)
    xr.testing.assert_allclose(open_forecast(path).load()["t2m"], (fc * 2)["t2m"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary files left
    data = tmp_path / f"inputs{path.suffix}"
    inputs = initial_state(steps=3)
    inputs.to_zarr(data) if data.suffix == ".zarr" else inputs.to_netcdf(data)
    with pytest.raises(FileExistsError, match="is not a forecast: it is never overwritten"):
        save_forecast(fc, data, overwrite=True)
    xr.testing.assert_identical(
        (xr.open_zarr(data) if data.suffix == ".zarr" else xr.open_dataset(data)).load(), inputs.load())
