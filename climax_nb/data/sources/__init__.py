"""Readers for real data sources, each returning the canonical layout.

Each source maps its native names to registry ids with a lexicon (``lexicons``)
and is reached through ``climax_nb.data.open_dataset(path, format=...)``; the
format is guessed from the path's layout when not given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import xarray as xr

from climax_nb.data.regrid import regrid
from climax_nb.data.sources import climax_npz, cmip6, weatherbench1, weatherbench2
from climax_nb.data.sources._common import subsample
from climax_nb.data.sources.climax_npz import ClimaxStats, open_climax_npz, read_climax_stats, write_climax_npz
from climax_nb.data.sources.cmip6 import open_cmip6
from climax_nb.data.sources.weatherbench1 import open_weatherbench1, write_weatherbench1_sample
from climax_nb.data.sources.weatherbench2 import open_weatherbench2, store_url, write_weatherbench2_sample


@dataclass(frozen=True)
class Source:
    """How to recognise and read one on-disk layout.

    ``time_gaps`` marks layouts that skip whole steps by design (ClimaX drops 31
    December of leap years; model calendars lack some standard days).
    """

    name: str
    open: Callable[..., xr.Dataset]
    looks_like: Callable[[str], bool]
    time_gaps: bool = False


#: Readers by format name, in the order their layouts are tried when guessing.
SOURCES: dict[str, Source] = {
    "climax-npz": Source("climax-npz", open_climax_npz, climax_npz.looks_like, time_gaps=True),
    "weatherbench1": Source("weatherbench1", open_weatherbench1, weatherbench1.looks_like),
    "cmip6": Source("cmip6", open_cmip6, cmip6.looks_like, time_gaps=True),
    "weatherbench2": Source("weatherbench2", open_weatherbench2, weatherbench2.looks_like),
}


def guess_source(path: str) -> str | None:
    """The name of the first source whose layout ``path`` has, or None."""
    return next((name for name, source in SOURCES.items() if source.looks_like(path)), None)


__all__ = [
    "SOURCES",
    "ClimaxStats",
    "Source",
    "guess_source",
    "open_climax_npz",
    "open_cmip6",
    "open_weatherbench1",
    "open_weatherbench2",
    "read_climax_stats",
    "regrid",
    "store_url",
    "subsample",
    "write_climax_npz",
    "write_weatherbench1_sample",
    "write_weatherbench2_sample",
]
