"""Public entry points: list the sources, generate one into the cache, open it.

Opening a source that is not cached yet (or whose configuration changed)
runs the GCM first, with a progress bar; later calls read the zarr store
lazily. Nothing here imports jax or jcm unless a simulation has to run.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import xarray as xr

from climax_nb.data.embedded import cache
from climax_nb.data.embedded.configs import SOURCES, SourceConfig, get_config
from climax_nb.data.embedded.postprocess import Postprocessor
from climax_nb.data.embedded.simulate import (
    DEFAULT_CHUNK_DAYS,
    FRAMES_PER_DAY,
    Simulation,
    mass_weighted_mean_temperature,
    use_compilation_cache,
)
from climax_nb.data.schema import validate
from climax_nb.data.select import select_years

Years = int | Iterable[int] | str | None


def sources() -> dict[str, SourceConfig]:
    """Every embedded source by name; ``sources()[name].variables`` lists its variable ids."""
    return dict(SOURCES)


def default_sources() -> list[str]:
    """The sources ``climax-nb data`` and the main job generate unless others are named (``in_default_set``):
    the reanalysis and the pretraining sources, not the downscaling targets or the scenario runs."""
    return [name for name, cfg in SOURCES.items() if cfg.in_default_set]


def _days(config: SourceConfig, length: int | None) -> int:
    if length is None:
        return config.default_days
    if isinstance(length, bool) or not isinstance(length, int | np.integer) or length < 1:
        raise ValueError(f"length is a number of days (a positive integer), got {length!r}")
    return int(length)


def generate(
    source: str | SourceConfig,
    *,
    length: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    chunk_days: int = DEFAULT_CHUNK_DAYS,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Simulate ``length`` days (default: whole years) into the cache; return its directory.

    A valid cached store (same configuration hash, pipeline and jcm version,
    at least ``length`` days) is reused unless ``force``. Chunks of
    ``chunk_days`` are simulated, post-processed and appended one at a time,
    so memory does not grow with the length.
    """
    config = get_config(source)
    days = _days(config, length)
    directory = cache.source_dir(config.name, cache_dir)
    if not force and cache.stale_reason(directory, config, days) is None:
        return directory

    use_compilation_cache(cache.cache_root(cache_dir) / cache.JAX_CACHE)
    sim = Simulation(config, days, chunk_days)
    post = Postprocessor(config, sim.build())
    writer = cache.StoreWriter(directory)
    times, means = [], []
    try:
        first = True
        for i, chunk in enumerate(sim.chunks(progress=progress)):
            times.append(chunk.time)
            means.append(
                mass_weighted_mean_temperature(chunk.fields["t"], chunk.fields["ps"], sim.grid)
            )
            if chunk.spinup:
                continue
            ds = post(chunk, with_constants=first)
            ds.attrs["sst_offset"] = float(config.sst_offset)  # the forcing, for readers of the store itself
            # plausible ranges are for data from outside; the GCM's own are tested (tests/test_embedded.py)
            # and a long simulation is never thrown away for one extreme value
            writer.append(validate(ds, check_values=True, check_ranges=False))
            first = False
            save_restart(sim, writer.partial, sim.model_start + np.timedelta64((i + 1) * sim.chunk_days, "D"))
        series = _daily_series(np.concatenate(times), np.concatenate(means), sim.start)
        return writer.finish(cache.make_manifest(config, days, sim.spinup_days), series)
    except BaseException:
        writer.abort()
        raise


def save_restart(sim: Simulation, folder: Path, time: np.datetime64) -> None:
    """jcm's checkpoint of the run at the end of a chunk (``time``) of a source with ``restarts`` (the
    reanalysis, which the GCM rows forecast), unless the data end there.

    A T21 state with its physics carry is 1.7 MB; the reanalysis's four years keep 97 of them (165 MB, one every
    15 days), so a twin forecast re-runs at most 15 days before its first initial time instead of the years
    before it."""
    if time >= sim.end or not sim.config.restarts:
        return
    from jcm.checkpoint import save_checkpoint

    save_checkpoint(sim.model, cache.restart_path(folder, time))


