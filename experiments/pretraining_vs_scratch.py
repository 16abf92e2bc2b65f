"""Does pretraining on heterogeneous simulations make a better forecaster? ClimaX's central claim.

Pretrain the compact model on the three embedded pretraining sources, fine-tune it
on the reanalysis's training years, and compare it with the same model fine-tuned
from random weights with the same budget (steps, data, seed), at 1, 3 and 5 days
on the reanalysis's test year (2003), with RMSE and ACC against persistence and
climatology.

    python experiments/pretraining_vs_scratch.py --out outputs/experiment --seeds 0 1
    python experiments/pretraining_vs_scratch.py --out outputs/experiment --from-results   # tables again

The difference scratch - pretrained is paired by seed, with a 95 % Student-t interval
over seeds (``climax_nb.experiments``, as the other experiments). These are the main
job's full budgets (``climax_nb.runs``); ``experiments/data_fraction.py`` repeats the
comparison at a short budget on fractions of the training years.

``--steps-scale`` and ``--days`` shrink the budgets and the data to check the
path in minutes (the numbers are then meaningless).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from climax_nb import workflow
from climax_nb.evaluate import markdown_scores
from climax_nb.experiments import paired_differences
from climax_nb.runs import Setting

LEADS_H = (24, 72, 120)
TARGETS = ("z500", "t850", "t2m", "u10")


def run_seed(out: Path, seed: int, steps_scale: float, days: int | None) -> xr.Dataset:
    """Scores of the pretrained and the scratch model for one seed, as one scorecard."""
    cards = {}
    for from_scratch in (False, True):
        tag = "scratch" if from_scratch else "pretrained"
        setting = Setting(days, steps_scale, seed)  # the main job's runs (cached) for the same setting
        _, ckpt = workflow.pretrain_then_finetune(setting, from_scratch=from_scratch)
        card = workflow.forecast_and_score(ckpt, out / f"seed{seed}" / tag, days=days,  # the two arms only
                                           leads=tuple(float(h) for h in LEADS_H), gcm_rows=False)
        cards[tag] = card.assign_coords(model=[tag if m == "model" else m for m in card["model"].values])
    baselines = cards["scratch"].sel(model=["persistence", "climatology"])
    return xr.concat([cards["pretrained"].sel(model=["pretrained"]), cards["scratch"].sel(model=["scratch"]),
                      baselines], "model")


def _spread(a: xr.DataArray) -> str:
    """Mean over seeds, with the range when there are several."""
    text = f"{float(a.mean()):.4g}"
    return text + (f" ({float(a.min()):.4g}-{float(a.max()):.4g})" if a.size > 1 else "")


def comparison_table(card: xr.Dataset) -> str:
    """RMSE of both arms (mean and range over seeds) beside the baselines, per target and lead.

    The difference scratch - pretrained is paired by seed (``climax_nb.experiments.paired_differences``),
    with its 95 % Student-t interval over seeds when there are several.
    """
    rmse = card.sel(metric="rmse")
    targets = [v for v in TARGETS if v in card.data_vars]
    frame = pd.concat([rmse[v].to_series().rename("rmse").reset_index().assign(variable=v) for v in targets])
    frame["lead_h"] = (pd.to_timedelta(frame["lead_time"]) / pd.Timedelta(hours=1)).astype(int)
    paired = paired_differences(frame, column="model", reference="pretrained", other="scratch",
                                by=["variable", "lead_h"]).set_index(["variable", "lead_h"])
    rows = ["| variable | lead | pretrained | scratch | scratch - pretrained [95 % t-interval] | pretrained better in "
            "| persistence | climatology |", "|---|---|---|---|---|---|---|---|"]
    for var in targets:
        for lead in rmse["lead_time"].values:
            arm = {m: rmse[var].sel(model=m, lead_time=lead) for m in rmse["model"].values}
            hours = int(lead / np.timedelta64(1, "h"))
            row = paired.loc[(var, hours)]
            diff = f"{row['diff']:+.3g}" + (f" [{row['low']:+.3g}, {row['high']:+.3g}]" if row["n"] > 1 else "")
            better = f"{int(row['reference_better'])}/{int(row['n'])} seeds"
            base = " | ".join(f"{float(arm[m].mean()):.4g}" for m in ("persistence", "climatology"))
            rows.append(f"| {var} | {hours} h | {_spread(arm['pretrained'])} | {_spread(arm['scratch'])} | {diff} "
                        f"| {better} | {base} |")
    return "\n".join(rows)


def all_variables_line(card: xr.Dataset) -> str:
    """How often the pretrained arm's mean RMSE is the lower, over every variable and lead both arms forecast."""
    rmse = card.sel(metric="rmse").mean("seed")
    names = [v for v in rmse.data_vars if bool(np.isfinite(rmse[v].sel(model=["pretrained", "scratch"])).all())]
    lower = sum(int((rmse[v].sel(model="pretrained") < rmse[v].sel(model="scratch")).sum()) for v in names)
    leads = rmse.sizes["lead_time"]
    return f"over all {len(names)} variables and {leads} leads: pretrained lower in {lower} of {len(names) * leads}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="outputs/experiment", help="folder for runs and results")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (each runs both arms)")
    parser.add_argument("--steps-scale", type=float, default=1.0, help="scale of the training budgets")
    parser.add_argument("--days", type=int, default=None, help="embedded days (default: the full years)")
    parser.add_argument("--from-results", action="store_true",
                        help="print the tables of a finished run in --out without training again")
    args = parser.parse_args()
    out = Path(args.out)
    if args.from_results:
        card = xr.load_dataset(out / "pretrained_vs_scratch.nc")
    else:
        cards = [run_seed(out, s, args.steps_scale, args.days).expand_dims(seed=[s]) for s in args.seeds]
        card = xr.concat(cards, "seed")
        card.to_netcdf(out / "pretrained_vs_scratch.nc")
    seeds = card["seed"].values.tolist()
    mean = card.mean("seed")[[v for v in TARGETS if v in card.data_vars]]
    text = (f"RMSE on the test year, seeds {seeds}: mean (min-max)\n\n{comparison_table(card)}\n\n"
            f"{all_variables_line(card)}\n\nmean over seeds\n\n{markdown_scores(mean)}")
    (out / "pretrained_vs_scratch.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
