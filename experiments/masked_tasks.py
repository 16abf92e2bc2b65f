"""What the masked model is for: one AtmoRep checkpoint, five tasks without retraining, against simple baselines.

AtmoRep's claim is that one task-agnostic masked model serves many tasks. Here one checkpoint
(default: the compact run) does each of them on the test year (2003) of the embedded reanalysis,
through ``climax_nb.forecast`` and ``climax_nb.forecast.masked``, and is scored with the package's
own metrics (``climax_nb.evaluate.score``: latitude-weighted RMSE, fair CRPS, spread-skill
ratio; ``climax_nb.metrics.rank_histogram``):

1. zero-shot forecasting: 6 and 24 h in one masked call (``forecast``, continuous), and a
   rollout in one-slab steps, each member its own trajectory, to 5 days (``mode="iterative"``),
   beside persistence, climatology and the ClimaX checkpoints given (default: the main job's
   fine-tuned model), from the same initial times;
2. temporal interpolation: a middle slab hidden, against linear interpolation in time;
3. spatial infilling: a box hidden through the window, against the training years'
   climatology of the box and the nearest visible cells;
4. ensembles: the ensemble tail's members against ClimaX's Gaussian-perturbation ensemble
   (``Perturbation``) with as many members: fair CRPS, spread-skill ratio, rank histograms;
5. cross-attention between fields under forecasting masks of 1, 2 and 3 hidden slabs: the
   field x field matrix (area-weighted global means of the share maps; the maps go to
   ``<out>/masked_tasks_coupling.nc``, or ``--maps``).

    python experiments/masked_tasks.py                          # the full setting (README)
    python experiments/masked_tasks.py --checkpoint outputs/atmorep-compact-local/model.pt \\
        --climax climax=main --climax climax-1200=outputs/curves/p4lr2e3-1200/model.pt
    python experiments/masked_tasks.py --fast --out outputs/masked-fast        # two windows per task
    python experiments/masked_tasks.py --from-results                          # the report again

Every row of ``<out>/masked_tasks.csv`` is one (task, model, variable, lead, metric) with the
number of windows (initial times) it was scored on and the seconds its forecasts took; the
training compute of every checkpoint is in the rows of task ``training``. The report is
``<out>/masked_tasks.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from climax_nb.defaults import REANALYSIS_TEST, REANALYSIS_TRAIN
from climax_nb.experiments.tables import RESULTS, markdown_table

NAME = "masked_tasks"
#: Checkpoints tried in turn when ``--checkpoint`` is not given: the retrained compact run, then the first one.
DEFAULT_CHECKPOINTS = ("outputs/atmorep-compact-local/model.pt", "outputs/atmorep-compact/model.pt",
                       "runs/atmorep-compact/model.pt")
#: The variables the report's tables show (every variable the model has is in the CSV).
SHOWN = ("z500", "t850", "t2m", "u850", "v850")
#: Variables interpolation must be scored for, if the model has them.
INTERPOLATION_TARGETS = ("z500", "t850", "t2m")
CONTINUOUS_H = (6.0, 24.0)
ROLLOUT_H = (6.0, 24.0, 72.0, 120.0)
#: 22.5 x 45 deg over 45-67.5 N, 22.5 W - 22.5 E (the NE Atlantic and Europe, across 0 deg): on the 5.625 deg grid
#: one row and two columns of the compact model's 4 x 4-cell tokens, so the model hides exactly the box.
DEFAULT_BOX = (45.0, 67.5, -22.5, 22.5)
SSR_TARGET = (0.8, 1.2)


# -- the model and the data -----------------------------------------------------------------------------------------
def default_checkpoint() -> Path:
    for candidate in DEFAULT_CHECKPOINTS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise SystemExit(f"no AtmoRep checkpoint at {', '.join(DEFAULT_CHECKPOINTS)}: train one with `climax-nb pretrain "
                     "--config atmorep-compact --trainer.run_dir outputs/atmorep-compact`, or pass --checkpoint")


def climax_checkpoints(specs: Sequence[str]) -> dict[str, Path]:
    """``name=path``; path ``main``: the main job's fine-tuned model (trained if not cached); ``none``: no ClimaX."""
    out: dict[str, Path] = {}
    for text in specs:
        if text == "none":
            continue
        name, sep, where = text.partition("=")
        if not sep:
            name, where = "climax", text
        if where == "main":
            from climax_nb import runs

            out[name] = runs.trained("finetune", runs.Setting())
        elif Path(where).is_file():
            out[name] = Path(where)
        else:
            raise SystemExit(f"--climax {text}: no model file at {where} (give name=path, name=main or none)")
    return out


