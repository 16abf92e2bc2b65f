"""AtmoRep training: per-month statistics from training years, the loss on masked tokens only, task masks,
training, resuming, saving and loading through the command line and the Python API, and one-line errors."""

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from climax_nb import cli
from climax_nb.config import from_dict
from climax_nb.data.monthly import MissingMonthError, MonthlyNormalizer, compute_monthly_stats
from climax_nb.data.pipeline.cubes import CubeBuilder, CubeStream
from climax_nb.data.stats import Normalizer
from climax_nb.forecast import load_forecast_checkpoint, open_forecast
from climax_nb.model.atmorep import MaskKind, forecast_mask, preset
from climax_nb.train.atmorep import AtmoRepModule, AtmoRepSection, CubeDataModule, CubeSplit, training_years
from climax_nb.train.checkpointing import LAST
from climax_nb.train.module import OptimConfig
from climax_nb.train.run import RunConfig, train
from tests.conftest import make_canonical
from tests.test_train_resume import StopAt
from tests.train_helpers import quick_trainer, single_thread  # noqa: F401  (single_thread is a fixture)

pytestmark = pytest.mark.usefixtures("single_thread")

IDS = ("z500", "z850", "t850", "t2m")
CFG = preset("tiny")
TINY = ["--config", "atmorep-tiny", "--data.batch_size", "4", "--optim.warmup_steps", "1", "--trainer.progress",
        "false", "--trainer.checkpoint_every_n_steps", "1"]


def two_sources() -> dict[str, xr.Dataset]:
    """Ten January days with every field, and a source without t2m (its batches feed z and t only)."""
    a = make_canonical(ids=IDS, steps=40)
    return {"a": a, "b": make_canonical(ids=IDS[:3], steps=40, start="2000-01-03")}


@pytest.fixture
def paths(tmp_path):
    out = []
    for name, ds in two_sources().items():
        ds.to_netcdf(tmp_path / f"{name}.nc")
        out.append(str(tmp_path / f"{name}.nc"))
    return out


def run(*args):
    return cli.main(list(args))


# -- statistics and data --------------------------------------------------------------------------
def test_monthly_statistics_come_from_the_training_years_only():
    first = make_canonical(ids=IDS, steps=60, start="2000-01-20")  # 20 Jan - 4 Feb 2000
    later = make_canonical(ids=IDS, steps=20, start="2001-01-10")
    later["z500"] = later["z500"] + 500.0  # another year, another mean: it must not count
    ds = xr.concat([first, later], "time")
    dm = CubeDataModule({"a": ds}, CFG, CubeSplit(train_years=(2000,), batch_size=2))
    dm.setup()
    stats = dm.stats["a"]
    assert isinstance(stats, MonthlyNormalizer) and stats.years == (2000,)
    january = first["z500"].sel(time=first.time.dt.month == 1).values.astype(np.float64)
    assert stats.monthly_mean["z500"][0] == pytest.approx(january.mean(), rel=1e-6)
    assert stats.monthly_std["z500"][0] == pytest.approx(january.std(), rel=1e-5)
    assert stats.months("z500") == [1, 2]
    with pytest.raises(MissingMonthError, match=r"no training data in Mar.*cover Jan, Feb; train on data covering"):
        CubeBuilder(make_canonical(ids=IDS, steps=8, start="2000-03-01"), CFG.fields, stats, CFG.neighbourhood)
    # the spec carries them, and reads them back as per-month statistics
    spec_stats = dm.trained_on().sources[0].normalizer
    assert MonthlyNormalizer.from_dict(spec_stats.to_dict()) == stats


def test_training_years_apply_to_the_sources_that_hold_them():
    gcm = make_canonical(ids=IDS, steps=8, start="1990-01-01")
    reanalysis = xr.concat([make_canonical(ids=IDS, steps=8, start=f"{y}-01-01") for y in (2000, 2002)], "time")
    assert training_years({"gcm": gcm, "re": reanalysis}, (2000,)) == {"gcm": (1990,), "re": (2000,)}
    with pytest.raises(ValueError, match=r"no source holds any of the training years \[2005\]"):
        training_years({"gcm": gcm, "re": reanalysis}, (2005,))


