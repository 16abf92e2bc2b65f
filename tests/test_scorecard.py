"""Scorecard on small synthetic data: a forecast that beats persistence, and the table and plot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from climax_nb import baselines
from climax_nb.metrics import MetricInputError, rmse
from climax_nb.scorecard import lead_tables, load_scored_run, plot_skill, relative_table, save_scored_run, scorecard

LAT, LON = np.array([-45.0, 45.0]), np.array([0.0, 120.0, 240.0])
TIMES = pd.date_range("2001-01-01", periods=20, freq="6h")
INITS = TIMES[:8]
LEADS = pd.to_timedelta([6, 12], unit="h")


def truth() -> xr.Dataset:
    rng = np.random.default_rng(0)
    data = np.cumsum(rng.normal(size=(len(TIMES), 2, 3)), axis=0)
    return xr.Dataset(
        {"t850": (("time", "lat", "lon"), data), "z500": (("time", "lat", "lon"), 2 * data)},
        coords={"time": TIMES, "lat": LAT, "lon": LON},
    )


def clim() -> xr.Dataset:
    return truth().mean("time").assign_attrs(kind="time_mean")


def good_forecast(obs: xr.Dataset) -> xr.Dataset:
    """The truth at valid time plus small noise."""
    frame = baselines.forecast_axes(INITS, LEADS)
    at = obs.sel(time=frame["valid_time"]).drop_vars("time")
    return at + 0.01 * np.random.default_rng(1).normal(size=at["t850"].shape)


def card() -> xr.Dataset:
    obs = truth()
    models = {"model": good_forecast(obs), "persistence": baselines.persistence(obs, INITS, LEADS)}
    return scorecard(models, obs, clim(), metrics=("rmse", "acc"))


def test_scorecard_layout_and_values():
    c = card()
    assert set(c.data_vars) == {"t850", "z500"}
    assert c["t850"].dims == ("model", "metric", "lead_time")
    assert c["model"].values.tolist() == ["model", "persistence"] and c["metric"].values.tolist() == ["rmse", "acc"]
    obs = truth()
    direct = rmse(baselines.persistence(obs, INITS, LEADS), obs)
    np.testing.assert_allclose(c["z500"].sel(model="persistence", metric="rmse"), direct["z500"])
    assert (c["t850"].sel(model="model", metric="acc") > 0.99).all()


def test_relative_table_signs():
    table = relative_table(card(), reference="persistence")
    assert list(table.columns) == ["model"]
    assert (table.xs("rmse", level="metric")["model"] < -50).all()  # far smaller error than persistence
    assert table.index.get_level_values("lead_hours").unique().tolist() == [6.0, 12.0]


def test_relative_table_unknown_reference():
    with pytest.raises(MetricInputError, match="reference 'climatology'"):
        relative_table(card(), reference="climatology")


def test_missing_lead_times_are_nan_and_ensemble_only_metrics_nan_for_deterministic():
    obs = truth()
    short = baselines.persistence(obs, INITS, LEADS[:1])
    c = scorecard(
        {"short": short, "long": baselines.persistence(obs, INITS, LEADS)}, obs, metrics=("rmse", "spread_skill_ratio")
    )
    assert np.isnan(c["t850"].sel(model="short", metric="rmse", lead_time=LEADS[1]))
    assert np.isnan(c["t850"].sel(metric="spread_skill_ratio")).all()


def test_plot_skill_panels_and_file(tmp_path):
    path = tmp_path / "skill.png"
    fig = plot_skill(card(), variables=["z500"], path=path)
    assert len(fig.axes) == 2 and path.stat().st_size > 0
    assert fig.axes[0].get_title() == "z500 rmse" and len(fig.axes[0].lines) == 2
    with pytest.raises(MetricInputError, match="no variable"):
        plot_skill(card(), variables=["q700"])


def test_lead_tables_and_a_scored_run_folder_round_trip(tmp_path):
    c = card()
    text = lead_tables(c, ["z500", "t850"], models=["persistence", "model", "gcm-twin"])
    assert text.startswith("RMSE") and "| variable | forecast | 6 h | 12 h |" in text
    rows = [line for line in text.splitlines() if line.startswith("| z500") or line.startswith("|  |")]
    assert rows[0].startswith("| z500 | persistence |") and "gcm-twin" not in text  # absent models are left out
    save_scored_run(tmp_path / "run", c, {"year": 2001, "leads_h": [6, 12]})
    again, info = load_scored_run(tmp_path / "run")
    xr.testing.assert_allclose(again, c)
    assert info == {"year": 2001, "leads_h": [6, 12]}
    with pytest.raises(FileNotFoundError, match="has no scores.nc or run.json: run the script without --from-results"):
        load_scored_run(tmp_path / "empty")
