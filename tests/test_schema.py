"""validate() names the variable, the problem and the fix, and changes nothing."""

import numpy as np
import pytest

from climax_nb.data import SchemaError, validate
from tests.conftest import make_canonical


def problems_of(ds):
    with pytest.raises(SchemaError) as info:
        validate(ds)
    assert isinstance(info.value, ValueError)
    return info.value.problems


def test_canonical_dataset_passes_unchanged(canonical):
    before = canonical.copy(deep=True)
    assert validate(canonical) is canonical
    assert canonical.identical(before)


def test_transposed_dims_are_named_with_the_fix(canonical):
    canonical["t850"] = canonical["t850"].transpose("time", "lon", "lat")
    (p,) = problems_of(canonical)
    assert p.variable == "t850"
    assert "('time', 'lon', 'lat')" in p.what and "transpose" in p.fix


def test_descending_latitude(canonical):
    (p,) = problems_of(canonical.isel(lat=slice(None, None, -1)))
    assert p.variable == "lat" and "not ascending" in p.what and "sortby" in p.fix


def test_longitude_in_minus_180_180(canonical):
    shifted = canonical.assign_coords(lon=(canonical.lon + 180) % 360 - 180).sortby("lon")
    (p,) = problems_of(shifted)
    assert p.variable == "lon" and "[0, 360)" in p.what and "canonicalize" in p.fix


def test_missing_coordinate_suggests_rename(canonical):
    renamed = canonical.rename(lat="latitude")
    probs = problems_of(renamed)
    assert probs[0].variable == "lat" and "rename" in probs[0].fix


def test_unknown_id_and_long_name(canonical):
    ds = canonical.rename(z500="geopotential_500", t850="banana")
    found = {p.variable: p for p in problems_of(ds)}
    assert "id 'z500'" in found["geopotential_500"].what
    assert "not a registry id" in found["banana"].what


def test_nan_and_inf_are_counted(canonical):
    canonical["t2m"][0, 3, 4] = np.nan
    canonical["t2m"][1, 3, 4] = np.inf
    (p,) = problems_of(canonical)
    assert p.variable == "t2m" and "2 NaN or infinite" in p.what


def test_uneven_time_steps_name_the_first_bad_time():
    ds = make_canonical(steps=8)
    ds = ds.isel(time=[0, 1, 2, 4, 5, 6, 7])
    (p,) = problems_of(ds)
    assert p.variable == "time" and "2000-01-01T12" in p.what and "allow_gaps" in p.fix
    assert validate(ds, allow_gaps=True) is ds


def test_wrong_units_and_dtype(canonical):
    canonical["z500"].attrs["units"] = "m"
    canonical["t2m"] = canonical["t2m"].astype("float64")
    found = {(p.variable, p.what.split()[0]) for p in problems_of(canonical)}
    assert ("z500", "units") in found and ("t2m", "dtype") in found


def test_equivalent_unit_spellings_are_accepted(canonical):
    canonical["z500"].attrs["units"] = "m**2 s**-2"
    validate(canonical)


def test_constant_with_time_dim_is_refused(canonical):
    canonical["lsm"] = canonical["lsm"].expand_dims(time=canonical.time)
    (p,) = problems_of(canonical)
    assert p.variable == "lsm" and "expected ('lat', 'lon')" in p.what


def test_all_problems_are_reported_at_once(canonical):
    ds = canonical.isel(lat=slice(None, None, -1)).rename(t850="banana")
    ds["t2m"].attrs.pop("units")
    assert len(problems_of(ds)) == 3


def test_not_a_dataset():
    with pytest.raises(TypeError, match="xarray.Dataset"):
        validate(np.zeros(3))


def test_celsius_marked_kelvin_and_metres_marked_geopotential_are_implausible(canonical):
    canonical["t2m"] = canonical["t2m"] - 273.15  # degC under units "K"
    canonical["z500"] = canonical["z500"] / 9.80665  # metres under units "m2 s-2"
    found = {p.variable: p for p in problems_of(canonical)}
    assert set(found) == {"t2m", "z500"}
    assert "outside the plausible 170..350" in found["t2m"].what and "wrong units" in found["t2m"].what
    assert "degC + 273.15" in found["t2m"].fix and "check_ranges=False" in found["t2m"].fix
    assert "metres x 9.80665" in found["z500"].fix


def test_plausible_ranges_can_be_changed_or_switched_off(canonical):
    canonical["t2m"] = canonical["t2m"] - 273.15
    assert validate(canonical, check_ranges=False) is canonical
    assert validate(canonical, ranges={"t2m": (-100.0, 100.0)}) is canonical
    (p,) = problems_of(canonical.assign(t2m=canonical["t2m"] + 273.15 + 200))  # hotter than anywhere on Earth
    assert p.variable == "t2m" and "476.1" in p.what and "484.7" in p.what
    with pytest.raises(ValueError, match="low < high"):
        validate(canonical, ranges={"t2m": (10.0, -10.0)})


def test_ranges_are_read_only_with_the_values(canonical):
    """check_values=False reads no data, so it checks no range either (lazy stores stay lazy)."""
    canonical["t2m"] = canonical["t2m"] - 273.15
    assert validate(canonical, check_values=False) is canonical


def test_every_registry_variable_with_a_range_is_bounded_sensibly():
    from climax_nb.data.ranges import PLAUSIBLE
    from climax_nb.variables import VARIABLES

    assert set(PLAUSIBLE) == set(VARIABLES)
    heights = [PLAUSIBLE[f"z{level}"] for level in (925, 850, 700, 600, 500, 250, 50)]
    assert all(lo < hi for lo, hi in heights)
    assert [lo for lo, _ in heights] == sorted(lo for lo, _ in heights)  # geopotential grows upwards


def test_pixel_index_coordinates_are_not_degrees():
    ds = make_canonical(steps=2)
    ds = ds.assign_coords(lat=np.arange(ds.sizes["lat"], dtype=float), lon=np.arange(ds.sizes["lon"], dtype=float))
    (p,) = problems_of(ds)
    assert p.variable == "lat/lon" and "pixel indices" in p.what and "0..31 and 0..63" in p.what
    assert "assign_coords" in p.fix
    assert validate(ds, check_ranges=False) is ds


def test_coordinates_in_other_units_are_named(canonical):
    canonical["lon"].attrs["units"] = "radians"
    (p,) = problems_of(canonical)
    assert p.variable == "lon" and "radians" in p.what
    canonical["lon"].attrs["units"] = "degrees_E"
    assert validate(canonical) is canonical
