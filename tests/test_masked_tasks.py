"""Masked tasks of an AtmoRep model (climax_nb.forecast.masked), their baselines, and the experiment's fast setting.

A tiny AtmoRep with the compact model's time layout (a window of 8 steps: 4 slabs of 2 steps)
on tiny canonical data; the layouts are scored with the package's metrics unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from climax_nb import baselines
from climax_nb.data.climatology import climatology
from climax_nb.data.monthly import compute_monthly_stats
from climax_nb.evaluate import score
from climax_nb.forecast import SourceSpec, forecast, open_model, save_forecast_checkpoint
from climax_nb.forecast.atmorep import atmorep_spec
from climax_nb.forecast.masked import (
    Box,
    Task,
    coupling,
    coupling_matrix,
    forecast_cells,
    infill_cells,
    interpolation_cells,
    run_task,
    task_init_times,
    unseen_cells,
)
from climax_nb.forecast.spec import make_grid
from climax_nb.grid import WB5625
from climax_nb.metrics import crps, lat_weights, rmse
from climax_nb.model.atmorep import AtmoRep, preset
from tests.conftest import make_canonical
from tests.forecast_helpers import tiny_checkpoint
from tests.scripts import load_script
from tests.train_helpers import single_thread  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("single_thread")

IDS = ("z500", "z850", "t850", "t2m")
CFG = preset("tiny", neighbourhood=(8, 8, 8))  # 4 time slabs of 2 steps, as the compact model
DATA = make_canonical(ids=("lsm", "tisr", *IDS), steps=44)  # 11 days of 2000
EUROPE = Box(45.0, 67.5, -22.5, 22.5)  # one token row and two token columns, across 0 deg
ROWS, COLS = np.arange(24, 28), np.array([60, 61, 62, 63, 0, 1, 2, 3])


def save(tmp_path, cfg=CFG, name="atmorep.pt"):
    torch.manual_seed(0)
    net = AtmoRep(cfg).eval()
    stats = compute_monthly_stats(DATA, IDS)
    spec = atmorep_spec(net, make_grid(DATA.lat.values, DATA.lon.values), [SourceSpec("a", stats, IDS, IDS)],
                        time_step_hours=6.0)
    return save_forecast_checkpoint(tmp_path / name, net, spec)


@pytest.fixture
def fm(tmp_path):
    return open_model(save(tmp_path))


def steps_hidden(mask):
    return np.flatnonzero(mask.any(axis=(1, 2))).tolist()


def test_masks_by_task_hide_whole_slabs_of_the_window(fm, tmp_path):
    assert forecast_cells(fm).shape == (8, 32, 64)
    assert steps_hidden(forecast_cells(fm)) == [6, 7] and forecast_cells(fm)[6:].all()
    assert steps_hidden(forecast_cells(fm, 3)) == [2, 3, 4, 5, 6, 7]
    assert steps_hidden(interpolation_cells(fm)) == [2, 3] and interpolation_cells(fm)[2:4].all()
    assert steps_hidden(interpolation_cells(fm, 2)) == [2, 3, 4, 5]
    box = infill_cells(fm, EUROPE)
    assert box.shape == (8, 32, 64) and (box == box[0]).all() and box[0].sum() == 32
    with pytest.raises(ValueError, match=r"hides 1 to 3 time slabs \(one must stay visible\), not 4"):
        forecast_cells(fm, 4)
    with pytest.raises(ValueError, match=r"needs 5 slabs in the window .* hide at most 2 slab"):
        interpolation_cells(fm, 3)
    short = open_model(save(tmp_path, preset("tiny"), "short.pt"))  # 2 slabs: no room for a gap
    with pytest.raises(ValueError, match=r"window holds 2 time slabs of 2 steps.*hide at most 0 slab\(s\), or use "
                                         r"a model with a longer window in time \(--atmorep.neighbourhood\)"):
        interpolation_cells(short, 1)
    with pytest.raises(ValueError, match="hide at least one whole time slab"):
        Task("forecast", slabs=0)
    with pytest.raises(ValueError, match="an infilling needs a box"):
        Task("infill")


def test_a_box_in_degrees_takes_the_cells_whose_centres_lie_in_it_across_zero(fm):
    rows, cols = EUROPE.rows_cols(WB5625.lat, WB5625.lon)
    np.testing.assert_array_equal(rows, ROWS)  # 47.8 .. 64.7 N
    np.testing.assert_array_equal(cols, COLS)  # west to east: 337.5 .. 354.4, 0 .. 16.9
    same = Box(45.0, 67.5, 337.5, 22.5).rows_cols(WB5625.lat, WB5625.lon)
    np.testing.assert_array_equal(same[1], COLS)
    cells = EUROPE.cells(WB5625.lat, WB5625.lon)
    assert cells.sum() == 32 and cells[np.ix_(ROWS, COLS)].all()
    ring = Box(-10.0, 10.0, 0.0, 360.0).cells(WB5625.lat, WB5625.lon)
    assert ring.sum() == 4 * 64  # four rows, every longitude
    with pytest.raises(ValueError, match=r"holds no cell centre of the grid \(rows at -87.1875..87.1875.*move the "
                                         r"box onto the grid or make it larger than a cell"):
        Box(88.0, 90.0, 0.0, 40.0).cells(WB5625.lat, WB5625.lon)
    with pytest.raises(ValueError, match="holds no cell centre"):  # narrower than the 5.625 deg spacing
        Box(0.0, 20.0, 1.0, 4.0).cells(WB5625.lat, WB5625.lon)
    with pytest.raises(ValueError, match="south < north"):
        Box(20.0, 0.0, 0.0, 40.0)
    with pytest.raises(ValueError, match="no width"):
        Box(0.0, 20.0, 40.0, 40.0)
    with pytest.raises(ValueError, match="covers every cell"):
        infill_cells(fm, Box(-90.0, 90.0, 0.0, 360.0))


def test_the_model_hides_whole_tokens_so_a_box_off_the_lattice_hides_more(fm):
    aligned = infill_cells(fm, EUROPE)
    np.testing.assert_array_equal(unseen_cells(fm, aligned), aligned)
    off = infill_cells(fm, Box(40.0, 60.0, -20.0, 20.0))  # rows 23-26, columns 61-63 and 0-3
    expected = np.zeros((32, 64), dtype=bool)
    expected[np.ix_(np.arange(20, 28), np.r_[60:64, 0:4])] = True  # rounded out to the 4 x 4-cell tokens
    unseen = unseen_cells(fm, off)
    assert (unseen >= off).all() and off[0].sum() == 28
    np.testing.assert_array_equal(unseen[0], expected)
    np.testing.assert_array_equal(unseen_cells(fm, forecast_cells(fm, 2)), forecast_cells(fm, 2))


def spoiled(data, task, fm, inits, cells):
    """``data`` with every window's ``cells`` (bool [T, H, W]) replaced by a value far from anything seen."""
    offset, _ = task.layout(fm)
    out = data.copy(deep=True)
    step = np.timedelta64(6, "h")
    for t0 in inits:
        for k in range(fm.window_steps):
            at = out["time"].values == t0 + (k - offset) * step
            for v in IDS:
                out[v].values[at] = np.where(cells[k], 1e3, out[v].values[at])
    return out


