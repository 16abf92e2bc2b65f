"""The fine embedded source of downscaling (``t42`` on 2.8125 deg) and its coarsened copy.

One session fixture simulates 2 days of ``t42`` without spin-up in 1-day chunks
(so the store is appended to), which is enough for the layout, the cache and the
conservation of the coarsening; its physics is the same SPEEDY as the other
sources' (tests/test_embedded.py).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from climax_nb.data import embedded
from climax_nb.data.embedded import api, cache
from climax_nb.data.embedded.configs import SOURCES, SourceConfig, get_config
from climax_nb.data.schema import validate
from climax_nb.grid import WB2812, WB5625

DAYS, CHUNK_DAYS = 2, 1
CONFIG = dataclasses.replace(get_config("t42"), spinup_days=0)


# --- configuration: no simulation ------------------------------------------------------


def test_t42_is_the_fine_source_and_not_in_the_default_set():
    cfg = get_config("t42")
    assert cfg.truncation == 42 and cfg.grid_resolution == 2.8125
    assert cfg.grid.shape == (64, 128)
    assert not cfg.in_default_set and not cfg.held_out
    assert all(c.in_default_set for name, c in SOURCES.items() if name != "t42" and not name.startswith("scenario-"))
    assert "s per simulated day" in cfg.description


def test_cli_default_sources_leave_out_the_downscaling_source():
    from climax_nb.cli import DataOptions

    chosen = DataOptions().sources()
    assert "t42" not in chosen and {"reanalysis", "warm-sst", "fast-convection", "t31"} <= set(chosen)
    assert DataOptions(source=("t42",)).sources() == ["t42"]


def test_the_output_grid_is_hashed_but_existing_hashes_are_unchanged():
    # the hashes of the stores written before grid_resolution existed
    pinned = {
        "reanalysis": "54a43092e0503ea9",
        "warm-sst": "5f6c4d6ead74e4d1",
        "fast-convection": "00483bd2f96228f1",
        "t31": "9088c1490a5c0d37",
    }
    assert {name: get_config(name).config_hash() for name in pinned} == pinned
    assert "grid_resolution" not in get_config("reanalysis").hashed_fields()
    cfg = get_config("t42")
    assert cfg.hashed_fields()["grid_resolution"] == 2.8125
    assert dataclasses.replace(cfg, grid_resolution=5.625).config_hash() != cfg.config_hash()
    assert dataclasses.replace(cfg, in_default_set=True).config_hash() == cfg.config_hash()


@pytest.mark.parametrize(
    ("truncation", "resolution", "match"),
    [
        (42, 3.0, r"no WeatherBench grid at 3.0 degrees; set grid_resolution to one of"),
        (21, 2.8125, r"finer than T21 resolves.*grid_resolution >= 5.625 or truncation >= 42"),
        (31, 2.8125, r"finer than T31 resolves.*grid_resolution >= 3.75 or truncation >= 42"),
        (42, 1.40625, r"finer than T42 resolves.*grid_resolution >= 2.8125 or truncation >= 85"),
        (40, 5.625, r"jcm has no T40 grid; choose a truncation among"),
    ],
)
def test_bad_grid_requests_are_refused_with_the_fix(truncation, resolution, match):
    with pytest.raises(ValueError, match=match):
        SourceConfig(name="x", variables=("t2m",), truncation=truncation, grid_resolution=resolution)


def test_coarser_sources_and_grids_are_refused_for_downscaling(tmp_path):
    with pytest.raises(ValueError, match="finer grid_resolution, such as embedded/t42"):
        embedded.perfect_model_pair("reanalysis", cache_dir=tmp_path)


# --- a short real T42 run ----------------------------------------------------------------


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("climax_nb_t42")
    embedded.generate(CONFIG, length=DAYS, cache_dir=root, chunk_days=CHUNK_DAYS, progress=False)
    return root


@pytest.fixture(scope="module")
def fine(cache_dir):
    return embedded.open_source(CONFIG, length=DAYS, cache_dir=cache_dir, progress=False).load()


@pytest.fixture
def no_simulation(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the GCM ran although a valid cache exists")

    monkeypatch.setattr(api, "Simulation", refuse)


@pytest.mark.gcm
def test_t42_is_canonical_on_the_fine_grid(fine):
    validate(fine, check_values=True)
    assert list(fine.data_vars) == [v for v in CONFIG.variables if v != "lat"]
    assert fine.sizes == {"time": 4 * DAYS, "lat": 64, "lon": 128}
    assert np.all(np.diff(fine["lat"].values) > 0)
    np.testing.assert_array_equal(fine["lat"].values, WB2812.lat)
    np.testing.assert_array_equal(fine["lon"].values, WB2812.lon)
    assert fine["lon"].values[0] == 0.0 and fine["lon"].values[-1] == 357.1875
    assert fine["t2m"].dims == ("time", "lat", "lon") and fine["lsm"].dims == ("lat", "lon")
    assert fine["time"].values[0] == np.datetime64("1990-01-01T00:00")
    assert np.all(np.diff(fine["time"].values) == np.timedelta64(6, "h"))
    # the fine grid carries the model's own structure: tropics warmer than the poles, land in the north
    zonal = fine["t2m"].mean(("time", "lon"))
    assert float(zonal.sel(lat=slice(-20, 20)).mean()) > float(zonal.where(abs(zonal["lat"]) > 65).mean()) + 20
    assert float(fine["lsm"].sel(lat=slice(30, 60)).mean()) > float(fine["lsm"].sel(lat=slice(-60, -30)).mean())


@pytest.mark.gcm
def test_t42_is_cached_and_reread(cache_dir, fine, no_simulation):
    manifest = cache.read_manifest(cache.source_dir("t42", cache_dir))
    assert manifest["config_hash"] == CONFIG.config_hash() and manifest["days"] == DAYS
    assert manifest["config"]["grid_resolution"] == 2.8125
    again = embedded.open_source(CONFIG, length=DAYS, cache_dir=cache_dir, progress=False)
    assert again.attrs["config_hash"] == CONFIG.config_hash()
    np.testing.assert_array_equal(again["z500"].values, fine["z500"].values)
    one_day = embedded.open_source(CONFIG, length=1, cache_dir=cache_dir, progress=False)
    assert one_day.sizes["time"] == 4
    # the same configuration on the default grid is another store
    coarse_cfg = dataclasses.replace(CONFIG, grid_resolution=5.625)
    assert cache.stale_reason(cache.source_dir("t42", cache_dir), coarse_cfg, DAYS).startswith("configuration changed")


@pytest.mark.gcm
def test_coarsened_t42_is_on_the_coarse_grid_and_conserves_the_global_mean(cache_dir, fine, no_simulation):
    coarse, target = embedded.perfect_model_pair(CONFIG, length=DAYS, cache_dir=cache_dir, progress=False)
    coarse = coarse.load()
    validate(coarse, check_values=True)
    assert coarse.sizes == {"time": 4 * DAYS, "lat": 32, "lon": 64}
    np.testing.assert_array_equal(coarse["lat"].values, WB5625.lat)
    np.testing.assert_array_equal(coarse["lon"].values, WB5625.lon)
    np.testing.assert_array_equal(coarse["time"].values, target["time"].values)
    assert list(coarse.data_vars) == list(target.data_vars)
    w_fine, w_coarse = WB2812.area_weights()[:, None], WB5625.area_weights()[:, None]
    for name in fine.data_vars:
        f = fine[name].values.astype(np.float64)
        c = coarse[name].values.astype(np.float64)
        mean_f = (f * w_fine).mean(axis=(-2, -1))
        mean_c = (c * w_coarse).mean(axis=(-2, -1))
        scale = np.abs(f).max() + 1e-30
        np.testing.assert_allclose(mean_c, mean_f, rtol=0, atol=1e-6 * scale, err_msg=name)
    # a coarse cell is the area-weighted mean of the fine cells it covers: both grids have a cell
    # centred on 0 deg, so the first coarse cell spans fine column 0 and halves of columns 127 and 1
    f = fine["t850"].values[0].astype(np.float64)
    w = WB2812.area_weights()
    rows = (f[:2] * w[:2, None]).sum(axis=0) / w[:2].sum()
    cell = (0.5 * rows[127] + rows[0] + 0.5 * rows[1]) / 2
    assert float(coarse["t850"].values[0, 0, 0]) == pytest.approx(cell, rel=1e-6)


@pytest.mark.gcm
def test_coarsen_refuses_a_grid_that_is_not_coarser(fine):
    with pytest.raises(ValueError, match="not coarser than the dataset's"):
        embedded.coarsen(fine, WB2812)
