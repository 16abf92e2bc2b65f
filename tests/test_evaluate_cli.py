"""`climax-nb forecast` and `evaluate` with ensembles and every baseline, through the one scorer."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from climax_nb import cli
from climax_nb.data.climatology import climatology
from climax_nb.evaluate import score
from climax_nb.forecast import open_forecast, save_forecast_checkpoint
from tests.forecast_helpers import initial_state, tiny_checkpoint


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluate")
    ckpt = tiny_checkpoint()
    model = save_forecast_checkpoint(folder / "model.pt", ckpt.model, ckpt.spec)
    data = folder / "data.nc"
    initial_state(steps=24).to_netcdf(data)
    return folder, model, data


def test_an_ensemble_is_scored_with_crps_beside_every_baseline(files, tmp_path):
    _, model, data = files
    fc_path = tmp_path / "ens.nc"
    assert cli.main(["forecast", "--checkpoint", str(model), "--data", str(data), "--leads", "6", "24",
                     "--every", "12", "--members", "3", "--out", str(fc_path)]) == 0
    fc = open_forecast(fc_path)
    assert fc.sizes["member"] == 3
    out = tmp_path / "scores"
    assert cli.main(["evaluate", "--forecast", str(fc_path), "--truth", str(data), "--clim-years", "2000",
                     "--in-sample", "--baselines", "persistence", "climatology", "weekly_climatology",
                     "--out", str(out)]) == 0
    card = xr.open_dataset(out / "scorecard.nc")
    assert list(card["model"].values) == ["model", "persistence", "climatology", "weekly_climatology"]
    assert list(card["metric"].values) == ["rmse", "acc", "crps", "spread_skill_ratio"]
    crps = card["t2m"].sel(model="model", metric="crps")
    assert np.isfinite(crps).all() and (crps > 0).all()
    assert np.isnan(card["t2m"].sel(model="persistence", metric="spread_skill_ratio")).all()  # one member


def test_the_scorer_names_bad_choices(files):
    _, _, data = files
    truth = xr.open_dataset(data)
    clim = climatology(truth, years=[2000])
    with pytest.raises(ValueError, match=r"unknown baseline\(s\) \['damped'\]; choose from"):
        score(truth.isel(time=[0]).rename(time="init_time"), truth, clim, baselines=("damped",))


def test_a_damped_rollout_from_the_command_line_says_how_it_was_damped(files, tmp_path):
    _, model, data = files
    fc_path = tmp_path / "damped.nc"
    assert cli.main(["forecast", "--checkpoint", str(model), "--data", str(data), "--leads", "6", "12",
                     "--every", "12", "--mode", "iterative", "--step", "6", "--hyperdiffusion", "3",
                     "--hyperdiffusion-order", "4", "--out", str(fc_path)]) == 0
    fc = open_forecast(fc_path)
    assert fc.attrs["damping"] == "zonal del^4, e-folding 3 h at the highest wavenumber"
