"""Counterfactuals measured against the GCM: the masked model's shift with SST +2 K against the GCM's own.

The embedded `warm-sst` source is the reanalysis's GCM with the sea surface 2 K warmer
everywhere. For windows of the reanalysis's test year the AtmoRep checkpoint reconstructs the
hidden cells twice, with the forcing its tokens carry by default (0 K) and with
`--sst-offset` (default 2 K); the mean difference is the model's shift
(`climax_nb.forecast.counterfactual.model_shift`). The GCM's shift is warm-sst's monthly
means minus the reanalysis's training years' in the same calendar months, weighted as the
windows fall in them (`world_shift`). Printed per variable and mask: both global means,
their ratio, whether the signs agree, and the centred area-weighted pattern correlation.

    python experiments/counterfactual.py                               # the compact run, 2003, every 8 days
    python experiments/counterfactual.py --checkpoint runs/x/model.pt --slabs 1 3
    python experiments/counterfactual.py --from-results                # the saved table again

Masks: the forecast task hiding 1 slab (12 h) and 3 slabs (36 h, all but the first), whose
visible history comes from the control world, and an infilling of the tropics (30 S-30 N)
at every step of the window, where the model sees no state at the place (the more is
hidden, the more room the forcing has).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from climax_nb.defaults import REANALYSIS_TEST, REANALYSIS_TRAIN
from climax_nb.experiments.tables import RESULTS, markdown_table, read_table, write_table

NAME = "counterfactual"
DEFAULT_CHECKPOINTS = ("outputs/atmorep-compact-local/model.pt", "runs/atmorep-compact/model.pt")
WARM_SOURCE = "embedded/warm-sst"
WARM_YEARS = (1990,)
#: The infilling mask: the tropics hidden at every step of the window, where the sea surface drives the atmosphere
#: most directly and the model has no visible state at the place to start from (its prior there is the climatology).
DEFAULT_BOX = (-30.0, 30.0, 0.0, 360.0)


def default_checkpoint() -> Path:
    for path in map(Path, DEFAULT_CHECKPOINTS):
        if path.is_file():
            return path
    from climax_nb import tutorial

    return tutorial.masked_model()


def make(args: argparse.Namespace) -> pd.DataFrame:
    from climax_nb.data.monthly import months_of
    from climax_nb.data.open import open_source
    from climax_nb.forecast import open_model
    from climax_nb.forecast.counterfactual import compare_shifts, model_shift, world_shift
    from climax_nb.forecast.masked import Box, Task, task_init_times

    checkpoint = args.checkpoint or default_checkpoint()
    fm = open_model(checkpoint)
    truth = open_source(args.data, years=[args.year])
    if args.days is not None:
        truth = truth.sel(time=slice(None, truth["time"].values[0] + np.timedelta64(args.days, "D")))
    control = open_source(args.data, years=list(args.control_years))
    warm = open_source(args.warm, years=list(args.warm_years))
    variables = [v for v in fm.outputs if v in warm.data_vars]
    rows = []
    tasks = [Task("forecast", slabs=s) for s in args.slabs]
    tasks += [Task("infill", box=Box(*box)) for box in (args.box or [DEFAULT_BOX])]
    for task in tasks:
        inits = task_init_times(fm, task, truth, args.every_hours)
        if args.max_windows is not None and len(inits) > args.max_windows:
            inits = inits[np.unique(np.linspace(0, len(inits) - 1, args.max_windows).round().astype(int))]
        start = time.perf_counter()
        shift = model_shift(fm, truth, task, inits, variables=variables, sst_offset=args.sst_offset)
        seconds = time.perf_counter() - start
        months = months_of(inits)
        gcm = world_shift(control, warm, variables, months) * (args.sst_offset / 2.0)
        for row in compare_shifts(shift, gcm):
            hidden = task.slabs * fm.slab_hours if task.kind == "forecast" else fm.window_steps * fm.step_hours
            rows.append({"task": task.label, "hidden_h": hidden, "windows": len(inits), **row,
                         "seconds": round(seconds, 1)})
    frame = pd.DataFrame(rows)
    frame.attrs["checkpoint"] = str(checkpoint)
    return frame


def report(frame: pd.DataFrame, header: dict[str, str]) -> str:
    agree = frame["same_sign"].mean() if len(frame) else float("nan")
    lines = ["# Counterfactual: SST +2 K through the masked model's conditioning, against the GCM", "",
             f"`{header.get('command', '')}`", "",
             "Model: mean shift of the ensemble mean over the hidden steps of the windows when the tokens carry "
             "the forcing; GCM: warm-sst's monthly means minus the reanalysis training years', in the windows' "
             "months (scaled to the forcing asked for). Global means area-weighted; pattern correlation centred.",
             "", markdown_table(frame.drop(columns=["seconds"]), digits=3), "",
             f"Signs agree in {agree:.0%} of the rows; pattern correlations range "
             f"{frame['pattern_correlation'].min():.2f} to {frame['pattern_correlation'].max():.2f}; the model's "
             f"global-mean shift is {frame['ratio'].min():.2f} to {frame['ratio'].max():.2f} times the GCM's."]
    return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None,
                   help=f"the AtmoRep model.pt (default: the first of {', '.join(DEFAULT_CHECKPOINTS)}, else the "
                        "notebooks' masked model)")
    p.add_argument("--data", default="embedded/reanalysis", help="the control world: its windows and climate")
    p.add_argument("--year", type=int, default=REANALYSIS_TEST[0], help="the year of the windows (a test year)")
    p.add_argument("--control-years", type=int, nargs="+", default=list(REANALYSIS_TRAIN),
                   help="years of the control world's climate (default: the training years)")
    p.add_argument("--warm", default=WARM_SOURCE, help="the other world (default: %(default)s)")
    p.add_argument("--warm-years", type=int, nargs="+", default=list(WARM_YEARS), help="its years")
    p.add_argument("--sst-offset", type=float, default=2.0, help="the forcing the tokens carry, K (default: 2)")
    p.add_argument("--slabs", type=int, nargs="+", default=[1, 3], help="forecast masks: hidden slabs")
    p.add_argument("--box", type=float, nargs=4, action="append", default=None,
                   metavar=("SOUTH", "NORTH", "WEST", "EAST"),
                   help=f"infilling masks, degrees (repeatable; default {DEFAULT_BOX}: the tropics at every step)")
    p.add_argument("--every-hours", type=float, default=192.0, help="hours between windows (default: %(default)s)")
    p.add_argument("--max-windows", type=int, default=None, help="at most this many windows per mask")
    p.add_argument("--days", type=int, default=None, help="only the first days of the year (a quick check)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder of the results (default: %(default)s)")
    p.add_argument("--from-results", action="store_true", help="print the saved table's report again")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    table = args.out / f"{NAME}.csv"
    if not args.from_results:
        start = time.perf_counter()
        frame = make(args)
        command = "python experiments/counterfactual.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        write_table(frame, table, command=command.strip(), seconds=time.perf_counter() - start,
                    notes={"checkpoint": frame.attrs["checkpoint"]})
    frame, header = read_table(table)
    text = report(frame, header)
    (args.out / f"{NAME}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
