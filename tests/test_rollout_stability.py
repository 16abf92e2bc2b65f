"""The rollout-stability experiment: power ratios, RMSE against the continuous model, verdicts, on tiny data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from climax_nb.forecast import save_forecast_checkpoint
from climax_nb.forecast.io import forecast_dataset
from tests.forecast_helpers import initial_state, tiny_checkpoint
from tests.scripts import load_script


@pytest.fixture(scope="module")
def stability():
    return load_script("experiments/rollout_stability.py")


def truth_as_forecast(truth, leads, scale=1.0):
    """The truth at the valid times of one initial time: a forecast with exactly the truth's spectra (times scale)."""
    init = truth["time"].values[:1]
    valid = [init[0] + np.timedelta64(int(h), "h") for h in leads]
    values = np.stack([truth["t2m"].sel(time=t).values for t in valid])[None, :, None] * scale
    return forecast_dataset(values.astype(np.float32), ["t2m"], init, leads, truth.lat.values, truth.lon.values)


def test_power_ratio_is_one_for_the_truth_and_infinite_for_a_blown_up_rollout(stability):
    truth = initial_state(steps=12)
    perfect = truth_as_forecast(truth, [24, 48])
    assert np.allclose(stability.band_ratio(perfect, truth, "t2m").values, 1.0)
    broken = perfect.copy(deep=True)
    broken["t2m"][0, 1, 0, 0] = np.nan
    ratios = stability.band_ratio(broken, truth, "t2m")
    assert ratios.loc[24.0] == pytest.approx(1.0) and np.isinf(ratios.loc[48.0])


def test_verdicts_judge_the_rollout_to_ten_days_and_the_rmse_at_five(stability):
    spectra = pd.DataFrame([
        {"variable": "z500", "mode": stability.ROLLOUT, "lead_h": 240.0, "power_ratio": 2.5, "within_target": "FAIL"},
        {"variable": "z500", "mode": stability.ROLLOUT, "lead_h": 336.0, "power_ratio": 9.0, "within_target": "-"},
    ])
    rmse = pd.DataFrame([{"variable": "z500", "lead_h": 120.0, "rollout_vs_continuous_pct": 4.0,
                          "within_target": "pass"}])
    power, error = stability.verdicts(spectra, rmse)
    assert power.endswith("FAIL: z500 1 of 1 leads outside (worst 2.5 at 240 h)")
    assert error.endswith("z500 +4.0 % pass")


def test_the_experiment_runs_on_tiny_data_and_reprints_its_tables(stability, tmp_path, capsys):
    ckpt = tiny_checkpoint(leads=(6.0, 24.0, 72.0, 120.0))
    path = save_forecast_checkpoint(tmp_path / "model.pt", ckpt.model, ckpt.spec)
    data = tmp_path / "truth.nc"
    initial_state(steps=33).to_netcdf(data)  # 8 days of 2000
    out = tmp_path / "out"
    stability.main(["--checkpoint", str(path), "--data", str(data), "--year", "2000", "--days", "6",
                    "--every-days", "1", "--out", str(out)])
    first = capsys.readouterr().out
    spectra, rmse = pd.read_csv(out / stability.SPECTRA), pd.read_csv(out / stability.RMSE)
    rollout = spectra[spectra["mode"] == stability.ROLLOUT]
    assert sorted(set(rollout["lead_h"])) == [24.0, 48.0, 72.0, 96.0, 120.0, 144.0]  # 6 days of data: 144 h
    assert set(spectra["variable"]) == {"z500", "t850", "t2m"}  # the targets the tiny model predicts
    assert set(rollout["within_target"]) <= {"pass", "FAIL"}
    assert set(spectra.loc[spectra["mode"] == stability.CONTINUOUS, "lead_h"]) == {24.0, 72.0, 120.0}
    assert {stability.ROLLOUT, stability.CONTINUOUS, "persistence"} <= set(rmse.columns)
    assert (rmse[stability.ROLLOUT] > 0).all()
    judged = rmse[rmse["within_target"] != "-"]
    assert set(judged["lead_h"]) == {120.0} and len(judged) == 3
    assert "(a) power at k >= 16" in first and "(b) rollout RMSE at 120 h" in first
    assert "1 initial times every 1 days" in first
    stability.main(["--out", str(out), "--from-results"])
    assert capsys.readouterr().out.strip() == first.strip().split("\n", 1)[1].strip()  # less the progress line


def test_a_six_hour_model_is_compared_with_another_lead_conditioned_model(stability, tmp_path, capsys):
    step_only = save_forecast_checkpoint(tmp_path / "step.pt", *_parts(tiny_checkpoint(leads=(6.0,))))
    reference = save_forecast_checkpoint(tmp_path / "leads.pt", *_parts(tiny_checkpoint(leads=(6.0, 24.0))))
    data = tmp_path / "truth.nc"
    initial_state(steps=17).to_netcdf(data)  # 4 days of 2000
    args = ["--checkpoint", str(step_only), "--data", str(data), "--year", "2000", "--days", "2", "--every-days", "1"]
    with pytest.raises(SystemExit, match="trained for 6 h"):  # no longer leads of its own to compare with
        stability.main([*args, "--out", str(tmp_path / "alone")])
    stability.main([*args, "--continuous-checkpoint", str(reference), "--out", str(tmp_path / "out")])
    assert f"(continuous: {reference})" in capsys.readouterr().out
    rmse = pd.read_csv(tmp_path / "out" / stability.RMSE)
    assert set(rmse["lead_h"]) == {24.0} and (rmse[stability.CONTINUOUS] > 0).all()


def _parts(ckpt):
    return ckpt.model, ckpt.spec


def test_a_damped_rollout_says_so_and_has_less_small_scale_power(stability, tmp_path, capsys):
    path = save_forecast_checkpoint(tmp_path / "model.pt", *_parts(tiny_checkpoint(leads=(6.0, 24.0))))
    data = tmp_path / "truth.nc"
    initial_state(steps=17).to_netcdf(data)
    args = ["--checkpoint", str(path), "--data", str(data), "--year", "2000", "--days", "2", "--every-days", "1"]
    stability.main([*args, "--out", str(tmp_path / "plain")])
    stability.main([*args, "--hyperdiffusion", "1", "--hyperdiffusion-order", "4", "--out", str(tmp_path / "damped")])
    assert "rollout damped by zonal del^4, e-folding 1 h" in capsys.readouterr().out

    def rolled(name):
        spectra = pd.read_csv(tmp_path / name / stability.SPECTRA)
        return spectra[spectra["mode"] == stability.ROLLOUT].set_index("variable")["power_ratio"]

    assert (rolled("damped") < rolled("plain")).all()
