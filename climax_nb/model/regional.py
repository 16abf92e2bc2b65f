"""Regional forecasting: run ClimaX on the patch tokens inside a lat/lon box only.

Boxes are ClimaX's (``BOUNDARIES`` in its ``utils/data_utils.py``) or any box in degrees,
across 0 deg too (``Box("EuropeAfrica", (30, 65), (-20, 40))``: longitudes from ``west``
eastwards to ``east``). Cells are selected by their own latitude and longitude, so the box is
right whichever way the grid's latitudes run (ours ascend, south first); a patch is kept when
all its cells lie in the box rows and columns, as in ClimaX's ``get_region_info``. A box's
columns run west to east: across 0 deg its cells are the grid's last columns, then its first
ones (longitudes ``[337.5, ..., 354.375, 0, ..., 39.375]``), and so are its patches, so the
regional forecast is one rectangle, north up and west to east.
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
    """A latitude/longitude box, edges inclusive: ``lat_range`` (south, north) and ``lon_range`` (west, east),
    longitudes from west eastwards to east, in [-360, 360]; ``west > east`` (``(350, 40)``) or a negative west
    (``(-10, 40)``) crosses 0 deg."""

    name: str
    lat_range: tuple[float, float]
    lon_range: tuple[float, float]

    @property
    def west(self) -> float:
        """The western edge in [0, 360)."""
        return float(self.lon_range[0]) % 360.0

    @property
    def width(self) -> float:
        """Degrees of longitude from the western edge eastwards to the eastern one (360: the whole circle)."""
        west, east = (float(v) for v in self.lon_range)
        return east - west if east >= west else (east - west) % 360.0

    @property
    def crosses_zero(self) -> bool:
        """True when the box holds longitudes on both sides of 0 deg (west of it and east of it)."""
        return self.width < 360.0 and self.west + self.width > 360.0

    def check(self) -> None:
        """Raise naming the fix when the edges are not a box on the sphere."""
        (south, north), (west, east) = self.lat_range, self.lon_range
        if not -90 <= south < north <= 90:
            raise ValueError(f"box {self.name}: lat_range {self.lat_range} needs -90 <= south < north <= 90 "
                             "(degrees north); swap or clip them")
        if not (-360 <= west <= 360 and -360 <= east <= 360):
            raise ValueError(f"box {self.name}: lon_range {self.lon_range} must lie in [-360, 360] degrees east "
                             "(west, east), e.g. (220, 300) or (-20, 40) across 0 deg")
        if not 0 < self.width <= 360:
            raise ValueError(f"box {self.name}: lon_range {self.lon_range} has no width: give west and east apart")


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
    """The patches of one box on one grid: ids (row-major, west to east), cell rows/cols, coordinates.

    ``cols`` is [start, stop) counted eastwards from the grid's first column; across 0 deg ``stop``
    passes the grid's width and the columns continue from the first one (``crop`` joins them).
    """

    box: Box
    patch_ids: tuple[int, ...]
    rows: tuple[int, int]  # cell rows [start, stop)
    cols: tuple[int, int]  # cell columns [start, stop), modulo the grid's width
    patch_grid: tuple[int, int]  # patches along lat, lon
    lat: np.ndarray = field(repr=False)
    lon: np.ndarray = field(repr=False)

    def crop(self, x: torch.Tensor | np.ndarray) -> Any:
        """The box's cells of a [..., lat, lon] array (e.g. targets for the regional output), west to east."""
        rows = x[..., self.rows[0] : self.rows[1], :]
        c0, c1 = self.cols
        n = rows.shape[-1]
        if c1 <= n:
            return rows[..., c0:c1]
        west, east = rows[..., c0:], rows[..., : c1 - n]  # across 0 deg: the last columns, then the first
        if isinstance(x, torch.Tensor):
            return torch.cat([west, east], dim=-1)
        return np.concatenate([west, east], axis=-1)


