"""Does pretraining help more with less reanalysis to fine-tune on? Pretrained against scratch by data fraction.

ClimaX claims its pretraining pays most where fine-tuning data are scarce. Each run
fine-tunes the compact model on 1/8, 1/4, 1/2 or all of the reanalysis's training
years (2000-2001), either from the main job's pretrained model
(``climax_nb.runs.trained("pretrain", Setting())``) or from random weights, with the
same budget (steps, batch 16, learning rate and warm-up, seed: the same data order),
and scores it on the test year 2003 at 24, 72 and 120 h (RMSE of z500, t850, t2m,
u10) beside persistence and climatology, from initial times every 72 h.

    python experiments/data_fraction.py --seeds 0 1 2              # 24 runs, about 30 min on 2 idle cores
    python experiments/data_fraction.py --from-results             # the report again, nothing trained

A fraction is ``--windows`` (default 8) contiguous stretches, one at the start of each
quarter of each training year, each holding that fraction of its quarter: contiguous,
because a forecast pair needs its input and every target lead (up to 7 days) inside
the data, and spread, because one contiguous eighth would be a single winter, and the
test year has four seasons. The cost: each stretch loses its last 7 days as initial
times, so 1/8 of the time steps gives about 5 % of the training pairs (the table
says how many each fraction has). Statistics for normalisation come from the
fraction alone; the climatology baseline from both whole training years.

Short-budget comparisons: every run trains ``--steps`` (default 300) steps, a
twelfth of the packaged 3600, where the learning curves are still only a few per
cent below persistence; they say how the arms compare early in fine-tuning, not
what a fully trained model reaches. The difference scratch - pretrained is paired
by seed and given with a 95 % Student-t interval over seeds (n - 1 degrees of
freedom; with 3 seeds that is mean +- 4.30 sd / sqrt(3)), and the count of seeds in
which pretraining gave the lower RMSE; cells where it did not are listed.

``--fresh-base`` starts the pretrained arm's damped base afresh (``model.init_fresh_base``): the
mean field and damping rate it relaxes toward are the pretraining worlds' climate otherwise.

``--days 12 --pretrain-scale 0.01 --steps 4 --seeds 0`` checks the path in minutes
(the numbers are then meaningless); ``--set section.key=value`` changes every run.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import pandas as pd

from climax_nb.experiments import cli, reports

NAME = "data_fraction"
FRACTIONS = (0.125, 0.25, 0.5, 1.0)
ARMS = ("pretrained", "scratch")


def make(args: argparse.Namespace) -> pd.DataFrame:
    """Train and score both arms at every fraction and seed; one row per (run, variable, lead)."""
    from climax_nb.experiments import training

    data, init, sets = cli.reanalysis(args), cli.pretrained(args), cli.overrides(args)
    if init is None:
        raise SystemExit("--pretrained none leaves no pretrained arm: give 'main' or a model file")
    fresh = {"model.init_fresh_base": True} if args.fresh_base else {}
    rows = []
    for fraction in args.fractions:  # outermost: each fraction's data are read into memory once
        for seed in args.seeds:
            for arm in ARMS:
                pretrained = arm == "pretrained"
                config = training.finetune_config(data, steps=args.steps, seed=seed, fraction=fraction,
                                                  windows=args.windows, init=init if pretrained else None,
                                                  overrides={**sets, **fresh} if pretrained else sets)
                model = training.trained(f"finetune-f{fraction:g}-{arm}-seed{seed}", config)
                card = training.score(model, data, every_hours=args.every_hours)
                rows += training.score_rows(card, fraction=fraction, arm=arm, seed=seed,
                                            pairs=training.training_pairs(config),
                                            outputs=" ".join(config.data.outputs or ["all-vars"]),
                                            train_s=training.train_seconds(model))
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    p = cli.parser(__doc__, seeds=(0, 1, 2), steps=300)
    cli.add_pretrained(p)
    p.add_argument("--fractions", type=float, nargs="+", default=list(FRACTIONS),
                   help="fractions of the training years (default: %(default)s)")
    p.add_argument("--windows", type=int, default=8, help="stretches a fraction is spread over (default: 8)")
    p.add_argument("--fresh-base", action="store_true",
                   help="the pretrained arm starts its damped base (mean field, damping rate) afresh "
                        "(--model.init_fresh_base): the pretraining worlds' climate left behind")
    return cli.main(NAME, "experiments/data_fraction.py", p, make, reports.data_fraction, argv)


if __name__ == "__main__":
    main()
