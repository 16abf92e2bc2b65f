"""One entry point for every data source: ``open_dataset``.

Each source returns the canonical layout (see ``schema``), so the rest of the
package never needs to know where the data came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import xarray as xr

from climax_nb.data.canonical import canonicalize
from climax_nb.data.schema import validate
from climax_nb.data.select import select_variables, select_years
from climax_nb.data.sources import SOURCES, guess_source, subsample
from climax_nb.data.sources.lexicons import ERA5

EMBEDDED_PREFIX = "embedded/"
FORMATS: tuple[str, ...] = ("embedded", "netcdf", "zarr", *SOURCES)


def embedded_name(spec: str) -> str | None:
    """The embedded source that ``"embedded/<name>"`` names (None for a path or URL): parsed here only."""
    return spec.removeprefix(EMBEDDED_PREFIX) if str(spec).startswith(EMBEDDED_PREFIX) else None


def source_label(spec: str) -> str:
    """A short name for a source: ``embedded/t31`` -> ``t31``, ``/data/era5.zarr`` -> ``era5``."""
    name = embedded_name(spec)
    return name if name is not None else Path(str(spec).rstrip("/")).stem


def open_source(
    spec: str,
    *,
    years: Iterable[int] | None = None,
    days: int | None = None,
    cache_dir: str | None = None,
    progress: bool = True,
    check_values: bool = True,
    check_ranges: bool = True,
) -> xr.Dataset:
    """``open_dataset`` for a data argument of the command line or a config: ``embedded/<name>`` or a path.

    ``days`` (simulated days), ``cache_dir`` and ``progress`` apply to embedded sources only
    (checked for plausible values when they are simulated). ``check_values=False`` leaves the
    values unread, for a caller that loads them and validates them in memory.
    """
    if embedded_name(spec) is not None:
        return open_dataset(spec, years=years, length=days, cache_dir=cache_dir, progress=progress,
                            check_values=check_values)
    if days is not None:
        raise ValueError(
            f"days={days} applies to embedded sources only, not to {spec}: leave it out, or select times with years="
        )
    return open_dataset(spec, years=years, check_values=check_values, check_ranges=check_ranges)


def _guess_format(path: str) -> str:
    if embedded_name(path) is not None:
        return "embedded"
    if (name := guess_source(path)) is not None:
        return name
    if path.rstrip("/").endswith(".zarr"):
        return "zarr"
    if path.endswith((".nc", ".nc4", ".netcdf")):
        return "netcdf"
    raise ValueError(
        f"cannot tell the format of {path!r}: pass format= one of {FORMATS}, "
        f"or use 'embedded/<source>' for the embedded GCM data"
    )


def _open_file(path: str, fmt: str) -> xr.Dataset:
    if "://" not in path and not Path(path).exists():
        raise FileNotFoundError(f"no such file or directory: {path}")
    try:
        if fmt == "zarr":
            return xr.open_zarr(path)
        return xr.open_dataset(path, chunks={})
    except (OSError, ValueError) as err:
        raise OSError(f"could not read {path} as {fmt}: {err}") from err


def open_dataset(
    path_or_url: str,
    format: str | None = None,  # noqa: A002 - the name users expect
    variables: Sequence[str] | None = None,
    years: Iterable[int] | int | None = None,
    *,
    standardize: bool = False,
    check_values: bool = True,
    check_ranges: bool = True,
    step: str | None = None,
    **options: Any,
) -> xr.Dataset:
    """Open a source as a validated canonical Dataset (lazy where the format allows).

    ``"embedded/<source>"`` opens (and on first use generates) the embedded GCM
    data; a ``.nc`` or ``.zarr`` path opens a file already in the canonical layout,
    or in a common ERA5 layout when ``standardize=True`` (see ``canonicalize``).
    The real sources (``weatherbench1``, ``weatherbench2``, ``climax-npz``, ``cmip6``;
    see ``docs/sources.md``) are recognised by their layout, and ``options`` go to
    their readers (``resolution=``, ``storage_options=``, ``grid=``, ``splits=``,
    ``time_step=``, ``pattern=``). ``step`` (e.g. ``"6h"``) keeps only the stamps on
    a coarser step: WeatherBench 1 and ClimaX's shards are hourly. Embedded sources take
    ``length=`` (simulated days), ``cache_dir=`` and ``progress=``.
    ``check_values`` reads every value once (chunk by chunk) to look for NaN and, with
    ``check_ranges``, for values outside each variable's plausible range (``climax_nb.data.ranges``).
    """
    fmt = format or _guess_format(str(path_or_url))
    embedded_options = {"length", "cache_dir", "progress"}
    if options and fmt not in SOURCES and not (fmt == "embedded" and set(options) <= embedded_options):
        raise TypeError(
            f"options {sorted(options)} apply only to the formats {list(SOURCES)} "
            f"(and {sorted(embedded_options)} to embedded data), not {fmt!r}"
        )
    gaps = years is not None
    if fmt == "embedded":
        from climax_nb.data import embedded

        ds = embedded.open_source(embedded_name(path_or_url), years=years, **options)
    elif fmt in ("netcdf", "zarr"):
        ds = _open_file(path_or_url, fmt)
        if standardize:
            ds = canonicalize(ds, lexicon=ERA5)
        ds = select_years(ds, years, path_or_url)
    elif fmt in SOURCES:
        ds = SOURCES[fmt].open(str(path_or_url), variables=variables, years=years, **options)
        gaps = gaps or SOURCES[fmt].time_gaps
    else:
        raise ValueError(f"unknown format {fmt!r}: choose one of {FORMATS}")
    ds = subsample(select_variables(ds, variables, path_or_url), step)
    return validate(ds, check_values=check_values, allow_gaps=gaps, check_ranges=check_ranges, where=str(path_or_url))
