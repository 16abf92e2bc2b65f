"""Regional forecasting as ClimaX's paper does it: any box in degrees (across 0 deg too), trained, forecast,
scored on the box with the box's own area weights, drawn north up and west to east; the experiment's path.

The box across the 0 deg meridian is 30-65 N, 25 W-40 E (``'30,65,-25,40'``): on the 5.625 deg grid
with patches of 4 it keeps 1 x 3 patches, cells 47.8-64.7 N and 337.5, ..., 354.4, 0, ..., 39.4 E.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from climax_nb import cli
from climax_nb.evaluate import score
from climax_nb.forecast import forecast, load_forecast_checkpoint, open_forecast, open_model
from climax_nb.forecast.checkpoint import save_forecast_checkpoint
from climax_nb.grid import WB5625, Grid, unwrapped_lon
from climax_nb.metrics.align import MetricInputError
from climax_nb.metrics.weights import lat_weights
from climax_nb.model import RegionalClimaX, parse_region, preset, region_patches
from tests.conftest import make_canonical
from tests.scripts import load_script, refuse_training
from tests.train_helpers import pretrain_then_box

matplotlib.use("Agg")

SEAM = "30,65,-25,40"
SEAM_LON = [337.5, 343.125, 348.75, 354.375, *(5.625 * np.arange(8))]
SEAM_LAT = [47.8125, 53.4375, 59.0625, 64.6875]
TINY = ["--model.preset", "tiny", "--model.embed_dim", "32", "--model.patch_size", "4", "--trainer.progress", "false",
        "--data.leads", "[6, 12]", "--data.batch_size", "4", "--optim.warmup_steps", "1", "--model.residual", "true"]


def test_a_box_across_zero_is_one_rectangle_west_to_east():
    rp = region_patches(parse_region(SEAM), WB5625, 4)
    np.testing.assert_allclose(rp.lon, SEAM_LON)
    np.testing.assert_allclose(rp.lat, SEAM_LAT)
    assert rp.patch_grid == (1, 3) and rp.patch_ids == (6 * 16 + 15, 6 * 16 + 0, 6 * 16 + 1)
    assert np.all(np.diff(unwrapped_lon(rp.lon)) == 5.625) and unwrapped_lon(rp.lon)[0] == -22.5
    lon2d = np.broadcast_to(WB5625.lon, (32, 64)).copy()
    np.testing.assert_allclose(rp.crop(lon2d)[0], SEAM_LON)  # numpy, and torch the same
    torch.testing.assert_close(rp.crop(torch.as_tensor(lon2d))[0], torch.as_tensor(rp.lon))
    assert parse_region("30,65,335,40").crosses_zero and region_patches(parse_region("30,65,335,40"), WB5625,
                                                                        4).patch_ids == rp.patch_ids
    assert not parse_region("NorthAmerica").crosses_zero


def test_the_seam_model_reads_its_box_west_to_east():
    """A residual regional model with a zero head forecasts its input's box cells: the cells it was given."""
    cfg = preset("tiny", img_size=(32, 64), variables=("t2m", "z500"), patch_size=4, residual=True)
    model = RegionalClimaX.from_config(cfg, grid=WB5625).eval()
    x = torch.randn(2, 2, 32, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for p in model.head.parameters():
            p.zero_()
        out = model(x, 6.0, ["t2m", "z500"], parse_region(SEAM))
    assert out.shape == (2, 2, 4, 12)
    columns = [int(round(v / 5.625)) for v in SEAM_LON]
    torch.testing.assert_close(out, x[:, :, 24:28][..., columns])


@pytest.fixture(scope="module")
def seam(tmp_path_factory):
    """A global tiny model on travelling waves, fine-tuned on the box across 0 deg, and its forecast file."""
    folder = tmp_path_factory.mktemp("seam")
    data, glob, box = pretrain_then_box(folder, SEAM, TINY)
    fc_path = folder / "fc.nc"
    assert cli.main(["forecast", "--checkpoint", str(box), "--data", str(data), "--leads", "6", "12",
                     "--every", "12", "--out", str(fc_path)]) == 0
    return {"folder": folder, "data": data, "global": glob, "box": box, "fc": fc_path}


def test_train_forecast_score_across_the_seam(seam, tmp_path):
    loaded = load_forecast_checkpoint(seam["box"])
    assert isinstance(loaded.model, RegionalClimaX) and loaded.spec.region == parse_region(SEAM)
    fc = open_forecast(seam["fc"])
    np.testing.assert_allclose(fc["lon"].values, SEAM_LON)  # west to east across 0 deg, canonical values
    np.testing.assert_allclose(fc["lat"].values, SEAM_LAT)  # south to north: the northern box, not its mirror
    assert np.isfinite(fc["z500"].values).all()
    truth = xr.open_dataset(seam["data"])
    direct = open_model(seam["box"]).predict(truth, fc["init_time"].values[:1], 6)
    np.testing.assert_allclose(direct["z500"].values, fc["z500"].isel(init_time=[0], lead_time=0).values, rtol=1e-5)
    out = tmp_path / "scores"
    assert cli.main(["evaluate", "--forecast", str(seam["fc"]), "--truth", str(seam["data"]), "--clim-years", "2000",
                     "--in-sample", "--out", str(out)]) == 0
    card = xr.open_dataset(out / "scorecard.nc")
    assert set(card["model"].values) >= {"model", "persistence", "climatology"}
    assert np.isfinite(card["z500"].sel(metric="rmse")).all()


def test_a_forecast_across_the_seam_puts_each_value_at_its_place(seam, tmp_path):
    """With a zero head the residual regional model forecasts persistence: each value must be the truth's
    value at the forecast's own (lat, lon) label, through the checkpoint, forecaster and file."""
    loaded = load_forecast_checkpoint(seam["box"])
    with torch.no_grad():
        for p in loaded.model.head.parameters():
            p.zero_()
    zero = save_forecast_checkpoint(tmp_path / "zero.pt", loaded.model, loaded.spec)
    truth = xr.open_dataset(seam["data"])
    inits = truth.time.values[:3]
    fc = forecast(zero, truth, [6], init_times=inits)
    start = truth.sel(time=inits, lat=fc["lat"].values, lon=fc["lon"].values)
    np.testing.assert_allclose(fc["z500"].isel(lead_time=0).values, start["z500"].values, rtol=1e-5)
    west = truth["z500"].sel(time=inits[0], lat=SEAM_LAT[0], lon=337.5)  # the westernmost cell comes first
    assert float(fc["z500"].isel(init_time=0, lead_time=0, lat=0, lon=0)) == pytest.approx(float(west), rel=1e-5)


def _box_weights(lat: np.ndarray) -> np.ndarray:
    """By hand: each row's cell area, sin(north edge) - sin(south edge), edges half a cell from the centre."""
    half = np.deg2rad(np.diff(lat).mean() / 2)
    phi = np.deg2rad(lat)
    w = np.sin(phi + half) - np.sin(phi - half)
    return w / w.mean()


def test_regional_scores_use_the_box_area_weights(seam):
    fc = open_forecast(seam["fc"]).load()
    truth = xr.open_dataset(seam["data"]).load()
    card = score({"regional": fc}, truth, None, baselines=["persistence"], metrics=["rmse"])
    w = _box_weights(np.asarray(SEAM_LAT))
    assert w[0] / w[1] == pytest.approx(np.cos(np.deg2rad(SEAM_LAT[0])) / np.cos(np.deg2rad(SEAM_LAT[1])), rel=2e-3)
    np.testing.assert_allclose(lat_weights(np.asarray(SEAM_LAT)).values, w, rtol=1e-12)
    area = WB5625.area_weights()[24:28]  # WeatherBench 2's global weights, restricted to the box and renormalised
    np.testing.assert_allclose(w, area / area.mean(), rtol=1e-12)
    for name in ("regional", "persistence"):
        for lead in fc["lead_time"].values:
            sq = []
            for init in fc["init_time"].values:
                at = truth["z500"].sel(time=init + lead, lat=SEAM_LAT, lon=SEAM_LON).values
                pred = (fc["z500"].sel(init_time=init, lead_time=lead).values if name == "regional" else
                        truth["z500"].sel(time=init, lat=SEAM_LAT, lon=SEAM_LON).values)
                sq.append(np.mean(w[:, None] * (pred - at) ** 2))
            got = float(card["z500"].sel(model=name, metric="rmse", lead_time=lead))
            assert got == pytest.approx(np.sqrt(np.mean(sq)), rel=1e-5)


def test_a_global_forecast_beside_a_regional_one_is_cut_to_the_box(seam):
    fc = open_forecast(seam["fc"]).load()
    truth = xr.open_dataset(seam["data"]).load()
    full = forecast(seam["global"], truth, [6, 12], init_times=fc["init_time"].values, variables=["z500", "t850"])
    card = score({"regional": fc, "global": full}, truth, None, baselines=[], metrics=["rmse"])
    cut = full.sel(lat=SEAM_LAT, lon=SEAM_LON)
    alone = score({"global": cut}, truth, None, baselines=[], metrics=["rmse"])
    xr.testing.assert_allclose(card["z500"].sel(model="global"), alone["z500"].sel(model="global"))
    with pytest.raises(MetricInputError, match="list the regional forecast first"):
        score({"global": full, "regional": fc}, truth, None, baselines=[], metrics=["rmse"])


def _seam_field() -> xr.DataArray:
    values = np.add.outer(np.asarray(SEAM_LAT), unwrapped_lon(SEAM_LON))  # grows to the north and to the east
    return xr.DataArray(values, dims=("lat", "lon"), coords={"lat": SEAM_LAT, "lon": SEAM_LON}, name="t2m")


def test_maps_of_a_seam_box_are_north_up_and_west_to_east():
    import matplotlib.pyplot as plt

    from climax_nb.viz.maps import plot_map

    da = _seam_field()
    lsm = xr.DataArray(np.zeros((32, 64)), dims=("lat", "lon"), coords={"lat": WB5625.lat, "lon": WB5625.lon})
    ax = plot_map(da, lsm=lsm)
    mesh = ax.collections[0]
    xy = mesh.get_coordinates()  # cell corners [lat + 1, lon + 1, (x, y)]
    assert np.all(np.diff(xy[0, :, 0]) > 0) and np.all(np.diff(xy[:, 0, 1]) > 0)  # x west to east, y south to north
    np.testing.assert_allclose(ax.get_xlim(), (-25.3125, 42.1875))
    assert ax.get_ylim() == pytest.approx((45.0, 67.5))
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(4, 12), da.values)  # nothing reordered
    plt.close("all")


