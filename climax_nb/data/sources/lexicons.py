"""Native variable names of each source, mapped to registry ids.

A lexicon maps a native name to a registry id (``2m_temperature`` -> ``t2m``) or,
for fields on pressure levels, to the id prefix (``temperature`` -> ``t``, which
becomes ``t500``, ``t850``, ... one per level the registry knows). Unit changes
that a source needs are listed beside its lexicon as ``Conversion``s; every other
field must already be in registry units, and ``validate`` reports any that is not.

The registry id ``lat`` (ClimaX's ``lattitude`` input) is no lexicon target: a data
variable named ``lat`` would clash with the ``lat`` coordinate, and the field is
the coordinate broadcast over longitude, so it is rebuilt from the grid.
"""

from __future__ import annotations

from dataclasses import dataclass

from climax_nb.variables import PRESSURE_LEVELS, VARIABLES

#: Standard gravity (m s-2), used by WeatherBench and ERA5 for geopotential <-> height.
G = 9.80665


@dataclass(frozen=True)
class Conversion:
    """Multiply by ``scale`` to turn values in ``from_units`` into registry units."""

    scale: float
    from_units: str


def _long_names() -> dict[str, str]:
    """WeatherBench/ClimaX long names from the registry: stems for level fields, full names otherwise."""
    out: dict[str, str] = {}
    for var in VARIABLES.values():
        if var.id == "lat":
            continue
        if var.level is None:
            out[var.long_name] = var.id
        else:
            out[var.long_name.removesuffix(f"_{var.level}")] = var.id.removesuffix(str(var.level))
    return out


#: Long names shared by WeatherBench 1 folders, WeatherBench 2 variables and ClimaX npz keys.
LONG_NAMES: dict[str, str] = _long_names()

#: Native names that hold a 1-hour accumulation (ERA5 ``tp``); sources sum six of them into ``tp6h``.
HOURLY_ACCUMULATIONS: frozenset[str] = frozenset({"total_precipitation", "tp"})

#: WeatherBench 1: folder names (long names, hourly ``total_precipitation``).
WEATHERBENCH1: dict[str, str] = {**LONG_NAMES, "total_precipitation": "tp6h"}
#: WeatherBench 1 constants file (``slt``, ``lat2d`` and ``lon2d`` have no registry id).
WEATHERBENCH1_CONSTANTS: dict[str, str] = {"orography": "orography", "lsm": "lsm"}

#: WeatherBench 2 ERA5 zarr variables.
WEATHERBENCH2: dict[str, str] = {**LONG_NAMES, "geopotential_at_surface": "orography"}
WEATHERBENCH2_CONVERSIONS: dict[str, Conversion] = {"geopotential_at_surface": Conversion(1 / G, "m2 s-2")}

#: ClimaX npz keys: long names, level fields as ``<stem>_<level>``; ``total_precipitation`` is hourly.
CLIMAX_NPZ: dict[str, str] = {**LONG_NAMES, "total_precipitation": "tp6h"}

#: CMIP6 CMOR variable names (pressure levels on ``plev`` in Pa).
CMIP6: dict[str, str] = {
    "zg": "z",
    "ua": "u",
    "va": "v",
    "ta": "t",
    "hur": "r",
    "hus": "q",
    "tas": "t2m",
    "uas": "u10",
    "vas": "v10",
    "ps": "sp",
    "pr": "tp6h",
    "rsdt": "tisr",
    "orog": "orography",
    "sftlf": "lsm",
}
#: ``pr`` (a mean rate) becomes a 6-hour total only for 6-hourly means: 21600 s / 1000 kg m-3.
CMIP6_CONVERSIONS: dict[str, Conversion] = {
    "zg": Conversion(G, "m"),
    "hus": Conversion(1.0, "1"),
    "sftlf": Conversion(0.01, "%"),
    "pr": Conversion(6 * 3600 / 1000.0, "kg m-2 s-1"),
    "rsdt": Conversion(3600.0, "W m-2"),
}

#: ERA5/GRIB short names (cfgrib, CDS downloads) for ``canonicalize``: level fields map to
#: their long stem (``_<level>`` is appended before the registry lookup), others to an id.
#: ``z`` without a level axis is ERA5's surface geopotential, which ``canonicalize`` turns
#: into ``orography``. ``tp`` (1-hour totals) is left out: it is not ``tp6h``.
ERA5: dict[str, str] = {
    "z": "geopotential",
    "u": "u_component_of_wind",
    "v": "v_component_of_wind",
    "t": "temperature",
    "r": "relative_humidity",
    "q": "specific_humidity",
    "t2m": "t2m",
    "u10": "u10",
    "v10": "v10",
    "sp": "sp",
    "tisr": "tisr",
    "lsm": "lsm",
    # ecCodes spells the 2 m and 10 m fields this way; cfgrib renames them t2m, u10, v10
    "2t": "t2m",
    "10u": "u10",
    "10v": "v10",
}

#: Dimension and coordinate names of pressure levels (hPa) that ``canonicalize`` calls ``level``:
#: cfgrib's ``isobaricInhPa``, the CDS netCDF ``pressure_level``, WeatherBench's ``level``.
LEVEL_COORDS: tuple[str, ...] = ("level", "isobaricInhPa", "pressure_level")

#: GRIB bookkeeping coordinates (cfgrib, CDS netCDF) with no place in the canonical layout;
#: ``canonicalize`` drops them when they are scalars or lie along time only.
GRIB_COORDS: tuple[str, ...] = (
    "number",
    "step",
    "surface",
    "heightAboveGround",
    "meanSea",
    "depthBelowLandLayer",
    "entireAtmosphere",
    "expver",
)

#: The namings ``canonicalize`` tries, in this order, when it is given no lexicon. Registry
#: ids, long names and level prefixes (``t`` on a level axis) are understood under every
#: naming; the naming that recognises the most data variables is used, the earlier one on
#: a tie. CMIP6 and ClimaX npz names are not tried: their readers convert units as well.
NAMINGS: tuple[tuple[str, dict[str, str]], ...] = (
    ("registry ids and WeatherBench/ClimaX long names", {}),
    ("ERA5/GRIB short names (cfgrib, CDS)", ERA5),
)


def is_level_prefix(target: str) -> bool:
    """True when ``target`` names a field on pressure levels (``t``) rather than one id (``t2m``)."""
    return target not in VARIABLES and f"{target}{PRESSURE_LEVELS[0]}" in VARIABLES


def level_id(prefix: str, level: float) -> str | None:
    """The registry id of ``prefix`` at ``level`` hPa, or None when the registry lacks that level."""
    if abs(level - round(level)) > 1e-6:
        return None
    vid = f"{prefix}{round(level)}"
    return vid if vid in VARIABLES else None


def target_units(target: str) -> str:
    """Registry units of an id, or of the fields a level prefix names (``t`` -> K)."""
    return VARIABLES[f"{target}{PRESSURE_LEVELS[0]}" if is_level_prefix(target) else target].units


def field_id(name: str, lexicon: dict[str, str]) -> str | None:
    """The id of one 2-D field named ``name``: a surface name (``2m_temperature``) or a
    level field's name with its level (``geopotential_500``); None when unknown."""
    target = lexicon.get(name)
    if target is not None:
        return None if is_level_prefix(target) else target
    stem, _, level = name.rpartition("_")
    target = lexicon.get(stem)
    if target is None or not level.isdigit() or not is_level_prefix(target):
        return None
    return level_id(target, float(level))
