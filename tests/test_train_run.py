"""Pretrain then fine-tune through the command line on NetCDF sources written by the test."""

import re

import pytest
import torch
import xarray as xr

from climax_nb import cli
from climax_nb.forecast import load_forecast_checkpoint, open_forecast
from tests.train_helpers import moving_waves

TINY = ["--model.preset", "tiny", "--model.embed_dim", "32", "--model.patch_size", "4", "--trainer.progress", "false"]


@pytest.fixture
def sources(tmp_path):
    a = moving_waves(steps=40)
    b = moving_waves(steps=40)[["z500", "t2m", "lsm"]]
    paths = tmp_path / "a.nc", tmp_path / "b.nc"
    a.to_netcdf(paths[0])
    b.to_netcdf(paths[1])
    return [str(p) for p in paths]


def run(*args):
    return cli.main(list(args))


def test_pretrain_then_finetune_from_the_pretrained_model(tmp_path, sources, capsys):
    pre = tmp_path / "pre"
    assert run("pretrain", "--config", "pretrain-tiny", *TINY, "--data.sources", f"[{sources[0]}, {sources[1]}]",
               "--data.leads", "[6, 12]", "--data.batch_size", "4", "--trainer.max_steps", "3",
               "--optim.warmup_steps", "1", "--trainer.run_dir", str(pre)) == 0
    pretrained = load_forecast_checkpoint(pre / "model.pt")
    assert set(pretrained.model.variables) == {"z500", "t850", "t2m", "lsm", "lat"}
    assert set(pretrained.spec.source().normalizer.mean) >= {"z500", "t850", "t2m"}
    assert (pre / "config.yaml").exists()

    fine = tmp_path / "fine"
    assert run("finetune", "--config", "pretrain-tiny", *TINY, "--model.init", str(pre / "model.pt"),
               "--data.sources", f"[{sources[0]}]", "--data.outputs", "[z500, t850]", "--data.leads", "[6, 12]",
               "--data.batch_size", "4", "--trainer.max_steps", "2",
               "--optim.warmup_steps", "1", "--optim.lr", "1e-9", "--trainer.run_dir", str(fine)) == 0
    tuned = load_forecast_checkpoint(fine / "model.pt").model
    # with a negligible learning rate the fine-tuned weights are the pretrained ones
    for (name, p), q in zip(pretrained.model.state_dict().items(), tuned.state_dict().values(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0, msg=name)
    assert "loaded" in (fine / "init_report.txt").read_text().lower()

    fc_path = tmp_path / "fc.nc"
    assert run("forecast", "--checkpoint", str(fine / "model.pt"), "--data", sources[0], "--leads", "6", "12",
               "--every", "12", "--out", str(fc_path)) == 0
    fc = open_forecast(fc_path)
    assert fc.sizes["lead_time"] == 2 and set(fc.data_vars) == {"z500", "t850"}
    scores = tmp_path / "scores"
    assert run("evaluate", "--forecast", str(fc_path), "--truth", sources[0], "--clim-years", "2000", "--in-sample",
               "--out", str(scores)) == 0
    card = xr.open_dataset(scores / "scorecard.nc")
    assert list(card["model"].values) == ["model", "persistence", "climatology"]
    assert float(card["z500"].sel(model="persistence", metric="rmse").isel(lead_time=0)) > 0
    assert "| persistence |" in (scores / "scores.md").read_text()
    assert (scores / "skill.png").stat().st_size > 5000


def test_unknown_config_key_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  learning_rate: 1\n")
    assert run("pretrain", "--config", str(bad)) == 2
    assert re.search("unknown key.*learning_rate.*known", capsys.readouterr().err)
    with pytest.raises(ValueError, match="unknown key.*learning_rate.*known"):
        run("--debug", "pretrain", "--config", str(bad))


def test_missing_init_checkpoint_names_the_path(tmp_path, sources, capsys):
    assert run("finetune", "--config", "pretrain-tiny", *TINY, "--model.init", str(tmp_path / "nothing.pt"),
               "--data.sources", f"[{sources[0]}]", "--trainer.run_dir", str(tmp_path / "r")) == 2
    err = capsys.readouterr().err
    assert "nothing.pt" in err and err.count("\n") == 1 and "Traceback" not in err


def test_fine_tuning_can_start_the_damped_base_afresh(tmp_path, sources):
    damped = ["--model.residual", "true", "--model.residual_damping", "true", "--data.leads", "[6, 12]",
              "--data.batch_size", "4", "--optim.warmup_steps", "1"]
    pre = tmp_path / "pre"
    assert run("pretrain", "--config", "pretrain-tiny", *TINY, *damped, "--data.sources", f"[{sources[1]}]",
               "--trainer.max_steps", "3", "--optim.lr", "1e-2", "--trainer.run_dir", str(pre)) == 0
    learnt = load_forecast_checkpoint(pre / "model.pt").model
    assert float(learnt.mean_field.abs().max()) > 0  # the pretraining moved it
    fine = tmp_path / "fine"
    assert run("finetune", "--config", "pretrain-tiny", *TINY, *damped, "--model.init", str(pre / "model.pt"),
               "--model.init_fresh_base", "true", "--data.sources", f"[{sources[0]}]", "--trainer.max_steps", "1",
               "--optim.lr", "1e-9", "--trainer.run_dir", str(fine)) == 0
    tuned = load_forecast_checkpoint(fine / "model.pt").model
    assert float(tuned.mean_field.abs().max()) < 1e-6
    torch.testing.assert_close(tuned.pos_embed, learnt.pos_embed, atol=1e-6, rtol=0)  # the rest is the init's
    assert "started afresh (--model.init_fresh_base): ['damping_rate', 'mean_field']" in (
        fine / "init_report.txt").read_text()


def test_a_fresh_base_needs_an_init_model():
    from climax_nb.train.run import ModelSection

    with pytest.raises(ValueError, match="--model.init_fresh_base .* there is no --model.init"):
        ModelSection(init_fresh_base=True)
