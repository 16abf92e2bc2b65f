"""Normalisation statistics: streaming moments against numpy over several years, and the Normalizer."""

import numpy as np
import pytest
import torch
import xarray as xr

from climax_nb.data.select import NotInSourceError
from climax_nb.data.stats import (
    MissingStatsError,
    Moments,
    Normalizer,
    ZeroStdError,
    compute_moments,
    compute_stats,
)
from climax_nb.variables import UnknownVariableError
from tests.conftest import make_canonical


@pytest.fixture(scope="module")
def years3():
    """Three years (2000 is leap) of 6-hourly data whose mean drifts from year to year."""
    ds = make_canonical(ids=("z500", "t2m", "lsm"), steps=4 * 1096, start="2000-01-01")
    drift = (ds["time"].dt.year - 2000).astype("float32") * 7.0
    ds["z500"] = (ds["z500"] * 50 + drift).astype("float32").assign_attrs(ds["z500"].attrs)
    return ds


def test_moments_merge_is_exact_for_any_split():
    rng = np.random.default_rng(1)
    x = rng.normal(3e4, 50, size=10_001)
    cuts = np.sort(rng.choice(len(x), size=7, replace=False))
    total = Moments()
    for part in np.split(x, cuts):
        total = total.merge(Moments.of(part))
    assert total.count == x.size
    assert total.mean == pytest.approx(x.mean(), rel=1e-12)
    assert total.std == pytest.approx(x.std(), rel=1e-10)


def test_moments_skip_nan_and_empty():
    assert Moments.of(np.array([1.0, np.nan, 3.0])) == Moments(2, 2.0, 2.0)
    assert Moments().merge(Moments.of(np.array([np.nan]))).count == 0


def test_stats_over_all_years_match_numpy(years3):
    stats = compute_stats(years3, chunk_size=333)
    for vid in ("z500", "t2m", "lsm"):
        values = years3[vid].values.astype(np.float64)
        assert stats.mean[vid] == pytest.approx(values.mean(), rel=1e-6)
        assert stats.std[vid] == pytest.approx(values.std(), rel=1e-6)
    assert stats.years == (2000, 2001, 2002)
    last_year = years3["z500"].sel(time="2002").values.astype(np.float64)
    assert abs(stats.mean["z500"] - last_year.mean()) > 5  # not the last year's statistics


def test_stats_combine_exactly_across_years_and_chunkings(years3):
    whole = compute_moments(years3, ["z500"], chunk_size=10_000)["z500"]
    by_year = Moments()
    for year in (2000, 2001, 2002):
        by_year = by_year.merge(compute_moments(years3, ["z500"], years=year, chunk_size=77)["z500"])
    assert by_year.count == whole.count
    assert by_year.mean == pytest.approx(whole.mean, rel=1e-12)
    assert by_year.std == pytest.approx(whole.std, rel=1e-10)


def test_stats_use_training_years_only(years3):
    stats = compute_stats(years3, ["z500"], years=[2000, 2001])
    train = years3["z500"].sel(time=slice("2000", "2001")).values.astype(np.float64)
    assert stats.mean["z500"] == pytest.approx(train.mean(), rel=1e-6)
    assert stats.std["z500"] == pytest.approx(train.std(), rel=1e-6)
    assert stats.years == (2000, 2001)


def test_stats_from_lazy_zarr_equal_in_memory(tmp_path):
    ds = make_canonical(ids=("t850", "t2m", "orography"), steps=40)
    mixed = xr.merge([ds[["t850", "orography"]].chunk({"time": 7}), ds[["t2m"]].chunk({"time": 5})])
    mixed.to_zarr(tmp_path / "d.zarr", consolidated=False)
    lazy = xr.open_zarr(tmp_path / "d.zarr", consolidated=False)  # time chunks differ between variables
    a, b = compute_stats(ds), compute_stats(lazy)
    assert a.mean == pytest.approx(b.mean, rel=1e-12) and a.std == pytest.approx(b.std, rel=1e-12)


