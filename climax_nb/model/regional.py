"""Regional forecasting: run ClimaX on the patch tokens inside a lat/lon box only.

Boxes are ClimaX's (``BOUNDARIES`` in its ``utils/data_utils.py``). Cells are selected by
their own latitude and longitude, so the box is right whichever way the grid's latitudes
run (ours ascend, south first); a patch is kept when all its cells lie in the box rows and
columns, as in ClimaX's ``get_region_info``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from climax_nb.grid import WEATHERBENCH_RESOLUTIONS, Grid
from climax_nb.model.climax import ClimaX


@dataclass(frozen=True)
class Box:
    """A latitude/longitude box, edges inclusive, longitudes in [0, 360)."""

    name: str
    lat_range: tuple[float, float]
    lon_range: tuple[float, float]


#: ClimaX's regional boxes.
REGIONS: dict[str, Box] = {
    b.name: b
    for b in (
        Box("NorthAmerica", (15, 65), (220, 300)),
        Box("SouthAmerica", (-55, 20), (270, 330)),
        Box("Europe", (30, 65), (0, 40)),
        Box("SouthAsia", (-15, 45), (25, 110)),
        Box("EastAsia", (5, 65), (70, 150)),
        Box("Australia", (-50, 10), (100, 180)),
        Box("Global", (-90, 90), (0, 360)),
    )
}


@dataclass(frozen=True)
class RegionPatches:
    """The patches of one box on one grid: ids (row-major), cell rows/cols, coordinates."""

    box: Box
    patch_ids: tuple[int, ...]
    rows: tuple[int, int]  # cell rows [start, stop)
    cols: tuple[int, int]
    patch_grid: tuple[int, int]  # patches along lat, lon
    lat: np.ndarray = field(repr=False)
    lon: np.ndarray = field(repr=False)

    def crop(self, x: torch.Tensor | np.ndarray) -> Any:
        """The box's cells of a [..., lat, lon] array (e.g. targets for the regional output)."""
        return x[..., self.rows[0] : self.rows[1], self.cols[0] : self.cols[1]]


def parse_region(text: str) -> Box:
    """A box from a name in ``REGIONS`` or ``"lat_min,lat_max,lon_min,lon_max"`` in degrees (lon in [0, 360])."""
    if text in REGIONS:
        return REGIONS[text]
    parts = [p.strip() for p in str(text).strip("[]() ").split(",")]
    try:
        south, north, west, east = (float(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"region {text!r} is neither one of {sorted(REGIONS)} nor 'lat_min,lat_max,lon_min,lon_max' in degrees"
        ) from None
    if not -90 <= south < north <= 90:
        raise ValueError(f"region {text!r}: need -90 <= lat_min < lat_max <= 90")
    return Box(f"box({south:g},{north:g},{west:g},{east:g})", (south, north), (west, east))


def _as_box(region: str | Box) -> Box:
    if isinstance(region, Box):
        return region
    if region not in REGIONS:
        raise ValueError(
            f"unknown region {region!r}; choose one of {sorted(REGIONS)} or pass a Box"
        )
    return REGIONS[region]


def _span(inside: np.ndarray, patch_size: int, what: str, box: Box) -> tuple[int, int]:
    """[start, stop) of the whole patches within the first..last selected cell."""
    cells = np.nonzero(inside)[0]
    if cells.size == 0:
        raise ValueError(f"box {box.name} contains no grid cell along {what}")
    p = patch_size
    first = -(-int(cells[0]) // p)  # first patch starting at or after the first cell
    stop = (int(cells[-1]) + 1) // p  # patches ending at or before the last cell
    if stop <= first:
        raise ValueError(f"box {box.name} is narrower than one {p}-cell patch along {what}")
    return first * p, stop * p


def region_patches(region: str | Box, grid: Grid, patch_size: int) -> RegionPatches:
    """Which patches of ``grid`` (cut into ``patch_size`` squares) lie inside ``region``."""
    box = _as_box(region)
    lo, hi = box.lon_range
    if not 0 <= lo <= hi <= 360:
        raise ValueError(f"box {box.name}: lon_range {box.lon_range} must satisfy "
                         "0 <= west <= east <= 360 (boxes across 0E are not supported)")
    lat, lon = np.asarray(grid.lat), np.asarray(grid.lon)
    r0, r1 = _span((lat >= box.lat_range[0]) & (lat <= box.lat_range[1]), patch_size, "lat", box)
    c0, c1 = _span((lon >= lo) & (lon <= hi), patch_size, "lon", box)
    nw = len(lon) // patch_size
    prow = range(r0 // patch_size, r1 // patch_size)
    pcol = range(c0 // patch_size, c1 // patch_size)
    ids = tuple(i * nw + j for i in prow for j in pcol)
    return RegionPatches(box, ids, (r0, r1), (c0, c1), (len(prow), len(pcol)), lat[r0:r1],
                         lon[c0:c1])


def equiangular_grid(img_size: Sequence[int]) -> Grid:
    """WeatherBench-style grid with ``img_size`` = (nlat, nlon) cells."""
    h, w = img_size
    res = 180 / h
    if res in WEATHERBENCH_RESOLUTIONS and w * res == 360:
        return Grid.weatherbench(res)
    return Grid(-90 + res * (np.arange(h) + 0.5), (360 / w) * np.arange(w), f"{h}x{w}")


class RegionalClimaX(ClimaX):
    """ClimaX that tokenizes the whole field but aggregates and transforms box tokens only.

    Same parameters as ``ClimaX`` (weights move freely between the two); ``grid`` gives
    the coordinates of the model's input (default: the WeatherBench grid of ``img_size``).
    """

    def __init__(self, *args: Any, grid: Grid | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.grid = grid if grid is not None else equiangular_grid(self.config.img_size)
        if self.grid.shape != self.config.img_size:
            raise ValueError(f"grid {self.grid.name} is {self.grid.shape}; the model expects "
                             f"{self.config.img_size}")
        self._regions: dict[Box, RegionPatches] = {}

    def region(self, region: str | Box | RegionPatches) -> RegionPatches:
        """The patches of a region name, Box, or an already computed ``RegionPatches``."""
        if isinstance(region, RegionPatches):
            return region
        box = _as_box(region)
        if box not in self._regions:
            self._regions[box] = region_patches(box, self.grid, self.config.patch_size)
        return self._regions[box]

    def forward(self, x: torch.Tensor, lead_times: torch.Tensor | float,
                variables: Sequence[str], region: str | Box | RegionPatches = "Global",
                out_variables: Sequence[str] | None = None, return_attention: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Forecast [B, Vo, h, w] on the box's cells (``self.region(region).crop`` of x)."""
        rp = self.region(region)
        ids = torch.tensor(rp.patch_ids, dtype=torch.long, device=x.device)
        return self.predict_patches(x, lead_times, variables, out_variables, return_attention,
                                    ids, rp.patch_grid, crop=rp.crop)
