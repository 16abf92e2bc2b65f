"""experiments/damped_anomaly.py: the damped bases a residual model starts from, fitted and scored."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from climax_nb.data.climatology import climatology
from climax_nb.evaluate import score
from climax_nb.model import ClimaX, preset
from tests.scripts import load_script

damped = load_script("experiments/damped_anomaly.py")


def seasonal_world(years=("2000", "2003"), rho_6h=0.9, seed=0) -> xr.Dataset:
    """Four targets on an 8 x 16 grid: an annual cycle per cell plus red noise with lag-6 h correlation ``rho_6h``."""
    times = pd.date_range(f"{years[0]}-01-01", f"{years[1]}-12-31T18", freq="6h")
    rng = np.random.default_rng(seed)
    lat, lon = np.linspace(-78.75, 78.75, 8), np.arange(16) * 22.5
    design = damped.annual_design(times.values, 2)
    fields = {}
    for v in damped.TARGETS:
        coef = rng.normal(0, 3, (design.shape[1], 8, 16))
        noise = np.zeros((len(times), 8, 16))
        shocks = rng.normal(0, 1, noise.shape)
        for t in range(1, len(times)):
            noise[t] = rho_6h * noise[t - 1] + np.sqrt(1 - rho_6h**2) * shocks[t]
        fields[v] = (("time", "lat", "lon"), np.einsum("tk,khw->thw", design, coef) + noise)
    return xr.Dataset(fields, coords={"time": times, "lat": lat, "lon": lon})


def test_the_phase_is_the_models():
    model = ClimaX.from_config(preset("tiny", residual=True, residual_damping=True, seasonal_harmonics=3))
    times = np.array(["2000-03-01T06", "2003-11-17T18"], dtype="datetime64[ns]")
    ns = torch.from_numpy(times.astype(np.int64))
    phases = model.annual_phases(ns, torch.zeros(2), torch.zeros(2, 1, 1, 1)).double().numpy()
    design = damped.annual_design(times, 3)  # constant, then cos and sin of each harmonic
    np.testing.assert_allclose(phases[:, :3], design[:, 1::2], atol=1e-6)
    np.testing.assert_allclose(phases[:, 3:], design[:, 2::2], atol=1e-6)


def test_the_fits_recover_the_cycle_and_the_persistence_of_anomalies():
    world = seasonal_world(rho_6h=0.9)
    train = world.sel(time=slice("2000", "2001"))["t2m"]
    mean = damped.MeanField(train, 2)
    fixed = damped.MeanField(train, 0)
    np.testing.assert_allclose(fixed.at(train.time.values[:1])[0], train.mean("time").values, atol=1e-9)
    weights = np.ones((8, 1))
    # anomalies decay by 0.9 per 6 h: keep at 24 h is 0.9**4 about the true cycle
    assert damped.keep_factor(train, mean, 24.0, weights) == pytest.approx(0.9**4, abs=0.03)
    assert damped.keep_factor(train, mean, 6.0, weights) == pytest.approx(0.9, abs=0.02)
    # about a fixed mean, a lead's change is dominated by the cycle: the factor is near 1, the forecast worse
    assert damped.keep_factor(train, fixed, 24.0, weights) > 0.95


def test_the_seasonal_base_beats_the_fixed_one_and_climatology_on_a_seasonal_world():
    world = seasonal_world()
    train, truth = world.sel(time=slice("2000", "2001")), world.sel(time=slice("2003", "2003"))
    inits = truth.time.values[:200:4]
    forecasts, keeps = damped.damped_forecasts(train, truth, inits, [6.0, 24.0, 120.0], [2])
    assert set(forecasts) == {"fixed", "seasonal-2", "cycle-2"}
    assert keeps["seasonal-2"]["z500"][0] > keeps["seasonal-2"]["z500"][-1]  # anomalies forgotten with lead
    clim = climatology(train, years=(2000, 2001), variables=list(damped.TARGETS))
    card = score(forecasts, truth, clim, baselines=("persistence", "climatology"), metrics=("rmse",),
                 variables=list(damped.TARGETS))
    rmse = card["t2m"].sel(metric="rmse")
    assert (rmse.sel(model="seasonal-2") < rmse.sel(model="fixed")).all()
    assert (rmse.sel(model="seasonal-2") <= rmse.sel(model="climatology")).all()
    assert (rmse.sel(model="seasonal-2") < rmse.sel(model="persistence")).all()
    text = damped.lead_tables(card, damped.TARGETS)
    assert "| t2m | fixed |" in text and "|  | seasonal-2 |" in text and text.startswith("RMSE")
