"""Zonal hyperdiffusion for rollouts: what it damps, what it keeps, bad settings (in forecasts: test_forecast)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from climax_nb.forecast import ZonalHyperdiffusion
from climax_nb.forecast.rollout import feedback_layout, rollout


def test_factors_follow_the_formula_and_keep_the_zonal_mean():
    damping = ZonalHyperdiffusion(timescale_hours=3.0, order=8)
    f = damping.factors(64, 6.0)
    assert f.shape == (33,) and float(f[0]) == 1.0
    assert float(f[32]) == pytest.approx(np.exp(-2.0))  # 6 h at a 3 h e-folding time, at the highest wavenumber
    assert float(f[16]) == pytest.approx(np.exp(-2.0 * 0.5**8))
    assert torch.all(f[1:] < f[:-1])  # the smaller the scale, the stronger the damping
    fields = torch.randn(2, 3, 8, 64, dtype=torch.float64) + 5.0
    out = damping(fields, 6.0)
    assert out.dtype == fields.dtype and out.shape == fields.shape
    torch.testing.assert_close(out.mean(-1), fields.mean(-1))
    spectrum_in, spectrum_out = torch.fft.rfft(fields, dim=-1), torch.fft.rfft(out, dim=-1)
    torch.testing.assert_close(spectrum_out[..., 32].abs(), spectrum_in[..., 32].abs() * np.exp(-2.0),
                               rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(spectrum_out[..., 2].abs(), spectrum_in[..., 2].abs(), rtol=1e-4, atol=1e-6)


def test_a_longer_step_damps_more_and_del4_reaches_larger_scales():
    del8, del4 = ZonalHyperdiffusion(3.0, 8), ZonalHyperdiffusion(3.0, 4)
    assert float(del8.factors(64, 12.0)[20]) < float(del8.factors(64, 6.0)[20])
    assert float(del4.factors(64, 6.0)[8]) < float(del8.factors(64, 6.0)[8])


@pytest.mark.parametrize("kwargs, match", [
    ({"timescale_hours": 0.0}, "positive number of hours"),
    ({"timescale_hours": float("nan")}, "positive number of hours"),
    ({"order": 3}, "even integer"),
    ({"order": 0}, "even integer"),
    ({"order": 4.0}, "even integer"),
])
def test_bad_settings_are_refused_with_the_fix(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ZonalHyperdiffusion(**kwargs)


def test_rollout_damps_each_step_before_feeding_it_back():
    class Doubling:
        """A fake model whose step doubles its input: the damping is visible in the second step's input."""

        def step(self, x, lead, outputs, times=None):
            return 2.0 * x

    layout = feedback_layout(["t2m"], ["t2m"], who="test", fix="-")
    damping = ZonalHyperdiffusion(3.0, 8)
    x = torch.randn(1, 1, 4, 64, dtype=torch.float64)
    steps = dict(rollout(Doubling(), x, layout, 6.0, 2, damping=damping))
    once = damping(2.0 * x, 6.0)
    torch.testing.assert_close(steps[1], once)
    torch.testing.assert_close(steps[2], damping(2.0 * once, 6.0))
