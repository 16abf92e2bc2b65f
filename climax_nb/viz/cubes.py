"""An AtmoRep neighbourhood's cube drawn step by step, with the edges of its space-time tokens.

A cube is ``T`` time steps x ``H`` x ``W`` cells of one field's level (``Neighbourhoods.cut``,
or ``ds.isel(time=..., lat=..., lon=...)`` with a neighbourhood's index arrays). A token is
``token_size`` = (steps, lat cells, lon cells): the panels of one token's steps share a
time slab, and lines mark the lat x lon edges of the tokens, so one sees what a token holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.viz.maps import is_diverging


def _rows(cube: xr.Dataset | xr.DataArray) -> list[xr.DataArray]:
    rows = list(cube.data_vars.values()) if isinstance(cube, xr.Dataset) else [cube]
    if not rows:
        raise ValueError("nothing to draw: the dataset has no variables")
    for da in rows:
        if tuple(da.dims) != ("time", "lat", "lon"):
            raise ValueError(f"a cube is (time, lat, lon); {da.name!r} has dims {tuple(da.dims)}: select one level "
                             "and one neighbourhood first")
    return rows


def _check_tokens(shape: tuple[int, int, int], token_size: Sequence[int]) -> tuple[int, int, int]:
    size = tuple(int(s) for s in token_size)
    if len(size) != 3 or min(size) < 1:
        raise ValueError(f"token_size is (steps, lat cells, lon cells), got {tuple(token_size)}")
    bad = [name for name, n, s in zip(("time", "lat", "lon"), shape, size, strict=True) if n % s]
    if bad:
        raise ValueError(f"token size {size} does not divide the cube's {shape} (time, lat, lon) along {bad}")
    return size  # type: ignore[return-value]


def _ticks(values: np.ndarray, every: int) -> tuple[np.ndarray, list[str]]:
    at = np.arange(0, len(values), every)
    return at, [f"{v:.1f}" for v in np.asarray(values)[at]]


def plot_cube(cube: xr.Dataset | xr.DataArray, token_size: Sequence[int], *, title: str | None = None,
              cmap: str | None = None, same_scale: bool = False) -> plt.Figure:
    """One panel per time step (columns) and variable (rows), token edges drawn; one colour scale per row
    (``same_scale``: one for all rows, e.g. a field beside its masked copy).

    Columns are grouped by time slab (a slab is one token's steps) and titled with the step's
    time; lines cut each panel into the tokens' lat x lon blocks. Latitudes and longitudes are
    the cells' own (longitudes may wrap across 0 deg), labelled at token edges.
    """
    rows = _rows(cube)
    tt, th, tw = _check_tokens(tuple(rows[0].shape), token_size)
    steps = rows[0].sizes["time"]
    fig, axes = plt.subplots(len(rows), steps, figsize=(1.9 * steps, 1.5 * len(rows) + 0.6), squeeze=False,
                             sharex=True, sharey=True, constrained_layout=True)
    times = pd.to_datetime(rows[0]["time"].values)
    every = np.concatenate([np.asarray(da.values, dtype=float).ravel() for da in rows])
    for r, da in enumerate(rows):
        name = str(da.name)
        values = np.asarray(da.values, dtype=float)
        lo, hi = (np.nanmin(every), np.nanmax(every)) if same_scale else (np.nanmin(values), np.nanmax(values))
        diverging = is_diverging(name)
        if diverging:
            lo, hi = -max(abs(lo), abs(hi)), max(abs(lo), abs(hi))
        image = None
        for t in range(steps):
            ax = axes[r, t]
            image = ax.imshow(values[t], origin="lower", aspect="auto", vmin=lo, vmax=hi,
                              cmap=cmap or ("RdBu_r" if diverging else "viridis"), interpolation="nearest")
            for i in range(th, values.shape[1], th):
                ax.axhline(i - 0.5, color="white", lw=0.8)
            for j in range(tw, values.shape[2], tw):
                ax.axvline(j - 0.5, color="white", lw=0.8)
            if r == 0:
                ax.set_title(f"slab {t // tt} · {times[t]:%d %b %H}h", fontsize=8,
                             fontweight="bold" if t % tt == 0 else "normal")
            if t % tt == 0 and t:  # a thicker frame where a time slab starts
                ax.spines["left"].set_linewidth(2.5)
        axes[r, 0].set_ylabel(f"{name}\nlat", fontsize=8)
        fig.colorbar(image, ax=axes[r, :].tolist(), shrink=0.9, pad=0.01, label=da.attrs.get("units", ""))
    lat_at, lat_labels = _ticks(rows[0]["lat"].values, th)
    lon_at, lon_labels = _ticks(rows[0]["lon"].values, tw)
    for ax in axes[:, 0]:
        ax.set_yticks(lat_at - 0.5, lat_labels, fontsize=7)
    for ax in axes[-1, :]:
        ax.set_xticks(lon_at - 0.5, lon_labels, fontsize=7, rotation=90)
        ax.set_xlabel("lon", fontsize=8)
    nt, nh, nw = steps // tt, rows[0].sizes["lat"] // th, rows[0].sizes["lon"] // tw
    fig.suptitle(title or f"one neighbourhood: {steps} steps x {rows[0].sizes['lat']} x {rows[0].sizes['lon']} "
                          f"cells = {nt} x {nh} x {nw} tokens of {tt} x {th} x {tw} per level")
    return fig


__all__ = ["plot_cube"]
