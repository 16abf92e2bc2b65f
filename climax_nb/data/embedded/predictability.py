"""The embedded GCM's own forecasts: how far ahead its world can be predicted, scored like any forecast.

The ``reanalysis`` source plays ERA5, but it is a model world: its "truth" is one run of the
T21 SPEEDY GCM. Two kinds of forecast of that world, from chosen initial times, in the
package's forecast layout (``(init_time, lead_time, lat, lon)``, a ``valid_time`` coordinate,
the 5.625 degree grid, registry ids and units), so ``climax_nb.evaluate.score`` ranks them
beside ClimaX, persistence and climatology:

- ``twin`` (``gcm-twin``): a perfect-model twin experiment. The source's configuration is run
  again from its start (the same idealised state, spin-up, step, forcing and compiled chunk
  program), which reproduces the cached data bit for bit on this machine (the forecast's
  ``rerun_check`` attribute says how close it came). At each initial time the run branches:
  the model's exact state (spectral fields and the physics carry) gets a seeded temperature
  perturbation and runs on. The perturbation is white noise at every grid point and level,
  projected onto the model's T21 spectral space and scaled to ``perturbation`` K RMS over the
  model grid (default 0.1 K, a few times smaller than the 6-hour change of t850 and an order of
  magnitude below the errors of real analyses, yet four orders above float32 round-off, so what
  grows is a small initial error rather than round-off). Its error growth against the data is
  the intrinsic predictability of the model world: no forecast of these data can do better on
  average from an initial state this close. ``perturbation=0`` reproduces the data exactly.
- ``analysis`` (``gcm-analysis``): the same GCM started from the 5.625 degree pressure-level
  analysis, i.e. the data's own 32x64 fields at the initial time, as WeatherBench's "IFS" row
  starts the operational model from its analysis. The fields are regridded conservatively to
  the model's Gaussian grid and interpolated in log-pressure from the 7 pressure levels to the
  8 sigma levels with the analysed surface pressure ``sp``; the near-surface fields the data
  carry anchor the lowest levels (``t2m`` is SPEEDY's temperature at sigma 0.99, ``u10``/``v10``
  are 0.95 times the wind of the lowest level), and where a pressure level lies below them it
  is not used. The physics carry (radiation caches, last step's fluxes) starts fresh, as it
  would from any analysis. What is lost: vertical detail between 50 and 250 hPa, the lowest
  level's exact values, and what the 32x64 -> Gaussian round trip smooths.

Both are post-processed by the same ``Postprocessor`` the data are made with, so their
variables (by default every dynamic variable the source stores: z, t, u, v, q, r at 7
levels, t2m, u10, v10, sp, tp6h) are computed exactly as the data's; ``tp6h`` at a lead is
the precipitation of the 6 hours before it. Leads are positive multiples of 6 hours.

Why this module sits in ``climax_nb.data.embedded`` and not in ``climax_nb.forecast``: it
rebuilds and drives the embedded source's own simulation (``Simulation``, its cache,
manifest and compilation cache, the ``Postprocessor``) and needs jcm, which only this
package uses, while ``climax_nb.forecast`` is the contract of trained models. Its output is
an ordinary forecast Dataset (``climax_nb.forecast.save_forecast`` writes it).

Cost and memory: a twin forecast first re-runs the source up to the last initial time, from
the latest restart before the first one (jcm checkpoints that ``generate`` saves at the end of
every output chunk; stores written without them re-run from the start, 60 days of spin-up
and then 0.25-0.35 s per simulated day at T21 on 2 cores),
in the source's own chunks (one compiled program), stepping 6 h at a time only in the last
chunk before an initial time; each forecast then runs ``max(leads)`` more. jcm compiles one
program per run length (chunk, 6 h step, forecast length), each kept in the persistent
compilation cache (``<cache>/jax``) for later processes. Nothing grows with the number of
simulated days but the forecast arrays themselves.

    from climax_nb.data.embedded.predictability import gcm_forecasts
    twin = gcm_forecasts(inits, [6, 24, 72, 120], kind="twin")
    both = gcm_forecast_pair(inits, [6, 24, 72, 120])   # {"gcm-twin": ..., "gcm-analysis": ...}
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from climax_nb.data.embedded import cache
from climax_nb.data.embedded.api import open_source
from climax_nb.data.embedded.configs import SourceConfig, get_config
from climax_nb.data.embedded.postprocess import Postprocessor
from climax_nb.data.embedded.simulate import (
    DEFAULT_CHUNK_DAYS,
    P0,
    SAVE_INTERVAL_DAYS,
    NativeChunk,
    NativeGrid,
    Simulation,
    native_chunk,
    use_compilation_cache,
)
from climax_nb.data.embedded.vertical import GRAVITY, LAPSE_RATE, R_DRY
from climax_nb.data.regrid import Regridder, gaussian_sin_bounds
from climax_nb.forecast.io import forecast_dataset
from climax_nb.forecast.leads import LeadLike, LeadTimeError, leads_in_hours
from climax_nb.grid import WB5625, Grid
from climax_nb.variables import PRESSURE_LEVELS, is_dynamic

#: The two kinds and the names their forecasts go by in scorecards.
KINDS: dict[str, str] = {"twin": "gcm-twin", "analysis": "gcm-analysis"}
DEFAULT_LEADS_H: tuple[int, ...] = (6, 24, 72, 120, 240)
#: RMS of the twin's initial temperature perturbation (K); see the module docstring.
DEFAULT_PERTURBATION_K = 0.1
STEP = np.timedelta64(6, "h")
STEP_HOURS = SAVE_INTERVAL_DAYS * 24
#: SPEEDY's near-surface diagnostics: t2m is the temperature extrapolated to sigma 0.99,
#: u10 and v10 are this factor times the wind of the lowest level.
T2M_SIGMA = 0.99
NEAR_SURFACE_WIND_FACTOR = 0.95
#: Virtual temperature: T (1 + VIRTUAL_FACTOR q), with R_vapour / R_dry - 1.
VIRTUAL_FACTOR = 0.608
#: Temperature is shaped hydrostatically in the layers between pressure levels down to this one (Pa):
#: below it the moist layers' geopotential thickness, itself interpolated, fits no better than a line.
CURVED_BELOW_PA = 50000.0
#: Fields the analysis state is built from (besides t, u, v, q on pressure levels).
ANALYSIS_SURFACE = ("sp", "t2m", "u10", "v10")


def forecast_variables(config: SourceConfig) -> tuple[str, ...]:
    """Every dynamic (level and surface) id ``config`` stores: what a GCM forecast predicts by default."""
    return tuple(v for v in config.variables if is_dynamic(v))


# --- the analysis: 5.625 degree pressure levels -> the model's sigma levels -----------------------


@dataclasses.dataclass(frozen=True)
class _GaussianTarget(Grid):
    """The model's Gaussian grid as a regridding target (cell edges from the Gauss-Legendre weights)."""

    def lat_bounds(self) -> np.ndarray:
        return np.rad2deg(np.arcsin(np.clip(gaussian_sin_bounds(len(self.lat)), -1.0, 1.0)))


