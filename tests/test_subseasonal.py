"""Sub-seasonal forecasting: window-mean anomalies, their own statistics in the contract, baselines, training,
forecasts, scores and the experiment, on slow synthetic fields (an AR(1) anomaly with a 33-day memory).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from climax_nb import cli
from climax_nb.baselines import damped_persistence, damping_coefficients, recent_anomaly, zero_anomaly
from climax_nb.data.pipeline.samples import SampleBuilder
from climax_nb.data.stats import compute_stats
from climax_nb.data.subseasonal import (
    WINDOW_QUANTITY,
    anomalies,
    anomaly_climatology,
    daily_means,
    harmonic_climatology,
    subseasonal_pair,
    week_label,
    window_means,
)
from climax_nb.evaluate import score
from climax_nb.forecast import RolloutError, forecast, open_model
from climax_nb.forecast.spec import ForecastSpec, SourceSpec
from climax_nb.forecast.subseasonal import check_subseasonal, subseasonal_forecast
from climax_nb.grid import WB5625
from climax_nb.train.run import DataSection
from climax_nb.variables import VARIABLES
from tests.conftest import typical

VARS = ("z500", "t850", "t2m", "tp6h")
WINDOW, LEADS = 3, (72.0, 144.0)


def slow_fields(days: int = 800, start: str = "2000-01-01", per_day: int = 1) -> xr.Dataset:
    """A seasonal cycle plus an AR(1) anomaly (0.97 per day) and daily noise; ``per_day`` frames a day."""
    rng = np.random.default_rng(0)
    time = pd.date_range(start, periods=days * per_day, freq=f"{24 // per_day}h")
    lat, lon = WB5625.lat, WB5625.lon
    day = np.arange(days * per_day) / per_day
    season = np.cos(2 * np.pi * day / 365.25)[:, None, None] * np.cos(np.deg2rad(lat))[None, :, None]
    slow = np.zeros((len(time), len(lat), len(lon)))
    for t in range(1, len(time)):
        slow[t] = 0.97 ** (1 / per_day) * slow[t - 1] + 0.25 / np.sqrt(per_day) * rng.standard_normal(slow.shape[1:])
    fields = {}
    for k, vid in enumerate(VARS):
        centre, spread = typical(vid)
        value = centre + spread * (season + np.roll(slow, 7 * k, axis=-1) + 0.3 * rng.standard_normal(slow.shape))
        fields[vid] = (("time", "lat", "lon"), value.astype(np.float32), {"units": VARIABLES[vid].units})
    fields["lsm"] = (("lat", "lon"), (rng.random((len(lat), len(lon))) > 0.7).astype(np.float32), {"units": "1"})
    return xr.Dataset(fields, coords={"time": time, "lat": lat, "lon": lon})


# --- the targets -------------------------------------------------------------------------------


def test_window_means_average_the_days_from_each_day_on_and_refuse_gaps():
    ds = slow_fields(days=40, per_day=4)
    daily = daily_means(ds, ["t2m"])
    assert daily.sizes["time"] == 40 and daily["time"].dt.hour.values.max() == 0
    np.testing.assert_allclose(daily["t2m"].values[5], ds["t2m"].values[20:24].mean(0), rtol=1e-6)
    means = window_means(daily, 14)
    assert means.sizes["time"] == 27 and means["time"].values[-1] == daily["time"].values[26]
    np.testing.assert_allclose(means["t2m"].values[3], ds["t2m"].values[12:12 + 56].mean(0), rtol=1e-5)
    partial = daily_means(ds.isel(time=slice(0, 158)), ["t2m"])  # the 40th day lacks its last two frames
    assert partial.sizes["time"] == 39
    with pytest.raises(ValueError, match="gap before 2000-01-11.*contiguous stretch"):
        window_means(daily.drop_sel(time=daily["time"].values[9]), 3)
    with pytest.raises(ValueError, match="40 day\\(s\\) hold no 41-day window"):
        window_means(daily, 41)


def test_anomalies_remove_the_training_years_annual_cycle():
    ds = slow_fields()
    inputs, targets, clim = subseasonal_pair(ds, ["t2m", "tp6h"], [2000, 2001], WINDOW)
    assert clim.sizes == {"hour": 1, "dayofyear": 366, "lat": 32, "lon": 64} and clim.attrs["years"] == [2000, 2001]
    assert targets.attrs["quantity"] == WINDOW_QUANTITY and targets.attrs["window_days"] == WINDOW
    assert targets["t2m"].attrs["units"] == "K" and "3-day mean anomaly" in targets["t2m"].attrs["long_name"]
    np.testing.assert_array_equal(inputs["time"].values, targets["time"].values)
    assert targets.sizes["time"] == 800 - WINDOW + 1 and set(inputs.data_vars) == set(ds.data_vars)
    train = targets.sel(time=slice("2000", "2001"))
    _, spread = typical("t2m")
    assert abs(float(train["t2m"].mean())) < 0.01 * spread  # centred on the years it was fitted on
    raw = window_means(daily_means(ds, ["t2m"]), WINDOW)["t2m"]
    assert float(targets["t2m"].std()) < 0.8 * float(raw.std())  # the seasonal cycle is gone
    xr.testing.assert_allclose(anomalies(raw.to_dataset(), clim)["t2m"], targets["t2m"].drop_attrs(), rtol=1e-5)
    assert float(np.abs(anomaly_climatology(clim)["t2m"]).max()) == 0
    with pytest.raises(ValueError, match="cannot fix an annual cycle: give at least one full year"):
        harmonic_climatology(raw.to_dataset().isel(time=slice(0, 200)))


def test_week_labels_name_the_window_a_lead_covers():
    assert week_label(336) == "weeks 3-4" and week_label(672) == "weeks 5-6" and week_label(0, 7) == "weeks 1-1"
    assert week_label(72, 3) == "days 3+3"


# --- baselines ---------------------------------------------------------------------------------


def test_damped_persistence_uses_the_window_before_the_start_and_damps_it():
    ds = slow_fields()
    _, targets, _ = subseasonal_pair(ds, ["t2m"], [2000, 2001], WINDOW)
    inits = targets["time"].values[400:700:7]
    recent = recent_anomaly(targets, inits, WINDOW)
    np.testing.assert_array_equal(recent["t2m"].values[0], targets["t2m"].sel(time=inits[0] - np.timedelta64(3, "D")))
    coefficients = damping_coefficients(targets, LEADS, WINDOW, [2000, 2001])
    slope = coefficients["t2m"].mean(("lat", "lon")).values
    assert 0.4 < slope[1] < slope[0] < 1  # memory of 33 days: the longer lead keeps less of it
    damped = damped_persistence(targets, inits, coefficients, WINDOW)
    undamped = damped_persistence(targets, inits, None, WINDOW, lead_times=LEADS)
    assert damped.sizes == {"init_time": len(inits), "lead_time": 2, "lat": 32, "lon": 64}
    card = score({"damped": damped, "undamped": undamped}, targets, None, baselines=(), metrics=("rmse",))
    zero = zero_anomaly(targets, inits, LEADS)
    zero_rmse = score({"zero": zero}, targets, None, baselines=(), metrics=("rmse",))["t2m"]
    rmse = card["t2m"].sel(metric="rmse")
    assert (rmse.sel(model="damped") < rmse.sel(model="undamped")).all()
    assert (rmse.sel(model="damped") < zero_rmse.sel(model="zero", metric="rmse")).all()
    still = targets.assign(t2m=targets["t2m"].where(targets["lat"] > -80, 0.0))  # cells without anomalies
    assert float(damping_coefficients(still, LEADS, WINDOW, [2000, 2001])["t2m"].isel(lat=0).max()) == 0.0
    with pytest.raises(ValueError, match="give lead_times for undamped persistence"):
        damped_persistence(targets, inits, None, WINDOW)
    with pytest.raises(Exception, match="truth has no data at 1 window start"):
        recent_anomaly(targets, targets["time"].values[:1], WINDOW)


# --- statistics of their own ---------------------------------------------------------------------


def test_outputs_with_their_own_statistics_round_trip_in_the_spec_and_scale_the_targets():
    ds = slow_fields(days=420)
    inputs, targets, _ = subseasonal_pair(ds, ["t2m"], [2000], WINDOW)
    norm, out_norm = compute_stats(inputs, ["t2m", "lsm"]), compute_stats(targets, ["t2m"])
    builder = SampleBuilder(inputs, ["t2m", "lsm"], ["t2m"], norm, leads=72, targets=targets,
                            output_normalizer=out_norm)
    sample = builder.sample(builder.load(np.array([5]), 0), 0)
    t0 = builder.pairs.times[builder.pairs.init_positions[5]]
    expected = (targets["t2m"].sel(time=t0 + np.timedelta64(72, "h")).values - out_norm.mean["t2m"]) / \
        out_norm.std["t2m"]
    np.testing.assert_allclose(sample["y"][0].numpy(), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="output_normalizer scales outputs read from targets"):
        SampleBuilder(inputs, ["t2m"], ["t2m"], norm, leads=72, output_normalizer=out_norm)
    source = SourceSpec("reanalysis", norm, ("t2m", "lsm"), ("t2m",), output_stats=out_norm,
                        output_description={"quantity": WINDOW_QUANTITY, "window_days": np.int64(3)})
    back = SourceSpec.from_dict(source.to_dict())
    assert back == source and not back.outputs_are_states and back.output_normalizer.std == out_norm.std
    states = SourceSpec("reanalysis", norm, ("t2m",), ("t2m",))
    assert states.outputs_are_states and "output_stats" not in states.to_dict()


# --- end to end: fine-tune, forecast, score ----------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("subseasonal")
    ds = slow_fields()
    ds.to_netcdf(folder / "slow.nc")
    tiny = ["--trainer.progress", "false", "--trainer.accelerator", "cpu", "--data.batch_size", "4",
            "--optim.warmup_steps", "1", "--data.sources", f"[{folder / 'slow.nc'}]"]
    assert cli.main(["pretrain", "--config", "pretrain-tiny", *tiny, "--data.leads", "[24, 48]",
                     "--trainer.max_steps", "2", "--trainer.run_dir", str(folder / "pre")]) == 0
    assert cli.main(["finetune", "--config", "pretrain-tiny", *tiny, "--model.init", str(folder / "pre" / "model.pt"),
                     "--data.subseasonal", str(WINDOW), "--data.leads", "[72, 144]", "--model.residual", "false",
                     "--data.train_years", "[2000, 2001]", "--trainer.max_steps", "4",
                     "--trainer.run_dir", str(folder / "s2s")]) == 0
    return folder, ds


def test_a_version_2_spec_reads_as_one_without_output_statistics(trained):
    folder, _ = trained
    old = {**open_model(folder / "pre" / "model.pt").spec.to_dict(), "version": 2}
    assert ForecastSpec.from_dict(old).source().outputs_are_states
    with pytest.raises(Exception, match="version 9 is not one of \\[2, 3\\]"):
        ForecastSpec.from_dict({**old, "version": 9})


def test_a_subseasonal_model_predicts_anomalies_that_cannot_roll_out(trained):
    folder, ds = trained
    fm = open_model(folder / "s2s" / "model.pt")
    assert fm.spec.version == 3 and fm.trained_leads == LEADS and set(fm.outputs) == set(VARS)
    assert not fm.can_roll_out and fm.output_description["window_days"] == WINDOW
    assert fm.output_description["climatology_years"] == [2000, 2001]
    assert fm.output_normalizer.std["t2m"] < 0.8 * fm.normalizer.std["t2m"]  # anomalies vary less than fields
    assert check_subseasonal(fm)["quantity"] == WINDOW_QUANTITY
    inputs, targets, clim = subseasonal_pair(ds, VARS, [2000, 2001], WINDOW)
    inits = targets["time"].values[(targets["time"].dt.year == 2002).values][:12:3]
    fc = subseasonal_forecast(fm, inputs, init_times=inits)
    assert fc.sizes == {"init_time": 4, "lead_time": 2, "lat": 32, "lon": 64} and fc.attrs["task"] == "subseasonal"
    assert fc.attrs["window_days"] == WINDOW
    _, spread = typical("t2m")
    assert float(np.abs(fc["t2m"]).mean()) < 3 * spread  # anomalies in kelvin, not 280 K fields
    card = score({"model": fc}, targets, anomaly_climatology(clim), baselines=("climatology",))
    assert np.isfinite(card["t2m"].sel(model="model").values).all()
    with pytest.raises(RolloutError, match="other quantities than its inputs.*use mode='continuous'"):
        forecast(fm, inputs, [72, 144], mode="iterative", step=72, init_times=inits)
    with pytest.raises(ValueError, match="predicts states, not window-mean anomalies.*subseasonal-compact"):
        subseasonal_forecast(folder / "pre" / "model.pt", inputs, init_times=inits)


def test_subseasonal_settings_are_checked(trained, tmp_path, capsys):
    folder, _ = trained
    with pytest.raises(ValueError, match="leads must be whole days in hours, got \\[6.0\\]"):
        DataSection(subseasonal=14, leads=(6.0, 336.0))
    with pytest.raises(ValueError, match="excludes --data.downscale"):
        DataSection(subseasonal=14, downscale="coarsened", leads=(0.0,))
    assert cli.main(["finetune", "--config", "pretrain-tiny", "--trainer.progress", "false",
                     "--data.sources", f"[{folder / 'slow.nc'}]", "--data.subseasonal", "3", "--data.leads", "[72]",
                     "--model.residual", "true", "--trainer.max_steps", "1", "--trainer.run_dir", str(tmp_path)]) == 2
    assert "train them with --model.residual false" in capsys.readouterr().err
    assert cli.main(["finetune", "--config", "pretrain-tiny", "--model.family", "atmorep", "--data.subseasonal", "3",
                     "--data.leads", "[72]", "--trainer.run_dir", str(tmp_path / "a")]) == 2
    assert "--data.subseasonal trains ClimaX models" in capsys.readouterr().err
    outputs = DataSection(subseasonal=14, leads=(336.0,)).subseasonal_outputs(slow_fields(days=2).drop_vars("tp6h"))
    assert outputs == ("z500", "t850", "t2m")


def test_the_subseasonal_experiment_end_to_end(trained, tmp_path, monkeypatch, capsys):
    from climax_nb.experiments import tables
    from tests.scripts import load_script, refuse_training

    folder, _ = trained
    monkeypatch.setenv("CLIMAX_NB_CACHE", str(tmp_path / "cache"))
    script = load_script("experiments/subseasonal.py")
    argv = ["--data", str(folder / "slow.nc"), "--in-sample", "--set", "model.preset=tiny",
            "--set", "model.patch_size=2", "--set", f"data.subseasonal={WINDOW}", "--set", "data.leads=[72, 144]",
            "--set", "data.batch_size=4",
            "--steps", "2", "--seeds", "0", "--every-hours", "240",
            "--pretrained", str(folder / "pre" / "model.pt"), "--out", str(tmp_path)]
    frame = script.main(argv)
    arms = ["pretrained", "scratch", "damped_persistence", "anomaly_persistence", "climatology"]
    assert list(dict.fromkeys(frame["arm"])) == arms
    assert list(dict.fromkeys(frame["weeks"])) == ["days 3+3", "days 6+3"]
    assert frame.loc[frame["arm"] == "climatology", "msss"].eq(0).all()
    damped = frame[frame["arm"] == "damped_persistence"]
    assert (damped["msss"] > 0.2).all()  # the AR(1) memory is there to be found
    out = capsys.readouterr().out
    assert "damped_persistence beats climatology in 8 of 8 cells" in out
    assert "pretrained against damped_persistence: lower RMSE in" in out
    _, header = tables.read_table(tmp_path / "subseasonal.csv")
    assert header["command"].startswith("python experiments/subseasonal.py --data")
    refuse_training(monkeypatch)
    again = script.main([*argv, "--from-results"])
    pd.testing.assert_frame_equal(again, frame, check_dtype=False)


def test_the_dashboard_scores_a_subseasonal_file_beside_climatology(trained, tmp_path):
    from climax_nb.dashboard.discover import Entry
    from climax_nb.dashboard.settings import DataSpec, Settings
    from climax_nb.dashboard.store import ResultStore
    from climax_nb.forecast import save_forecast

    folder, ds = trained
    inputs, targets, _ = subseasonal_pair(ds, VARS, [2000, 2001], WINDOW)
    targets.to_netcdf(tmp_path / "targets.nc")  # the anomalies open as data: they are held to ranges of anomalies
    inits = targets["time"].values[(targets["time"].dt.year == 2002).values][:6:2]
    save_forecast(subseasonal_forecast(folder / "s2s" / "model.pt", inputs, init_times=inits), tmp_path / "s2s.nc")
    store = ResultStore(DataSpec(str(tmp_path / "targets.nc"), clim_years=(2000, 2001)), Settings(),
                        cache_dir=tmp_path / "cache")
    results = store.get(Entry("s2s", tmp_path / "s2s.nc", "forecast"))
    assert set(results.scores["model"].values) == {"model", "climatology"}
    assert results.forecast.sizes["lead_time"] == 2


def test_the_subseasonal_command_writes_a_forecast_and_its_targets(trained, tmp_path, capsys):
    from climax_nb.forecast import open_forecast

    folder, _ = trained
    out, targets = tmp_path / "s2s.nc", tmp_path / "targets.nc"
    assert cli.main(["subseasonal", "--checkpoint", str(folder / "s2s" / "model.pt"), "--data",
                     str(folder / "slow.nc"), "--every", "72", "--out", str(out), "--targets-out", str(targets)]) == 0
    fc = open_forecast(out)
    assert fc.attrs["task"] == "subseasonal" and fc.sizes["lead_time"] == 2
    assert set(fc["init_time"].dt.year.values) == {2002}  # the start days outside the climatology years
    truth = xr.open_dataset(targets)
    assert truth.attrs["quantity"] == WINDOW_QUANTITY and truth.attrs["window_days"] == WINDOW
    assert "start days in [2002]" in capsys.readouterr().out
    assert cli.main(["evaluate", "--forecast", str(out), "--truth", str(targets), "--clim-years", "[2000, 2001]",
                     "--baselines", "[climatology]", "--reference", "climatology",
                     "--out", str(tmp_path / "scores")]) == 0
    assert cli.main(["subseasonal", "--checkpoint", str(folder / "pre" / "model.pt"), "--data",
                     str(folder / "slow.nc"), "--out", str(tmp_path / "x.nc")]) == 2
    assert "not window-mean anomalies" in capsys.readouterr().err