def training_cost(checkpoint: Path) -> dict[str, Any]:
    """Steps, batch, parameters and training wall seconds of a run (with the runs it started from, ``model.init``).

    Wall seconds from the run's ``timing.json`` where the experiments wrote one, else from the file times of
    its ``config.yaml`` (written at the start) and ``model.pt`` (the export at the end): on shared cores.
    """
    import yaml

    from climax_nb.forecast import load_forecast_checkpoint

    loaded = load_forecast_checkpoint(checkpoint)
    params = sum(p.numel() for p in loaded.model.parameters())
    folder = Path(checkpoint).parent
    config = yaml.safe_load((folder / "config.yaml").read_text()) if (folder / "config.yaml").is_file() else {}
    steps = loaded.spec.training.get("global_step") or (config.get("trainer") or {}).get("max_steps")
    batch = (config.get("data") or {}).get("batch_size")
    timing = folder / "timing.json"
    if timing.is_file():
        wall = float(json.loads(timing.read_text())["seconds"])
    elif (folder / "config.yaml").is_file():
        wall = Path(checkpoint).stat().st_mtime - (folder / "config.yaml").stat().st_mtime
    else:
        wall = math.nan
    cost = {"family": loaded.spec.family, "steps": float(steps or math.nan), "batch": float(batch or math.nan),
            "parameters": float(params), "wall_s": float(wall)}
    init = (config.get("model") or {}).get("init")
    if init and Path(init).is_file():
        before = training_cost(Path(init))
        cost["pretraining_steps"] = before["steps"]
        cost["pretraining_wall_s"] = before["wall_s"]
        cost["total_wall_s"] = cost["wall_s"] + before["wall_s"]
    else:
        cost["total_wall_s"] = cost["wall_s"]
    return cost


def open_truth(args: argparse.Namespace) -> xr.Dataset:
    from climax_nb.data.open import open_source

    truth = open_source(args.data, years=[args.year])
    if args.days is not None:
        truth = truth.sel(time=slice(None, truth["time"].values[0] + np.timedelta64(args.days, "D")))
    return truth


def spaced(times: np.ndarray, at_most: int | None) -> np.ndarray:
    """``times``, or ``at_most`` of them evenly spread (first and last kept)."""
    if at_most is None or len(times) <= at_most:
        return times
    return times[np.unique(np.round(np.linspace(0, len(times) - 1, at_most)).astype(int))]


# -- rows -----------------------------------------------------------------------------------------------------------
def card_rows(card: xr.Dataset, task: str, windows: int, seconds: dict[str, float]) -> list[dict[str, Any]]:
    """One row per (model, variable, lead, metric) of a scorecard; NaN scores (a metric a model lacks) left out."""
    rows = []
    for var in card.data_vars:
        for model in card["model"].values:
            for metric in card["metric"].values:
                for lead in card["lead_time"].values:
                    value = float(card[var].sel(model=model, metric=metric, lead_time=lead))
                    if math.isfinite(value):
                        rows.append({"task": task, "model": str(model), "variable": str(var),
                                     "lead_h": float(lead / np.timedelta64(1, "h")), "metric": str(metric),
                                     "value": value, "windows": windows,
                                     "seconds": seconds.get(str(model), math.nan)})
    return rows


