"""Counterfactuals through conditioning: the world shift by hand, the pattern correlation, the model's shift under
another forcing, and the experiment's command end to end on tiny data."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from climax_nb.forecast import open_model
from climax_nb.forecast.counterfactual import compare_shifts, model_shift, pattern_correlation, world_shift
from climax_nb.forecast.masked import Task, task_init_times
from tests.atmorep_helpers import DATA, checkpoint
from tests.scripts import load_script
from tests.train_helpers import single_thread  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("single_thread")


def two_months(offset_jan: float, offset_feb: float) -> tuple[xr.Dataset, xr.Dataset]:
    """A control world over January and February and another one warmer by an offset per month."""
    time = pd.date_range("2000-01-30", periods=12, freq="6h")  # 8 steps in January, 4 in February
    rng = np.random.default_rng(0)
    lat, lon = DATA["lat"].values, DATA["lon"].values
    control = xr.Dataset({"t850": (("time", "lat", "lon"), 270 + rng.standard_normal((12, len(lat), len(lon))))},
                         coords={"time": time, "lat": lat, "lon": lon})
    bump = np.where(time.month == 1, offset_jan, offset_feb)[:, None, None]
    other = control.copy(deep=True)
    other["t850"] = other["t850"] + bump
    return control, other


def test_the_world_shift_weighs_each_month_as_the_windows_fall_in_it():
    control, other = two_months(1.0, 3.0)
    shift = world_shift(control, other, ["t850"], [1, 1, 1, 2])  # three windows in January, one in February
    np.testing.assert_allclose(shift["t850"].values, 0.75 * 1.0 + 0.25 * 3.0, rtol=1e-6)
    with pytest.raises(ValueError, match="no data in month 3"):
        world_shift(control, other, ["t850"], [3])
    with pytest.raises(ValueError, match=r"\['q700'\] are not in both"):
        world_shift(control, other, ["q700"], [1])


def test_pattern_correlation_is_centred_and_signed():
    rng = np.random.default_rng(1)
    a = xr.DataArray(rng.standard_normal((32, 64)), dims=("lat", "lon"),
                     coords={"lat": DATA["lat"].values, "lon": DATA["lon"].values})
    assert pattern_correlation(a, a) == pytest.approx(1.0)
    assert pattern_correlation(a, 3 * a + 7) == pytest.approx(1.0)  # the global mean is taken out
    assert pattern_correlation(a, -a) == pytest.approx(-1.0)
    b = xr.DataArray(rng.standard_normal((32, 64)), dims=a.dims, coords=a.coords)
    assert abs(pattern_correlation(a, b)) < 0.1
    row = compare_shifts(xr.Dataset({"t850": a + 1}), xr.Dataset({"t850": 2 * a + 2}))[0]
    assert row["same_sign"] and row["pattern_correlation"] == pytest.approx(1.0)
    assert row["ratio"] == pytest.approx(row["model_global_mean"] / row["gcm_global_mean"])


def test_the_models_shift_comes_from_the_forcing_alone(tmp_path):
    fm = open_model(checkpoint(tmp_path))
    task = Task("forecast", slabs=1)
    inits = task_init_times(fm, task, DATA, 24.0)[:2]
    same = model_shift(fm, DATA, task, inits, sst_offset=fm.forcing["sst_offset"])
    assert all(float(np.abs(same[v]).max()) == 0.0 for v in same.data_vars)  # the default forcing again: no shift
    warm = model_shift(fm, DATA, task, inits, sst_offset=2.0)
    assert set(warm.dims) == {"lat", "lon"} and warm.attrs["windows"] == 2
    assert any(float(np.abs(warm[v]).max()) > 0.0 for v in warm.data_vars)
    with pytest.raises(ValueError, match="give the forcing to change"):
        model_shift(fm, DATA, task, inits)


def test_the_experiment_prints_both_shifts_per_variable_and_mask(tmp_path, capsys):
    control = tmp_path / "control.nc"
    warm = tmp_path / "warm.nc"
    DATA.to_netcdf(control)
    DATA.assign(t850=DATA["t850"] + 2.0).to_netcdf(warm)
    script = load_script("experiments/counterfactual.py")
    args = ["--checkpoint", str(checkpoint(tmp_path)), "--data", str(control), "--year", "2000",
            "--control-years", "2000", "--warm", str(warm), "--warm-years", "2000", "--slabs", "1",
            "--box", "-30", "30", "0", "360",
            "--every-hours", "24", "--out", str(tmp_path / "results")]
    assert script.main(args) == 0
    frame = pd.read_csv(tmp_path / "results" / "counterfactual.csv", comment="#")
    assert set(frame["variable"]) == {"z500", "z850", "t850", "t2m"}
    assert set(frame["task"]) == {"forecast (1 slab)", "infill (30S-30N, 0E-0E)"}
    t850 = frame[frame["variable"] == "t850"].iloc[0]
    assert t850["gcm_global_mean"] == pytest.approx(2.0, rel=1e-5)
    assert "Signs agree" in capsys.readouterr().out
    assert script.main([*args, "--from-results"]) == 0
