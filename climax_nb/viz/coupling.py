"""AtmoRep's coupling between fields: the field x field matrix of cross-attention shares, and its maps.

``climax_nb.forecast.masked.coupling`` gives, per (attending field, attended source field),
the share of the field's cross-attention that goes to the source, as maps ``(field, source,
lat, lon)`` and their area-weighted means as a matrix ``(field, source)``; each row sums to
one over the other fields, and a field never attends to itself there (the diagonal is NaN).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr


def _check(da: xr.DataArray, dims: tuple[str, ...], what: str) -> None:
    if set(da.dims) != set(dims):
        raise ValueError(f"{what} needs dims {dims}, got {tuple(da.dims)}: make it with "
                         "climax_nb.forecast.masked.coupling(fm, data, init_times)")


def plot_coupling_matrix(matrix: xr.DataArray, ax: plt.Axes | None = None, title: str | None = None) -> plt.Axes:
    """The (field, source) shares as a heat map with each share written in its cell; uniform is 1 / (F - 1).

    The colours span the smallest to the largest share (not 0 to 1), so small departures from
    uniform show; read the numbers for their size.
    """
    _check(matrix, ("field", "source"), "a coupling matrix")
    matrix = matrix.transpose("field", "source")
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 * matrix.sizes["source"] + 2.2, 0.8 * matrix.sizes["field"] + 1.2))
    values = np.asarray(matrix.values, dtype=float)
    lo, hi = np.nanmin(values), np.nanmax(values)
    hi = hi if hi > lo else lo + 1e-6
    cmap = plt.get_cmap("magma").with_extremes(bad="0.85")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=lo, vmax=hi)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if np.isfinite(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.3f}", ha="center", va="center", fontsize=8,
                        color="black" if values[i, j] > lo + 0.6 * (hi - lo) else "white")
    sources, fields = [str(s) for s in matrix["source"].values], [str(f) for f in matrix["field"].values]
    ax.set_xticks(range(len(sources)), sources)
    ax.set_yticks(range(len(fields)), fields)
    ax.set(xlabel="attended field (keys and values)", ylabel="attending field (queries)")
    others = max(1, len(sources) - 1)
    ax.set_title(title or f"{matrix.attrs.get('task', 'cross-attention')}: share of each row's cross-attention "
                          f"(uniform {1 / others:.3f})", fontsize=9)
    plt.colorbar(image, ax=ax, shrink=0.8, label="share")
    return ax


def plot_coupling_maps(maps: xr.DataArray, pairs: Sequence[tuple[str, str]] | None = None, ncols: int = 3,
                       centre: bool = True) -> plt.Figure:
    """One map per (field, source) pair of its share; ``centre``: as the difference from its global mean.

    ``pairs`` defaults to every pair with a share (off the diagonal). Centred maps share one
    scale, symmetric about zero, so where a field reads a source more than on average shows.
    """
    _check(maps, ("field", "source", "lat", "lon"), "coupling maps")
    if pairs is None:
        pairs = [(str(f), str(s)) for f in maps["field"].values for s in maps["source"].values
                 if bool(np.isfinite(maps.sel(field=f, source=s)).any())]
    if not pairs:
        raise ValueError("no pair with a share to draw")
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    from climax_nb.metrics.weights import spatial_mean

    panels = []
    for f, s in pairs:
        da = maps.sel(field=f, source=s)
        mean = float(spatial_mean(da))
        panels.append((f"{f} reads {s} (mean {mean:.3f})", da - mean if centre else da))
    limit = max(float(np.nanmax(np.abs(p.values))) for _, p in panels) if centre else None
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 2.3 * nrows + 0.4), squeeze=False,
                             constrained_layout=True)
    lat, lon = maps["lat"].values, maps["lon"].values
    image = None
    for ax, (label, da) in zip(axes.flat, panels, strict=False):
        kwargs = {"vmin": -limit, "vmax": limit, "cmap": "RdBu_r"} if centre else {"cmap": "magma"}
        image = ax.pcolormesh(lon, lat, da.values, shading="nearest", **kwargs)
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=7)
        if not centre:
            fig.colorbar(image, ax=ax, shrink=0.8)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    if centre and image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="share - its global mean")
    fig.suptitle(f"where each field reads the others: {maps.attrs.get('task', '')}".rstrip(": "))
    return fig


__all__ = ["plot_coupling_maps", "plot_coupling_matrix"]
