"""AtmoRep through the forecast contract: tiles that cover the globe, overlap averaging, members, leads,
history and months checked, checkpoints that keep the spec, and evaluate scoring the ensemble with CRPS."""

import numpy as np
import pytest
import torch
import xarray as xr

from climax_nb.data.monthly import MissingMonthError, MonthlyNormalizer
from climax_nb.data.stats import compute_stats
from climax_nb.evaluate import evaluate
from climax_nb.forecast import (
    InitialStateError,
    LeadTimeError,
    Perturbation,
    forecast,
    load_forecast_checkpoint,
    open_model,
)
from climax_nb.forecast.atmorep import AtmoRepForecaster
from climax_nb.model.atmorep import AtmoRep, UnknownFieldError
from climax_nb.model.atmorep.tiling import Tiling
from tests.atmorep_helpers import CFG, DATA, IDS, INITS, checkpoint
from tests.conftest import make_canonical
from tests.train_helpers import single_thread  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("single_thread")

@pytest.mark.parametrize("size", [(8, 8), (16, 32), (32, 64), (5, 7)])
def test_tiles_cover_every_cell_and_average_back_to_the_field(size):
    tiling = Tiling.cover((32, 64), size, overlap=0.5)
    assert tiling.counts().min() >= 1
    assert (tiling.lat.max() < 32) and (tiling.lon.max() < 64)
    if size[1] < 64:
        assert (np.diff(tiling.lon, axis=1) < 0).any()  # a tile wraps across 0 deg
    x = torch.randn(3, 32, 64)
    torch.testing.assert_close(tiling.average(tiling.cut(x)), x)


def test_overlaps_are_averaged():
    tiling = Tiling.cover((32, 64), (16, 32), overlap=0.5)
    tiles = torch.arange(len(tiling), dtype=torch.float32)[:, None, None].expand(-1, 16, 32)
    out = tiling.average(tiles)
    expected = torch.zeros(32, 64)
    for k in range(len(tiling)):
        cells = np.ix_(tiling.lat[k], tiling.lon[k])
        expected[cells] += k
    torch.testing.assert_close(out, expected / torch.from_numpy(tiling.counts()).float())


def fake_network(fm, value):
    """Replace the network by one predicting ``value(lat, lon)`` (month units) in every tile, member and step."""

    def forward(cubes, fields, coords, token_masks=None, outputs=None):
        lat, lon = torch.deg2rad(coords.lat)[:, :, None], torch.deg2rad(coords.lon)[:, None, :]
        field = value(lat, lon)  # [n, h, w]
        return {f: field[:, None, None, None].expand(-1, CFG.members, CFG.spec(f).num_levels, CFG.neighbourhood[0],
                                                    -1, -1) for f in outputs}

    fm.model.forward = forward


def test_a_global_forecast_is_one_call_over_overlapping_tiles(tmp_path):
    fm = open_model(checkpoint(tmp_path))
    fake_network(fm, lambda lat, lon: torch.sin(lat) * torch.cos(lon) + 0.0 * lon)
    fc = forecast(fm, DATA, [6, 12], init_times=INITS)
    assert fc["z500"].dims == ("member", "init_time", "lead_time", "lat", "lon") and fc.sizes["member"] == 3
    stats = fm.normalizer
    lat, lon = np.deg2rad(DATA.lat.values)[:, None], np.deg2rad(DATA.lon.values)[None, :]
    mean, std = stats.month_vectors(["t850"], np.array([1]))
    expected = mean[0, 0] + std[0, 0] * np.sin(lat) * np.cos(lon)  # each cell its own value: tiles agree
    np.testing.assert_allclose(fc["t850"].values, np.broadcast_to(expected, fc["t850"].shape), rtol=1e-5, atol=1e-3)
    fake_network(fm, lambda lat, lon: torch.full_like(lat * lon, 0.5))  # a constant field stays constant
    const = forecast(fm, DATA, 6, init_times=INITS)["z500"].values
    mean, std = stats.month_vectors(["z500"], np.array([1]))
    np.testing.assert_allclose(const, mean[0, 0] + 0.5 * std[0, 0], rtol=1e-6)


