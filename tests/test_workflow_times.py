"""The main job's steps: every step timed, training summed against the budget; the scorecard's GCM rows."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from climax_nb import workflow
from climax_nb.workflow import StepTimes
from tests.conftest import make_canonical
from tests.forecast_helpers import fake_gcm_pair


def test_step_times_record_each_step_even_when_it_fails():
    times = StepTimes()
    with times.step("data"):
        time.sleep(0.01)
    with pytest.raises(RuntimeError), times.step("pretraining"):
        raise RuntimeError("stopped")
    assert list(times.seconds) == ["data", "pretraining"]
    assert times.seconds["data"] >= 0.01


def test_table_sums_pretraining_and_fine_tuning_only():
    times = StepTimes({"data": 600.0, "pretraining": 480.0, "fine-tuning": 240.0, "forecast and scores": 60.0})
    table = times.table()
    assert "| data | 10.0 min (600 s) |" in table
    assert table.splitlines()[-1] == "| pretraining + fine-tuning | 12.0 min (720 s) |"


# -- the GCM rows: initial times, the cache, the scorecard's wiring (fakes for the GCM and the model) ------------


def daily(days: int, start: str = "2003-01-01") -> np.ndarray:
    return np.datetime64(start, "ns") + np.arange(days) * np.timedelta64(1, "D")


def test_gcm_rows_start_every_7_days_from_the_first_initial_time():
    inits = daily(31)
    chosen = workflow.gcm_initial_times(inits)
    assert chosen[0] == inits[0] and len(chosen) == 5 and np.all(np.diff(chosen) == np.timedelta64(7, "D"))
    assert len(workflow.gcm_initial_times(inits[:7])) == 1  # a short run: its first day only
    assert len(workflow.gcm_initial_times(inits, every_days=1)) == 31
    with pytest.raises(ValueError, match="positive"):
        workflow.gcm_initial_times(inits, every_days=0)
    assert workflow._gcm_leads([3, 120, 6, 24.0, 72]) == [6, 24, 72, 120]  # the GCM saves every 6 h


def test_gcm_forecasts_are_made_once_and_remade_for_other_initial_times(tmp_path, monkeypatch):
    from climax_nb.data.embedded import predictability

    calls: list = []
    monkeypatch.setattr(predictability, "gcm_forecast_pair", fake_gcm_pair(calls))
    inits, folder = daily(15)[::7], tmp_path / "gcm"
    first = workflow.gcm_forecasts(inits, (6, 24, 72, 120), folder, variables=["z500", "t850"], length=20)
    assert list(first) == list(workflow.GCM_ROWS) == ["gcm-analysis", "gcm-twin"]
    assert len(calls) == 1 and calls[0][2] == ["analysis", "twin"] and calls[0][4] == 20
    assert sorted(p.name for p in folder.iterdir()) == ["gcm-analysis.nc", "gcm-twin.nc"]
    again = workflow.gcm_forecasts(inits, (6, 24, 72, 120), folder, variables=["z500"], length=20)
    assert len(calls) == 1 and list(again["gcm-twin"].data_vars) == ["z500"]  # read back, no variable more
    xr.testing.assert_identical(again["gcm-twin"]["z500"].load(), first["gcm-twin"]["z500"].load())
    workflow.gcm_forecasts(inits[:2], (6, 24, 72, 120), folder, variables=["z500"], length=20)
    workflow.gcm_forecasts(inits[:2], (6, 24), folder, variables=["z500"], length=20)
    workflow.gcm_forecasts(inits[:2], (6, 24), folder, variables=["z500", "u10"], length=20)
    assert len(calls) == 4 and [len(c[0]) for c in calls] == [3, 2, 2, 2] and calls[2][1] == [6.0, 24.0]
    with pytest.raises(ValueError, match="multiple of the GCM's 6-hour"):
        workflow.gcm_forecasts(inits, (3,), folder, variables=["z500"])


def test_the_main_jobs_scorecard_has_the_gcm_rows(tmp_path, monkeypatch):
    import climax_nb.forecast
    from climax_nb.baselines import persistence
    from climax_nb.data import embedded
    from climax_nb.data.embedded import predictability
    from climax_nb.forecast.leads import as_timedelta

    truth = make_canonical(("z500", "t850", "t2m"), steps=4 * 20)  # 20 days of 2000
    monkeypatch.setattr(embedded, "open_source", lambda name, years=None, length=None, progress=True: truth)
    monkeypatch.setattr(climax_nb.forecast, "forecast", lambda checkpoint, data, leads, mode, init_times: persistence(
        data, init_times, as_timedelta(leads)) + 0.5)
    calls: list = []
    monkeypatch.setattr(predictability, "gcm_forecast_pair", fake_gcm_pair(calls, truth))
    times = StepTimes()
    card = workflow.forecast_and_score(Path("model.pt"), tmp_path / "out", days=20, times=times)
    assert [str(m) for m in card["model"].values] == ["model", "gcm-analysis", "gcm-twin", "persistence",
                                                       "climatology"]
    inits = calls[0][0]
    assert len(inits) == 3 and np.all(np.diff(inits) == np.timedelta64(7, "D"))  # days 0, 7 and 14 of 15
    rmse = card.sel(metric="rmse")
    for var in ("z500", "t850", "t2m"):
        assert np.isfinite(rmse[var].values).all()
        np.testing.assert_allclose(rmse[var].sel(model="gcm-twin").values, 0.0, atol=1e-4)
        np.testing.assert_allclose(rmse[var].sel(model="gcm-analysis").values, 1.0, rtol=1e-4)
        assert float(rmse[var].sel(model="gcm-twin").isel(lead_time=0)) < float(
            rmse[var].sel(model="persistence").isel(lead_time=0))
    text = (tmp_path / "out" / "scores" / "scores.md").read_text()
    assert text.startswith("Verifying data: ") and "fingerprint `" in text
    assert "\n\ngcm-analysis and gcm-twin: the embedded GCM's own forecasts" in text
    assert "3 initial times every 7 days, 2000-01-01 to 2000-01-15" in text and "all 15 of the model's" in text
    assert "| gcm-twin |" in text
    assert list(times.seconds) == ["GCM rows"]
    assert sorted(p.name for p in (tmp_path / "out" / "gcm").iterdir()) == ["gcm-analysis.nc", "gcm-twin.nc"]
    without = workflow.forecast_and_score(Path("model.pt"), tmp_path / "bare", days=20, gcm_rows=False)
    assert [str(m) for m in without["model"].values] == ["model", "persistence", "climatology"]
    assert len(calls) == 1 and not (tmp_path / "bare" / "gcm").exists()


def test_the_gcm_rows_made_alongside_the_data_are_the_ones_the_scorecard_reads(tmp_path, monkeypatch):
    import climax_nb.forecast
    from climax_nb import runs
    from climax_nb.baselines import persistence
    from climax_nb.data import embedded
    from climax_nb.data.embedded import predictability
    from climax_nb.forecast.leads import as_timedelta

    monkeypatch.setenv("CLIMAX_NB_CACHE", str(tmp_path / "cache"))
    truth = make_canonical(("z500", "t850", "t2m"), steps=4 * 20)
    monkeypatch.setattr(embedded, "open_source", lambda name, years=None, length=None, progress=True: truth)
    monkeypatch.setattr(climax_nb.forecast, "forecast", lambda checkpoint, data, leads, mode, init_times: persistence(
        data, init_times, as_timedelta(leads)))
    calls: list = []
    monkeypatch.setattr(predictability, "gcm_forecast_pair", fake_gcm_pair(calls))
    setting = runs.Setting(days=20)
    workflow.prepare_gcm_rows(setting, workers=1, progress=False)
    assert len(calls) == 1 and calls[0][3] == ["z500", "t850", "t2m"]  # every dynamic variable of the data
    card = workflow.forecast_and_score(Path("model.pt"), tmp_path / "out", days=20, gcm_dir=runs.gcm_dir(setting))
    assert len(calls) == 1 and "gcm-twin" in card["model"].values  # read back for the model's three variables


def test_the_main_job_hands_its_data_step_the_gcm_rows(tmp_path, monkeypatch):
    from climax_nb import runs

    handed: list = []
    monkeypatch.setattr(workflow, "pretrain_then_finetune", lambda setting, times: (Path("p.pt"), Path("f.pt")))
    monkeypatch.setattr(workflow, "forecast_and_score", lambda *args, **kwargs: None)
    job = workflow.main_job(tmp_path, days=20, prepare_data=handed.append)
    (task,) = handed[0].values()
    assert list(handed[0]) == ["reanalysis"] and task.func is workflow.prepare_gcm_rows
    assert task.args == (runs.Setting(days=20),) and task.keywords["workers"] == 1
    assert list(job.times.seconds) == ["data and GCM rows", "forecast and scores"]
    workflow.main_job(tmp_path, days=20, prepare_data=handed.append, gcm_rows=False)
    assert handed[1] == {}
