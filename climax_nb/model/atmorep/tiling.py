"""Global fields from neighbourhoods: tiles that cover the grid with overlap, and the average over the overlaps.

AtmoRep predicts local cubes; a global field is the cubes of a set of neighbourhoods that
together cover every cell, each cell the mean of the tiles that hold it. Tiles start every
``stride`` cells (``overlap`` of a tile shared with the next); in latitude the last tile ends
at the last row (no tile crosses a pole), in longitude the tiles wrap across 0 deg. Cells near
a tile's edge see less context than cells in its middle, so overlapping tiles average out the
seams.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


def tile_starts(n: int, size: int, stride: int, wrap: bool) -> np.ndarray:
    """First cells of tiles of ``size`` every ``stride`` cells that cover ``n`` cells (a ring when ``wrap``)."""
    if not 1 <= size <= n:
        raise ValueError(f"a tile of {size} cells does not fit in {n}; choose 1 to {n}")
    if stride < 1:
        raise ValueError(f"the stride between tiles must be >= 1 cell, got {stride}")
    if size == n:
        return np.zeros(1, dtype=np.int64)
    if wrap:
        return np.arange(0, n, min(stride, size), dtype=np.int64)
    starts = np.arange(0, n - size + 1, min(stride, size), dtype=np.int64)
    return starts if starts[-1] == n - size else np.append(starts, n - size)


@dataclass(frozen=True)
class Tiling:
    """Tiles over a ``shape`` = (lat, lon) grid: ``lat`` [n, h] and ``lon`` [n, w] cell indices (lon wrapped)."""

    lat: np.ndarray
    lon: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def cover(cls, shape: Sequence[int], size: Sequence[int], overlap: float = 0.5) -> Tiling:
        """Tiles of ``size`` = (h, w) cells covering the grid, neighbours sharing about ``overlap`` of a tile."""
        if not 0.0 <= overlap < 1.0:
            raise ValueError(f"overlap is the share of a tile its neighbour also covers, in [0, 1); got {overlap}")
        (n_lat, n_lon), (h, w) = (int(s) for s in shape), (int(s) for s in size)
        if h > n_lat or w > n_lon:
            raise ValueError(
                f"a neighbourhood of {h} x {w} cells is larger than the {n_lat} x {n_lon} grid; choose at most "
                f"{n_lat} x {n_lon} (model.neighbourhood)"
            )
        lat0 = tile_starts(n_lat, h, max(1, round(h * (1 - overlap))), wrap=False)
        lon0 = tile_starts(n_lon, w, max(1, round(w * (1 - overlap))), wrap=True)
        a, b = np.meshgrid(lat0, lon0, indexing="ij")
        lat = a.reshape(-1)[:, None] + np.arange(h)
        lon = (b.reshape(-1)[:, None] + np.arange(w)) % n_lon
        return cls(lat, lon, (n_lat, n_lon))

    def __len__(self) -> int:
        return len(self.lat)

    def _flat(self, device: torch.device) -> torch.Tensor:
        flat = self.lat[:, :, None] * self.shape[1] + self.lon[:, None, :]
        return torch.as_tensor(flat.reshape(-1), device=device)

    def counts(self) -> np.ndarray:
        """How many tiles hold each cell, ``[lat, lon]`` (all >= 1)."""
        flat = self._flat(torch.device("cpu")).numpy()
        return np.bincount(flat, minlength=self.shape[0] * self.shape[1]).reshape(self.shape)

    def cut(self, x: torch.Tensor) -> torch.Tensor:
        """The tiles of ``x`` ``[..., lat, lon]``: ``[n, ..., h, w]``."""
        lat = torch.as_tensor(self.lat, device=x.device)[:, :, None]
        lon = torch.as_tensor(self.lon, device=x.device)[:, None, :]
        return x[..., lat, lon].movedim(-3, 0)

    def average(self, tiles: torch.Tensor) -> torch.Tensor:
        """``[n, ..., h, w]`` tiles back on the grid ``[..., lat, lon]``, each cell the mean of the tiles holding it."""
        n, h, w = len(self), self.lat.shape[1], self.lon.shape[1]
        if tiles.shape[0] != n or tuple(tiles.shape[-2:]) != (h, w):
            raise ValueError(f"expected [{n}, ..., {h}, {w}] tiles, got {tuple(tiles.shape)}")
        lead = tiles.shape[1:-2]
        values = tiles.movedim(0, -3).reshape(*lead, n * h * w)
        flat = self._flat(tiles.device)
        sums = values.new_zeros(*lead, self.shape[0] * self.shape[1]).index_add_(-1, flat, values)
        counts = torch.bincount(flat, minlength=sums.shape[-1]).to(values)
        return (sums / counts).reshape(*lead, *self.shape)


__all__ = ["Tiling", "tile_starts"]