@pytest.mark.parametrize("task", [Task("forecast"), Task("interpolation"), Task("infill", box=EUROPE)],
                         ids=lambda t: t.kind)
def test_hidden_values_are_not_seen_and_visible_ones_are(fm, task):
    inits = task_init_times(fm, task, DATA, every_hours=48)[:3]  # windows that do not overlap
    hidden = task.cells(fm)
    fc = run_task(fm, DATA, task, inits, batch_size=2)
    again = run_task(fm, spoiled(DATA, task, fm, inits, hidden), task, inits)
    np.testing.assert_array_equal(fc["z500"].values, again["z500"].values)
    visible = np.zeros_like(hidden)
    visible[0, :, :] = ~hidden[0]  # the window's first step, where it is visible
    changed = run_task(fm, spoiled(DATA, task, fm, inits, visible), task, inits)
    assert np.abs(fc["z500"].values - changed["z500"].values).max() > 1e-3  # what the model sees matters


def test_layouts_put_init_time_before_the_hidden_steps_and_score_with_rmse_and_crps(fm):
    every = 24
    forecast_fc = run_task(fm, DATA, Task("forecast", 2), task_init_times(fm, Task("forecast", 2), DATA, every))
    interp = run_task(fm, DATA, Task("interpolation"), task_init_times(fm, Task("interpolation"), DATA, every))
    infill = run_task(fm, DATA, Task("infill", box=EUROPE), task_init_times(fm, Task("infill", box=EUROPE), DATA,
                                                                             every))
    for fc in (forecast_fc, interp, infill):
        assert fc["t2m"].dims == ("member", "init_time", "lead_time", "lat", "lon")
        assert fc.sizes["member"] == CFG.members and fc.attrs["windows"] == fc.sizes["init_time"]
        for metric in (rmse, crps):
            values = metric(fc, DATA.sel(lat=fc.lat, lon=fc.lon))
            assert all(np.isfinite(values[v]).all() and (values[v] > 0).all() for v in IDS)
    hours = lambda fc: (fc["lead_time"].values / np.timedelta64(1, "h")).tolist()  # noqa: E731
    assert hours(forecast_fc) == [6, 12, 18, 24]
    assert hours(interp) == [6, 12] and interp.attrs["gap_end_hours"] == 18
    assert hours(infill) == [0, 6, 12, 18, 24, 30, 36, 42]
    # the first init time: the last visible step (window step 3 of a 2-slab forecast, step 1 of the gap), the
    # window's first step for the infilling; each window starts as early as the data allow
    assert interp["init_time"].values[0] == DATA.time.values[1]
    assert forecast_fc["init_time"].values[0] == DATA.time.values[3]
    assert infill["init_time"].values[0] == DATA.time.values[0]
    np.testing.assert_array_equal(infill["lat"].values, WB5625.lat[ROWS])
    np.testing.assert_array_equal(infill["lon"].values, WB5625.lon[COLS])
    # a one-slab forecast through the mask is the contract's forecast of the same leads
    starts = task_init_times(fm, Task("forecast"), DATA, every)
    one = run_task(fm, DATA, Task("forecast"), starts)
    contract = forecast(fm, DATA, [6, 12], init_times=starts)
    np.testing.assert_allclose(one["t850"].values, contract["t850"].values, rtol=1e-5, atol=1e-4)
    # the layouts and their baselines go through the one scorer unchanged, on the box's own cells
    inits, leads = infill["init_time"].values, infill["lead_time"].values
    clim = climatology(DATA, years=[2000], variables=list(IDS))
    card = score({"atmorep": infill,
                  "nearest": baselines.nearest_fill(DATA, inits, leads, infill.lat.values, infill.lon.values),
                  "box climatology": baselines.box_climatology(clim, inits, leads, infill.lat.values,
                                                               infill.lon.values)},
                 DATA, None, baselines=[], metrics=["rmse"])
    assert {"crps", "spread_skill_ratio"} <= set(card["metric"].values)
    assert np.isfinite(card["z500"].sel(metric="rmse")).all()
    assert np.isfinite(card["z500"].sel(metric="spread_skill_ratio", model="atmorep")).all()


