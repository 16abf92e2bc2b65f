"""What every source shares: time subsampling, reader options, ERA5 short names."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from climax_nb.data import open_dataset
from climax_nb.data.sources import subsample
from tests.conftest import make_canonical


def test_era5_short_names_are_standardized(tmp_path):
    lat, lon = np.linspace(87.1875, -87.1875, 32), np.arange(-180, 180, 5.625)
    time = pd.date_range("2001-01-01", periods=3, freq="6h")
    ds = xr.Dataset(
        {
            "t": (("valid_time", "isobaricInhPa", "latitude", "longitude"), np.full((3, 2, 32, 64), 250.0, "f4")),
            "t2m": (("valid_time", "latitude", "longitude"), np.full((3, 32, 64), 280.0, "f4")),
        },
        coords={"valid_time": time, "isobaricInhPa": [850, 500], "latitude": lat, "longitude": lon},
    )
    ds["t"].attrs["units"] = ds["t2m"].attrs["units"] = "K"
    path = tmp_path / "era5.nc"
    ds.to_netcdf(path)
    got = open_dataset(str(path), standardize=True)
    assert sorted(got.data_vars) == ["t2m", "t500", "t850"]
    assert got.lat.values[0] < 0 and got.lon.values[0] == 0


def test_subsample_keeps_stamps_on_the_step():
    ds = make_canonical(("t2m",), steps=12, start="2000-01-01T00")
    assert list(subsample(ds, "12h").time.dt.hour.values) == [0, 12] * 3
    assert subsample(ds, None) is ds
    with pytest.raises(ValueError, match="multiple of the step"):
        subsample(ds, "9h")


def test_reader_options_need_a_real_source(tmp_path):
    path = tmp_path / "c.nc"
    make_canonical().to_netcdf(path)
    with pytest.raises(TypeError, match="resolution"):
        open_dataset(str(path), resolution=5.625)
