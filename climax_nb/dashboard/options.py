"""The dashboard's command-line options, shared by ``climax-nb dashboard`` and the served page.

Two option dataclasses in the package's one option system (``climax_nb.config``):
``PageOptions`` (what to show, parsed again by every page session) and
``ServerOptions`` (where to serve). Only light imports here: building the
``climax-nb`` parser must not load Panel or torch.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from climax_nb.config import add_options, option, parse_options, to_args
from climax_nb.dashboard.settings import DataSpec, Settings

DEFAULT_PORT = 5006


@dataclass(frozen=True)
class PageOptions:
    """What to show: checkpoints, forecasts, data, lead times."""

    checkpoint: tuple[str, ...] = option((), "forecast checkpoints (a run's model.pt); several, or repeat")
    forecast: tuple[str, ...] = option((), "forecast files written by `climax-nb forecast`; several, or repeat")
    search: tuple[str, ...] | None = option(None, "folders to scan for model.pt and forecast files "
                                            "(default: the cache and ./outputs)")
    data: str = option("embedded/reanalysis", "initial states and truth: embedded/<name> or a canonical dataset path")
    years: tuple[int, ...] | None = option(None, "years to forecast (default: the reanalysis test year, else all)")
    clim_years: tuple[int, ...] | None = option(
        None, "years of the climatology for ACC and the climatology baseline (default: the reanalysis training "
        "years, else the forecast years)"
    )
    days: int | None = option(None, "simulated days of an embedded source")
    leads: tuple[float, ...] = option(Settings.leads, "lead times in hours")
    inits: int = option(Settings.n_inits, "number of initial times to forecast")
    every: float = option(Settings.every_hours, "hours between candidate initial times")
    hyperdiffusion: float | None = option(None, "damp each step of every rollout (the growth curve, the forecast "
                                          "at untrained leads): e-folding hours of del^8 zonal hyperdiffusion at "
                                          "the highest wavenumber (e.g. 3; docs/forecast.md)")
    variable: str | None = option(None, "variable shown first (default: the first forecast)")
    projection: str = option("Robinson", "map projection shown first")
    cache: str | None = option(None, "cache directory (default: $CLIMAX_NB_CACHE or ~/.cache/climax_nb); "
                               "results go to <cache>/dashboard")

    def __post_init__(self) -> None:
        if self.inits < 1:
            raise ValueError(f"--inits must be at least 1, got {self.inits}")
        if not self.every > 0:
            raise ValueError(f"--every is hours between initial times and must be positive, got {self.every}")
        if self.hyperdiffusion is not None and not self.hyperdiffusion > 0:
            raise ValueError(f"--hyperdiffusion is an e-folding time in hours and must be positive (e.g. 3), got "
                             f"{self.hyperdiffusion}")

    def settings(self) -> tuple[DataSpec, Settings]:
        """The data and the forecast settings these options ask for."""
        data = DataSpec(self.data, self.years, self.days, self.clim_years, self.cache)
        return data, Settings(leads=tuple(sorted(set(self.leads))), n_inits=self.inits, every_hours=self.every,
                              hyperdiffusion_hours=self.hyperdiffusion)

    def search_roots(self) -> list[str]:
        """Folders scanned for results: those given, else the cache and ./outputs."""
        from climax_nb.storage import cache_root

        return list(self.search) if self.search is not None else [str(cache_root(self.cache)), "outputs"]

    def to_args(self) -> list[str]:
        """These options as arguments, to pass after ``--args`` to the page."""
        return to_args(self)


@dataclass(frozen=True)
class ServerOptions:
    """Where to serve: port, address, browser."""

    port: int | None = option(None, f"port (default: {DEFAULT_PORT}, or a free one if it is taken)")
    address: str = option("127.0.0.1", "address to bind (default: loopback only; 0.0.0.0 exposes the page)")
    allow_websocket_origin: tuple[str, ...] = option(
        (), "extra origins HOST[:PORT] allowed to connect (behind a proxy or with --address 0.0.0.0)"
    )
    show: bool = option(False, "open the page in a browser")


def page_options(argv: list[str]) -> PageOptions:
    """The page's options from the arguments after ``--args``."""
    parser = argparse.ArgumentParser(prog="dashboard page", add_help=False)
    add_options(parser, PageOptions)
    return parse_options(PageOptions, parser.parse_args(argv))
