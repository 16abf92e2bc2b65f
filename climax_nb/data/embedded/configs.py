"""The embedded sources: one frozen configuration of the GCM per source.

Like the CMIP6 models ClimaX pretrains on, the pretraining sources differ in
physics, forcing or resolution and each archives a different set of
variables; ``reanalysis`` is held out for fine-tuning and evaluation and has
every variable and its own train/val/test years.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from climax_nb.grid import WEATHERBENCH_RESOLUTIONS, Grid
from climax_nb.variables import CLIMATE_IDS, PRESSURE_LEVELS, VARIABLES

CONSTANTS: tuple[str, ...] = ("lsm", "orography", "lat")
FORCINGS: tuple[str, ...] = ("tisr",)
#: Pressure levels written by CMIP6's ``plev8`` tables that ClimaX also uses.
CMIP_LEVELS: tuple[int, ...] = (50, 250, 500, 700, 850)
#: Surface fields the GCM can provide.
SURFACE: tuple[str, ...] = ("t2m", "u10", "v10", "sp", "tp6h")


def level_ids(prefixes: str, levels: tuple[int, ...] = PRESSURE_LEVELS) -> tuple[str, ...]:
    """Ids such as ``z500`` for every prefix letter in ``prefixes`` and every level."""
    return tuple(f"{p}{lev}" for p in prefixes for lev in levels)


#: Longitudes of jcm's Gaussian grid at each spectral truncation it supports (``jcm.utils``:
#: quadratic grids, twice as many longitudes as latitudes); ``Simulation.build`` checks it.
MODEL_LONGITUDES: dict[int, int] = {21: 64, 31: 96, 42: 128, 63: 192, 85: 256, 106: 320, 119: 360, 127: 384}
#: The output grid of every source unless its configuration says otherwise (WeatherBench 5.625 deg).
DEFAULT_GRID_RESOLUTION = 5.625
#: Fields left out of the hash while they hold their default, so adding them kept every
#: existing source's hash (and its cached store) as it was.
#: CO2 concentration (ppmv) of every source unless its configuration says otherwise: jcm's (and SPEEDY's) reference.
DEFAULT_CO2_PPMV = 360.0
_HASHED_ONLY_WHEN_CHANGED: dict[str, object] = {
    "grid_resolution": DEFAULT_GRID_RESOLUTION, "co2_ppmv": DEFAULT_CO2_PPMV, "sst_pattern": "",
    "sst_pattern_amplitude": 0.0, "member": 0,
}
#: Named SST anomaly patterns a source can add (``sst_pattern``), each peaking at 1 K times ``sst_pattern_amplitude``:
#: ``east-pacific`` an El Nino-like warming of the equatorial east Pacific (a Gaussian 12 deg wide in latitude and
#: 40 deg in longitude about 0 N 240 E), ``north-south`` a hemispheric contrast (+1 K at the North Pole through
#: 0 at the equator to -1 K at the South Pole, as sin(latitude)).
SST_PATTERNS: tuple[str, ...] = ("east-pacific", "north-south")


def sst_pattern(name: str, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """The pattern ``name`` (``SST_PATTERNS``) on a (lat, lon) grid, peaking at 1 K."""
    lat, lon = np.asarray(lat_deg, dtype=np.float64)[:, None], np.asarray(lon_deg, dtype=np.float64)[None, :]
    if name == "east-pacific":
        dlon = (lon - 240.0 + 180.0) % 360.0 - 180.0
        return np.exp(-0.5 * ((lat / 12.0) ** 2 + (dlon / 40.0) ** 2))
    if name == "north-south":
        return np.broadcast_to(np.sin(np.deg2rad(lat)), (lat.shape[0], lon.shape[1])).copy()
    raise ValueError(f"unknown SST pattern {name!r}; choose one of {list(SST_PATTERNS)}")


def finest_resolution(truncation: int) -> float:
    """The finest output grid spacing (degrees) a truncation's own Gaussian grid resolves: 360 / longitudes."""
    return 360.0 / MODEL_LONGITUDES[truncation]


def _not_hashed(default=dataclasses.MISSING):
    """A field that does not change the simulated data, so it is left out of the hash."""
    return field(default=default, metadata={"hashed": False})


