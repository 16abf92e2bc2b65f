"""Shared fixtures: small canonical datasets made in the test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from climax_nb.grid import WB5625
from climax_nb.variables import VARIABLES


def make_canonical(ids=("z500", "t850", "t2m", "lsm"), steps: int = 8, start: str = "2000-01-01") -> xr.Dataset:
    """A tiny canonical dataset on the 5.625 degree grid with plausible values."""
    rng = np.random.default_rng(0)
    time = pd.date_range(start, periods=steps, freq="6h")
    lat, lon = WB5625.lat, WB5625.lon
    fields = {}
    for vid in ids:
        var = VARIABLES[vid]
        if var.kind == "constant":
            data, dims = rng.random((len(lat), len(lon))), ("lat", "lon")
        else:
            data, dims = 280 + rng.standard_normal((steps, len(lat), len(lon))), ("time", "lat", "lon")
        fields[vid] = xr.DataArray(data.astype(np.float32), dims=dims, attrs={"units": var.units})
    return xr.Dataset(fields, coords={"time": time, "lat": lat, "lon": lon})


@pytest.fixture
def canonical() -> xr.Dataset:
    return make_canonical()
