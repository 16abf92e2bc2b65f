"""Maps and zonal means of canonical fields, and ClimaX's variable-aggregation weights as maps.

Offline by design: coastlines are the 0.5 contour of the dataset's own land-sea
mask (``lsm``), so no shapefiles are downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import xarray as xr

from climax_nb.grid import lat_bounds_from_centers, spans_all_lon, unwrapped_lon
from climax_nb.variables import VARIABLES

DIVERGING_PREFIXES: tuple[str, ...] = ("u", "v")


def cyclic(da: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and values to draw a (lat, lon) field with, west to east in one piece.

    A global field gets its first column repeated at lon + 360 (no seam at the dateline); a box
    (a regional forecast) keeps its columns, its longitudes unwrapped (``climax_nb.grid.unwrapped_lon``),
    so a box across 0 deg (lon 337.5 ... 354.4, 0 ... 39.4) is drawn from -22.5 to 39.4, not split in two.
    """
    lon = da["lon"].values
    if not spans_all_lon(lon):
        return unwrapped_lon(lon), np.asarray(da.values)
    return np.append(lon, lon[0] + 360.0), np.concatenate([da.values, da.values[:, :1]], axis=1)


def extent(da: xr.DataArray) -> tuple[float, float, float, float] | None:
    """(west, east, south, north) cell edges of a box's field in degrees (longitudes as ``cyclic`` draws them);
    None for a global field."""
    lon, lat = da["lon"].values, da["lat"].values
    if spans_all_lon(lon):
        return None
    east = unwrapped_lon(lon)
    dlon = float(np.median(np.diff(east))) if len(east) > 1 else 360.0
    lat_edges = lat_bounds_from_centers(lat)
    return (float(east[0] - dlon / 2), float(east[-1] + dlon / 2), float(lat_edges[0]), float(lat_edges[-1]))


def on_cells_of(mask: xr.DataArray, da: xr.DataArray) -> xr.DataArray:
    """``mask`` (say, a global land-sea mask) at ``da``'s cells, in their order, when ``da`` is a box."""
    if mask.sizes["lat"] == da.sizes["lat"] and mask.sizes["lon"] == da.sizes["lon"]:
        return mask
    return mask.sel(lat=da["lat"].values, lon=da["lon"].values, method="nearest")


def is_diverging(name: str) -> bool:
    """Winds (``u*``, ``v*``) change sign, so they get a diverging colour map centred on zero."""
    return name.startswith(DIVERGING_PREFIXES) and name in VARIABLES


def _title(da: xr.DataArray) -> str:
    name = str(da.name)
    var = VARIABLES.get(name)
    return f"{name}: {var.description} [{var.units}]" if var is not None else name


def plot_map(
    da: xr.DataArray,
    ax: plt.Axes | None = None,
    lsm: xr.DataArray | None = None,
    title: str | None = None,
    cmap: str | None = None,
    **kwargs,
) -> plt.Axes:
    """Draw a (lat, lon) field on ``ax`` with the land-sea mask contour as coastline."""
    if tuple(da.dims) != ("lat", "lon"):
        raise ValueError(f"plot_map needs a (lat, lon) field, got dims {tuple(da.dims)}; select a time first")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    lon, field = cyclic(da)
    if cmap is None:
        cmap = "RdBu_r" if is_diverging(str(da.name)) else "viridis"
    if cmap == "RdBu_r" and "vmin" not in kwargs and "vmax" not in kwargs:
        bound = float(np.nanmax(np.abs(field))) or 1.0
        kwargs.update(vmin=-bound, vmax=bound)
    mesh = ax.pcolormesh(lon, da["lat"].values, field, shading="auto", cmap=cmap, **kwargs)
    box = extent(da)
    if lsm is not None:
        lsm = on_cells_of(lsm, da) if box is not None else lsm
        lsm_lon, mask = cyclic(lsm)
        ax.contour(lsm_lon, lsm["lat"].values, mask, levels=[0.5], colors="k", linewidths=0.6)
    ax.set_title(title if title is not None else _title(da), fontsize=9)
    ax.set_aspect("equal")
    if box is None:
        ax.set_xlim(lon[0], lon[0] + 360.0)
        ax.set_ylim(-90, 90)
    else:  # a box: its own cells, west to east, north up
        ax.set_xlim(box[0], box[1])
        ax.set_ylim(box[2], box[3])
    plt.colorbar(mesh, ax=ax, shrink=0.7)
    return ax


