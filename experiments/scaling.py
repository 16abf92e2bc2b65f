"""Scaling (ClimaX paper section 4.5) at this scale: RMSE at 72 h against pretraining steps, for three model widths.

For each embedding width (``--dims``, default 64, 128 and 256: the compact preset is
128 wide and 4 blocks deep; only the width changes, its 4 attention heads divide
each) the compact model is pretrained on the three embedded pretraining sources for
0 (none: fine-tuned from random weights), 100 or 300 steps (``--pretrain-steps``;
each its own run, with the packaged schedule stretched to its length), then
fine-tuned with the same budget (steps, batch 16, learning rate, seed) on the
reanalysis's training years (2000-2001) and scored on the test year 2003 at 24, 72
and 120 h beside persistence and climatology, from initial times every 72 h. The
report is at ``--lead`` (default 72 h). The 128-wide model pretrained 300 steps is
the main job's pretrained model, and its fine-tuning (and the scratch one) that of
``data_fraction.py`` at the whole data: whichever runs first trains them.

    python experiments/scaling.py --seeds 0              # 4 pretrainings + 9 fine-tunings, about 20-24 min
    python experiments/scaling.py --from-results         # the report again, nothing trained

Short-budget comparisons: 300 pretraining steps are the packaged budget, 100 a
third of it, and each fine-tuning trains ``--steps`` (default 300), a twelfth of the
packaged 3600, where the learning curves are still only a few per cent below
persistence; wider models may need longer to pay off than this budget gives. One
seed by default (a point is one run); with several seeds the gain over no
pretraining is paired by seed with a 95 % Student-t interval.

``--days 12 --steps 4 --pretrain-steps 0 2 --dims 64 --seeds 0`` checks the path
(the numbers are then meaningless); ``--pretrain-data`` trains on other sources;
``--set section.key=value`` changes every run, pretraining and fine-tuning.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace

import pandas as pd

from climax_nb.experiments import cli, reports

NAME = "scaling"


def _width(config, dim: int):
    """``config`` with an embedding ``dim`` wide (left unset where it is the preset's, so runs stay shared)."""
    from climax_nb.model.config import PRESETS

    width = None if dim == PRESETS[config.model.preset].embed_dim else dim
    return replace(config, model=replace(config.model, embed_dim=width))


def _parameters(model) -> int:
    from climax_nb.forecast.checkpoint import load_forecast_checkpoint

    return sum(p.numel() for p in load_forecast_checkpoint(model).model.parameters())


def make(args: argparse.Namespace) -> pd.DataFrame:
    """Pretrain (unless 0 steps), fine-tune and score every width, pretraining length and seed."""
    from climax_nb.experiments import training

    data, sets = cli.reanalysis(args), cli.overrides(args)
    rows = []
    for seed in args.seeds:
        for dim in args.dims:
            for steps in args.pretrain_steps:
                init, pretrain_s = None, 0.0
                if steps > 0:
                    config = training.pretrain_config(steps=steps, seed=seed, days=args.days,
                                                      sources=args.pretrain_data, overrides=sets)
                    init = training.trained(f"pretrain-d{dim}-{steps}steps-seed{seed}", _width(config, dim))
                    pretrain_s = training.train_seconds(init)
                config = training.finetune_config(data, steps=args.steps, seed=seed, init=init, overrides=sets)
                model = training.trained(f"finetune-d{dim}-from{steps}-seed{seed}", _width(config, dim))
                card = training.score(model, data, every_hours=args.every_hours)
                rows += training.score_rows(card, dim=dim, pretrain_steps=steps, seed=seed,
                                            params=_parameters(model), pretrain_s=pretrain_s,
                                            train_s=training.train_seconds(model))
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    p = cli.parser(__doc__, seeds=(0,), steps=300)
    p.add_argument("--dims", type=int, nargs="+", default=[64, 128, 256],
                   help="embedding widths (default: %(default)s)")
    p.add_argument("--pretrain-steps", type=int, nargs="+", default=[0, 100, 300],
                   help="pretraining lengths, 0: none (default: %(default)s)")
    p.add_argument("--pretrain-data", nargs="+", default=None,
                   help="pretraining sources (default: the packaged ones, embedded/warm-sst, fast-convection, t31)")
    p.add_argument("--lead", type=float, default=72.0, help="lead of the report, hours (default: 72)")
    args = p.parse_known_args(argv)[0]
    return cli.main(NAME, "experiments/scaling.py", p, make, lambda frame: reports.scaling(frame, args.lead), argv)


if __name__ == "__main__":
    main()
