"""ClimaX's ablations (paper section 4.6) at this scale: what the fine-tuned model predicts, and how it reaches a lead.

Both start from the main job's pretrained model and fine-tune every model with the
same budget (steps, batch 16, learning rate, seed) on the reanalysis's training years
(2000-2001), scored on the test year 2003 at 24, 72 and 120 h (RMSE of z500, t850,
t2m, u10) beside persistence and climatology, from initial times every 72 h.

(a) outputs: ``all-vars`` (predict every dynamic input, ClimaX-all-vars) against
``four-targets`` (predict z500, t850, t2m and u10 only, one model for the four),
both lead-conditioned over 6 h to 7 days. The paper's single-variable models (one
per target) cost four models a seed: ``--one-at-a-time`` adds them as
``one-at-a-time`` (each scored on its own target).

(b) leads: ``continuous`` (one model conditioned on leads 6 h to 7 days: the
all-vars model of (a), trained once) against ``direct`` (one all-vars model per
scored lead, each trained at that lead alone) and ``iterative`` (a 6-hour all-vars
model rolled out to each lead). Direct spends one budget per lead: it has three
models' training behind it, the others one.

    python experiments/ablations.py --seeds 0 1            # 12 runs, about 16 min on 2 idle cores
    python experiments/ablations.py --from-results         # the report again, nothing trained

Short-budget comparisons: each model trains ``--steps`` (default 300) steps, a
twelfth of the packaged fine-tuning, where the learning curves are still only a few
per cent below persistence; the ranking of the variants may change with training.
Differences are paired by seed, with a 95 % Student-t interval over seeds (with 2
seeds, mean +- 12.7 sd / sqrt(2): wide; add seeds to narrow it).

``--days 12 --pretrain-scale 0.01 --steps 4 --seeds 0`` checks the path in minutes
(the numbers are then meaningless); ``--set section.key=value`` changes every run.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import pandas as pd
import xarray as xr

from climax_nb.experiments import cli, reports

NAME = "ablations"
#: Leads of the continuous models (the packaged fine-tuning's) and the iterative model's step, hours.
CONTINUOUS_LEADS = (6.0, 24.0, 72.0, 120.0, 168.0)
ITERATIVE_STEP = 6.0


def make(args: argparse.Namespace) -> pd.DataFrame:
    """Train and score every variant for every seed; one row per (variant, seed, variable, lead)."""
    from climax_nb.experiments import training

    data, init, sets, leads = cli.reanalysis(args), cli.pretrained(args), cli.overrides(args), tuple(args.leads)

    def model(name: str, seed: int, outputs: tuple[str, ...] | None, model_leads: tuple[float, ...]):
        config = training.finetune_config(data, steps=args.steps, seed=seed, init=init,
                                          overrides={**sets, "data.outputs": outputs, "data.leads": model_leads})
        return training.trained(f"ablation-{name}-seed{seed}", config)

    def scored(checkpoint, **options):
        return training.score(checkpoint, data, leads=leads, every_hours=args.every_hours, **options)

    rows = []
    for seed in args.seeds:
        cards = {("outputs", "all-vars"): scored(model("all-vars", seed, None, CONTINUOUS_LEADS)),
                 ("outputs", "four-targets"): scored(model("four-targets", seed, training.TARGETS, CONTINUOUS_LEADS))}
        if args.one_at_a_time:
            singles = [scored(model(f"only-{v}", seed, (v,), CONTINUOUS_LEADS), variables=(v,))
                       for v in training.TARGETS]
            cards["outputs", "one-at-a-time"] = xr.merge(singles)
        cards["leads", "continuous"] = cards["outputs", "all-vars"]
        cards["leads", "direct"] = scored({h: model(f"direct-{h:g}h", seed, None, (h,)) for h in leads}, mode="direct")
        iterative = model(f"iterative-{ITERATIVE_STEP:g}h", seed, None, (ITERATIVE_STEP,))
        cards["leads", "iterative"] = scored(iterative, mode="iterative", step=ITERATIVE_STEP)
        for (comparison, variant), card in cards.items():
            rows += training.score_rows(card, comparison=comparison, variant=variant, seed=seed)
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    p = cli.parser(__doc__, seeds=(0, 1), steps=300)
    cli.add_pretrained(p)
    p.add_argument("--leads", type=float, nargs="+", default=[24.0, 72.0, 120.0],
                   help="scored leads, hours, one direct model each (default: %(default)s)")
    p.add_argument("--one-at-a-time", action="store_true", help="add one single-target model per target (4 a seed)")
    return cli.main(NAME, "experiments/ablations.py", p, make, reports.ablations, argv)


if __name__ == "__main__":
    main()
