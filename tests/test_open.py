"""open_dataset on canonical NetCDF and zarr files written by the test."""

import pytest

from climax_nb.data import NotInSourceError, SchemaError, open_dataset
from tests.conftest import make_canonical


@pytest.fixture
def two_years(tmp_path):
    ds = make_canonical(steps=12, start="2000-12-31T00")  # spans 2000 and 2001
    nc, zr = tmp_path / "d.nc", tmp_path / "d.zarr"
    ds.to_netcdf(nc)
    ds.to_zarr(zr)
    return ds, nc, zr


@pytest.mark.parametrize("which", ["nc", "zarr"])
def test_opens_and_selects(two_years, which):
    ds, nc, zr = two_years
    path = str(nc if which == "nc" else zr)
    got = open_dataset(path, variables=["t850", "geopotential_500"], years=[2001])
    assert list(got.data_vars) == ["t850", "z500"]
    assert set(got.time.dt.year.values) == {2001}
    assert got.sizes["time"] == 8


def test_missing_variable_lists_what_the_source_has(two_years):
    _, nc, _ = two_years
    with pytest.raises(NotInSourceError, match="no variable.*q700.*it has: z500, t850, t2m, lsm"):
        open_dataset(str(nc), variables=["q700"])


def test_missing_year_lists_years(two_years):
    _, nc, _ = two_years
    with pytest.raises(NotInSourceError, match=r"no year\(s\) \[1999\].*\[2000, 2001\]"):
        open_dataset(str(nc), years=[1999])


def test_non_canonical_file_is_refused_then_standardized(tmp_path):
    ds = make_canonical().isel(lat=slice(None, None, -1))
    path = tmp_path / "flipped.nc"
    ds.to_netcdf(path)
    with pytest.raises(SchemaError, match="not ascending"):
        open_dataset(str(path))
    assert open_dataset(str(path), standardize=True).lat.values[0] < 0


def test_unknown_format_and_missing_path(tmp_path):
    with pytest.raises(ValueError, match="cannot tell the format"):
        open_dataset(str(tmp_path / "x.grib2"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        open_dataset(str(tmp_path / "missing.nc"))


def test_corrupt_file_names_the_file(tmp_path):
    path = tmp_path / "broken.nc"
    path.write_bytes(b"not a netcdf file")
    with pytest.raises(OSError, match="broken.nc"):
        open_dataset(str(path))


def test_embedded_options_reach_the_source(monkeypatch):
    from climax_nb.data import embedded

    seen = {}

    def fake(name, years=None, **options):
        seen.update(name=name, years=years, **options)
        return make_canonical(steps=4)

    monkeypatch.setattr(embedded, "open_source", fake)
    open_dataset("embedded/reanalysis", length=3, cache_dir="/tmp/c")
    assert seen == {"name": "reanalysis", "years": None, "length": 3, "cache_dir": "/tmp/c"}
    with pytest.raises(TypeError, match="not 'embedded'"):
        open_dataset("embedded/reanalysis", resolution=5.625)
