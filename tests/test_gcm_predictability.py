"""The embedded GCM's own forecasts: layout, an exact re-run, the twin's error growth, the analysis start.

One module fixture simulates a small ``reanalysis`` variant (4 days of spin-up, 8 days of data in
4-day chunks) and forecasts it from two initial times to 6 h - 4 days, both kinds, with the
default perturbation and with none.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

from climax_nb.data import embedded
from climax_nb.data.embedded import cache
from climax_nb.data.embedded.configs import get_config
from climax_nb.data.embedded.predictability import (
    GCMForecaster,
    analysis_state,
    forecast_variables,
    gcm_forecasts,
)
from climax_nb.data.embedded.simulate import NativeGrid
from climax_nb.data.schema import validate
from climax_nb.forecast import LeadTimeError, open_forecast, save_forecast
from climax_nb.grid import WB5625
from climax_nb.metrics.align import check_forecast
from climax_nb.variables import VARIABLES

pytestmark = pytest.mark.gcm  # runs the embedded GCM (jcm)

SPINUP_DAYS, DAYS, CHUNK_DAYS = 4, 8, 4  # the longest lead is one chunk: one program less to compile
CONFIG = dataclasses.replace(get_config("reanalysis"), spinup_days=SPINUP_DAYS)
INITS = np.array(["2000-01-02T00", "2000-01-03T06"], dtype="datetime64[ns]")
LEADS = (6, 12, 24, 48, 96)
TARGETS = ("z500", "t850", "t2m", "u10")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("gcm_cache")
    embedded.generate(CONFIG, length=DAYS, cache_dir=root, chunk_days=CHUNK_DAYS, progress=False)
    return root


@pytest.fixture(scope="module")
def forecaster(root):
    return GCMForecaster(CONFIG, length=DAYS, cache_dir=root, chunk_days=CHUNK_DAYS, progress=False)


@pytest.fixture(scope="module")
def pair(forecaster):
    return forecaster.forecasts(INITS, LEADS)


@pytest.fixture(scope="module")
def exact(forecaster):
    fc = forecaster.forecasts(INITS, LEADS, kinds="twin", perturbation=0.0)["gcm-twin"]
    return fc, forecaster.rerun_check


@pytest.fixture(scope="module")
def data(forecaster):
    return forecaster.data.load()


def rmse(fc: xr.Dataset, data: xr.Dataset, vid: str) -> np.ndarray:
    """Root-mean-square error over initial times and cells, per lead (plain means: a tiny sample)."""
    truth = data[vid].sel(time=fc["valid_time"])
    return np.sqrt(((fc[vid] - truth) ** 2).mean(("init_time", "lat", "lon"))).values


def persistence_rmse(fc: xr.Dataset, data: xr.Dataset, vid: str) -> np.ndarray:
    truth = data[vid].sel(time=fc["valid_time"])
    start = data[vid].sel(time=fc["init_time"])
    return np.sqrt(((truth - start) ** 2).mean(("init_time", "lat", "lon"))).values


def test_both_kinds_are_forecasts_in_the_package_layout(pair, tmp_path):
    assert list(pair) == ["gcm-twin", "gcm-analysis"]
    for name, fc in pair.items():
        check_forecast(fc)
        assert list(fc.data_vars) == list(forecast_variables(CONFIG))
        assert {"z500", "t850", "t2m", "u10", "tp6h", "q700", "r850"} <= set(fc.data_vars)
        np.testing.assert_array_equal(fc["init_time"].values, INITS)
        np.testing.assert_array_equal(fc["lead_time"].values, [np.timedelta64(h, "h") for h in LEADS])
        np.testing.assert_array_equal(fc["valid_time"].values, INITS[:, None] + fc["lead_time"].values[None])
        np.testing.assert_array_equal(fc["lat"].values, WB5625.lat)
        np.testing.assert_array_equal(fc["lon"].values, WB5625.lon)
        assert fc.attrs["forecast"] == name and fc.attrs["source"] == "embedded/reanalysis"
        for vid, da in fc.data_vars.items():
            assert da.dims == ("init_time", "lead_time", "lat", "lon")
            assert da.dtype == np.float32 and da.attrs["units"] == VARIABLES[vid].units
        for i in range(fc.sizes["init_time"]):  # each initial time's frames are a valid canonical dataset
            frames = fc.isel(init_time=i).swap_dims(lead_time="valid_time")
            frames = frames.drop_vars(["init_time", "lead_time"]).rename(valid_time="time")
            validate(frames, check_values=True, check_ranges=False, allow_gaps=True)  # leads are uneven
        path = save_forecast(fc, tmp_path / f"{name}.nc")
        back = open_forecast(path)
        xr.testing.assert_identical(back.drop_attrs(), fc.drop_attrs())


def test_the_rerun_and_an_unperturbed_twin_reproduce_the_data(exact, data):
    fc, check = exact
    assert check.identical, check.summary()
    assert check.frames == int((INITS[-1] - INITS[0]) / np.timedelta64(6, "h")) + 1
    assert "identical" in fc.attrs["rerun_check"] and fc.attrs["perturbation_K"] == 0.0
    truth = data[list(fc.data_vars)].sel(time=fc["valid_time"])
    for vid in fc.data_vars:
        if vid == "tp6h":  # accumulated from the branch, not from the chunk start: float32 round-off only
            np.testing.assert_allclose(fc[vid].values, truth[vid].values, rtol=0, atol=1e-7)
        else:
            np.testing.assert_array_equal(fc[vid].values, truth[vid].values, err_msg=vid)


def test_a_twin_after_a_restart_starts_there_and_still_reproduces_the_data(root, forecaster, data):
    folder = cache.source_dir(CONFIG.name, root)
    restarts = cache.restart_times(folder)  # one per output chunk's end, the last (the data's end) left out
    np.testing.assert_array_equal(restarts, np.array(["2000-01-04T18", "2000-01-08T18"], dtype="datetime64[ns]"))
    late = np.array(["2000-01-06T00"], dtype="datetime64[ns]")
    assert forecaster._restart_time(late[0]) == restarts[0]  # 30 h re-run instead of 9 days
    fc = forecaster.forecasts(late, (6, 24), kinds="twin", perturbation=0.0)["gcm-twin"]
    assert forecaster.rerun_check.identical, forecaster.rerun_check.summary()
    truth = data["z500"].sel(time=fc["valid_time"])
    np.testing.assert_array_equal(fc["z500"].values, truth.values)


def test_the_twin_starts_close_and_drifts_away(pair, data):
    twin = pair["gcm-twin"]
    for vid in TARGETS:
        error, persistence = rmse(twin, data, vid), persistence_rmse(twin, data, vid)
        assert np.all(error > 0), vid
        assert error[0] < 0.25 * persistence[0], (vid, error, persistence)
        if vid != "t2m":  # near-surface temperature is held by the surface: it grows later
            assert error[-1] > error[0], (vid, error)
    z500 = rmse(twin, data, "z500")  # two initial times: the growth need not be monotonic lead by lead
    assert z500.argmin() == 0 and z500.argmax() == len(z500) - 1, z500


def test_the_analysis_start_stays_close_to_the_analysis(pair, data):
    analysis = pair["gcm-analysis"]
    for vid in TARGETS:
        error, persistence = rmse(analysis, data, vid), persistence_rmse(analysis, data, vid)
        assert error[0] < persistence[2], (vid, error, persistence)  # 6 h error below the data's 1-day change
        assert error[-1] < persistence[-1], (vid, error, persistence)
    # a coarse start is worse than the exact one, at every lead
    assert np.all(rmse(analysis, data, "z500") > rmse(pair["gcm-twin"], data, "z500"))


def test_the_analysis_state_is_the_model_state_to_within_interpolation(forecaster, data):
    t0, true = next(forecaster.model_states(INITS[:1]))
    assert t0 == INITS[0]
    guess = analysis_state(data.sel(time=INITS[0]), forecaster.grid)
    t = np.asarray(true.temperature)
    level_rms = np.sqrt(((guess["temperature"] - t) ** 2).mean(axis=(1, 2)))
    assert level_rms.max() < 3.5 and level_rms[-3:].max() < 1.0, level_rms  # worst near the tropopause
    ps = np.asarray(true.normalized_surface_pressure) * 1e5
    assert np.sqrt(np.mean((guess["normalized_surface_pressure"] * 1e5 - ps) ** 2)) < 600.0
    for name in ("u_wind", "v_wind"):
        assert np.sqrt(np.mean((guess[name] - np.asarray(getattr(true, name))) ** 2)) < 3.5, name


def test_analysis_interpolation_is_exact_for_a_log_linear_atmosphere():
    lat, lon = np.linspace(-80, 80, 8), np.arange(0, 360, 22.5)
    grid = NativeGrid(lat, lon, np.array([0.1, 0.3, 0.6, 0.9]), np.array([0, 0.2, 0.45, 0.75, 1.0]),
                      orography=np.zeros((8, 16)), land_fraction=np.zeros((8, 16)))

    class Identity:
        def __call__(self, field):
            return np.asarray(field, dtype=np.float64)

    levels = (50, 250, 500, 600, 700, 850, 925)
    ps = np.full((8, 16), 1.0e5)
    fields = {"sp": ps, "t2m": 220 + 10 * np.log(0.99 * ps / 5000.0), "orography": np.zeros((8, 16)),
              "u10": np.full((8, 16), 0.95 * (3 + np.log(0.9e5 / 5000.0))), "v10": np.full((8, 16), 0.95 * -2.0)}
    for lev in levels:
        x = np.log(100.0 * lev / 5000.0)
        fields.update({f"t{lev}": np.full((8, 16), 220 + 10 * x), f"u{lev}": np.full((8, 16), 3 + x),
                       f"v{lev}": np.full((8, 16), -2.0), f"q{lev}": np.full((8, 16), 1e-3 * x)})
    frame = xr.Dataset({k: (("lat", "lon"), v) for k, v in fields.items()})
    state = analysis_state(frame, grid, Identity())
    x = np.log(grid.sigma * 1.0e5 / 5000.0)
    np.testing.assert_allclose(state["temperature"][:, 0, 0], 220 + 10 * x, rtol=1e-6)
    np.testing.assert_allclose(state["u_wind"][:, 0, 0], 3 + x, rtol=1e-6)
    np.testing.assert_allclose(state["v_wind"], -2.0, rtol=1e-6)
    above = grid.sigma * 1.0e5 <= 92500.0  # q is held below the lowest pressure level
    np.testing.assert_allclose(state["specific_humidity"][above, 0, 0], 1e-3 * x[above], rtol=1e-5)
    np.testing.assert_allclose(state["normalized_surface_pressure"], 1.0)


def test_the_perturbation_is_seeded_per_initial_time_and_sized(forecaster):
    import jax.numpy as jnp

    first = np.asarray(forecaster.temperature_perturbation(INITS[0], 0.1, seed=0))
    np.testing.assert_array_equal(first, np.asarray(forecaster.temperature_perturbation(INITS[0], 0.1, seed=0)))
    assert not np.array_equal(first, np.asarray(forecaster.temperature_perturbation(INITS[1], 0.1, seed=0)))
    assert not np.array_equal(first, np.asarray(forecaster.temperature_perturbation(INITS[0], 0.1, seed=1)))
    nodal = np.asarray(forecaster.sim.model.coords.horizontal.to_nodal(jnp.asarray(first)))
    assert np.sqrt(np.mean(nodal**2)) == pytest.approx(0.1, rel=1e-3)


def test_one_kind_alone_gives_the_same_forecast(root, pair):
    alone = gcm_forecasts(INITS[1:], [6], kind="analysis", source=CONFIG, length=DAYS, cache_dir=root,
                          chunk_days=CHUNK_DAYS, progress=False, variables=list(TARGETS))
    both = pair["gcm-analysis"][list(TARGETS)].isel(init_time=[1], lead_time=[0])
    xr.testing.assert_identical(alone.drop_attrs(), both.drop_attrs())


def test_bad_requests_are_refused_before_any_run(forecaster):
    with pytest.raises(LeadTimeError, match="multiples"):
        forecaster.forecasts(INITS, [5])
    with pytest.raises(ValueError, match="outside the data"):
        forecaster.forecasts(np.array(["1999-12-31T00"], dtype="datetime64[ns]"), [6])
    with pytest.raises(ValueError, match="6-hourly"):
        forecaster.forecasts(np.array(["2000-01-02T03"], dtype="datetime64[ns]"), [6])
    with pytest.raises(ValueError, match="unique and ascending"):
        forecaster.forecasts(INITS[::-1], [6])
    with pytest.raises(ValueError, match="unknown GCM forecast kind"):
        forecaster.forecasts(INITS, [6], kinds="ensemble")
    with pytest.raises(ValueError, match="forecasts no"):
        forecaster.forecasts(INITS, [6], variables=["lsm"])
    with pytest.raises(ValueError, match="perturbation"):
        forecaster.forecasts(INITS, [6], perturbation=-0.1)
    with pytest.raises(ValueError, match="regrid it first"):
        forecaster.forecasts(INITS, [6], kinds="analysis", analysis=forecaster.data.isel(lat=slice(0, 16)))
    with pytest.raises(ValueError, match="chunk_days"):
        GCMForecaster(CONFIG, length=DAYS, cache_dir=forecaster.cache_dir, chunk_days=3, progress=False)


def test_initial_times_split_among_processes_give_the_same_forecasts(root, pair):
    from climax_nb.data.embedded.predictability import gcm_forecast_pair

    split = gcm_forecast_pair(INITS, LEADS, source=CONFIG, length=DAYS, cache_dir=root, chunk_days=CHUNK_DAYS,
                              progress=False, workers=2)
    assert list(split) == list(pair)
    for name in pair:
        xr.testing.assert_identical(split[name].drop_attrs(), pair[name].drop_attrs())
    blocks = split["gcm-twin"].attrs["rerun_check"].split("; ")
    assert [b.split(":")[0] for b in blocks] == ["initial times 2000-01-02T00 to 2000-01-02T00",
                                                 "initial times 2000-01-03T06 to 2000-01-03T06"]
    assert all("identical" in b for b in blocks)
    with pytest.raises(ValueError, match=r"workers is a number of processes \(a positive integer\), got 0"):
        gcm_forecast_pair(INITS, LEADS, source=CONFIG, length=DAYS, cache_dir=root, workers=0)


def test_the_scorecards_gcm_rows_beat_persistence_and_are_made_once(root, data, tmp_path, monkeypatch):
    from climax_nb import workflow
    from climax_nb.data.embedded import predictability
    from climax_nb.evaluate import score

    options = dict(variables=list(TARGETS), length=DAYS, progress=False, source=CONFIG, cache_dir=root,
                   chunk_days=CHUNK_DAYS)
    gcm = workflow.gcm_forecasts(INITS, LEADS, tmp_path / "gcm", **options)  # what the main job and tutorial call
    assert list(gcm) == list(workflow.GCM_ROWS)
    card = score(gcm, data, None, baselines=("persistence",), metrics=("rmse",))
    assert [str(m) for m in card["model"].values] == ["gcm-analysis", "gcm-twin", "persistence"]
    rmse = card.sel(metric="rmse")
    for vid in TARGETS:
        assert np.isfinite(rmse[vid].values).all(), vid
        first = rmse[vid].isel(lead_time=0)
        assert float(first.sel(model="gcm-twin")) < float(first.sel(model="persistence")), vid
        assert float(first.sel(model="gcm-twin")) < float(first.sel(model="gcm-analysis")), vid

    def no_run(*args, **kwargs):
        raise AssertionError("the cached GCM rows should be read back")

    monkeypatch.setattr(predictability, "gcm_forecast_pair", no_run)
    again = workflow.gcm_forecasts(INITS, LEADS, tmp_path / "gcm", **options)
    for name in gcm:
        xr.testing.assert_identical(again[name].load().drop_attrs(), gcm[name].load().drop_attrs())