def test_cartopy_and_interactive_maps_of_a_seam_box(offline):
    import cartopy.crs as ccrs
    import matplotlib.pyplot as plt

    from climax_nb.viz.geo import plot_field
    from climax_nb.viz.interactive import _to_dateline

    da = _seam_field()
    ax = plot_field(da, projection=ccrs.PlateCarree())
    west, east, south, north = ax.get_extent(ccrs.PlateCarree())
    assert west == pytest.approx(-25.3125, abs=0.1) and east == pytest.approx(42.1875, abs=0.1)
    assert south == pytest.approx(45.0, abs=0.1) and north == pytest.approx(67.5, abs=0.1)
    plt.close("all")
    shown = _to_dateline(da)
    np.testing.assert_allclose(shown["lon"].values, unwrapped_lon(SEAM_LON))
    np.testing.assert_allclose(shown.values, da.values)  # columns kept west to east, not sorted into two pieces


def test_the_dashboard_raster_of_a_seam_box():
    from climax_nb.dashboard import projected

    r = projected.raster(tuple(SEAM_LAT), tuple(SEAM_LON), "Plate Carrée", 360)
    image = r.sample(_seam_field().values)
    shown = np.isfinite(image)
    lons = np.where(shown, (r.lon + 180) % 360 - 180, np.nan)
    assert np.nanmin(lons) < -20 and np.nanmax(lons) > 38  # both sides of 0 deg are drawn
    row = np.flatnonzero(shown.any(axis=1))[0]
    values = image[row, shown[row]]
    assert np.all(np.diff(values) >= 0) and values[-1] > values[0]  # west to east the field grows, no jump at 0


