"""A one-page picture of a canonical dataset: maps, zonal means and a global-mean series.

It is the first thing to look at after generating or opening data: continents
in t2m, jets in u250, an ITCZ in precipitation, and no drift in the global mean.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from climax_nb.grid import Grid
from climax_nb.variables import VARIABLES

MAP_CHOICES: tuple[str, ...] = ("t2m", "z500", "tp6h", "u250", "q850", "t850")


def _area_mean(da: xr.DataArray) -> xr.DataArray:
    weights = Grid(da["lat"].values, da["lon"].values).area_weights()
    return da.weighted(xr.DataArray(weights, dims="lat", coords={"lat": da["lat"]})).mean(("lat", "lon"))


def _map(ax: plt.Axes, da: xr.DataArray, lsm: xr.DataArray | None) -> None:
    lon = np.append(da["lon"].values, 360.0)
    field = np.concatenate([da.values, da.values[:, :1]], axis=1)
    cmap = "RdBu_r" if str(da.name)[0] in "uv" else "viridis"
    mesh = ax.pcolormesh(lon, da["lat"].values, field, shading="auto", cmap=cmap)
    if lsm is not None:
        mask = np.concatenate([lsm.values, lsm.values[:, :1]], axis=1)
        ax.contour(lon, lsm["lat"].values, mask, levels=[0.5], colors="k", linewidths=0.6)
    var = VARIABLES[str(da.name)]
    ax.set_title(f"{var.id}: {var.long_name.replace('_', ' ')} [{var.units}]", fontsize=9)
    ax.set_aspect("equal")
    ax.set_xlim(0, 360)
    ax.set_ylim(-90, 90)
    plt.colorbar(mesh, ax=ax, shrink=0.7)


def summary_figure(ds: xr.Dataset, path: str | Path | None = None, title: str = "") -> plt.Figure:
    """Draw maps of the last time step, zonal means and a global-mean t2m series; save if ``path``."""
    maps = [v for v in MAP_CHOICES if v in ds.data_vars][:3]
    if not maps:
        raise ValueError(f"nothing to draw: the dataset needs one of {MAP_CHOICES}, it has {list(ds.data_vars)}")
    lsm = ds["lsm"] if "lsm" in ds.data_vars else None
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5))
    for ax, vid in zip(axes[0], maps, strict=False):
        _map(ax, ds[vid].isel(time=-1).load(), lsm)
    for ax in axes[0][len(maps) :]:
        ax.axis("off")
    for ax, vid in zip(axes[1][:2], ("u250", "t2m"), strict=True):
        if vid in ds.data_vars:
            zonal = ds[vid].mean(("time", "lon")).load()
            ax.plot(ds["lat"], zonal)
            if vid == "u250":
                ax.axhline(0, color="grey", lw=0.5)
            ax.set_xlabel("latitude")
            ax.set_title(f"time- and zonal-mean {vid} [{VARIABLES[vid].units}]", fontsize=9)
        else:
            ax.axis("off")
    ax = axes[1][2]
    series = next((v for v in ("t2m", "t850") if v in ds.data_vars), None)
    if series is not None:
        _area_mean(ds[series]).load().plot(ax=ax)
        ax.set_title(f"global-mean {series} [K]", fontsize=9)
    fig.suptitle(title or ds.attrs.get("title", "dataset summary"))
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=90)
    return fig
