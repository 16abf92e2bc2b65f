"""Climate projection (ClimaX paper section 4.3, ClimateBench) at this scale: forcing maps to yearly statistics.

The embedded GCM runs one year under each of seven forcings (``climax_nb.data.embedded.configs.SCENARIOS``:
control, CO2 halved and doubled, SST +2 K, an east-Pacific and a north-south SST pattern, and the
held-out "mid": CO2 540 ppmv with SST +1 K), three initial-condition members each. Each run-year is
one sample: forcing maps (co2, sst_anomaly) in; t2m, pr and pr90 (ClimateBench's targets but the diurnal
range, which a GCM without a diurnal cycle does not have) out.
Trained on the six training scenarios, scored on "mid":

- ``finetuned``: the main job's pretrained compact model fine-tuned (``projection-compact.yaml``);
- ``frozen``: the same with its ViT blocks frozen (the paper's ClimaX-frozen);
- ``scratch``: the same model from random weights;
- ``pattern_scaling``: each cell linear in the global-mean temperature, itself linear in the global
  forcings (ClimateBench's simplest baseline); ``linear_regression``: each cell linear in the global
  forcings and its own SST anomaly;
- ``other_member``: another member of the test scenario, the floor internal variability sets
  (scored against single runs only).

ClimateBench's NRMSE (spatial, global and total = spatial + 5 global) of each, against every single
test run (mean over the members) and against the members' mean, as Lutjens et al. (2024) ask.

    python experiments/climate_projection.py --seeds 0       # simulates the 21 runs first, side by side
    python experiments/climate_projection.py --from-results  # the report again, nothing trained

``--days 4 --period D --members 1 --scenarios control co2-double mid`` checks the path in minutes
(daily periods of four-day runs: the numbers then mean nothing).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import xarray as xr

from climax_nb.experiments import cli, reports

NAME = "climate_projection"


def truths(test: xr.Dataset) -> dict[str, list[tuple[list[int], xr.Dataset]]]:
    """Per kind of truth, (positions of the samples it scores, truth): ``single`` each member's run, ``ensemble
    mean`` the members' mean (on the first member's samples: every member has the same forcing)."""
    members = sorted({int(m) for m in test["member"].values})
    positions = [[int(i) for i in (test["member"].values == m).nonzero()[0]] for m in members]
    single = [test.isel(time=p) for p in positions]
    labels = ["member", "scenario", "period"]
    mean = sum(s.drop_vars(["time", *labels]) for s in single) / len(single)
    return {"single": list(zip(positions, single, strict=True)),
            "ensemble mean": [(positions[0], mean.assign_coords(time=single[0]["time"]))]}


def score_rows(predictions: dict[str, xr.Dataset | list[xr.Dataset]], test: xr.Dataset,
               variables: Sequence[str]) -> list[dict]:
    """NRMSE of every arm against each single run (averaged over them) and the ensemble mean, per variable.

    A list of predictions (``other_member``) gives one per single run, in member order, and no ensemble-mean score.
    """
    from climax_nb.metrics.climatebench import climatebench_scores

    rows = []
    for truth_kind, cases in truths(test).items():
        for arm, pred in predictions.items():
            if isinstance(pred, list) and truth_kind != "single":
                continue
            per_case = [climatebench_scores(pred[k] if isinstance(pred, list) else pred.isel(time=where), truth,
                                            variables) for k, (where, truth) in enumerate(cases)]
            for var in variables:
                mean = {m: sum(c[var][m] for c in per_case) / len(per_case)
                        for m in ("nrmse_spatial", "nrmse_global", "nrmse_total")}
                rows.append({"arm": arm, "truth": truth_kind, "variable": var, "cases": len(per_case), **mean})
    return rows


def other_members(test: xr.Dataset) -> list[xr.Dataset]:
    """For each member, the next member's samples: what one run says of another under the same forcing."""
    single = [truth for _, truth in truths(test)["single"]]
    return [single[(k + 1) % len(single)] for k in range(len(single))]


def make(args: argparse.Namespace) -> pd.DataFrame:
    """Train the three ClimaX arms for every seed; score them, the baselines and another member on "mid"."""
    from climax_nb.baselines import linear_regression, pattern_scaling
    from climax_nb.data.climate import PROJECTION_TARGETS, open_scenario_splits, scenario_sources
    from climax_nb.experiments import training
    from climax_nb.forecast.projection import as_samples, project

    init, sets = cli.pretrained(args), cli.overrides(args)
    sets = {"data.projection": args.period, **sets}
    train_sources = scenario_sources(False, args.members, args.scenarios)
    train, test = open_scenario_splits(args.members, args.scenarios, args.days, args.period)
    variables = list(PROJECTION_TARGETS)
    baselines = {"pattern_scaling": pattern_scaling(train, test, variables),
                 "linear_regression": linear_regression(train, test, variables)}
    rows = []
    for seed in args.seeds:
        def config(start: Path | None, freeze: bool = False, seed: int = seed):
            return training.projection_config(steps=args.steps, seed=seed, init=start, freeze=freeze,
                                              sources=train_sources, days=args.days, overrides=sets)

        arms = {"finetuned": training.trained(f"projection-seed{seed}", config(init)),
                "frozen": training.trained(f"projection-frozen-seed{seed}", config(init, True)),
                "scratch": training.trained(f"projection-scratch-seed{seed}", config(None))}
        predictions = {arm: as_samples(project(path, test)) for arm, path in arms.items()}
        predictions = {**predictions, **baselines, "other_member": other_members(test)}
        for row in score_rows(predictions, test, variables):
            path = arms.get(row["arm"])
            budget = {"steps": training.steps_of(path), "train_s": training.train_seconds(path)} if path else {
                "steps": 0, "train_s": 0.0}
            rows.append({"seed": seed, "train_samples": train.sizes["time"], "test_samples": test.sizes["time"],
                         **row, **budget})
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    p = cli.parser(__doc__, seeds=(0,), steps=1500)
    cli.add_pretrained(p)
    p.add_argument("--period", default="YS", help="pandas offset of one sample's period (default: %(default)s)")
    p.add_argument("--members", type=int, default=None, help="members per scenario (default: all three)")
    p.add_argument("--scenarios", nargs="+", default=None, help="scenarios to use (default: all seven)")
    return cli.main(NAME, "experiments/climate_projection.py", p, make, reports.climate_projection, argv)


if __name__ == "__main__":
    main()
