"""What the dashboard computes, as plain values: the data to use and how much to forecast.

Kept free of heavy imports so the command line can build its options quickly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from climax_nb.defaults import EVAL_LEADS

#: The masked model's default infilling box: 20 deg x 40 deg over western Europe and the Atlantic, across 0 deg.
INFILL_BOX: tuple[float, float, float, float] = (35.0, 55.0, 340.0, 20.0)


@dataclass(frozen=True)
class DataSpec:
    """Where the initial states and the truth come from."""

    path: str = "embedded/reanalysis"
    years: tuple[int, ...] | None = None
    days: int | None = None
    clim_years: tuple[int, ...] | None = None
    cache_dir: str | None = None

    def key(self) -> str:
        """A stable text identifying the data, for cache keys."""
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Settings:
    """How much to forecast: lead times (hours), how many initial times, how far apart, which mode; the box
    (south, north, west, east degrees; west > east crosses 0 deg) a masked model infills; and the e-folding
    hours of the del^8 zonal hyperdiffusion on each step of every rollout, the growth curve's and an ``auto``
    forecast's at untrained leads (None: none; ``forecast.damping``)."""

    leads: tuple[float, ...] = EVAL_LEADS
    n_inits: int = 8
    every_hours: float = 24.0
    mode: str = "auto"
    batch_size: int = 8
    box: tuple[float, float, float, float] = INFILL_BOX
    hyperdiffusion_hours: float | None = None
