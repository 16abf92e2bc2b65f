"""Choosing variables and years from a canonical dataset, with errors that list what exists."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import xarray as xr

from climax_nb.variables import to_id


class NotInSourceError(KeyError, ValueError):
    """Asked for a variable or year a source does not have; the message lists what it has."""

    def __str__(self) -> str:
        return str(self.args[0])


def select_variables(ds: xr.Dataset, variables: Sequence[str] | None, source: str = "dataset") -> xr.Dataset:
    """Keep ``variables`` (ids or long names) in the order given; error lists what ``source`` has."""
    if variables is None:
        return ds
    ids = [to_id(v) for v in variables]
    missing = [v for v in ids if v not in ds.data_vars]
    if missing:
        raise NotInSourceError(
            f"{source} has no variable(s) {', '.join(missing)}; it has: {', '.join(map(str, ds.data_vars))}"
        )
    return ds[ids]


def available_years(ds: xr.Dataset) -> list[int]:
    """The calendar years present on the time axis."""
    return sorted({int(y) for y in np.unique(ds["time"].dt.year.values)})


def select_years(ds: xr.Dataset, years: Iterable[int] | int | None, source: str = "dataset") -> xr.Dataset:
    """Keep the time steps of ``years``; constants are kept whole."""
    if years is None or "time" not in ds.dims:
        return ds
    wanted = [years] if isinstance(years, int) else [int(y) for y in years]
    have = available_years(ds)
    missing = [y for y in wanted if y not in have]
    if missing:
        raise NotInSourceError(f"{source} has no year(s) {missing}; it has {have}")
    return ds.sel(time=ds["time"].dt.year.isin(wanted))
