"""ClimaX's variable-aggregation attention as cartopy maps: where on the globe each input variable is used.

``attention_to_maps`` (in ``climax_nb.viz.maps``) turns the aggregation weights
into ``(variable, lat, lon)`` maps on the patch grid; this draws them on one
shared colour scale, so a variable the model leans on stands out.
"""

from __future__ import annotations

import cartopy.crs as ccrs
import matplotlib.pyplot as plt
import xarray as xr

from climax_nb.viz.geo import Panel, draw_panels


def plot_attention_maps(
    maps: xr.DataArray,
    ncols: int = 3,
    projection: ccrs.Projection | None = None,
    title: str = "variable-aggregation attention (mean over heads)",
) -> plt.Figure:
    """One map per input variable of its aggregation weight, all on one scale with coastlines."""
    if set(maps.dims) != {"variable", "lat", "lon"}:
        raise ValueError(
            f"attention maps need dims (variable, lat, lon), got {tuple(maps.dims)}; "
            "make them with climax_nb.viz.attention_to_maps(attn, variables, lat, lon, patch_size)"
        )
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    names = [str(v) for v in maps["variable"].values]
    panels = [Panel(maps.sel(variable=name).drop_vars("variable"), name) for name in names]
    rows = [panels[i : i + ncols] for i in range(0, len(panels), ncols)]
    units = maps.attrs.get("units", "")
    label = f"attention weight [{units}]" if units else "attention weight"
    return draw_panels(rows, label, projection=projection, suptitle=title, cmap="magma")
