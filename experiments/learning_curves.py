"""Learning curves of the fine-tuned forecaster: validation RMSE against steps and wall time, per variant.

The main job has a fixed CPU budget; which model size, patch size, learning rate
and number of steps use it best is measured here, not guessed. Each variant is
the packaged fine-tuning config (``finetune-compact``) with command-line style
overrides, trained from random weights on the reanalysis's training years
(2000-2001), checkpointed every ``--every`` steps; every checkpoint forecasts the
validation year (2002) from initial times every ``--init-every`` hours and is
scored beside persistence and climatology (training-year climatology).

    python experiments/learning_curves.py --out outputs/curves --steps 600 --every 100 \\
        --variant base --variant p4:--model.patch_size=4 --variant lr2:--optim.lr=0.002
    python experiments/learning_curves.py --out outputs/curves --from-results   # the table again

Each line of the table is one checkpoint: its step, the training seconds to reach
it, and RMSE at each lead for each target, with persistence's and climatology's
RMSE beside it. Run it on an otherwise idle machine for the seconds to mean
anything; say what else ran.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.defaults import REANALYSIS_TRAIN, REANALYSIS_VAL

TARGETS = ("z500", "t850", "t2m", "u10")
LEADS_H = (6.0, 24.0, 72.0, 120.0)
RESULTS = "learning_curves.csv"


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``name:--opt=value,--opt=value`` -> (name, ["--opt", "value", ...]); a bare name is the packaged config."""
    name, _, rest = text.partition(":")
    args: list[str] = []
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if not key.startswith("--") or not value:
            raise SystemExit(f"variant {text!r}: overrides look like --section.key=value, got {item!r}")
        args += [key, value]
    return name, args


def variant_config(name: str, overrides: list[str], out: Path, steps: int, every: int, seed: int):
    """The packaged fine-tuning config from scratch, with ``overrides`` laid over it, keeping every checkpoint."""
    from climax_nb.config import add_options, apply_options
    from climax_nb.runs import FINETUNE_CONFIG, run_config
    from climax_nb.train.run import RunConfig

    base = run_config(FINETUNE_CONFIG, out / name, seed=seed, years=(REANALYSIS_TRAIN, REANALYSIS_VAL))
    fixed = ["--trainer.max_steps", str(steps), "--trainer.checkpoint_every_n_steps", str(every),
             "--trainer.keep_all_checkpoints", "true", "--trainer.progress", "false"]
    parser = argparse.ArgumentParser()
    add_options(parser, RunConfig)
    return apply_options(base, parser.parse_args(fixed + overrides))


def checkpoint_steps(run: Path) -> list[tuple[int, Path]]:
    """The kept checkpoints of a run by step (Lightning names them ``step=N.ckpt``)."""
    found = []
    for path in (run / "checkpoints").glob("*step=*.ckpt"):
        found.append((int(path.stem.split("step=")[1].split("-")[0]), path))
    return sorted(found)


def score_checkpoint(ckpt: Path, val: xr.Dataset, clim: xr.Dataset, inits: np.ndarray) -> xr.Dataset:
    """RMSE of one checkpoint (exported on the fly) beside persistence and climatology."""
    from climax_nb.evaluate import score
    from climax_nb.forecast import forecast
    from climax_nb.train.checkpointing import export_forecast_checkpoint

    exported = export_forecast_checkpoint(ckpt, ckpt.with_suffix(".pt"))
    fc = forecast(exported, val, list(LEADS_H), mode="continuous", init_times=inits)
    return score(fc, val, clim, metrics=["rmse"], variables=[v for v in TARGETS if v in fc.data_vars])


def run_variant(text: str, args: argparse.Namespace, val: xr.Dataset, clim: xr.Dataset,
                inits: np.ndarray) -> pd.DataFrame:
    """Train one variant, then score each of its checkpoints; rows of (variant, step, seconds, variable, lead)."""
    from climax_nb.train.run import train

    name, overrides = parse_variant(text)
    config = variant_config(name, overrides, args.out, args.steps, args.every, args.seed)
    run = Path(config.trainer.run_dir)
    start = time.perf_counter()
    train(config)
    seconds = time.perf_counter() - start
    rows = []
    for step, ckpt in checkpoint_steps(run):
        rmse = score_checkpoint(ckpt, val, clim, inits).sel(metric="rmse")
        for var in rmse.data_vars:
            for lead in rmse["lead_time"].values:
                at = rmse[var].sel(lead_time=lead)
                rows.append({"variant": name, "overrides": " ".join(overrides), "step": step,
                             "seconds": round(seconds * step / args.steps, 1), "variable": var,
                             "lead_h": int(lead / np.timedelta64(1, "h")),
                             **{str(m): float(at.sel(model=m)) for m in at["model"].values}})
    return pd.DataFrame(rows)


def table(results: pd.DataFrame) -> str:
    """Model RMSE relative to persistence (%, negative is better) per checkpoint, target and lead."""
    results = results.assign(vs_persistence=100 * (results["model"] / results["persistence"] - 1),
                             vs_climatology=100 * (results["model"] / results["climatology"] - 1))
    wide = results.pivot_table(index=["variant", "step", "seconds"], columns=["variable", "lead_h"],
                               values="vs_persistence")
    lines = ["RMSE of the model relative to persistence, % (negative: better), validation year "
             f"{REANALYSIS_VAL[0]}", wide.round(1).to_string(), "",
             "RMSE relative to climatology, %",
             results.pivot_table(index=["variant", "step"], columns=["variable", "lead_h"],
                                 values="vs_climatology").round(1).to_string(), "",
             "RMSE of persistence and climatology (physical units)",
             results.groupby(["variable", "lead_h"])[["persistence", "climatology"]].first().round(3).to_string()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/curves"), help="folder for runs and results")
    parser.add_argument("--variant", action="append", default=None,
                        help="name[:--section.key=value,...] (repeatable; default: the packaged config)")
    parser.add_argument("--steps", type=int, default=600, help="training steps of every variant")
    parser.add_argument("--every", type=int, default=100, help="steps between scored checkpoints")
    parser.add_argument("--init-every", type=float, default=72.0, help="hours between validation initial times")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--from-results", action="store_true", help="print the table of --out without training")
    args = parser.parse_args()
    path = args.out / RESULTS
    if not args.from_results:
        from climax_nb.data import embedded
        from climax_nb.data.climatology import climatology
        from climax_nb.evaluate import initial_times

        val = embedded.open_source("reanalysis", years=list(REANALYSIS_VAL))
        clim = climatology(embedded.open_source("reanalysis", years=list(REANALYSIS_TRAIN)),
                           years=list(REANALYSIS_TRAIN), variables=list(TARGETS))
        inits = initial_times(val, max(LEADS_H), args.init_every)
        frames = [pd.read_csv(path)] if path.is_file() else []
        for text in args.variant or ["base"]:
            frames.append(run_variant(text, args, val, clim, inits))
            args.out.mkdir(parents=True, exist_ok=True)
            pd.concat(frames).to_csv(path, index=False)
        (args.out / "command.json").write_text(json.dumps(vars(args), default=str, indent=1))
    print(table(pd.read_csv(path)))


if __name__ == "__main__":
    main()