def analysis_regridder(grid: NativeGrid, source: Grid = WB5625) -> Regridder:
    """Conservative remapping from ``source`` (the data's grid) to the model's Gaussian grid."""
    target = _GaussianTarget(np.asarray(grid.lat), np.asarray(grid.lon), "gaussian")
    return Regridder.from_bounds(np.sin(np.deg2rad(source.lat_bounds())), source.lon_bounds(), target)


def _interpolate_log_p(values: np.ndarray, pressure: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Linear interpolation in log p of columns ``values`` (n, ...) at ``pressure`` (n, ..., ascending
    along axis 0, repeats allowed) to ``target`` (k, ...); values are held beyond either end."""
    x, t = np.log(pressure), np.log(target)
    n = x.shape[0]
    above = (x[None] <= t[:, None]).sum(axis=1)  # how many source levels lie at or above each target
    lower = np.clip(above, 1, n - 1)
    x0 = np.take_along_axis(x, lower - 1, axis=0)
    x1 = np.take_along_axis(x, lower, axis=0)
    y0 = np.take_along_axis(values, lower - 1, axis=0)
    y1 = np.take_along_axis(values, lower, axis=0)
    dx = x1 - x0
    weight = np.clip(np.where(dx > 0, (t - x0) / np.where(dx > 0, dx, 1.0), 0.0), 0.0, 1.0)
    return y0 + weight * (y1 - y0)


def _profile(
    levels_pa: np.ndarray, values: np.ndarray, anchor: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Columns of (pressure, value): the pressure levels, ending in the near-surface ``anchor``
    (pressure, value) where given; levels at or below the anchor take its place and value."""
    pressure = np.broadcast_to(levels_pa[:, None, None], values.shape).astype(np.float64)
    if anchor is None:
        return pressure, values
    p_anchor, v_anchor = anchor
    below = pressure >= p_anchor[None]
    pressure = np.where(below, p_anchor[None], pressure)
    values = np.where(below, v_anchor[None], values)
    return np.concatenate([pressure, p_anchor[None]]), np.concatenate([values, v_anchor[None]])


def _hydrostatic_curvature(
    t: np.ndarray, z: np.ndarray, q: np.ndarray, levels_pa: np.ndarray
) -> np.ndarray:
    """Per layer between consecutive pressure levels (n - 1, lat, lon): the curvature ``c`` that makes
    ``T(s) = T_a + (T_b - T_a) s + c s (1 - s)`` (s: the log-pressure fraction from the upper level)
    average to the layer's hydrostatic mean temperature, ``(z_a - z_b) / (R log(p_b / p_a))``, less
    the virtual-temperature excess of its mean humidity. Linear interpolation alone misses the cold
    tropopause between 50 and 250 hPa by about 4 K (measured on the model's own states: RMS error
    at sigma 0.095 6.4 K with a line, 1.7 K with the curvature)."""
    log_ratio = np.log(levels_pa[1:] / levels_pa[:-1])[:, None, None]
    virtual_mean = (z[:-1] - z[1:]) / (R_DRY * log_ratio)
    mean = virtual_mean / (1.0 + VIRTUAL_FACTOR * 0.5 * (q[:-1] + q[1:]))
    return 6.0 * (mean - 0.5 * (t[:-1] + t[1:]))


def analysis_state(
    frame: xr.Dataset, grid: NativeGrid, regridder: Regridder | None = None
) -> dict[str, np.ndarray]:
    """The model state of one analysis time on the model grid, as the GCM's initial state takes it.

    ``frame`` holds the 5.625 degree fields of one time: ``t``, ``u``, ``v``, ``q`` on pressure
    levels (every level that has all four is used; ``z`` on the same levels, where present,
    shapes temperature between them hydrostatically) and ``sp``, ``t2m``, ``u10``, ``v10``.
    Surface pressure and t2m are regridded together with the analysis's orography (the frame's
    ``orography``, else the model's own on the 5.625 degree grid) and moved from that smoothed
    height to the model's orography along the 6.5 K/km lapse rate, so the initial surface
    pressure fits the model's mountains. Returns ``temperature`` (K), ``u_wind``, ``v_wind``
    (m s-1), ``specific_humidity`` (kg kg-1) as (level, lon, lat) on the model's sigma levels
    (top first) and ``normalized_surface_pressure`` (ps / 1e5 Pa) as (lon, lat): jcm's
    ``PhysicsState`` layout.
    """
    levels = [lev for lev in PRESSURE_LEVELS if all(f"{p}{lev}" in frame for p in "tuvq")]
    missing = [v for v in ANALYSIS_SURFACE if v not in frame]
    if len(levels) < 2 or missing:
        raise ValueError(
            "an analysis needs t, u, v and q on at least two pressure levels and "
            f"{', '.join(ANALYSIS_SURFACE)}; it has pressure levels {levels} and lacks {missing}"
        )
    regridder = regridder or analysis_regridder(grid)

    def native(ids: Sequence[str]) -> np.ndarray:
        return regridder(np.stack([np.asarray(frame[v].values, dtype=np.float64) for v in ids]))

    if "orography" in frame:
        height = np.asarray(frame["orography"].values, dtype=np.float64)
    else:
        height = Regridder.from_gaussian(len(grid.lat), grid.lon, WB5625)(np.asarray(grid.orography))
    rise = np.asarray(grid.orography, dtype=np.float64) - regridder(height)  # model surface above the smoothed one
    t2m, u10, v10 = native(["t2m", "u10", "v10"])
    ps = native(["sp"])[0] * (1.0 - LAPSE_RATE * rise / t2m) ** (GRAVITY / (R_DRY * LAPSE_RATE))
    t2m = t2m - LAPSE_RATE * rise
    levels_pa = 100.0 * np.asarray(levels, dtype=np.float64)
    sigma = np.asarray(grid.sigma, dtype=np.float64)
    target = sigma[:, None, None] * ps[None]
    lowest = sigma[-1] * ps
    anchors = {
        "t": (T2M_SIGMA * ps, t2m),
        "u": (lowest, u10 / NEAR_SURFACE_WIND_FACTOR),
        "v": (lowest, v10 / NEAR_SURFACE_WIND_FACTOR),
        "q": None,
    }
    on_levels = {prefix: native([f"{prefix}{lev}" for lev in levels]) for prefix in "tuvq"}
    out = {}
    for prefix, name in (("t", "temperature"), ("u", "u_wind"), ("v", "v_wind"), ("q", "specific_humidity")):
        pressure, values = _profile(levels_pa, on_levels[prefix], anchors[prefix])
        out[name] = _interpolate_log_p(values, pressure, target)
    if all(f"z{lev}" in frame for lev in levels):
        curvature = _hydrostatic_curvature(
            on_levels["t"], native([f"z{lev}" for lev in levels]), on_levels["q"], levels_pa
        )
        log_p, log_levels = np.log(target), np.log(levels_pa)
        for j in range(len(levels) - 1):
            s = (log_p - log_levels[j]) / (log_levels[j + 1] - log_levels[j])
            if levels_pa[j + 1] > CURVED_BELOW_PA:
                break
            inside = (s > 0) & (s < 1) & (levels_pa[j + 1] < anchors["t"][0])[None]  # layers above the t2m anchor
            out["temperature"] += np.where(inside, curvature[j][None] * s * (1.0 - s), 0.0)
    out = {name: values.transpose(0, 2, 1).astype(np.float32) for name, values in out.items()}
    out["specific_humidity"] = np.maximum(out["specific_humidity"], 0.0)
    out["normalized_surface_pressure"] = (ps / P0).T.astype(np.float32)
    return out


# --- checks of the inputs ----------------------------------------------------------------------


def _check_kinds(kinds: str | Iterable[str]) -> tuple[str, ...]:
    chosen = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    unknown = [k for k in chosen if k not in KINDS]
    if unknown or not chosen:
        raise ValueError(f"unknown GCM forecast kind(s) {unknown or chosen}; choose from {list(KINDS)}")
    return tuple(dict.fromkeys(chosen))


def _check_leads(leads: LeadLike | Sequence[LeadLike]) -> list[float]:
    hours = leads_in_hours(leads)
    off = [h for h in hours if abs(h / STEP_HOURS - round(h / STEP_HOURS)) > 1e-9]
    if off:
        raise LeadTimeError(
            f"GCM forecasts are saved every {STEP_HOURS:g} h; lead(s) {off} h are not multiples of it"
        )
    return hours


def _check_initial_times(initial_times: Any, data: xr.Dataset, source: str) -> np.ndarray:
    times = np.atleast_1d(np.asarray(initial_times, dtype="datetime64[ns]")).ravel()
    if times.size == 0:
        raise ValueError("no initial times given")
    if len(np.unique(times)) != len(times) or np.any(np.diff(times) < np.timedelta64(0, "ns")):
        raise ValueError("initial times must be unique and ascending")
    stored = data["time"].values
    outside = [str(t) for t in times if t < stored[0] or t > stored[-1]]
    if outside:
        raise ValueError(
            f"initial time(s) {outside[:3]} are outside the data of {source} ({stored[0]} to {stored[-1]}): "
            "choose times inside them, or generate more days"
        )
    off = [str(t) for t in times if (t - stored[0]) % STEP != np.timedelta64(0, "ns")]
    if off:
        raise ValueError(f"initial time(s) {off[:3]} are not on the data's 6-hourly steps (00, 06, 12, 18 UTC)")
    return times


# --- the forecaster ------------------------------------------------------------------------------


class _StoreCheck:
    """How closely the re-run reproduces the cached data, over the frames in [start, end]."""

    #: Stored frames read at a time (a read decompresses whole zarr chunks, so one frame at a time is slow).
    WINDOW = np.timedelta64(15, "D")

    def __init__(self, store: xr.Dataset, post: Postprocessor, start: np.datetime64, end: np.datetime64):
        self.store, self.post, self.start, self.end = store, post, start, end
        self.frames = 0
        self.max_abs: dict[str, float] = {}
        self._window: xr.Dataset | None = None

    def _stored(self, times: np.ndarray, ids: list[str]) -> xr.Dataset:
        window = self._window
        if window is None or times[0] < window["time"].values[0] or times[-1] > window["time"].values[-1]:
            span = self.store[ids].sel(time=slice(times[0], max(times[-1], times[0] + self.WINDOW)))
            window = self._window = span.load()
        return window.sel(time=times)

    def add(self, pred, carried: np.ndarray | None = None) -> None:
        """Compare the frames of one run; ``carried`` is the precipitation total (lat, lon) it started with."""
        times = np.asarray(pred.time_labels()).astype("datetime64[ns]")
        keep = (times >= self.start) & (times <= self.end)
        if not keep.any():
            return
        chunk = native_chunk(pred, spinup=False)
        if carried is not None:  # the total was not reset before this run: its first 6 h are the difference
            chunk.fields["precip"][0] = chunk.fields["precip"][0] - carried
        part = NativeChunk(chunk.time[keep], {k: v[keep] for k, v in chunk.fields.items()}, False)
        ours = self.post(part)
        theirs = self._stored(part.time, [str(v) for v in ours.data_vars])
        for vid in ours.data_vars:
            diff = float(np.max(np.abs(ours[vid].values.astype(np.float64) - theirs[vid].values)))
            self.max_abs[vid] = max(self.max_abs.get(vid, 0.0), diff)
        self.frames += int(keep.sum())

    @property
    def identical(self) -> bool:
        return self.frames > 0 and all(v == 0.0 for v in self.max_abs.values())

    def summary(self) -> str:
        if not self.frames:
            return "no frames compared"
        if self.identical:
            return f"re-run identical to the cached data in all {self.frames} frames of {len(self.max_abs)} variables"
        differing = [(vid, value) for vid, value in self.max_abs.items() if value > 0]
        text = ", ".join(f"{vid} {value:.3g}" for vid, value in differing[:8])
        more = f" and {len(differing) - 8} more" if len(differing) > 8 else ""
        return (
            f"re-run against the cached data over {self.frames} frames: {len(self.max_abs) - len(differing)} of "
            f"{len(self.max_abs)} variables identical; max |difference| {text}{more}"
        )


class GCMForecaster:
    """One embedded source's GCM, rebuilt as the data were simulated, forecasting its own world.

    ``source`` is a source name or ``SourceConfig``; ``length`` the days of data it has (as for
    ``open_source``; generated first if not cached); ``chunk_days`` must be the chunk length
    the data were generated with (the default of ``generate``), which fixes where the run
    starts. One jcm ``Model`` serves the re-run and every branch, so each run length
    compiles once per process.
    """

    def __init__(
        self,
        source: str | SourceConfig = "reanalysis",
        *,
        length: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        chunk_days: int = DEFAULT_CHUNK_DAYS,
        progress: bool = True,
    ):
        self.config = get_config(source)
        self.cache_dir = cache_dir
        self.progress = progress
        self.data = open_source(self.config, length=length, cache_dir=cache_dir, progress=progress)
        manifest = cache.read_manifest(cache.source_dir(self.config.name, cache_dir)) or {}
        self.sim = Simulation(self.config, int(manifest.get("days", length or self.config.default_days)), chunk_days)
        spinup = manifest.get("spinup_days_run")
        if spinup is not None and int(spinup) != self.sim.spinup_days:
            raise ValueError(
                f"the cached {self.config.name} data were spun up for {spinup} days, but chunks of {chunk_days} "
                f"days give {self.sim.spinup_days}: pass the chunk_days the data were generated with"
            )
        self.rerun_check: _StoreCheck | None = None
        self._built = False

    @property
    def name(self) -> str:
        return f"embedded/{self.config.name}"

    def _build(self) -> None:
        if not self._built:
            use_compilation_cache(cache.cache_root(self.cache_dir) / cache.JAX_CACHE)
            self.grid = self.sim.build()
            self.regridder = analysis_regridder(self.grid)
            self._built = True

    # -- runs of the one model --------------------------------------------------------------

    def _resume(self, days: float, initial_state=None):
        model = self.sim.model
        kwargs = {"forcing": self.sim.forcing, "save_interval": SAVE_INTERVAL_DAYS, "total_time": days}
        if initial_state is not None:
            return model.run(initial_state=initial_state, **kwargs)
        return model.resume(**kwargs)

    def _main_line(self, times: np.ndarray, check: _StoreCheck | None, bar) -> Iterator[Any]:
        """The source's run from its start, yielding its exact ``RunState`` at each of ``times``.

        Whole chunks run from the data's own chunk boundaries, where the precipitation total is
        reset as it was then; 6-hour steps cover the rest. Chunk length changes no bit of the
        state, so the yielded states are the data's (``rerun_check`` confirms it)."""
        from climax_nb.data.embedded.accumulate import ACCUMULATED_PRECIPITATION

        sim = self.sim
        chunk = np.timedelta64(sim.chunk_days, "D")
        restart = self._load_restart(times[0])
        clock = np.datetime64(sim.model_start, "ns") if restart is None else restart
        started = restart is not None

        def on_boundary(t: np.datetime64) -> bool:
            return (t - np.datetime64(sim.model_start, "ns")) % chunk == np.timedelta64(0, "ns")

        for t0 in times:
            while clock < t0:
                whole = on_boundary(clock) and t0 - clock >= chunk
                days = sim.chunk_days if whole else SAVE_INTERVAL_DAYS
                carried = None
                if started and not on_boundary(clock):
                    carried = np.asarray(sim.model.run_state.physics[ACCUMULATED_PRECIPITATION]).T
                pred = self._resume(days, None if started else sim.initial_state())
                started = True
                clock = clock + (chunk if whole else STEP)
                if on_boundary(clock):
                    sim.reset_accumulator()
                if check is not None:
                    check.add(pred, carried)
                bar.update(days)
            yield self.sim.model.run_state

    def _restart_time(self, t0: np.datetime64) -> np.datetime64 | None:
        """The latest restart the generator saved at or before ``t0`` (None: the run starts from the beginning)."""
        times = cache.restart_times(cache.source_dir(self.config.name, self.cache_dir))
        times = times[times <= t0]
        return times[-1] if len(times) else None

    def _load_restart(self, t0: np.datetime64) -> np.datetime64 | None:
        """Put the model at the latest restart before ``t0`` (jcm's own checkpoint) and return its time.

        The generator saves one at every output chunk's end, after the precipitation total was reset,
        so the run goes on from there exactly as it did (``rerun_check`` confirms it on the frames)."""
        time = self._restart_time(t0)
        if time is None:
            return None
        from jcm.checkpoint import load_checkpoint

        self.sim.model.bootstrap_state(self.sim.initial_state())  # the templates load_checkpoint fills
        load_checkpoint(self.sim.model, cache.restart_path(cache.source_dir(self.config.name, self.cache_dir), time))
        return np.datetime64(time, "ns")

    def model_states(self, initial_times: Any) -> Iterator[tuple[np.datetime64, Any]]:
        """The source's exact model state at each of ``initial_times``, as jcm ``PhysicsState``s on its grid.

        Re-runs the source from its start (as a twin forecast does), so a later time costs the
        run up to it; the arrays are (level, lon, lat), levels top first.
        """
        times = _check_initial_times(initial_times, self.data, self.name)
        self._build()
        with tqdm(total=0, unit="day", desc=f"{self.name} re-run", disable=not self.progress) as bar:
            for t0, state in zip(times, self._main_line(times, None, bar), strict=True):
                yield t0, self.sim.model.dycore.to_physics_state(state.dynamics)

    def _branch(self, dynamics, carry, time, step, days: float) -> NativeChunk:
        """Run ``days`` from the given state, leaving the model wherever it was before."""
        import jax.numpy as jnp

        from climax_nb.data.embedded.accumulate import ACCUMULATED_PRECIPITATION

        model = self.sim.model
        before = model.run_state
        carry = dict(carry)
        carry[ACCUMULATED_PRECIPITATION] = jnp.zeros_like(carry[ACCUMULATED_PRECIPITATION])
        model.restore_state(dynamics, carry, time=time, step=step)
        try:
            return native_chunk(self._resume(days), spinup=False)
        finally:
            if before is not None:
                model.restore_state(before.dynamics, before.physics, time=before.time, step=before.step)

    def temperature_perturbation(self, init_time: np.datetime64, amplitude: float, seed: int):
        """The twin's spectral temperature perturbation at ``init_time``: ``amplitude`` K RMS on the model grid.

        Seeded by ``(seed, hours since 1970 of init_time)``, so an initial time gets the same
        perturbation whichever other times are forecast.
        """
        import jax.numpy as jnp

        self._build()
        horizontal = self.sim.model.coords.horizontal
        hours = int((np.datetime64(init_time, "h") - np.datetime64("1970-01-01T00", "h")) // np.timedelta64(1, "h"))
        rng = np.random.default_rng([seed, hours])
        white = rng.standard_normal((len(self.grid.sigma), len(self.grid.lon), len(self.grid.lat)))
        modal = horizontal.to_modal(jnp.asarray(white, dtype=jnp.float32))
        rms = float(jnp.sqrt(jnp.mean(horizontal.to_nodal(modal) ** 2)))
        return modal * jnp.float32(amplitude / rms)

    def _twin(self, state, t0, amplitude: float, seed: int, days: float) -> NativeChunk:
        dyn = state.dynamics
        if amplitude:
            dyn = dyn.replace(
                temperature_variation=dyn.temperature_variation + self.temperature_perturbation(t0, amplitude, seed)
            )
        return self._branch(dyn, state.physics, state.time, state.step, days)

    def _analysis(self, frame: xr.Dataset, t0: np.datetime64, days: float) -> NativeChunk:
        import jax.numpy as jnp
        import jax_datetime as jdt
        from jcm.physics_interface import PhysicsState

        model = self.sim.model
        fields = {k: jnp.asarray(v) for k, v in analysis_state(frame, self.grid, self.regridder).items()}
        state = PhysicsState(geopotential=jnp.zeros_like(fields["temperature"]), **fields)
        dt = int(model.dt_si.m)
        step, rest = divmod(int((t0 - np.datetime64(self.sim.model_start, "ns")) // np.timedelta64(1, "s")), dt)
        if rest:
            raise ValueError(f"{t0} is not on the model's {dt} s time steps")
        days_, seconds = divmod(step * dt, 86400)
        time = model.start_time + jdt.Timedelta(days=jnp.int32(days_), seconds=jnp.int32(seconds))
        dyn = model.initial_state(state)
        # the dycore's own float clock, weakly typed as the run's is, so the branch reuses the compiled program
        dyn = model.dycore.with_sim_time(dyn, jnp.asarray(step * float(model.dycore.dt_nondim)))
        return self._branch(dyn, model.initial_physics_carry(), time, jnp.int32(step), days)

    # -- the public call ------------------------------------------------------------------------

    def forecasts(
        self,
        initial_times: Any,
        leads: LeadLike | Sequence[LeadLike] = DEFAULT_LEADS_H,
        kinds: str | Iterable[str] = tuple(KINDS),
        *,
        perturbation: float = DEFAULT_PERTURBATION_K,
        seed: int = 0,
        variables: Sequence[str] | None = None,
        analysis: xr.Dataset | None = None,
    ) -> dict[str, xr.Dataset]:
        """GCM forecasts from ``initial_times`` to ``leads`` (hours), one Dataset per kind, named as in ``KINDS``.

        ``analysis`` replaces the source's own data as the ``analysis`` kind's initial states
        (same grid and variables). A twin run also sets ``rerun_check`` (and each twin
        forecast's ``rerun_check`` attribute): how closely the re-run matched the cached data
        from the first to the last initial time.
        """
        kinds = _check_kinds(kinds)
        hours = _check_leads(leads)
        times = _check_initial_times(initial_times, self.data, self.name)
        variables = list(variables) if variables is not None else list(forecast_variables(self.config))
        bad = [v for v in variables if v not in self.config.variables or not is_dynamic(v)]
        if bad:
            raise ValueError(
                f"{self.name} forecasts no {bad}; it forecasts {list(forecast_variables(self.config))}"
            )
        if perturbation < 0 or not np.isfinite(perturbation):
            raise ValueError(f"perturbation is an RMS temperature in K (>= 0), got {perturbation}")
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        source = self.data if analysis is None else analysis
        if analysis is not None and (
            analysis.sizes.get("lat") != self.data.sizes["lat"] or analysis.sizes.get("lon") != self.data.sizes["lon"]
        ):
            raise ValueError(
                f"the analysis is on a {analysis.sizes.get('lat')}x{analysis.sizes.get('lon')} grid, the data on "
                f"{self.data.sizes['lat']}x{self.data.sizes['lon']}: regrid it first (climax_nb.data.regrid.regrid)"
            )
        if "analysis" in kinds:
            missing = [t for t in times if t not in source["time"].values]
            if missing:
                raise ValueError(f"the analysis has no state at {[str(t) for t in missing[:3]]}")
        self._build()
        post = Postprocessor(dataclasses.replace(self.config, variables=tuple(variables)), self.grid)
        frames = [round(h / STEP_HOURS) - 1 for h in hours]
        days = max(hours) / 24.0
        values = {
            k: np.full((len(times), len(hours), len(variables), *post.target.shape), np.nan, np.float32) for k in kinds
        }

        def store(kind: str, i: int, chunk: NativeChunk) -> None:
            ds = post(NativeChunk(chunk.time[frames], {k: v[frames] for k, v in chunk.fields.items()}, False))
            expected = times[i] + np.array([np.timedelta64(round(h * 3600), "s") for h in hours])
            if not np.array_equal(ds["time"].values, expected.astype("datetime64[ns]")):
                raise RuntimeError(f"GCM frames at {ds['time'].values}, expected {expected}")
            values[kind][i] = np.stack([ds[v].values for v in variables], axis=1)

        branches = len(times) * len(kinds)
        if "twin" in kinds:
            self.rerun_check = _StoreCheck(self.data, post, times[0], times[-1])
            begin = self._restart_time(times[0])
            begin = np.datetime64(self.sim.model_start, "ns") if begin is None else begin
            total = float((times[-1] - begin) / np.timedelta64(1, "D"))
            desc = f"{self.name} re-run"
        else:
            total, desc = 0.0, f"{self.name} forecasts"
        with tqdm(total=total + branches * days, unit="day", desc=desc, disable=not self.progress) as bar:
            states = self._main_line(times, self.rerun_check, bar) if "twin" in kinds else iter([None] * len(times))
            for i, (t0, state) in enumerate(zip(times, states, strict=True)):
                if "twin" in kinds:
                    store("twin", i, self._twin(state, t0, perturbation, seed, days))
                    bar.update(days)
                if "analysis" in kinds:
                    frame = source.sel(time=t0).load()
                    store("analysis", i, self._analysis(frame, t0, days))
                    bar.update(days)
        return {KINDS[k]: self._dataset(k, values[k], variables, times, hours, post, perturbation, seed) for k in kinds}

    def _dataset(self, kind, values, variables, times, hours, post, perturbation, seed) -> xr.Dataset:
        attrs: dict[str, Any] = {
            "source": self.name,
            "forecast": KINDS[kind],
            "model": f"jcm {cache.package_versions()['jcm']} SPEEDY, T{self.config.truncation}L{self.config.layers}, "
            f"{self.config.time_step_minutes:g}-minute step ({self.config.name}'s configuration)",
            "config_hash": self.config.config_hash(),
        }
        if kind == "twin":
            attrs.update(
                initial_state=f"the source's own model state, temperature perturbed by {perturbation:g} K RMS "
                f"(seed {seed})",
                perturbation_K=float(perturbation),
                perturbation_seed=int(seed),
                rerun_check=self.rerun_check.summary() if self.rerun_check else "",
            )
        else:
            attrs["initial_state"] = (
                "the 5.625 degree pressure-level analysis, regridded to the model grid and interpolated to its sigma "
                "levels with sp (t2m, u10 and v10 anchor the lowest levels); a fresh physics carry"
            )
        return forecast_dataset(values, variables, times, hours, post.target.lat, post.target.lon, attrs=attrs)


def gcm_forecast_pair(
    initial_times: Any,
    leads: LeadLike | Sequence[LeadLike] = DEFAULT_LEADS_H,
    *,
    source: str | SourceConfig = "reanalysis",
    kinds: str | Iterable[str] = tuple(KINDS),
    perturbation: float = DEFAULT_PERTURBATION_K,
    seed: int = 0,
    variables: Sequence[str] | None = None,
    analysis: xr.Dataset | None = None,
    length: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    chunk_days: int = DEFAULT_CHUNK_DAYS,
    progress: bool = True,
    workers: int = 1,
) -> dict[str, xr.Dataset]:
    """``{"gcm-twin": ..., "gcm-analysis": ...}``: both kinds from one build of the GCM (see ``GCMForecaster``).

    One process leaves part of a second core idle: ``workers`` > 1 splits the initial times
    into that many consecutive blocks, each forecast by its own spawned process (a twin block
    re-runs from the restart before its own first time), and joins them along ``init_time``;
    the values are those of one process (``rerun_check`` then reports each block).
    """
    options = {"source": source, "kinds": kinds, "perturbation": perturbation, "seed": seed, "variables": variables,
               "analysis": analysis, "length": length, "cache_dir": cache_dir, "chunk_days": chunk_days,
               "progress": progress}
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
        raise ValueError(f"workers is a number of processes (a positive integer), got {workers!r}")
    times = np.atleast_1d(np.asarray(initial_times, dtype="datetime64[ns]"))
    if workers == 1 or len(times) < 2:
        return _forecast_block(times, leads, **options)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    blocks = [b for b in np.array_split(times, min(workers, len(times))) if len(b)]
    with ProcessPoolExecutor(len(blocks), mp_context=multiprocessing.get_context("spawn")) as pool:
        jobs = [pool.submit(_forecast_block, block, leads, **options) for block in blocks]
        parts = [job.result() for job in jobs]  # re-raises the first failure here
    return {name: _joined([part[name] for part in parts]) for name in parts[0]}


def _forecast_block(times: np.ndarray, leads: Any, *, source: str | SourceConfig, length: int | None,
                    cache_dir: str | os.PathLike | None, chunk_days: int, progress: bool,
                    **forecast_options: Any) -> dict[str, xr.Dataset]:
    """One process's share of ``gcm_forecast_pair``: a ``GCMForecaster`` built here forecasting ``times``."""
    forecaster = GCMForecaster(source, length=length, cache_dir=cache_dir, chunk_days=chunk_days, progress=progress)
    return forecaster.forecasts(times, leads, **forecast_options)


def _joined(parts: list[xr.Dataset]) -> xr.Dataset:
    """Blocks of consecutive initial times as one forecast; a twin's ``rerun_check`` names each block's."""
    joined = xr.concat(parts, dim="init_time", combine_attrs="override")
    if "rerun_check" in joined.attrs:
        joined.attrs["rerun_check"] = "; ".join(
            f"initial times {np.datetime_as_string(p['init_time'].values[0], 'h')} to "
            f"{np.datetime_as_string(p['init_time'].values[-1], 'h')}: {p.attrs['rerun_check']}" for p in parts)
    return joined


def gcm_forecasts(
    initial_times: Any,
    leads: LeadLike | Sequence[LeadLike] = DEFAULT_LEADS_H,
    *,
    kind: str = "twin",
    **options: Any,
) -> xr.Dataset:
    """One kind of GCM forecast (``"twin"`` or ``"analysis"``) as a forecast Dataset.

    ``options`` are those of ``gcm_forecast_pair``."""
    kinds = _check_kinds(kind)
    if len(kinds) != 1:
        raise ValueError(f"kind is one of {list(KINDS)}; use gcm_forecast_pair for several")
    return gcm_forecast_pair(initial_times, leads, kinds=kinds, **options)[KINDS[kinds[0]]]