def test_the_task_layer_refuses_what_it_cannot_do(fm, tmp_path):
    with pytest.raises(ValueError, match=r"at init time 2000-01-01T00:00:00 reads the window 1999-12-31T18:00:00.*"
                                         r"choose init times with task_init_times"):
        run_task(fm, DATA, Task("interpolation"), DATA.time.values[:1])
    with pytest.raises(ValueError, match=r"reconstructs the fields it reads .* not \['u10'\]"):
        run_task(fm, DATA, Task("forecast"), DATA.time.values[5:6], variables=["u10"])
    climax = tiny_checkpoint()
    with pytest.raises(TypeError, match="need an AtmoRep model"):
        run_task(open_model(climax), DATA, Task("forecast"), DATA.time.values[5:6])


def test_linear_interpolation_is_exact_on_data_linear_in_time():
    hours = np.arange(20) * 6.0
    slope = np.linspace(-1, 1, 32 * 64).reshape(32, 64)
    values = 280.0 + slope[None] * hours[:, None, None] + np.cos(np.deg2rad(WB5625.lat))[None, :, None]
    truth = xr.Dataset({"t850": (("time", "lat", "lon"), values)},
                       coords={"time": pd.date_range("2003-01-01", periods=20, freq="6h"), "lat": WB5625.lat,
                               "lon": WB5625.lon})
    inits = truth.time.values[[1, 5, 9]]
    fc = baselines.linear_interpolation(truth, inits, [6, 12], gap_end=18)
    expected = truth["t850"].sel(time=fc["valid_time"])
    np.testing.assert_allclose(fc["t850"].values, expected.values, rtol=1e-12)
    assert float(rmse(fc, truth)["t850"].max()) < 1e-9
    bumped = truth.assign(t850=truth["t850"] + 0.1 * (np.arange(20) % 3 == 1)[:, None, None])  # not linear
    assert float(rmse(baselines.linear_interpolation(bumped, inits, [6, 12], 18), bumped)["t850"].max()) > 1e-3
    with pytest.raises(ValueError, match="not inside the gap"):
        baselines.linear_interpolation(truth, inits, [6, 18], gap_end=18)
    with pytest.raises(Exception, match="truth has no data at 1 step"):
        baselines.linear_interpolation(truth, truth.time.values[[-1]], [6], gap_end=18)