def test_latitude_field_stats_come_from_the_coordinate():
    ds = make_canonical(ids=("t2m",), steps=2)
    stats = compute_stats(ds, ["lat", "t2m"])
    assert stats.mean["lat"] == pytest.approx(0.0, abs=1e-9)
    assert stats.std["lat"] == pytest.approx(np.std(ds["lat"].values), rel=1e-6)


def test_zero_std_raises_unless_min_std():
    ds = make_canonical(ids=("t2m", "lsm"), steps=3)
    ds["lsm"] = ds["lsm"] * 0 + 1
    with pytest.raises(ZeroStdError, match="lsm has zero standard deviation.*min_std"):
        compute_stats(ds)
    stats = compute_stats(ds, min_std=1e-3)
    assert stats.std["lsm"] == 1e-3 and stats.mean["lsm"] == 1.0


def test_bad_variables_are_named():
    ds = make_canonical(ids=("t2m",), steps=3)
    with pytest.raises(UnknownVariableError, match="unknown variable 'nope'"):
        compute_stats(ds, ["nope"])
    with pytest.raises(NotInSourceError, match="no variable.*z500.*it has: t2m"):
        compute_stats(ds, ["z500"])


@pytest.fixture
def norm():
    return Normalizer({"z500": 5e4, "t2m": 280.0}, {"z500": 3e3, "t2m": 20.0}, years=(2000,))


def test_normalize_tensor_array_and_dataset_round_trip(norm):
    x = torch.tensor([5.3e4, 300.0]).reshape(1, 2, 1, 1).expand(3, 2, 4, 8)
    z = norm.normalize(x, ["z500", "t2m"])
    assert torch.allclose(z[:, 0], torch.tensor(1.0)) and torch.allclose(z[:, 1], torch.tensor(1.0))
    assert torch.allclose(norm.denormalize(z, ["z500", "t2m"]), x)
    arr = np.full((2, 4, 8), 260.0, dtype=np.float32)
    assert np.allclose(norm.normalize(arr, ["t2m", "t2m"]), -1.0)
    ds = make_canonical(ids=("t2m",), steps=2)
    nds = norm.normalize(ds)
    assert np.allclose(nds["t2m"].values, (ds["t2m"].values - 280) / 20, atol=1e-5)
    assert nds["t2m"].attrs["units"] == "K"
    assert np.allclose(norm.denormalize(nds)["t2m"].values, ds["t2m"].values, atol=1e-3)


def test_normalize_errors_are_clear(norm):
    with pytest.raises(MissingStatsError, match="no statistics for q700.*cover z500, t2m"):
        norm.normalize(torch.zeros(1, 4, 4), ["q700"])
    with pytest.raises(ValueError, match="dimension -3 with size 2"):
        norm.normalize(torch.zeros(3, 4, 4), ["z500", "t2m"])
    with pytest.raises(ValueError, match="pass the variable ids"):
        norm.normalize(torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="same variables"):
        Normalizer({"z500": 1.0}, {"t2m": 1.0})


def test_dict_survives_a_weights_only_checkpoint(norm, tmp_path):
    torch.save({"normalizer": norm.to_dict()}, tmp_path / "ckpt.pt")
    back = Normalizer.from_dict(torch.load(tmp_path / "ckpt.pt", weights_only=True)["normalizer"])
    assert back == norm


def test_json_save_and_load(norm, tmp_path):
    path = norm.save(tmp_path / "data.zarr.stats.json")
    assert Normalizer.load(path) == norm
    with pytest.raises(FileNotFoundError, match="compute_stats"):
        Normalizer.load(tmp_path / "missing.json")


def test_fingerprint_tells_data_apart_and_ignores_laziness(tmp_path):
    from climax_nb.data.fields import fingerprint

    ds = make_canonical(steps=8)
    ds.to_zarr(tmp_path / "d.zarr")
    lazy = xr.open_zarr(tmp_path / "d.zarr")
    assert fingerprint(ds) == fingerprint(lazy) and len(fingerprint(ds)) == 12
    nudged = ds.copy(deep=True)
    nudged["z500"].values[-1, 0, 0] += 1.0  # one value of the last step
    assert fingerprint(nudged) != fingerprint(ds)
    assert fingerprint(ds.isel(time=slice(1, None))) != fingerprint(ds)
