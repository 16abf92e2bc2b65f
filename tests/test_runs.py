"""The main job and the notebooks share their runs (and GCM rows): what one made, the other reads back; the settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from climax_nb import runs, tutorial, workflow
from climax_nb.data import embedded
from climax_nb.defaults import EVAL_LEADS
from climax_nb.runs import Setting
from tests.conftest import make_canonical
from tests.forecast_helpers import fake_gcm_pair


@pytest.fixture
def trained(monkeypatch, tmp_path):
    """Training replaced by a file write, counted per run folder."""
    monkeypatch.setenv("CLIMAX_NB_CACHE", str(tmp_path))
    calls: list[Path] = []

    def fake_train(config):
        out = Path(config.trainer.run_dir) / "model.pt"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("weights")
        calls.append(out)
        return out

    monkeypatch.setattr(runs, "train", fake_train)
    monkeypatch.setattr(workflow, "forecast_and_score", lambda checkpoint, out, **options: None)
    return calls


def test_the_notebooks_reuse_the_main_jobs_runs(trained, tmp_path, monkeypatch):
    scored = []
    monkeypatch.setattr(workflow, "forecast_and_score", lambda checkpoint, out, **options: scored.append(options))
    job = workflow.main_job(tmp_path / "out", steps_scale=tutorial.FAST_STEPS_SCALE, days=tutorial.FAST_DAYS)
    assert [p.parent.name for p in trained] == ["pretrain", "finetune"]
    # the GCM rows on by default, kept where the notebooks of the same setting look for them
    assert scored[0]["gcm_rows"] is True and scored[0]["days"] == tutorial.FAST_DAYS
    shared = tutorial.tutorial_dir(tutorial.FAST) / "scores" / "gcm"
    assert scored[0]["gcm_dir"] == runs.gcm_dir(tutorial.FAST) == shared
    workflow.main_job(tmp_path / "out", steps_scale=tutorial.FAST_STEPS_SCALE, days=tutorial.FAST_DAYS, gcm_rows=False)
    assert scored[1]["gcm_rows"] is False
    monkeypatch.setenv(tutorial.FAST_ENV, "1")
    assert tutorial.finetuned_model() == job.finetuned and tutorial.pretrained_model() == job.pretrained
    assert len(trained) == 2  # nothing trained twice
    tutorial.scratch_model()
    assert trained[-1].parent.name == "scratch" and len(trained) == 3


def test_settings_and_configs_key_the_folders(trained):
    fast, seed1 = Setting(12, 0.01), Setting(12, 0.01, seed=1)
    assert runs.setting_dir(fast) != runs.setting_dir(seed1) and runs.setting_dir(fast) == runs.setting_dir(
        Setting(12, 0.01))
    cfg = runs.training_config("finetune", fast)
    assert cfg.model.init == str(runs.run_dir("pretrain", fast) / "model.pt")
    assert cfg.trainer.max_steps == 36 and cfg.trainer.log_every_n_steps == 3 and cfg.data.days == 12
    assert runs.training_config("scratch", fast).model.init is None
    with pytest.raises(ValueError, match="unknown stage 'tune'"):
        runs.run_dir("tune", fast)


def test_the_binder_setting_tests_on_a_year_it_never_trained_on(trained):
    binder = tutorial.BINDER
    assert binder.reanalysis_days == 366 + tutorial.BINDER_TEST_DAYS  # 2000 is a leap year
    train, val, test = (binder.reanalysis_years(split) for split in ("train", "val", "test"))
    assert train == (2000,) and val == () and test == (2001,)
    assert runs.REANALYSIS_START == np.datetime64(embedded.sources()["reanalysis"].start, "D")
    finetune = runs.training_config("finetune", binder).data
    assert finetune.train_years == train and finetune.val_years == () and finetune.days == binder.reanalysis_days
    assert runs.training_config("pretrain", binder).data.days == tutorial.BINDER_DAYS
    budgets = {stage: runs.training_config(stage, binder).trainer.max_steps for stage in runs.STAGES}
    full = {stage: runs.training_config(stage, tutorial.DEFAULT).trainer.max_steps for stage in runs.STAGES}
    assert budgets == {stage: int(steps * tutorial.BINDER_STEPS_SCALE) for stage, steps in full.items()}
    assert tutorial.data_plan(binder) == {"warm-sst": 90, "fast-convection": 90, "t31": 90, "reanalysis": 425}
    assert set(tutorial.data_plan(tutorial.DEFAULT).values()) == {None}
    # the default keeps its whole-year split and its folder name; the settings never share a folder
    assert tutorial.DEFAULT.reanalysis_years("test") == (2003,) and tutorial.DEFAULT.label == "years-x1-seed0"
    assert tutorial.FAST.reanalysis_years("train") is None and tutorial.FAST.label == "12d-x0.01-seed0"
    assert binder.label == "90d-test59d-x0.1-seed0"
    assert len({runs.setting_dir(s) for s in tutorial.SETTINGS.values()}) == 3
    assert Setting(90).key() != binder.key()
    with pytest.raises(ValueError, match="unknown split"):
        binder.reanalysis_years("validation")


def test_the_notebooks_read_the_settings_periods(monkeypatch):
    opened = []
    monkeypatch.setattr(embedded, "open_source", lambda name, years=None, length=None, progress=True: opened.append(
        (name, years, length)))
    tutorial.reanalysis("train", tutorial.BINDER)
    tutorial.reanalysis("test", tutorial.BINDER)
    tutorial.reanalysis("test", tutorial.DEFAULT)
    tutorial.reanalysis("test", tutorial.FAST)
    assert opened == [("reanalysis", [2000], 425), ("reanalysis", [2001], 425), ("reanalysis", [2003], None),
                      ("reanalysis", None, 12)]
    assert tutorial.climatology_years(tutorial.BINDER) == [2000]
    assert tutorial.climatology_years(tutorial.DEFAULT) == [2000, 2001]


def test_the_environment_names_the_setting(monkeypatch):
    monkeypatch.delenv(tutorial.FAST_ENV, raising=False)
    monkeypatch.delenv(tutorial.SETTING_ENV, raising=False)
    assert tutorial.setting_name() == "default" and tutorial.current_setting() == tutorial.DEFAULT
    monkeypatch.setenv(tutorial.SETTING_ENV, "binder")
    assert tutorial.current_setting() == tutorial.BINDER
    monkeypatch.setenv(tutorial.FAST_ENV, "1")  # the tests' switch wins
    assert tutorial.setting_name() == "fast" and tutorial.current_setting() == tutorial.FAST
    monkeypatch.delenv(tutorial.FAST_ENV)
    monkeypatch.setenv(tutorial.SETTING_ENV, "full")
    with pytest.raises(ValueError, match="choose default, binder, fast"):
        tutorial.current_setting()


def test_prepare_simulates_each_source_in_its_own_process(trained, monkeypatch):
    commands = []
    monkeypatch.setattr(tutorial.subprocess, "run", lambda command, check: commands.append(command[1:]))
    monkeypatch.setattr(tutorial, "test_scores", lambda stage, setting: None)
    seconds = tutorial.prepare(tutorial.BINDER)
    assert list(seconds) == ["data", "models and forecasts"]
    assert commands[-1] == ["-m", "climax_nb.cli", "data", "--source", "reanalysis", "--days", "425"]
    assert [c[4] for c in commands] == ["warm-sst", "fast-convection", "t31", "reanalysis"]
    masked = runs.run_dir("masked", tutorial.BINDER).name  # the notebooks' AtmoRep model too, last
    assert [p.parent.name for p in trained] == ["pretrain", "finetune", "scratch", masked]
    assert all(tutorial.BINDER.label in str(p) for p in trained)
    commands.clear()
    tutorial.simulate(tutorial.DEFAULT)
    assert all("--days" not in c for c in commands) and len(commands) == 4


@pytest.fixture
def small_reanalysis(monkeypatch):
    """12 days of canonical fields in place of the embedded reanalysis, and the GCM replaced by a stand-in."""
    from climax_nb.data.embedded import predictability

    truth = make_canonical(("z500", "t850", "t2m", "u10"), steps=4 * tutorial.FAST_DAYS)
    monkeypatch.setattr(embedded, "open_source", lambda name, years=None, length=None, progress=True: truth)
    calls: list = []
    monkeypatch.setattr(predictability, "gcm_forecast_pair", fake_gcm_pair(calls, truth))
    return truth, calls


def test_the_notebooks_gcm_rows_are_made_once_per_setting(trained, small_reanalysis):
    truth, calls = small_reanalysis
    gcm = tutorial.gcm_forecasts(tutorial.FAST)
    assert list(gcm) == ["gcm-analysis", "gcm-twin"]
    inits, leads, kinds, variables, length = calls[0]
    # 12 days leave 7 daily initial times for 5-day leads: every 7 days is the first one
    np.testing.assert_array_equal(inits, truth["time"].values[:1])
    assert leads == list(EVAL_LEADS) and variables == ["z500", "t850", "t2m", "u10"] and length == tutorial.FAST_DAYS
    assert (runs.gcm_dir(tutorial.FAST) / "gcm-twin.nc").is_file()
    tutorial.gcm_forecasts(tutorial.FAST)
    assert len(calls) == 1


def test_a_cached_scorecard_without_the_gcm_rows_is_scored_again_from_its_forecast(trained, small_reanalysis,
                                                                                   monkeypatch):
    import climax_nb.forecast
    from climax_nb.baselines import persistence
    from climax_nb.evaluate import initial_times, score, write_scores
    from climax_nb.forecast import save_forecast

    truth, calls = small_reanalysis
    tutorial.finetuned_model(tutorial.FAST)
    out = tutorial._scores_dir("finetune", tutorial.FAST)
    fc = persistence(truth, initial_times(truth, 120), np.array(EVAL_LEADS) * np.timedelta64(1, "h")) + 0.5
    out.mkdir(parents=True)
    save_forecast(fc, out / "forecast.nc")
    write_scores(score(fc, truth, None, baselines=("persistence",), metrics=("rmse",)), out / "scores")

    def no_forecast(*args, **kwargs):
        raise AssertionError("the cached forecast should be scored again, not made again")

    monkeypatch.setattr(climax_nb.forecast, "forecast", no_forecast)
    card = tutorial.test_scores("finetune", tutorial.FAST)
    assert [str(m) for m in card["model"].values] == ["model", "gcm-analysis", "gcm-twin", "persistence",
                                                       "climatology"]
    rmse = card.sel(metric="rmse")
    assert np.isfinite(rmse["z500"].values).all()
    assert float(rmse["z500"].sel(model="gcm-twin").isel(lead_time=0)) < float(
        rmse["z500"].sel(model="persistence").isel(lead_time=0))
    assert "gcm-twin" in (out / "scores" / "scores.md").read_text()
    assert len(calls) == 1
    xr.testing.assert_identical(tutorial.test_scores("finetune", tutorial.FAST), card)  # read back


# -- the masked stage (AtmoRep, notebooks 09 and 10) ---------------------------------------------
def test_the_masked_stage_has_its_own_folder_and_key_inside_the_settings_folder(trained, tmp_path, monkeypatch):
    keys = {name: s.key() for name, s in tutorial.SETTINGS.items()}
    for setting in tutorial.SETTINGS.values():
        folder = runs.run_dir("masked", setting)
        assert folder.parent == runs.setting_dir(setting) and folder.name == f"masked-{setting.masked_key()}"
    assert len({runs.run_dir("masked", s) for s in tutorial.SETTINGS.values()}) == 3
    # the masked budget is not part of the setting's key (the ClimaX runs stay where they were), but of its own
    binder = tutorial.BINDER
    plain = Setting(binder.days, binder.steps_scale, test_days=binder.test_days)
    assert plain.key() == binder.key() and plain.masked_key() != binder.masked_key()
    assert binder.masked_scale == tutorial.BINDER_MASKED_STEPS_SCALE and tutorial.FAST.masked_scale == 0.01
    # editing the AtmoRep config retrains the masked model only
    configs = tmp_path / "configs"
    configs.mkdir()
    for path in runs.CONFIGS.glob("*.yaml"):
        (configs / path.name).write_bytes(path.read_bytes())
    before = {name: s.masked_key() for name, s in tutorial.SETTINGS.items()}
    monkeypatch.setattr(runs, "CONFIGS", configs)
    assert {name: s.key() for name, s in tutorial.SETTINGS.items()} == keys
    (configs / f"{runs.MASKED_CONFIG}.yaml").write_text((configs / f"{runs.MASKED_CONFIG}.yaml").read_text()
                                                        + "\n# edited\n")
    assert {name: s.key() for name, s in tutorial.SETTINGS.items()} == keys
    assert all(s.masked_key() != before[name] for name, s in tutorial.SETTINGS.items())


def test_the_masked_stage_trains_the_packaged_config_on_each_settings_data(trained):
    from climax_nb.config import load_yaml
    from climax_nb.defaults import CONFIGS
    from climax_nb.train.run import RunConfig

    packaged = load_yaml(RunConfig, CONFIGS / f"{runs.MASKED_CONFIG}.yaml")
    default = runs.training_config("masked", tutorial.DEFAULT)
    assert default.trainer.run_dir == str(runs.run_dir("masked", tutorial.DEFAULT))
    # the default is the packaged config as it is, in the stage's folder
    assert default.data == packaged.data and default.atmorep == packaged.atmorep and default.optim == packaged.optim
    assert default.model == packaged.model and default.trainer.max_steps == packaged.trainer.max_steps
    # binder: the setting's 90 days of every source (simulated anyway), the training year only, the whole budget
    binder = runs.training_config("masked", tutorial.BINDER).data
    assert binder.days == tutorial.BINDER_DAYS and binder.train_years == (2000,) and binder.val_years == ()
    assert runs.training_config("masked", tutorial.BINDER).trainer.max_steps == packaged.trainer.max_steps
    assert binder.sources == packaged.data.sources
    # its test period (2001) is never trained on, and the build simulates nothing more for it
    assert tutorial.BINDER.reanalysis_years("test") == (2001,)
    assert tutorial.data_plan(tutorial.BINDER) == {"warm-sst": 90, "fast-convection": 90, "t31": 90,
                                                   "reanalysis": 425}
    # fast: all of its days, no validation, a hundredth of the steps (at least 2)
    fast = runs.training_config("masked", tutorial.FAST)
    assert fast.data.days == tutorial.FAST_DAYS and fast.data.train_years == () and fast.data.val_years == ()
    assert fast.trainer.max_steps == max(2, int(packaged.trainer.max_steps * 0.01))
    assert fast.trainer.log_every_n_steps == 1


def _record(config):
    """What a real run writes beside its model: the config (``climax_nb.train.run.record_config``)."""
    from climax_nb.train.run import record_config

    Path(config.trainer.run_dir).mkdir(parents=True, exist_ok=True)
    record_config(config)


def test_the_masked_model_is_trained_once_and_its_log_read_back(trained, monkeypatch):
    monkeypatch.setenv(tutorial.FAST_ENV, "1")
    real = runs.train
    monkeypatch.setattr(runs, "train", lambda config: (_record(config), real(config))[1])
    assert not tutorial.is_cached("masked")
    path = tutorial.masked_model()
    assert path == runs.run_dir("masked", tutorial.FAST) / "model.pt" and tutorial.is_cached("masked")
    assert tutorial.masked_model() == path and len(trained) == 1
    log = path.parent / "csv" / "version_0" / "metrics.csv"
    log.parent.mkdir(parents=True)
    log.write_text("epoch,step,train/crps,train/loss\n0,0,0.5,1.0\n0,1,0.4,0.8\n,1,,\n")
    curve = tutorial.training_log("masked")
    assert curve["train/loss"].values.tolist() == [1.0, 0.8] and curve.attrs["stage"] == "masked"


def test_the_masked_stage_trains_in_the_fast_setting(tmp_path, monkeypatch):
    """The real run on 12 days of synthetic data in place of the embedded sources: a few steps, exported."""
    import climax_nb.train.run as run_module
    from climax_nb.forecast import load_forecast_checkpoint

    monkeypatch.setenv("CLIMAX_NB_CACHE", str(tmp_path))
    ids = tuple(f"{f}{level}" for f in "ztuv" for level in (500, 850))
    data = make_canonical(ids, steps=4 * tutorial.FAST_DAYS)
    monkeypatch.setattr(run_module, "open_source", lambda spec, days=None: data)
    config = runs.training_config("masked", tutorial.FAST)
    path = runs.train(config)
    assert path == runs.run_dir("masked", tutorial.FAST) / "model.pt" and runs.is_cached("masked", tutorial.FAST)
    assert load_forecast_checkpoint(path).spec.family == "atmorep"
    curve = tutorial.training_log("masked", tutorial.FAST)
    assert int(curve["step"].max()) == config.trainer.max_steps - 1 and np.isfinite(curve["train/crps"]).all()


def test_versus_compares_a_model_with_a_baseline_from_a_scorecard_or_a_table():
    from climax_nb.baselines import persistence
    from climax_nb.evaluate import initial_times, score

    truth = make_canonical(("z500", "t850"), steps=24)
    inits = initial_times(truth, 24)
    leads = np.array([6, 24]) * np.timedelta64(1, "h")
    worse = persistence(truth, inits, leads) + 0.1  # persistence off by 0.1 everywhere: never beats it
    card = score({"model": worse}, truth, None, baselines=["persistence"], metrics=["rmse"])
    table = tutorial.versus(card, "model", "persistence")
    assert list(table.columns) == ["model", "persistence", "ratio", "beats"] and len(table) == 4
    assert not table["beats"].any() and (table["ratio"] > 1).all()
    rows = pd.DataFrame({"task": ["a", "a", "b", "b"], "model": ["m", "base", "m", "base"],
                         "variable": "z500", "lead_h": 6.0, "metric": "rmse", "value": [1.0, 2.0, 3.0, 2.0]})
    a = tutorial.versus(rows, "m", "base", task="a")
    assert a.loc[("z500", 6.0), "ratio"] == 0.5 and bool(a["beats"].all())
    assert not tutorial.versus(rows, "m", "base", task="b")["beats"].any()
    assert tutorial.verdict(a) == ("m beats base in 1 of 1 (variable, lead) pairs (m against base, below zero is "
                                   "better): beats it at z500 6 h (-50.00 %); not at none")
    rows.loc[:1, "lead_h"] = [12.0, 12.0]  # task a at 6 and 12 h: 1 and 3 against 2 and 2
    rows["task"] = "a"
    rows.loc[2:, "lead_h"] = 6.0
    mean = tutorial.versus(rows, "m", "base", task="a", mean_over_leads=True)
    assert len(mean) == 1 and mean["ratio"].iloc[0] == 1.0 and not mean["beats"].iloc[0]
    assert "not at z500 (mean over leads) (+0.00 %)" in tutorial.verdict(mean)
    with pytest.raises(ValueError, match="the models there are"):
        tutorial.versus(rows, "m", "climatology", task="a")
    with pytest.raises(ValueError, match="asked for"):
        tutorial.versus(card, "model", "climatology")


def test_a_masked_run_trained_with_another_resolved_config_is_trained_again(trained, monkeypatch):
    """The key hashes the config's text; a default the text leaves out, changed in the code, retrains too."""
    real = runs.train
    monkeypatch.setattr(runs, "train", lambda config: (_record(config), real(config))[1])
    path = runs.trained("masked", tutorial.FAST)
    assert runs.is_cached("masked", tutorial.FAST) and runs.masked_changes(tutorial.FAST) == []
    config = runs.masked_config(tutorial.FAST)
    older = replace(config, atmorep=replace(config.atmorep, stats_weight=config.atmorep.stats_weight + 1.0))
    _record(older)  # as if trained before the section's default changed
    assert runs.masked_changes(tutorial.FAST)[0].startswith("atmorep.stats_weight: ")
    assert not runs.is_cached("masked", tutorial.FAST)
    assert runs.trained("masked", tutorial.FAST) == path and len(trained) == 2
    assert runs.is_cached("masked", tutorial.FAST)
    (path.parent / "config.yaml").unlink()
    assert runs.masked_changes(tutorial.FAST) == [f"no config.yaml in {path.parent}"]
