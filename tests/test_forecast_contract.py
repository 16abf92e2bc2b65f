"""The forecast contract: a typed spec written and read by one pair of functions, old files included."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from climax_nb.data.stats import Normalizer
from climax_nb.forecast import (
    ForecastSpec,
    SourceSpec,
    SpecError,
    climax_spec,
    forecast,
    load_forecast_checkpoint,
    open_model,
    save_forecast_checkpoint,
)
from climax_nb.forecast.spec import SPEC_VERSION
from climax_nb.grid import Grid
from climax_nb.model import REGIONS, ClimaX, RegionalClimaX, preset
from climax_nb.model.regional import equiangular_grid
from climax_nb.train.checkpointing import export_forecast_checkpoint

DATA = Path(__file__).parent / "data"
CFG = preset("tiny", variables=("lsm", "t2m", "z500", "t850", "lat"), drop_path=0.0, drop_rate=0.0)
NORM = Normalizer({"lsm": 0.5, "t2m": 280.0, "z500": 5.4e4, "t850": 270.0, "lat": 0.0},
                  {"lsm": 0.4, "t2m": 10.0, "z500": 3e3, "t850": 9.0, "lat": 50.0}, years=(2000,))
SOURCES = [SourceSpec("reanalysis", NORM, ("lsm", "t2m", "z500", "t850", "lat"), ("t2m", "z500", "t850")),
           SourceSpec("other", NORM, ("t2m", "z500"), ("t2m",))]


def _spec(model, region=None) -> ForecastSpec:
    return climax_spec(model, equiangular_grid(CFG.img_size), SOURCES, trained_leads=(24.0, 6.0),
                       time_step_hours=6.0, region=region, training={"global_step": 3})


@pytest.mark.parametrize(("cls", "region"), [(ClimaX, None), (RegionalClimaX, REGIONS["NorthAmerica"])])
def test_round_trip_keeps_spec_and_weights(tmp_path, cls, region):
    torch.manual_seed(0)
    model = cls.from_config(CFG).eval()
    spec = _spec(model, region)
    path = save_forecast_checkpoint(tmp_path / "sub" / "m.pt", model, spec)
    assert sorted(os.listdir(path.parent)) == ["m.pt"]  # the temporary file was renamed
    plain = torch.load(path, weights_only=True)  # plain data only
    assert plain["spec"]["version"] == SPEC_VERSION and plain["spec"]["family"] == "climax"
    loaded = load_forecast_checkpoint(path)
    assert loaded.spec.to_dict() == spec.to_dict()
    assert loaded.spec.trained_leads == (6.0, 24.0) and loaded.spec.region == region
    assert type(loaded.model) is cls
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value)


def test_open_model_picks_a_source_and_names_what_is_missing(tmp_path):
    model = ClimaX.from_config(CFG)
    path = save_forecast_checkpoint(tmp_path / "m.pt", model, _spec(model))
    fm = open_model(path)
    assert fm.source == "reanalysis" and fm.outputs == ("t2m", "z500", "t850")
    other = open_model(path, source="other")
    assert other.inputs == ("t2m", "z500") and other.outputs == ("t2m",)
    with pytest.raises(SpecError, match=r"no source 'x'; it has \['reanalysis', 'other'\]"):
        open_model(path, source="x")
    with pytest.raises(SpecError, match=r"has no variable\(s\) \['u10'\]"):
        open_model(path, outputs=["u10"])


def test_bad_specs_are_refused(tmp_path):
    model = ClimaX.from_config(CFG)
    with pytest.raises(SpecError, match="the model expects 8x16"):
        climax_spec(model, Grid.weatherbench(5.625), SOURCES, trained_leads=None)
    with pytest.raises(SpecError, match="needs the region it predicts"):
        climax_spec(RegionalClimaX.from_config(CFG), equiangular_grid(CFG.img_size), SOURCES, trained_leads=None)
    with pytest.raises(SpecError, match="at least one source"):
        ForecastSpec("climax", "ClimaX", CFG.to_dict(), equiangular_grid(CFG.img_size), ())
    newer = {**_spec(model).to_dict(), "version": SPEC_VERSION + 1}
    with pytest.raises(SpecError, match="newer ones need a newer climax_nb"):
        ForecastSpec.from_dict(newer)
    unknown = ForecastSpec("graphcast", "X", {}, equiangular_grid(CFG.img_size), tuple(SOURCES))
    with pytest.raises(SpecError, match=r"unknown model family 'graphcast'; known: \['atmorep', 'climax'\]"):
        save_forecast_checkpoint(tmp_path / "m.pt", model, unknown)
    assert not (tmp_path / "m.pt").exists()


def test_files_that_are_not_forecast_checkpoints_are_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(SpecError, match="import-climax"):
        load_forecast_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no forecast checkpoint at"):
        load_forecast_checkpoint(tmp_path / "missing.pt")


def _expected() -> tuple[xr.Dataset, xr.Dataset]:
    state = xr.open_dataset(DATA / "v1_state.nc").load()
    return state, xr.open_dataset(DATA / "v1_forecast_expected.nc").load()


def test_a_version_1_forecast_checkpoint_still_forecasts_the_same():
    state, expected = _expected()
    fm = open_model(DATA / "v1_model.pt")
    assert fm.source == "reanalysis" and fm.trained_leads == (6.0, 24.0)
    assert fm.inputs == ("z500", "t850", "t2m", "lsm", "lat") and fm.outputs == ("z500", "t850", "t2m")
    fc = forecast(fm, state, [6, 24], init_times=state.time.values[:2])
    xr.testing.assert_allclose(fc, expected)


def test_a_version_1_training_checkpoint_exports_to_the_same_forecast(tmp_path):
    state, expected = _expected()
    out = export_forecast_checkpoint(DATA / "v1_lightning.ckpt", tmp_path / "model.pt")
    assert torch.load(out, weights_only=True)["spec"]["version"] == SPEC_VERSION
    fc = forecast(out, state, [6, 24], init_times=state.time.values[:2])
    xr.testing.assert_allclose(fc, expected)


def test_predict_is_one_step_in_physical_units():
    state, expected = _expected()
    one = open_model(DATA / "v1_model.pt").predict(state, state.time.values[:2], 6)
    assert one.sizes == {"init_time": 2, "lat": 8, "lon": 16}
    np.testing.assert_allclose(one["z500"].values, expected["z500"].isel(lead_time=0).values, rtol=1e-6)
