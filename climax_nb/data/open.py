"""One entry point for every data source: ``open_dataset``.

Each source returns the canonical layout (see ``schema``), so the rest of the
package never needs to know where the data came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import xarray as xr

from climax_nb.data.canonical import canonicalize
from climax_nb.data.schema import validate
from climax_nb.data.select import select_variables, select_years

EMBEDDED_PREFIX = "embedded/"
FORMATS: tuple[str, ...] = ("embedded", "netcdf", "zarr")


def _guess_format(path: str) -> str:
    if path.startswith(EMBEDDED_PREFIX):
        return "embedded"
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
) -> xr.Dataset:
    """Open a source as a validated canonical Dataset (lazy where the format allows).

    ``"embedded/<source>"`` opens (and on first use generates) the embedded GCM
    data; a ``.nc`` or ``.zarr`` path opens a file already in the canonical layout,
    or in a common ERA5 layout when ``standardize=True`` (see ``canonicalize``).
    """
    fmt = format or _guess_format(path_or_url)
    if fmt == "embedded":
        from climax_nb.data import embedded

        name = path_or_url.removeprefix(EMBEDDED_PREFIX)
        ds = embedded.open_source(name, years=years)
    elif fmt in ("netcdf", "zarr"):
        ds = _open_file(path_or_url, fmt)
        if standardize:
            ds = canonicalize(ds)
        ds = select_years(ds, years, path_or_url)
    else:
        raise ValueError(f"unknown format {fmt!r}: choose one of {FORMATS}")
    ds = select_variables(ds, variables, path_or_url)
    return validate(ds, check_values=check_values, allow_gaps=years is not None)