def plot_maps(
    fields: xr.Dataset | dict[str, xr.DataArray],
    lsm: xr.DataArray | None = None,
    ncols: int = 3,
    titles: Sequence[str] | None = None,
    **kwargs,
) -> plt.Figure:
    """One map per (lat, lon) field in a grid of ``ncols`` columns; spare panels are hidden."""
    items = list(fields.data_vars.items()) if isinstance(fields, xr.Dataset) else list(fields.items())
    if not items:
        raise ValueError("nothing to draw: no fields given")
    nrows = -(-len(items) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 2.7 * nrows), squeeze=False)
    flat = axes.ravel()
    for i, (name, da) in enumerate(items):
        plot_map(da.rename(name), flat[i], lsm, None if titles is None else titles[i], **kwargs)
    for ax in flat[len(items) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_zonal_means(ds: xr.Dataset, variables: Sequence[str], ax: plt.Axes | None = None) -> plt.Axes:
    """Zonal-mean profiles against latitude, averaged over every other dim (time, or init and lead time).

    One line per variable, same units assumed; for forecasts against truth by
    lead time see ``climax_nb.viz.zonal.plot_zonal_means_by_lead``.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise ValueError(f"variables {missing} are not in the dataset; it has {list(ds.data_vars)}")
    for vid in variables:
        dims = [d for d in ds[vid].dims if d != "lat"]
        ax.plot(ds["lat"].values, ds[vid].mean(dims).values, label=vid)
    units = {ds[v].attrs.get("units", "") for v in variables}
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("latitude [degrees north]")
    ax.set_ylabel(" / ".join(sorted(units)))
    ax.set_xlim(-90, 90)
    ax.legend(fontsize=8)
    return ax


def attention_to_maps(
    attn: torch.Tensor | np.ndarray,
    variables: Sequence[str],
    lat: np.ndarray,
    lon: np.ndarray,
    patch_size: int,
) -> xr.DataArray:
    """Variable-aggregation weights [L, heads, V] (or [B, L, heads, V]) as maps ``(variable, lat, lon)``.

    Heads (and the batch, if given) are averaged; the L patches are laid out
    row-major on the patch grid, each placed at the centre of its ``patch_size``
    cells, so the maps live on the patch grid (H / p by W / p).
    """
    a = attn.detach().cpu().numpy() if isinstance(attn, torch.Tensor) else np.asarray(attn)
    if a.ndim == 4:
        a = a.mean(0)
    if a.ndim != 3 or a.shape[-1] != len(variables):
        raise ValueError(
            f"attention must be [L, heads, V] or [B, L, heads, V] with V = {len(variables)} variables, "
            f"got shape {a.shape}"
        )
    if len(lat) % patch_size or len(lon) % patch_size:
        raise ValueError(f"patch size {patch_size} does not divide the {len(lat)}x{len(lon)} grid")
    h, w = len(lat) // patch_size, len(lon) // patch_size
    if a.shape[0] != h * w:
        raise ValueError(f"{a.shape[0]} patches do not make a {h}x{w} patch grid")
    maps = a.mean(1).T.reshape(len(variables), h, w)
    plat = np.asarray(lat, float).reshape(h, patch_size).mean(1)
    plon = np.asarray(lon, float).reshape(w, patch_size).mean(1)
    return xr.DataArray(
        maps,
        dims=("variable", "lat", "lon"),
        coords={"variable": list(variables), "lat": plat, "lon": plon},
        name="attention",
        attrs={"long_name": "variable-aggregation attention weight (mean over heads)", "units": "1"},
    )