@pytest.mark.parametrize(("box", "message"), [
    ("89.5,90,0,40", "contains no grid cell along lat.*move the box onto the grid"),
    ("30,35,0,40", "narrower than one 4-cell patch along lat.*widen it along lat.*smaller --model.patch_size"),
    ("30,65,10,20", r"narrower than one 4-cell patch along lon.*spans -2.8125 to 19.6875 deg E"),
    ("30,65,-400,40", r"must lie in \[-360, 360\]"),
])
def test_boxes_off_the_grid_or_smaller_than_a_patch_say_how_to_fix(seam, box, message, capsys):
    with pytest.raises(ValueError, match=message):
        region_patches(parse_region(box), WB5625, 4)
    code = cli.main(["finetune", "--config", "pretrain-tiny", *TINY, "--data.sources", f"[{seam['data']}]",
                     "--model.region", box, "--trainer.max_steps", "1",
                     "--trainer.run_dir", str(seam["folder"] / "refused")])
    assert code == 2
    err = capsys.readouterr().err
    assert "error:" in err and ("move the box" in err or "widen" in err or "[-360, 360]" in err)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A 40-day file in the reanalysis's layout, a cache of its own, and a tiny global model trained on it."""
    from climax_nb.experiments import training

    folder = tmp_path_factory.mktemp("regional-experiment")
    path = folder / "reanalysis.zarr"
    make_canonical(ids=("z500", "t850", "t2m", "u10", "v10", "lsm"), steps=4 * 40).to_zarr(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLIMAX_NB_CACHE", str(folder / "cache"))
        data = training.Reanalysis(source=str(path), in_sample=True)
        pretrained = training.trained("pretrained", training.finetune_config(
            data, steps=2, overrides={"model.preset": "tiny"}))
        yield {"data": ["--data", str(path), "--in-sample"], "pretrained": str(pretrained), "folder": folder}


def test_the_regional_experiment_end_to_end(synthetic, tmp_path, monkeypatch, capsys):
    from climax_nb.experiments import tables

    monkeypatch.setenv("CLIMAX_NB_CACHE", str(synthetic["folder"] / "cache"))
    script = load_script("experiments/regional.py")
    argv = [*synthetic["data"], "--set", "model.preset=tiny", "--steps", "2", "--seeds", "0",
            "--regions", "NorthAmerica", SEAM, "--pretrained", synthetic["pretrained"],
            "--global", synthetic["pretrained"], "--out", str(tmp_path)]
    frame = script.main(argv)
    assert list(dict.fromkeys(frame["arm"])) == ["regional", "scratch", "global", "global-short"]
    assert set(frame["lead_h"]) == {6, 24, 72, 120} and set(frame["variable"]) == {"z500", "t850", "t2m", "u10"}
    assert len(frame) == 2 * 4 * 4 * 4  # regions x arms x variables x leads
    assert dict(frame.groupby("region")["cells"].first()) == {"NorthAmerica": "8x12", "box(30,65,-25,40)": "4x12"}
    same = frame.set_index(["region", "arm", "variable", "lead_h"])
    for region in ("NorthAmerica", "box(30,65,-25,40)"):  # every arm's baselines on the box's same cells
        base = same.loc[region][["persistence", "climatology"]]
        assert base.groupby(["variable", "lead_h"]).nunique().max().max() == 1
    assert frame.loc[frame["arm"] == "regional", "steps"].eq(2).all()
    out = capsys.readouterr().out
    assert "global - regional" in out and "regional against persistence: lower RMSE in" in out
    _, header = tables.read_table(tmp_path / "regional.csv")
    assert header["command"].startswith("python experiments/regional.py --data")
    refuse_training(monkeypatch)
    again = script.main([*argv, "--from-results"])
    pd.testing.assert_frame_equal(again, frame, check_dtype=False)
    rerun = script.main([*argv[:-1], str(tmp_path / "rerun")])  # runs and scores from the cache
    pd.testing.assert_frame_equal(rerun, frame)


def test_the_experiment_refuses_a_bad_box_before_training(synthetic, tmp_path, monkeypatch):
    monkeypatch.setenv("CLIMAX_NB_CACHE", str(synthetic["folder"] / "cache"))
    monkeypatch.setattr("climax_nb.train.run.train", lambda config: pytest.fail("trained"))
    with pytest.raises(ValueError, match="lat_min,lat_max,lon_west,lon_east"):
        load_script("experiments/regional.py").main([*synthetic["data"], "--regions", "Atlantis", "--pretrained",
                                                     synthetic["pretrained"], "--out", str(tmp_path)])


def test_grid_helpers_for_boxes():
    box = Grid(np.asarray(SEAM_LAT), np.asarray(SEAM_LON))
    np.testing.assert_allclose(box.lat_bounds()[[0, -1]], [45.0, 67.5])  # a box's edge rows end half a cell out
    np.testing.assert_allclose(WB5625.lat_bounds()[[0, -1]], [-90.0, 90.0])  # a global grid closes at the poles


def test_regional_fine_tuning_on_a_finer_grid_than_pretraining(seam, tmp_path):
    """A 5.625 deg global model fine-tuned on North America at 2.8125 deg: position embeddings interpolated to
    the finer patch grid, the box's cells on the finer grid. (Mechanics only: the fine data here are the
    coarse waves regridded, no finer information; the measured comparison needs a finer simulation.)"""
    from climax_nb.data.regrid import regrid

    fine = tmp_path / "fine.nc"
    regrid(xr.open_dataset(seam["data"]).load(), Grid.weatherbench(2.8125)).to_netcdf(fine)
    run = tmp_path / "fine-box"
    assert cli.main(["finetune", "--config", "pretrain-tiny", *TINY, "--data.sources", f"[{fine}]",
                     "--data.outputs", "[z500, t850]", "--model.init", str(seam["global"]),
                     "--model.region", "NorthAmerica", "--trainer.max_steps", "2", "--trainer.run_dir", str(run)]) == 0
    assert "interpolated pos_embed" in (run / "init_report.txt").read_text()
    fm = open_model(run / "model.pt")
    cells = fm.output_grid
    assert (len(cells.lat), len(cells.lon)) == (12, 24)  # 3 x 6 whole patches of 4 x 4 cells of 2.8125 deg
    assert 15 <= cells.lat.min() and cells.lat.max() <= 65 and 220 <= cells.lon.min() and cells.lon.max() <= 300
    truth = xr.open_dataset(fine)
    fc = forecast(run / "model.pt", truth, [6], init_times=truth.time.values[:2])
    assert fc.sizes["lat"] == 12 and np.isfinite(fc["z500"].values).all()
