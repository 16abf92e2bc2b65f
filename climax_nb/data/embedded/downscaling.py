"""Perfect-model downscaling data: a fine embedded run and the same run coarsened.

The fine targets are a source written on a finer grid than the pretraining
sources (``t42``: T42 on the 2.8125 deg grid, 64 x 128). The coarse input is
that very dataset conservatively regridded (``climax_nb.data.downscaling.coarsen``) to the
5.625 deg grid, so each coarse cell is the area-weighted mean of the 2 x 2 fine
cells inside it, the area-weighted global mean of every field is kept, and the
two datasets share every time stamp: ``(coarse, fine)`` are input and target
pairs, as in setting (a) of the paper's downscaling (section 4.4) without a
change of model between them.
"""

from __future__ import annotations

import os

import dask
import xarray as xr

from climax_nb.data.downscaling import coarsen
from climax_nb.data.embedded.api import Years, open_source
from climax_nb.data.embedded.configs import SourceConfig, get_config
from climax_nb.data.schema import validate
from climax_nb.grid import WB5625, Grid

__all__ = ["FINE_SOURCE", "coarsen", "perfect_model_pair"]

#: The embedded source whose fields are the fine targets.
FINE_SOURCE = "t42"


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
    first if it is not cached), read into memory; the coarse one is ``coarsen(fine, grid)``.
    A year of ``t42`` takes about 2 GB. ``length`` is the number of simulated days, as for ``open_source``.
    """
    config = get_config(source)
    if config.grid.shape[0] <= len(grid.lat):
        raise ValueError(
            f"embedded/{config.name} is written on the {config.grid_resolution} degree grid, not finer than "
            f"{grid.name}; use a source with a finer grid_resolution, such as embedded/{FINE_SOURCE}"
        )
    fine = open_source(config, years, length=length, cache_dir=cache_dir, progress=progress)
    # read and coarsened in one thread: a threaded dask compute of the lazy coarsening returned
    # another variable's values for one field in rare runs (seen twice, not reproduced on demand)
    with dask.config.set(scheduler="synchronous"):
        fine = fine.load()
    coarse = coarsen(fine, grid)
    return validate(coarse, check_values=False), fine
