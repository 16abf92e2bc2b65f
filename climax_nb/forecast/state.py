"""Initial states: checked at the model's door, then read a batch of initial times at a time.

Problems are reported before any model runs, each naming the variable (and time)
at fault: a missing input, another grid, NaNs, an initial time not in the data.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import dask
import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.data.fields import constant_field
from climax_nb.data.schema import validate
from climax_nb.forecast.model import ForecastModel
from climax_nb.variables import is_constant


class InitialStateError(ValueError):
    """An initial state that cannot start a forecast."""


def _grid_text(lat: np.ndarray, lon: np.ndarray) -> str:
    return f"{len(lat)}x{len(lon)} grid (lat {lat[0]:g}..{lat[-1]:g}, lon {lon[0]:g}..{lon[-1]:g})"


def check_initial_state(
    ds: xr.Dataset, models: Sequence[ForecastModel], init_times: Iterable | None = None
) -> np.ndarray:
    """Raise ``InitialStateError`` naming what is wrong; return the initial times as ``datetime64[ns]``."""
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"the initial state must be an xarray.Dataset, got {type(ds).__name__}")
    if "lat" not in ds.coords or "lon" not in ds.coords:
        raise InitialStateError("the initial state has no lat/lon coordinates; canonicalize it first")
    lat, lon = np.asarray(ds["lat"].values), np.asarray(ds["lon"].values)
    for fm in models:
        if not fm.grid.matches(lat, lon):
            raise InitialStateError(
                f"the initial state is on a {_grid_text(lat, lon)}; {fm.name} was trained on the "
                f"{fm.grid.name} {_grid_text(fm.grid.lat, fm.grid.lon)}: regrid it (climax_nb.data.regrid.regrid)"
            )
    needed = sorted({v for fm in models for v in fm.inputs})
    missing = [v for v in needed if v not in ds.data_vars and v != "lat"]
    if missing:
        raise InitialStateError(
            f"the initial state lacks {', '.join(missing)}, needed as input(s) by the checkpoint; it has "
            f"{', '.join(map(str, ds.data_vars)) or 'no variables'}"
        )
    validate(ds[[v for v in needed if v in ds.data_vars]], check_values=False, allow_gaps=True)
    timed = [v for v in needed if not is_constant(v)]
    if timed and "time" not in ds.dims:
        raise InitialStateError(f"the initial state has no time dimension for {', '.join(timed)}")
    available = pd.DatetimeIndex(ds["time"].values)
    chosen = available if init_times is None else pd.DatetimeIndex(pd.to_datetime(list(np.atleast_1d(init_times))))
    if not len(chosen):
        raise InitialStateError(
            "no initial times to forecast from: the initial state has no time steps, or init_times is empty"
        )
    absent = chosen[available.get_indexer(chosen) < 0]
    if len(absent):
        raise InitialStateError(
            f"initial time(s) {', '.join(map(str, absent[:5]))} not in the initial state "
            f"({available[0]} .. {available[-1]}, {len(available)} times)"
        )
    return chosen.values.astype("datetime64[ns]")


def read_fields(ds: xr.Dataset, variables: Sequence[str], times: np.ndarray) -> np.ndarray:
    """Physical values ``[B, V, H, W]`` (float32) of ``variables`` at ``times``; constants broadcast."""
    positions = pd.DatetimeIndex(ds["time"].values).get_indexer(pd.DatetimeIndex(times))
    shape = (len(times), ds.sizes["lat"], ds.sizes["lon"])
    out = np.empty((len(times), len(variables), *shape[1:]), dtype=np.float32)
    for j, vid in enumerate(variables):
        if is_constant(vid):
            out[:, j] = constant_field(ds, vid)[None]
        else:
            with dask.config.set(scheduler="synchronous"):
                out[:, j] = ds[vid].isel(time=positions).transpose("time", "lat", "lon").values
        bad = ~np.isfinite(out[:, j])
        if bad.any():
            when = times[np.flatnonzero(bad.any(axis=(1, 2)))[0]]
            raise InitialStateError(
                f"{vid} has {int(bad.sum())} NaN or infinite value(s) in the initial state (first at {when}); "
                "fill or mask them before forecasting"
            )
    return out


#: Bytes of states a forecast reads into memory at once (``state_blocks``).
BLOCK_BYTES = 512 * 2**20


def state_blocks(ds: xr.Dataset, variables: Sequence[str], times: np.ndarray, *, batch_size: int,
                 history_hours: float = 0.0, max_bytes: int | None = None) -> Iterator[tuple[int, int, xr.Dataset]]:
    """``(start, stop, block)``: consecutive whole batches of ``times`` and the data they need, in memory.

    The block holds ``variables`` of ``ds`` at those times and the ``history_hours`` before each,
    read in one pass of the storage: a read per variable and batch costs a storage round trip
    each, which made most of the main job's forecast time (its ``forecast and scores`` step: 2.4
    min before, 1.2 after, ``benchmarks/main_job.py``). Blocks stay under about ``max_bytes``
    (default ``BLOCK_BYTES``), and hold one batch at least.
    """
    max_bytes = BLOCK_BYTES if max_bytes is None else max_bytes
    data_times = ds["time"].values.astype("datetime64[ns]") if "time" in ds.dims else None
    present = [v for v in dict.fromkeys(variables) if v in ds.data_vars]
    if data_times is None:
        yield 0, len(times), ds[present].load(scheduler="synchronous")
        return
    timed = [v for v in present if "time" in ds[v].dims]
    per_time = sum(ds[v].dtype.itemsize * ds[v].size // ds.sizes["time"] for v in timed) or 1
    history = np.timedelta64(round(history_hours * 3.6e12), "ns")
    steps = np.diff(data_times)
    per_sample = 1 + (history / steps.min() if len(steps) else 0)  # states read per initial time
    batches = max(1, int(max_bytes / (per_time * per_sample)) // batch_size)
    for start in range(0, len(times), batches * batch_size):
        stop = min(start + batches * batch_size, len(times))
        wanted = np.unique(np.asarray(times[start:stop], dtype="datetime64[ns]"))
        first = np.searchsorted(data_times, wanted - history, side="left")
        last = np.searchsorted(data_times, wanted, side="right")
        positions = np.unique(np.concatenate([np.arange(a, b) for a, b in zip(first, last, strict=True)]))
        yield start, stop, ds[present].isel(time=positions).load(scheduler="synchronous")


class ForcingReader:
    """Prescribed inputs (e.g. ``tisr``) at the valid times of a rollout, where the dataset has them."""

    def __init__(self, ds: xr.Dataset, variables: Sequence[str]):
        self.ds = ds
        self.variables = [v for v in variables if v in ds.data_vars and "time" in ds[v].dims]
        self.index = pd.DatetimeIndex(ds["time"].values) if "time" in ds.dims else pd.DatetimeIndex([])

    def read(self, vid: str, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values ``[B, H, W]`` at ``times`` and a mask of the times found (others are zero)."""
        pos = self.index.get_indexer(pd.DatetimeIndex(times)) if vid in self.variables else np.full(len(times), -1)
        found = pos >= 0
        out = np.zeros((len(times), self.ds.sizes["lat"], self.ds.sizes["lon"]), dtype=np.float32)
        if found.any():
            with dask.config.set(scheduler="synchronous"):
                out[found] = self.ds[vid].isel(time=pos[found]).transpose("time", "lat", "lon").values
        return out, found


def states_at_lead(fc: xr.Dataset, truth: xr.Dataset, lead: str | np.timedelta64) -> xr.Dataset:
    """The states a rollout reached at ``lead``, as a canonical dataset on their valid times.

    Forecast variables come from ``fc``; everything else it lacks (constants, forcings such as
    ``tisr``) from ``truth`` at the same times, as the rollout itself reads them. Initial
    times must be distinct valid times, i.e. one state per valid time.
    """
    one = fc.sel(lead_time=lead)
    states = one.swap_dims(init_time="valid_time").drop_vars(["init_time", "lead_time"], errors="ignore")
    states = states.rename(valid_time="time")
    times = states["time"].values
    rest = [v for v in truth.data_vars if v not in states.data_vars]
    others = truth[rest].sel(time=times) if any("time" in truth[v].dims for v in rest) else truth[rest]
    return xr.merge([states, others], compat="override", join="left").assign_attrs(truth.attrs)
