"""Sigma-to-pressure interpolation: exact where it should be, ECMWF-style below ground."""

import numpy as np
import pytest

from climax_nb.data.embedded.vertical import (
    GRAVITY,
    LAPSE_RATE,
    R_DRY,
    level_weights,
    relative_humidity,
    saturation_vapour_pressure,
    to_pressure_levels,
)

SIGMA = np.array([0.025, 0.095, 0.2, 0.34, 0.51, 0.685, 0.835, 0.95])


def _columns(ps_values, t_of_logp):
    """Fields on SIGMA for columns with surface pressures ``ps_values`` (shape (1, n)).

    Winds and humidity grow downwards; geopotential is zero (tests set it as needed).
    """
    ps = np.asarray(ps_values, dtype=np.float64)[None, :]
    logp = np.log(SIGMA[:, None, None] * ps[None])
    t = t_of_logp(logp)
    u = np.broadcast_to(np.arange(1.0, 9.0)[:, None, None], t.shape).copy()
    q = np.broadcast_to(np.linspace(1e-5, 1e-2, 8)[:, None, None], t.shape).copy()
    return {"t": t, "z": np.zeros_like(t), "u": u, "v": -u, "q": q}, ps


def test_linear_in_log_pressure_is_reproduced_exactly():
    fields, ps = _columns([1.0e5, 0.9e5], lambda lp: 200.0 + 8.0 * (lp - np.log(1e4)))
    fields["z"] = -1000.0 * fields["t"]
    out = to_pressure_levels(fields, SIGMA, ps, [250, 500, 700])
    for i, level in enumerate([250, 500, 700]):
        expected = 200.0 + 8.0 * (np.log(100.0 * level) - np.log(1e4))
        np.testing.assert_allclose(out["t"][i], expected, rtol=1e-12)
        np.testing.assert_allclose(out["z"][i], -1000.0 * expected, rtol=1e-12)
    assert out["t"].shape == (3, 1, 2)


def test_interpolated_wind_lies_between_the_bracketing_levels():
    fields, ps = _columns([1.0e5], lambda lp: 250.0 + 0.0 * lp)
    out = to_pressure_levels(fields, SIGMA, ps, [600])
    # 600 hPa lies between sigma 0.51 (u=5) and 0.685 (u=6)
    assert 5.0 < out["u"][0, 0, 0] < 6.0
    np.testing.assert_allclose(out["v"], -out["u"])


def test_below_ground_follows_the_standard_lapse_rate_and_hydrostatics():
    # a mountain column: surface pressure 700 hPa, so 850 and 925 hPa are underground
    fields, ps = _columns([0.7e5], lambda lp: 230.0 + 10.0 * (lp - np.log(2e4)))
    fields["z"] = 3000.0 * 9.81 + 0.0 * fields["t"]
    out = to_pressure_levels(fields, SIGMA, ps, [850, 925])
    t850, t925 = out["t"][0, 0, 0], out["t"][1, 0, 0]
    z850, z925 = out["z"][0, 0, 0], out["z"][1, 0, 0]
    t_lowest, p_lowest = fields["t"][-1, 0, 0], 0.95 * 0.7e5
    assert t925 > t850 > t_lowest  # warmer downwards
    assert z925 < z850 < fields["z"][-1, 0, 0]  # lower downwards
    # the lapse rate between the two levels, in K per metre of height
    np.testing.assert_allclose((t925 - t850) / ((z850 - z925) / GRAVITY), LAPSE_RATE, rtol=1e-6)
    # hydrostatic: dz = -R T dlog p, integrated numerically through the profile
    logp = np.linspace(np.log(p_lowest), np.log(92500.0), 2001)
    temp = t_lowest * np.exp(logp - np.log(p_lowest)) ** (R_DRY * LAPSE_RATE / GRAVITY)
    dz = -R_DRY * np.trapezoid(temp, logp)
    np.testing.assert_allclose(z925 - fields["z"][-1, 0, 0], dz, rtol=1e-6)
    # wind and humidity are held at their lowest-level values
    np.testing.assert_allclose(out["u"][:, 0, 0], fields["u"][-1, 0, 0])
    np.testing.assert_allclose(out["q"][:, 0, 0], fields["q"][-1, 0, 0])
    # relative humidity is recomputed from the warmer temperature: it drops
    assert out["r"][1, 0, 0] < out["r"][0, 0, 0]


def test_above_the_top_level_values_are_held():
    lw = level_weights(SIGMA, np.array([[1.0e5]]), 1000.0)  # 10 hPa, above sigma 0.025
    assert lw.upper[0, 0] == 0 and lw.weight[0, 0] == 0.0
    fields, ps = _columns([1.0e5], lambda lp: 200.0 + lp)
    fields["z"] = fields["t"] * 100.0
    out = to_pressure_levels(fields, SIGMA, ps, [10])
    np.testing.assert_allclose(out["t"][0], fields["t"][0])


def test_continuous_across_the_lowest_model_level():
    fields, ps = _columns([1.0e5], lambda lp: 220.0 + 12.0 * (lp - np.log(2e4)))
    fields["z"] = 1.0e4 - 29.0 * fields["t"]
    p_lowest_hpa = 0.95 * 1000.0
    above = to_pressure_levels(fields, SIGMA, ps, [p_lowest_hpa - 1e-6])
    below = to_pressure_levels(fields, SIGMA, ps, [p_lowest_hpa + 1e-6])
    for name in ("t", "z", "u", "q"):
        np.testing.assert_allclose(above[name], below[name], rtol=1e-6)


def test_relative_humidity_is_100_percent_at_saturation():
    for t, p in ((300.0, 1.0e5), (273.16, 8.5e4), (240.0, 3.0e4)):
        e = saturation_vapour_pressure(t)
        q = 0.621981 * e / (p - 0.378019 * e)
        np.testing.assert_allclose(relative_humidity(t, q, p), 100.0, rtol=1e-9)
    # magnitude check against the textbook value: es(20 C) ~ 2339 Pa
    np.testing.assert_allclose(saturation_vapour_pressure(293.15), 2339.0, rtol=5e-3)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="ascending"):
        level_weights(SIGMA[::-1], np.array([[1e5]]), 5e4)
    fields, ps = _columns([1.0e5], lambda lp: lp)
    del fields["q"]
    with pytest.raises(ValueError, match="missing \\['q'\\]"):
        to_pressure_levels(fields, SIGMA, ps, [500])