def rank_rows(forecasts: dict[str, xr.Dataset], truth: xr.Dataset, task: str, windows: int) -> list[dict[str, Any]]:
    """The rank histogram of every ensemble, as the share of the truth's ranks (metric ``rank_k``)."""
    from climax_nb.evaluate import on_forecast_grid
    from climax_nb.metrics import rank_histogram

    rows = []
    for name, fc in forecasts.items():
        if "member" not in fc.dims:
            continue
        counts = rank_histogram(fc, on_forecast_grid(truth[list(fc.data_vars)], fc))
        for var in counts.data_vars:
            for lead in counts["lead_time"].values:
                c = counts[var].sel(lead_time=lead).values.astype(float)
                for k, share in enumerate(c / c.sum()):
                    rows.append({"task": task, "model": name, "variable": str(var),
                                 "lead_h": float(lead / np.timedelta64(1, "h")), "metric": f"rank_{k}",
                                 "value": float(share), "windows": windows, "seconds": math.nan})
    return rows


def scored(forecasts: dict[str, xr.Dataset], truth: xr.Dataset, clim: xr.Dataset | None, baselines: Sequence[str],
           task: str, seconds: dict[str, float]) -> list[dict[str, Any]]:
    """Each forecast scored on its own variables; the baselines with the first, from its initial times."""
    from climax_nb.evaluate import score

    rows = []
    for i, (name, fc) in enumerate(forecasts.items()):
        card = score({name: fc}, truth, clim, baselines=list(baselines) if i == 0 else [], metrics=["rmse"])
        rows += card_rows(card, task, fc.sizes["init_time"], seconds)
    return rows


def timed(make, *args, **kwargs) -> tuple[xr.Dataset, float]:
    start = time.perf_counter()
    out = make(*args, **kwargs)
    return out, time.perf_counter() - start


# -- the tasks ------------------------------------------------------------------------------------------------------
def forecasting(fm, climax: dict[str, Path], truth: xr.Dataset, clim: xr.Dataset | None, args: argparse.Namespace,
                inputs: xr.Dataset | None = None) -> list[dict[str, Any]]:
    """Tasks 1 and 4: continuous and rolled-out AtmoRep, the ClimaX models and their perturbed ensembles.

    ``truth`` holds AtmoRep's fields (and is scored against); ``inputs`` (default ``truth``) the ClimaX inputs.
    """
    inputs = truth if inputs is None else inputs
    from climax_nb.evaluate import initial_times
    from climax_nb.forecast import Perturbation, forecast, open_model

    rows = []
    blocks = [("forecast", CONTINUOUS_H, "continuous", args.every_hours),
              ("rollout", ROLLOUT_H, "iterative", args.rollout_every_hours)]
    span = float((truth["time"].values[-1] - truth["time"].values[0]) / np.timedelta64(1, "h"))
    for task, leads, mode, every in blocks:
        leads = [h for h in leads if h + fm.history_hours <= span]
        if not leads:
            print(f"{task}: the data are too short for any lead; skipped")
            continue
        inits = spaced(initial_times(truth, max(leads), every, history_hours=fm.history_hours), args.max_windows)
        print(f"{task}: {len(inits)} initial times every {every:g} h, leads {leads} h", flush=True)
        forecasts, seconds = {}, {}
        name = "atmorep" if mode == "continuous" else "atmorep rollout"
        forecasts[name], seconds[name] = timed(forecast, fm, truth, leads, mode=mode, init_times=inits,
                                               batch_size=args.batch_size)
        for label, path in climax.items():
            model = open_model(path)
            ids = [v for v in model.outputs if v in fm.outputs]
            if not ids:
                print(f"{label} predicts none of {list(fm.outputs)}; left out")
                continue
            forecasts[label], seconds[label] = timed(forecast, model, inputs, leads, init_times=inits, variables=ids,
                                                     batch_size=32)
            ensemble = Perturbation(args.members or fm.members, scale=args.perturbation, seed=0)
            forecasts[f"{label} perturbed"], seconds[f"{label} perturbed"] = timed(
                forecast, model, inputs, leads, init_times=inits, variables=ids, ensemble=ensemble, batch_size=32)
        rows += scored(forecasts, truth, clim, ["persistence", "climatology"] if clim is not None else
                       ["persistence"], task, seconds)
        rows += rank_rows(forecasts, truth, task, len(inits))
    return rows