def test_cubes_skip_gaps_and_feed_the_fields_a_source_has():
    a, b = two_sources().values()
    gappy = xr.concat([b.isel(time=slice(0, 10)), b.isel(time=slice(13, 40))], "time")
    dm = CubeDataModule({"a": a, "b": gappy}, CFG, CubeSplit(batch_size=4))
    dm.setup()
    step, seen = np.timedelta64(6, "h"), set()
    for batch in dm.train_dataloader():
        times = batch["time"].numpy().astype("datetime64[ns]")
        assert (np.diff(times, axis=1) == step).all()  # no window crosses the gap
        shapes = [tuple(c.shape) for c in batch["cubes"]]
        if batch["source"] == "b":
            assert batch["fields"] == ("z", "t") and shapes == [(4, 2, 4, 8, 8), (4, 1, 4, 8, 8)]
        else:
            assert batch["fields"] == ("z", "t", "t2m") and shapes[2] == (4, 1, 4, 8, 8)
        seen.add(batch["source"])
    assert seen == {"a", "b"}


def test_a_windows_neighbourhood_does_not_depend_on_how_the_epoch_is_split():
    ds = two_sources()["a"]
    stats = compute_monthly_stats(ds, IDS)

    def cells(rank, world_size):
        builder = CubeBuilder(ds, CFG.fields, stats, CFG.neighbourhood, seed=3)
        return {int(s["sample_id"]): (s["lat"].tolist(), s["lon"].tolist())
                for s in CubeStream(builder, block_size=4, rank=rank, world_size=world_size)}

    whole = cells(0, 1)
    halves = cells(0, 2), cells(1, 2)
    assert not set(halves[0]) & set(halves[1]) and len(halves[0]) == len(halves[1]) == len(whole) // 2
    assert all(whole[k] == v for half in halves for k, v in half.items())
    assert len({str(v) for v in whole.values()}) > len(whole) // 2  # places differ between windows


# -- masks and loss -------------------------------------------------------------------------------
def tiny_module(**training) -> AtmoRepModule:
    torch.manual_seed(0)
    return AtmoRepModule.build(CFG, OptimConfig(warmup_steps=1), AtmoRepSection(**training),
                               make_canonical(steps=1).lat.values)


def one_batch() -> dict:
    dm = CubeDataModule({"a": two_sources()["a"]}, CFG, CubeSplit(batch_size=4))
    dm.setup()
    return next(iter(dm.train_dataloader()))


def test_the_loss_ignores_predictions_of_unmasked_tokens(monkeypatch):
    module, batch = tiny_module(rate_max=0.6), one_batch()
    masks = module.draw_masks(batch, torch.Generator().manual_seed(3))
    torch.manual_seed(1)
    preds = {f: torch.randn(4, CFG.members, c.shape[1], *CFG.neighbourhood, requires_grad=True)
             for f, c in zip(batch["fields"], batch["cubes"], strict=True)}
    monkeypatch.setattr(module.net, "forward", lambda *args, **kwargs: preds)
    loss, parts = module.losses(batch, masks, torch.Generator().manual_seed(4))
    loss.backward()
    for (fid, pred), mask in zip(preds.items(), masks, strict=True):
        cells = mask.masked.repeat_interleave(2, 2).repeat_interleave(4, 3).repeat_interleave(4, 4)
        assert cells.any() and (~cells).any()
        grad = pred.grad.abs().sum(1)  # over members
        assert bool((grad[~cells] == 0).all()), fid
        assert bool((grad[cells] > 0).any()), fid
        with torch.no_grad():  # other values where nothing is masked: the same loss
            pred[(~cells).unsqueeze(1).expand_as(pred)] += 100.0
    again, _ = module.losses(batch, masks, torch.Generator().manual_seed(4))
    assert float(again.detach()) == pytest.approx(float(loss.detach()), rel=1e-6)
    assert set(parts) == {"crps", "mse", "spread"}