def generate_all(
    sources: Iterable[str | SourceConfig],
    *,
    length: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = True,
    alongside: Mapping[str, Callable[[], object]] | None = None,
) -> dict[str, Path]:
    """``generate`` several sources, up to ``workers`` at once, each in its own process; return their directories.

    The GCM's time loop keeps about one core busy, so on a machine with more cores the
    sources that are not cached yet run side by side (``workers`` defaults to one per core,
    at most one per source to generate); the most expensive (finest, longest) start first.
    Processes are spawned, so XLA starts fresh in each with the package's flags.

    ``alongside`` maps a source's name to work that needs that source alone (a picklable
    callable, such as the main job's GCM rows, which need the reanalysis): while other sources
    are still being generated, it runs in the same pool as soon as its source is ready, on a core
    that would otherwise wait. With one worker, or nothing to generate, it is not run: the
    caller does that work later, on every core.
    """
    configs = [get_config(s) for s in sources]
    stale = [c for c in configs
             if cache.stale_reason(cache.source_dir(c.name, cache_dir), c, _days(c, length)) is not None]
    stale.sort(key=lambda c: (c.truncation**2 * _days(c, length)), reverse=True)
    unknown = sorted(set(alongside or {}) - {c.name for c in configs})
    if unknown:
        raise ValueError(f"alongside names {unknown}, not among the sources to generate {[c.name for c in configs]}")
    workers = max(1, min(workers or os.cpu_count() or 1, len(stale)))
    if workers == 1:
        for config in stale:
            generate(config, length=length, cache_dir=cache_dir, progress=progress)
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            jobs = {pool.submit(generate, c, length=length, cache_dir=cache_dir, progress=progress): c.name
                    for c in stale}
            waiting = dict(alongside or {})
            extra: list[Future] = [pool.submit(waiting.pop(name)) for name in list(waiting)
                                   if name not in jobs.values()]
            for job in as_completed(jobs):
                job.result()  # re-raises the first failure here
                if jobs[job] in waiting:
                    extra.append(pool.submit(waiting.pop(jobs[job])))
            for job in extra:
                job.result()
    return {c.name: generate(c, length=length, cache_dir=cache_dir, progress=False) for c in configs}


def _daily_series(time: np.ndarray, values: np.ndarray, start: np.datetime64) -> xr.DataArray:
    """Daily means of the 6-hourly global-mean temperature, flagged as spin-up before ``start``."""
    series = xr.DataArray(values, dims="time", coords={"time": time}).resample(time="1D").mean()
    return series.assign_coords(spinup=("time", series["time"].values < start)).assign_attrs(
        units="K", long_name="mass-weighted global-mean air temperature (model levels)"
    )


def _select(ds: xr.Dataset, config: SourceConfig, years: Years) -> xr.Dataset:
    if isinstance(years, str):
        years = config.split_years(years)
    return select_years(ds, years, f"embedded/{config.name}")


def open_source(
    source: str | SourceConfig,
    years: Years = None,
    *,
    length: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> xr.Dataset:
    """The canonical dataset of an embedded source, generated first if it is not cached.

    ``years`` selects calendar years (an int, several ints, or a split name
    such as ``"train"`` for sources with splits); ``length`` is the number of
    simulated days after spin-up (default: the source's whole years). Data
    are read lazily from the zarr store; the ``lat`` input field is the
    ``lat`` coordinate.
    """
    config = get_config(source)
    days = _days(config, length)
    directory = generate(config, length=days, cache_dir=cache_dir, progress=progress)
    ds = xr.open_zarr(directory / cache.STORE)
    stored = [v for v in config.variables if v in ds.data_vars]  # the registry order of the config
    ds = ds[stored].isel(time=slice(0, days * FRAMES_PER_DAY))
    ds = _select(ds, config, years)
    ds.attrs.update(
        source=f"embedded/{config.name}",
        description=config.description,
        config_hash=config.config_hash(),
        sst_offset=float(config.sst_offset),  # K: the forcing AtmoRep conditions on (stores before it lack it)
    )
    return validate(ds, check_values=False)


def global_mean_temperature(
    source: str | SourceConfig,
    *,
    length: int | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> xr.DataArray:
    """Daily mass-weighted global-mean temperature from the start of spin-up (generating if needed).

    The ``spinup`` coordinate marks the days discarded before the data begin;
    a flat series after them shows the spin-up was long enough.
    """
    config = get_config(source)
    directory = generate(config, length=_days(config, length), cache_dir=cache_dir)
    with xr.open_dataarray(directory / cache.SERIES) as series:
        return series.load()
