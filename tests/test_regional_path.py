"""A regional model through the whole path: fine-tuned from a global one, forecast, scored on its box, shown."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from climax_nb import cli
from climax_nb.dashboard import DataSpec, ResultStore
from climax_nb.dashboard.discover import Entry
from climax_nb.dashboard.settings import Settings
from climax_nb.forecast import RolloutError, forecast, load_forecast_checkpoint, open_forecast, open_model
from climax_nb.metrics.weights import spatial_mean
from climax_nb.model import REGIONS, RegionalClimaX
from tests.train_helpers import pretrain_then_box

TINY = ["--model.preset", "tiny", "--model.embed_dim", "32", "--model.patch_size", "4", "--trainer.progress", "false",
        "--data.leads", "[6, 12]", "--data.batch_size", "4", "--optim.warmup_steps", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A global model pretrained on the waves, then fine-tuned on North America's tokens only."""
    folder = tmp_path_factory.mktemp("regional")
    data, glob, box = pretrain_then_box(folder, "NorthAmerica", TINY)
    return folder, data, glob, box


def test_the_fine_tuned_model_is_regional_and_starts_from_the_global_weights(runs):
    folder, _, glob, box = runs
    loaded = load_forecast_checkpoint(box)
    assert isinstance(loaded.model, RegionalClimaX) and loaded.spec.region == REGIONS["NorthAmerica"]
    report = (folder / "box" / "init_report.txt").read_text()
    assert "interpolated" not in report  # same grid: the box's patches pick their rows of pos_embed
    start = load_forecast_checkpoint(glob).model
    assert loaded.model.pos_embed.shape == start.pos_embed.shape


def test_forecast_and_scores_are_on_the_box(runs, tmp_path):
    _, data, _, box = runs
    fc_path = tmp_path / "fc.nc"
    assert cli.main(["forecast", "--checkpoint", str(box), "--data", str(data), "--leads", "6", "12",
                     "--every", "12", "--out", str(fc_path)]) == 0
    fc = open_forecast(fc_path)
    lat, lon = fc["lat"].values, fc["lon"].values
    assert fc.sizes["lat"] == 8 and fc.sizes["lon"] == 12
    assert np.all(np.diff(lat) > 0) and 15 <= lat.min() and lat.max() <= 65  # north, not its mirror
    assert 220 <= lon.min() and lon.max() <= 300
    assert np.isfinite(fc["z500"].values).all()

    truth = xr.open_dataset(data)
    fm = open_model(box)
    direct = fm.predict(truth, fc["init_time"].values[:1], 6)
    np.testing.assert_allclose(direct["z500"].values, fc["z500"].isel(init_time=[0], lead_time=0).values,
                               rtol=1e-5)

    scores = tmp_path / "scores"
    assert cli.main(["evaluate", "--forecast", str(fc_path), "--truth", str(data), "--clim-years", "2000",
                     "--in-sample", "--out", str(scores)]) == 0
    card = xr.open_dataset(scores / "scorecard.nc")
    # persistence's RMSE computed by hand on the box's cells, with the box's own area weights
    box_truth = truth.sel(lat=lat, lon=lon)
    init, lead = fc["init_time"].values[0], np.timedelta64(6, "h")
    inits = fc["init_time"].values
    errors = [(box_truth["z500"].sel(time=t + lead) - box_truth["z500"].sel(time=t)) ** 2 for t in inits]
    expected = np.sqrt(float(np.mean([spatial_mean(e).values for e in errors])))
    got = float(card["z500"].sel(model="persistence", metric="rmse", lead_time=lead))
    assert got == pytest.approx(expected, rel=1e-5)
    assert init in inits


def test_a_regional_model_cannot_roll_out_and_says_why(runs):
    _, data, _, box = runs
    truth = xr.open_dataset(data)
    with pytest.raises(RolloutError, match="cannot be fed back: use mode='continuous'"):
        forecast(box, truth, [12], mode="iterative", step=6, init_times=truth.time.values[:1])


def test_the_dashboard_shows_the_box(runs, tmp_path):
    _, data, _, box = runs
    store = ResultStore(DataSpec(str(data)), Settings(leads=(6.0, 12.0), n_inits=2, every_hours=12.0),
                        cache_dir=tmp_path)
    results = store.get(Entry("box", box, "checkpoint"))
    assert results.forecast.sizes["lat"] == 8 and results.truth.sizes["lon"] == 12
    assert any("no iterative rollout" in note for note in results.notes)
    attn = results.attention(results.forecast["init_time"].values[0])
    assert attn.sizes["lat"] == 2 and attn.sizes["lon"] == 3  # the box's patches
    np.testing.assert_allclose(attn.sum("variable").values, 1.0, atol=1e-5)  # weights over the inputs


def test_the_dashboard_page_maps_the_box_only(runs, tmp_path):
    from climax_nb.dashboard.app import Dashboard

    _, data, _, box = runs
    store = ResultStore(DataSpec(str(data)), Settings(leads=(6.0, 12.0), n_inits=2, every_hours=12.0),
                        cache_dir=tmp_path)
    page = Dashboard(store, [Entry("box", box, "checkpoint")], projection="Plate Carrée")
    assert not page.alert.visible
    fmap = page.maps["forecast"]
    image = np.asarray(fmap.image.data["image"][0])
    lat, lon = (np.asarray(fmap.image.data[k][0]) for k in ("lat", "lon"))
    drawn = np.isfinite(image)
    assert drawn.any() and not drawn.all()  # the box is drawn, the rest of the globe is not
    assert lat[drawn].min() >= 15 - 6 and lat[drawn].max() <= 65 + 6  # within a cell of North America
    assert np.isfinite(np.asarray(page.maps["error"].image.data["image"][0])[drawn]).all()
