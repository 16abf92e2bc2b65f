import pytest

from climax_nb.variables import (
    CLIMAX_DEFAULT_IDS,
    CLIMAX_DEFAULT_VARS,
    PRESSURE_LEVELS,
    VARIABLES,
    UnknownVariableError,
    by_kind,
    resolve,
    to_id,
)


def test_climax_default_vars_are_the_released_48_in_order():
    assert len(CLIMAX_DEFAULT_VARS) == 48
    assert CLIMAX_DEFAULT_VARS[:6] == (
        "land_sea_mask",
        "orography",
        "lattitude",
        "2m_temperature",
        "10m_u_component_of_wind",
        "10m_v_component_of_wind",
    )
    assert CLIMAX_DEFAULT_VARS[6] == "geopotential_50"
    assert CLIMAX_DEFAULT_VARS[-1] == "specific_humidity_925"
    assert CLIMAX_DEFAULT_IDS[:4] == ("lsm", "orography", "lat", "t2m")
    assert CLIMAX_DEFAULT_IDS[-1] == "q925"


def test_every_default_var_resolves_to_a_distinct_id():
    assert len(set(CLIMAX_DEFAULT_IDS)) == 48


@pytest.mark.parametrize(
    ("name", "vid", "units", "kind", "level"),
    [
        ("z500", "z500", "m2 s-2", "level", 500),
        ("geopotential_500", "z500", "m2 s-2", "level", 500),
        ("temperature_850", "t850", "K", "level", 850),
        ("lattitude", "lat", "degrees_north", "constant", None),
        ("latitude", "lat", "degrees_north", "constant", None),
        ("2m_temperature", "t2m", "K", "surface", None),
        ("toa_incident_solar_radiation", "tisr", "J m-2", "forcing", None),
        ("total_precipitation", "tp6h", "m", "surface", None),
    ],
)
def test_resolve_by_id_long_name_and_alias(name, vid, units, kind, level):
    var = resolve(name)
    assert (var.id, var.units, var.kind, var.level) == (vid, units, kind, level)


def test_unknown_name_says_what_to_use():
    with pytest.raises(UnknownVariableError, match="unknown variable 'z501'.*z500"):
        to_id("z501")
    with pytest.raises(ValueError):
        resolve("banana")


def test_levels_cover_50_to_925_for_each_field():
    for prefix in "ztuvqr":
        assert [VARIABLES[f"{prefix}{lev}"].level for lev in PRESSURE_LEVELS] == list(PRESSURE_LEVELS)
    assert set(by_kind("constant")) == {"lsm", "orography", "lat"}
