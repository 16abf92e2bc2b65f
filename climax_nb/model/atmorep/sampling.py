"""Neighbourhoods drawn at random over the sphere so that every area is equally likely, at random times.

A neighbourhood is ``T`` consecutive time steps x ``H`` latitudes x ``W`` longitudes of a
``[time, lat, lon]`` array. Its centre latitude is drawn area-uniformly over the band of
centres a whole neighbourhood fits in: the colatitude is the arccos of a uniform variable on
the band's cosines (uniform in sin(latitude), not in degrees, so the tropics are drawn as
often as their area says and the poles no more), then snapped to the nearest grid position.
Longitudes are uniform and wrap across the 0 deg seam; times never cross the data's first or
last step. AtmoRep draws latitudes uniformly in degrees, over-sampling high latitudes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from climax_nb.model.atmorep.tokens import CubeCoords


@dataclass(frozen=True)
class Neighbourhoods:
    """Index arrays of ``n`` neighbourhoods: ``time`` [n, T], ``lat`` [n, H], ``lon`` [n, W] (wrapped).

    ``centre_lat`` and ``centre_lon`` (degrees) are the drawn centres before snapping to the grid.
    """

    time: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    centre_lat: np.ndarray
    centre_lon: np.ndarray

    def __len__(self) -> int:
        return len(self.time)

    def cut(self, array: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Cubes ``[n, ..., T, H, W]`` out of ``array`` ``[..., time, lat, lon]`` (numpy or torch)."""
        idx = (self.time[:, :, None, None], self.lat[:, None, :, None], self.lon[:, None, None, :])
        if isinstance(array, torch.Tensor):
            out = array[(..., *(torch.as_tensor(i, device=array.device) for i in idx))]
            return out.movedim(-4, 0)
        return np.moveaxis(np.asarray(array)[(..., *idx)], -4, 0)

    def coords(self, times: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> CubeCoords:
        """The model's ``CubeCoords`` from the data's ``datetime64`` times and cell latitudes/longitudes."""
        return CubeCoords.from_arrays(np.asarray(times)[self.time], np.asarray(lat)[self.lat],
                                      np.asarray(lon)[self.lon])


class NeighbourhoodSampler:
    """Draws neighbourhoods of ``size`` = (T, H, W) cells out of ``n_times`` steps on the ``lat`` x ``lon`` grid."""

    def __init__(self, lat: np.ndarray, lon: np.ndarray, n_times: int, size: tuple[int, int, int]) -> None:
        self.lat = np.asarray(lat, dtype=np.float64)
        self.lon = np.asarray(lon, dtype=np.float64)
        self.n_times = int(n_times)
        self.size = tuple(int(s) for s in size)
        if len(self.size) != 3 or min(self.size) < 1:
            raise ValueError(f"size must be (time steps, lat cells, lon cells), got {size}")
        t, h, w = self.size
        if t > self.n_times:
            raise ValueError(f"a neighbourhood of {t} time steps does not fit in data of {self.n_times} steps")
        if h > len(self.lat) or w > len(self.lon):
            raise ValueError(
                f"a neighbourhood of {h} x {w} cells is larger than the {len(self.lat)} x {len(self.lon)} grid; "
                f"choose at most {len(self.lat)} latitudes and {len(self.lon)} longitudes"
            )
        if len(self.lat) > 1 and not np.all(np.diff(self.lat) > 0):
            raise ValueError("latitudes must be ascending (canonical datasets are; see climax_nb.data.validate)")
        self.lon_step = 360.0 / len(self.lon)
        ring = np.diff(np.concatenate([self.lon, [self.lon[0] + 360.0]]))
        if not np.allclose(ring, self.lon_step, atol=1e-6):
            raise ValueError("longitudes must be evenly spaced around the whole circle for neighbourhoods to wrap")
        #: centre latitude of the neighbourhood starting at each latitude index
        self.centres = (self.lat[: len(self.lat) - h + 1] + self.lat[h - 1:]) / 2
        self._edges = np.concatenate([[self.centres[0]], (self.centres[1:] + self.centres[:-1]) / 2,
                                      [self.centres[-1]]])

    @property
    def band(self) -> tuple[float, float]:
        """The latitudes (degrees) neighbourhood centres are drawn from."""
        return float(self.centres[0]), float(self.centres[-1])

    def start_probabilities(self) -> np.ndarray:
        """Probability of each first latitude index: the band's area nearest to that centre, over the band's area."""
        if len(self.centres) == 1:
            return np.ones(1)
        s = np.sin(np.deg2rad(self._edges))
        return np.diff(s) / (s[-1] - s[0])

    def draw_latitudes(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` centre latitudes (degrees), uniform in area over the band."""
        lo, hi = (np.cos(np.deg2rad(90.0 - b)) for b in self.band)  # cosines of the band's colatitudes
        return 90.0 - np.rad2deg(np.arccos(rng.uniform(lo, hi, n)))

    def sample(self, n: int, rng: np.random.Generator) -> Neighbourhoods:
        """``n`` neighbourhoods at random places and times."""
        t, h, w = self.size
        centre_lat = self.draw_latitudes(n, rng)
        lat0 = np.clip(np.searchsorted(self._edges[1:-1], centre_lat), 0, len(self.centres) - 1)
        centre_lon = rng.uniform(0.0, 360.0, n)
        half = (w - 1) * self.lon_step / 2
        lon0 = np.round((centre_lon - self.lon[0] - half) / self.lon_step).astype(np.int64) % len(self.lon)
        t0 = rng.integers(0, self.n_times - t + 1, n)
        return Neighbourhoods(
            time=t0[:, None] + np.arange(t),
            lat=lat0[:, None] + np.arange(h),
            lon=(lon0[:, None] + np.arange(w)) % len(self.lon),
            centre_lat=centre_lat,
            centre_lon=centre_lon,
        )


__all__ = ["NeighbourhoodSampler", "Neighbourhoods"]
