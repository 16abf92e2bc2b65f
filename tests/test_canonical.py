"""canonicalize() performs the standard conversions, only when asked."""

import re

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


def test_unmappable_variable_is_dropped_with_the_fix_named():
    raw = era5_like().rename({"2m_temperature": "tas"})
    with pytest.warns(UserWarning, match="no registry id: tas; pass lexicon=.*'tas'"):
        ds = canonicalize(raw)
    assert set(ds.data_vars) == {"t500", "t850", "orography"}


def test_nothing_recognised_is_an_error_naming_what_was_found():
    raw = era5_like().rename({"2m_temperature": "tas", "temperature": "ta", "geopotential_at_surface": "orog"})
    with pytest.raises(ValueError, match="recognised none of the variables it found") as err:
        canonicalize(raw)
    for found in ("tas ('time', 'longitude', 'latitude')", "ta ('time', 'level',", "orog ('longitude', 'latitude')"):
        assert found in str(err.value)
    with pytest.raises(UnknownVariableError, match=r"ERA5/GRIB short names.*lexicon=\{'ta'"):
        canonicalize(raw[["ta"]])
    with pytest.raises(ValueError, match="recognised none"):
        canonicalize(xr.Dataset(coords={"latitude": [0.0], "longitude": [0.0]}))


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


# -- ERA5 as cfgrib opens it and as the CDS delivers it, recognised without a lexicon ---------

G = 9.80665
LAT = np.linspace(90, -90, 33)  # north to south, poles included, as ERA5 stores it
LON = np.arange(64) * 5.625
TIMES = pd.date_range("2020-01-01", periods=3, freq="6h")
GRIB_ATTRS = {"GRIB_edition": 1, "GRIB_centre": "ecmf", "Conventions": "CF-1.7"}


def _grib_var(dims, data, short_name, units, type_of_level):
    attrs = {
        "GRIB_paramId": 0,
        "GRIB_shortName": short_name,
        "GRIB_units": units,
        "GRIB_typeOfLevel": type_of_level,
        "GRIB_stepType": "instant",
        "units": units,
        "long_name": short_name,
    }
    return (dims, data.astype(np.float32), attrs)


def _level_fields(level_dim: str, time_dim: str, levels) -> dict:
    rng = np.random.default_rng(0)
    shape = (len(TIMES), len(levels), len(LAT), len(LON))
    dims = (time_dim, level_dim, "latitude", "longitude")
    # standard-atmosphere heights (m) of the levels, as geopotential
    height = np.interp(np.log(np.asarray(levels, float)), np.log([500.0, 850.0, 1000.0]), [5570.0, 1460.0, 110.0])
    z = 9.80665 * height[None, :, None, None] + rng.random(shape)
    # a field that varies with latitude, so orientation errors show
    t = 200 + np.broadcast_to(np.cos(np.deg2rad(LAT))[None, None, :, None] * 80, shape) + rng.random(shape)
    return {
        "z": _grib_var(dims, z, "z", "m**2 s**-2", "isobaricInhPa"),
        "t": _grib_var(dims, t, "t", "K", "isobaricInhPa"),
    }


def _surface_fields(time_dim: str) -> dict:
    shape = (len(TIMES), len(LAT), len(LON))
    dims = (time_dim, "latitude", "longitude")
    lat = np.broadcast_to(LAT[None, :, None], shape)
    return {
        "t2m": _grib_var(dims, 250 + 0.3 * lat, "2t", "K", "surface"),
        "u10": _grib_var(dims, np.full(shape, 3.0), "10u", "m s**-1", "surface"),
        "v10": _grib_var(dims, np.full(shape, -1.0), "10v", "m s**-1", "surface"),
        "msl": _grib_var(dims, np.full(shape, 101325.0), "msl", "Pa", "surface"),
        "sp": _grib_var(dims, np.full(shape, 98000.0), "sp", "Pa", "surface"),
        "lsm": _grib_var(dims, (lat > 0).astype(float), "lsm", "(0 - 1)", "surface"),
        "tisr": _grib_var(dims, np.full(shape, 1.2e6), "tisr", "J m**-2", "surface"),
        "z": _grib_var(dims, G * (100 + lat), "z", "m**2 s**-2", "surface"),
    }


