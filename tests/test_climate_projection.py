"""Climate projection: scenario forcing in the GCM, period statistics, ClimateBench's baselines and scores,
ClimaX fine-tuned and frozen on the samples, and the experiment end to end.

The GCM runs are short (a day of spin-up, five days of output) with daily periods, so every part
is exercised in minutes; the module fixture registers such variants under the scenario names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from climax_nb import cli
from climax_nb.baselines import forcing_features, linear_regression, pattern_scaling
from climax_nb.data import climate, embedded
from climax_nb.data.climate import (
    PROJECTION_QUANTITY,
    PROJECTION_TARGETS,
    period_statistics,
    projection_samples,
    scenario_forcing,
    scenario_sources,
    simulate_scenarios,
)
from climax_nb.data.embedded import configs
from climax_nb.data.embedded.configs import SourceConfig, get_config, scenario_source_name, sst_pattern
from climax_nb.forecast import open_model
from climax_nb.forecast.projection import as_samples, check_projector, project
from climax_nb.grid import WB5625
from climax_nb.metrics.climatebench import climatebench_scores, nrmse_global, nrmse_spatial, nrmse_total
from climax_nb.metrics.weights import spatial_mean

DAYS = 5
#: (scenario, members) of the short runs: two training scenarios and the held-out one
RUNS = (("co2-double", 2), ("sst-plus2", 2), ("mid", 2))


# --- data and forcing, without the GCM ----------------------------------------------------------


def six_hourly(days: int = 731, amplitude: float = 5.0) -> xr.Dataset:
    time = pd.date_range("2000-01-01", periods=4 * days, freq="6h")
    rng = np.random.default_rng(0)
    lat, lon = np.linspace(-80, 80, 4), np.arange(8) * 45.0
    t2m = 280 + amplitude * np.sin(2 * np.pi * time.hour.values / 24)[:, None, None] + 0 * rng.random((1, 4, 8))
    tp = np.where(np.arange(len(time)) % 8 == 0, 4e-3, 0.0)[:, None, None] * np.ones((1, 4, 8))
    return xr.Dataset({"t2m": (("time", "lat", "lon"), t2m), "tp6h": (("time", "lat", "lon"), tp),
                       "lsm": (("lat", "lon"), np.zeros((4, 8)))}, coords={"time": time, "lat": lat, "lon": lon})


def test_period_statistics_are_climatebench_s_targets_of_whole_periods():
    stats = period_statistics(six_hourly())
    assert stats.sizes["time"] == 2 and list(stats.data_vars) == ["t2m", "dtr", "pr", "pr90"]
    assert set(PROJECTION_TARGETS) == {"t2m", "pr", "pr90"}
    np.testing.assert_allclose(stats["t2m"].values, 280.0, atol=1e-4)
    np.testing.assert_allclose(stats["dtr"].values, 10.0, rtol=1e-5)  # four samples of a 5 K sine: 5 - (-5)
    # 4 mm every other day: a mean of 2 mm/day; the 90th percentile of the daily values is 4
    np.testing.assert_allclose(stats["pr"].values, 2.0, rtol=3e-3)  # 2001 has 183 rainy days of 365
    np.testing.assert_allclose(stats["pr90"].values, 4.0, rtol=1e-5)
    assert stats["pr"].attrs["units"] == "mm day-1"
    assert period_statistics(six_hourly().isel(time=slice(0, -1))).sizes["time"] == 1  # the last year is short
    assert period_statistics(six_hourly(days=40), "MS").sizes["time"] == 1  # January whole, February not


def test_sst_patterns_and_scenario_settings():
    pacific = sst_pattern("east-pacific", WB5625.lat, WB5625.lon)
    assert 0.95 < pacific.max() <= 1.0 and pacific[16, 43] > 0.9 and pacific[16, 10] < 1e-3  # cells straddle 0 N
    assert sst_pattern("north-south", WB5625.lat, WB5625.lon)[0, 0] == pytest.approx(-1.0, abs=0.01)
    with pytest.raises(ValueError, match="unknown SST pattern 'nino'"):
        sst_pattern("nino", WB5625.lat, WB5625.lon)
    with pytest.raises(ValueError, match="unknown sst_pattern 'nino'"):
        SourceConfig("x", ("t2m",), sst_pattern="nino")
    with pytest.raises(ValueError, match="co2_ppmv must be > 0"):
        SourceConfig("x", ("t2m",), co2_ppmv=0.0)
    members = [get_config(scenario_source_name("mid", m)) for m in range(3)]
    assert len({c.config_hash() for c in members}) == 3 and members[0].held_out
    assert "member" not in get_config("reanalysis").hashed_fields()  # defaults leave the old hashes alone
    like = xr.Dataset({"lsm": (("lat", "lon"), np.eye(32, 64))}, coords={"lat": WB5625.lat, "lon": WB5625.lon})
    forcing = scenario_forcing(get_config(scenario_source_name("mid", 0)), like)
    assert float(forcing["co2"].mean()) == 540.0 and float(forcing["sst_anomaly"].max()) == 1.0
    assert float(forcing["sst_anomaly"].values[3, 3]) == 0.0  # no SST change over land


def samples_from(response: np.ndarray, co2: Sequence[float], sst: Sequence[float]) -> xr.Dataset:
    """Samples whose t2m is ``280 + response * (ln(co2/360) + mean SST anomaly)`` at every cell."""
    lat, lon = WB5625.lat, WB5625.lon
    n = len(co2)
    forcing = np.log(np.asarray(co2) / 360.0) + np.asarray(sst)
    values = {v: 280 + response[None] * forcing[:, None, None] + 0.1 * k for k, v in enumerate(PROJECTION_TARGETS)}
    dims = ("time", "lat", "lon")
    data = {v: (dims, x.astype(np.float32)) for v, x in values.items()}
    data["co2"] = (dims, np.broadcast_to(np.asarray(co2, dtype=np.float32)[:, None, None], (n, 32, 64)).copy())
    data["sst_anomaly"] = (dims, np.broadcast_to(np.asarray(sst, dtype=np.float32)[:, None, None], (n, 32, 64)).copy())
    data["lsm"] = (("lat", "lon"), np.zeros((32, 64), dtype=np.float32))
    time = pd.date_range("2000-01-01", periods=n, freq="D")
    return xr.Dataset(data, coords={"time": time, "lat": lat, "lon": lon})


def test_the_baselines_recover_a_linear_response_and_the_scores_rank_them():
    response = 1.0 + np.cos(np.deg2rad(WB5625.lat))[:, None] * np.ones((1, 64))
    train = samples_from(response, [180, 360, 720, 360], [0.0, 0.0, 0.0, 2.0])
    test = samples_from(response, [540, 540], [1.0, 1.0])
    np.testing.assert_allclose(forcing_features(test)[0], [np.log(1.5), 1.0], rtol=1e-6)
    for baseline in (pattern_scaling, linear_regression):
        pred = baseline(train, test, PROJECTION_TARGETS)
        np.testing.assert_allclose(pred["t2m"].values, test["t2m"].values, rtol=1e-5)
        scores = climatebench_scores(pred, test, PROJECTION_TARGETS)
        assert scores["t2m"]["nrmse_total"] < 1e-5
    off = test[list(PROJECTION_TARGETS)] + 2.8
    np.testing.assert_allclose(nrmse_global(off, test)["t2m"], 2.8 / float(spatial_mean(test["t2m"]).mean()),
                               rtol=1e-4)
    np.testing.assert_allclose(nrmse_spatial(off, test)["t2m"], nrmse_global(off, test)["t2m"], rtol=1e-4)
    np.testing.assert_allclose(nrmse_total(off, test)["pr"], 6 * nrmse_global(off, test)["pr"], rtol=1e-4)
    with pytest.raises(ValueError, match="need the same samples along time: 1 and 2"):
        nrmse_spatial(off.isel(time=[0]), test)


# --- the GCM under scenario forcing, and the models ----------------------------------------------------


@pytest.fixture(scope="module")
def scenario_cache(tmp_path_factory):
    """Short runs of the scenarios in ``RUNS`` (one day of spin-up), registered under the scenario names."""
    root = tmp_path_factory.mktemp("scenarios")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLIMAX_NB_CACHE", str(root))
        for scenario, members in RUNS:
            for m in range(members):
                name = scenario_source_name(scenario, m)
                short = dataclasses.replace(get_config(name), spinup_days=1)
                mp.setitem(configs.SOURCES, name, short)
                embedded.generate(short, length=DAYS, progress=False)
        yield root


@pytest.mark.gcm
def test_the_gcm_responds_to_the_scenario_forcing(scenario_cache):
    control = embedded.open_source(scenario_source_name("co2-double", 0), length=DAYS, progress=False)
    other = embedded.open_source(scenario_source_name("co2-double", 1), length=DAYS, progress=False)
    warm = embedded.open_source(scenario_source_name("sst-plus2", 0), length=DAYS, progress=False)
    assert set(control.data_vars) == {"t2m", "tp6h", "lsm", "orography"}
    ocean = control["lsm"] < 0.5
    rise = float((warm["t2m"] - control["t2m"]).isel(time=-1).where(ocean).mean())
    assert 0.8 < rise < 2.5  # SST +2 K: the air above the ocean warms with it within days
    assert float(np.abs(other["t2m"] - control["t2m"]).isel(time=-1).max()) > 0.01  # a perturbed member


@pytest.fixture(scope="module")
def trained(scenario_cache, tmp_path_factory):
    folder = tmp_path_factory.mktemp("projection")
    train = [f"embedded/{scenario_source_name(s, m)}" for s, n in RUNS[:2] for m in range(n)]
    sources = f"[{', '.join(train)}]"
    tiny = ["--trainer.progress", "false", "--trainer.accelerator", "cpu", "--data.batch_size", "4",
            "--optim.warmup_steps", "1", "--data.days", str(DAYS)]
    assert cli.main(["pretrain", "--config", "pretrain-tiny", *tiny, "--data.sources", sources, "--data.leads", "[6]",
                     "--trainer.max_steps", "2", "--trainer.run_dir", str(folder / "pre")]) == 0
    runs = {}
    for name, extra in (("finetuned", []), ("frozen", ["--model.freeze", "backbone"])):
        assert cli.main(["finetune", "--config", "pretrain-tiny", *tiny, "--data.sources", sources,
                         "--data.projection", "D", "--data.leads", "[0]", "--model.residual", "false",
                         "--model.init", str(folder / "pre" / "model.pt"), *extra, "--trainer.max_steps", "3",
                         "--trainer.run_dir", str(folder / name)]) == 0
        runs[name] = folder / name / "model.pt"
    return folder, runs


@pytest.mark.gcm
def test_a_projection_model_maps_forcing_to_period_statistics(trained, scenario_cache):
    folder, runs = trained
    fm = open_model(runs["finetuned"])
    assert set(fm.outputs) == set(PROJECTION_TARGETS) and {"co2", "sst_anomaly"} <= set(fm.inputs)
    assert fm.trained_leads == (0.0,) and not fm.can_roll_out
    assert check_projector(fm)["quantity"] == PROJECTION_QUANTITY
    test = projection_samples([(get_config(scenario_source_name("mid", m)),
                                embedded.open_source(scenario_source_name("mid", m), length=DAYS, progress=False))
                               for m in range(2)], "D")
    projected = project(fm, test)
    assert projected.attrs["task"] == "projection" and list(projected["scenario"].values) == ["mid"] * 2 * DAYS
    samples = as_samples(projected)
    assert samples.sizes == {"time": 2 * DAYS, "lat": 32, "lon": 64}
    assert 200 < float(samples["t2m"].mean()) < 320  # physical units: kelvin, not normalised
    with pytest.raises(ValueError, match="not trained for climate projection.*projection-compact"):
        project(folder / "pre" / "model.pt", test)


@pytest.mark.gcm
def test_the_frozen_arm_keeps_its_pretrained_blocks(trained):
    folder, runs = trained
    pre = open_model(folder / "pre" / "model.pt").model.blocks.state_dict()
    for name, same in (("frozen", True), ("finetuned", False)):
        blocks = open_model(runs[name]).model.blocks.state_dict()
        equal = all(torch.equal(blocks[k], pre[k]) for k in pre)
        assert equal == same, name


def test_every_scenario_run_a_job_needs_is_simulated_in_one_pool(monkeypatch):
    calls = []
    monkeypatch.setattr(embedded, "generate_all", lambda names, **kw: calls.append((list(names), kw)) or {})
    sources = scenario_sources(False, 2, ["control", "mid"]) + scenario_sources(True, 1, ["control", "mid"])
    names = simulate_scenarios(sources, 4)
    assert names == ["scenario-control-m0", "scenario-control-m1", "scenario-mid-m0"]
    assert calls == [(names, {"length": 4, "progress": False})]  # one call: side by side, not one after another
    calls.clear()
    monkeypatch.setattr(climate, "open_scenario_samples", lambda sources, days, freq: list(sources))
    train, test = climate.open_scenario_splits(2, ["control", "mid"], 4, "D")
    assert train == list(sources[:2]) and test == ["embedded/scenario-mid-m0", "embedded/scenario-mid-m1"]
    assert calls == [([*names, "scenario-mid-m1"], {"length": 4, "progress": False})]  # both splits in one pool


def test_projection_settings_are_checked():
    from climax_nb.train.run import DataSection, ModelSection, scenario_run_config

    with pytest.raises(ValueError, match="use --data.leads \\[0\\]"):
        DataSection(projection="YS", leads=(6.0,))
    with pytest.raises(ValueError, match="unknown --model.freeze 'blocks'"):
        ModelSection(freeze="blocks")
    with pytest.raises(ValueError, match="reads embedded scenario runs.*scenario-control-m0"):
        scenario_run_config("my-file")


@pytest.mark.gcm
def test_the_climate_projection_experiment_end_to_end(trained, scenario_cache, tmp_path, monkeypatch, capsys):
    from tests.scripts import load_script, refuse_training

    folder, _ = trained
    script = load_script("experiments/climate_projection.py")
    argv = ["--days", str(DAYS), "--period", "D", "--members", "2", "--scenarios", "co2-double", "sst-plus2", "mid",
            "--set", "model.preset=tiny", "--set", "model.patch_size=2", "--set", "data.batch_size=4",
            "--steps", "2", "--seeds", "0", "--pretrained", str(folder / "pre" / "model.pt"), "--out", str(tmp_path)]
    frame = script.main(argv)
    arms = ["finetuned", "frozen", "scratch", "pattern_scaling", "linear_regression", "other_member"]
    single = frame[frame["truth"] == "single"]
    assert list(dict.fromkeys(single["arm"])) == arms and single["cases"].eq(2).all()
    assert "other_member" not in set(frame.loc[frame["truth"] == "ensemble mean", "arm"])
    assert frame["train_samples"].eq(4 * DAYS).all() and frame["test_samples"].eq(2 * DAYS).all()
    assert np.isfinite(frame["nrmse_total"]).all() and (frame["nrmse_total"] >= 0).all()
    out = capsys.readouterr().out
    assert "pattern scaling beats every ClimaX arm for" in out
    refuse_training(monkeypatch)
    again = script.main([*argv, "--from-results"])
    pd.testing.assert_frame_equal(again, frame, check_dtype=False)


@pytest.mark.gcm
def test_the_dashboard_opens_a_projection_beside_its_samples(trained, tmp_path):
    from climax_nb.dashboard.discover import Entry
    from climax_nb.dashboard.settings import DataSpec, Settings
    from climax_nb.dashboard.store import ResultStore
    from climax_nb.forecast import save_forecast

    _, runs = trained
    test = projection_samples([(get_config(scenario_source_name("mid", 0)),
                                embedded.open_source(scenario_source_name("mid", 0), length=DAYS, progress=False))],
                              "D")
    test.to_netcdf(tmp_path / "samples.nc")
    save_forecast(project(runs["frozen"], test), tmp_path / "projected.nc")
    store = ResultStore(DataSpec(str(tmp_path / "samples.nc")), Settings(), cache_dir=tmp_path / "cache")
    results = store.get(Entry("projected", tmp_path / "projected.nc", "forecast"))
    assert set(results.scores["model"].values) == {"model"}  # no persistence or climatology of scenario samples
    assert results.forecast.attrs["task"] == "projection" and results.forecast.sizes["init_time"] == DAYS


@pytest.mark.gcm
def test_the_project_command_writes_a_projection_and_its_samples(trained, tmp_path, capsys):
    from climax_nb.forecast import open_forecast

    folder, runs = trained
    out, samples = tmp_path / "projected.nc", tmp_path / "samples.nc"
    assert cli.main(["project", "--checkpoint", str(runs["finetuned"]), "--members", "2", "--days", str(DAYS),
                     "--out", str(out), "--samples-out", str(samples)]) == 0
    projected = open_forecast(out)
    assert projected.attrs["task"] == "projection" and projected.sizes["init_time"] == 2 * DAYS
    assert set(xr.open_dataset(samples)["scenario"].values) == {"mid"}
    assert cli.main(["project", "--checkpoint", str(runs["finetuned"]), "--scenarios", "[nowhere]",
                     "--out", str(tmp_path / "x.nc")]) == 2
    assert "unknown scenario(s) ['nowhere']" in capsys.readouterr().err
