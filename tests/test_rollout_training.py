"""Multi-step (rollout) training: K chained targets per sample, predictions fed back, the mean loss over steps."""

import numpy as np
import pandas as pd
import pytest
import torch

from climax_nb import cli
from climax_nb.data.pipeline import ForecastDataset, StreamingForecastDataset, build_pairs, collate
from climax_nb.data.stats import compute_stats
from climax_nb.forecast import RolloutError, forecast, load_forecast_checkpoint
from climax_nb.model import REGIONS, ClimaX, preset
from climax_nb.train.datamodule import ForecastDataModule, SplitConfig
from climax_nb.train.loss import lat_weighted_mse
from climax_nb.train.module import ForecastModule, LossConfig, OptimConfig
from tests.conftest import make_canonical
from tests.pipeline_data import code, encoded, gapped_times, identity
from tests.train_helpers import moving_waves

H = np.timedelta64(1, "h")
INPUTS = ["lsm", "z500", "tisr", "t850", "lat"]
OUTPUTS = ["t850", "z500"]


@pytest.fixture(scope="module")
def coded():
    return encoded(("z500", "t850", "tisr", "lsm"), gapped_times())


def test_pairs_chain_k_targets_and_never_across_a_gap():
    times = gapped_times()  # 12 steps in 2000, 12 in 2002
    pairs = build_pairs(times.values, 6, steps=3)
    assert pairs.steps == 3 and pairs.chain.shape == (len(pairs), 1, 3)
    assert len(pairs) == 2 * (12 - 3)
    t = pairs.times
    for k in range(3):
        assert np.all(t[pairs.chain[:, 0, k]] - t[pairs.init_positions] == 6 * (k + 1) * H)
    np.testing.assert_array_equal(pairs.targets, pairs.chain[:, :, 0])
    several = build_pairs(times.values, [6, 12], steps=2)  # every lead's chain present: 24 h ahead
    assert len(several) == 2 * (12 - 4)
    assert np.all(t[several.chain[:, 1, 1]] - t[several.init_positions] == 24 * H)
    one = build_pairs(times.values, 6)
    assert one.steps == 1 and len(one) == 22


def test_samples_carry_the_targets_and_forcings_of_every_step(coded):
    data = ForecastDataset(coded, INPUTS, OUTPUTS, identity(INPUTS), leads=12, rollout_steps=3)
    assert len(data) == 2 * (12 - 6)
    for i in (0, len(data) - 1):
        s = data[i]
        init = np.datetime64(int(s["init_time"]), "ns")
        assert s["x"].shape == (5, 8, 16) and s["y"].shape == (3, 2, 8, 16) and s["forcings"].shape == (2, 1, 8, 16)
        assert float(s["lead_time"]) == 12.0
        for k in range(3):
            valid = init + np.timedelta64(12 * (k + 1), "h")
            assert [float(s["y"][k, j].mean()) for j in range(2)] == [code(v, valid) for v in OUTPUTS]
        for k in range(2):  # the true tisr at the inputs of steps 2 and 3
            assert float(s["forcings"][k, 0].mean()) == code("tisr", init + np.timedelta64(12 * (k + 1), "h"))
    stream = StreamingForecastDataset(coded, INPUTS, OUTPUTS, identity(INPUTS), leads=12, rollout_steps=3,
                                      shuffle=False)
    batch = collate(list(stream)[:4])
    assert batch["y"].shape == (4, 3, 2, 8, 16) and batch["forcings"].shape == (4, 2, 1, 8, 16)
    torch.testing.assert_close(batch["y"][0], data[0]["y"])
    single = ForecastDataset(coded, INPUTS, OUTPUTS, identity(INPUTS), leads=12)[0]
    assert "forcings" not in single and single["y"].shape == (2, 8, 16)


def test_bad_rollout_settings_are_refused(coded):
    with pytest.raises(ValueError, match="rollout steps must be >= 1"):
        build_pairs(gapped_times().values, 6, steps=0)
    with pytest.raises(ValueError, match=r"use --data.rollout_steps 1 or more"):
        SplitConfig(train_years=(2000,), rollout_steps=0)
    with pytest.raises(ValueError, match="use history 0 with rollout_steps > 1"):
        ForecastDataset(coded, INPUTS, OUTPUTS, identity(INPUTS), leads=6, history=1, rollout_steps=2)
    dm = ForecastDataModule({"a": moving_waves(steps=24)}, SplitConfig(train_years=(2000,), leads=(48.0,),
                                                                         rollout_steps=3))
    with pytest.raises(ValueError, match=r"48 h chained over 3 steps .* at most 46 h.*fewer --data.rollout_steps"):
        dm.setup()


# -- the module ---------------------------------------------------------------------------------

VARS = ("z500", "t850", "t2m", "tisr", "lsm")


