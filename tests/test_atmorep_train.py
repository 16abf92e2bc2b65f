"""AtmoRep training: per-month statistics from training years, the loss on masked tokens only, task masks,
training, resuming, saving and loading through the command line and the Python API, and one-line errors."""

import numpy as np
import pytest
import torch
import xarray as xr

from climax_nb import cli
from climax_nb.config import from_dict
from climax_nb.data.monthly import MissingMonthError, MonthlyNormalizer, compute_monthly_stats
from climax_nb.data.pipeline.cubes import CubeBuilder, CubeStream
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
