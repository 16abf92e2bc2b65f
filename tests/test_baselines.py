"""Baselines in the forecast layout, checked value by value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from climax_nb import baselines
from climax_nb.metrics import MetricInputError

LAT, LON = np.array([-45.0, 45.0]), np.array([0.0, 120.0, 240.0])


def truth() -> xr.Dataset:
    times = pd.date_range("2001-01-01", periods=12, freq="6h")
    data = np.arange(12.0)[:, None, None] + np.zeros((1, 2, 3))  # value = step index
    return xr.Dataset(
        {"t850": (("time", "lat", "lon"), data), "lsm": (("lat", "lon"), np.ones((2, 3)))},
        coords={"time": times, "lat": LAT, "lon": LON},
    )


def doy_clim() -> xr.Dataset:
    days = np.arange(1, 367)
    data = 100.0 * days[None, :, None, None] + np.array([0.0, 6.0])[:, None, None, None] + np.zeros((1, 1, 2, 3))
    return xr.Dataset(
        {"t850": (("hour", "dayofyear", "lat", "lon"), data)},
        coords={"hour": [0, 6], "dayofyear": days, "lat": LAT, "lon": LON},
        attrs={"kind": "dayofyear_hour"},
    )


INITS = pd.to_datetime(["2001-01-01T00", "2001-01-02T00"])


def test_persistence_repeats_truth_at_init():
    fc = baselines.persistence(truth(), INITS, [0, 6, 24])
    assert fc["t850"].dims == ("init_time", "lead_time", "lat", "lon")
    assert list(fc.data_vars) == ["t850"]  # constants are not forecast
    np.testing.assert_array_equal(fc["t850"].values[:, :, 0, 0], [[0, 0, 0], [4, 4, 4]])
    assert fc["lead_time"].dtype.kind == "m"
    assert pd.Timestamp(fc["valid_time"].values[1, 2]) == pd.Timestamp("2001-01-03T00")


def test_persistence_error_names_missing_init():
    with pytest.raises(MetricInputError, match="init time.*2001-02-01"):
        baselines.persistence(truth(), pd.to_datetime(["2001-02-01"]), [6])


def test_climatology_forecast_at_valid_day_and_hour():
    fc = baselines.climatology_forecast(doy_clim(), INITS, pd.to_timedelta([6, 24], unit="h"))
    # valid: Jan 1 06h -> 106, Jan 2 00h -> 200; Jan 2 06h -> 206, Jan 3 00h -> 300
    np.testing.assert_array_equal(fc["t850"].values[:, :, 1, 2], [[106, 200], [206, 300]])


def test_climatology_forecast_from_time_mean_broadcasts():
    clim = xr.Dataset({"t850": (("lat", "lon"), np.full((2, 3), 7.0))}, coords={"lat": LAT, "lon": LON})
    fc = baselines.climatology_forecast(clim, INITS, [6, 12])
    assert fc["t850"].shape == (2, 2, 2, 3) and float(fc["t850"].max()) == 7.0


def test_weekly_climatology_averages_days_around_valid_day():
    fc = baselines.weekly_climatology(doy_clim(), INITS, [24])
    # valid Jan 2 00h (day 2): days 365, 366, 1..5 -> (36500 + 36600 + 100 + ... + 500) / 7
    expected = (36500 + 36600 + 100 + 200 + 300 + 400 + 500) / 7
    assert float(fc["t850"].values[0, 0, 0, 0]) == pytest.approx(expected)
    # Jan 3: days 366, 1..6
    assert float(fc["t850"].values[1, 0, 0, 0]) == pytest.approx((36600 + 2100) / 7)


def test_weekly_climatology_needs_day_of_year():
    clim = doy_clim().mean(("hour", "dayofyear"))
    with pytest.raises(MetricInputError, match="day-of-year climatology"):
        baselines.weekly_climatology(clim, INITS, [24])


def test_climatology_forecast_error_names_missing_variable():
    with pytest.raises(MetricInputError, match=r"no variable\(s\) \['z500'\]"):
        baselines.climatology_forecast(doy_clim(), INITS, [6], variables=["z500"])
