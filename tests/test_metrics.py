"""Metrics against values worked out by hand on a 3 x 2 grid with weights (0.75, 1.5, 0.75)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from climax_nb import metrics
from climax_nb.metrics import MetricInputError

LAT = np.array([-60.0, 0.0, 60.0])  # cell edges -90, -30, 30, 90: areas 0.5, 1, 0.5
LON = np.array([0.0, 180.0])
INITS = pd.to_datetime(["2000-01-01T00", "2000-01-02T00"])
LEAD = pd.to_timedelta([6], unit="h")


def truth_ds(values_at_valid: np.ndarray, var: str = "z500") -> xr.Dataset:
    """Truth that holds ``values_at_valid[i]`` (lat, lon) at init i + 6 h and zeros elsewhere."""
    times = pd.date_range("2000-01-01", "2000-01-03", freq="6h")
    data = np.zeros((len(times), len(LAT), len(LON)))
    for i, init in enumerate(INITS):
        data[times.get_loc(init + LEAD[0])] = values_at_valid[i]
    return xr.Dataset({var: (("time", "lat", "lon"), data)}, coords={"time": times, "lat": LAT, "lon": LON})


def forecast_ds(values: np.ndarray, var: str = "z500", member: bool = False) -> xr.Dataset:
    """Forecast (init_time, lead_time=6h, lat, lon) [+ member first] from per-init fields."""
    dims = ("init_time", "lead_time", "lat", "lon")
    values = np.asarray(values, dtype=float)
    if member:
        dims, values = ("member", *dims), values[:, :, None]
    else:
        values = values[:, None]
    ds = xr.Dataset({var: (dims, values)}, coords={"init_time": INITS, "lead_time": LEAD, "lat": LAT, "lon": LON})
    return ds.assign_coords(valid_time=ds["init_time"] + ds["lead_time"])


def by_lat(*rows: float) -> np.ndarray:
    """A field constant in longitude."""
    return np.repeat(np.array(rows, dtype=float)[:, None], len(LON), axis=1)


def full(value: float) -> np.ndarray:
    return np.full((len(LAT), len(LON)), float(value))


def value(ds: xr.Dataset, var: str = "z500") -> float:
    return float(ds[var].sel(lead_time=LEAD[0]))


ZERO_TRUTH = truth_ds(np.zeros((2, 3, 2)))


def test_lat_weights_from_cell_area_mean_one():
    np.testing.assert_allclose(metrics.lat_weights(LAT).values, [0.75, 1.5, 0.75])


def test_rmse_takes_root_after_time_mean_and_per_sample_before():
    fc = forecast_ds([full(1), full(3)])
    assert value(metrics.rmse(fc, ZERO_TRUTH)) == pytest.approx(np.sqrt(5))  # sqrt((1 + 9) / 2)
    assert value(metrics.rmse_per_sample(fc, ZERO_TRUTH)) == pytest.approx(2.0)  # (1 + 3) / 2


def test_weighted_mse_bias_mae():
    fc = forecast_ds([by_lat(0, 2, 0), full(-1)])
    # init 1: only the equator (weight 1.5) errs by 2 -> mse 1.5*4/3 = 2, bias 1.5*2/3 = 1; init 2: -1 everywhere
    assert value(metrics.mse(fc, ZERO_TRUTH)) == pytest.approx(1.5)
    assert value(metrics.rmse(fc, ZERO_TRUTH)) == pytest.approx(np.sqrt(1.5))
    assert value(metrics.rmse_per_sample(fc, ZERO_TRUTH)) == pytest.approx((np.sqrt(2) + 1) / 2)
    assert value(metrics.bias(fc, ZERO_TRUTH)) == pytest.approx(0.0)
    assert value(metrics.mae(fc, ZERO_TRUTH)) == pytest.approx(1.0)


def test_scores_come_per_variable_and_lead_time():
    fc = forecast_ds([full(1), full(3)])
    out = metrics.rmse(fc, ZERO_TRUTH)
    assert set(out.data_vars) == {"z500"} and out["z500"].dims == ("lead_time",)


def test_ensemble_scored_deterministically_through_its_mean():
    fc = forecast_ds([[full(0), full(2)], [full(2), full(4)]], member=True)  # means 1 and 3
    assert value(metrics.rmse(fc, ZERO_TRUTH)) == pytest.approx(np.sqrt(5))


TIME_MEAN_ZERO = xr.Dataset(
    {"z500": (("lat", "lon"), np.zeros((3, 2)))}, coords={"lat": LAT, "lon": LON}, attrs={"kind": "time_mean"}
)
F_ANOM = [by_lat(1, 0, -1), by_lat(2, 1, 0)]
O_ANOM = [by_lat(1, 1, -1), by_lat(2, 1, 0)]


def test_acc_uncentred_per_init_then_averaged():
    # init 1: sum w f o = 1.5, sum w f^2 = 1.5, sum w o^2 = 3 -> 1/sqrt(2); init 2: identical -> 1
    out = metrics.acc(forecast_ds(F_ANOM), truth_ds(np.array(O_ANOM)), TIME_MEAN_ZERO)
    assert value(out) == pytest.approx((1 / np.sqrt(2) + 1) / 2)


def test_acc_centred_pools_and_removes_means():
    # means over (init, lat, lon): f 0.5, o 2/3; weighted sums 3.75, 4.5, 25/6 -> sqrt(3)/2
    out = metrics.acc_centred(forecast_ds(F_ANOM), truth_ds(np.array(O_ANOM)), TIME_MEAN_ZERO)
    assert value(out) == pytest.approx(np.sqrt(3) / 2)
    assert metrics.acc_wb1 is metrics.acc_centred


def doy_clim(hours=(0, 6, 12, 18)) -> xr.Dataset:
    """A day-of-year x hour climatology whose value is 10 * dayofyear + hour, everywhere."""
    days = np.arange(1, 367)
    data = 10.0 * days[None, :, None, None] + np.array(hours, float)[:, None, None, None] + np.zeros((1, 1, 3, 2))
    return xr.Dataset(
        {"z500": (("hour", "dayofyear", "lat", "lon"), data)},
        coords={"hour": list(hours), "dayofyear": days, "lat": LAT, "lon": LON},
        attrs={"kind": "dayofyear_hour"},
    )


def test_acc_takes_climatology_at_each_valid_time():
    clim = doy_clim()
    at_valid = [10.0 * (init + LEAD[0]).day_of_year + 6 for init in INITS]  # both valid at 06 UTC
    fc = forecast_ds([F_ANOM[i] + at_valid[i] for i in range(2)])
    truth = truth_ds(np.array([O_ANOM[i] + at_valid[i] for i in range(2)]))
    assert value(metrics.acc(fc, truth, clim)) == pytest.approx((1 / np.sqrt(2) + 1) / 2)


def test_fair_crps_two_members_by_hand():
    fc = forecast_ds([[full(1), full(1)], [full(3), full(3)]], member=True)  # members 1 and 3 at both inits
    truth = truth_ds(np.array([full(0), full(2)]))
    # init 1: mean|X-y| = 2, |X1-X2|/2 = 1 -> 1; init 2: 1 - 1 = 0
    assert value(metrics.crps(fc, truth)) == pytest.approx(0.5)


def test_fair_crps_matches_pairwise_sum_and_point_mass_is_mae():
    rng = np.random.default_rng(1)
    members = rng.normal(size=(5, 2, 3, 2))
    truth_vals = rng.normal(size=(2, 3, 2))
    skill = np.abs(members - truth_vals).mean(0)
    pairs = np.abs(members[:, None] - members[None]).sum((0, 1)) / (2 * 5 * 4)
    w = np.array([0.75, 1.5, 0.75])[None, :, None]
    expected = ((skill - pairs) * w).mean()
    assert value(metrics.crps(forecast_ds(members, member=True), truth_ds(truth_vals))) == pytest.approx(expected)
    point = forecast_ds(members[0])
    assert value(metrics.crps(point, truth_ds(truth_vals))) == pytest.approx(
        value(metrics.mae(point, truth_ds(truth_vals)))
    )


def test_spread_skill_ratio_and_correction():
    fc = forecast_ds([[full(1), full(1)], [full(3), full(3)]], member=True)  # variance (ddof 1) 2, mean 2
    truth = truth_ds(np.array([full(0), full(4)]))  # mean errs by 2 both times
    assert value(metrics.spread_skill_ratio(fc, truth)) == pytest.approx(np.sqrt(2) / 2)
    corrected = metrics.spread_skill_ratio(fc, truth, corrected=True)
    assert value(corrected) == pytest.approx(np.sqrt(2) / 2 * np.sqrt(1.5))


def test_rank_histogram_counts():
    fc = forecast_ds([[full(1), full(1)], [full(3), full(3)]], member=True)
    truth = truth_ds(np.array([full(0), by_lat(2, 4, 4)]))
    out = metrics.rank_histogram(fc, truth)["z500"].sel(lead_time=LEAD[0])
    assert out.values.tolist() == [6, 2, 4]


def test_ensemble_only_metrics_refuse_deterministic_forecasts():
    with pytest.raises(MetricInputError, match="member"):
        metrics.spread_skill_ratio(forecast_ds([full(1), full(2)]), ZERO_TRUTH)


def test_error_when_no_common_variable():
    with pytest.raises(MetricInputError, match="share no variable.*t850.*z500"):
        metrics.rmse(forecast_ds([full(1), full(3)], var="t850"), ZERO_TRUTH)


def test_error_names_missing_requested_variable():
    with pytest.raises(MetricInputError, match="truth has no variable 't2m'"):
        metrics.rmse(forecast_ds([full(1), full(3)]).assign(t2m=lambda d: d["z500"]), ZERO_TRUTH, ["z500", "t2m"])


def test_error_when_valid_times_outside_truth():
    fc = forecast_ds([full(1), full(3)]).assign_coords(lead_time=pd.to_timedelta([96], unit="h"))
    fc = fc.assign_coords(valid_time=fc["init_time"] + fc["lead_time"])
    with pytest.raises(MetricInputError, match=r"lead time\(s\) 96h.*truth covers"):
        metrics.rmse(fc, ZERO_TRUTH)


def test_error_when_grids_differ():
    with pytest.raises(MetricInputError, match="forecast grid 3x2.*truth grid 3x1.*regrid"):
        metrics.rmse(forecast_ds([full(1), full(3)]), ZERO_TRUTH.isel(lon=[0]))


def test_error_when_climatology_lacks_variable():
    with pytest.raises(MetricInputError, match=r"climatology has no variable\(s\) \['z500'\].*climatology\("):
        metrics.acc(forecast_ds(F_ANOM), ZERO_TRUTH, TIME_MEAN_ZERO.rename(z500="t850"))


def test_error_when_climatology_lacks_hour():
    with pytest.raises(MetricInputError, match=r"hour\(s\) \[6\]"):
        metrics.acc(forecast_ds(F_ANOM), ZERO_TRUTH, doy_clim(hours=(0, 12)))


def test_error_when_lead_time_not_timedelta():
    fc = forecast_ds([full(1), full(3)]).assign_coords(lead_time=[6])
    with pytest.raises(MetricInputError, match="timedelta"):
        metrics.rmse(fc, ZERO_TRUTH)


def test_registry_names_and_climatology_requirement():
    fc = forecast_ds([full(1), full(3)])
    assert value(metrics.compute("rmse", fc, ZERO_TRUTH)) == pytest.approx(np.sqrt(5))
    with pytest.raises(MetricInputError, match="needs a climatology"):
        metrics.compute("acc", fc, ZERO_TRUTH)
    with pytest.raises(MetricInputError, match="unknown metric 'rsme'"):
        metrics.compute("rsme", fc, ZERO_TRUTH)


def test_corrected_spread_skill_is_one_for_a_calibrated_ensemble():
    rng = np.random.default_rng(2)
    lat, lon, m = np.linspace(-80, 80, 40), np.arange(0.0, 360.0, 3.6), 3
    samples = rng.normal(size=(m + 1, 2, 1, 40, 100))  # truth and members exchangeable
    coords = {"init_time": INITS, "lead_time": LEAD, "lat": lat, "lon": lon}
    fc = xr.Dataset({"z500": (("member", "init_time", "lead_time", "lat", "lon"), samples[1:])}, coords=coords)
    truth = xr.Dataset(
        {"z500": (("time", "lat", "lon"), samples[0, :, 0])},
        coords={"time": INITS + LEAD[0], "lat": lat, "lon": lon},
    )
    assert value(metrics.spread_skill_ratio(fc, truth)) == pytest.approx(np.sqrt(m / (m + 1)), abs=0.03)
    assert value(metrics.spread_skill_ratio(fc, truth, corrected=True)) == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("metric", ["rmse", "mae", "bias", "crps"])
def test_nan_is_named_never_averaged_around(metric):
    field = full(1)
    field[0, 0] = np.nan
    with pytest.raises(MetricInputError, match=r"the forecast has NaN or infinite values \(z500: 1 of 12\)"):
        getattr(metrics, metric)(forecast_ds([field, full(3)]), ZERO_TRUTH)
    truth = ZERO_TRUTH.copy(deep=True)
    truth["z500"][1, 0, 0] = np.inf  # 06 UTC on the first day: a valid time
    with pytest.raises(MetricInputError, match="the truth at the forecast's valid times has NaN or infinite"):
        getattr(metrics, metric)(forecast_ds([full(1), full(3)]), truth)
