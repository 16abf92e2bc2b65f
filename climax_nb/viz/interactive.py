"""Interactive forecast maps (hvplot + geoviews in Panel): variable selector, lead-time and init-time sliders.

Works offline: coastlines are the Natural Earth 110m shipped in the package and no
web tiles are used. Colour limits are fixed per variable over all lead and
initial times, so moving a slider shows the forecast change, not the colour bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import xarray as xr

from climax_nb.grid import spans_all_lon, unwrapped_lon
from climax_nb.viz.coastlines import SHIPPED_RESOLUTION, use_shipped_coastlines
from climax_nb.viz.limits import colour_limits
from climax_nb.viz.maps import is_diverging
from climax_nb.viz.select import check_variable, forecast_and_truth, lead_label, units_of

use_shipped_coastlines()

SHOW_CHOICES: tuple[str, ...] = ("forecast", "truth", "forecast − truth")


def _to_dateline(da: xr.DataArray) -> xr.DataArray:
    """Longitudes in [-180, 180): the range geoviews' PlateCarree and the Natural Earth coastline use.

    A box (a regional forecast) keeps its columns west to east, its longitudes unwrapped from a first one in
    [-180, 180), so a box across 0 deg or the dateline is one piece, not two.
    """
    if not spans_all_lon(da["lon"].values):
        return da.assign_coords(lon=unwrapped_lon(da["lon"].values))
    return da.assign_coords(lon=((da["lon"] + 180.0) % 360.0) - 180.0).sortby("lon")


class _Fields:
    """Per variable: the fields to show (forecast, truth, error) and their colour limits, computed once."""

    def __init__(self, forecast: xr.Dataset, truth: xr.Dataset | None, variables: list[str]):
        self.arrays: dict[tuple[str, str], xr.DataArray] = {}
        self.limits: dict[tuple[str, str], tuple[float, float]] = {}
        for var in variables:
            fc, at = forecast_and_truth(forecast, truth, var)
            shown = {"forecast": fc} if at is None else {"forecast": fc, "truth": at, "forecast − truth": fc - at}
            for kind, da in shown.items():
                da = _to_dateline(da.load()).rename(var).assign_attrs(units=units_of(fc, at))
                self.arrays[var, kind] = da
                self.limits[var, kind] = colour_limits([da], kind == "forecast − truth" or is_diverging(var))


def forecast_explorer(
    forecast: xr.Dataset,
    truth: xr.Dataset | None = None,
    variables: Sequence[str] | None = None,
    width: int = 720,
) -> pn.Column:
    """A Panel layout: selectors (variable, what to show) and sliders (lead time, init time) above a map.

    ``truth`` (a canonical dataset covering the valid times) adds truth and
    forecast − truth to the choices. The widgets are the first row's objects.
    """
    import hvplot.xarray  # noqa: F401  (registers .hvplot on xarray objects)

    variables = list(variables) if variables is not None else [str(v) for v in forecast.data_vars]
    if not variables:
        raise ValueError("forecast has no variables to show")
    for var in variables:
        check_variable(forecast, var)
    fields = _Fields(forecast, truth, variables)
    leads = {lead_label(lead): lead for lead in forecast["lead_time"].values}
    inits = {pd.Timestamp(t).strftime("%Y-%m-%d %H:%M"): t for t in forecast["init_time"].values}
    variable = pn.widgets.Select(label="variable", options=variables, value=variables[0])
    show = pn.widgets.Select(label="show", options=list(SHOW_CHOICES if truth is not None else SHOW_CHOICES[:1]))
    lead = pn.widgets.DiscreteSlider(label="lead time", options=leads, value=next(iter(leads.values())))
    init = pn.widgets.DiscreteSlider(label="init time", options=inits, value=next(iter(inits.values())))

    def draw(variable: str, show: str, lead: np.timedelta64, init: np.datetime64) -> Any:
        da = fields.arrays[variable, show].sel(lead_time=lead, init_time=init)
        units = da.attrs.get("units", "")
        centred = show == "forecast − truth" or is_diverging(variable)
        use_shipped_coastlines()  # geoviews reads the coastline when the map renders
        return da.hvplot.quadmesh(
            x="lon",
            y="lat",
            geo=True,
            coastline=SHIPPED_RESOLUTION,
            cmap="RdBu_r" if centred else "viridis",
            clim=fields.limits[variable, show],
            clabel=f"{variable} [{units}]" if units else variable,
            title=f"{show} {variable}, init {pd.Timestamp(init):%Y-%m-%d %H:%M}, +{lead_label(lead)}",
            width=width,
            height=width // 2,
        )

    plot = pn.pane.HoloViews(pn.bind(draw, variable=variable, show=show, lead=lead, init=init))
    return pn.Column(pn.Row(variable, show, lead, init), plot)