class UnknownSourceError(KeyError, ValueError):
    """An embedded source name that does not exist; the message lists the ones that do."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class SourceConfig:
    """Everything that decides what one embedded source simulates and archives.

    ``truncation`` is the spectral truncation (21 or 31: 64x32 or 96x48
    Gaussian grids), ``sst_offset`` (K) is added to the packaged SST
    climatology, ``physics`` overrides SPEEDY parameters as
    ``("group.name", value)`` pairs (e.g. ``("convection.trcnv", 3.0)``).
    The 40-minute step is SPEEDY's classic 36 steps per day (jcm's own T31
    reference statistics use it); jcm would otherwise pick 30 minutes.
    The simulation starts ``spinup_days`` before ``start`` (an ISO date) from
    an idealised balanced state; output begins at ``start``. ``years`` is the
    default length and ``splits`` names years for training and evaluation.

    ``grid_resolution`` (degrees) picks the WeatherBench grid the output is
    conservatively regridded to: 5.625 (32 x 64, every pretraining source) or
    2.8125 (64 x 128, the fine targets of downscaling). It may not be finer
    than the model's own grid (360 / longitudes: T21 and T31 write 5.625 only,
    T42 also 2.8125, T85 1.40625). It enters the hash only when it is not 5.625.
    ``in_default_set`` says whether ``climax-nb data`` and the demo generate the
    source when no source is named.

    Climate scenarios change the forcing: ``co2_ppmv`` (jcm's CO2 mixing ratio, which
    sets SPEEDY's CO2 absorptivity ``ablco2`` in proportion), ``sst_pattern`` with
    ``sst_pattern_amplitude`` (K; ``SST_PATTERNS``) on top of ``sst_offset``, and
    ``member`` (> 0: the idealised initial temperature perturbed by noise of 0.1 K
    seeded by it, an initial-condition ensemble member). Each enters the hash only
    when it is not its default.
    """

    name: str
    variables: tuple[str, ...]
    truncation: int = 21
    layers: int = 8
    time_step_minutes: float = 40.0
    sst_offset: float = 0.0
    physics: tuple[tuple[str, float], ...] = ()
    spinup_days: int = 60
    start: str = "2000-01-01"
    grid_resolution: float = DEFAULT_GRID_RESOLUTION
    co2_ppmv: float = DEFAULT_CO2_PPMV
    sst_pattern: str = ""
    sst_pattern_amplitude: float = 0.0
    member: int = 0
    years: int = _not_hashed(1)
    splits: tuple[tuple[str, tuple[int, ...]], ...] = _not_hashed(())
    held_out: bool = _not_hashed(False)
    description: str = _not_hashed("")
    in_default_set: bool = _not_hashed(True)
    #: save jcm restarts every chunk (``api.save_restart``): the sources the GCM's own forecasts start from
    restarts: bool = _not_hashed(False)

    def __post_init__(self) -> None:
        unknown = [v for v in self.variables if v not in VARIABLES]
        if unknown:
            raise ValueError(f"source {self.name!r}: unknown variable id(s) {unknown}")
        if self.truncation < 21:
            raise ValueError(
                f"source {self.name!r}: truncation must be at least 21 (T21), got {self.truncation}"
            )
        if self.truncation not in MODEL_LONGITUDES:
            raise ValueError(
                f"source {self.name!r}: jcm has no T{self.truncation} grid; "
                f"choose a truncation among {sorted(MODEL_LONGITUDES)}"
            )
        if self.grid_resolution not in WEATHERBENCH_RESOLUTIONS:
            raise ValueError(
                f"source {self.name!r}: no WeatherBench grid at {self.grid_resolution} degrees; "
                f"set grid_resolution to one of {WEATHERBENCH_RESOLUTIONS}"
            )
        finest = finest_resolution(self.truncation)
        if self.grid_resolution < finest - 1e-9:
            enough = [t for t in sorted(MODEL_LONGITUDES) if finest_resolution(t) <= self.grid_resolution + 1e-9]
            raise ValueError(
                f"source {self.name!r}: a {self.grid_resolution} degree grid is finer than T{self.truncation} "
                f"resolves ({finest:g} degrees between its {MODEL_LONGITUDES[self.truncation]} longitudes), "
                f"so its cells would only repeat coarser values; set grid_resolution >= {finest:g} "
                f"or truncation >= {enough[0]}"
            )
        if self.sst_pattern and self.sst_pattern not in SST_PATTERNS:
            raise ValueError(f"source {self.name!r}: unknown sst_pattern {self.sst_pattern!r}; choose one of "
                             f"{list(SST_PATTERNS)} or leave it empty")
        if self.co2_ppmv <= 0 or self.member < 0:
            raise ValueError(f"source {self.name!r}: co2_ppmv must be > 0 and member >= 0, got {self.co2_ppmv} "
                             f"and {self.member}")
        if self.spinup_days < 0 or self.years < 1:
            raise ValueError(f"source {self.name!r}: spinup_days must be >= 0 and years >= 1")
        for group_name, _ in self.physics:
            if group_name.count(".") != 1:
                raise ValueError(
                    f"physics override {group_name!r} must look like 'convection.trcnv'"
                )
        np.datetime64(self.start, "D")  # raises on a malformed date

    def hashed_fields(self) -> dict:
        """The fields that decide the simulated data (what the cache hash covers).

        Fields added after the first stores were written (``grid_resolution``) are left
        out while they hold their default, so those stores keep their hash.
        """
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.metadata.get("hashed", True)
            and not (f.name in _HASHED_ONLY_WHEN_CHANGED and getattr(self, f.name) == _HASHED_ONLY_WHEN_CHANGED[f.name])
        }

    @property
    def grid(self) -> Grid:
        """The WeatherBench grid the source is written on."""
        return Grid.weatherbench(self.grid_resolution)

    def config_hash(self) -> str:
        """A short stable hash of ``hashed_fields``: a changed physics setting changes it."""
        text = json.dumps(self.hashed_fields(), sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        """All fields as JSON-friendly values (for the cache manifest)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))

    @property
    def default_days(self) -> int:
        """Days in ``years`` whole calendar years from ``start``."""
        return self.days_in(self.years)

    def days_in(self, years: int) -> int:
        """Days in ``years`` whole calendar years from ``start``: the ``length`` of a longer run (more years)."""
        if isinstance(years, bool) or not isinstance(years, int | np.integer) or years < 1:
            raise ValueError(f"years is a number of whole years (a positive integer), got {years!r}")
        start = np.datetime64(self.start, "D")
        year = start.astype("datetime64[Y]").astype(int) + 1970
        end = np.datetime64(f"{year + int(years):04d}{self.start[4:10]}", "D")
        return int((end - start) / np.timedelta64(1, "D"))

    def split_years(self, split: str) -> tuple[int, ...]:
        """The years of a named split (``"train"``, ``"val"``, ``"test"``)."""
        named = dict(self.splits)
        if split not in named:
            have = ", ".join(named) or "none"
            raise ValueError(f"source {self.name!r} has no split {split!r} (splits: {have})")
        return named[split]