def test_task_masks_replace_bert_masks_for_their_share_of_samples():
    batch = one_batch()
    every = tiny_module(tasks=("forecast",), task_share=1.0).draw_masks(batch, torch.Generator().manual_seed(0))
    for mask, cube in zip(every, batch["cubes"], strict=True):
        hide = forecast_mask((cube.shape[1], *CFG.token_grid))
        assert torch.equal(mask.kind, torch.where(hide, int(MaskKind.ZERO), int(MaskKind.KEEP)).to(mask.kind.dtype)
                           .expand_as(mask.kind))
    none = tiny_module(tasks=("forecast",), task_share=0.0).draw_masks(batch, torch.Generator().manual_seed(0))
    kinds = torch.cat([m.kind.reshape(-1) for m in none])
    assert set(torch.unique(kinds).tolist()) - {0} and (kinds == MaskKind.KEEP).any()


# -- training, resuming, saving and loading ----------------------------------------------------------
def fit_tiny(run_dir, stop_at=None, ckpt_path=None):
    torch.manual_seed(0)
    module = tiny_module(tasks=("forecast",), task_share=0.3)
    dm = CubeDataModule(two_sources(), CFG, CubeSplit(batch_size=4, seed=1))
    trainer = quick_trainer(run_dir, 6, callbacks=[StopAt(stop_at)] if stop_at else [])
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    return module


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    whole = fit_tiny(tmp_path / "whole")
    fit_tiny(tmp_path / "cut", stop_at=3)
    assert torch.load(tmp_path / "cut" / "checkpoints" / LAST, weights_only=True)["global_step"] == 3
    resumed = fit_tiny(tmp_path / "cut", ckpt_path="last")
    for key, value in resumed.net.state_dict().items():
        torch.testing.assert_close(value, whole.net.state_dict()[key], atol=1e-6, rtol=0, msg=key)


def test_pretrain_resume_forecast_and_evaluate_through_the_command_line(tmp_path, paths):
    run_dir = tmp_path / "run"
    common = [*TINY, "--data.sources", f"[{paths[0]}, {paths[1]}]", "--trainer.run_dir", str(run_dir)]
    assert run("pretrain", *common, "--trainer.max_steps", "2") == 0
    assert run("pretrain", *common, "--trainer.max_steps", "4", "--trainer.resume", "last",
               "--trainer.allow_changed_config", "true") == 0
    assert torch.load(run_dir / "checkpoints" / LAST, weights_only=True)["global_step"] == 4
    saved = load_forecast_checkpoint(run_dir / "model.pt")
    assert saved.spec.family == "atmorep" and saved.spec.trained_leads == (6.0, 12.0)
    assert [s.name for s in saved.spec.sources] == ["a", "b"] and saved.spec.sources[1].inputs == IDS[:3]
    assert isinstance(saved.spec.source().normalizer, MonthlyNormalizer)
    assert saved.spec.training["global_step"] == 4 and saved.spec.model_config == CFG.to_dict()

    fc_path = tmp_path / "fc.nc"
    assert run("forecast", "--checkpoint", str(run_dir / "model.pt"), "--data", paths[0], "--leads", "6", "12",
               "--every", "24", "--out", str(fc_path)) == 0
    fc = open_forecast(fc_path)
    assert fc.sizes["member"] == CFG.members and fc.sizes["lead_time"] == 2 and set(fc.data_vars) == set(IDS)
    assert fc.init_time.values[0] == np.datetime64("2000-01-01T06:00")  # room for the 6 h of history
    scores = tmp_path / "scores"
    assert run("evaluate", "--forecast", str(fc_path), "--truth", paths[0], "--clim-years", "2000", "--in-sample",
               "--out", str(scores)) == 0
    card = xr.open_dataset(scores / "scorecard.nc")
    assert np.isfinite(card["z500"].sel(model="model", metric="crps")).all()