def test_forecasts_are_ensembles_that_evaluate_scores_with_crps(tmp_path):
    path = checkpoint(tmp_path)
    fc = forecast(path, DATA, [6, 12], init_times=INITS)
    assert set(fc.data_vars) == set(IDS) and fc.sizes["member"] == CFG.members
    assert float(fc["z500"].std("member").mean()) > 0  # the members differ
    card = evaluate(fc, DATA, DATA, [2000], in_sample=True)
    assert {"crps", "spread_skill_ratio"} <= set(card.metric.values)
    assert np.isfinite(card["t850"].sel(model="model", metric="crps")).all()
    one = open_model(path).predict(DATA, INITS, 12)
    np.testing.assert_allclose(one["t2m"].values, fc["t2m"].sel(lead_time=np.timedelta64(12, "h")).values, rtol=1e-5)
    fields_b = forecast(open_model(path, source="b"), DATA, [6], init_times=INITS)  # a source without t2m
    assert set(fields_b.data_vars) == {"z500", "z850", "t850"}
    perturbed = forecast(path, DATA, [6], init_times=INITS[:1], ensemble=Perturbation(2, seed=1))
    assert perturbed.sizes["member"] == 2 * CFG.members  # each perturbed state's members in turn


def test_checkpoints_keep_the_spec_and_the_weights(tmp_path):
    path = checkpoint(tmp_path)
    loaded = load_forecast_checkpoint(path)
    assert loaded.spec.family == "atmorep" and loaded.spec.trained_leads == (6.0, 12.0)
    assert loaded.spec.model_config == CFG.to_dict() and isinstance(loaded.spec.source().normalizer,
                                                                      MonthlyNormalizer)
    assert loaded.spec.source().normalizer.months("z500") == [1]
    torch.manual_seed(0)
    for key, value in AtmoRep(CFG).state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    assert isinstance(open_model(path), AtmoRepForecaster)


def test_leads_history_months_and_fields_are_checked(tmp_path):
    path = checkpoint(tmp_path)
    with pytest.raises(LeadTimeError, match=r"up to 12 h in one masked call .*not 18 h: use mode='iterative'.*"
                                            r"--atmorep.neighbourhood"):
        forecast(path, DATA, [6, 18], init_times=INITS)
    with pytest.raises(LeadTimeError, match=r"multiples of its 6 h data step, not 9 h"):
        forecast(path, DATA, [9], init_times=INITS)
    with pytest.raises(LeadTimeError, match=r"one time slab \(12 h\) per model call, not 6 h"):
        forecast(path, DATA, [24], init_times=INITS, mode="iterative", step=6)
    with pytest.raises(InitialStateError, match=r"6 h of history before an initial time\); 1999-12-31T18:00:00 is "
                                                r"not in the data: start at 2000-01-01T06:00:00"):
        forecast(path, DATA, [6], init_times=DATA.time.values[:2])
    february = make_canonical(ids=IDS, steps=8, start="2000-02-01")
    with pytest.raises(MissingMonthError, match="no training data in Feb"):
        forecast(path, february, [6], init_times=february.time.values[2:3])
    with pytest.raises(UnknownFieldError, match=r"whole fields; the inputs lack \{'z': \['z850'\]\}"):
        open_model(path, inputs=["z500", "t850"], outputs=["t850"])
    with pytest.raises(ValueError, match="has no variable"):
        open_model(path, outputs=["q700"])
    with pytest.raises(ValueError, match="give a MonthlyNormalizer"):
        open_model(path).reading(normalizer=compute_stats(DATA, list(IDS)))


def test_the_initial_state_must_hold_the_fields(tmp_path):
    with pytest.raises(InitialStateError, match="lacks t2m"):
        forecast(checkpoint(tmp_path), DATA[["z500", "z850", "t850"]], [6], init_times=INITS)


def test_lead_steps_after_the_initial_time_come_from_the_hidden_slab(tmp_path):
    fm = open_model(checkpoint(tmp_path))
    seen = []

    def forward(cubes, fields, coords, token_masks=None, outputs=None):
        seen.append((coords.hour[0].tolist(), token_masks[0][0, 0].tolist()))
        steps = torch.arange(CFG.neighbourhood[0], dtype=torch.float32)  # each window step predicts its index
        return {f: steps[None, None, None, :, None, None].expand(len(cubes[0]), CFG.members, CFG.spec(f).num_levels,
                                                                -1, *CFG.neighbourhood[1:]) for f in outputs}

    fm.model.forward = forward
    fc = forecast(fm, DATA, [6, 12], init_times=DATA.time.values[[1]])
    hours, mask = seen[0]
    assert hours == [0.0, 6.0, 12.0, 18.0]  # two observed steps up to 06 UTC, then 12 and 18 UTC hidden
    assert [bool(np.any(slab)) for slab in mask] == [False, True]
    mean, std = fm.normalizer.month_vectors(["t2m"], np.array([1]))
    values = (fc["t2m"].isel(member=0, init_time=0, lat=0, lon=0).values - mean[0, 0]) / std[0, 0]
    np.testing.assert_allclose(values, [2.0, 3.0], atol=1e-4)


