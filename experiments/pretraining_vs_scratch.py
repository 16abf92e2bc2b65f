"""Does pretraining on heterogeneous simulations make a better forecaster? ClimaX's central claim.

Pretrain the compact model on the three embedded pretraining sources, fine-tune it
on the reanalysis's training years, and compare it with the same model fine-tuned
from random weights with the same budget (steps, data, seed), at 1, 3 and 5 days
on the reanalysis's test year (2003), with RMSE and ACC against persistence and
climatology.

    python experiments/pretraining_vs_scratch.py --out outputs/experiment --seeds 0 1
    python experiments/pretraining_vs_scratch.py --out outputs/experiment --from-results   # tables again

``--steps-scale`` and ``--days`` shrink the budgets and the data to check the
path in minutes (the numbers are then meaningless).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import xarray as xr

from climax_nb import workflow
from climax_nb.evaluate import markdown_scores
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
    """RMSE of both arms (mean and range over seeds) beside the baselines, per target and lead."""
    rmse = card.sel(metric="rmse")
    rows = ["| variable | lead | pretrained | scratch | scratch - pretrained | pretrained better in | persistence "
            "| climatology |", "|---|---|---|---|---|---|---|---|"]
    nseeds = card.sizes["seed"]
    for var in (v for v in TARGETS if v in card.data_vars):
        for lead in rmse["lead_time"].values:
            arm = {m: rmse[var].sel(model=m, lead_time=lead) for m in rmse["model"].values}
            pre, scr = arm["pretrained"], arm["scratch"]

            better = int((pre < scr).sum())
            hours = int(lead / np.timedelta64(1, "h"))
            rows.append(f"| {var} | {hours} h | {_spread(pre)} | {_spread(scr)} | {float((scr - pre).mean()):+.3g} "
                        f"| {better}/{nseeds} seeds | {float(arm['persistence'].mean()):.4g} "
                        f"| {float(arm['climatology'].mean()):.4g} |")
    return "\n".join(rows)


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
            f"mean over seeds\n\n{markdown_scores(mean)}")
    (out / "pretrained_vs_scratch.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