def test_python_api_trains_from_a_config_and_starts_another_run_from_it(tmp_path, paths):
    settings = {"model": {"family": "atmorep", "preset": "tiny"},
                "data": {"sources": [paths[0]], "batch_size": 4},
                "optim": {"warmup_steps": 1},
                "trainer": {"run_dir": str(tmp_path / "a"), "max_steps": 2, "progress": False, "threads": 1}}
    first = train(from_dict(RunConfig, settings))
    settings["model"]["init"] = str(first)
    settings["optim"]["lr"] = 1e-12
    settings["trainer"]["run_dir"] = str(tmp_path / "b")
    second = train(from_dict(RunConfig, settings))
    assert "loaded" in (tmp_path / "b" / "init_report.txt").read_text()
    before, after = (load_forecast_checkpoint(p).model.state_dict() for p in (first, second))
    for key, value in before.items():
        torch.testing.assert_close(after[key], value, atol=1e-6, rtol=0, msg=key)


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "message"), [
    (["--atmorep.neighbourhood", "4", "40", "8"], "the neighbourhood's 40 lat cells exceed the grid's 32"),
    (["--atmorep.token_size", "3", "4", "4"], "token size 3 along time does not divide the neighbourhood's 4 cells; "
                                              "choose one of [1, 2, 4]"),
    (["--atmorep.tasks", "interpolation"], "needs at least 3 time tokens"),
    (["--model.variables", "[z500, q700]"], "field(s) ['q'] of the model are in no source"),
    (["--model.variables", "[z500, lsm]"], "leave the constant(s) ['lsm'] out"),
    (["--model.depth", "3"], "--model.depth is a ClimaX option; an AtmoRep run (model.family atmorep) uses "
                             "--atmorep.encoder_depth"),
    (["--data.leads", "6"], "--data.leads is a ClimaX option"),
], ids=["hood-larger-than-grid", "token-size", "mask-too-long", "unknown-field", "constant", "climax-option",
        "leads"])
def test_bad_settings_are_refused_in_one_line(tmp_path, paths, capsys, args, message):
    assert run("pretrain", *TINY, "--data.sources", f"[{paths[0]}]", "--trainer.run_dir", str(tmp_path / "r"),
               "--trainer.max_steps", "1", *args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


# -- local and shared statistics, forcing ----------------------------------------------------------------
def patterned(start="2000-01-20", steps=60, shift=0.0, ids=IDS) -> xr.Dataset:
    """Noise about a pole-to-equator pattern that differs between January and February (``shift`` added to t850)."""
    ds = make_canonical(ids=ids, steps=steps, start=start)
    pattern = xr.DataArray(np.cos(np.deg2rad(ds.lat.values))[:, None] * np.ones(ds.sizes["lon"]), dims=("lat", "lon"))
    feb = xr.DataArray((ds.time.dt.month == 2).values.astype(np.float32), dims="time")
    for v in ds.data_vars:
        ds[v] = ds[v] + (50.0 * (1 + feb) * pattern).astype(np.float32)
    if "t850" in ds:
        ds["t850"] = ds["t850"] + np.float32(shift)
    return ds


def test_local_monthly_statistics_equal_a_per_point_computation():
    ds = patterned()
    stats = compute_monthly_stats(ds, ["z500", "t850"], local=True, chunk_size=7)  # chunks straddle the month
    assert stats.local and stats.grid_shape == (32, 64) and stats.months("t850") == [1, 2]
    months = ds.time.dt.month.values
    for v in ("z500", "t850"):
        values = ds[v].values.astype(np.float64)
        for m in (1, 2):
            x = values[months == m]
            np.testing.assert_allclose(stats.local_mean[v][m - 1], x.mean(0), rtol=1e-6)
            assert stats.monthly_std[v][m - 1] == pytest.approx(np.sqrt(x.var(0).mean()), rel=1e-9)
            assert stats.monthly_mean[v][m - 1] == pytest.approx(x.mean(), rel=1e-9)
        assert np.isnan(stats.local_mean[v][2:]).all() and stats.monthly_std[v][2] is None
    # the overall statistics and the chunking do not depend on the mode
    plain = compute_monthly_stats(ds, ["z500", "t850"])
    assert stats.mean == pytest.approx(plain.mean) and stats.std == pytest.approx(plain.std)
    whole = compute_monthly_stats(ds, ["z500", "t850"], local=True)  # one chunk: the same up to rounding
    assert whole.monthly_std["t850"][:2] == pytest.approx(stats.monthly_std["t850"][:2], rel=1e-12)
    np.testing.assert_allclose(whole.local_mean["z500"], stats.local_mean["z500"], rtol=1e-7)  # float32 tables
    assert not plain.local and plain.grid_shape is None
    assert plain.monthly_std["z500"][0] > 1.5 * stats.monthly_std["z500"][0]  # the pattern is no longer variance


def test_zero_in_month_units_is_the_monthly_climatology():
    ds = patterned()
    ids = ["z500", "t850"]
    stats = compute_monthly_stats(ds, ids, local=True)
    times = ds.time.values[[0, 50, 59]]  # January, February, February
    zero = np.zeros((3, 2, 32, 64), dtype=np.float32)
    clim = stats.denormalize_steps(zero, ids, times)
    for i, m in enumerate((1, 2, 2)):
        for j, v in enumerate(ids):
            np.testing.assert_allclose(clim[i, j], stats.local_mean[v][m - 1], rtol=1e-6)
    np.testing.assert_allclose(stats.normalize_steps(clim, ids, times), 0.0, atol=1e-4)
    # overall units <-> month units: [B, V, S, H, W] with times [B, S] (or [B, 1]), torch or numpy
    overall = torch.from_numpy(stats.normalize(clim, ids)).unsqueeze(0).movedim(1, 2)  # [1, V, 3, H, W]
    monthly = stats.overall_to_monthly(overall, ids, times[None])
    torch.testing.assert_close(monthly, torch.zeros_like(monthly), atol=2e-3, rtol=0)
    back = stats.monthly_to_overall(torch.zeros(1, 2, 3, 32, 64), ids, times[None])
    torch.testing.assert_close(back, overall, atol=1e-3, rtol=0)  # float32 z500 (about 5e4) to 4e-3
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 32, 64)).astype(np.float32)
    one = np.broadcast_to(times[None, 1:2], (2, 1))
    np.testing.assert_allclose(stats.monthly_to_overall(stats.overall_to_monthly(x, ids, one), ids, one), x,
                               atol=1e-5)
    phys = stats.denormalize(np.moveaxis(x, 1, 2), ids)  # [2, 4, V, H, W] physical, then month units per step
    np.testing.assert_allclose(np.moveaxis(stats.overall_to_monthly(x, ids, one), 1, 2),
                               stats.normalize_steps(phys, ids, np.broadcast_to(one, (2, 4))), atol=1e-2)