def test_tiny_data_forecast_round_trip_through_xarray(tmp_path):
    fc = forecast(checkpoint(tmp_path), DATA, [12], init_times=INITS)
    fc.to_netcdf(tmp_path / "fc.nc")
    back = xr.open_dataset(tmp_path / "fc.nc")
    assert back.sizes["member"] == CFG.members


def test_history_read_in_blocks_gives_the_same_forecast(tmp_path, monkeypatch):
    from climax_nb.forecast import state

    whole = forecast(checkpoint(tmp_path), DATA.chunk(time=3), [12], init_times=INITS, batch_size=1)
    monkeypatch.setattr(state, "BLOCK_BYTES", 1)  # one initial time and its history per block
    blocks = forecast(checkpoint(tmp_path), DATA.chunk(time=3), [12], init_times=INITS, batch_size=1)
    np.testing.assert_array_equal(whole["t2m"].values, blocks["t2m"].values)


def fake_persistence(cubes, fields, coords, token_masks=None, outputs=None):
    """Member m predicts every cell as the last visible step's value plus m + 1 (month units)."""
    visible = int((~token_masks[0][0, 0, :, 0, 0]).sum()) * CFG.token_size[0]
    out = {}
    for f, cube in zip(fields, cubes, strict=True):
        last = cube[:, :, visible - 1: visible]
        steps = torch.arange(1, CFG.members + 1, dtype=cube.dtype)[None, :, None, None, None, None]
        out[f] = (last[:, None] + steps).expand(-1, -1, -1, CFG.neighbourhood[0], -1, -1)
    return {f: out[f] for f in outputs}


def test_a_rollout_feeds_each_members_own_prediction_back(tmp_path):
    fm = open_model(checkpoint(tmp_path))
    fm.model.forward = fake_persistence
    fc = forecast(fm, DATA, [6, 12, 24, 36], init_times=INITS[:2], mode="iterative")
    assert fc.attrs["mode"] == "iterative" and fc.attrs["step_hours"] == 12.0
    _, std = fm.normalizer.month_vectors(["t850"], np.array([1]))
    gain = (fc["t850"] - fc["t850"].isel(lead_time=0)) / std[0, 0]  # month units: slabs of member m add m + 1 each
    for k, lead in enumerate([6, 12, 24, 36]):
        slabs_after_first = (lead - 1) // 12
        expected = np.arange(1, CFG.members + 1) * slabs_after_first
        np.testing.assert_allclose(gain.isel(lead_time=k).mean(["init_time", "lat", "lon"]), expected, atol=1e-3)
    auto = forecast(fm, DATA, [6, 24], init_times=INITS[:2], mode="auto")
    assert auto.attrs["mode"] == "iterative"
    np.testing.assert_allclose(auto["t850"].values, fc["t850"].sel(lead_time=auto.lead_time).values, rtol=1e-6)


def test_reconstruct_fills_hidden_cells_without_seeing_them(tmp_path):
    fm = open_model(checkpoint(tmp_path)).to("cpu")
    starts = DATA.time.values[[0, 6]]
    x = torch.from_numpy(fm.read_window(DATA, starts))
    steps = np.arange(fm.window_steps) * np.timedelta64(6, "h")
    times = starts[:, None] + steps
    hidden = torch.zeros(fm.window_steps, *fm.grid.shape, dtype=torch.bool)
    hidden[:, 2:6, 10:20] = True  # a box through every step
    with torch.inference_mode():
        r = fm.reconstruct(x, times, hidden, coupling=True)
        spoiled = x.clone()
        spoiled[:, :, hidden] = 1e4
        again = fm.reconstruct(spoiled, times, hidden, coupling=True)
    assert r.values.shape == (2, CFG.members, len(fm.inputs), fm.window_steps, *fm.grid.shape)
    assert torch.isfinite(r.values).all()
    torch.testing.assert_close(r.values, again.values)  # what the hidden cells hold is never seen
    pairs = {f: [p for p in r.coupling if p[0] == f] for f, _ in r.coupling}
    for ps in pairs.values():  # each field's shares over the fields it reads sum to one in every cell
        torch.testing.assert_close(sum(r.coupling[p] for p in ps), torch.ones(2, *fm.grid.shape))
    with pytest.raises(ValueError, match="no cell is hidden"):
        fm.reconstruct(x, times, torch.zeros_like(hidden))
    with pytest.raises(ValueError, match="nothing to read"):
        fm.reconstruct(x, times, torch.ones_like(hidden))
    with pytest.raises(ValueError, match=r"windows must be \[batch"):
        fm.reconstruct(x[:, :, :2], times, hidden)