def test_box_climatology_is_the_training_years_mean_of_the_box_at_that_time_of_year():
    years = [make_canonical(ids=("t850",), steps=12, start=f"{y}-01-01") for y in (2000, 2001)]
    years[1] = years[1].assign(t850=years[1]["t850"] + 3.0)
    train = xr.concat(years, "time")
    clim = climatology(train, years=[2000, 2001], window=1, variables=["t850"])
    lat, lon = WB5625.lat[ROWS], WB5625.lon[COLS]
    fc = baselines.box_climatology(clim, pd.to_datetime(["2003-01-02T00"]), [0, 6], lat, lon)
    assert fc["t850"].dims == ("init_time", "lead_time", "lat", "lon") and fc["t850"].shape == (1, 2, 4, 8)
    for k, hour in enumerate(("00", "06")):
        by_hand = np.mean([train["t850"].sel(time=f"{y}-01-02T{hour}").values[np.ix_(ROWS, COLS)]
                           for y in (2000, 2001)], axis=0)
        np.testing.assert_allclose(fc["t850"].values[0, k], by_hand, rtol=1e-12)
    with pytest.raises(Exception, match="longitude 1 is not a cell"):
        baselines.box_climatology(clim, pd.to_datetime(["2003-01-02T00"]), [0], lat, [1.0])


def test_nearest_fill_takes_each_cells_nearest_visible_cell_on_the_sphere():
    truth = make_canonical(ids=("t850",), steps=6)
    inits, leads = truth.time.values[[0, 2]], [0, 6]
    lat, lon = WB5625.lat[ROWS], WB5625.lon[COLS]
    fc = baselines.nearest_fill(truth, inits, leads, lat, lon)
    phi, lam = np.deg2rad(WB5625.lat), np.deg2rad(WB5625.lon)
    hidden = np.zeros((32, 64), bool)
    hidden[np.ix_(ROWS, COLS)] = True
    for i, r in enumerate(ROWS):
        for j, c in enumerate(COLS):  # haversine distance to every visible cell, by brute force
            a = (np.sin((phi[:, None] - phi[r]) / 2) ** 2
                 + np.cos(phi[:, None]) * np.cos(phi[r]) * np.sin((lam[None, :] - lam[c]) / 2) ** 2)
            a[hidden] = np.inf
            rr, cc = np.unravel_index(np.argmin(a), a.shape)
            assert not hidden[rr, cc]
            expected = truth["t850"].sel(time=fc["valid_time"].values.reshape(-1)).values[:, rr, cc]
            np.testing.assert_array_equal(fc["t850"].values[:, :, i, j].reshape(-1), expected)
    west_edge = fc["t850"].values[0, 0, 0, 0]  # 47.8 N, 337.5 E: its western neighbour 331.9 E is the nearest
    assert west_edge == truth["t850"].values[0, 24, 59]
    wider = np.zeros((32, 64), bool)
    wider[np.ix_(np.arange(20, 28), np.r_[56:64, 0:8])] = True  # a larger unseen region: fill from beyond it
    far = baselines.nearest_fill(truth, inits, leads, lat, lon, hidden=wider)
    # 5 columns west on its own row is 20.7 deg of arc, one row poleward of that 20.3 deg: great circles bend poleward
    assert far["t850"].values[0, 0, 0, 0] == truth["t850"].values[0, 25, 55]


