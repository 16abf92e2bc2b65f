"""The data of downscaling: a fine dataset coarsened, and a coarse one upsampled onto a fine grid.

``coarsen`` conservatively regrids a fine dataset to a coarser grid, so each coarse
cell is the area-weighted mean of the fine cells inside it and every global mean is
kept: the coarse input of perfect-model downscaling. ``upsample`` brings coarse
fields back onto the fine grid by bilinear interpolation, as ClimaX's downscaling
feeds its network (the input upsampled, the prediction made on the fine grid); the
constants (land-sea mask, orography) are taken from the fine grid itself, because
they are known there in any application and carry the fine-scale detail a coarse
field lacks. The upsampled field alone is the bilinear baseline.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from climax_nb.data.regrid import regrid
from climax_nb.grid import WB5625, Grid
from climax_nb.variables import is_constant


def _spacing(values: np.ndarray) -> float:
    return float(np.median(np.diff(np.asarray(values, dtype=np.float64)))) if len(values) > 1 else 360.0


def coarsen(fine: xr.Dataset, grid: Grid = WB5625) -> xr.Dataset:
    """``fine`` (canonical, on a regular grid) conservatively regridded to the coarser ``grid``.

    Every variable with ``lat`` and ``lon`` is averaged over the fine cells each coarse
    cell covers (area-weighted), constants included; times and attributes are kept.
    A ``grid`` that is not coarser than ``fine`` is refused: that would be interpolation,
    not the coarse input of downscaling.
    """
    if _spacing(grid.lon) <= _spacing(fine["lon"].values) or len(grid.lat) >= fine.sizes["lat"]:
        raise ValueError(
            f"the coarse grid {grid.name} ({len(grid.lat)} x {len(grid.lon)}) is not coarser than the dataset's "
            f"({fine.sizes['lat']} x {fine.sizes['lon']}); pass a coarser grid, e.g. climax_nb.grid.WB5625, "
            "or a finer source such as embedded/t42"
        )
    coarse = regrid(fine, grid, gaussian=False)
    coarse.attrs.update(
        source=f"{fine.attrs.get('source', 'dataset')} coarsened to {grid.name}",
        coarsened_from=f"{fine.sizes['lat']}x{fine.sizes['lon']}",
    )
    return coarse


def upsample(coarse: xr.Dataset, fine: xr.Dataset) -> xr.Dataset:
    """``coarse``'s time-varying fields bilinearly interpolated onto ``fine``'s grid, with ``fine``'s constants.

    ``fine`` gives the grid and the constants only (any dataset on the fine grid holding
    them); its other fields are not read. A grid that is not finer is refused.
    """
    if fine.sizes["lat"] <= coarse.sizes["lat"] or fine.sizes["lon"] <= coarse.sizes["lon"]:
        raise ValueError(
            f"upsampling goes to a finer grid: the target is {fine.sizes['lat']} x {fine.sizes['lon']}, the "
            f"coarse data {coarse.sizes['lat']} x {coarse.sizes['lon']}; pass the fine dataset second"
        )
    grid = Grid(fine["lat"].values.astype(np.float64), fine["lon"].values.astype(np.float64), "fine")
    fields = [v for v in coarse.data_vars if not is_constant(str(v))]
    out = regrid(coarse[fields], grid, method="bilinear")
    constants = [v for v in fine.data_vars if is_constant(str(v))]
    out = out.assign({v: fine[v] for v in constants})
    out.attrs.update(coarse.attrs)
    out.attrs["upsampled"] = f"bilinear from {coarse.sizes['lat']}x{coarse.sizes['lon']}"
    return out


def perfect_model_input(fine: xr.Dataset, grid: Grid = WB5625) -> xr.Dataset:
    """The model input of perfect-model downscaling: ``fine`` coarsened to ``grid`` and upsampled back."""
    return upsample(coarsen(fine, grid), fine)