@pytest.fixture(scope="module")
def waves():
    ds = moving_waves(steps=16)
    forcing = make_canonical(ids=("tisr",), steps=16)["tisr"]
    return ds.assign(tisr=forcing.assign_coords(time=ds.time))


def tiny(variables=(*VARS, "lat"), seasonal=False, **build):
    torch.manual_seed(0)
    parts = {"residual": True, "residual_damping": True, "seasonal_harmonics": 2} if seasonal else {}
    cfg = preset("tiny", variables=variables, img_size=(32, 64), patch_size=4, embed_dim=32, **parts)
    module = ForecastModule.build(cfg, OptimConfig(warmup_steps=1), np.asarray(moving_waves(2).lat), **build)
    if seasonal:  # a strong annual cycle, so that a step told the wrong time gets another base
        with torch.no_grad():
            module.net.damping_rate.fill_(0.3)
            module.net.mean_field_cycle.normal_(0.0, 0.5)
    return module


def rollout_batch(ds, outputs=("z500", "t850", "t2m")):
    inputs = [*VARS, "lat"]
    data = ForecastDataset(ds, inputs, list(outputs), compute_stats(ds, inputs), leads=6, rollout_steps=2)
    return collate([data[i] for i in range(3)])


@pytest.mark.parametrize("seasonal", [False, True], ids=["fixed-mean", "seasonal-mean"])
def test_the_loss_is_the_mean_of_a_hand_unrolled_two_step_chain(waves, seasonal):
    module = tiny(seasonal=seasonal).eval()
    batch = rollout_batch(waves)
    ins, outs, lead = list(batch["variables"]), list(batch["out_variables"]), batch["lead_time"]
    init = batch["init_time"]
    with torch.no_grad():
        first = module.net(batch["x"], lead, ins, outs, init_times=init)
        x2 = batch["x"].clone()
        for j, v in enumerate(outs):  # every output is a dynamic input here
            x2[:, ins.index(v)] = first[:, j]
        x2[:, ins.index("tisr")] = batch["forcings"][:, 0, 0]
        # the second step starts 6 h later: a seasonal mean field is taken at its own valid time
        second = module.net(x2, lead, ins, outs, init_times=init + 6 * 3_600 * 10**9)
        if seasonal:
            told_the_first_time = module.net(x2, lead, ins, outs, init_times=init)
            assert (told_the_first_time - second).abs().max() > 1e-4
        steps = [lat_weighted_mse(p, batch["y"][:, k], module.lat_weights) for k, p in enumerate((first, second))]
        loss, per_var = module.compute_loss(batch)
        one_step = module.compute_loss({**batch, "y": batch["y"][:, 0]})[0]
    torch.testing.assert_close(loss, (steps[0] + steps[1]) / 2)
    assert per_var.shape == (3,)
    torch.testing.assert_close(one_step, steps[0])  # step 1 of the chain is the one-step loss


def test_the_log_mse_of_a_chain_weighs_each_steps_relative_error_alike(waves):
    plain = tiny().eval()
    logged = tiny(loss=LossConfig(rollout_log_mse=True)).eval()
    batch = rollout_batch(waves)
    with torch.no_grad():
        per_step = plain.step_losses(batch)  # [K, V]
        loss, per_var = logged.compute_loss(batch)
    torch.testing.assert_close(loss, per_step.mean(1).log().mean())  # each step's MSE, logged, averaged
    torch.testing.assert_close(per_var, per_step.mean(0))  # the parts stay the MSE's


def test_the_log_mse_needs_a_chain(capsys):
    code = cli.main(["finetune", "--config", "pretrain-tiny", "--loss.rollout_log_mse", "true",
                     "--trainer.progress", "false"])
    assert code != 0
    assert "add --data.rollout_steps K (K >= 2) or leave out --loss.rollout_log_mse" in capsys.readouterr().err


def test_gradients_of_the_second_step_reach_through_the_first(waves):
    module = tiny().eval()
    batch = rollout_batch(waves)
    x = batch["x"].clone().requires_grad_(True)
    second = module.step_losses({**batch, "x": x})[1].mean()
    (grad,) = torch.autograd.grad(second, x)
    ins = list(batch["variables"])
    # step 2 reads the dynamic channels of x only through step 1's prediction, so these gradients went through it
    for vid in ("z500", "t850", "t2m"):
        assert grad[:, ins.index(vid)].abs().sum() > 0