#: Every variable the GCM archives (ClimateBench's period statistics and forcings are derived, not archived).
ALL_VARIABLES: tuple[str, ...] = tuple(v for v in VARIABLES if v not in CLIMATE_IDS)

SOURCES: dict[str, SourceConfig] = {
    cfg.name: cfg
    for cfg in (
        SourceConfig(
            name="reanalysis",
            variables=ALL_VARIABLES,
            years=4,
            splits=(("train", (2000, 2001)), ("val", (2002,)), ("test", (2003,))),
            held_out=True,
            restarts=True,
            description="T21 SPEEDY, default physics and climatological SST; every variable. "
            "Held out from pretraining, plays ERA5.",
        ),
        SourceConfig(
            name="warm-sst",
            variables=(*level_ids("ztuv"), "t2m", "u10", "v10", *CONSTANTS, *FORCINGS),
            sst_offset=2.0,
            start="1990-01-01",
            description="T21 SPEEDY with SST +2 K everywhere; dynamics only (no humidity, "
            "precipitation or surface pressure).",
        ),
        SourceConfig(
            name="fast-convection",
            variables=(*level_ids("ztqr"), "t2m", "sp", "tp6h", *CONSTANTS, *FORCINGS),
            physics=(("convection.trcnv", 3.0), ("convection.rhbl", 0.8)),
            start="1990-01-01",
            description="T21 SPEEDY with faster convective relaxation (3 h, not 6 h) and a lower "
            "boundary-layer humidity trigger (0.8, not 0.9); thermodynamics only (no winds aloft).",
        ),
        SourceConfig(
            name="t31",
            variables=(*level_ids("ztuvq", CMIP_LEVELS), *SURFACE, *CONSTANTS, *FORCINGS),
            truncation=31,
            start="1990-01-01",
            description="T31 SPEEDY (96x48 grid), default physics; CMIP6 plev8 levels only "
            "(no 600 or 925 hPa, no relative humidity).",
        ),
        SourceConfig(
            name="t42",
            variables=(*level_ids("ztuvq"), *SURFACE, *CONSTANTS, *FORCINGS),
            truncation=42,
            time_step_minutes=30.0,  # jcm's own step at T42; 40 minutes is SPEEDY's at T30
            grid_resolution=2.8125,
            start="1990-01-01",
            years=2,
            splits=(("train", (1990,)), ("test", (1991,))),
            in_default_set=False,
            description="T42 SPEEDY (128x64 grid), default physics, written on the 2.8125 deg grid "
            "(64x128): the fine targets of downscaling (embedded.perfect_model_pair coarsens it to 5.625 deg), "
            "1990 to train and 1991 to test. 1.3 s per simulated day on 2 idle cores (6.5x T21); the two "
            "years took 33 minutes beside other jobs; not generated unless named.",
        ),
    )
}


