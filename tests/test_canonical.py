"""canonicalize() performs the standard conversions, only when asked."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from climax_nb.data import canonicalize, validate
from climax_nb.grid import WB5625
from climax_nb.variables import UnknownVariableError


def era5_like() -> xr.Dataset:
    """The layout of WeatherBench 2's 64x32 stores: (time, level, longitude, latitude), lat descending."""
    rng = np.random.default_rng(1)
    time = pd.date_range("2001-01-01", periods=3, freq="6h")
    lat, lon = WB5625.lat[::-1], (WB5625.lon + 180) % 360 - 180
    temp = 250 + rng.random((3, 2, 64, 32))
    return xr.Dataset(
        {
            "temperature": (("time", "level", "longitude", "latitude"), temp, {"units": "K"}),
            "geopotential_at_surface": (("longitude", "latitude"), rng.random((64, 32)), {"units": "m"}),
            "2m_temperature": (("time", "longitude", "latitude"), temp[:, 0], {}),
        },
        coords={"time": time, "level": [500, 850], "latitude": lat, "longitude": lon},
    )


def test_converts_era5_layout_to_canonical():
    raw = era5_like()
    ds = validate(canonicalize(raw))
    assert set(ds.data_vars) == {"t500", "t850", "orography", "t2m"}
    assert ds["t850"].dims == ("time", "lat", "lon") and ds["orography"].dims == ("lat", "lon")
    np.testing.assert_allclose(ds.lat, WB5625.lat)
    np.testing.assert_allclose(ds.lon, WB5625.lon)
    assert ds["t2m"].attrs["units"] == "K"


def test_values_follow_their_coordinates():
    raw = era5_like()
    ds = canonicalize(raw)
    # the point at (lat=-87.1875, lon=180) is raw's last latitude and longitude -180
    got = ds["t850"].sel(lat=-87.1875, lon=180.0).values
    want = raw["temperature"].sel(level=850).isel(latitude=-1).sel(longitude=-180.0).values
    np.testing.assert_allclose(got, want.astype(np.float32))


def test_input_is_not_modified():
    raw = era5_like()
    before = raw.copy(deep=True)
    canonicalize(raw)
    assert raw.identical(before)


def test_lexicon_maps_native_names():
    raw = era5_like().rename({"2m_temperature": "tas"})
    ds = canonicalize(raw, lexicon={"tas": "t2m", "temperature": "temperature"})
    assert "t2m" in ds


def test_unmappable_variable_names_the_fix():
    raw = era5_like().rename({"2m_temperature": "tas"})
    with pytest.raises(UnknownVariableError, match="lexicon=.*'tas'"):
        canonicalize(raw)


def test_unknown_levels_are_dropped_with_a_warning():
    raw = era5_like().assign_coords(level=[500, 123])
    with pytest.warns(UserWarning, match="temperature_123"):
        ds = canonicalize(raw)
    assert "t500" in ds and not any("123" in str(v) for v in ds.data_vars)


def test_present_units_are_not_converted():
    raw = era5_like()
    raw["temperature"].attrs["units"] = "degC"
    ds = canonicalize(raw)
    assert ds["t500"].attrs["units"] == "degC"
    with pytest.raises(ValueError, match="units are 'degC'"):
        validate(ds)
