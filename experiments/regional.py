"""Regional forecasting (ClimaX paper section 4.2.2) at this scale: fine-tuned on one box's tokens, scored on the box.

For each box (default North America, ClimaX's 15-65 N, 220-300 E; any box in degrees with
``--regions 'lat_min,lat_max,lon_west,lon_east'``, across 0 deg too, e.g. ``'30,65,-25,40'``)
and each seed, four forecasts of the box are scored on the test year 2003 at 6, 24, 72 and
120 h (RMSE of z500, t850, t2m, u10, on the box's cells with the box's own area weights),
beside persistence and climatology on the same cells and initial times (every 72 h):

- ``regional``: the main job's pretrained model fine-tuned on the box's tokens only
  (``--model.region``: the network reads the whole grid, aggregates and transforms the box's
  patches alone, and is trained on the box's cells), ``--steps`` steps;
- ``scratch``: the same regional model from random weights (same budget, data order and seed);
- ``global``: the main job's global fine-tuned model (3600 steps), its forecast cut to the box;
- ``global-short``: the global model fine-tuned from the same pretrained weights with the same
  ``--steps`` (the ablations' all-variable run, shared with them), cut to the box: the
  comparison at equal budget (``--no-global-short`` leaves it out).

Every model predicts every dynamic input (the packaged ClimaX-all-vars fine-tuning) over leads
6 h to 7 days, batch 16, learning rate 0.002, patches of 4; a box keeps the patches lying wholly
inside it (North America: 2 x 3 patches of 4 x 4 cells, 25.3-64.7 N, 225.0-286.9 E).

    python experiments/regional.py --seeds 0 1                  # 4 regional runs of 300 steps, on 2 cores
    python experiments/regional.py --from-results               # the report again, nothing trained

Short-budget comparisons, like the other experiments: the regional models train ``--steps``
(default 300) steps, a twelfth of the main job's global fine-tuning, which ``global`` had in full.
Differences are paired by seed (``global`` is one model, the same in every seed), with a 95 %
Student-t interval over seeds.

``--days 12 --pretrain-scale 0.01 --steps 4 --seeds 0`` checks the path in minutes
(the numbers are then meaningless); ``--set section.key=value`` changes every run.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from climax_nb.experiments import cli, reports

NAME = "regional"
#: ClimaX's regional box of the paper's table.
REGIONS = ("NorthAmerica",)
#: Scored leads, hours: 6 h to 5 days.
LEADS = (6.0, 24.0, 72.0, 120.0)
#: The leads every model is trained on (the packaged fine-tuning's, as the ablations set them, so the
#: budget-matched global model is the ablations' cached all-variable run).
TRAINED_LEADS = (6.0, 24.0, 72.0, 120.0, 168.0)


def global_model(args: argparse.Namespace) -> Path | None:
    """The global fine-tuned model ``--global`` names (None: 'none')."""
    if args.global_model == "none":
        return None
    if args.global_model != "main":
        path = Path(args.global_model)
        if not path.is_file():
            raise SystemExit(f"--global {path}: no such model file")
        return path
    from climax_nb import runs

    return runs.trained("finetune", runs.Setting(args.days, args.pretrain_scale))


def make(args: argparse.Namespace) -> pd.DataFrame:
    """Train and score every arm for every box and seed; one row per (region, arm, seed, variable, lead)."""
    from climax_nb.experiments import training
    from climax_nb.forecast import open_model
    from climax_nb.model import parse_region

    data, init, sets = cli.reanalysis(args), cli.pretrained(args), cli.overrides(args)
    if init is None:
        raise SystemExit("--pretrained none leaves no pretrained regional arm: give 'main' or a model file")
    boxes = [parse_region(text) for text in args.regions]  # a bad box fails here, before any training
    shipped = global_model(args)
    leads = tuple(args.leads)
    base = {**sets, "data.outputs": None, "data.leads": TRAINED_LEADS}

    def model(name: str, seed: int, start: Path | None, region: str | None) -> Path:
        config = training.finetune_config(data, steps=args.steps, seed=seed, init=start,
                                          overrides={**base, **({"model.region": region} if region else {})})
        return training.trained(name, config)

    rows = []
    for text, box in zip(args.regions, boxes, strict=True):
        label = box.name
        folder = re.sub(r"[^A-Za-z0-9.-]+", "_", label).strip("_")  # box(30,65,-25,40) -> box_30_65_-25_40
        for seed in args.seeds:
            arms = {"regional": model(f"regional-{folder}-seed{seed}", seed, init, text),
                    "scratch": model(f"regional-{folder}-scratch-seed{seed}", seed, None, text)}
            cells = open_model(arms["regional"]).output_grid
            cards = {arm: training.score(path, data, leads=leads, every_hours=args.every_hours)
                     for arm, path in arms.items()}
            if shipped is not None:
                cards["global"] = training.score(shipped, data, leads=leads, every_hours=args.every_hours,
                                                 cells=cells)
                arms["global"] = shipped
            if args.global_short:
                # the ablations' all-variable run (same config, so the same cached model)
                arms["global-short"] = training.trained(f"ablation-all-vars-seed{seed}", training.finetune_config(
                    data, steps=args.steps, seed=seed, init=init, overrides=base))
                cards["global-short"] = training.score(arms["global-short"], data, leads=leads,
                                                       every_hours=args.every_hours, cells=cells)
            for arm, card in cards.items():
                rows += training.score_rows(
                    card, region=label, lat_range=f"{box.lat_range[0]:g},{box.lat_range[1]:g}",
                    lon_range=f"{box.lon_range[0]:g},{box.lon_range[1]:g}", cells=f"{len(cells.lat)}x{len(cells.lon)}",
                    arm=arm, seed=seed, steps=training.steps_of(arms[arm]), train_s=training.train_seconds(arms[arm]))
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    p = cli.parser(__doc__, seeds=(0, 1), steps=300)
    cli.add_pretrained(p)
    p.add_argument("--regions", nargs="+", default=list(REGIONS),
                   help="boxes: ClimaX names (NorthAmerica, Europe, ...) or 'lat_min,lat_max,lon_west,lon_east' in "
                        "degrees, across 0 deg too (default: %(default)s)")
    p.add_argument("--leads", type=float, nargs="+", default=list(LEADS),
                   help="scored leads, hours (default: %(default)s)")
    p.add_argument("--global", dest="global_model", default="main",
                   help="the global model cut to each box: 'main' (the main job's fine-tuned model), a model.pt, "
                        "or 'none'")
    p.add_argument("--no-global-short", dest="global_short", action="store_false",
                   help="leave out the global model fine-tuned with the regional models' budget")
    return cli.main(NAME, "experiments/regional.py", p, make, reports.regional, argv)


if __name__ == "__main__":
    main()
