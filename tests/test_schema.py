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
