"""The dashboard's command-line options, shared by ``climax-nb dashboard`` and the served page.

Only light imports here: building the ``climax-nb`` parser must not load Panel or torch.
"""

from __future__ import annotations

import argparse

from climax_nb.dashboard.settings import DataSpec, Settings

DEFAULT_PORT = 5006


def add_options(parser: argparse.ArgumentParser) -> None:
    """What to show: checkpoints, forecasts, data, lead times (shared by the command and the page)."""
    parser.add_argument("--checkpoint", action="append", default=[], metavar="PATH",
                        help="forecast checkpoint (a run's model.pt); repeat for several")
    parser.add_argument("--forecast", action="append", default=[], metavar="PATH",
                        help="forecast file written by `climax-nb forecast`; repeat for several")
    parser.add_argument("--search", action="append", default=None, metavar="DIR",
                        help="folder to scan for model.pt and forecast files (default: the cache and ./outputs)")
    parser.add_argument("--data", "--source", dest="data", default="embedded/reanalysis",
                        help="initial states and truth: embedded/<name> or a canonical dataset path")
    parser.add_argument("--years", type=int, nargs="+", default=None,
                        help="years to forecast (default: the reanalysis test year, else all)")
    parser.add_argument("--clim-years", type=int, nargs="+", default=None,
                        help="years of the climatology for ACC and the climatology baseline "
                        "(default: the reanalysis training years, else the forecast years)")
    parser.add_argument("--days", type=int, default=None, help="simulated days of an embedded source")
    parser.add_argument("--leads", type=float, nargs="+", default=list(Settings.leads), help="lead times in hours")
    parser.add_argument("--inits", type=int, default=Settings.n_inits, help="number of initial times to forecast")
    parser.add_argument("--every", type=float, default=Settings.every_hours,
                        help="hours between candidate initial times")
    parser.add_argument("--variable", default=None, help="variable shown first (default: the first forecast)")
    parser.add_argument("--projection", default="Robinson", help="map projection shown first")
    parser.add_argument("--cache", default=None, help="cache directory (default: $CLIMAX_NB_CACHE or "
                        "~/.cache/climax_nb); results go to <cache>/dashboard")


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """Where to serve: port, address, browser."""
    parser.add_argument("--port", type=int, default=None,
                        help=f"port (default: {DEFAULT_PORT}, or a free one if it is taken)")
    parser.add_argument("--address", default="127.0.0.1",
                        help="address to bind (default: loopback only; 0.0.0.0 exposes the page to the network)")
    parser.add_argument("--allow-websocket-origin", action="append", default=[], metavar="HOST[:PORT]",
                        help="extra origin allowed to connect (needed behind a proxy or with --address 0.0.0.0)")
    parser.add_argument("--show", action=argparse.BooleanOptionalAction, default=False,
                        help="open the page in a browser")


def page_parser() -> argparse.ArgumentParser:
    """The parser of the options after ``--args``."""
    parser = argparse.ArgumentParser(prog="dashboard page", add_help=False)
    add_options(parser)
    return parser


def settings_of(args: argparse.Namespace) -> tuple[DataSpec, Settings]:
    """Data and settings from parsed options."""
    data = DataSpec(args.data, tuple(args.years) if args.years else None, args.days,
                    tuple(args.clim_years) if args.clim_years else None, args.cache)
    if args.inits < 1:
        raise SystemExit(f"--inits must be at least 1, got {args.inits}")
    return data, Settings(leads=tuple(sorted(set(args.leads))), n_inits=args.inits, every_hours=args.every)


def page_args(args: argparse.Namespace) -> list[str]:
    """The parsed page options written back as arguments, to pass after ``--args``."""
    out: list[str] = []
    for path in args.checkpoint:
        out += ["--checkpoint", str(path)]
    for path in args.forecast:
        out += ["--forecast", str(path)]
    for folder in args.search or ():
        out += ["--search", str(folder)]
    out += ["--data", args.data, "--inits", str(args.inits), "--every", repr(args.every),
            "--projection", args.projection, "--leads", *map(repr, args.leads)]
    for name, value in (("--years", args.years), ("--clim-years", args.clim_years)):
        if value:
            out += [name, *map(str, value)]
    for name, value in (("--days", args.days), ("--variable", args.variable), ("--cache", args.cache)):
        if value is not None:
            out += [name, str(value)]
    return out


def search_roots(args: argparse.Namespace) -> list[str]:
    """Folders scanned for results: those given, else the cache and ./outputs."""
    from climax_nb.storage import cache_root

    return args.search if args.search is not None else [str(cache_root(args.cache)), "outputs"]
