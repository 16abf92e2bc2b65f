"""Shared pieces of the plotting tests: a forecast with known errors and axes lookups (no test here)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from cartopy.mpl.geoaxes import GeoAxes

from climax_nb.forecast.io import forecast_dataset
from climax_nb.grid import WB5625
from tests.conftest import make_canonical

VARIABLES = ("z500", "t850", "u250")
LEADS = (6, 12, 24)


def forecast_pair(leads=LEADS, inits: int = 2, offset: float = 0.5) -> tuple[xr.Dataset, xr.Dataset]:
    """Truth with a wave-3 pattern, and a forecast equal to the truth at its valid times plus ``offset`` x lead."""
    truth = make_canonical(VARIABLES, steps=inits + max(leads) // 6 + 1)
    lat, lon = np.deg2rad(WB5625.lat)[:, None], np.deg2rad(WB5625.lon)[None, :]
    truth = truth + (10 * np.cos(lat) * np.cos(3 * lon)).astype(np.float32)
    init = truth["time"].values[:inits]
    values = np.stack(
        [
            np.stack(
                [
                    truth[list(VARIABLES)].sel(time=t + np.timedelta64(h, "h")).to_array().values + offset * h
                    for h in leads
                ]
            )
            for t in init
        ]
    )
    for v in VARIABLES:
        truth[v].attrs["units"] = {"z500": "m2 s-2", "t850": "K", "u250": "m s-1"}[v]
    return forecast_dataset(values, list(VARIABLES), init, list(leads), WB5625.lat, WB5625.lon), truth


def geo_axes(fig: plt.Figure) -> list[GeoAxes]:
    return [ax for ax in fig.axes if isinstance(ax, GeoAxes) and ax.get_visible()]


def colour_limits(ax: GeoAxes) -> tuple[float, float]:
    return ax.collections[0].get_clim()
