"""The damped residual base and the head's smoothing: what they compute, their start, loading, bad settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from climax_nb.model import ClimaX, preset
from climax_nb.model.climax import DAMPING_PARAMETER_SCALE
from climax_nb.model.regional import RegionalClimaX, parse_region
from climax_nb.model.released import transfer_released

TINY = preset("tiny", residual=True)
VARS = list(TINY.variables)


def _x(seed: int = 0) -> torch.Tensor:
    return torch.randn(2, len(VARS), 8, 16, generator=torch.Generator().manual_seed(seed))


def _silent(model: ClimaX) -> ClimaX:
    """The model with its head's last layer zeroed: the forecast is the residual's base."""
    with torch.no_grad():
        for p in model.head[-1].parameters():
            p.zero_()
    return model.eval()


def test_the_damped_base_relaxes_toward_the_mean_field_with_lead():
    torch.manual_seed(0)
    model = _silent(ClimaX.from_config(TINY.replace(residual_damping=True)))
    rate, mean = 0.5, torch.randn(len(VARS), 8, 16)
    with torch.no_grad():  # softplus(logit) = 0.5 per 100 h
        model.damping_rate.fill_(math.log(math.expm1(rate)) / DAMPING_PARAMETER_SCALE)
        model.mean_field.copy_(mean / DAMPING_PARAMETER_SCALE)
        x = _x(1)
        for lead in (0.0, 24.0, 240.0):
            keep = math.exp(-rate * lead / 100.0)
            expected = mean + keep * (x - mean)
            torch.testing.assert_close(model(x, lead, VARS), expected, rtol=1e-5, atol=1e-5)
        # one lead per sample; outputs that are not inputs get no base
        out = model(x[:, :2], torch.tensor([0.0, 240.0]), VARS[:2], VARS[:3])
    torch.testing.assert_close(out[0, :2], x[0, :2])
    keep = math.exp(-rate * 2.4)
    torch.testing.assert_close(out[1, :2], mean[:2] + keep * (x[1, :2] - mean[:2]), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[:, 2], torch.zeros_like(out[:, 2]))


def test_both_parts_start_close_to_the_plain_residual_model_and_learn():
    torch.manual_seed(1)
    plain = ClimaX.from_config(TINY)
    both = ClimaX.from_config(TINY.replace(residual_damping=True, head_smoothing=3))
    transfer_released(both, plain.state_dict(), plain.variables)
    x = _x(2)
    with torch.no_grad():
        torch.testing.assert_close(both(x, 0.0, VARS), plain(x, 0.0, VARS), rtol=1e-4, atol=1e-4)
        # at 120 h the base is within 2.2 % of persistence at the start
        assert (both(x, 120.0, VARS) - plain(x, 120.0, VARS)).abs().max() < 0.025 * x.abs().max()
    both(x, torch.tensor([120.0, 6.0]), VARS).pow(2).mean().backward()
    for name in ("damping_rate", "mean_field", "head_smoother"):
        assert getattr(both, name).grad.abs().sum() > 0, name


def test_the_smoothing_is_periodic_in_longitude_on_the_globe():
    torch.manual_seed(2)
    model = ClimaX.from_config(TINY.replace(head_smoothing=3))
    fields = torch.zeros(1, len(VARS), 8, 16)
    fields[0, 0, 4, 0] = 1.0  # one cell on the first column
    with torch.no_grad():
        model.head_smoother.fill_(1.0 / 9.0)  # a box mean
        smoothed = model.smooth(fields, wraps=True)
        edge = model.smooth(fields, wraps=False)
    assert smoothed[0, 0, 4, 15] == pytest.approx(1.0 / 9.0)  # reached across 0 deg
    assert edge[0, 0, 4, 15] == 0.0
    assert smoothed[0, 0].sum() == pytest.approx(1.0)


def test_a_regional_model_crops_the_mean_field_to_its_box():
    torch.manual_seed(3)
    model = _silent(RegionalClimaX.from_config(TINY.replace(residual_damping=True, head_smoothing=3)))
    mean = torch.randn(len(VARS), 8, 16)
    with torch.no_grad():
        model.damping_rate.fill_(2.0)  # softplus(20): the base is the mean field at 240 h
        model.mean_field.copy_(mean / DAMPING_PARAMETER_SCALE)
        box = model.region(parse_region("-45,45,90,270"))
        out = model(_x(3), 240.0, VARS, box)
    torch.testing.assert_close(out[0], box.crop(mean), rtol=1e-5, atol=1e-5)


def test_bad_settings_name_the_fix():
    with pytest.raises(ValueError, match="needs residual=True"):
        preset("tiny", residual_damping=True)
    for k in (2, -1, 9):
        with pytest.raises(ValueError, match="odd kernel width of at most 8"):
            preset("tiny", head_smoothing=k)


def test_a_checkpoint_without_the_parts_loads_and_says_so():
    plain = ClimaX.from_config(TINY)
    both = ClimaX.from_config(TINY.replace(residual_damping=True, head_smoothing=3))
    report = transfer_released(both, plain.state_dict(), plain.variables)
    assert report.initialised == ["damping_rate", "mean_field", "head_smoother"]
    assert "kept at their initial values" in report.summary()
    # and the parts travel by variable name into a model with another variable order
    with torch.no_grad():
        both.mean_field.copy_(torch.arange(len(VARS), dtype=torch.float32).view(-1, 1, 1).expand(-1, 8, 16))
    flipped = ClimaX.from_config(TINY.replace(variables=tuple(reversed(VARS)), residual_damping=True,
                                              head_smoothing=3))
    assert transfer_released(flipped, both.state_dict(), both.variables).initialised == []
    torch.testing.assert_close(flipped.mean_field[:, 0, 0], torch.arange(len(VARS) - 1, -1, -1, dtype=torch.float32))


def _ns(*dates: str) -> torch.Tensor:
    return torch.from_numpy(np.array(dates, dtype="datetime64[ns]").astype(np.int64))


def test_the_seasonal_mean_field_is_taken_at_the_valid_time():
    torch.manual_seed(4)
    model = _silent(ClimaX.from_config(TINY.replace(residual_damping=True, seasonal_harmonics=2)))
    cycle = torch.randn(len(VARS), 4, 8, 16)
    with torch.no_grad():
        model.damping_rate.fill_(2.0)  # softplus(20) per 100 h: the base is the mean field at long leads
        model.mean_field.zero_()
        model.mean_field_cycle.copy_(cycle / DAMPING_PARAMETER_SCALE)
        x = _x(4)
        # a winter and a summer start: their long-lead bases are the cycle at their own valid times
        init = _ns("2003-01-01T00", "2003-07-01T00")
        out = model(x, 240.0, VARS, init_times=init)
        days = init.double() / 86_400e9 + 10.0
        angle = 2 * math.pi * torch.remainder(days / 365.2422, 1.0)
        phases = torch.stack([torch.cos(angle), torch.cos(2 * angle), torch.sin(angle), torch.sin(2 * angle)], 1)
        expected = torch.einsum("bk,vkhw->bvhw", phases.float(), cycle)
        torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)
        assert (out[0] - out[1]).abs().max() > 0.5  # the seasons differ
        # a whole year later the cycle repeats (to the precision of a tropical year against 365 days)
        later = model(x, 240.0, VARS, init_times=init + int(365.2422 * 86_400e9))
        torch.testing.assert_close(later, out, rtol=1e-3, atol=1e-3)
        # at lead 0 the base is still the input, whatever the season
        torch.testing.assert_close(model(x, 0.0, VARS, init_times=init), x, rtol=1e-5, atol=1e-5)
    model(x, 120.0, VARS, init_times=init).pow(2).mean().backward()
    assert model.mean_field_cycle.grad.abs().sum() > 0


def test_a_seasonal_model_asks_for_the_times_and_refuses_bad_ones():
    model = ClimaX.from_config(TINY.replace(residual_damping=True, seasonal_harmonics=1))
    x = _x(5)
    with pytest.raises(ValueError, match="mean field follows the season .* pass init_times"):
        model(x, 24.0, VARS)
    with pytest.raises(ValueError, match="init_times must be int64 nanoseconds since 1970, one per sample"):
        model(x, 24.0, VARS, init_times=torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="with residual_damping true"):
        preset("tiny", residual=True, seasonal_harmonics=1)
    with pytest.raises(ValueError, match="0 \\(off\\) or a positive count"):
        preset("tiny", residual=True, residual_damping=True, seasonal_harmonics=-1)
    # the aggregation's weights need no times: ClimaX aggregates before the lead time (or the season) enters
    _, attn = model.forward_encoder(x, 24.0, VARS, need_weights=True)
    assert attn.shape[-1] == len(VARS)


def test_a_checkpoint_without_the_cycle_starts_from_a_fixed_mean_field():
    fixed = ClimaX.from_config(TINY.replace(residual_damping=True))
    seasonal = ClimaX.from_config(TINY.replace(residual_damping=True, seasonal_harmonics=2))
    assert transfer_released(seasonal, fixed.state_dict(), fixed.variables).initialised == ["mean_field_cycle"]
    x = _x(6)
    with torch.no_grad():
        torch.testing.assert_close(seasonal(x, 120.0, VARS, init_times=_ns("2003-03-01", "2003-09-01")),
                                   fixed(x, 120.0, VARS), rtol=1e-5, atol=1e-5)


def _waves(*wavenumbers: int) -> torch.Tensor:
    """Fields [1, V, 8, 16] holding cosines of the given zonal wavenumbers on every row."""
    lon = torch.arange(16) * 2 * math.pi / 16
    wave = sum(torch.cos(k * lon) for k in wavenumbers)
    return wave.expand(1, len(VARS), 8, 16).clone()


def test_the_zonal_filter_scales_each_wavenumber_per_variable_and_row():
    model = ClimaX.from_config(TINY.replace(head_zonal_filter=True))
    fields = _waves(2, 6)
    with torch.no_grad():
        torch.testing.assert_close(model.zonal_filter(fields), fields, rtol=1e-5, atol=1e-5)  # starts as the identity
        model.head_zonal_gain[0, :, 6] = 0.0  # variable 0 loses wavenumber 6 everywhere
        model.head_zonal_gain[1, 3, 2] = 0.5  # variable 1 halves wavenumber 2 on row 3 only
        out = model.zonal_filter(fields)
    torch.testing.assert_close(out[0, 0], _waves(2)[0, 0], rtol=1e-5, atol=1e-5)
    expected = fields[0, 1].clone()
    expected[3] = _waves(6)[0, 0, 3] + 0.5 * _waves(2)[0, 0, 3]
    torch.testing.assert_close(out[0, 1], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[0, 2:], fields[0, 2:], rtol=1e-5, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the FFT runs in float32 and hands back the input's dtype
        assert model.zonal_filter(fields.bfloat16()).dtype == torch.bfloat16


def test_the_zonal_filter_starts_as_the_model_without_it_learns_and_loads():
    torch.manual_seed(5)
    plain = ClimaX.from_config(TINY)
    filtered = ClimaX.from_config(TINY.replace(head_zonal_filter=True))
    report = transfer_released(filtered, plain.state_dict(), plain.variables)
    assert report.initialised == ["head_zonal_gain"]
    x = _x(7)
    with torch.no_grad():
        torch.testing.assert_close(filtered(x, 24.0, VARS), plain(x, 24.0, VARS), rtol=1e-4, atol=1e-4)
    filtered(x, 24.0, VARS).pow(2).mean().backward()
    assert filtered.head_zonal_gain.grad.abs().sum() > 0


def test_a_box_forecast_goes_without_the_zonal_filter():
    torch.manual_seed(6)
    model = RegionalClimaX.from_config(TINY.replace(head_zonal_filter=True)).eval()
    x, box = _x(8), model.region(parse_region("-45,45,90,270"))
    with torch.no_grad():
        before = model(x, 24.0, VARS, box)
        model.head_zonal_gain.zero_()  # the whole-globe head fields vanish: the forecast is the input
        torch.testing.assert_close(model(x, 24.0, VARS), x)
        torch.testing.assert_close(model(x, 24.0, VARS, box), before)  # a box has no zonal spectrum


def test_a_wavenumber_with_gain_zero_persists_from_the_input():
    torch.manual_seed(7)
    model = _silent(ClimaX.from_config(TINY.replace(residual_damping=True, head_zonal_filter=True)))
    with torch.no_grad():
        model.damping_rate.fill_(2.0)  # the base is the mean field at 240 h
        model.mean_field.copy_(torch.randn(len(VARS), 8, 16) / DAMPING_PARAMETER_SCALE)
        model.head_zonal_gain[:, :, 3:] = 0.0  # wavenumbers 3 and up keep the input's
        x = _x(9)
        out = model(x, 240.0, VARS)
    small = torch.fft.rfft(out, dim=-1)[..., 3:]
    torch.testing.assert_close(small, torch.fft.rfft(x, dim=-1)[..., 3:], rtol=1e-4, atol=1e-4)
    large = torch.fft.rfft(out, dim=-1)[..., :3]
    torch.testing.assert_close(large, torch.fft.rfft(model.mean_field * DAMPING_PARAMETER_SCALE, dim=-1)[..., :3]
                               .expand_as(large), rtol=1e-4, atol=1e-4)


def test_a_finer_grid_regrids_the_mean_field_and_starts_the_zonal_filter_afresh():
    parts = dict(residual_damping=True, seasonal_harmonics=1, head_zonal_filter=True)
    coarse = ClimaX.from_config(TINY.replace(**parts))
    fine = ClimaX.from_config(TINY.replace(img_size=(16, 32), **parts))
    lat = (torch.arange(8, dtype=torch.float64) + 0.5) / 8
    with torch.no_grad():  # a field linear in latitude, constant along longitude, and a cycle constant in space
        coarse.mean_field.copy_((3.0 * lat[:, None]).expand(8, 16).float())
        coarse.mean_field_cycle.fill_(0.25)
        coarse.head_zonal_gain.fill_(0.5)
    report = transfer_released(fine, coarse.state_dict(), coarse.variables)
    assert report.interpolated["mean_field"] == ((6, 8, 16), (6, 16, 32))
    assert report.fresh_on_grid == ["head_zonal_gain"] and report.initialised == []
    assert "another grid" in report.summary()
    fine_lat = (torch.arange(16, dtype=torch.float64) + 0.5) / 16
    expected = (3.0 * fine_lat.clamp(lat[0], lat[-1]))[:, None].expand(16, 32).float()  # held beyond the outer centres
    torch.testing.assert_close(fine.mean_field[2].detach(), expected)
    torch.testing.assert_close(fine.mean_field_cycle.detach(), torch.full((6, 2, 16, 32), 0.25))
    assert torch.equal(fine.head_zonal_gain.detach(), torch.ones(6, 16, 17))


def test_regridding_is_periodic_in_longitude():
    from climax_nb.model.released import regrid_cells

    lon = 2 * math.pi * (torch.arange(16, dtype=torch.float64) + 0.5) / 16
    wave = torch.sin(lon).expand(4, 16)
    fine = regrid_cells(wave, (4, 64))
    fine_lon = 2 * math.pi * (torch.arange(64, dtype=torch.float64) + 0.5) / 64
    torch.testing.assert_close(fine[0], torch.sin(fine_lon), atol=0.03, rtol=0)  # linear between centres, across 0 too
    assert float(fine[0, 0]) == pytest.approx(-float(fine[0, -1]))  # held at the ends, they would be +-0.195
