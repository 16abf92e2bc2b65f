"""Downscaling: bilinear upsampling, perfect-model pairs, training on targets at lead 0, the CLI and its scores.

The data are travelling waves on the 2.8125 deg grid with a fine-scale ripple the 5.625 deg
grid cannot hold, so the coarsened-then-upsampled input misses it and a model can learn it back.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from climax_nb import cli
from climax_nb.baselines import bilinear, perfect_model_bilinear
from climax_nb.data.downscaling import coarsen, perfect_model_input, upsample
from climax_nb.data.pipeline.samples import SampleBuilder
from climax_nb.data.regrid import linear_weights, regrid
from climax_nb.data.stats import compute_stats
from climax_nb.evaluate import score
from climax_nb.forecast import open_forecast
from climax_nb.forecast.downscale import check_downscaler, downscale
from climax_nb.grid import WB2812, WB5625
from climax_nb.metrics.deterministic import pearson
from climax_nb.train.run import DataSection
from climax_nb.variables import VARIABLES
from tests.conftest import typical

VARS = ("z500", "t850", "t2m")


def fine_waves(steps: int = 24, start: str = "2000-01-01") -> xr.Dataset:
    """Travelling waves plus a ripple at zonal wavenumber 40 on the 2.8125 deg grid, with lsm and orography."""
    time = pd.date_range(start, periods=steps, freq="6h")
    lat, lon = np.deg2rad(WB2812.lat)[:, None], np.deg2rad(WB2812.lon)[None, :]
    orography = 1000.0 * (1 + np.cos(40 * lon) * np.cos(lat) ** 2)
    fields = {}
    for k, vid in enumerate(VARS):
        centre, spread = typical(vid)
        wave = np.stack([np.cos(lat) * np.cos(2 * lon - 0.3 * t + k) for t in range(steps)])
        ripple = np.cos(40 * lon) * np.cos(lat) ** 2
        fields[vid] = (("time", "lat", "lon"), (centre + spread * (10 * wave + 3 * ripple)).astype(np.float32),
                       {"units": VARIABLES[vid].units})
    fields["orography"] = (("lat", "lon"), orography.astype(np.float32), {"units": "m"})
    fields["lsm"] = (("lat", "lon"), (orography > 1000).astype(np.float32), {"units": "1"})
    return xr.Dataset(fields, coords={"time": time, "lat": WB2812.lat, "lon": WB2812.lon})


# --- upsampling and pairs ------------------------------------------------------------------------


def test_linear_weights_interpolate_wrap_and_hold_the_edges():
    src = np.array([-45.0, 0.0, 45.0])
    w = linear_weights(src, np.array([-60.0, -22.5, 0.0, 30.0, 60.0]))
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    np.testing.assert_allclose(w @ np.array([1.0, 2.0, 3.0]), [1.0, 1.5, 2.0, 2 + 2 / 3, 3.0])
    lon = np.arange(0.0, 360.0, 90.0)
    wl = linear_weights(lon, np.array([315.0, 0.0, 45.0]), period=360.0)
    np.testing.assert_allclose(wl @ np.array([0.0, 1.0, 2.0, 3.0]), [1.5, 0.0, 0.5])  # 315: halfway 270 -> 360


def test_upsampling_is_exact_on_shared_longitudes_and_keeps_the_fine_constants():
    fine = fine_waves(steps=2)
    coarse = coarsen(fine)
    assert coarse.sizes == {"time": 2, "lat": 32, "lon": 64}
    up = upsample(coarse, fine)
    assert up.sizes == fine.sizes and list(up["lat"].values) == list(WB2812.lat)
    # every second fine column is a coarse column, interpolated in latitude (held beyond the outer rows);
    # the columns between are the mean of their two neighbours, across 0 deg too
    c = coarse["t850"].values[0].astype(np.float64)
    u = up["t850"].values[0].astype(np.float64)
    for j in (0, 17, 63):
        np.testing.assert_allclose(u[:, 2 * j], np.interp(WB2812.lat, WB5625.lat, c[:, j]), rtol=1e-6)
    np.testing.assert_allclose(u[:, 1::2], (u[:, ::2] + np.roll(u[:, ::2], -1, axis=1)) / 2, rtol=1e-6)
    xr.testing.assert_equal(up["orography"], fine["orography"])  # the fine grid's own constants
    # the ripple at wavenumber 40 is beyond the coarse grid's 32: the upsampled field has lost it
    assert float(np.abs(up["t2m"] - fine["t2m"]).mean()) > 0.5
    with pytest.raises(ValueError, match="upsampling goes to a finer grid.*pass the fine dataset second"):
        upsample(fine, coarse)
    with pytest.raises(ValueError, match="unknown regridding method 'cubic'"):
        regrid(coarse, WB2812, method="cubic")


def test_samples_read_inputs_and_targets_at_one_time():
    fine = fine_waves(steps=8)
    inputs = perfect_model_input(fine)
    stats = compute_stats(fine, [*VARS, "lsm", "orography", "lat"])
    builder = SampleBuilder(inputs, [*VARS, "orography", "lat"], list(VARS), stats, leads=0, targets=fine)
    assert len(builder) == 8
    sample = builder.sample(builder.load(np.arange(8), 0), 3)
    assert float(sample["lead_time"]) == 0.0 and sample["x"].shape == (5, 64, 128)
    expected_y = stats.normalize(fine[list(VARS)].isel(time=3).to_array().values, list(VARS))
    np.testing.assert_allclose(sample["y"].numpy(), expected_y, rtol=1e-5, atol=1e-5)
    expected_x = stats.normalize(inputs["t850"].isel(time=3).values[None], ["t850"])[0]
    np.testing.assert_allclose(sample["x"][1].numpy(), expected_x, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="not at the inputs' times.*select the same times of both"):
        SampleBuilder(inputs, list(VARS), list(VARS), stats, leads=0, targets=fine.isel(time=slice(1, None)))
    with pytest.raises(ValueError, match=r"32x64 grid and the targets on 64x128: upsample the inputs"):
        SampleBuilder(coarsen(fine), list(VARS), list(VARS), stats, leads=0, targets=fine)
    with pytest.raises(ValueError, match="rollout_steps > 1 feeds predictions back"):
        SampleBuilder(inputs, list(VARS), list(VARS), stats, leads=6, targets=fine, rollout_steps=2)
    with pytest.raises(ValueError, match="lead time 0 h is not a positive multiple"):
        SampleBuilder(fine, list(VARS), list(VARS), stats, leads=0)


def test_downscaling_settings_are_checked_by_the_data_section():
    with pytest.raises(ValueError, match=r"unknown --data.downscale 'nudged'; choose one of \['coarsened'\]"):
        DataSection(downscale="nudged", leads=(0.0,))
    with pytest.raises(ValueError, match=r"pairs each time with itself: use --data.leads \[0\], not \[6.0\]"):
        DataSection(downscale="coarsened", leads=(6.0,))


# --- scores --------------------------------------------------------------------------------------


def test_pearson_ignores_scale_and_offset_but_not_the_pattern():
    fine = fine_waves(steps=4)
    truth = fine[list(VARS)]
    fc = perfect_model_bilinear(truth, truth["time"].values[:2], list(VARS))
    assert fc.sizes["lead_time"] == 1 and fc["lead_time"].values[0] == np.timedelta64(0, "ns")
    scaled = fc.copy(data={v: 3 * truth[v].values[:2, None] + 7 for v in VARS})
    np.testing.assert_allclose(pearson(scaled, truth)["t850"].values, 1.0, rtol=1e-6)
    shuffled = fc.copy(data={v: np.roll(truth[v].values[:2, None], 17, axis=-2) for v in VARS})
    assert float(pearson(shuffled, truth)["t850"].squeeze()) < 0.9
    assert 0.5 < float(pearson(fc, truth)["t2m"].squeeze()) < 0.999
    assert pearson(fc, truth)["t2m"].attrs["units"] == "1"


def test_the_bilinear_baseline_is_the_coarsened_truth_upsampled():
    fine = fine_waves(steps=4)
    times = fine["time"].values[1:3]
    direct = bilinear(coarsen(fine), fine, times, ["t2m"])
    np.testing.assert_array_equal(direct["t2m"].values, perfect_model_bilinear(fine, times, ["t2m"])["t2m"].values)
    card = score({"bilinear_copy": direct}, fine, None, baselines=("bilinear",), metrics=("rmse", "bias", "pearson"),
                 variables=["t2m"])
    rmse = card["t2m"].sel(metric="rmse", lead_time=np.timedelta64(0, "h"))
    assert float(rmse.sel(model="bilinear")) == pytest.approx(float(rmse.sel(model="bilinear_copy")))
    assert float(rmse.sel(model="bilinear")) > 0


# --- end to end: pretrain, fine-tune to downscale, downscale, evaluate ------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("downscaling")
    fine = fine_waves(steps=40)
    fine.to_netcdf(folder / "fine.nc")
    coarsen(fine).to_netcdf(folder / "coarse.nc")
    tiny = ["--trainer.progress", "false", "--trainer.accelerator", "cpu", "--data.batch_size", "4",
            "--trainer.checkpoint_every_n_steps", "2", "--optim.warmup_steps", "1"]
    assert cli.main(["pretrain", "--config", "pretrain-tiny", *tiny, "--data.sources", f"[{folder / 'coarse.nc'}]",
                     "--data.leads", "[6, 12]", "--trainer.max_steps", "2",
                     "--trainer.run_dir", str(folder / "pre")]) == 0
    runs = {}
    for name, init in (("pretrained", ["--model.init", str(folder / "pre" / "model.pt")]), ("scratch", [])):
        assert cli.main(["finetune", "--config", "pretrain-tiny", *tiny, *init,
                         "--data.sources", f"[{folder / 'fine.nc'}]", "--data.downscale", "coarsened",
                         "--data.leads", "[0]", "--model.residual", "true", "--trainer.max_steps", "4",
                         "--trainer.run_dir", str(folder / name)]) == 0
        runs[name] = folder / name / "model.pt"
    return folder, fine, runs


def test_a_downscaling_run_starts_from_the_coarse_pretrained_model(trained):
    folder, fine, runs = trained
    report = (folder / "pretrained" / "init_report.txt").read_text()
    assert "pos_embed" in report or "interpolat" in report.lower()
    from climax_nb.forecast import open_model

    fm = open_model(runs["pretrained"])
    assert fm.grid.shape == (64, 128) and fm.trained_leads == (0.0,)
    assert set(fm.outputs) == set(VARS) and "orography" in fm.inputs
    check_downscaler(fm)


def test_downscale_cli_writes_a_lead_zero_forecast_that_evaluate_scores_against_bilinear(trained, capsys):
    folder, fine, runs = trained
    out = folder / "downscaled.nc"
    assert cli.main(["downscale", "--checkpoint", str(runs["pretrained"]), "--data", str(folder / "fine.nc"),
                     "--every", "12", "--out", str(out)]) == 0
    fc = open_forecast(out)
    assert fc.sizes == {"init_time": 20, "lead_time": 1, "lat": 64, "lon": 128}
    assert fc["lead_time"].values[0] == np.timedelta64(0, "ns") and fc.attrs["task"] == "downscaling"
    np.testing.assert_array_equal(fc["valid_time"].values[:, 0], fc["init_time"].values)
    # the same through the Python API, and through the CLI from a coarse file
    coarse = xr.open_dataset(folder / "coarse.nc")
    api = downscale(runs["pretrained"], coarse, fine, init_times=fc["init_time"].values)
    np.testing.assert_allclose(api["t850"].values, fc["t850"].values, rtol=1e-5)
    from_file = folder / "from_file.nc"
    assert cli.main(["downscale", "--checkpoint", str(runs["pretrained"]), "--data", str(folder / "fine.nc"),
                     "--coarse", str(folder / "coarse.nc"), "--every", "12", "--out", str(from_file)]) == 0
    np.testing.assert_allclose(open_forecast(from_file)["t850"].values, fc["t850"].values, rtol=1e-5)
    assert cli.main(["evaluate", "--forecast", str(out), "--truth", str(folder / "fine.nc"), "--clim-years", "2000",
                     "--in-sample", "true", "--baselines", "[bilinear]", "--reference", "bilinear",
                     "--metrics", "[rmse, bias, pearson]", "--out", str(folder / "scores")]) == 0
    card = xr.open_dataset(folder / "scores" / "scorecard.nc")
    assert set(card["model"].values) == {"model", "bilinear"}
    assert set(card["metric"].values) >= {"rmse", "bias", "pearson"}
    assert np.all(np.isfinite(card["t850"].values))


def test_forecasting_checkpoints_and_bad_outputs_are_refused(trained, tmp_path):
    folder, fine, runs = trained
    coarse = coarsen(fine)
    with pytest.raises(ValueError, match=r"trained for lead times \[6.0, 12.0\] h, not to downscale"):
        downscale(folder / "pre" / "model.pt", coarse, fine)
    with pytest.raises(ValueError, match=r"does not predict \['u10'\]"):
        downscale(runs["scratch"], coarse, fine, variables=["u10"])


def test_the_downscaling_experiment_end_to_end(trained, tmp_path, monkeypatch, capsys):
    from climax_nb.experiments import tables
    from tests.scripts import load_script, refuse_training

    folder, fine, runs = trained
    monkeypatch.setenv("CLIMAX_NB_CACHE", str(tmp_path / "cache"))
    script = load_script("experiments/downscaling.py")
    argv = ["--data", str(folder / "fine.nc"), "--in-sample", "--set", "model.preset=tiny",
            "--set", "model.patch_size=2", "--set", "data.batch_size=4", "--steps", "2", "--seeds", "0",
            "--every-hours", "24",
            "--pretrained", str(folder / "pre" / "model.pt"), "--out", str(tmp_path)]
    frame = script.main(argv)
    assert list(dict.fromkeys(frame["arm"])) == ["pretrained", "scratch", "bilinear"]
    assert list(dict.fromkeys(frame["variable"])) == list(VARS)  # the experiment's four, those the data have
    assert frame["times"].eq(10).all() and frame.loc[frame["arm"] != "bilinear", "steps"].eq(2).all()
    bil = frame[frame["arm"] == "bilinear"].set_index("variable")
    assert (bil["power_33_42"] < 0.5).all()  # interpolation loses the ripple at wavenumber 40
    assert (bil["pearson"] > 0.5).all() and (bil["rmse"] > 0).all()
    out = capsys.readouterr().out
    assert "pretrained against bilinear: lower RMSE for" in out and "power_33_42" in out
    _, header = tables.read_table(tmp_path / "downscaling.csv")
    assert header["command"].startswith("python experiments/downscaling.py --data")
    refuse_training(monkeypatch)
    again = script.main([*argv, "--from-results"])
    pd.testing.assert_frame_equal(again, frame, check_dtype=False)


def test_the_dashboard_scores_a_downscaled_file_beside_bilinear(trained, tmp_path):
    from climax_nb.dashboard.discover import Entry
    from climax_nb.dashboard.settings import DataSpec, Settings
    from climax_nb.dashboard.store import ResultStore

    folder, fine, runs = trained
    out = tmp_path / "downscaled.nc"
    assert cli.main(["downscale", "--checkpoint", str(runs["scratch"]), "--data", str(folder / "fine.nc"),
                     "--out", str(out)]) == 0
    store = ResultStore(DataSpec(str(folder / "fine.nc")), Settings(), cache_dir=tmp_path / "cache")
    results = store.get(Entry("downscaled", out, "forecast"))
    assert set(results.scores["model"].values) == {"model", "bilinear"}
    assert results.forecast.sizes["lat"] == 64 and results.forecast.sizes["lead_time"] == 1
