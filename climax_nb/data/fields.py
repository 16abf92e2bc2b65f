"""Reading canonical fields a few time steps at a time.

Statistics, climatologies and the torch pipeline all walk the time axis in
bounded chunks, so none of them ever holds a whole year of a lazy (dask,
zarr, NetCDF) dataset in memory. ``lat`` (ClimaX's ``lattitude`` field) cannot
be a data variable beside the ``lat`` coordinate, so it is built from the
coordinate here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import dask
import numpy as np
import xarray as xr

from climax_nb.data.select import NotInSourceError
from climax_nb.variables import to_id

#: Bytes of float64 per variable a chunk aims at when no chunk size is given.
DEFAULT_CHUNK_BYTES: int = 64 * 2**20


def check_variables(ds: xr.Dataset, variables: Sequence[str] | None) -> list[str]:
    """Registry ids for ``variables`` (all data variables when None), each present in ``ds``."""
    if variables is None:
        return [to_id(str(v)) for v in ds.data_vars]
    ids = [to_id(v) for v in variables]
    missing = [v for v in ids if v not in ds.data_vars and not (v == "lat" and "lat" in ds.coords)]
    if missing:
        raise NotInSourceError(
            f"dataset has no variable(s) {', '.join(missing)}; it has: {', '.join(map(str, ds.data_vars))}"
        )
    return ids


def constant_field(ds: xr.Dataset, vid: str) -> np.ndarray:
    """A constant as a float32 ``(lat, lon)`` array; ``lat`` is built from the coordinate."""
    if vid == "lat" and "lat" not in ds.data_vars:
        lat = ds["lat"].values.astype(np.float32)
        return np.ascontiguousarray(np.broadcast_to(lat[:, None], (ds.sizes["lat"], ds.sizes["lon"])))
    da = ds[vid]
    if "time" in da.dims:
        raise ValueError(f"{vid} is registered as a constant but has a time axis; drop it or select one time")
    with dask.config.set(scheduler="synchronous"):
        return np.asarray(da.transpose("lat", "lon").values, dtype=np.float32)


def default_chunk_size(da: xr.DataArray, bytes_per_chunk: int = DEFAULT_CHUNK_BYTES) -> int:
    """Time steps per chunk of ``da``: about ``bytes_per_chunk`` of float64, a multiple of its storage chunks."""
    cells = max(1, da.sizes.get("lat", 1) * da.sizes.get("lon", 1))
    steps = max(1, bytes_per_chunk // (8 * cells))
    stored = da.chunksizes.get("time") if da.chunks else None
    if stored:
        first = int(stored[0])
        steps = max(first, steps - steps % first)
    return int(steps)


def time_chunks(da: xr.DataArray, chunk_size: int, dtype: type = np.float64) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(times, values)`` for consecutive chunks of ``chunk_size`` steps of a ``(time, lat, lon)`` array."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of time steps, got {chunk_size}")
    n = da.sizes["time"]
    times = da["time"].values
    for start in range(0, n, chunk_size):
        stop = min(n, start + chunk_size)
        with dask.config.set(scheduler="synchronous"):
            values = np.asarray(da.isel(time=slice(start, stop)).transpose("time", "lat", "lon").values, dtype=dtype)
        yield times[start:stop], values


def fingerprint(ds: xr.Dataset) -> str:
    """A 12-digit hash of every variable's first and last time step (constants whole), to tell data apart.

    Two scorecards with the same fingerprint scored the same data; the embedded GCM's output differs
    slightly from one machine to another, and this makes that visible. Reads two time steps per variable.
    """
    ends = ds.isel(time=[0, -1]) if "time" in ds.dims else ds
    with dask.config.set(scheduler="synchronous"):
        ends = ends.load()
    digest = hashlib.sha256()
    for name in sorted(map(str, ends.data_vars)):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(ends[name].values).tobytes())
    if "time" in ends.coords:  # datetime64 of any unit (xarray may hold us or ns)
        digest.update(ends["time"].values.astype("datetime64[ns]").tobytes())
    for name in ("lat", "lon"):
        if name in ends.coords:
            digest.update(np.ascontiguousarray(ends[name].values, dtype=np.float64).tobytes())
    return digest.hexdigest()[:12]