# -- local statistics and forcing ----------------------------------------------------------------------
def test_with_local_statistics_zero_in_month_units_forecasts_the_monthly_climatology(tmp_path):
    pattern = np.cos(np.deg2rad(DATA.lat.values))[:, None] * np.sin(np.deg2rad(DATA.lon.values))[None, :]
    ds = DATA.copy()
    for v in IDS:
        ds[v] = ds[v] + (30.0 * pattern).astype(np.float32)
    fm = open_model(checkpoint(tmp_path, ds, local=True))
    assert fm.normalizer.local
    fake_network(fm, lambda lat, lon: torch.zeros_like(lat * lon))
    fc = forecast(fm, ds, [6, 12], init_times=INITS)
    for v in ("t850", "z500"):
        clim = fm.normalizer.local_mean[v][0]  # January, at every point
        np.testing.assert_allclose(fc[v].values, np.broadcast_to(clim, fc[v].shape), rtol=1e-6, atol=1e-3)
        assert float(np.corrcoef(clim.ravel(), pattern.ravel())[0, 1]) > 0.9  # the climatology holds the pattern
    fake_network(fm, lambda lat, lon: torch.full_like(lat * lon, 1.0))  # one monthly std above it
    up = forecast(fm, ds, 6, init_times=INITS)["t850"].values
    np.testing.assert_allclose(up - fm.normalizer.local_mean["t850"][0], fm.normalizer.monthly_std["t850"][0],
                               rtol=1e-4)
    small = ds.coarsen(lat=2, lon=2).mean()
    with pytest.raises(ValueError, match=r"32x64 grid; .*16x32 grid"):
        fm.normalizer.overall_to_monthly(torch.zeros(1, 4, 2, 16, 32), IDS, small.time.values[None, :2])


def test_a_conditioned_forecaster_carries_its_forcing_to_every_token(tmp_path):
    path = checkpoint(tmp_path, forcing={"sst_offset": 2.0})
    assert load_forecast_checkpoint(path).spec.source("a").forcing == {"sst_offset": 2.0}
    fm = open_model(path)
    assert fm.forcing == {"sst_offset": 2.0} and open_model(path, source="b").forcing == {"sst_offset": 0.0}
    cooler = fm.conditioned(sst_offset=-1.0)
    assert cooler.forcing == {"sst_offset": -1.0} and fm.forcing == {"sst_offset": 2.0}
    seen = []

    def forward(cubes, fields, coords, token_masks=None, outputs=None):
        seen.append(coords.sst_offset.unique().tolist())
        return {f: torch.zeros(len(cubes[0]), CFG.members, CFG.spec(f).num_levels, *CFG.neighbourhood)
                for f in outputs}

    for model, expected in ((fm, [2.0]), (cooler, [-1.0]), (fm.rolling_out(), [2.0])):
        model.model.forward = forward
        seen.clear()
        forecast(model, DATA, [6], init_times=INITS[:1])
        assert seen and all(s == expected for s in seen)
        del model.model.forward
    a = forecast(fm, DATA, [6], init_times=INITS[:1])
    b = forecast(fm.conditioned(sst_offset=0.0), DATA, [6], init_times=INITS[:1])
    assert float(abs(a["t850"] - b["t850"]).max()) > 1e-3  # the forcing changes the forecast
    with pytest.raises(ValueError, match=r"unknown forcing\(s\) \['co2'\]; AtmoRep is conditioned on "
                                         r"\['sst_offset'\]"):
        fm.conditioned(co2=560.0)
    with pytest.raises(ValueError, match="must be finite"):
        fm.conditioned(sst_offset=float("nan"))


def test_a_new_input_is_never_served_the_last_batchs_prediction(tmp_path):
    fm = open_model(checkpoint(tmp_path))
    x = fm.input_tensor(DATA, INITS[:1])
    fake_network(fm, lambda lat, lon: torch.full_like(lat * lon, 0.5))
    first = fm.step(x, 6.0, ["t850"], times=INITS[:1])
    torch.testing.assert_close(fm.step(x, 6.0, ["t850"], times=INITS[:1]), first)  # the same batch: reused
    fake_network(fm, lambda lat, lon: torch.full_like(lat * lon, -0.5))
    other = x.view_as(x)  # another tensor at the same address (as a freed one's can be): computed anew
    assert other.data_ptr() == x.data_ptr() and not torch.allclose(fm.step(other, 6.0, ["t850"], times=INITS[:1]),
                                                                    first)
