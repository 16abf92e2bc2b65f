"""Zonal hyperdiffusion for iterative rollouts: damp each step's smallest scales, as the GCM damps its own.

A learnt 6 h step adds a little noise at the smallest scales that nothing takes out again,
so a rollout's power there grows step by step (``experiments/rollout_stability.py``). A GCM
has the same problem with its numerics and damps it with hyperdiffusion: SPEEDY (the embedded
data's GCM) applies del^4 to vorticity, humidity and temperature with e-folding times of 12-24 h
at its truncation. Here each predicted
state of a rollout is filtered along longitude, latitude by latitude:

    amplitude at zonal wavenumber k  *=  exp(-(step / timescale) * (k / k_max) ** order)

with ``k_max`` the grid's highest zonal wavenumber (32 on the 64-longitude grid). ``order`` 8 is
del^8: it leaves the large scales alone (k = 8 is damped 65,536 times more slowly than k_max)
and acts near the grid scale. The filter is linear and keeps every latitude's zonal mean, so
it acts the same on normalised and on physical values. It is zonal only: at high latitudes a
wavenumber is a smaller distance, and it is damped no faster there. Like any filter it can take
a bounded field (precipitation, humidity) slightly past its bounds, as the model's own
predictions can.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ZonalHyperdiffusion:
    """Damp zonal wavenumber k of every predicted field by ``exp(-(step / timescale_hours) * (k / k_max) ** order)``.

    ``timescale_hours``: the e-folding time at the grid's highest zonal wavenumber; ``order``: the
    power of the wavenumber (8: del^8; 4: del^4, SPEEDY's own).
    """

    timescale_hours: float = 3.0
    order: int = 8

    def __post_init__(self) -> None:
        if not (math.isfinite(self.timescale_hours) and self.timescale_hours > 0):
            raise ValueError(f"hyperdiffusion timescale must be a positive number of hours, got "
                             f"{self.timescale_hours!r}: e.g. 3 (the e-folding time at the highest wavenumber)")
        if isinstance(self.order, bool) or not isinstance(self.order, int) or self.order < 2 or self.order % 2:
            raise ValueError(f"hyperdiffusion order must be an even integer >= 2 (4: del^4, 8: del^8), "
                             f"got {self.order!r}")

    def __str__(self) -> str:
        return f"zonal del^{self.order}, e-folding {self.timescale_hours:g} h at the highest wavenumber"

    def factors(self, n_lon: int, step_hours: float) -> torch.Tensor:
        """[n_lon // 2 + 1] amplitude factors of one step of ``step_hours``, wavenumber 0 first (factor 1)."""
        if n_lon < 2:
            raise ValueError(f"zonal hyperdiffusion needs at least 2 longitudes, got {n_lon}")
        k = torch.arange(n_lon // 2 + 1, dtype=torch.float64)
        rate = float(step_hours) / self.timescale_hours
        return torch.exp(-rate * (k / (n_lon // 2)) ** self.order)

    def __call__(self, fields: torch.Tensor, step_hours: float) -> torch.Tensor:
        """``fields`` [..., lat, lon] (whole latitude circles) after one step of ``step_hours``."""
        n_lon = fields.shape[-1]
        work = fields if fields.dtype == torch.float64 else fields.float()  # half precision has no CPU FFT
        factors = self.factors(n_lon, step_hours).to(fields.device, work.dtype)
        spectrum = torch.fft.rfft(work, dim=-1) * factors
        return torch.fft.irfft(spectrum, n=n_lon, dim=-1).to(fields.dtype)