@dataclass(frozen=True)
class Scenario:
    """One forcing of the climate-projection runs (ClimateBench's scenarios at this scale)."""

    name: str
    co2_ppmv: float = DEFAULT_CO2_PPMV
    sst_offset: float = 0.0
    sst_pattern: str = ""
    sst_pattern_amplitude: float = 0.0
    #: held out for testing, as ClimateBench holds out SSP2-4.5
    held_out: bool = False
    description: str = ""


#: The scenarios: CO2 halved and doubled, SST raised uniformly and in two patterns, and a held-out mix of half
#: the doubling's CO2 rise and half the uniform warming (an intermediate scenario, as SSP2-4.5 is).
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("control", description="reference CO2 (360 ppmv) and the climatological SST"),
    Scenario("co2-half", co2_ppmv=180.0, description="CO2 at 180 ppmv"),
    Scenario("co2-double", co2_ppmv=720.0, description="CO2 at 720 ppmv"),
    Scenario("sst-plus2", sst_offset=2.0, description="SST +2 K everywhere"),
    Scenario("east-pacific", sst_pattern="east-pacific", sst_pattern_amplitude=3.0,
             description="El Nino-like SST warming of the equatorial east Pacific, 3 K at its centre"),
    Scenario("north-south", sst_pattern="north-south", sst_pattern_amplitude=1.5,
             description="SST +1.5 K at the North Pole to -1.5 K at the South Pole (sin latitude)"),
    Scenario("mid", co2_ppmv=540.0, sst_offset=1.0, held_out=True,
             description="held out: CO2 at 540 ppmv and SST +1 K everywhere"),
)
#: Initial-condition members per scenario (ClimateBench has three runs per scenario).
SCENARIO_MEMBERS = 3
#: What the scenario runs archive: the surface fields of ClimateBench's targets and the constants.
SCENARIO_VARIABLES: tuple[str, ...] = ("t2m", "tp6h", "lsm", "orography", "lat")


def scenario_source_name(scenario: str, member: int) -> str:
    """``scenario-<name>-m<member>``: the embedded source of one member of one scenario."""
    return f"scenario-{scenario}-m{member}"


def scenario_config(scenario: Scenario, member: int) -> SourceConfig:
    """One year of T21 SPEEDY under ``scenario``'s forcing, initial-condition member ``member`` (0: unperturbed)."""
    return SourceConfig(
        name=scenario_source_name(scenario.name, member),
        variables=SCENARIO_VARIABLES,
        co2_ppmv=scenario.co2_ppmv,
        sst_offset=scenario.sst_offset,
        sst_pattern=scenario.sst_pattern,
        sst_pattern_amplitude=scenario.sst_pattern_amplitude,
        member=member,
        spinup_days=30,
        start="2000-01-01",
        in_default_set=False,
        held_out=scenario.held_out,
        description=f"climate scenario {scenario.name} ({scenario.description}), member {member}: one year of "
        "T21 SPEEDY after 30 days of spin-up, surface fields only; not generated unless named.",
    )


SOURCES.update({cfg.name: cfg for sc in SCENARIOS for m in range(SCENARIO_MEMBERS) for cfg in [scenario_config(sc, m)]})


def get_config(name: str | SourceConfig) -> SourceConfig:
    """The configuration of a source by name (a ``SourceConfig`` is returned as is)."""
    if isinstance(name, SourceConfig):
        return name
    if name not in SOURCES:
        raise UnknownSourceError(
            f"unknown embedded source {name!r}; available sources: {', '.join(SOURCES)}"
        )
    return SOURCES[name]