def cfgrib_levels(levels=(1000, 850, 500)) -> xr.Dataset:
    """``cfgrib.open_dataset`` of an ERA5 pressure-level GRIB file (analysis)."""
    return xr.Dataset(
        _level_fields("isobaricInhPa", "time", levels),
        coords={
            "number": 0,
            "time": TIMES,
            "step": np.timedelta64(0, "ns"),
            "isobaricInhPa": ("isobaricInhPa", np.asarray(levels, float), {"units": "hPa", "positive": "down"}),
            "latitude": ("latitude", LAT, {"units": "degrees_north"}),
            "longitude": ("longitude", LON, {"units": "degrees_east"}),
            "valid_time": ("time", TIMES),
        },
        attrs=GRIB_ATTRS,
    )


def cfgrib_surface() -> xr.Dataset:
    """``cfgrib.open_dataset`` of an ERA5 single-level GRIB file (instantaneous fields)."""
    return xr.Dataset(
        _surface_fields("time"),
        coords={
            "number": 0,
            "time": TIMES,
            "step": np.timedelta64(0, "ns"),
            "surface": 0.0,
            "latitude": LAT,
            "longitude": LON,
            "valid_time": ("time", TIMES),
        },
        attrs=GRIB_ATTRS,
    )


def cds_levels(levels=(1000, 850, 500)) -> xr.Dataset:
    """A netCDF file from the CDS (2024 layout): ``valid_time`` and ``pressure_level`` dims, ``expver``."""
    return xr.Dataset(
        _level_fields("pressure_level", "valid_time", levels),
        coords={
            "number": 0,
            "valid_time": TIMES,
            "pressure_level": ("pressure_level", np.asarray(levels, float), {"units": "hPa"}),
            "latitude": LAT,
            "longitude": LON,
            "expver": ("valid_time", np.array(["0001"] * len(TIMES))),
        },
        attrs=GRIB_ATTRS,
    )


def cds_surface(with_tp: bool = True) -> xr.Dataset:
    fields = _surface_fields("valid_time")
    if with_tp:
        tp = np.full((3, 33, 64), 2e-4)
        fields["tp"] = _grib_var(("valid_time", "latitude", "longitude"), tp, "tp", "m", "surface")
    return xr.Dataset(
        fields,
        coords={
            "number": 0,
            "valid_time": TIMES,
            "latitude": LAT,
            "longitude": LON,
            "expver": ("valid_time", np.array(["0001"] * len(TIMES))),
        },
        attrs=GRIB_ATTRS,
    )


def _check_levels(raw: xr.Dataset, level_dim: str) -> None:
    with pytest.warns(UserWarning, match="levels the registry does not know: z_1000, t_1000"):
        ds = validate(canonicalize(raw))
    assert list(ds.data_vars) == ["z500", "z850", "t500", "t850"]  # registry order
    assert ds["z500"].dims == ("time", "lat", "lon") and ds["z500"].dtype == np.float32
    assert ds["z500"].attrs["units"] == "m2 s-2" and ds["t850"].attrs["units"] == "K"
    assert ds.lat.values[0] == -90 and ds.lat.values[-1] == 90 and ds.lon.values[0] == 0
    np.testing.assert_array_equal(ds.time.values, TIMES.values)
    assert not {"number", "step", "valid_time", "expver", "level"} & set(ds.coords)
    # the north pole row is the file's first; values are not rescaled
    want = raw["z"].sel({level_dim: 500.0}).isel(latitude=0).values
    np.testing.assert_array_equal(ds["z500"].sel(lat=90.0).values, want)
    assert float(ds["t850"].sel(lat=0.0).mean()) > float(ds["t850"].sel(lat=90.0).mean()) + 70


def test_cfgrib_pressure_levels_need_no_lexicon():
    _check_levels(cfgrib_levels(), "isobaricInhPa")


def test_cds_pressure_levels_need_no_lexicon():
    _check_levels(cds_levels(), "pressure_level")


