"""The optional spectral term of the loss: the forecast's small-scale zonal power held to the truth's."""

import numpy as np
import pytest
import torch

from climax_nb import cli
from climax_nb.model import REGIONS
from climax_nb.train.loss import cos_lat_weights, lat_weighted_mse, zonal_power_log_error
from climax_nb.train.module import LossConfig
from tests.test_rollout_training import rollout_batch, tiny, waves  # noqa: F401 - waves is a fixture

LAT = np.linspace(-87.1875, 87.1875, 32)
WEIGHTS = cos_lat_weights(LAT)


def fields(seed: int = 0) -> torch.Tensor:
    return torch.randn(3, 2, 32, 64, generator=torch.Generator().manual_seed(seed))


def scaled_above(x: torch.Tensor, k0: int, factor: float) -> torch.Tensor:
    """``x`` with its zonal wavenumbers >= k0 multiplied by ``factor``."""
    spectrum = torch.fft.rfft(x, dim=-1)
    spectrum[..., k0:] *= factor
    return torch.fft.irfft(spectrum, n=x.shape[-1], dim=-1)


def test_it_is_zero_for_the_truth_and_the_squared_log_of_a_uniform_power_ratio():
    truth = fields()
    torch.testing.assert_close(zonal_power_log_error(truth, truth, WEIGHTS), torch.zeros(2))
    noisy, smooth = scaled_above(truth, 16, 2.0), scaled_above(truth, 16, 0.5)  # power x4 and x1/4 above k = 16
    expected = torch.full((2,), float(np.log(4.0) ** 2))
    torch.testing.assert_close(zonal_power_log_error(noisy, truth, WEIGHTS), expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(zonal_power_log_error(smooth, truth, WEIGHTS), expected, rtol=1e-4, atol=1e-5)
    # counting added noise only: the smooth forecast costs nothing, the noisy one as much as before
    torch.testing.assert_close(zonal_power_log_error(smooth, truth, WEIGHTS, excess_only=True), torch.zeros(2))
    torch.testing.assert_close(zonal_power_log_error(noisy, truth, WEIGHTS, excess_only=True), expected,
                               rtol=1e-4, atol=1e-5)


def test_it_sees_only_the_wavenumbers_from_its_minimum():
    truth = fields()
    large_scales_wrong = scaled_above(truth, 1, 3.0)  # every k >= 1 ...
    large_scales_wrong = scaled_above(large_scales_wrong, 16, 1 / 3.0)  # ... but those >= 16 restored
    torch.testing.assert_close(zonal_power_log_error(large_scales_wrong, truth, WEIGHTS, 16), torch.zeros(2),
                               atol=1e-6, rtol=0)
    assert (zonal_power_log_error(large_scales_wrong, truth, WEIGHTS, 8) > 0.5).all()
    pred = truth.clone().requires_grad_(True)
    zonal_power_log_error(scaled_above(pred, 16, 2.0), truth, WEIGHTS).sum().backward()
    gradient = torch.fft.rfft(pred.grad, dim=-1)
    assert gradient[..., :16].abs().max() < 1e-6 * gradient[..., 16:].abs().max()
    assert torch.isfinite(pred.grad).all()


def test_bad_shapes_and_wavenumbers_are_refused():
    truth = fields()
    with pytest.raises(ValueError, match=r"min_wavenumber must be within 1..32 \(the grid's 64 longitudes\), got 33"):
        zonal_power_log_error(truth, truth, WEIGHTS, 33)
    with pytest.raises(ValueError, match="prediction and target of one shape"):
        zonal_power_log_error(truth, truth[:, :1], WEIGHTS)
    with pytest.raises(ValueError, match=r"loss.spectral_weight must be a finite weight >= 0, got -1"):
        LossConfig(spectral_weight=-1.0)
    with pytest.raises(ValueError, match=r"loss.spectral_min_wavenumber must be >= 1, got 0"):
        LossConfig(spectral_min_wavenumber=0)
    with pytest.raises(ValueError, match=r"loss.spectral_from_step must be >= 1 \(1: every step of a chain\), got 0"):
        LossConfig(spectral_from_step=0)


def test_the_module_adds_the_weighted_term_at_every_step_of_a_chain(waves):  # noqa: F811
    batch = rollout_batch(waves)
    plain = tiny().eval()
    spectral = tiny(loss=LossConfig(spectral_weight=0.5, spectral_min_wavenumber=8)).eval()
    assert spectral.hparams["loss"] == {"spectral_weight": 0.5, "spectral_min_wavenumber": 8,
                                        "spectral_excess_only": False, "spectral_from_step": 1,
                                        "rollout_log_mse": False}
    with torch.no_grad():
        loss, per_var = spectral.compute_loss(batch)
        plain_loss, plain_per_var = plain.compute_loss(batch)
        torch.testing.assert_close(per_var, plain_per_var)  # the parts stay the MSE's
        ins, outs, lead, init = list(batch["variables"]), list(batch["out_variables"]), batch["lead_time"], \
            batch["init_time"]
        first = spectral.net(batch["x"], lead, ins, outs, init_times=init)
        one_step, _ = spectral.compute_loss({**batch, "y": batch["y"][:, 0]})
    term = 0.5 * zonal_power_log_error(first, batch["y"][:, 0], spectral.lat_weights, 8).mean()
    assert term > 0
    torch.testing.assert_close(one_step, lat_weighted_mse(first, batch["y"][:, 0], spectral.lat_weights) + term)
    assert loss > plain_loss
    logged = {}
    spectral.log = lambda name, value, **_: logged.__setitem__(name, value)
    with torch.no_grad():
        spectral._step(batch, "val")
    torch.testing.assert_close(logged["val/loss_spectral"], loss - per_var.mean())


def test_the_term_can_leave_a_chains_first_steps_to_the_mse(waves):  # noqa: F811
    batch = rollout_batch(waves)  # chains of 2 steps
    late = tiny(loss=LossConfig(spectral_weight=0.5, spectral_min_wavenumber=8, spectral_from_step=2)).eval()
    with torch.no_grad():
        per_step, term = late._chain_losses(batch)
        ins, outs, lead, init = list(batch["variables"]), list(batch["out_variables"]), batch["lead_time"], \
            batch["init_time"]
        first = late.net(batch["x"], lead, ins, outs, init_times=init)
        loss, _ = late.compute_loss(batch)
    assert term > 0
    first_term = 0.5 * zonal_power_log_error(first, batch["y"][:, 0], late.lat_weights, 8).mean()
    every = tiny(loss=LossConfig(spectral_weight=0.5, spectral_min_wavenumber=8)).eval()
    with torch.no_grad():
        _, both = every._chain_losses(batch)
    torch.testing.assert_close(both, (first_term + term) / 2)  # every step: the mean of both; from step 2: the second
    torch.testing.assert_close(loss, per_step.mean() + term)


def test_a_term_past_the_chain_is_refused(capsys):
    code = cli.main(["finetune", "--config", "pretrain-tiny", "--loss.spectral_weight", "0.1",
                     "--loss.spectral_from_step", "3", "--data.rollout_steps", "2", "--trainer.progress", "false"])
    assert code != 0
    assert "loss.spectral_from_step 3 is past the chain's 2 step(s)" in capsys.readouterr().err


def test_a_spectral_term_the_outputs_cannot_carry_is_refused(waves):  # noqa: F811
    with pytest.raises(ValueError, match=r"the regional model predicts the box NorthAmerica only: use "
                                         r"--loss.spectral_weight 0"):
        tiny(lon=np.asarray(waves.lon), region=REGIONS["NorthAmerica"], loss=LossConfig(spectral_weight=0.1))
    with pytest.raises(ValueError, match=r"loss.spectral_min_wavenumber must be within 1..32 \(the grid's 64 "
                                         r"longitudes\), got 40"):
        tiny(loss=LossConfig(spectral_weight=0.1, spectral_min_wavenumber=40))


def test_the_cli_refuses_the_term_for_atmorep(capsys):
    code = cli.main(["pretrain", "--config", "pretrain-tiny", "--model.family", "atmorep",
                     "--loss.spectral_weight", "0.1", "--trainer.progress", "false"])
    assert code != 0
    assert "leave out --loss.* with --model.family atmorep" in capsys.readouterr().err
