"""Does the 6-hourly rollout stay physical? Small-scale power and 5-day RMSE of a rolled-out model.

A model that predicts every dynamic input can be chained in 6-hour steps; each step
feeds its errors back, and at the patch scale they pile up (notebook 05 measured
thousands of times the truth's power there after ten days). Here one checkpoint
forecasts the reanalysis's test year (2003) from initial times every
``--every-days`` days, iteratively in 6-hour steps to 14 days and in continuous
mode (asked once per lead) at 24, 72 and 120 h, and two targets are checked:

- (a) the forecast's zonal power at wavenumbers >= 16 over the truth's, per lead
  every 24 h (the area-weighted mean over all latitudes, as notebook 05 measures
  it), within a factor of 2 at every lead up to 10 days, for z500, t850, t2m, u10;
- (b) the rollout's RMSE (WeatherBench 2, latitude-weighted) at 120 h at most 10 %
  above the continuous model's 120 h, with persistence beside both.

    python experiments/rollout_stability.py --out outputs/rollout            # the main job's fine-tuned model
    python experiments/rollout_stability.py --checkpoint runs/x/model.pt --out outputs/rollout-x
    python experiments/rollout_stability.py --out outputs/rollout --from-results   # the tables again
    python experiments/rollout_stability.py --checkpoint runs/x/model.pt --hyperdiffusion 3 --out outputs/x-damped

``--hyperdiffusion H`` damps each rollout step's smallest scales (``forecast(damping=)``,
``climax_nb.forecast.damping``: e-folding time H hours at the highest zonal wavenumber,
``--hyperdiffusion-order`` 8 by default); ``--year 2002`` (the validation year) is where to
choose H, before the test year reports it.

``--days`` keeps only the first days of the test year (a quick check of the path;
the horizon then shrinks to what fits and the numbers mean little).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.defaults import REANALYSIS_TEST
from climax_nb.forecast.damping import ZonalHyperdiffusion

TARGETS = ("z500", "t850", "t2m", "u10")
STEP_H = 6.0
HORIZON_H = 14 * 24.0
CONTINUOUS_H = (24.0, 72.0, 120.0)
HIGH_K = 16  # zonal wavenumbers from here up: near the patch scale of the compact model
POWER_FACTOR, POWER_UNTIL_H = 2.0, 240.0  # target (a): within this factor of the truth up to 10 days
RMSE_LEAD_H, RMSE_TOLERANCE = 120.0, 0.10  # target (b): the rollout at most 10 % above the continuous model
ROLLOUT, CONTINUOUS = "rollout 6 h", "continuous"
SPECTRA, RMSE, REPORT = "rollout_spectra.csv", "rollout_rmse.csv", "rollout_stability.md"


def horizon_hours(truth: xr.Dataset) -> float:
    """The rollout's last lead: 14 days, or the longest whole day that fits in shorter data."""
    span = float((truth["time"].values[-1] - truth["time"].values[0]) / np.timedelta64(1, "h"))
    fits = 24.0 * np.floor(span / 24.0)
    if fits < 24.0:
        raise SystemExit(f"the data span {span:g} h, less than a day: give more --days")
    return min(HORIZON_H, fits)


def make_forecasts(checkpoint: str | Path, truth: xr.Dataset, every_days: float,
                   continuous_checkpoint: str | Path | None = None,
                   damping: ZonalHyperdiffusion | None = None) -> dict[str, xr.Dataset]:
    """The rollout (6-hour steps, every 24 h to the horizon) and the continuous model, from the same initial times.

    ``continuous_checkpoint`` (default: ``checkpoint``) is the lead-conditioned model the rollout is
    compared with: a model fine-tuned on 6-hour rollouts alone has no longer leads of its own.
    ``damping`` filters each of the rollout's steps (``--hyperdiffusion``).
    """
    from climax_nb.evaluate import initial_times
    from climax_nb.forecast import LeadTimeError, RolloutError, forecast, open_model

    model = open_model(checkpoint)
    reference = model if continuous_checkpoint is None else open_model(continuous_checkpoint)
    targets = [v for v in TARGETS if v in model.outputs and v in truth.data_vars]
    if not targets:
        raise SystemExit(f"{checkpoint} predicts none of {', '.join(TARGETS)} (it predicts {list(model.outputs)})")
    horizon = horizon_hours(truth)
    inits = initial_times(truth, horizon, every_days * 24.0)
    leads = list(np.arange(24.0, horizon + 1, 24.0))
    continuous = [h for h in CONTINUOUS_H if h <= horizon]
    print(f"{len(inits)} initial times every {every_days:g} days from {inits[0]}; rollout to {horizon:g} h in "
          f"{STEP_H:g} h steps; continuous at {', '.join(f'{h:g}' for h in continuous)} h; targets {targets}")
    try:
        rolled = forecast(model, truth, leads, mode="iterative", step=STEP_H, init_times=inits, variables=targets,
                          damping=damping)
    except RolloutError as err:
        raise SystemExit(f"this checkpoint cannot be rolled out: {err}") from None
    try:
        direct = forecast(reference, truth, continuous, mode="continuous", init_times=inits, variables=targets)
    except LeadTimeError as err:
        raise SystemExit(f"{err}; compare with a lead-conditioned model: --continuous-checkpoint PATH") from None
    return {ROLLOUT: rolled, CONTINUOUS: direct}


