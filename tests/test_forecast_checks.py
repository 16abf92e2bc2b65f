"""Bad initial states and untrained lead times get clear errors, never silent extrapolation."""

from __future__ import annotations

import numpy as np
import pytest

from climax_nb.forecast import (
    InitialStateError,
    LeadTimeError,
    RolloutError,
    forecast,
    plan_rollout,
)
from tests.forecast_helpers import initial_state, tiny_checkpoint


@pytest.fixture(scope="module")
def ckpt():
    return tiny_checkpoint()


@pytest.fixture(scope="module")
def ds():
    return initial_state(steps=4)


def test_missing_variable_is_named(ckpt, ds):
    with pytest.raises(InitialStateError, match="lacks t850"):
        forecast(ckpt, ds.drop_vars("t850"), [6])


def test_other_grid_is_refused(ckpt, ds):
    coarse = ds.isel(lat=slice(0, None, 2), lon=slice(0, None, 2))
    with pytest.raises(InitialStateError, match=r"16x32 grid.*5.625deg"):
        forecast(ckpt, coarse, [6])


def test_nan_is_named_with_its_time(ckpt, ds):
    bad = ds.copy(deep=True)
    bad["z500"][2, 3, 4] = np.nan
    with pytest.raises(InitialStateError, match=r"z500 has 1 NaN.*2000-01-01T12"):
        forecast(ckpt, bad, [6])
    forecast(ckpt, bad, [6], init_times=bad.time.values[:2])  # NaNs elsewhere do not matter


def test_absent_initial_time(ckpt, ds):
    with pytest.raises(InitialStateError, match="2001-01-01"):
        forecast(ckpt, ds, [6], init_times=["2001-01-01"])


def test_untrained_lead_is_an_error(ckpt, ds):
    with pytest.raises(LeadTimeError, match=r"trained for 6 h, 24 h, not 12 h.*mode='auto'"):
        forecast(ckpt, ds, [6, 12])
    with pytest.raises(LeadTimeError, match="not 12 h"):
        forecast(ckpt, ds, [24], mode="iterative", step=12)
    with pytest.raises(LeadTimeError, match=r"models for 6 h, not 24 h"):
        forecast({6: ckpt}, ds, [24], mode="direct")


def test_unknown_trained_leads_are_said(ds):
    unknown = tiny_checkpoint(leads=None)
    with pytest.warns(UserWarning, match="records no trained lead times"):
        forecast(unknown, ds, [12], init_times=ds.time.values[:1])
    with pytest.raises(LeadTimeError, match="pass step="):
        forecast(unknown, ds, [12], mode="auto")


def test_rollout_needs_every_dynamic_input_predicted(ds):
    partial = tiny_checkpoint(outputs=("t2m", "z500"))
    with pytest.raises(RolloutError, match=r"does not predict its input\(s\) t850"):
        forecast(partial, ds, [12], mode="iterative", step=6)
    forecast(partial, ds, [6], init_times=ds.time.values[:1])  # a single call is fine


def test_plan_rollout():
    plan = plan_rollout(["1D", 6, np.timedelta64(240, "h")], step=6)
    assert (plan.step, plan.n_steps) == (6.0, 40)
    assert plan.emit == {1: 6.0, 4: 24.0, 40: 240.0}
    with pytest.raises(LeadTimeError, match="cannot be reached with steps of 24 h"):
        plan_rollout([36], step=24)
    with pytest.raises(LeadTimeError, match="positive"):
        plan_rollout([0], step=6)


def test_bad_arguments(ckpt, ds):
    with pytest.raises(ValueError, match="unknown mode"):
        forecast(ckpt, ds, [6], mode="magic")
    with pytest.raises(ValueError, match="only direct mode"):
        forecast({6: ckpt}, ds, [6])
    with pytest.raises(ValueError, match="does not predict u10"):
        forecast(ckpt, ds, [6], variables=["u10"])
