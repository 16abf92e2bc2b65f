"""What a damped base can reach by itself: damped-anomaly forecasts about a fixed or a seasonal mean.

A residual model with ``model.residual_damping`` forecasts ``m + keep(lead) (x - m)`` before its
head adds anything. This script fits that base on the training years, with ``m`` the annual
mean of each cell (``fixed``, what ``residual_damping`` alone learns) or an annual cycle of
``--harmonics`` harmonics per cell taken at the valid time (``seasonal-K``, what
``model.seasonal_harmonics K`` learns), and ``keep`` the least-squares factor per variable and
lead; then it scores these forecasts on the test year beside persistence, climatology and the
harmonic cycle itself (``cycle-K``) with ``climax_nb.evaluate.score`` (RMSE, ACC against the
training years' climatology), from the main job's daily initial times. Nothing is fitted on the
test year.

    python experiments/damped_anomaly.py --harmonics 1 2 3 4 --out outputs/damped_anomaly
    python experiments/damped_anomaly.py --out outputs/damped_anomaly --from-results
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import xarray as xr

from climax_nb.baselines import forecast_axes
from climax_nb.data.climatology import climatology
from climax_nb.data.embedded import get_config, open_source
from climax_nb.evaluate import initial_times, score
from climax_nb.model.climax import DAYS_PER_YEAR, NANOSECONDS_PER_DAY
from climax_nb.scorecard import lead_tables, load_scored_run, save_scored_run

TARGETS = ("z500", "t850", "t2m", "u10")


def annual_design(times: np.ndarray, harmonics: int) -> np.ndarray:
    """[T, 1 + 2K]: a constant and the cos, sin of each annual harmonic, with the phase the model uses."""
    days = np.asarray(times, dtype="datetime64[ns]").astype(np.int64) / NANOSECONDS_PER_DAY
    angle = 2 * np.pi * np.mod(days / DAYS_PER_YEAR, 1.0)
    columns = [np.ones_like(angle)]
    for k in range(1, harmonics + 1):
        columns += [np.cos(k * angle), np.sin(k * angle)]
    return np.stack(columns, axis=1)


class MeanField:
    """A per-cell mean field fitted by least squares on training fields [T, H, W]: fixed (0 harmonics) or seasonal."""

    def __init__(self, train: xr.DataArray, harmonics: int):
        self.harmonics = harmonics
        design = annual_design(train["time"].values, harmonics)
        values = train.values.reshape(len(design), -1).astype(np.float64)
        self.coef = np.linalg.lstsq(design, values, rcond=None)[0]
        self.shape = train.shape[1:]

    def at(self, times: np.ndarray) -> np.ndarray:
        return (annual_design(times, self.harmonics) @ self.coef).reshape(len(times), *self.shape)


def keep_factor(train: xr.DataArray, mean: MeanField, lead_hours: float, weights: np.ndarray) -> float:
    """The least-squares ``keep`` of ``m(valid) + keep (x - m(valid))`` on the training pairs ``lead_hours`` apart."""
    times = train["time"].values
    later = times + np.timedelta64(int(round(lead_hours * 3600)), "s")
    ok = np.isin(later, times)
    x, y = train.sel(time=times[ok]).values, train.sel(time=later[ok]).values
    m = mean.at(later[ok])
    a, b = (x - m) * weights, (y - m) * weights
    return float((a * b).sum() / (a * a).sum())


def damped_forecasts(train: xr.Dataset, truth: xr.Dataset, inits: np.ndarray, leads: list[float],
                     harmonics: list[int]) -> tuple[dict[str, xr.Dataset], dict[str, dict[str, list[float]]]]:
    """``{name: forecast}`` of the damped-anomaly bases and the harmonic cycles, and the fitted keep factors."""
    frame = forecast_axes(inits, leads)
    weights = np.cos(np.deg2rad(train["lat"].values))[:, None]
    out: dict[str, dict[str, xr.DataArray]] = {}
    keeps: dict[str, dict[str, list[float]]] = {}
    valid = frame["valid_time"].values.reshape(-1)
    for k in [0, *harmonics]:
        damped = "fixed" if k == 0 else f"seasonal-{k}"
        for var in TARGETS:
            mean = MeanField(train[var], k)
            factors = [keep_factor(train[var], mean, h, weights) for h in leads]
            keeps.setdefault(damped, {})[var] = [round(f, 3) for f in factors]
            x = truth[var].sel(time=inits).values[:, None]
            m = mean.at(valid).reshape(len(inits), len(leads), *mean.shape)
            base = m + np.asarray(factors)[None, :, None, None] * (x - m)
            dims = ("init_time", "lead_time", "lat", "lon")
            out.setdefault(damped, {})[var] = xr.DataArray(base.astype(np.float32), dims=dims)
            if k:
                out.setdefault(f"cycle-{k}", {})[var] = xr.DataArray(m.astype(np.float32), dims=dims)
    coords = {"lat": truth["lat"], "lon": truth["lon"]}
    return {name: frame.assign(fields).assign_coords(coords) for name, fields in out.items()}, keeps


def run(args: argparse.Namespace, out: Path) -> tuple[xr.Dataset, dict]:
    config = get_config(args.source)
    train_years = tuple(args.train_years or config.split_years("train"))
    train = open_source(config, years=train_years)[list(TARGETS)].load()
    truth = open_source(config, years=[args.year])[list(TARGETS)].load()
    leads = sorted(set(args.leads))
    inits = initial_times(truth, max(leads), every_hours=24.0)
    forecasts, keeps = damped_forecasts(train, truth, inits, leads, sorted(set(args.harmonics)))
    clim = climatology(train, years=train_years, variables=list(TARGETS))
    card = score(forecasts, truth, clim, baselines=("persistence", "climatology"), metrics=("rmse", "acc"),
                 variables=list(TARGETS))
    info = {"source": f"embedded/{config.name}", "year": args.year, "initial_times": len(inits),
            "train_years": list(train_years), "leads_h": leads, "keep": keeps}
    save_scored_run(out, card, info)
    return card, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="reanalysis", help="embedded source")
    parser.add_argument("--year", type=int, default=2003, help="test year of the initial times")
    parser.add_argument("--train-years", type=int, nargs="+", default=None,
                        help="years the mean fields, keep factors and climatology are fitted on (default: training)")
    parser.add_argument("--harmonics", type=int, nargs="+", default=[1, 2, 3, 4], help="annual harmonics to compare")
    parser.add_argument("--leads", type=float, nargs="+", default=[6, 24, 72, 120], help="lead times (hours)")
    parser.add_argument("--out", default="outputs/damped_anomaly", help="folder for the scores")
    parser.add_argument("--from-results", action="store_true", help="print the tables of a finished run in --out")
    args = parser.parse_args()
    if min(args.harmonics) < 1:
        parser.error(f"--harmonics are counts of 1 or more, got {args.harmonics} (the fixed mean is always scored)")
    out = Path(args.out)
    if args.from_results:
        card, info = load_scored_run(out)
    else:
        card, info = run(args, out)
    keeps = "\n".join(f"keep {name} {var}: {values}"
                      for name, per in info["keep"].items() for var, values in per.items())
    text = (f"{info['source']}: {info['initial_times']} daily initial times of {info['year']}; mean fields, keep "
            f"factors and climatology from {info['train_years']}; leads {info['leads_h']} h\n\n"
            f"{lead_tables(card, TARGETS)}\n\n{keeps}\n")
    (out / "scores.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