def band_ratio(fc: xr.Dataset, truth: xr.Dataset, variable: str, k_min: int = HIGH_K) -> pd.Series:
    """Forecast power over truth power at zonal wavenumbers >= ``k_min``, per lead (hours); inf where not finite.

    A rollout that blew up has no spectrum: its leads count as infinitely far from the truth.
    """
    from climax_nb.viz.spectra import forecast_spectra

    values = fc[variable]
    broken = ~np.isfinite(values).all([d for d in values.dims if d != "lead_time"])
    clean = fc.assign({variable: values.where(np.isfinite(values), 0.0)})
    spectra = forecast_spectra(clean, truth, variable)
    power = spectra.isel(wavenumber=slice(k_min, None)).sum("wavenumber")
    ratio = (power["forecast"] / power["truth"]).where(~broken.sel(lead_time=power["lead_time"]), np.inf)
    hours = ratio["lead_time"].values / np.timedelta64(1, "h")
    return pd.Series(ratio.values, index=hours.round(3))


def spectra_table(forecasts: dict[str, xr.Dataset], truth: xr.Dataset) -> pd.DataFrame:
    """Rows (variable, mode, lead_h, power_ratio, within_target); the target applies to the rollout up to 10 days."""
    rows = []
    for mode, fc in forecasts.items():
        for var in fc.data_vars:
            for lead, ratio in band_ratio(fc, truth, str(var)).items():
                judged = mode == ROLLOUT and lead <= POWER_UNTIL_H
                ok = 1.0 / POWER_FACTOR <= ratio <= POWER_FACTOR
                rows.append({"variable": str(var), "mode": mode, "lead_h": lead, "power_ratio": float(ratio),
                             "within_target": ("pass" if ok else "FAIL") if judged else "-"})
    return pd.DataFrame(rows)


def rmse_table(forecasts: dict[str, xr.Dataset], truth: xr.Dataset) -> pd.DataFrame:
    """RMSE of the rollout, the continuous model and persistence at the continuous leads; the target at 120 h."""
    from climax_nb.evaluate import score

    leads = forecasts[CONTINUOUS]["lead_time"].values
    scored = {ROLLOUT: forecasts[ROLLOUT].sel(lead_time=leads), CONTINUOUS: forecasts[CONTINUOUS]}
    card = score(scored, truth, None, baselines=["persistence"], metrics=["rmse"]).sel(metric="rmse")
    rows = []
    for var in card.data_vars:
        for lead in card["lead_time"].values:
            at = card[var].sel(lead_time=lead)
            hours = float(lead / np.timedelta64(1, "h"))
            values = {str(m): float(at.sel(model=m)) for m in at["model"].values}
            excess = values[ROLLOUT] / values[CONTINUOUS] - 1
            judged = np.isclose(hours, RMSE_LEAD_H)
            rows.append({"variable": str(var), "lead_h": hours, **values,
                         "rollout_vs_continuous_pct": 100 * excess,
                         "within_target": ("pass" if excess <= RMSE_TOLERANCE else "FAIL") if judged else "-"})
    return pd.DataFrame(rows)


def markdown(frame: pd.DataFrame, digits: int = 4) -> str:
    """``frame`` as a Markdown table, floats to ``digits`` significant digits (no extra dependency)."""
    def cell(value: object) -> str:
        return f"{value:.{digits}g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def verdicts(spectra: pd.DataFrame, rmse: pd.DataFrame) -> list[str]:
    """One line per target: pass, or the rows that fail it."""
    judged = spectra[spectra["within_target"] != "-"]
    fails = judged[judged["within_target"] == "FAIL"]
    if judged.empty:
        power = "no rows to judge"
    elif fails.empty:
        power = "pass"
    else:
        parts = []
        for var, rows in fails.groupby("variable", sort=False):
            worst = rows.iloc[int(np.argmax(np.abs(np.log(rows["power_ratio"].to_numpy()))))]
            total = int((judged["variable"] == var).sum())
            parts.append(f"{var} {len(rows)} of {total} leads outside (worst {worst.power_ratio:.3g} at "
                         f"{worst.lead_h:g} h)")
        power = "FAIL: " + "; ".join(parts)
    at = rmse[rmse["within_target"] != "-"]
    error = ", ".join(f"{r.variable} {r.rollout_vs_continuous_pct:+.1f} % {r.within_target}" for r in at.itertuples())
    return [
        f"(a) power at k >= {HIGH_K} within x{POWER_FACTOR:g} of the truth at every lead to {POWER_UNTIL_H:g} h: "
        f"{power}",
        f"(b) rollout RMSE at {RMSE_LEAD_H:g} h at most {100 * RMSE_TOLERANCE:g} % above the continuous model's: "
        f"{error or f'no {RMSE_LEAD_H:g} h lead in these data'}",
    ]