def test_a_model_that_does_not_predict_its_dynamic_inputs_is_refused(waves):
    batch = rollout_batch(waves, outputs=("z500",))
    module = tiny()
    with pytest.raises(RolloutError, match=r"does not predict its input\(s\) t850, t2m; add them to --data.outputs"):
        module.compute_loss(batch)
    dm = ForecastDataModule({"a": waves}, SplitConfig(train_years=(2000,), leads=(6.0,), outputs=("z500",),
                                                       rollout_steps=2))
    dm.setup()
    with pytest.raises(RolloutError, match=r"source 'a' does not predict .* or use --data.rollout_steps 1 \(not 2\)"):
        module.attach(dm.trained_on())
    regional = tiny(lon=np.asarray(waves.lon), region=REGIONS["NorthAmerica"])
    full = ForecastDataModule({"a": waves}, SplitConfig(train_years=(2000,), leads=(6.0,), rollout_steps=2))
    full.setup()
    with pytest.raises(RolloutError, match="regional model predicts only its box"):
        regional.attach(full.trained_on())


# -- end to end ---------------------------------------------------------------------------------

TINY = ["--model.preset", "tiny", "--model.embed_dim", "32", "--model.patch_size", "4", "--trainer.progress", "false"]


def test_rollout_fine_tuning_trains_validates_exports_and_forecasts(tmp_path):
    ds = moving_waves(steps=32)  # the last 4 days of 2000 train, the first 4 days of 2001 validate
    ds = ds.assign_coords(time=pd.date_range("2000-12-28", periods=32, freq="6h"))
    ds = ds.assign(tisr=make_canonical(ids=("tisr",), steps=32)["tisr"].assign_coords(time=ds.time))
    path = tmp_path / "waves.nc"
    ds.to_netcdf(path)
    run_dir = tmp_path / "run"
    assert cli.main(["finetune", "--config", "pretrain-tiny", *TINY, "--data.sources", f"[{path}]",
                     "--data.train_years", "[2000]", "--data.val_years", "[2001]", "--data.leads", "[6]",
                     "--data.rollout_steps", "2", "--data.batch_size", "4", "--trainer.max_steps", "3",
                     "--trainer.log_every_n_steps", "1", "--optim.warmup_steps", "1",
                     "--trainer.run_dir", str(run_dir)]) == 0
    metrics = pd.concat(pd.read_csv(p) for p in run_dir.glob("csv/version_*/metrics.csv"))
    assert {"val/loss", "val/loss_step1", "val/loss_step2"} <= set(metrics.columns)
    assert metrics["val/loss_step2"].notna().any()
    ckpt = load_forecast_checkpoint(run_dir / "model.pt")
    assert ckpt.spec.trained_leads == (6.0,) and ckpt.spec.training["rollout_steps"] == 2
    fc = forecast(run_dir / "model.pt", ds.sel(time=slice("2001", None)), [6, 12, 18], mode="iterative", step=6,
                  init_times=ds.time.values[16:18])
    assert fc.sizes["lead_time"] == 3 and set(fc.data_vars) == {"z500", "t850", "t2m"}
    assert np.isfinite(fc["z500"].values).all()


def test_a_seasonal_model_trains_on_chains_and_each_forecast_step_is_told_its_start(tmp_path, monkeypatch):
    ds = moving_waves(steps=32)
    ds = ds.assign_coords(time=pd.date_range("2000-12-28", periods=32, freq="6h"))
    ds = ds.assign(tisr=make_canonical(ids=("tisr",), steps=32)["tisr"].assign_coords(time=ds.time))
    path = tmp_path / "waves.nc"
    ds.to_netcdf(path)
    run_dir = tmp_path / "run"
    assert cli.main(["finetune", "--config", "pretrain-tiny", *TINY, "--model.residual", "true",
                     "--model.residual_damping", "true", "--model.seasonal_harmonics", "2",
                     "--data.sources", f"[{path}]", "--data.train_years", "[2000]", "--data.val_years", "[2001]",
                     "--data.leads", "[6]", "--data.rollout_steps", "2", "--data.batch_size", "4",
                     "--trainer.max_steps", "2", "--optim.warmup_steps", "1", "--trainer.run_dir", str(run_dir)]) == 0
    ckpt = load_forecast_checkpoint(run_dir / "model.pt")
    assert ckpt.spec.model_config["seasonal_harmonics"] == 2
    told = []
    real = ClimaX.forward

    def spy(self, x, lead, *args, init_times=None, **kwargs):
        told.append(None if init_times is None else init_times.numpy().astype("datetime64[ns]"))
        return real(self, x, lead, *args, init_times=init_times, **kwargs)

    monkeypatch.setattr(ClimaX, "forward", spy)
    inits = ds.time.values[16:18]
    truth = ds.sel(time=slice("2001", None))
    iterative = forecast(run_dir / "model.pt", truth, [6, 12, 18], mode="iterative", step=6, init_times=inits)
    assert np.isfinite(iterative["t2m"].values).all()
    for k, times in enumerate(told):  # steps 1, 2, 3 start at the initial times, 6 h and 12 h after them
        np.testing.assert_array_equal(times, inits + np.timedelta64(6 * k, "h"))
    told.clear()
    forecast(run_dir / "model.pt", truth, [6], mode="continuous", init_times=inits)
    assert told and all(np.array_equal(times, inits) for times in told)
