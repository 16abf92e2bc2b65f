"""Perfect-model downscaling data: a fine embedded run and the same run coarsened.

The fine targets are a source written on a finer grid than the pretraining
sources (``t42``: T42 on the 2.8125 deg grid, 64 x 128). The coarse input is
that very dataset conservatively regridded (``climax_nb.data.regrid``) to the
5.625 deg grid, so each coarse cell is the area-weighted mean of the 2 x 2 fine
cells inside it, the area-weighted global mean of every field is kept, and the
two datasets share every time stamp: ``(coarse, fine)`` are input and target
pairs, as in setting (a) of the paper's downscaling (section 4.4) without a
change of model between them.
"""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from climax_nb.data.embedded.api import Years, open_source
from climax_nb.data.embedded.configs import SourceConfig, get_config
from climax_nb.data.regrid import regrid
from climax_nb.data.schema import validate
from climax_nb.grid import WB5625, Grid

#: The embedded source whose fields are the fine targets.
FINE_SOURCE = "t42"


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


def perfect_model_pair(
    source: str | SourceConfig = FINE_SOURCE,
    years: Years = None,
    *,
    length: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    grid: Grid = WB5625,
    progress: bool = True,
) -> tuple[xr.Dataset, xr.Dataset]:
    """``(coarse input, fine target)`` of perfect-model downscaling, on the same times.

    The fine dataset is ``open_source(source, years, length=..., cache_dir=...)`` (simulated
    first if it is not cached); the coarse one is ``coarsen(fine, grid)``, computed lazily
    from it. ``length`` is the number of simulated days, as for ``open_source``.
    """
    config = get_config(source)
    if config.grid.shape[0] <= len(grid.lat):
        raise ValueError(
            f"embedded/{config.name} is written on the {config.grid_resolution} degree grid, not finer than "
            f"{grid.name}; use a source with a finer grid_resolution, such as embedded/{FINE_SOURCE}"
        )
    fine = open_source(config, years, length=length, cache_dir=cache_dir, progress=progress)
    coarse = coarsen(fine, grid)
    return validate(coarse, check_values=False), fine
