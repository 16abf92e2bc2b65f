"""Forecast modes: continuous, direct and iterative agree with direct model calls, in physical units."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from climax_nb.data.stats import Normalizer
from climax_nb.forecast import Perturbation, ZonalHyperdiffusion, forecast, open_model, save_forecast_checkpoint, state
from climax_nb.forecast.state import read_fields, state_blocks
from tests.forecast_helpers import INPUTS, OUTPUTS, STATS, initial_state, tiny_checkpoint


@pytest.fixture(scope="module")
def ckpt():
    return tiny_checkpoint()


@pytest.fixture(scope="module")
def ds():
    return initial_state()


def _norm() -> Normalizer:
    return Normalizer({k: m for k, (m, _) in STATS.items()}, {k: s for k, (_, s) in STATS.items()})


def _call(model, x_phys: np.ndarray, lead: float, outputs=OUTPUTS) -> np.ndarray:
    """One model call in physical units: normalise, predict, denormalise."""
    x = torch.from_numpy(_norm().normalize(x_phys, INPUTS))
    with torch.inference_mode():
        y = model(x, torch.full((x.shape[0],), lead), list(INPUTS), list(outputs)).numpy()
    return _norm().denormalize(y, list(outputs))


def test_layout_and_valid_time(ckpt, ds):
    fc = forecast(ckpt, ds, ["6h", np.timedelta64(24, "h")], init_times=ds.time.values[[1, 3]])
    assert dict(fc.sizes) == {"init_time": 2, "lead_time": 2, "lat": 32, "lon": 64}
    assert fc["t2m"].dims == ("init_time", "lead_time", "lat", "lon")
    assert fc["lead_time"].dtype == "timedelta64[ns]"
    assert list(fc.data_vars) == list(OUTPUTS)
    expected = ds.time.values[[1, 3]][:, None] + np.array([6, 24], dtype="timedelta64[h]")[None, :]
    np.testing.assert_array_equal(fc["valid_time"].values, expected.astype("datetime64[ns]"))
    assert fc["z500"].attrs["units"] == "m2 s-2" and fc["z500"].attrs["long_name"] == "geopotential_500"


def test_denormalises_with_checkpoint_stats(ckpt, ds):
    fc = forecast(ckpt, ds, [6], init_times=ds.time.values[:2])
    x = read_fields(ds, INPUTS, ds.time.values[:2])
    expected = _call(ckpt.model, x, 6.0)
    np.testing.assert_allclose(fc.to_array("v").transpose("init_time", "lead_time", "v", ...)[:, 0], expected,
                               rtol=1e-5)
    # predictions are spread around each variable's training mean with its std
    for vid in OUTPUTS:
        assert abs(float(fc[vid].mean()) - STATS[vid][0]) < 3 * STATS[vid][1]
    assert float(fc["z500"].std()) != pytest.approx(float(fc["t850"].std()), rel=0.2)


def test_continuous_equals_direct_with_same_checkpoint(ckpt, ds):
    cont = forecast(ckpt, ds, [6, 24], batch_size=3)
    direct = forecast({6: ckpt, "24h": ckpt}, ds, mode="direct", batch_size=5)
    assert direct.attrs["mode"] == "direct"
    np.testing.assert_array_equal(cont["t2m"].values, direct["t2m"].values)
    assert not np.allclose(cont["t2m"].isel(lead_time=0), cont["t2m"].isel(lead_time=1))


def test_rollout_equals_manual_steps(ckpt, ds):
    t0 = ds.time.values[0]
    fc = forecast(ckpt, ds, [6, 12, 18], mode="iterative", step="6h", init_times=[t0])
    state = read_fields(ds, INPUTS, np.array([t0]))
    for k in range(1, 4):
        pred = _call(ckpt.model, state, 6.0)
        # float32 rounding of z500 (~5e4 m2 s-2) in the two paths differs by a few 1e-3 after 3 steps
        np.testing.assert_allclose(fc.to_array("v").transpose("init_time", "lead_time", "v", ...)[0, k - 1],
                                   pred[0], rtol=1e-5, atol=1e-2)
        state = state.copy()
        for j, vid in enumerate(OUTPUTS):
            state[:, INPUTS.index(vid)] = pred[:, j]
        # the forcing comes from the data at the new state's valid time
        state[:, INPUTS.index("tisr")] = ds["tisr"].sel(time=t0 + np.timedelta64(6 * k, "h")).values


def test_rollout_holds_missing_forcing_with_warning(ckpt, ds):
    last = ds.time.values[-1]
    with pytest.warns(UserWarning, match="tisr.*held"):
        fc = forecast(ckpt, ds, [6, 12], mode="iterative", step=6, init_times=[last])
    state = read_fields(ds, INPUTS, np.array([last]))
    first = _call(ckpt.model, state, 6.0)
    for j, vid in enumerate(OUTPUTS):
        state[:, INPUTS.index(vid)] = first[:, j]
    second = _call(ckpt.model, state, 6.0)  # tisr still at its initial value
    np.testing.assert_allclose(fc["t850"].values[0, 1], second[0, 2], rtol=1e-5, atol=1e-4)


def test_auto_uses_trained_leads_or_a_plan(ckpt, ds):
    direct = forecast(ckpt, ds, [24], mode="auto", init_times=ds.time.values[:1])
    assert direct.attrs["mode"] == "continuous"
    plan = forecast(ckpt, ds, [24, 48], mode="auto", init_times=ds.time.values[:1])
    assert plan.attrs["mode"] == "iterative" and plan.attrs["step_hours"] == 24.0
    assert "2 steps of 24 h" in plan.attrs["rollout_plan"]
    np.testing.assert_allclose(plan["t2m"].isel(lead_time=0), direct["t2m"].isel(lead_time=0), rtol=1e-6)


def test_batch_size_and_device_do_not_change_results(ckpt, ds):
    times = ds.time.values[:-1]  # the forcing is known at every valid time fed back in
    one = forecast(ckpt, ds, [6, 12], mode="iterative", step=6, init_times=times, batch_size=1, device="cpu")
    cpu = torch.device("cpu")
    many = forecast(ckpt, ds, [6, 12], mode="iterative", step=6, init_times=times, batch_size=8, device=cpu)
    np.testing.assert_allclose(one["z500"].values, many["z500"].values, rtol=1e-6)


def test_states_read_in_blocks_give_the_same_forecast(ckpt, ds, monkeypatch):
    times = ds.time.values[:-1]
    whole = forecast(ckpt, ds.chunk(time=2), [6, 12], mode="iterative", step=6, init_times=times, batch_size=2)
    monkeypatch.setattr(state, "BLOCK_BYTES", 1)  # one batch per block
    blocks = forecast(ckpt, ds.chunk(time=2), [6, 12], mode="iterative", step=6, init_times=times, batch_size=2)
    np.testing.assert_array_equal(whole["z500"].values, blocks["z500"].values)


def test_a_state_block_holds_whole_batches_and_each_times_history(ds):
    times = ds.time.values[[1, 2, 4, 5, 7]]
    blocks = list(state_blocks(ds.chunk(time=1), INPUTS, times, batch_size=2, history_hours=6.0, max_bytes=1))
    assert [(a, b) for a, b, _ in blocks] == [(0, 2), (2, 4), (4, 5)]
    np.testing.assert_array_equal(blocks[1][2].time.values, ds.time.values[[3, 4, 5]])
    assert all(not any(v.chunks for v in block.data_vars.values()) for _, _, block in blocks)  # in memory
    one = list(state_blocks(ds, INPUTS, times, batch_size=2))
    assert [(a, b) for a, b, _ in one] == [(0, 5)] and one[0][2].sizes["time"] == 5


def test_ensemble_members_are_seeded_perturbations(ckpt, ds):
    times = ds.time.values[:2]
    ens = Perturbation(members=3, scale=0.1, seed=1)
    a = forecast(ckpt, ds, [6], init_times=times, ensemble=ens, batch_size=4)
    b = forecast(ckpt, ds, [6], init_times=times, ensemble=ens, batch_size=1)
    assert a["t2m"].dims == ("member", "init_time", "lead_time", "lat", "lon") and a.sizes["member"] == 3
    np.testing.assert_allclose(a["t2m"].values, b["t2m"].values, rtol=1e-6)
    assert not np.allclose(a["t2m"].sel(member=0), a["t2m"].sel(member=1))
    other = forecast(ckpt, ds, [6], init_times=times, ensemble=Perturbation(3, 0.1, seed=2))
    assert not np.allclose(a["t2m"].values, other["t2m"].values)
    zero = forecast(ckpt, ds, [6], init_times=times, ensemble=Perturbation(2, 0.0))
    plain = forecast(ckpt, ds, [6], init_times=times)
    np.testing.assert_allclose(zero["t2m"].sel(member=1).values, plain["t2m"].values, rtol=1e-6)


def test_ensemble_noise_scales_with_std():
    noise = Perturbation(members=1, scale=0.2, seed=0).apply(
        np.zeros((1, 2, 32, 64), np.float32), ["lsm", "z500"], [0], [np.datetime64("2000-01-01")]
    )
    assert np.all(noise[0, 0] == 0)  # constants are not perturbed
    assert float(noise[0, 1].std()) == pytest.approx(0.2, rel=0.1)  # 0.2 std in normalised units


def test_from_path_uses_recorded_sources(tmp_path, ckpt, ds):
    path = save_forecast_checkpoint(tmp_path / "m.pt", ckpt.model, ckpt.spec)
    fm = open_model(path)
    assert fm.inputs == INPUTS and fm.outputs == OUTPUTS and fm.trained_leads == (6.0, 24.0)
    fc = forecast(path, ds, [6], variables=["t850"], init_times=ds.time.values[:1])
    ref = forecast(ckpt, ds, [6], init_times=ds.time.values[:1])
    assert list(fc.data_vars) == ["t850"]
    np.testing.assert_allclose(fc["t850"].values, ref["t850"].values, rtol=1e-6)


def test_forecast_records_the_damping_and_lowers_small_scale_power(ckpt, ds):
    t0 = ds.time.values[:1]
    damping = ZonalHyperdiffusion(1.0, 4)
    plain = forecast(ckpt, ds, [6, 12], mode="iterative", step=6, init_times=t0)
    damped = forecast(ckpt, ds, [6, 12], mode="iterative", step=6, init_times=t0, damping=damping)
    assert damped.attrs["damping"] == str(damping) and "damping" not in plain.attrs

    def high_k_power(fc):
        return float((np.abs(np.fft.rfft(fc["t850"].values, axis=-1))[..., 16:] ** 2).sum())

    assert high_k_power(damped) < 0.5 * high_k_power(plain)
    np.testing.assert_allclose(damped["t850"].mean("lon"), plain["t850"].mean("lon"), rtol=1e-3)


def test_damping_is_refused_where_nothing_is_rolled_out(ckpt, ds):
    damping = ZonalHyperdiffusion()
    with pytest.raises(ValueError, match="mode 'continuous' asks the model once per lead"):
        forecast(ckpt, ds, [6], mode="continuous", damping=damping)
    with pytest.raises(ValueError, match="auto asks it once per lead"):
        forecast(ckpt, ds, [24], mode="auto", damping=damping)
    with pytest.raises(ValueError, match="direct mode makes none"):
        forecast({6: ckpt}, ds, mode="direct", damping=damping)
