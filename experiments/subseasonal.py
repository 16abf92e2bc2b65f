"""Sub-seasonal forecasts (ClimaX paper section 4.2.3) at this scale: two-week mean anomalies at weeks 3-4 and 5-6.

The embedded reanalysis run for ten years (2000-2009; simulated on first use, about 25 minutes
here) gives, for each day, the mean over the 14 days from it of z500, t850, t2m and
precipitation (tp6h), minus the 2000-2007 climatology of such means (mean and three annual
harmonics). From the 00 UTC state, a model predicts the window that starts 14 days later
(weeks 3-4) and 28 days later (weeks 5-6). Scored on 2009, every ``--every-hours``:

- ``pretrained``: the main job's pretrained compact model fine-tuned on 2000-2007
  (``climax_nb/configs/subseasonal-compact.yaml``, ``--steps`` steps);
- ``scratch``: the same model from random weights (same budget, data order and seed);
- ``climatology``: a zero anomaly, the usual S2S reference;
- ``damped_persistence``: the anomaly of the 14 days before the start times the slope fitted per
  cell and lead on 2000-2007 (``climax_nb.baselines.damping_coefficients``);
- ``anomaly_persistence``: that recent anomaly undamped.

Per arm, variable and lead: RMSE and ACC of the anomalies (area-weighted, WeatherBench 2's), and
the skill against climatology, 1 - MSE / MSE(climatology) (the MSSS: above 0 beats climatology).

    python experiments/subseasonal.py --seeds 0            # 2 runs of 1000 steps; simulates ten years first
    python experiments/subseasonal.py --from-results       # the report again, nothing trained

``--data file.nc --in-sample`` trains and scores on one stretch of a file (at least a year plus the
windows): it checks the path, the numbers then mean nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.experiments import cli, reports

NAME = "subseasonal"


def baseline_forecasts(anomalies: xr.Dataset, inits: np.ndarray, leads: Sequence[float], window_days: int,
                       train_years: Sequence[int]) -> dict[str, xr.Dataset]:
    """Damped and undamped persistence of the recent window's anomaly (climatology is ``score``'s own)."""
    from climax_nb.baselines import damped_persistence, damping_coefficients

    coefficients = damping_coefficients(anomalies, leads, window_days, train_years)
    return {"damped_persistence": damped_persistence(anomalies, inits, coefficients, window_days),
            "anomaly_persistence": damped_persistence(anomalies, inits, None, window_days, lead_times=leads)}


def score_rows(forecasts: dict[str, xr.Dataset], truth: xr.Dataset, clim: xr.Dataset, window_days: int
               ) -> list[dict]:
    """RMSE, ACC and MSSS against climatology per arm, variable and lead (``weeks``: the window it covers)."""
    from climax_nb.data.subseasonal import anomaly_climatology, week_label
    from climax_nb.evaluate import score

    variables = list(next(iter(forecasts.values())).data_vars)
    card = score(forecasts, truth, anomaly_climatology(clim), baselines=("climatology",), metrics=("rmse", "acc"),
                 variables=variables)
    rows = []
    for arm in card["model"].values:
        for var in variables:
            for lead in card["lead_time"].values:
                at = card[var].sel(model=arm, lead_time=lead)
                ref = float(card[var].sel(model="climatology", lead_time=lead, metric="rmse"))
                rmse = float(at.sel(metric="rmse"))
                hours = float(lead / np.timedelta64(1, "h"))
                rows.append({"arm": str(arm), "variable": var, "lead_h": hours, "weeks": week_label(hours, window_days),
                             "rmse": rmse, "acc": float(at.sel(metric="acc")), "msss": 1 - (rmse / ref) ** 2})
    return rows


def make(args: argparse.Namespace) -> pd.DataFrame:
    """Train the pretrained and scratch arms for every seed; score them and the baselines on the test year."""
    from climax_nb.evaluate import initial_times
    from climax_nb.experiments import training
    from climax_nb.forecast.subseasonal import subseasonal_forecast

    init, sets = cli.pretrained(args), cli.overrides(args)
    days = args.days if args.data.startswith("embedded/") else None

    def config(start: Path | None, seed: int):
        return training.subseasonal_config(steps=args.steps, seed=seed, init=start, days=days, source=args.data,
                                           in_sample=args.in_sample, overrides=sets)

    reference = config(init, args.seeds[0])
    inputs, truth, anomalies, clim = training.subseasonal_test(reference)
    leads = [float(h) for h in reference.data.leads]
    window = int(reference.data.subseasonal)
    span = max(leads) + 24.0 * window - 24.0  # the last window's last day must lie in the data
    inits = np.asarray(initial_times(truth, span, args.every_hours))
    inits = inits[inits >= truth["time"].values[0] + np.timedelta64(window, "D")]  # a recent window before each
    train_years = reference.data.train_years or sorted({int(y) for y in anomalies.time.dt.year.values})
    baselines = baseline_forecasts(anomalies, inits, leads, window, train_years)
    rows = []
    for seed in args.seeds:
        arms = {"pretrained": training.trained(f"subseasonal-seed{seed}", config(init, seed)),
                "scratch": training.trained(f"subseasonal-scratch-seed{seed}", config(None, seed))}
        forecasts = {arm: subseasonal_forecast(path, inputs, init_times=inits, batch_size=16)
                     for arm, path in arms.items()}
        for row in score_rows({**forecasts, **baselines}, anomalies, clim, window):
            path = arms.get(row["arm"])
            budget = {"steps": training.steps_of(path), "train_s": training.train_seconds(path)} if path else {
                "steps": 0, "train_s": 0.0}
            rows.append({"seed": seed, "times": len(inits), "train_years": len(train_years), **row, **budget})
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    p = cli.parser(__doc__, seeds=(0,), steps=1000)
    cli.add_pretrained(p)
    p.set_defaults(every_hours=24.0)
    return cli.main(NAME, "experiments/subseasonal.py", p, make, reports.subseasonal, argv)


if __name__ == "__main__":
    main()