def report(spectra: pd.DataFrame, rmse: pd.DataFrame, note: str = "") -> str:
    """Both tables as markdown, with the verdicts."""
    wide = spectra.pivot_table(index=["mode", "lead_h"], columns="variable", values="power_ratio", sort=False)
    power, error = verdicts(spectra, rmse)
    return "\n".join([
        "# Rollout stability", "", note, "",
        f"## Forecast / truth zonal power at wavenumbers >= {HIGH_K}", "",
        "Area-weighted over all latitudes and averaged over initial times; 1 is the truth's power, above it added "
        "small-scale noise, below it blurring.", "",
        markdown(wide.reset_index()), "", power, "",
        "## RMSE (WeatherBench 2, latitude-weighted, physical units)", "",
        markdown(rmse), "", error, "",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="an exported model (default: the main job's fine-tuned model, trained if not cached)")
    parser.add_argument("--continuous-checkpoint", type=Path, default=None,
                        help="the lead-conditioned model to compare with (default: --checkpoint itself)")
    parser.add_argument("--data", default="embedded/reanalysis", help="the truth: embedded/<name> or a dataset path")
    parser.add_argument("--year", type=int, default=REANALYSIS_TEST[0], help="the year to forecast (a test year)")
    parser.add_argument("--every-days", type=float, default=7.0, help="days between initial times")
    parser.add_argument("--days", type=int, default=None, help="only the first days of the year (a quick check)")
    parser.add_argument("--hyperdiffusion", type=float, default=None,
                        help="damp each rollout step: e-folding hours at the highest zonal wavenumber (e.g. 3)")
    parser.add_argument("--hyperdiffusion-order", type=int, default=8, help="power of the wavenumber (8: del^8)")
    parser.add_argument("--out", type=Path, default=Path("outputs/rollout_stability"), help="folder for the tables")
    parser.add_argument("--from-results", action="store_true", help="print the saved tables of --out again")
    args = parser.parse_args(argv)
    if not args.from_results:
        from climax_nb import runs
        from climax_nb.data.open import open_source

        checkpoint = args.checkpoint or runs.trained("finetune", runs.Setting())
        truth = open_source(args.data, years=[args.year])
        if args.days is not None:
            truth = truth.sel(time=slice(None, truth["time"].values[0] + np.timedelta64(args.days, "D")))
        damping = None if args.hyperdiffusion is None else ZonalHyperdiffusion(args.hyperdiffusion,
                                                                                args.hyperdiffusion_order)
        forecasts = make_forecasts(checkpoint, truth, args.every_days, args.continuous_checkpoint, damping)
        args.out.mkdir(parents=True, exist_ok=True)
        spectra_table(forecasts, truth).to_csv(args.out / SPECTRA, index=False)
        rmse_table(forecasts, truth).to_csv(args.out / RMSE, index=False)
        inits = forecasts[ROLLOUT]["init_time"].values
        meta = {**{k: str(v) for k, v in vars(args).items()}, "checkpoint": str(checkpoint),
                "damping": str(damping) if damping is not None else "none",
                "init_times": len(inits), "first_init": str(inits[0]), "last_init": str(inits[-1])}
        (args.out / "command.json").write_text(json.dumps(meta, indent=1))
    meta = json.loads((args.out / "command.json").read_text()) if (args.out / "command.json").is_file() else {}
    reference = meta.get("continuous_checkpoint", "None")
    compared = "" if reference in ("None", "") else f" (continuous: {reference})"
    damped = meta.get("damping", "none")
    compared += "" if damped == "none" else f"; rollout damped by {damped}"
    note = (f"Checkpoint {meta.get('checkpoint', '?')}{compared}; "
            f"truth {meta.get('data', '?')} {meta.get('year', '?')}, "
            f"{meta.get('init_times', '?')} initial times every {meta.get('every_days', '?')} days "
            f"({meta.get('first_init', '?')} to {meta.get('last_init', '?')}).")
    text = report(pd.read_csv(args.out / SPECTRA), pd.read_csv(args.out / RMSE), note)
    (args.out / REPORT).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