def test_coupling_gives_share_maps_and_their_area_weighted_matrix(fm):
    inits = task_init_times(fm, Task("forecast", 2), DATA, every_hours=48)[:2]
    maps, matrix = coupling(fm, DATA, inits, Task("forecast", 2))
    fields = list(fm.fields)
    assert maps.dims == ("field", "source", "lat", "lon") and list(maps["field"].values) == fields
    for f in fields:
        assert np.isnan(maps.sel(field=f, source=f)).all()  # a field does not cross-attend to itself
        row = maps.sel(field=f).sum("source", skipna=True)
        np.testing.assert_allclose(row.values, 1.0, rtol=1e-5)  # its shares over the fields it reads
    w = lat_weights(maps["lat"]).values[:, None]
    for f in fields:
        for g in fields:
            by_hand = np.mean(w * maps.sel(field=f, source=g).values)
            np.testing.assert_allclose(float(matrix.sel(field=f, source=g)), by_hand, rtol=1e-5, equal_nan=True)
    each, same = coupling(fm, DATA, inits, Task("forecast", 2), per_window=True)
    assert each.dims == ("field", "source", "init_time", "lat", "lon") and each.sizes["init_time"] == 2
    xr.testing.assert_allclose(coupling_matrix(each), matrix)
    xr.testing.assert_allclose(same, matrix)


def test_the_experiment_runs_every_task_in_its_fast_setting(tmp_path, capsys):
    experiment = load_script("experiments/masked_tasks.py")
    data = tmp_path / "truth.nc"
    DATA.to_netcdf(data)
    climax = tiny_checkpoint(leads=(6.0, 24.0, 72.0, 120.0))
    climax_path = save_forecast_checkpoint(tmp_path / "climax.pt", climax.model, climax.spec)
    out = tmp_path / "out"
    argv = ["--checkpoint", str(save(tmp_path)), "--climax", f"tiny={climax_path}", "--data", str(data),
            "--year", "2000", "--clim-years", "2000", "--in-sample", "--fast", "--every-hours", "24",
            "--rollout-every-hours", "24", "--coupling-every-hours", "24", "--out", str(out)]
    frame = experiment.main(argv)
    assert (out / "masked_tasks.csv").is_file()
    maps = xr.load_dataarray(out / "masked_tasks_coupling.nc")
    assert maps.dims == ("hidden_hours", "field", "source", "lat", "lon") and maps.sizes["hidden_hours"] == 3
    text = (out / "masked_tasks.md").read_text()
    for heading in ("Zero-shot forecasting", "Temporal interpolation", "Spatial infilling", "Ensembles",
                    "Cross-attention between fields", "Training compute"):
        assert heading in text
    models = frame.groupby("task")["model"].unique()
    assert {"atmorep", "persistence", "climatology", "tiny", "tiny perturbed"} <= set(models["forecast"])
    assert {"atmorep rollout", "tiny"} <= set(models["rollout"])
    assert {"atmorep", "linear in time"} <= set(models["interpolation"])
    assert {"atmorep", "box climatology", "nearest visible cell"} <= set(models["infill"])
    scored = frame[frame["task"].isin(["forecast", "rollout", "interpolation", "infill"])]
    assert (scored["windows"] == 2).all() and np.isfinite(scored["value"]).all()
    interp = scored[(scored["task"] == "interpolation") & (scored["metric"] == "rmse")]
    assert set(interp["variable"]) == set(IDS) and set(interp["lead_h"]) == {6.0, 12.0}
    rollout = scored[(scored["task"] == "rollout") & (scored["model"] == "atmorep rollout")]
    assert set(rollout["lead_h"]) == {6.0, 24.0, 72.0, 120.0}
    assert {"crps", "spread_skill_ratio", "rank_0", "rank_3"} <= set(
        scored.loc[scored["model"] == "tiny perturbed", "metric"])
    shares = frame[frame["task"] == "coupling"]
    assert set(shares["lead_h"]) == {12.0, 24.0, 36.0}
    for _, part in shares.groupby(["lead_h", "variable"]):
        assert part["value"].sum() == pytest.approx(1.0, rel=1e-5)
    capsys.readouterr()
    experiment.main([*argv, "--from-results"])
    assert "Spatial infilling" in capsys.readouterr().out
