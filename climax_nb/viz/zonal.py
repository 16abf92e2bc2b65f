"""Zonal means of a forecast by lead time against the truth: drift of jets and temperature gradients."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from climax_nb.viz.select import forecast_and_truth, lead_label, pick_leads, units_of


def zonal_means_by_lead(
    forecast: xr.Dataset, truth: xr.Dataset, variable: str, lead_times: Sequence[Any] | None = None
) -> xr.Dataset:
    """Zonal means over initial times of ``forecast`` and ``truth`` at its valid times, dims (lead_time, lat)."""
    leads = pick_leads(forecast, lead_times)
    fc, at = forecast_and_truth(forecast.sel(lead_time=leads), truth, variable)
    means = {name: da.mean(("init_time", "lon")) for name, da in (("forecast", fc), ("truth", at))}
    return xr.Dataset(means, attrs={"variable": variable, "units": units_of(fc, at)})


def plot_zonal_means_by_lead(
    forecast: xr.Dataset,
    truth: xr.Dataset,
    variable: str,
    lead_times: Sequence[Any] | None = None,
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Zonal-mean forecast at each lead time (colours) over the zonal-mean truth (black) against latitude."""
    means = zonal_means_by_lead(forecast, truth, variable, lead_times)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8))
    lat = means["lat"].values
    ax.plot(lat, means["truth"].mean("lead_time").values, color="k", lw=1.8, ls="--", zorder=3, label="truth")
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, means.sizes["lead_time"]))
    for colour, lead in zip(colours, means["lead_time"].values, strict=True):
        ax.plot(lat, means["forecast"].sel(lead_time=lead).values, color=colour, label=f"forecast +{lead_label(lead)}")
    units = means.attrs["units"]
    ax.set_xlabel("latitude [degrees north]")
    ax.set_ylabel(f"zonal-mean {variable} [{units}]" if units else f"zonal-mean {variable}")
    ax.set_xlim(-90, 90)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax
