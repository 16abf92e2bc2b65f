"""Run jcm (SPEEDY physics on a spectral dynamical core) for one source configuration.

The model is built from jcm's Python API with the boundary conditions jcm
ships (``jcm.data.bc.t30.clim``: orography, land-sea mask, SST and land
climatologies), started from ``initial.idealised_state``, spun up, and then
advanced in equal chunks so that one compiled program serves the whole run
and memory stays bounded. Every chunk comes back as numpy arrays on the
model's Gaussian grid, 6-hourly, latitudes ascending, model levels top first.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from climax_nb.data.embedded.configs import DEFAULT_CO2_PPMV, MODEL_LONGITUDES, SourceConfig, sst_pattern

#: Output interval (days) and frames per day.
SAVE_INTERVAL_DAYS = 0.25
FRAMES_PER_DAY = 4
#: Days simulated per model call: 60 frames of every jcm diagnostic stay in memory
#: (about 270 MB at T31; a 30-day chunk peaked at 2.3 GB of RAM, a 10-day one at 1.7 GB).
DEFAULT_CHUNK_DAYS = 15
#: SPEEDY's reference pressure: ``normalized_surface_pressure`` is ps / P0.
P0 = 1.0e5
BOUNDARY_CONDITIONS = "jcm.data.bc.t30.clim"
#: Standard deviation (K) of the initial temperature noise of an ensemble member (``SourceConfig.member``).
MEMBER_NOISE_K = 0.1
#: XLA's older CPU runtime runs jcm's time loop 20 % faster in CPU time and
#: 2-2.5x faster in wall time on a busy 2-core machine (benchmarks/simulate_speed.py).
LEGACY_CPU_RUNTIME = "--xla_cpu_use_thunk_runtime=false"


def _jax_backends_started() -> bool | None:
    """Whether JAX has created its backends in this process (None when this jax cannot say)."""
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge
    except ImportError:
        return None
    started = getattr(xla_bridge, "backends_are_initialized", None)
    return bool(started()) if callable(started) else None


def prefer_legacy_cpu_runtime() -> None:
    """Ask XLA for its older CPU runtime unless ``XLA_FLAGS`` already decides.

    Called only right before the GCM is built, never at import, so importing
    climax_nb leaves the environment alone. XLA reads the flag once, when JAX first
    creates its backends, so if something in the process already ran JAX the flag
    would have no effect: then nothing is set and a warning says so. Limited to the
    jaxlib releases it was measured with, since XLA aborts on unknown flags.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    try:
        jaxlib = metadata.version("jaxlib")
    except metadata.PackageNotFoundError:
        return
    if "xla_cpu_use_thunk_runtime" in flags or not jaxlib.startswith("0.10."):
        return
    if _jax_backends_started():
        warnings.warn(
            "JAX already started in this process, so the embedded GCM runs on XLA's default CPU "
            f"runtime, up to 2x slower on a busy machine; set XLA_FLAGS={LEGACY_CPU_RUNTIME} "
            "before the first JAX computation to use the faster one",
            stacklevel=3,
        )
        return
    os.environ["XLA_FLAGS"] = f"{flags} {LEGACY_CPU_RUNTIME}".strip()


@dataclass(frozen=True)
class NativeGrid:
    """The model grid: Gaussian latitudes (ascending), longitudes, sigma levels, surface."""

    lat: np.ndarray
    lon: np.ndarray
    sigma: np.ndarray
    sigma_bounds: np.ndarray
    orography: np.ndarray
    land_fraction: np.ndarray


@dataclass
class NativeChunk:
    """Consecutive 6-hourly frames on the model grid.

    ``fields``: ``t`` (K), ``z`` (m2 s-2), ``u``, ``v`` (m s-1), ``q`` (kg kg-1)
    as (time, level, lat, lon); ``ps`` (Pa), ``t2m`` (K), ``u10``, ``v10``
    (m s-1), ``precip`` (kg m-2 over the 6 h before each stamp) and
    ``toa_solar`` (W m-2, SPEEDY's daily-mean insolation) as (time, lat, lon).
    """

    time: np.ndarray
    fields: dict[str, np.ndarray]
    spinup: bool

    def head(self, n: int) -> NativeChunk:
        """The first ``n`` frames."""
        return NativeChunk(self.time[:n], {k: v[:n] for k, v in self.fields.items()}, self.spinup)


def mass_weighted_mean_temperature(t: np.ndarray, ps: np.ndarray, grid: NativeGrid) -> np.ndarray:
    """Mass-weighted global-mean temperature (K) of each frame of ``t`` (time, level, lat, lon)."""
    _, area = np.polynomial.legendre.leggauss(len(grid.lat))
    dsigma = np.diff(grid.sigma_bounds)
    column = np.einsum("tkyx,k->tyx", t.astype(np.float64), dsigma) / dsigma.sum()
    mass = ps.astype(np.float64) * area[:, None]
    return (column * mass).sum(axis=(1, 2)) / mass.sum(axis=(1, 2))


def _parameters(overrides: tuple[tuple[str, float], ...]):
    """SPEEDY's default parameters with ``("group.name", value)`` overrides applied."""
    prefer_legacy_cpu_runtime()  # the first JAX arrays of a model are made here
    import jax.numpy as jnp
    from jcm.physics.speedy.params import Parameters

    params = Parameters.default()
    groups = [f.name for f in dataclasses.fields(params)]
    for key, value in overrides:
        group_name, name = key.split(".")
        if group_name not in groups:
            raise ValueError(
                f"unknown SPEEDY parameter group {group_name!r} in {key!r}; groups: {groups}"
            )
        group = getattr(params, group_name)
        names = [f.name for f in dataclasses.fields(group)]
        if name not in names:
            raise ValueError(f"unknown SPEEDY parameter {key!r}; {group_name} has: {names}")
        group = dataclasses.replace(group, **{name: jnp.asarray(value, dtype=jnp.float32)})
        params = dataclasses.replace(params, **{group_name: group})
    return params


def _forcing(config: SourceConfig, coords):
    """The packaged SST/land climatology, repeated every year, with the SST offset and pattern and the CO2 applied."""
    import jax.numpy as jnp
    import xarray as xr
    from jcm.forcing import ForcingData

    path = resources.files(BOUNDARY_CONDITIONS) / "forcing.nc"
    if config.sst_offset == 0.0 and not config.sst_pattern:
        forcing = ForcingData.from_file(path, coords=coords, align_mode="wrap_year")
    else:
        with xr.open_dataset(path) as ds:
            ds = ds.load()
        ds["sst"] = ds["sst"] + np.float32(config.sst_offset) + sst_anomaly_like(config, ds["sst"])
        forcing = ForcingData.from_dataset(ds, coords=coords, align_mode="wrap_year")
    if config.co2_ppmv != DEFAULT_CO2_PPMV:
        forcing = forcing.copy(co2_vmr=jnp.asarray(config.co2_ppmv, dtype=jnp.float32))
    return forcing


def sst_anomaly_like(config: SourceConfig, sst):
    """``config``'s SST pattern times its amplitude (K) on the grid of the forcing field ``sst`` (0 without one)."""
    import xarray as xr

    if not config.sst_pattern:
        return np.float32(0.0)
    lat_name = next(d for d in sst.dims if "lat" in d)
    lon_name = next(d for d in sst.dims if "lon" in d)
    pattern = sst_pattern(config.sst_pattern, sst[lat_name].values, sst[lon_name].values % 360.0)
    field = xr.DataArray(pattern.astype(np.float32), dims=(lat_name, lon_name))
    return (config.sst_pattern_amplitude * field).transpose(*[d for d in sst.dims if d in (lat_name, lon_name)])


def use_compilation_cache(directory: Path) -> None:
    """Keep compiled programs in ``directory`` unless JAX already has a cache directory.

    Compiling jcm's time loop takes 25-40 s per configuration; with the cache
    a later process (or a source that differs only in forcing values, such as
    an SST offset) reuses it. jcm's own runner enables the same cache.
    """
    import jax

    if jax.config.jax_compilation_cache_dir:
        return
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def _boundary_conditions(config: SourceConfig, coords):
    """jcm's packaged terrain and forcing on the model grid."""
    from jcm.terrain import TerrainData

    with warnings.catch_warnings():  # jcm's reading of its own files warns about pandas defaults
        warnings.simplefilter("ignore")
        path = resources.files(BOUNDARY_CONDITIONS) / "terrain.nc"
        return TerrainData.from_file(path, coords=coords), _forcing(config, coords)


class Simulation:
    """One configured jcm model, advanced chunk by chunk from spin-up to the end of the output.

    The model starts ``spinup`` days plus 6 h before ``config.start`` so the
    first saved frame is exactly at the start date. Spin-up and output use the
    same chunk length, so jcm compiles its time loop once.
    """

    def __init__(self, config: SourceConfig, days: int, chunk_days: int = DEFAULT_CHUNK_DAYS):
        if days < 1 or chunk_days < 1:
            raise ValueError(f"days and chunk_days must be positive, got {days} and {chunk_days}")
        self.config = config
        self.days = days
        self.chunk_days = min(chunk_days, days)
        self.spinup_chunks = math.ceil(config.spinup_days / self.chunk_days)
        self.output_chunks = math.ceil(days / self.chunk_days)
        self.start = np.datetime64(config.start, "ns")
        self.end = self.start + np.timedelta64(days, "D")
        spinup = np.timedelta64(self.spinup_chunks * self.chunk_days, "D")
        self.model_start = self.start - spinup - np.timedelta64(6, "h")
        self._model = None

    @property
    def spinup_days(self) -> int:
        """Spin-up actually run: ``config.spinup_days`` rounded up to whole chunks."""
        return self.spinup_chunks * self.chunk_days

    def build(self) -> NativeGrid:
        """Build the jcm model (no compilation yet) and return its grid."""
        prefer_legacy_cpu_runtime()
        from jcm.constants import grav as GRAVITY  # noqa: N812 - the physical constant
        from jcm.model import Model
        from jcm.physics.speedy.speedy_coords import get_speedy_coords
        from jcm.physics.speedy.speedy_terms import speedy_physics

        from climax_nb.data.embedded.accumulate import PrecipitationAccumulator

        cfg = self.config
        coords = get_speedy_coords(layers=cfg.layers, spectral_truncation=cfg.truncation)
        terrain, self._forcing = _boundary_conditions(cfg, coords)
        physics = speedy_physics(parameters=_parameters(cfg.physics)) + PrecipitationAccumulator()
        self._model = Model(
            coords=coords,
            terrain=terrain,
            physics=physics,
            time_step=cfg.time_step_minutes,
            start_time=str(self.model_start.astype("datetime64[s]")),
        )
        nlon = len(np.asarray(coords.horizontal.longitudes))
        if nlon != MODEL_LONGITUDES[cfg.truncation]:
            raise RuntimeError(
                f"jcm's T{cfg.truncation} grid has {nlon} longitudes, configs.MODEL_LONGITUDES says "
                f"{MODEL_LONGITUDES[cfg.truncation]}: update the table"
            )
        sigma = np.asarray(coords.vertical.centers, dtype=np.float64)
        if np.any(np.diff(sigma) <= 0):
            raise RuntimeError("jcm's sigma levels are expected top first (ascending sigma)")
        self.grid = NativeGrid(
            lat=np.rad2deg(np.asarray(coords.horizontal.latitudes, dtype=np.float64)),
            lon=np.rad2deg(np.asarray(coords.horizontal.longitudes, dtype=np.float64)),
            sigma=sigma,
            sigma_bounds=np.asarray(coords.vertical.boundaries, dtype=np.float64),
            orography=np.asarray(terrain.phis0, dtype=np.float64).T / GRAVITY,
            land_fraction=np.asarray(terrain.fmask, dtype=np.float64).T,
        )
        return self.grid

    @property
    def model(self):
        """The jcm ``Model`` (built on first use): its ``run_state`` is where the run stands."""
        if self._model is None:
            self.build()
        return self._model

    @property
    def forcing(self):
        """The boundary forcing every ``run``/``resume`` of this model takes."""
        if self._model is None:
            self.build()
        return self._forcing

    def initial_state(self):
        """The idealised ``PhysicsState`` the run starts from (``initial.idealised_state``)."""
        import jax.numpy as jnp
        from jcm.physics_interface import PhysicsState

        from climax_nb.data.embedded.initial import idealised_state

        state = idealised_state(self.grid.lat, self.grid.sigma, self.grid.orography.T)
        if self.config.member > 0:  # an initial-condition ensemble member: 0.1 K of noise seeded by its number
            noise = np.random.default_rng(self.config.member).normal(0.0, MEMBER_NOISE_K, state["temperature"].shape)
            state["temperature"] = state["temperature"] + noise
        t = jnp.asarray(state["temperature"], dtype=jnp.float32)
        zeros = jnp.zeros_like(t)
        return PhysicsState(
            u_wind=zeros,
            v_wind=zeros,
            temperature=t,
            specific_humidity=jnp.asarray(state["specific_humidity"], dtype=jnp.float32),
            geopotential=zeros,
            normalized_surface_pressure=jnp.asarray(
                state["normalized_surface_pressure"], dtype=jnp.float32
            ),
        )

    def _advance(self, first: bool, spinup: bool) -> NativeChunk:
        model = self._model
        kwargs = {
            "forcing": self._forcing,
            "save_interval": SAVE_INTERVAL_DAYS,
            "total_time": self.chunk_days,
        }
        pred = (
            model.run(initial_state=self.initial_state(), **kwargs)
            if first
            else model.resume(**kwargs)
        )
        chunk = native_chunk(pred, spinup)
        self.reset_accumulator()
        return chunk

    def reset_accumulator(self) -> None:
        """Zero the precipitation total so each chunk starts from 0 (keeps float32 exact)."""
        import jax.numpy as jnp

        from climax_nb.data.embedded.accumulate import ACCUMULATED_PRECIPITATION

        state = self._model.run_state
        carry = dict(state.physics)
        carry[ACCUMULATED_PRECIPITATION] = jnp.zeros_like(carry[ACCUMULATED_PRECIPITATION])
        self._model.restore_state(state.dynamics, carry, time=state.time, step=state.step)

    def chunks(self, progress: bool = True) -> Iterator[NativeChunk]:
        """Spin-up chunks (``spinup=True``), then output chunks, the last cut to length."""
        if self._model is None:
            self.build()
        total = self.spinup_days + self.output_chunks * self.chunk_days
        label = f"embedded/{self.config.name}"
        with tqdm(total=total, unit="day", desc=label, disable=not progress) as bar:
            for i in range(self.spinup_chunks + self.output_chunks):
                spinup = i < self.spinup_chunks
                bar.set_postfix_str("spin-up" if spinup else "output")
                chunk = self._advance(first=i == 0, spinup=spinup)
                bar.update(self.chunk_days)
                if not spinup:
                    chunk = chunk.head(int(np.sum(chunk.time < self.end)))
                yield chunk


def native_chunk(pred, spinup: bool) -> NativeChunk:
    """jcm predictions -> numpy arrays (time, [level,] lat, lon), latitudes ascending."""
    dyn, phys = pred.dynamics, pred.physics

    def levels(a) -> np.ndarray:  # (time, level, lon, lat) -> (time, level, lat, lon)
        return np.asarray(a, dtype=np.float32).transpose(0, 1, 3, 2)

    def surface(a) -> np.ndarray:  # (time, lon, lat) -> (time, lat, lon)
        return np.asarray(a, dtype=np.float32).transpose(0, 2, 1)

    from climax_nb.data.embedded.accumulate import ACCUMULATED_PRECIPITATION

    flux = phys["_surface_flux"]
    total = surface(phys[ACCUMULATED_PRECIPITATION])
    fields = {
        "t": levels(dyn.temperature),
        "z": levels(dyn.geopotential),
        "u": levels(dyn.u_wind),
        "v": levels(dyn.v_wind),
        "q": levels(dyn.specific_humidity),
        "ps": surface(dyn.normalized_surface_pressure) * np.float32(P0),
        "t2m": surface(flux.t0),
        "u10": surface(flux.u0),
        "v10": surface(flux.v0),
        "precip": np.diff(total, axis=0, prepend=np.zeros_like(total[:1])),
        "toa_solar": surface(phys["_shortwave_rad"].fsol),
    }
    time = np.asarray(pred.time_labels()).astype("datetime64[ns]")
    return NativeChunk(time, fields, spinup)
