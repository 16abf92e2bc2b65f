"""Static cartopy maps of fields and forecasts: truth, forecast and error; several lead times side by side.

Panels that should be compared share one colour scale and one colour bar with
units, so a forecast that looks like the truth really has the same values; the
error has its own scale centred on zero. Coastlines are Natural Earth 110m,
shipped in the package (see ``climax_nb.viz.coastlines``), so no download is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cartopy.crs as ccrs
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from cartopy.mpl.geoaxes import GeoAxes

from climax_nb.viz.coastlines import SHIPPED_RESOLUTION, use_shipped_coastlines
from climax_nb.viz.limits import colour_limits
from climax_nb.viz.maps import cyclic, extent, is_diverging
from climax_nb.viz.select import forecast_and_truth, lead_label, pick_init, pick_leads, units_of

use_shipped_coastlines()

ERROR_CMAP = "RdBu_r"


def default_projection() -> ccrs.Projection:
    """Robinson: whole globe, areas close to true, poles not stretched."""
    return ccrs.Robinson()


def _check_field(da: xr.DataArray) -> None:
    if set(da.dims) != {"lat", "lon"}:
        raise ValueError(
            f"a map needs a (lat, lon) field, got dims {tuple(da.dims)}; select one time "
            "(e.g. .isel(time=0) or .sel(init_time=..., lead_time=...)) first"
        )


def draw_field(
    ax: GeoAxes,
    da: xr.DataArray,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    coastlines: str | None = SHIPPED_RESOLUTION,
) -> Any:
    """Draw a (lat, lon) field on a cartopy axes with coastlines; returns the mesh (for a colour bar).

    A global field fills the globe; a box (a regional forecast) fills the map, which shows the box only.
    """
    _check_field(da)
    da = da.transpose("lat", "lon")
    lon, values = cyclic(da)
    mesh = ax.pcolormesh(
        lon, da["lat"].values, values, transform=ccrs.PlateCarree(), shading="auto", cmap=cmap, vmin=vmin, vmax=vmax
    )
    if coastlines:
        use_shipped_coastlines()  # again here: cheap, and holds even if the config was reset since import
        ax.coastlines(resolution=coastlines, linewidth=0.6)
    box = extent(da)
    if box is None:
        ax.set_global()
    else:  # a regional field: the map shows its box, west to east (across 0 deg in one piece), north up
        ax.set_extent(box, crs=ccrs.PlateCarree())
    return mesh


def plot_field(
    da: xr.DataArray,
    ax: GeoAxes | None = None,
    projection: ccrs.Projection | None = None,
    cmap: str | None = None,
    title: str | None = None,
    coastlines: str | None = SHIPPED_RESOLUTION,
    **limits: float,
) -> GeoAxes:
    """One (lat, lon) field on a map with coastlines and a colour bar labelled with its units."""
    _check_field(da)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8), subplot_kw={"projection": projection or default_projection()})
    if not isinstance(ax, GeoAxes):
        raise TypeError("plot_field draws on a cartopy GeoAxes: create it with subplot_kw={'projection': ...}")
    name = str(da.name)
    diverging = is_diverging(name)
    vmin, vmax = colour_limits([da], diverging)
    mesh = draw_field(
        ax, da, cmap or ("RdBu_r" if diverging else "viridis"), limits.get("vmin", vmin), limits.get("vmax", vmax),
        coastlines,
    )
    units = units_of(da)
    plt.colorbar(mesh, ax=ax, shrink=0.7, label=_label(name, units))
    ax.set_title(title if title is not None else name, fontsize=9)
    return ax


@dataclass
class Panel:
    """One map in a grid: the field, its title, and whether it is an error (own scale, centred on zero)."""

    da: xr.DataArray
    title: str
    error: bool = False


def _label(name: str, units: str) -> str:
    return f"{name} [{units}]" if units else name


def draw_panels(
    rows: list[list[Panel]],
    field_label: str,
    error_label: str = "forecast − truth",
    centred: bool = False,
    projection: ccrs.Projection | None = None,
    suptitle: str = "",
    cmap: str | None = None,
) -> plt.Figure:
    """A grid of maps; fields share one colour scale and colour bar, errors another centred on zero.

    ``centred`` centres the fields' scale on zero too (winds). Rows may be
    shorter than the longest; their spare axes are hidden.
    """
    nrows, ncols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(3.6 * ncols + 1.2, 2.3 * nrows + 0.8),
        subplot_kw={"projection": projection or default_projection()},
        squeeze=False,
        layout="constrained",
    )
    placed = [(ax, p) for row, ax_row in zip(rows, axes, strict=True) for ax, p in zip(ax_row, row, strict=False)]
    used = {id(ax) for ax, _ in placed}
    for ax in axes.ravel():
        ax.set_visible(id(ax) in used)
    for error in (False, True):
        panels = [(ax, p) for ax, p in placed if p.error == error]
        if not panels:
            continue
        vmin, vmax = colour_limits([p.da for _, p in panels], error or centred)
        colours = ERROR_CMAP if error else cmap or ("RdBu_r" if centred else "viridis")
        for ax, p in panels:
            mesh = draw_field(ax, p.da, colours, vmin, vmax)
            ax.set_title(p.title, fontsize=9)
        fig.colorbar(mesh, ax=[ax for ax, _ in panels], shrink=0.8, label=error_label if error else field_label)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig


def _forecast_panels(rows: list[list[Panel]], variable: str, units: str, projection, suptitle: str) -> plt.Figure:
    return draw_panels(
        rows,
        _label(variable, units),
        _label("forecast − truth", units),
        is_diverging(variable),
        projection,
        suptitle,
    )


def _init_label(init: np.datetime64) -> str:
    return pd.Timestamp(init).strftime("%Y-%m-%d %H:%M")


def plot_truth_forecast_error(
    forecast: xr.Dataset,
    truth: xr.Dataset,
    variable: str,
    lead_time: Any = None,
    init_time: Any = None,
    projection: ccrs.Projection | None = None,
) -> plt.Figure:
    """Truth | forecast | forecast − truth at one initial time and lead time (first of each by default).

    ``truth`` is a canonical dataset (``time``, lat, lon) covering the valid time.
    """
    lead = pick_leads(forecast, None if lead_time is None else [lead_time])[0]
    init = pick_init(forecast, init_time)
    one = forecast.sel(init_time=[init], lead_time=[lead])
    fc, at = forecast_and_truth(one, truth, variable)
    fc, at = fc.isel(init_time=0, lead_time=0), at.isel(init_time=0, lead_time=0)
    row = [Panel(at, "truth", False), Panel(fc, "forecast", False), Panel(fc - at, "forecast − truth", True)]
    title = f"{variable}, init {_init_label(init)}, lead {lead_label(lead)}"
    return _forecast_panels([row], variable, units_of(fc, at), projection, title)


def plot_lead_times(
    forecast: xr.Dataset,
    variable: str,
    lead_times: Sequence[Any] | None = None,
    init_time: Any = None,
    truth: xr.Dataset | None = None,
    projection: ccrs.Projection | None = None,
) -> plt.Figure:
    """One column per lead time from one initial time; with ``truth``, rows truth, forecast and error.

    Fields in all columns share one colour scale, so blurring and drift with lead
    time show as they are; errors share another, centred on zero.
    """
    leads = pick_leads(forecast, lead_times)
    init = pick_init(forecast, init_time)
    fc, at = forecast_and_truth(forecast.sel(init_time=[init], lead_time=leads), truth, variable)
    fc = fc.isel(init_time=0)
    labels = [lead_label(lead) for lead in leads]
    rows = [[Panel(fc.isel(lead_time=i), f"forecast +{lab}", False) for i, lab in enumerate(labels)]]
    if at is not None:
        at = at.isel(init_time=0)
        rows.insert(0, [Panel(at.isel(lead_time=i), f"truth +{lab}", False) for i, lab in enumerate(labels)])
        rows.append([Panel((fc - at).isel(lead_time=i), f"error +{lab}", True) for i, lab in enumerate(labels)])
    return _forecast_panels(rows, variable, units_of(fc, at), projection, f"{variable}, init {_init_label(init)}")