def test_local_statistics_round_trip_and_are_stored_once_for_shared_sources(tmp_path):
    import json

    stats = compute_monthly_stats(patterned(), ["z500", "t850"], local=True)
    d = stats.to_dict()
    assert MonthlyNormalizer.from_dict(json.loads(json.dumps(d))) == stats
    assert Normalizer.from_dict(d) == stats and isinstance(Normalizer.from_dict(d), MonthlyNormalizer)
    assert MonthlyNormalizer.from_dict(d) != compute_monthly_stats(patterned(), ["z500", "t850"])
    one, two = tmp_path / "one.pt", tmp_path / "two.pt"
    torch.save({"a": stats.to_dict()}, one)
    torch.save({"a": stats.to_dict(), "b": stats.to_dict()}, two)  # sources sharing one normalizer
    assert two.stat().st_size < 1.05 * one.stat().st_size
    assert one.stat().st_size < 2 * 4 * 12 * 32 * 64 * 1.4  # two variables' float32 tables, base64
    loaded = torch.load(two, weights_only=True)
    assert MonthlyNormalizer.from_dict(loaded["b"]) == stats
    torch.save({"a": MonthlyNormalizer.from_dict(loaded["a"]).to_dict(),
                "b": MonthlyNormalizer.from_dict(loaded["a"]).to_dict()}, tmp_path / "again.pt")
    assert (tmp_path / "again.pt").stat().st_size < 1.05 * one.stat().st_size  # a re-save keeps them shared