def parse_region(text: str) -> Box:
    """A box from a name in ``REGIONS`` or ``"lat_min,lat_max,lon_west,lon_east"`` in degrees.

    Longitudes run from west eastwards to east: ``"30,65,-20,40"`` or ``"30,65,340,40"`` cross 0 deg.
    """
    if text in REGIONS:
        return REGIONS[text]
    parts = [p.strip() for p in str(text).strip("[]() ").split(",")]
    try:
        south, north, west, east = (float(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"region {text!r} is neither one of {sorted(REGIONS)} nor 'lat_min,lat_max,lon_west,lon_east' in "
            "degrees (e.g. '30,65,-20,40', across 0 deg)"
        ) from None
    box = Box(f"box({south:g},{north:g},{west:g},{east:g})", (south, north), (west, east))
    box.check()
    return box


def _as_box(region: str | Box) -> Box:
    if isinstance(region, Box):
        return region
    if region not in REGIONS:
        raise ValueError(
            f"unknown region {region!r}; choose one of {sorted(REGIONS)} or pass a Box"
        )
    return REGIONS[region]


def _spacing(values: np.ndarray) -> float:
    return float(np.median(np.diff(values))) if len(values) > 1 else 360.0


def _whole_patches(first_cell: int, cells: int, p: int, what: str, box: Box, degrees: np.ndarray) -> tuple[int, int]:
    """[start, stop) of the whole ``p``-cell patches within ``cells`` cells from ``first_cell``; ``degrees`` are
    the axis's cell centres continuing past the grid's end (for the message)."""
    first = -(-first_cell // p)  # first patch starting at or after the first cell
    stop = (first_cell + cells) // p  # patches ending at or before the last cell
    if stop > first:
        return first * p, stop * p
    step = _spacing(degrees)
    middle = (first_cell + (cells - 1) / 2) // p * p  # the patch under the box's middle
    lo = degrees[0] + (middle - first_cell - 0.5) * step
    unit = "N" if what == "lat" else "E"
    raise ValueError(
        f"box {box.name} is narrower than one {p}-cell patch along {what}: it holds {cells} cell(s) of {step:g} deg, "
        f"and only whole patches of {p * step:g} deg lying inside it are kept; widen it along {what} to cover one "
        f"(the patch under its middle spans {lo:g} to {lo + p * step:g} deg {unit}), or train with a smaller "
        "--model.patch_size"
    )


def _no_cells(box: Box, what: str, values: np.ndarray) -> ValueError:
    unit = "N" if what == "lat" else "E"
    return ValueError(
        f"box {box.name} contains no grid cell along {what}: its {what} range {getattr(box, f'{what}_range')} holds "
        f"no cell centre of the grid (centres at {values.min():g} to {values.max():g} deg {unit}, {_spacing(values):g} "
        f"deg apart); move the box onto the grid or widen it beyond one cell"
    )


def _lat_rows(box: Box, lat: np.ndarray, p: int) -> tuple[int, int]:
    cells = np.flatnonzero((lat >= box.lat_range[0]) & (lat <= box.lat_range[1]))
    if cells.size == 0:
        raise _no_cells(box, "lat", lat)
    return _whole_patches(int(cells[0]), int(cells[-1] - cells[0] + 1), p, "lat", box, lat[cells[0]:])


def _lon_cols(box: Box, lon: np.ndarray, p: int) -> tuple[int, int]:
    """[start, stop) of the box's whole-patch columns, west to east; ``stop`` > len(lon) across 0 deg."""
    n = len(lon)
    east = (lon - box.west) % 360.0  # degrees east of the box's western edge
    inside = east <= box.width + 1e-9
    if not inside.any():
        raise _no_cells(box, "lon", lon)
    start = int(np.argmin(np.where(inside, east, np.inf)))  # the westernmost column inside
    cells = int(inside.sum())
    degrees = np.concatenate([lon, lon + 360.0])[start:start + n]
    c0, c1 = _whole_patches(start, cells, p, "lon", box, degrees)
    return c0, min(c1, c0 + n)


def region_patches(region: str | Box, grid: Grid, patch_size: int) -> RegionPatches:
    """Which patches of ``grid`` (cut into ``patch_size`` squares) lie inside ``region``, west to east.

    Across 0 deg the patches west of it come first: ids, columns and longitudes all run west to east.
    """
    box = _as_box(region)
    box.check()
    lat, lon = np.asarray(grid.lat), np.asarray(grid.lon)
    r0, r1 = _lat_rows(box, lat, patch_size)
    c0, c1 = _lon_cols(box, lon, patch_size)
    nw = len(lon) // patch_size
    prow = range(r0 // patch_size, r1 // patch_size)
    pcol = [j % nw for j in range(c0 // patch_size, c1 // patch_size)]
    ids = tuple(i * nw + j for i in prow for j in pcol)
    return RegionPatches(box, ids, (r0, r1), (c0, c1), (len(prow), len(pcol)), lat[r0:r1],
                         lon[np.arange(c0, c1) % len(lon)])


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
                out_variables: Sequence[str] | None = None, return_attention: bool = False,
                init_times: torch.Tensor | None = None
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Forecast [B, Vo, h, w] on the box's cells (``self.region(region).crop`` of x)."""
        rp = self.region(region)
        ids = torch.tensor(rp.patch_ids, dtype=torch.long, device=x.device)
        return self.predict_patches(x, lead_times, variables, out_variables, return_attention,
                                    ids, rp.patch_grid, crop=rp.crop, init_times=init_times)