@pytest.mark.parametrize("layout", [cfgrib_surface, cds_surface])
def test_era5_surface_fields_need_no_lexicon(layout):
    raw = layout()
    with pytest.warns(UserWarning) as record:
        ds = validate(canonicalize(raw))
    messages = " | ".join(str(w.message) for w in record)
    assert "no registry id: msl" in messages
    assert list(ds.data_vars) == ["lsm", "orography", "t2m", "u10", "v10", "sp", "tisr"]
    units = {vid: ds[vid].attrs["units"] for vid in ds.data_vars}
    assert units == {
        "lsm": "1",
        "orography": "m",
        "t2m": "K",
        "u10": "m s-1",
        "v10": "m s-1",
        "sp": "Pa",
        "tisr": "J m-2",
    }
    assert ds["lsm"].dims == ("lat", "lon") and ds["orography"].dims == ("lat", "lon")
    assert ds["t2m"].dims == ("time", "lat", "lon") and ds.sizes["time"] == 3
    # surface geopotential (m2 s-2) is orography (m) times g
    np.testing.assert_allclose(ds["orography"].values, (100 + ds.lat.values)[:, None] * np.ones(64), rtol=1e-5)
    np.testing.assert_allclose(ds["t2m"].isel(time=0, lon=0).values, 250 + 0.3 * ds.lat.values, rtol=1e-6)
    np.testing.assert_array_equal(ds["lsm"].sel(lat=90.0).values, 1.0)
    assert not {"number", "step", "surface", "valid_time", "expver"} & set(ds.coords)


def test_hourly_precipitation_is_not_taken_for_tp6h():
    with pytest.warns(UserWarning) as record:
        ds = canonicalize(cds_surface())
    assert "tp6h" not in ds
    assert any(re.search(r"dropped tp: 1-hour precipitation.*lexicon=\{'tp': 'tp6h'\}", str(w.message)) for w in record)
    with pytest.warns(UserWarning, match="msl"):
        ds = canonicalize(cds_surface(), lexicon={"tp": "tp6h"})
    assert ds["tp6h"].attrs["units"] == "m"


def test_single_pressure_level_is_a_scalar_coordinate_in_cfgrib():
    raw = cfgrib_levels(levels=(500,)).isel(isobaricInhPa=0)  # cfgrib drops a one-level axis
    assert raw["z"].dims == ("time", "latitude", "longitude")
    ds = validate(canonicalize(raw))
    assert list(ds.data_vars) == ["z500", "t500"] and "level" not in ds.coords


def test_cfgrib_accumulations_on_forecast_steps_get_valid_times():
    start = pd.DatetimeIndex(["2019-12-31T18", "2020-01-01T06"])
    steps = pd.to_timedelta([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], "h")
    valid = start.values[:, None] + steps.values[None, :]
    data = np.broadcast_to(np.arange(24.0).reshape(2, 12)[:, :, None, None], (2, 12, 33, 64))
    raw = xr.Dataset(
        {"tisr": _grib_var(("time", "step", "latitude", "longitude"), data * 1e5, "tisr", "J m**-2", "surface")},
        coords={
            "number": 0,
            "time": start,
            "step": steps,
            "surface": 0.0,
            "latitude": LAT,
            "longitude": LON,
            "valid_time": (("time", "step"), valid),
        },
    )
    ds = validate(canonicalize(raw))
    assert ds["tisr"].dims == ("time", "lat", "lon") and ds.sizes["time"] == 24
    np.testing.assert_array_equal(ds.time.values, np.sort(valid.ravel()))
    np.testing.assert_allclose(ds["tisr"].isel(lat=0, lon=0).values, np.arange(24.0) * 1e5)


def test_era5_netcdf_opens_with_standardize(tmp_path):
    from climax_nb.data import open_dataset

    path = tmp_path / "era5_cds.nc"
    parts = [cds_levels(levels=(850, 500)), cds_surface(with_tp=False).drop_vars("z")]
    xr.merge(parts, compat="override").to_netcdf(path)
    with pytest.warns(UserWarning, match="msl"):
        ds = open_dataset(str(path), standardize=True)
    assert {"z500", "t850", "t2m", "lsm"} <= set(ds.data_vars)