def test_bad_local_statistics_and_data_are_refused():
    ids = ["z500", "t850"]
    stats = compute_monthly_stats(patterned(), ids, local=True)
    small = make_canonical(ids=ids, steps=4).coarsen(lat=2, lon=2).mean()
    with pytest.raises(ValueError, match=r"local monthly means are on a 32x64 grid; the data is on a 16x32 grid.*"
                                         r"compute the statistics on this grid.*or regrid"):
        stats.normalize_steps(np.zeros((4, 2, 16, 32), np.float32), ids, small.time.values)
    with pytest.raises(ValueError, match=r"source 'small' is on a 16x32 grid"):
        CubeBuilder(small, CFG.fields[1:2], stats, (4, 8, 8), name="small")
    with pytest.raises(ValueError, match=r"times must be \[2, S\]"):
        stats.overall_to_monthly(np.zeros((2, 2, 4, 32, 64), np.float32), ids, small.time.values[:3][None])
    with pytest.raises(ValueError, match=r"expected values \[\.\.\., V=2"):
        stats.overall_to_monthly(np.zeros((2, 3, 4, 32, 64), np.float32), ids, small.time.values[None, :4])
    base = (stats.mean, stats.std, stats.years, stats.monthly_mean, stats.monthly_std)
    with pytest.raises(ValueError, match=r"must be \[12, lat, lon\]"):
        MonthlyNormalizer(*base, {v: t[:3] for v, t in stats.local_mean.items()})
    with pytest.raises(ValueError, match="months without data must be NaN"):
        MonthlyNormalizer(*base, {v: np.nan_to_num(t) for v, t in stats.local_mean.items()})
    gappy = {v: t.copy() for v, t in stats.local_mean.items()}
    gappy["z500"][0, 3, 4] = np.nan
    with pytest.raises(ValueError, match=r"not finite at 1 grid point\(s\) in Jan"):
        MonthlyNormalizer(*base, gappy)
    with pytest.raises(ValueError, match="must cover every variable"):
        MonthlyNormalizer(*base, {"z500": stats.local_mean["z500"]})
    holes = patterned()
    holes["z500"][:, 0, 0] = np.nan
    with pytest.raises(ValueError, match="grid points without any finite value in"):
        compute_monthly_stats(holes, ["z500"], local=True)
    with pytest.raises(ValueError, match=r"atmorep.normalisation must be one of \['local', 'global'\]"):
        AtmoRepSection(normalisation="regional")


def test_shared_statistics_normalise_every_source_by_the_first():
    first, warm = patterned(), patterned(start="2000-01-22", steps=40, shift=4.0, ids=IDS[:3])
    warm.attrs["sst_offset"] = 2.0
    dm = CubeDataModule({"a": first, "warm": warm}, CFG, CubeSplit(batch_size=4), normalisation="local",
                        shared_stats=True)
    dm.setup()
    assert dm.stats["warm"] is dm.stats["a"] and dm.stats["a"].local
    specs = dm.trained_on().sources
    assert [s.forcing for s in specs] == [{"sst_offset": 0.0}, {"sst_offset": 2.0}]
    assert specs[1].normalizer is specs[0].normalizer
    t_mean = {}
    for batch in dm.train_dataloader():
        assert batch["sst_offset"].tolist() == [2.0 if batch["source"] == "warm" else 0.0] * 4
        t_mean.setdefault(batch["source"], []).append(float(batch["cubes"][1].mean()))
    scale = dm.stats["a"].monthly_std["t850"][0]
    # the warmer world stays warmer in the data
    assert np.mean(t_mean["warm"]) - np.mean(t_mean["a"]) == pytest.approx(4.0 / scale, rel=0.2)
    own = CubeDataModule({"a": first, "warm": warm}, CFG, CubeSplit(batch_size=4), normalisation="local")
    own.setup()
    assert own.stats["warm"] is not own.stats["a"]
    warm_t = np.mean([float(b["cubes"][1].mean()) for b in own.train_dataloader() if b["source"] == "warm"])
    assert abs(warm_t) < 0.2  # each source by its own statistics: the shift is gone
    lacking = CubeDataModule({"warm": warm, "a": first}, CFG, CubeSplit(batch_size=4), shared_stats=True)
    with pytest.raises(ValueError, match=r"shared statistics come from the first source 'warm', which lacks "
                                         r"\['t2m'\]"):
        lacking.setup()
    odd = first.assign_attrs(sst_offset="warm")
    with pytest.raises(ValueError, match=r"attribute sst_offset='warm'; it must be a finite number"):
        CubeDataModule({"odd": odd}, CFG, CubeSplit(batch_size=4)).setup()


def test_packaged_configs_normalise_locally_with_shared_statistics():
    from climax_nb.defaults import CONFIGS

    for name in ("atmorep-tiny", "atmorep-compact"):
        section = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())["atmorep"]
        assert section["normalisation"] == "local" and section["shared_stats"] is True, name
        assert AtmoRepSection(**{k: tuple(v) if isinstance(v, list) else v for k, v in section.items()})
