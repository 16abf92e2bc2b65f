"""Small canonical datasets whose values say which variable and time step they hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.data.pipeline import StreamingForecastDataset
from climax_nb.data.stats import Normalizer
from climax_nb.variables import VARIABLES

EPOCH = np.datetime64("2000-01-01T00", "ns")
LAT = np.linspace(-70.0, 70.0, 8)
LON = np.arange(16) * 22.5


def code(vid: str, when: np.datetime64) -> float:
    """The value ``encoded`` stores for ``vid`` at ``when``: 1e5 * (variable number) + hours since 2000.

    Exact in float32 for whole hours up to 2011."""
    hours = (np.datetime64(when, "ns") - EPOCH) / np.timedelta64(1, "h")
    return 1e5 * (sorted(VARIABLES).index(vid) + 1) + hours


def encoded(ids: tuple[str, ...], times: pd.DatetimeIndex | np.ndarray) -> xr.Dataset:
    """Canonical fields on an 8 x 16 grid, constant in space, equal to ``code(vid, time)``; constants random."""
    times = pd.DatetimeIndex(times)
    rng = np.random.default_rng(0)
    fields = {}
    for vid in ids:
        var = VARIABLES[vid]
        if var.kind == "constant":
            fields[vid] = xr.DataArray(rng.random((8, 16), dtype=np.float32), dims=("lat", "lon"))
        else:
            values = np.array([code(vid, t) for t in times.values], dtype=np.float32)
            data = np.broadcast_to(values[:, None, None], (len(times), 8, 16)).copy()
            fields[vid] = xr.DataArray(data, dims=("time", "lat", "lon"))
        fields[vid].attrs["units"] = var.units
    return xr.Dataset(fields, coords={"time": times, "lat": LAT, "lon": LON})


def gapped_times(freq: str = "6h") -> pd.DatetimeIndex:
    """Two runs of time steps, the last days of 2000 and the first days of 2002: a one-year gap."""
    first = pd.date_range("2000-12-29", "2000-12-31T18", freq=freq)
    second = pd.date_range("2002-01-01", "2002-01-03T18", freq=freq)
    return first.append(second)


def identity(ids: list[str] | tuple[str, ...]) -> Normalizer:
    """Mean 0 and std 1 for every id, so samples hold the stored values."""
    return Normalizer(dict.fromkeys(ids, 0.0), dict.fromkeys(ids, 1.0))


SOURCE_VARS = {"gcm_a": ("lsm", "z500", "t850"), "gcm_b": ("t2m", "u10")}


def sources(steps=60, rank=None, world_size=None):
    """Two streaming sources with different variables, six-hourly, 6 h and 12 h leads."""
    times = pd.date_range("2001-01-01", periods=steps, freq="6h")
    return {
        name: StreamingForecastDataset(
            encoded(ids, times),
            list(ids),
            None,
            identity(ids),
            leads=[6, 12],
            block_size=4,
            rank=rank,
            world_size=world_size,
        )
        for name, ids in SOURCE_VARS.items()
    }
