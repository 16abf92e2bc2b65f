"""Space-time tokens of a field's cube, and the normalised auxiliary information of every token.

A field's neighbourhood is a cube ``[B, levels, T, lat, lon]``; a token is a block of
``token_size`` = (time steps, lat cells, lon cells) of one level, its values flattened
time-major. Each token also carries where and when it is: year, day of year, hour, level,
latitude and longitude. AtmoRep feeds these raw (year 2015, day 200, hour 18, latitude in
degrees) into a linear layer, so the years dominate and a day-of-year step from 364 to 0 is
a jump; here they are normalised first: the year centred on 2000 in units of 50 years,
day of year and hour as sine and cosine (periodic, no jump at New Year or midnight),
pressure divided by 1000 hPa, latitude and longitude as sine and cosine (the seam at 0 deg
is invisible). All features are in [-1, 1] for years 1950-2050.

One more feature is the sample's *forcing*: ``sst_offset``, the source's sea-surface
temperature offset (K) from the control climate, divided by 2 K. The embedded ``warm-sst``
source (SST +2 K everywhere) is then 1 and the control sources and the reanalysis 0, the
same size as the other features (so the auxiliary layer's initial weights treat it alike), and
the range of offsets one asks counterfactuals for (a few K) stays within a few units. With it
a model trained on several worlds can be asked what a field would look like with another
forcing (``AtmoRepForecaster.conditioned(sst_offset=...)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from climax_nb.model.embed import sincos_1d

#: The auxiliary features of a token, in order.
AUX_FEATURES: tuple[str, ...] = (
    "year", "sin_day_of_year", "cos_day_of_year", "sin_hour", "cos_hour", "level", "sin_lat", "cos_lat",
    "sin_lon", "cos_lon", "sst_offset",
)
#: Per-sample forcings among the auxiliary features (each sample's source's), and their scales.
FORCINGS: tuple[str, ...] = ("sst_offset",)
#: K per unit of the ``sst_offset`` feature: the warm-sst source's +2 K is 1 (see the module doc).
SST_OFFSET_SCALE_K = 2.0
YEAR_CENTRE = 2000.0
YEAR_SCALE = 50.0
DAYS_PER_YEAR = 365.25
LEVEL_SCALE_HPA = 1000.0
#: The pressure a single-level field is placed at in the level feature (it lies at the surface).
SURFACE_LEVEL_HPA = 1000.0


def token_grid(shape: Sequence[int], token_size: Sequence[int]) -> tuple[int, int, int]:
    """Tokens along (time, lat, lon) of a cube whose last three sizes are ``shape``; raises unless they divide."""
    cells = tuple(int(s) for s in shape[-3:])
    if len(cells) != 3 or len(token_size) != 3:
        raise ValueError(f"expected (time, lat, lon) sizes, got cube {tuple(shape)} and token {tuple(token_size)}")
    for axis, n, t in zip(("time", "lat", "lon"), cells, token_size, strict=True):
        if t < 1 or n % t:
            raise ValueError(f"token size {tuple(token_size)} does not divide the cube's {cells} cells along {axis}")
    return tuple(n // t for n, t in zip(cells, token_size, strict=True))  # type: ignore[return-value]


def tokenize(cube: torch.Tensor, token_size: Sequence[int]) -> torch.Tensor:
    """``[..., T, H, W]`` -> ``[..., nt, nh, nw, tt*th*tw]``: blocks row-major, values time-major inside."""
    nt, nh, nw = token_grid(cube.shape, token_size)
    tt, th, tw = token_size
    lead = cube.shape[:-3]
    x = cube.reshape(*lead, nt, tt, nh, th, nw, tw)
    k = len(lead)
    x = x.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3, k + 5)
    return x.reshape(*lead, nt, nh, nw, tt * th * tw)


def untokenize(tokens: torch.Tensor, token_size: Sequence[int]) -> torch.Tensor:
    """The inverse of ``tokenize``: ``[..., nt, nh, nw, tt*th*tw]`` -> ``[..., T, H, W]``."""
    tt, th, tw = (int(s) for s in token_size)
    if tokens.ndim < 4 or tokens.shape[-1] != tt * th * tw:
        raise ValueError(f"tokens {tuple(tokens.shape)} do not end in {tt * th * tw} values of a {tt}x{th}x{tw} token")
    *lead, nt, nh, nw, _ = tokens.shape
    k = len(lead)
    x = tokens.reshape(*lead, nt, nh, nw, tt, th, tw)
    x = x.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2, k + 5)
    return x.reshape(*lead, nt * tt, nh * th, nw * tw)


def _per_sample(values: np.ndarray | torch.Tensor, batch: int, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(values, dtype=np.float64))
    if t.ndim == 1:
        t = t.expand(batch, -1)
    if t.ndim != 2 or t.shape[0] != batch:
        raise ValueError(f"{name} must be [cells] or [batch={batch}, cells], got {tuple(t.shape)}")
    return t.float()


@dataclass(frozen=True)
class CubeCoords:
    """When and where each sample's neighbourhood lies: ``[B, T]`` times, ``[B, H]`` and ``[B, W]`` cell centres.

    ``day_of_year`` counts days since 1 January 00 UTC (fractional), ``hour`` is the UTC hour;
    ``lat`` and ``lon`` are in degrees; ``sst_offset`` ``[B]`` is each sample's forcing (K; None: 0).
    """

    year: torch.Tensor
    day_of_year: torch.Tensor
    hour: torch.Tensor
    lat: torch.Tensor
    lon: torch.Tensor
    sst_offset: torch.Tensor | None = None

    def __post_init__(self) -> None:
        b = self.year.shape[0]
        if self.sst_offset is not None and tuple(self.sst_offset.shape) != (b,):
            raise ValueError(f"sst_offset must be one value per sample, [batch={b}]; got "
                             f"{tuple(self.sst_offset.shape)}")

    @classmethod
    def from_arrays(cls, times: np.ndarray, lat: np.ndarray | torch.Tensor, lon: np.ndarray | torch.Tensor,
                    sst_offset: float | np.ndarray | torch.Tensor = 0.0) -> CubeCoords:
        """From ``datetime64`` times ``[B, T]``, cell latitudes/longitudes (``[H]`` or ``[B, H]``, degrees) and the
        samples' SST offsets (K; a number for all, or ``[B]``)."""
        times = np.asarray(times, dtype="datetime64[s]")
        if times.ndim != 2:
            raise ValueError(f"times must be [batch, time steps], got shape {times.shape}")
        year_start = times.astype("datetime64[Y]")
        day_start = times.astype("datetime64[D]")
        seconds = np.timedelta64(1, "s")
        year = year_start.astype(np.int64) + 1970
        doy = (times - year_start) / seconds / 86400.0
        hour = (times - day_start) / seconds / 3600.0
        b = times.shape[0]
        offset = torch.as_tensor(np.asarray(sst_offset, dtype=np.float64)).float()
        if offset.ndim == 0:
            offset = offset.expand(b)
        if not bool(torch.isfinite(offset).all()):
            raise ValueError(f"sst_offset must be finite (K), got {offset.tolist()}")
        return cls(*(torch.as_tensor(a, dtype=torch.float32) for a in (year, doy, hour)),
                   _per_sample(lat, b, "lat"), _per_sample(lon, b, "lon"), offset.contiguous())

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(batch, time steps, lat cells, lon cells)."""
        return (self.year.shape[0], self.year.shape[1], self.lat.shape[1], self.lon.shape[1])

    def to(self, device: torch.device | str) -> CubeCoords:
        offset = None if self.sst_offset is None else self.sst_offset.to(device)
        return CubeCoords(*(getattr(self, n).to(device) for n in ("year", "day_of_year", "hour", "lat", "lon")),
                          offset)


def token_aux(coords: CubeCoords, levels_hpa: Sequence[float], token_size: Sequence[int]) -> torch.Tensor:
    """Normalised auxiliary features ``[B, L, nt, nh, nw, len(AUX_FEATURES)]`` of a field's tokens.

    The forcing (``sst_offset / SST_OFFSET_SCALE_K``) is the sample's, the same for all its tokens.
    A token's time is its last step (the latest state it holds, as in AtmoRep), its latitude
    the mean of its cells' and its longitude their circular mean (a token across 0 deg lies at
    0 deg, not at 180).
    """
    b, t, h, w = coords.shape
    nt, nh, nw = token_grid((t, h, w), token_size)
    tt, th, tw = token_size
    last = slice(tt - 1, None, tt)
    year = (coords.year[:, last] - YEAR_CENTRE) / YEAR_SCALE
    day = 2 * torch.pi * coords.day_of_year[:, last] / DAYS_PER_YEAR
    hour = 2 * torch.pi * coords.hour[:, last] / 24.0
    time = torch.stack([year, day.sin(), day.cos(), hour.sin(), hour.cos()], -1)  # [B, nt, 5]
    lat = torch.deg2rad(coords.lat.reshape(b, nh, th).mean(-1))
    lon_cells = torch.deg2rad(coords.lon.reshape(b, nw, tw))
    lon = torch.atan2(lon_cells.sin().mean(-1), lon_cells.cos().mean(-1))
    level = torch.as_tensor([float(p) / LEVEL_SCALE_HPA for p in levels_hpa], dtype=time.dtype, device=time.device)
    nl = len(level)
    shape = (b, nl, nt, nh, nw)
    parts = [
        time[:, None, :, None, None].expand(*shape, 5),
        level[None, :, None, None, None, None].expand(*shape, 1),
        torch.stack([lat.sin(), lat.cos()], -1)[:, None, None, :, None].expand(*shape, 2),
        torch.stack([lon.sin(), lon.cos()], -1)[:, None, None, None, :].expand(*shape, 2),
    ]
    offset = coords.sst_offset if coords.sst_offset is not None else time.new_zeros(b)
    parts.append((offset.to(time) / SST_OFFSET_SCALE_K)[:, None, None, None, None, None].expand(*shape, 1))
    return torch.cat(parts, -1)


def space_time_table(embed_dim: int, grid: Sequence[int]) -> torch.Tensor:
    """Fixed sin-cos table ``[nt*nh*nw, embed_dim]`` of a token's place inside the neighbourhood.

    A third of the width each encodes the time, latitude and longitude index (row-major
    tokens, as ``tokenize`` lays them out). The auxiliary features say where on the globe a
    token is; this says who its neighbours are.
    """
    nt, nh, nw = grid
    third = 2 * (embed_dim // 6)
    widths = (third, third, embed_dim - 2 * third)
    idx = np.stack(np.meshgrid(np.arange(nt), np.arange(nh), np.arange(nw), indexing="ij"), -1).reshape(-1, 3)
    parts = [sincos_1d(d, idx[:, a]) for a, d in enumerate(widths) if d > 0]
    return torch.from_numpy(np.concatenate(parts, axis=1)).float()


__all__ = [
    "AUX_FEATURES",
    "FORCINGS",
    "SST_OFFSET_SCALE_K",
    "SURFACE_LEVEL_HPA",
    "CubeCoords",
    "space_time_table",
    "token_aux",
    "token_grid",
    "tokenize",
    "untokenize",
]
