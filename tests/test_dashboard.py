"""The dashboard without a browser: discovery, the results cache, attention, the page's objects and options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from climax_nb.dashboard import DashboardError, DataSpec, ResultStore, entries, find_entries
from climax_nb.dashboard.compute import rollout_damping
from climax_nb.dashboard.discover import Entry
from climax_nb.dashboard.options import PageOptions, ServerOptions, page_options
from climax_nb.forecast import save_forecast
from tests.dashboard_helpers import SETTINGS, write_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dash")
    model, data = write_tiny(folder)
    store = ResultStore(DataSpec(str(data)), SETTINGS, cache_dir=folder / "cache")
    return folder, model, data, store


@pytest.fixture(scope="module")
def results(tiny):
    _, model, _, store = tiny
    return store.get(Entry("tiny", model, "checkpoint"))


def test_find_entries_lists_checkpoints_and_forecasts_only(tiny, results, tmp_path):
    (tmp_path / "embedded" / "x").mkdir(parents=True)
    (tmp_path / "embedded" / "x" / "model.pt").write_bytes(b"data store, never offered")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.pt").write_bytes(b"x")
    save_forecast(results.forecast, tmp_path / "fc.nc")
    xr.Dataset({"a": ("time", [1.0])}).to_netcdf(tmp_path / "not_forecast.nc")
    found = {(e.name, e.kind) for e in find_entries(tmp_path)}
    assert found == {("run/model.pt", "checkpoint"), ("fc.nc", "forecast")}


def test_entries_keep_named_files_first_and_once(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"x")
    listed = entries([tmp_path / "model.pt", tmp_path / "missing.pt"], [], [tmp_path])
    assert [e.path.name for e in listed] == ["model.pt", "missing.pt"]


def test_results_hold_forecast_truth_and_scores(results):
    fc = results.forecast
    assert fc.sizes["init_time"] == SETTINGS.n_inits
    assert list(fc.lead_time.values / np.timedelta64(1, "h")) == list(SETTINGS.leads)
    assert results.variables == ["t2m", "z500", "t850"]
    assert list(results.scores.model.values) == ["model", "persistence", "climatology"]
    assert set(results.scores.metric.values) == {"rmse", "acc"}
    # truth is the data at each valid time
    init, lead = fc.init_time.values[1], fc.lead_time.values[2]
    np.testing.assert_array_equal(results.truth["t2m"].sel(init_time=init, lead_time=lead).values,
                                  results.source["t2m"].sel(time=init + lead).values)
    # the rollout keeps every 6 h step up to the longest lead; at 6 h it equals the forecast's first lead
    growth = results.rollout_scores
    assert list(growth.lead_time.values / np.timedelta64(1, "h")) == [6.0, 12.0, 18.0, 24.0]
    np.testing.assert_allclose(growth["t2m"].sel(metric="rmse").values[0, [0, 1, 3]],
                               results.scores["t2m"].sel(model="model", metric="rmse").values, rtol=1e-5)


def test_results_are_read_back_from_disk(tiny, results):
    folder, model, data, _ = tiny
    again = ResultStore(DataSpec(str(data)), SETTINGS, cache_dir=folder / "cache")
    entry = Entry("tiny", model, "checkpoint")
    assert again.key(entry) == results.folder.name
    assert {p.name for p in results.folder.glob("*.nc")} >= {"forecast.nc", "scores.nc", "rollout.nc"}
    assert len(list(results.folder.glob("attention-*.nc"))) == SETTINGS.n_inits  # all computed up front
    reread = again.get(entry)
    xr.testing.assert_allclose(reread.forecast, results.forecast)
    xr.testing.assert_allclose(reread.scores, results.scores)
    other = ResultStore(DataSpec(str(data)), SETTINGS.__class__(leads=(6.0,)), cache_dir=folder / "cache")
    assert other.key(entry) != again.key(entry)


def test_attention_sums_to_one_and_matches_the_model(results):
    init = results.forecast.init_time.values[0]
    att = results.attention(init)
    fm = results.model
    assert att.dims == ("lead_time", "head", "variable", "lat", "lon")
    assert list(att["variable"].values) == list(fm.inputs)
    assert list(att.lead_time.values / np.timedelta64(1, "h")) == [0.0, 6.0, 12.0, 18.0]
    np.testing.assert_allclose(att.sum("variable").values, 1.0, rtol=1e-4)
    # lead 0: the model's own weights on the initial state, patch by patch
    from climax_nb.forecast.state import read_fields

    x = fm.normalizer.normalize(read_fields(results.source, fm.inputs, np.array([init])), list(fm.inputs))
    with torch.inference_mode():
        _, w = fm.model(torch.from_numpy(x), 0.0, list(fm.inputs), list(fm.outputs), return_attention=True)
    first = w[0, 0, :, :].numpy()  # patch 0: heads x variables
    np.testing.assert_allclose(att.isel(lead_time=0, lat=0, lon=0).values, first, rtol=1e-4, atol=1e-6)
    # later leads start from the rollout's states, so the weights move
    assert not np.allclose(att.isel(lead_time=0).values, att.isel(lead_time=-1).values)


@pytest.mark.parametrize(("content", "expected"), [
    (None, "does not exist"),
    (b"garbage", "not a usable forecast checkpoint"),
])
def test_bad_checkpoints_give_a_message_with_a_fix(tiny, tmp_path, content, expected):
    path = tmp_path / "model.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DashboardError, match=expected):
        tiny[3].get(Entry("bad", path, "checkpoint"))


def test_data_without_the_inputs_is_named(tiny, tmp_path):
    folder, model, data, _ = tiny
    xr.open_dataset(data).drop_vars("z500").to_netcdf(tmp_path / "less.nc")
    store = ResultStore(DataSpec(str(tmp_path / "less.nc")), SETTINGS, cache_dir=tmp_path)
    with pytest.raises(DashboardError, match="the data cannot start.*z500"):
        store.get(Entry("tiny", model, "checkpoint"))


def test_bad_data_choices_are_named(tiny, tmp_path):
    model = tiny[1]
    for spec, expected in ((DataSpec("embedded/nowhere"), "unknown embedded source"),
                           (DataSpec(str(tiny[2]), years=(1990,)), r"no year\(s\) \[1990\]"),
                           (DataSpec(str(tmp_path / "absent.nc")), "cannot open the data")):
        with pytest.raises(DashboardError, match=expected):
            ResultStore(spec, SETTINGS, cache_dir=tmp_path).get(Entry("tiny", model, "checkpoint"))


def test_page_shows_problems_instead_of_tracebacks(tiny, results, tmp_path):
    from climax_nb.dashboard.app import Dashboard

    _, model, _, store = tiny
    good = Entry("tiny", model, "checkpoint")
    page = Dashboard(store, [good], variable="q700")
    assert page.alert.visible and "'q700' is not forecast" in page.alert.object and "t2m" in page.alert.object
    assert page.variable.value == "t2m" and page.content.visible
    missing = Dashboard(store, [Entry("gone", tmp_path / "gone.pt", "checkpoint"), good])
    assert missing.alert.visible and "does not exist" in missing.alert.object and not missing.content.visible
    missing.entry.value = good
    assert not missing.alert.visible and missing.content.visible
    empty = Dashboard(store, [])
    assert empty.alert.visible and "--checkpoint" in empty.alert.object


def _image(fmap) -> np.ndarray:
    return np.asarray(fmap.image.data["image"][0])


def test_maps_share_a_colour_scale_and_error_is_the_difference(tiny, results):
    from climax_nb.dashboard.app import Dashboard

    page = Dashboard(tiny[3], [Entry("tiny", tiny[1], "checkpoint")])
    page.variable.value = "t2m"
    truth, fc, err = (page.maps[w] for w in ("truth", "forecast", "error"))
    assert (truth.mapper.low, truth.mapper.high) == (fc.mapper.low, fc.mapper.high)
    assert err.mapper.low == -err.mapper.high
    on_globe = np.isfinite(_image(truth))
    assert 0.7 < on_globe.mean() < 1.0  # Robinson: the corners of the raster are off the globe
    np.testing.assert_allclose(_image(err)[on_globe], (_image(fc) - _image(truth))[on_globe], atol=1e-3)
    assert "K" in fc.colorbar.title and "truth at" in truth.figure.title.text
    # every pixel on the globe shows the value of its nearest grid cell
    field = results.truth["t2m"].sel(init_time=page.init.value, lead_time=page.lead.value)
    lon, lat = (np.asarray(truth.image.data[k][0]) for k in ("lon", "lat"))
    i, j = np.argwhere(on_globe)[len(np.argwhere(on_globe)) // 3]
    assert _image(truth)[i, j] == pytest.approx(float(field.sel(lat=lat[i, j], lon=lon[i, j], method="nearest")))

    before = _image(fc).copy()
    page.lead.value = page.lead.values[-1]
    assert not np.allclose(_image(fc)[on_globe], before[on_globe])
    assert f"+{SETTINGS.leads[-1]:g} h" in fc.figure.title.text
    page.variable.value = "z500"
    assert "z500" in page.skill["rmse"].figure.title.text and page.skill["rmse"].lines.data["label"] == [
        "model", "persistence", "climatology"]
    page.projection.value = "Plate Carrée"
    assert np.isfinite(_image(truth)).all() and truth.figure.x_range.end > 180


def test_attention_views_follow_the_click(tiny, results):
    from climax_nb.dashboard.app import MEAN_OF_HEADS, Dashboard

    page = Dashboard(tiny[3], [Entry("tiny", tiny[1], "checkpoint")])
    assert page.head.value == MEAN_OF_HEADS

    def bars():
        return np.asarray(page.bars.source.data["weight"])

    page.select_point(10.0, 40.0)
    a = bars()
    assert a.sum() == pytest.approx(1.0, rel=1e-4) and "40.0°N, 10.0°E" in page.bars.figure.title.text
    page.select_point(200.0, -60.0)
    assert not np.allclose(a, bars())
    page.select_point(10.0, 40.0)
    page.head.value = 0
    assert not np.allclose(a, bars())
    assert len(page.by_lead.source.data["weight"]) == 4 * len(results.model.inputs)
    weights = np.asarray(page.attention_map.image.data["image"][0])
    assert np.nanmax(weights) <= page.attention_map.mapper.high + 1e-6


def test_a_click_on_the_attention_map_picks_the_place_under_it(tiny, results):
    from bokeh.events import Tap

    from climax_nb.dashboard.app import Dashboard
    from climax_nb.dashboard.projected import GEODETIC, projection

    page = Dashboard(tiny[3], [Entry("tiny", tiny[1], "checkpoint")])
    fig = page.attention_map.figure
    x, y = projection("Robinson").transform_point(-30.0, 45.0, GEODETIC)
    for callback in fig._event_callbacks["tap"]:
        callback(Tap(fig, x=x, y=y))
    assert page.point == pytest.approx((330.0, 45.0))
    x0, y0 = fig.x_range.start, fig.y_range.start
    for callback in fig._event_callbacks["tap"]:
        callback(Tap(fig, x=x0, y=y0))  # a corner, off the globe: ignored
    assert page.point == pytest.approx((330.0, 45.0))


def test_a_saved_forecast_shows_maps_and_skill_without_attention(tiny, results, tmp_path):
    from climax_nb.dashboard.app import Dashboard

    save_forecast(results.forecast, tmp_path / "fc.nc")
    page = Dashboard(tiny[3], [Entry("saved", tmp_path / "fc.nc", "forecast"), Entry("tiny", tiny[1], "checkpoint")])
    assert page.content.visible and not page.alert.visible
    assert page.attention_missing.visible and not page.attention_row.visible
    assert np.isfinite(_image(page.maps["forecast"])).any()
    assert "no rollout" in page.skill["growth"].figure.title.text
    page.entry.value = page.entry.values[1]  # the checkpoint brings the attention back
    assert page.attention_row.visible and not page.attention_missing.visible
    assert np.isfinite(np.asarray(page.attention_map.image.data["image"][0])).any()


def test_a_forecast_that_is_all_nan_is_named_in_the_page(tiny, results, tmp_path):
    from climax_nb.dashboard.app import Dashboard

    save_forecast(results.forecast.assign(t2m=results.forecast["t2m"] * np.nan), tmp_path / "nan.nc")
    page = Dashboard(tiny[3], [Entry("nan", tmp_path / "nan.nc", "forecast")], variable="t2m")
    assert page.alert.visible and "all NaN" in page.alert.object
    page.variable.value = "z500"  # the other variables still draw
    assert np.isfinite(_image(page.maps["forecast"])).any()


def test_options_round_trip_and_loopback_default():
    from climax_nb.cli import build_parser
    from climax_nb.config import parse_options
    from climax_nb.dashboard.serve import serve_argv

    args = build_parser().parse_args(["dashboard", "--checkpoint", "a/model.pt", "--checkpoint", "b.pt",
                                      "--data", "d.nc", "--years", "2003", "--leads", "6", "24", "--variable", "z500"])
    page, server = parse_options(PageOptions, args), parse_options(ServerOptions, args)
    assert server.address == "127.0.0.1" and server.port is None and server.show is False
    assert page.checkpoint == ("a/model.pt", "b.pt") and page.leads == (6.0, 24.0)
    again = page_options(page.to_args())
    assert again == page
    data, settings = again.settings()
    assert data == DataSpec("d.nc", (2003,)) and settings.leads == (6.0, 24.0)
    argv = serve_argv(server, 5999, page.to_args())
    assert argv[:2] == ["panel", "serve"] and argv[argv.index("--address") + 1] == "127.0.0.1"
    assert "127.0.0.1:5999" in argv and argv[argv.index("--args") + 1:] == page.to_args()
    shown = parse_options(ServerOptions, build_parser().parse_args(["dashboard", "--show", "--port", "7000"]))
    assert shown.show is True and shown.port == 7000
    with pytest.raises(ValueError, match="--inits must be at least 1"):
        page_options(["--inits", "0"])
    damped = page_options(["--hyperdiffusion", "3"])
    assert page_options(damped.to_args()) == damped and damped.settings()[1].hyperdiffusion_hours == 3.0
    with pytest.raises(ValueError, match="--hyperdiffusion is an e-folding time in hours and must be positive"):
        page_options(["--hyperdiffusion", "0"])


def test_the_rollout_is_damped_when_the_settings_ask(tiny, results):
    from dataclasses import replace

    folder, model, data, _ = tiny
    store = ResultStore(DataSpec(str(data)), replace(SETTINGS, hyperdiffusion_hours=1.0), cache_dir=folder / "cache")
    damped = store.get(Entry("tiny", model, "checkpoint"))
    assert "damping" in damped.rollout.attrs and "damping" not in results.rollout.attrs
    # 12 h is not a trained lead (6 and 24 h are), so auto rolls the page's forecast out too, damped as well
    assert damped.forecast.attrs["mode"] == "iterative" and "damping" in damped.forecast.attrs
    assert "damping" not in results.forecast.attrs and any("rolls out with" in n for n in damped.notes)
    settings = replace(SETTINGS, hyperdiffusion_hours=1.0)
    assert rollout_damping(damped.model, settings, [6.0, 24.0], "auto") is None  # asked once per lead: no rollout
    assert rollout_damping(damped.model, settings, [6.0, 12.0], "auto") is not None
    assert rollout_damping(damped.model, SETTINGS, [6.0, 12.0], "auto") is None
    assert damped.folder != results.folder  # a cache entry of its own

    def high_k_power(fc):
        return float((np.abs(np.fft.rfft(fc["t850"].values, axis=-1))[..., 16:] ** 2).sum())

    assert high_k_power(damped.rollout) < high_k_power(results.rollout)


def test_a_masked_model_shows_its_ensemble_reconstructions_and_coupling(tmp_path):
    from climax_nb.dashboard.app import MEAN_OF_MEMBERS, Dashboard
    from climax_nb.dashboard.settings import Settings
    from tests.atmorep_helpers import CFG, DATA, checkpoint

    path, data = checkpoint(tmp_path), tmp_path / "data.nc"
    DATA.to_netcdf(data)
    store = ResultStore(DataSpec(str(data)), Settings(leads=(6.0, 12.0, 24.0), n_inits=2, every_hours=12.0),
                        cache_dir=tmp_path / "cache")
    page = Dashboard(store, [Entry("masked", path, "checkpoint")])
    assert page.content.visible and not page.alert.visible, page.alert.object
    assert page.masked_card.visible and not page.attention_row.visible
    assert "no attention over its input variables" in page.attention_missing.object
    r = page.results
    assert r.members.sizes["member"] == CFG.members and "member" not in r.forecast.dims
    assert r.forecast.attrs["mode"] == "iterative"  # 24 h is beyond the tiny window's one call: a rollout
    assert "crps" in r.scores["metric"].values and page._skill_panes["crps"].visible
    assert np.isfinite(r.scores["t2m"].sel(model="model", metric="crps")).all()
    assert page.task.options == ["forecast", "infill"]  # two time slabs leave no room for an interpolation
    for task in page.task.options:
        page.task.value = task
        fields = page.masked_fields()
        shown_in = fields["input"][0]
        hidden = r.masked(page.init.value).sel(task=task)["hidden"].isel(step=page.window_step.value).astype(bool)
        assert hidden.any() and int(shown_in.isnull().sum()) == int(hidden.sum())  # hidden cells are blank
        assert np.isfinite(fields["reconstruction"][0]).all() and (fields["spread"][0] >= 0).all()
    box = r.masked(page.init.value).sel(task="infill")["hidden"].isel(step=0).astype(bool)
    lons = box["lon"].values[box.any("lat").values]
    assert lons.min() < 10 and lons.max() > 340  # the default box lies across 0 deg
    mean = page.masked_fields()["reconstruction"][0]
    page.member.value = 0
    assert page.member.options[0] == MEAN_OF_MEMBERS and not np.allclose(page.masked_fields()["reconstruction"][0],
                                                                           mean)
    page.member.value = MEAN_OF_MEMBERS
    assert float(np.abs(page.masked_fields()["shift"][0]).max()) == 0.0  # the source's own forcing: no shift
    page.forcing.value = 2.0  # the counterfactual: the same window with the sea 2 K warmer
    warm = page.masked_fields()
    assert "+2 K" in warm["reconstruction"][2] and float(np.abs(warm["shift"][0]).max()) > 0.0
    np.testing.assert_allclose(warm["shift"][0], warm["reconstruction"][0] - mean, atol=1e-5)
    shares = np.asarray(page.coupling.source.data["share"]).reshape(len(CFG.fields), len(CFG.fields))
    sums = shares.sum(axis=0)  # per attending field (the columns of the source data's layout)
    assert np.all(np.isclose(sums, 1.0, atol=1e-4) | np.isclose(sums, 0.0))
    assert np.isfinite(np.asarray(page.coupling_map.image.data["image"][0])).any()
