"""The variable registry: one short id per physical quantity.

Every source maps its native names to these ids, and every model speaks them,
so data from WeatherBench, ClimaX, CMIP6 and the embedded GCM can be mixed.
Long names follow WeatherBench/ClimaX (including ClimaX's ``lattitude``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["level", "surface", "constant", "forcing"]

#: The pressure levels (hPa) of ClimaX's released models.
PRESSURE_LEVELS: tuple[int, ...] = (50, 250, 500, 600, 700, 850, 925)


@dataclass(frozen=True)
class Variable:
    """One physical quantity: short id, long name, units, kind and level (hPa)."""

    id: str
    long_name: str
    units: str
    kind: Kind
    level: int | None = None
    description: str = ""


# (prefix, long-name stem, units, description)
_LEVEL_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("z", "geopotential", "m2 s-2", "geopotential"),
    ("u", "u_component_of_wind", "m s-1", "eastward wind"),
    ("v", "v_component_of_wind", "m s-1", "northward wind"),
    ("t", "temperature", "K", "air temperature"),
    ("r", "relative_humidity", "%", "relative humidity"),
    ("q", "specific_humidity", "kg kg-1", "specific humidity"),
)

_SINGLE_FIELDS: tuple[Variable, ...] = (
    Variable("lsm", "land_sea_mask", "1", "constant", description="land fraction"),
    Variable("orography", "orography", "m", "constant", description="surface height"),
    Variable("lat", "lattitude", "degrees_north", "constant", description="latitude of the cell"),
    Variable("t2m", "2m_temperature", "K", "surface", description="air temperature at 2 m"),
    Variable("u10", "10m_u_component_of_wind", "m s-1", "surface", description="eastward wind at 10 m"),
    Variable("v10", "10m_v_component_of_wind", "m s-1", "surface", description="northward wind at 10 m"),
    Variable("sp", "surface_pressure", "Pa", "surface", description="surface pressure"),
    Variable(
        "tp6h",
        "total_precipitation_6hr",
        "m",
        "surface",
        description="precipitation accumulated over the 6 h before the time stamp, metres of water",
    ),
    Variable(
        "tisr",
        "toa_incident_solar_radiation",
        "J m-2",
        "forcing",
        description="top-of-atmosphere incident solar radiation accumulated over 1 h (as ERA5)",
    ),
)


#: ClimateBench's quantities (climate projection): forcings given per period and the period statistics predicted.
#: They are derived from runs and scenarios, not archived by any source, so no source lists them.
_CLIMATE_FIELDS: tuple[Variable, ...] = (
    Variable("co2", "carbon_dioxide_concentration", "ppmv", "forcing", description="CO2 mixing ratio of the period"),
    Variable("sst_anomaly", "sea_surface_temperature_anomaly", "K", "forcing",
             description="SST change of the period from the climatology, over the ocean"),
    Variable("dtr", "diurnal_temperature_range", "K", "surface",
             description="mean over the period of each day's 2 m temperature range"),
    Variable("pr", "precipitation", "mm day-1", "surface", description="mean precipitation rate over the period"),
    Variable("pr90", "precipitation_90th_percentile", "mm day-1", "surface",
             description="90th percentile over the period's days of daily precipitation"),
)
#: The ids of ``_CLIMATE_FIELDS``.
CLIMATE_IDS: tuple[str, ...] = tuple(v.id for v in _CLIMATE_FIELDS)


def _build_registry() -> dict[str, Variable]:
    registry = {v.id: v for v in (*_SINGLE_FIELDS, *_CLIMATE_FIELDS)}
    for prefix, stem, units, description in _LEVEL_FIELDS:
        for level in PRESSURE_LEVELS:
            vid = f"{prefix}{level}"
            registry[vid] = Variable(
                vid, f"{stem}_{level}", units, "level", level, f"{description} at {level} hPa"
            )
    return registry


#: id -> Variable for every variable the package knows.
VARIABLES: dict[str, Variable] = _build_registry()

_BY_LONG_NAME: dict[str, Variable] = {v.long_name: v for v in VARIABLES.values()}
# Spellings seen in the wild for the same quantities.
_ALIASES: dict[str, str] = {
    "latitude": "lat",
    "total_precipitation": "tp6h",
    "tp": "tp6h",
    "geopotential_at_surface": "orography",
}

#: ClimaX's 48 default input variables, in the order of the released checkpoints.
CLIMAX_DEFAULT_VARS: tuple[str, ...] = (
    "land_sea_mask",
    "orography",
    "lattitude",
    "2m_temperature",
    "10m_u_component_of_wind",
    "10m_v_component_of_wind",
    *(f"geopotential_{lev}" for lev in PRESSURE_LEVELS),
    *(f"u_component_of_wind_{lev}" for lev in PRESSURE_LEVELS),
    *(f"v_component_of_wind_{lev}" for lev in PRESSURE_LEVELS),
    *(f"temperature_{lev}" for lev in PRESSURE_LEVELS),
    *(f"relative_humidity_{lev}" for lev in PRESSURE_LEVELS),
    *(f"specific_humidity_{lev}" for lev in PRESSURE_LEVELS),
)

#: ClimaX's fine-tuning targets for global forecasting.
CLIMAX_OUT_VARS: tuple[str, ...] = ("z500", "t850", "t2m", "u10")


class UnknownVariableError(KeyError, ValueError):
    """A name that is neither a registry id, a long name nor a known alias."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


def resolve(name: str) -> Variable:
    """Look up a variable by short id, long name or alias."""
    if name in VARIABLES:
        return VARIABLES[name]
    if name in _BY_LONG_NAME:
        return _BY_LONG_NAME[name]
    if name in _ALIASES:
        return VARIABLES[_ALIASES[name]]
    close = sorted(v for v in VARIABLES if v[:1] == name[:1])[:8]
    raise UnknownVariableError(
        f"unknown variable {name!r}: use a registry id (e.g. {', '.join(close) or 'z500'}) "
        "or a WeatherBench/ClimaX long name; climax_nb.variables.VARIABLES lists them all"
    )


def to_id(name: str) -> str:
    """The short id of a variable given by id, long name or alias."""
    return resolve(name).id


def to_ids(names: list[str] | tuple[str, ...]) -> list[str]:
    """Short ids for a list of names, keeping order."""
    return [to_id(n) for n in names]


#: ClimaX's 48 default variables as registry ids, in the released order.
CLIMAX_DEFAULT_IDS: tuple[str, ...] = tuple(to_id(n) for n in CLIMAX_DEFAULT_VARS)


def by_kind(kind: Kind) -> list[str]:
    """All ids of one kind, in registry order."""
    return [v.id for v in VARIABLES.values() if v.kind == kind]


# -- kinds: the one definition every module uses ------------------------------------------------
def is_constant(vid: str) -> bool:
    """True for fields without a time axis (land-sea mask, orography, latitude)."""
    return VARIABLES[to_id(vid)].kind == "constant"


def is_forcing(vid: str) -> bool:
    """True for prescribed inputs with a time axis that models read but never predict (e.g. ``tisr``)."""
    return VARIABLES[to_id(vid)].kind == "forcing"


def is_dynamic(vid: str) -> bool:
    """True for the state a model forecasts (level and surface fields), fed back in a rollout."""
    return VARIABLES[to_id(vid)].kind in ("level", "surface")
