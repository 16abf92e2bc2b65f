"""The pretrained-vs-scratch experiment's table: both arms over seeds, their paired difference, the baselines."""

from __future__ import annotations

import numpy as np
import xarray as xr

from tests.scripts import load_script


def _experiment():
    return load_script("experiments/pretraining_vs_scratch.py")


def test_table_gives_mean_range_difference_and_seed_count():
    models = ["pretrained", "scratch", "persistence", "climatology"]
    # seed 0: pretrained 10 vs scratch 12; seed 1: pretrained 14 vs scratch 13
    rmse = np.array([[10.0, 12.0, 20.0, 30.0], [14.0, 13.0, 20.0, 30.0]])
    values = np.stack([rmse, np.zeros_like(rmse)], -1)[..., None]  # (seed, model, metric, lead)
    card = xr.Dataset(
        {"z500": (("seed", "model", "metric", "lead_time"), values)},
        coords={"seed": [0, 1], "model": models, "metric": ["rmse", "acc"],
                "lead_time": [np.timedelta64(24, "h").astype("timedelta64[ns]")]},
    )
    rows = _experiment().comparison_table(card).splitlines()
    assert len(rows) == 3
    # differences +2 and -1: mean 0.5, sd 2.12, t(0.975, 1) = 12.71, so the interval is 0.5 +- 19.1
    assert rows[2] == "| z500 | 24 h | 12 (10-14) | 12.5 (12-13) | +0.5 [-18.6, +19.6] | 1/2 seeds | 20 | 30 |"


def test_the_all_variables_line_counts_cells_where_pretraining_is_lower():
    models = ["pretrained", "scratch", "persistence", "climatology"]
    lead = [np.timedelta64(h, "h").astype("timedelta64[ns]") for h in (24, 72)]
    rmse = {"z500": [[10.0, 20.0], [12.0, 18.0]], "t850": [[1.0, 1.0], [2.0, 2.0]]}  # (model pretrained/scratch, lead)
    data = {}
    for name, (pre, scr) in rmse.items():
        values = np.full((1, 4, 2, 2), np.nan)  # (seed, model, metric, lead): baselines and ACC left as NaN
        values[0, 0, 0], values[0, 1, 0] = pre, scr
        data[name] = (("seed", "model", "metric", "lead_time"), values)
    card = xr.Dataset(data, coords={"seed": [0], "model": models, "metric": ["rmse", "acc"], "lead_time": lead})
    assert _experiment().all_variables_line(card) == "over all 2 variables and 2 leads: pretrained lower in 3 of 4"