def interpolation(fm, truth: xr.Dataset, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Task 2: a middle slab hidden, against linear interpolation in time."""
    from climax_nb.baselines import linear_interpolation
    from climax_nb.forecast.masked import Task, run_task, task_init_times

    task = Task("interpolation", slabs=args.gap_slabs)
    inits = spaced(task_init_times(fm, task, truth, args.every_hours), args.max_windows)
    print(f"{task.label}: {len(inits)} windows", flush=True)
    fc, seconds = timed(run_task, fm, truth, task, inits, batch_size=args.batch_size)
    linear, linear_s = timed(linear_interpolation, truth, inits, fc["lead_time"].values, fc.attrs["gap_end_hours"],
                             list(fc.data_vars))
    forecasts = {"atmorep": fc, "linear in time": linear}
    rows = scored(forecasts, truth, None, [], "interpolation", {"atmorep": seconds, "linear in time": linear_s})
    return rows + rank_rows(forecasts, truth, "interpolation", len(inits))


def infilling(fm, truth: xr.Dataset, clim: xr.Dataset | None, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Task 3: a box hidden through the window, against the box's climatology and the nearest visible cells."""
    from climax_nb.baselines import box_climatology, nearest_fill
    from climax_nb.forecast.masked import Box, Task, run_task, task_init_times, unseen_cells

    task = Task("infill", box=Box(*args.box))
    inits = spaced(task_init_times(fm, task, truth, args.every_hours), args.max_windows)
    print(f"{task.label}: {len(inits)} windows", flush=True)
    fc, seconds = timed(run_task, fm, truth, task, inits, batch_size=args.batch_size)
    lat, lon, leads, ids = fc["lat"].values, fc["lon"].values, fc["lead_time"].values, list(fc.data_vars)
    unseen = unseen_cells(fm, task.cells(fm)).any(axis=0)
    forecasts = {"atmorep": fc}
    times = {"atmorep": seconds}
    forecasts["nearest visible cell"], times["nearest visible cell"] = timed(
        nearest_fill, truth, inits, leads, lat, lon, hidden=unseen, variables=ids)
    if clim is not None:
        forecasts["box climatology"], times["box climatology"] = timed(box_climatology, clim, inits, leads, lat, lon,
                                                                       ids)
    rows = scored(forecasts, truth, None, [], "infill", times)
    rows += rank_rows(forecasts, truth, "infill", len(inits))
    for row in rows:
        row["box_cells"], row["unseen_cells"] = fc.attrs["box_cells"], fc.attrs["unseen_cells"]
    return rows


def cross_attention(fm, truth: xr.Dataset, args: argparse.Namespace, maps_path: Path) -> list[dict[str, Any]]:
    """Task 5: the field x field coupling under forecasting masks of 1, 2, 3 hidden slabs; maps to NetCDF."""
    from climax_nb.forecast.masked import Task, coupling, task_init_times

    nt = fm.window_steps // fm.config.token_size[0]
    rows, maps_by_slabs = [], []
    for slabs in range(1, min(3, nt - 1) + 1):
        task = Task("forecast", slabs=slabs)
        inits = spaced(task_init_times(fm, task, truth, args.coupling_every_hours), args.max_windows)
        (maps, matrix), seconds = timed(coupling, fm, truth, inits, task, batch_size=args.batch_size)
        print(f"coupling under {task.label}: {len(inits)} windows, {seconds:.0f} s", flush=True)
        hours = slabs * fm.slab_hours
        maps_by_slabs.append(maps.expand_dims(hidden_hours=[hours]))
        for f in matrix["field"].values:
            for g in matrix["source"].values:
                value = float(matrix.sel(field=f, source=g))
                if math.isfinite(value):
                    rows.append({"task": "coupling", "model": "atmorep", "variable": str(f), "source": str(g),
                                 "lead_h": hours, "metric": "share", "value": value, "windows": len(inits),
                                 "seconds": seconds})
    maps_path.parent.mkdir(parents=True, exist_ok=True)
    maps = xr.concat(maps_by_slabs, "hidden_hours").drop_attrs()
    maps.to_netcdf(maps_path, encoding={maps.name: {"zlib": True, "complevel": 9}})  # smooth maps: about 20 kB
    return rows


def make(args: argparse.Namespace) -> pd.DataFrame:
    import torch

    from climax_nb.data.climatology import climatology
    from climax_nb.forecast import open_model
    from climax_nb.forecast.atmorep import AtmoRepForecaster

    torch.set_num_threads(args.threads)
    checkpoint = args.checkpoint or default_checkpoint()
    fm = open_model(checkpoint).to("cpu")
    if not isinstance(fm, AtmoRepForecaster):
        raise SystemExit(f"{checkpoint} is a {fm.spec.family} model; the masked tasks need an AtmoRep checkpoint")
    climax = climax_checkpoints(args.climax)
    print(f"AtmoRep {checkpoint}: {list(fm.outputs)}, {fm.members} members; ClimaX: "
          f"{ {k: str(v) for k, v in climax.items()} or 'none'}", flush=True)
    truth = open_truth(args)
    kept = list(dict.fromkeys([*fm.inputs, *(v for v in SHOWN if v in truth.data_vars)]))
    truth_small = truth[kept].load()  # every task reads these windows again and again
    clim = None
    clim_years = list(args.clim_years or REANALYSIS_TRAIN)
    if args.year in clim_years and not args.in_sample:
        raise SystemExit(f"climatology years {clim_years} include the scored year {args.year}: give training years "
                         "(--clim-years), or --in-sample for a short check")
    if not args.no_climatology:
        from climax_nb.data.open import open_source

        start = time.perf_counter()
        clim = climatology(open_source(args.data, years=clim_years), years=clim_years, variables=list(fm.outputs))
        clim = clim.load()
        print(f"climatology of {clim_years}: {time.perf_counter() - start:.0f} s", flush=True)
    rows: list[dict[str, Any]] = []
    for label, path in {"atmorep": Path(checkpoint), **climax}.items():
        cost = training_cost(path)
        rows += [{"task": "training", "model": label, "variable": "", "metric": key, "value": value,
                  "source": str(path) if key == "steps" else ""} for key, value in cost.items()
                 if isinstance(value, float)]
    rows += [{"task": "setting", "model": "", "variable": "", "metric": key, "value": math.nan, "source": text}
             for key, text in (("atmorep", str(checkpoint)), ("data", f"{args.data} {args.year}" + (
                 f" (first {args.days} days)" if args.days else "")), ("climatology years", str(clim_years)))]
    blocks = {"forecasting": lambda: forecasting(fm, climax, truth_small, clim, args, inputs=truth),
              "interpolation": lambda: interpolation(fm, truth_small, args),
              "infilling": lambda: infilling(fm, truth_small, clim, args),
              "coupling": lambda: cross_attention(fm, truth_small, args,
                                                  Path(args.maps or Path(args.out) / f"{NAME}_coupling.nc"))}
    for name, block in blocks.items():
        if name in args.skip:
            continue
        start = time.perf_counter()
        try:
            rows += block()
        except ValueError as err:  # a task this model cannot do (a window too short for the gap): say so, go on
            print(f"{name}: not possible with this model: {err}", flush=True)
            rows.append({"task": name, "model": "atmorep", "metric": "not possible", "value": math.nan,
                         "source": str(err)})
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
    return pd.DataFrame(rows)


# -- the report -----------------------------------------------------------------------------------------------------
def _wide(frame: pd.DataFrame, task: str, metric: str, variables: Sequence[str], models: Sequence[str] | None = None,
          digits: int = 4) -> str:
    """Rows (variable, model), columns the leads, cells ``metric``; the windows each model was scored on."""
    sub = frame[(frame["task"] == task) & (frame["metric"] == metric) & frame["variable"].isin(variables)]
    if models is not None:
        sub = sub[sub["model"].isin(models)]
    if sub.empty:
        return "(no rows)"
    table = sub.pivot_table(index=["variable", "model"], columns="lead_h", values="value", sort=False)
    table.columns = [f"{h:g} h" for h in table.columns]
    windows = sub.groupby(["variable", "model"], sort=False)["windows"].first()
    table = table.reset_index()
    table["windows"] = [int(windows[(v, m)]) for v, m in zip(table["variable"], table["model"], strict=True)]
    order = {v: i for i, v in enumerate(variables)}
    table = table.sort_values("variable", key=lambda c: c.map(order), kind="stable")
    table["variable"] = table["variable"].where(table["variable"] != table["variable"].shift())
    return markdown_table(table.fillna({"variable": ""}), digits)


def _shown(frame: pd.DataFrame, task: str) -> list[str]:
    have = set(frame.loc[frame["task"] == task, "variable"])
    return [v for v in SHOWN if v in have]


def _compute(frame: pd.DataFrame) -> str:
    sub = frame[frame["task"] == "training"]
    if sub.empty:
        return "(no training rows)"
    table = sub.pivot_table(index="model", columns="metric", values="value", sort=False, dropna=False).reset_index()
    keep = [c for c in ("model", "parameters", "batch", "steps", "wall_s", "pretraining_steps", "pretraining_wall_s",
                        "total_wall_s") if c in table.columns]
    table = table[keep].copy()
    reference = table.loc[table["model"] == "atmorep", "total_wall_s"]
    ratio = table["total_wall_s"] / (float(reference.iloc[0]) if len(reference) else math.nan)
    table["parameters"] = [f"{p / 1e6:.2f} M" for p in table["parameters"]]
    for c in ("batch", "steps", "pretraining_steps"):
        if c in table.columns:
            table[c] = ["" if not np.isfinite(v) else f"{int(v)}" for v in table[c]]
    for c in [c for c in keep if c.endswith("wall_s")]:
        table[c.replace("_s", " min")] = table.pop(c) / 60
    table["x atmorep's wall time"] = ratio
    paths = sub[sub["metric"] == "steps"].set_index("model")["source"]
    table["checkpoint"] = [f"`{paths.get(m, '')}`" for m in table["model"]]
    return markdown_table(table, 3)


def _ranks(frame: pd.DataFrame, task: str, lead: float, variables: Sequence[str]) -> str:
    sub = frame[(frame["task"] == task) & frame["metric"].str.startswith("rank_") & (frame["lead_h"] == lead)
                & frame["variable"].isin(variables)]
    if sub.empty:
        return "(no ensembles)"
    table = sub.pivot_table(index=["variable", "model"], columns="metric", values="value", sort=False)
    table = table[sorted(table.columns, key=lambda c: int(c.split("_")[1]))]
    table.columns = [f"rank {c.split('_')[1]}" for c in table.columns]
    table = table.reset_index()
    table["variable"] = table["variable"].where(table["variable"] != table["variable"].shift()).fillna("")
    return markdown_table(table, 3)


def _coupling(frame: pd.DataFrame) -> str:
    sub = frame[(frame["task"] == "coupling") & (frame["metric"] == "share")]
    if sub.empty:
        return "(no coupling rows)"
    blocks = []
    for hours, part in sub.groupby("lead_h"):
        table = part.pivot_table(index="variable", columns="source", values="value", sort=False)
        table = table[[f for f in table.index if f in table.columns]  # sources in the fields' order
                      + [g for g in table.columns if g not in table.index]]
        table.index.name = f"{hours:g} h hidden: field \\ source"
        blocks.append(markdown_table(table.reset_index(), 3))
    return "\n\n".join(blocks)


def _impossible(frame: pd.DataFrame) -> list[str]:
    sub = frame[frame["metric"] == "not possible"]
    return [f"- {r.task}: not possible with this model: {r.source}" for r in sub.itertuples()]


def _setting(frame: pd.DataFrame) -> str:
    sub = frame[frame["task"] == "setting"]
    return "; ".join(f"{r.metric}: {r.source}" for r in sub.itertuples())


def report(frame: pd.DataFrame) -> str:
    shown_f, shown_r = _shown(frame, "forecast"), _shown(frame, "rollout")
    models_i = set(frame.loc[frame["task"] == "interpolation", "variable"])
    missing = [v for v in INTERPOLATION_TARGETS if v not in models_i]
    infill = frame[frame["task"] == "infill"]
    box = (f"{int(infill['box_cells'].iloc[0])} cells; the model could not see {int(infill['unseen_cells'].iloc[0])} "
           "cells, the box rounded out to whole tokens, which the nearest-cell baseline does not read either"
           if "box_cells" in infill.columns and not infill.empty else "")
    ssr = frame[(frame["task"] == "forecast") & (frame["metric"] == "spread_skill_ratio") & (frame["lead_h"] == 24)]
    low, high = SSR_TARGET
    ssr_lines = [f"- {r.model} {r.variable}: {r.value:.2f} ({'inside' if low <= r.value <= high else 'outside'} "
                 f"{low}-{high})" for r in ssr.itertuples() if r.variable in shown_f]
    lines = [
        "# Masked tasks: one AtmoRep checkpoint, five tasks, no retraining", "", _setting(frame) + ".", "",
        "Latitude-weighted RMSE (physical units), fair CRPS and spread-skill ratio from `climax_nb.evaluate.score`; "
        "`windows`: initial times (one window each) scored; seconds per model in the CSV.", "",
        "## Training compute", "",
        "Wall minutes from each run's `timing.json`, else from the file times of its `config.yaml` and `model.pt`, "
        "on whatever the cores were doing then; `total`: with the pretraining it started from (`model.init`).", "",
        _compute(frame), "",
        "## 1. Zero-shot forecasting: RMSE", "",
        "One masked call per lead (`forecast`, continuous) beside the ClimaX checkpoints, persistence and "
        "climatology, from the same initial times:", "",
        _wide(frame, "forecast", "rmse", shown_f), "",
        "Rolled out in one-slab steps, each member feeding back its own prediction (`mode=\"iterative\"`):", "",
        _wide(frame, "rollout", "rmse", shown_r), "",
        "## 2. Temporal interpolation: RMSE", "",
        "A middle slab hidden; `init_time` is the last visible step before the gap and the leads are hours into it; "
        "the baseline interpolates linearly in time between the steps either side of the gap."
        + (f" Not in the model (not scored): {', '.join(missing)}." if missing else ""), "",
        _wide(frame, "interpolation", "rmse", _shown(frame, "interpolation")), "",
        "## 3. Spatial infilling: RMSE over the box", "",
        f"The box hidden through every step of the window ({box}); the leads are the steps' hours after the "
        "window's first step. Baselines: the training years' climatology of the box at that time of year, and each "
        "cell's nearest cell the model could see, at the same time.", "",
        _wide(frame, "infill", "rmse", _shown(frame, "infill")), "",
        "## 4. Ensembles: fair CRPS, spread-skill ratio, rank histograms", "",
        "The ensemble tail's members against ClimaX's Gaussian-perturbation ensemble with as many members. "
        f"Spread-skill ratio at 24 h (aim {low}-{high}; WeatherBench 2's ratio, on which a calibrated ensemble of M "
        "members scores sqrt(M / (M + 1)), 0.89 for 4):", "", *ssr_lines, "",
        "Fair CRPS (persistence and climatology: a point forecast, whose CRPS is its MAE), then the spread-skill "
        "ratio, at the continuous leads and along the rollout:", "",
        _wide(frame, "forecast", "crps", shown_f), "", _wide(frame, "forecast", "spread_skill_ratio", shown_f), "",
        _wide(frame, "rollout", "crps", shown_r), "", _wide(frame, "rollout", "spread_skill_ratio", shown_r), "",
        "Rank histograms at 24 h (share of the truth's rank among the members; flat is calibrated, U-shaped "
        "under-dispersive):", "", _ranks(frame, "forecast", 24.0, shown_f), "",
        "## 5. Cross-attention between fields", "",
        "Share of each field's cross-attention given to each other field (area-weighted global mean of the maps; a "
        "field does not attend to itself here), under forecasting masks hiding 1, 2 and 3 slabs:", "",
        _coupling(frame), "", *_impossible(frame),
    ]
    return "\n".join(lines).rstrip() + "\n"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None,
                   help=f"the AtmoRep model.pt (default: the first of {', '.join(DEFAULT_CHECKPOINTS)})")
    p.add_argument("--climax", action="append", default=None, metavar="NAME=PATH",
                   help="ClimaX checkpoints to compare with (repeatable; PATH 'main': the main job's fine-tuned "
                        "model; 'none': no ClimaX); default: climax=main")
    p.add_argument("--data", default="embedded/reanalysis", help="the truth: embedded/<name> or a dataset path")
    p.add_argument("--year", type=int, default=REANALYSIS_TEST[0], help="the year scored (default: the test year)")
    p.add_argument("--clim-years", type=int, nargs="+", default=None,
                   help=f"years of the climatology baselines (default: the training years {list(REANALYSIS_TRAIN)})")
    p.add_argument("--in-sample", action="store_true", help="allow a climatology of the scored year (short checks)")
    p.add_argument("--no-climatology", action="store_true", help="no climatology baselines (skips reading them)")
    p.add_argument("--days", type=int, default=None, help="only the first days of the year (a quick check)")
    p.add_argument("--every-hours", type=float, default=120.0,
                   help="hours between the windows of forecasting, interpolation and infilling (default: %(default)s)")
    p.add_argument("--rollout-every-hours", type=float, default=720.0,
                   help="hours between the rollouts' initial times (default: %(default)s)")
    p.add_argument("--coupling-every-hours", type=float, default=720.0,
                   help="hours between the coupling windows (default: %(default)s)")
    p.add_argument("--max-windows", type=int, default=None, help="at most this many windows per task")
    p.add_argument("--fast", action="store_true", help="the fast setting: two windows per task (tests, CI)")
    p.add_argument("--gap-slabs", type=int, default=1, help="slabs hidden by the interpolation (default: 1)")
    p.add_argument("--box", type=float, nargs=4, default=list(DEFAULT_BOX), metavar=("SOUTH", "NORTH", "WEST", "EAST"),
                   help="the infilling box in degrees (west > east crosses 0; default: %(default)s)")
    p.add_argument("--members", type=int, default=None,
                   help="members of ClimaX's perturbation ensemble (default: as many as AtmoRep's)")
    p.add_argument("--perturbation", type=float, default=0.05,
                   help="std of ClimaX's initial perturbations, in training stds (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=4, help="AtmoRep windows per call (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: 1, for shared cores)")
    p.add_argument("--skip", nargs="*", default=[], choices=["forecasting", "interpolation", "infilling", "coupling"],
                   help="blocks to leave out")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder of the table and report (default: %(default)s)")
    p.add_argument("--maps", type=Path, default=None,
                   help=f"NetCDF of the coupling maps (hidden_hours, field, source, lat, lon; default: "
                        f"<out>/{NAME}_coupling.nc)")
    p.add_argument("--from-results", action="store_true", help="print the report of the table in --out again")
    return p


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    from climax_nb.experiments.cli import run

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    if args.fast and args.max_windows is None:
        args.max_windows = 2
    if args.climax is None:
        args.climax = ["climax=main"]
    return run(NAME, "experiments/masked_tasks.py", argv, args, make, report)


if __name__ == "__main__":
    main()
