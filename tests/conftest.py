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


@pytest.fixture
def offline(monkeypatch):
    """Any cartopy download raises; the default (unset) data folder; an empty geometry cache."""
    from pathlib import Path

    import cartopy
    import cartopy.feature
    import cartopy.io

    def refuse(*args, **kwargs):
        raise AssertionError("cartopy tried to download a file")

    import cartopy.io.shapereader  # noqa: F401  (registers the Natural Earth and GSHHS downloaders)

    classes = [cartopy.io.Downloader]
    while classes:
        cls = classes.pop()
        monkeypatch.setattr(cls, "acquire_resource", refuse)
        classes.extend(cls.__subclasses__())
    monkeypatch.setattr(cartopy.io, "urlopen", refuse)
    monkeypatch.setattr("urllib.request.urlopen", refuse)
    monkeypatch.setattr("socket.create_connection", refuse)
    monkeypatch.delenv("CARTOPY_DATA_DIR", raising=False)
    monkeypatch.setitem(cartopy.config, "pre_existing_data_dir", Path(""))
    monkeypatch.setattr(cartopy.feature, "_NATURAL_EARTH_GEOM_CACHE", {})
