"""The dashboard's pictures as HoloViews/GeoViews elements: maps, skill curves and attention.

Pure functions from xarray to elements, so each can be checked without a browser
and reused in a notebook (``hv.extension('bokeh')`` first).
"""

from __future__ import annotations

import functools

import cartopy.crs as ccrs
import geoviews as gv
import holoviews as hv
import numpy as np
import xarray as xr

from climax_nb.variables import VARIABLES

#: Global projections offered for the maps.
PROJECTIONS: dict[str, ccrs.Projection] = {
    "Robinson": ccrs.Robinson(),
    "Equal Earth": ccrs.EqualEarth(),
    "Mollweide": ccrs.Mollweide(),
    "Plate Carrée": ccrs.PlateCarree(),
}
MAP_WIDTH = 330
#: Line colours of the models in the skill plots (the model first, baselines after).
COLORS: tuple[str, ...] = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def projection(name: str) -> ccrs.Projection:
    """The projection called ``name``; the error lists the choices."""
    if name not in PROJECTIONS:
        raise ValueError(f"unknown projection {name!r}; choose one of {list(PROJECTIONS)}")
    return PROJECTIONS[name]


@functools.cache
def coastline() -> gv.Feature:
    """The Natural Earth 110m coastline shipped inside the package (nothing is downloaded)."""
    from cartopy.feature import ShapelyFeature
    from cartopy.io.shapereader import Reader

    from climax_nb.viz import coastline_path

    feature = ShapelyFeature(list(Reader(str(coastline_path())).geometries()), ccrs.PlateCarree())
    return gv.Feature(feature, group="Coastline").opts(line_color="black", line_width=0.6, fill_color=None)


def units(variable: str, da: xr.DataArray | None = None) -> str:
    """Units from the data's attributes, else from the registry."""
    if da is not None and da.attrs.get("units"):
        return str(da.attrs["units"])
    return VARIABLES[variable].units if variable in VARIABLES else ""


def symmetric_limits(*arrays: np.ndarray) -> tuple[float, float]:
    """(-m, m) with m the largest absolute finite value, for diverging colour maps."""
    m = max((float(np.nanmax(np.abs(a))) for a in arrays if np.isfinite(a).any()), default=1.0)
    return (-m, m) if m > 0 else (-1.0, 1.0)


def shared_limits(*arrays: np.ndarray) -> tuple[float, float]:
    """One colour range covering every array, so truth and forecast maps compare by colour."""
    lo = min(float(np.nanmin(a)) for a in arrays)
    hi = max(float(np.nanmax(a)) for a in arrays)
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def _cyclic(da: xr.DataArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Longitudes, latitudes and values with the first column repeated at +360 (no gap at the seam)."""
    lon = np.asarray(da["lon"].values, float)
    values = np.asarray(da.transpose("lat", "lon").values)
    return np.append(lon, lon[0] + 360.0), np.asarray(da["lat"].values, float), np.concatenate(
        [values, values[:, :1]], axis=1)


def field_map(da: xr.DataArray, proj: str, *, clim: tuple[float, float], cmap: str, title: str,
              label: str) -> gv.Image:
    """A (lat, lon) field on ``proj`` with a colour bar labelled ``label`` and fixed colour limits."""
    lon, lat, values = _cyclic(da)
    mesh = gv.Image((lon, lat, values), kdims=["lon", "lat"], vdims=[hv.Dimension("value", label=label)],
                    crs=ccrs.PlateCarree())
    return mesh.opts(projection=projection(proj), cmap=cmap, clim=clim, colorbar=True, title=title,
                     frame_width=MAP_WIDTH, data_aspect=1, global_extent=True, tools=["hover"],
                     framewise=True, axiswise=True, toolbar="above")


def skill_curves(card: xr.Dataset, variable: str, metric: str, title: str = "") -> hv.Overlay:
    """One line per model of ``metric`` against lead time (hours) for ``variable``."""
    curves = []
    for i, model in enumerate(card["model"].values):
        values = card[variable].sel(model=model, metric=metric).values
        hours = card["lead_time"].values / np.timedelta64(1, "h")
        keep = np.isfinite(values)
        curve = hv.Curve((hours[keep], values[keep]), "lead time (h)", metric.upper(), label=str(model))
        dots = hv.Scatter(curve.data, "lead time (h)", metric.upper(), label=str(model))
        color = COLORS[i % len(COLORS)]
        curves += [curve.opts(color=color), dots.opts(color=color, size=6)]
    return hv.Overlay(curves).opts(title=title or f"{variable} {metric.upper()}", frame_width=320, frame_height=200,
                                   legend_position="top_left", show_grid=True, framewise=True, axiswise=True)


def attention_map(maps: xr.DataArray, variable: str, proj: str, title: str) -> gv.Image:
    """One variable's aggregation weight per patch (a (lat, lon) map on the patch grid)."""
    weights = maps.sel(variable=variable)
    return field_map(weights, proj, clim=(0.0, max(float(maps.max()), 1e-6)), cmap="magma", title=title,
                     label=f"weight of {variable}")


def attention_bars(weights: xr.DataArray, title: str) -> hv.Bars:
    """Weights of every input variable at one location (they sum to one over variables)."""
    data = [(str(v), float(w)) for v, w in zip(weights["variable"].values, weights.values, strict=True)]
    return hv.Bars(data, "variable", "weight").opts(title=title, frame_width=320, frame_height=200, ylim=(0, 1),
                                                    xrotation=45, framewise=True, color="#1f77b4")


def attention_by_lead(weights: xr.DataArray, title: str) -> hv.HeatMap:
    """Weights at one location against lead time (along the rollout) and variable."""
    hours = weights["lead_time"].values / np.timedelta64(1, "h")
    data = [(f"{h:g}", str(v), float(weights.values[i, j]))
            for i, h in enumerate(hours) for j, v in enumerate(weights["variable"].values)]
    return hv.HeatMap(data, ["lead time (h)", "variable"], "weight").opts(
        title=title, frame_width=320, frame_height=200, cmap="magma", colorbar=True, clim=(0, 1), framewise=True,
        tools=["hover"])
