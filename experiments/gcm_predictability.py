"""The limit, measured: the embedded GCM's own forecasts of its reanalysis, scored like every other forecast.

The ``reanalysis`` source is one run of the T21 SPEEDY GCM. Two forecasts of it from initial
times every ``--every-days`` days of ``--year`` (``climax_nb.data.embedded.predictability``):

- ``gcm-twin``: the same GCM from the reanalysis's own model state, perturbed by
  ``--perturbation`` K of seeded temperature noise: a perfect-model twin, whose error growth is
  the intrinsic predictability of this model world;
- ``gcm-analysis``: the same GCM from the 5.625 degree pressure-level analysis (the data's own
  32x64 fields), WeatherBench's "IFS" row of this world.

Both are written with ``climax_nb.forecast.save_forecast`` to ``--out`` and scored with
``climax_nb.evaluate.score`` beside persistence and climatology (RMSE, and ACC against a
climatology of the training years), at every lead, for z500, t850, t2m and u10.

    python experiments/gcm_predictability.py --year 2003 --every-days 7 --out outputs/gcm_predictability
    python experiments/gcm_predictability.py --out outputs/gcm_predictability --from-results   # the table again

The twin re-runs the source from its start (60 days of spin-up and three years before 2003)
before its first forecast; each forecast then runs ``max(--leads)``. The command above (51
initial times, leads to 10 days) took 9 minutes on 2 cores shared with a training job, and
peaked at 2.3 GB; the measured tables are in docs/embedded.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import xarray as xr

from climax_nb.data.climatology import climatology
from climax_nb.data.embedded import get_config, open_source
from climax_nb.data.embedded.predictability import (
    DEFAULT_LEADS_H,
    DEFAULT_PERTURBATION_K,
    KINDS,
    gcm_forecast_pair,
)
from climax_nb.evaluate import check_out_of_sample, initial_times, score
from climax_nb.forecast import save_forecast
from climax_nb.scorecard import lead_tables, load_scored_run, save_scored_run

TARGETS = ("z500", "t850", "t2m", "u10")
MODELS = (*KINDS.values(), "persistence", "climatology")


def run(args: argparse.Namespace, out: Path) -> tuple[xr.Dataset, dict]:
    config = get_config(args.source)
    truth = open_source(config, years=[args.year])
    leads = sorted(set(args.leads))
    inits = initial_times(truth, max(leads), every_hours=24.0 * args.every_days)
    clim_years = tuple(args.clim_years or config.split_years("train"))
    start = time.perf_counter()
    forecasts = gcm_forecast_pair(inits, leads, source=config, perturbation=args.perturbation, seed=args.seed)
    gcm_seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    for name, fc in forecasts.items():
        save_forecast(fc, out / f"{name}.nc", overwrite=True)
    clim = None
    try:
        check_out_of_sample(forecasts["gcm-twin"], clim_years)
        clim = climatology(open_source(config, years=clim_years), years=clim_years, variables=list(TARGETS))
    except ValueError as err:
        print(f"no ACC and no climatology baseline: {err}")
    baselines = ("persistence", "climatology") if clim is not None else ("persistence",)
    metrics = ("rmse", "acc") if clim is not None else ("rmse",)
    card = score(forecasts, truth, clim, baselines=baselines, metrics=metrics, variables=list(TARGETS))
    info = {
        "source": f"embedded/{config.name}",
        "year": args.year,
        "initial_times": len(inits),
        "first_initial_time": str(inits[0]),
        "last_initial_time": str(inits[-1]),
        "every_days": args.every_days,
        "leads_h": leads,
        "perturbation_K": args.perturbation,
        "seed": args.seed,
        "climatology_years": list(clim_years) if clim is not None else [],
        "rerun_check": forecasts["gcm-twin"].attrs.get("rerun_check", ""),
        "gcm_wall_s": round(gcm_seconds, 1),
        "total_wall_s": round(time.perf_counter() - start, 1),
    }
    save_scored_run(out, card, info)
    return card, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="reanalysis", help="embedded source whose world is forecast")
    parser.add_argument("--year", type=int, default=2003, help="year of the initial times (default: the test year)")
    parser.add_argument("--every-days", type=float, default=7.0, help="days between initial times")
    parser.add_argument("--leads", type=float, nargs="+", default=list(DEFAULT_LEADS_H), help="lead times (hours)")
    parser.add_argument("--perturbation", type=float, default=DEFAULT_PERTURBATION_K,
                        help="RMS of the twin's initial temperature perturbation (K)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the twin's perturbations")
    parser.add_argument("--clim-years", type=int, nargs="+", default=None,
                        help="climatology years for ACC and the climatology baseline (default: the training years)")
    parser.add_argument("--out", default="outputs/gcm_predictability", help="folder for the forecasts and scores")
    parser.add_argument("--from-results", action="store_true",
                        help="print the tables of a finished run in --out without running the GCM again")
    args = parser.parse_args()
    out = Path(args.out)
    if args.from_results:
        card, info = load_scored_run(out)
    else:
        card, info = run(args, out)
    text = (f"{info['source']}: {info['initial_times']} initial times every {info['every_days']:g} days of "
            f"{info['year']} ({info['first_initial_time'][:13]} to {info['last_initial_time'][:13]}); "
            f"twin perturbation {info['perturbation_K']:g} K RMS (seed {info['seed']}); "
            f"climatology years {info['climatology_years']}\n{info['rerun_check']}\n"
            f"GCM forecasts {info['gcm_wall_s']:.0f} s, with scoring {info['total_wall_s']:.0f} s\n\n"
            f"{lead_tables(card, TARGETS, MODELS)}\n")
    (out / "scores.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
