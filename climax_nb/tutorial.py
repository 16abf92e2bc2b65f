"""What the tutorial notebooks share: the cached runs, the test period's forecasts and scores.

The notebooks need a pretrained, a fine-tuned and a from-scratch model, and the
fine-tuned model's forecast of the test period. They are the main job's own runs
(``climax_nb.runs``): trained the first time anyone asks for them, by
``climax-nb demo``, by ``python -m climax_nb.tutorial`` or by a notebook, and read
back afterwards. Notebooks 09 and 10 also need the AtmoRep model (``masked_model``:
``atmorep-compact``, the ``masked`` stage), which ``python -m climax_nb.tutorial``
trains with the others (it is what the notebooks need) and ``climax-nb demo`` does
not (the main job is ClimaX's).

Three settings, chosen by ``$CLIMAX_NB_SETTING``, never mix (each has its own runs):

- ``default``: the packaged ``pretrain-compact`` and ``finetune-compact`` configs
  on the whole embedded years: pretraining sources one year each, reanalysis
  2000-2003 (train 2000-2001, validate 2002, test 2003). The main job's setting,
  so the notebooks reuse ``climax-nb demo``'s runs.
- ``binder`` (``binder/postBuild`` builds it, ``binder/start`` selects it): the same
  configs and training budgets on less simulated data. Each pretraining source
  gives ``BINDER_DAYS`` days (one season, after the same spin-up), and the
  reanalysis runs through 2000, the one training year, and ``BINDER_TEST_DAYS``
  days into 2001, the test period.
- ``fast`` (``CLIMAX_NB_FAST=1``, which wins over ``$CLIMAX_NB_SETTING``):
  ``FAST_DAYS`` simulated days and ``FAST_STEPS_SCALE`` of the training budgets,
  to check the notebooks in minutes. Train and test share the one partial year
  and the models learn next to nothing: it is for CI only.

Why ``binder`` is built that way. Binder builds the image once and gives each
session 2 GB, so the build must be short and the cache small, but the notebooks
must still make honest claims: a score is only worth showing on data the models
never trained on. Most of the default's cost is data, not training (measured on
2 cores: 14.5 minutes of simulation, then 7 of training and forecasts): the
four-year, 51-variable reanalysis is 40 % of the simulation time and two thirds
of the 2.5 GB, and the T31 source another third of the time. So the Binder
setting keeps what the notebooks' points rest on (the packaged configs, all three
heterogeneous pretraining sources, every training step, the pretrained against
scratch comparison with the same budget and seed, a test period after the
training year with a climatology of the training year only) and shortens what
they do not: three months of each pretraining source (3,200 pretraining samples
still see each of their frames a few times), one training year of reanalysis
(fine-tuning's 2,400 samples are about 1.6 passes over it, the default's about
0.8 over two years) and a two-month test period (about 54 daily initial times).
What it gives up: its test months are winter only, scores over two months are
noisier than over a year, and the one-year climatology is a noisier (weaker)
baseline than the default's two-year one; the default setting, one command away
(``python -m climax_nb.tutorial --setting default``), scores the whole 2003. Built
here from an empty cache, the binder setting took 9.7 minutes and 749 MB, the
default 21.7 minutes and 2.6 GB (``benchmarks/notebooks.py``, notebooks/README.md).

The masked stage in each setting (``runs.masked_config``): ``default`` trains the packaged
``atmorep-compact`` as it is (its packaged steps on the pretraining runs' 1990 and the
reanalysis's 2000-2001); ``fast`` its ``FAST_DAYS`` days with ``FAST_STEPS_SCALE`` of the steps, all data,
no validation, like the other stages; ``binder`` 90 days of every source (the stores the
binder setting simulates anyway, so nothing more is simulated: the pretraining sources'
season and the first 90 days of the reanalysis's 2000), the training year only, and the
whole packaged budget (``BINDER_MASKED_STEPS_SCALE``). Its test period, January-February 2001, is
never seen, and lies in calendar months the training covers, which the per-month statistics
need. The budget is not cut as the ClimaX stages' is: no fine-tuning follows, the notebooks
read every task off this one model, and a tenth is too little: in a 500-step run of the
packaged config its loss was still 0.73 over steps 50-99 against 0.42-0.52 over its last 200
steps. The whole budget costs its steps at about 1.55 steps/s (measured on the idle 2-core
machine; 500 steps 5.4 minutes) in the build.

Forecasts and scores go beside the runs: ``<runs folder>/scores/<stage>/``. Every
scorecard also has the embedded GCM's own forecasts of the test period (``gcm_forecasts``:
``gcm-analysis``, the GCM from the analysis, and ``gcm-twin``, its perfect-model twin), made
once per setting in ``<runs folder>/scores/gcm/`` from initial times every 7 days.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import xarray as xr

from climax_nb import defaults, runs
from climax_nb.runs import Setting, Stage

if TYPE_CHECKING:
    import pandas as pd

    from climax_nb.train.run import RunConfig

SETTING_ENV = "CLIMAX_NB_SETTING"
FAST_ENV = "CLIMAX_NB_FAST"
#: Fast setting: 7-day training leads need 7 days of data, and a batch of 16 samples 4 more days.
FAST_DAYS = 12
#: Fast setting: a hundredth of the training budgets (the minimum of 2 steps per run).
FAST_STEPS_SCALE = 0.01
#: Binder setting: simulated days of each pretraining source (a season).
BINDER_DAYS = 90
#: Binder setting: days of 2001 after the training year 2000 (January and February), the test period.
BINDER_TEST_DAYS = 59
#: Binder setting: a tenth of the packaged budgets (300 + 3600 steps), about the training time
#: Binder's build was measured with when the budgets were 200 + 150 steps of a model about 3x dearer per step.
BINDER_STEPS_SCALE = 0.1
#: Binder setting: the masked stage trains its whole packaged budget on the setting's shorter data.
BINDER_MASKED_STEPS_SCALE = 1.0

FAST = Setting(FAST_DAYS, FAST_STEPS_SCALE)
BINDER = Setting(BINDER_DAYS, BINDER_STEPS_SCALE, test_days=BINDER_TEST_DAYS,
                 masked_steps_scale=BINDER_MASKED_STEPS_SCALE)
#: The main job's own setting (``climax-nb demo``), so the notebooks reuse its runs.
DEFAULT = Setting()
#: The settings by the names ``$CLIMAX_NB_SETTING`` takes.
SETTINGS: dict[str, Setting] = {"default": DEFAULT, "binder": BINDER, "fast": FAST}


def setting_name() -> str:
    """``fast`` when ``$CLIMAX_NB_FAST`` is 1, else ``$CLIMAX_NB_SETTING`` (``default`` when unset)."""
    if os.environ.get(FAST_ENV, "0") == "1":
        return "fast"
    name = os.environ.get(SETTING_ENV) or "default"
    if name not in SETTINGS:
        raise ValueError(f"${SETTING_ENV}={name!r} is not a setting; choose {', '.join(SETTINGS)}")
    return name


def current_setting() -> Setting:
    """The setting named by the environment (``setting_name``): ``DEFAULT``, ``BINDER`` or ``FAST``."""
    return SETTINGS[setting_name()]


def tutorial_dir(setting: Setting | None = None) -> Path:
    """The folder of one setting's runs and forecasts, under the cache root."""
    return runs.setting_dir(setting or current_setting())


def is_cached(stage: Stage, setting: Setting | None = None) -> bool:
    """True when the model of ``stage`` exists in ``setting``'s cache (asking for it will not train)."""
    return runs.is_cached(stage, setting or current_setting())


def training_config(stage: Stage, setting: Setting | None = None) -> RunConfig:
    """The run config of ``stage`` in ``setting`` (``climax_nb.runs.training_config``)."""
    return runs.training_config(stage, setting or current_setting())


def pretrained_model(setting: Setting | None = None) -> Path:
    """The compact model pretrained on the three embedded pretraining sources (trained on first use)."""
    return model("pretrain", setting)


def finetuned_model(setting: Setting | None = None) -> Path:
    """The pretrained model fine-tuned on the reanalysis's training years (trained on first use)."""
    return model("finetune", setting)


def scratch_model(setting: Setting | None = None) -> Path:
    """The same fine-tuning from random weights, same budget and seed (trained on first use)."""
    return model("scratch", setting)


def masked_model(setting: Setting | None = None) -> Path:
    """The AtmoRep model (``atmorep-compact``, the ``masked`` stage) of notebooks 09 and 10 (trained on first use)."""
    return model(runs.MASKED, setting)


#: Simulated days of ``t42`` the downscaling model trains on in the short settings (all of them; the default
#: setting trains on the two-year run's 1990 and scores 1991, as ``experiments/downscaling.py`` does).
DOWNSCALE_DAYS: dict[str, int] = {"fast": 6, "binder": 45}


def _downscale_days(setting: Setting) -> int | None:
    return next((DOWNSCALE_DAYS[name] for name, s in SETTINGS.items() if s == setting and name in DOWNSCALE_DAYS),
                None)


def downscaling_config(setting: Setting | None = None) -> RunConfig:
    """Notebook 13's downscaling run: ``downscale-compact`` from the setting's pretrained model, its budget scaled.

    In the default setting it is ``experiments/downscaling.py``'s pretrained arm of seed 0 (the same run, shared).
    """
    from climax_nb.experiments import training

    setting = setting or current_setting()
    steps = training.downscale_config().trainer.max_steps
    return training.downscale_config(steps=max(2, round(steps * setting.steps_scale)), seed=setting.seed,
                                     init=pretrained_model(setting), days=_downscale_days(setting))


def downscaling_model(setting: Setting | None = None) -> Path:
    """The pretrained model fine-tuned to downscale 5.625 to 2.8125 deg (``downscaling_config``; trained once)."""
    from climax_nb.experiments import training

    setting = setting or current_setting()
    return training.trained(f"downscale-seed{setting.seed}", downscaling_config(setting))


def downscaling_test(setting: Setting | None = None) -> xr.Dataset:
    """The fine ``t42`` fields downscaling is scored on: 1991 (default setting), else the setting's short stretch."""
    from climax_nb.experiments import training

    return training.downscale_test(_downscale_days(setting or current_setting()))


#: The short settings' sub-seasonal runs: one stretch of the reanalysis, trained on and scored in sample, with windows
#: and leads that fit it and the stretch's mean as climatology (the default setting is the experiment's ten years).
SUBSEASONAL_SHORT: dict[str, dict[str, Any]] = {
    "fast": {"days": 12, "data.subseasonal": 2, "data.leads": [48.0, 96.0], "data.climatology_harmonics": 0,
             "data.batch_size": 2},
    "binder": {"days": 60, "data.subseasonal": 7, "data.leads": [168.0, 336.0], "data.climatology_harmonics": 0,
               "data.batch_size": 8},
}


def _short(table: dict[str, dict[str, Any]], setting: Setting) -> dict[str, Any]:
    return next((table[name] for name, s in SETTINGS.items() if s == setting and name in table), {})


def subseasonal_config(setting: Setting | None = None) -> RunConfig:
    """Notebook 14's run: ``subseasonal-compact`` from the setting's pretrained model, its budget scaled.

    In the default setting it is ``experiments/subseasonal.py``'s pretrained arm of seed 0 (the same run, shared).
    """
    from climax_nb.experiments import training

    setting = setting or current_setting()
    short = dict(_short(SUBSEASONAL_SHORT, setting))
    days = short.pop("days", None)
    steps = training.subseasonal_config().trainer.max_steps
    return training.subseasonal_config(steps=max(2, round(steps * setting.steps_scale)), seed=setting.seed,
                                       init=pretrained_model(setting), days=days, overrides=short or None)


def subseasonal_model(setting: Setting | None = None) -> Path:
    """The pretrained model fine-tuned for two-week mean anomalies (``subseasonal_config``; trained once)."""
    from climax_nb.experiments import training

    setting = setting or current_setting()
    return training.trained(f"subseasonal-seed{setting.seed}", subseasonal_config(setting))


#: The short settings' climate projections: a few days of a few scenarios, daily periods, two members each.
PROJECTION_SHORT: dict[str, dict[str, Any]] = {
    "fast": {"days": 4, "period": "D", "members": 2, "scenarios": ("control", "co2-double", "sst-plus2", "mid")},
    "binder": {"days": 10, "period": "D", "members": 2, "scenarios": None},
}


def projection_setup(setting: Setting | None = None) -> dict[str, Any]:
    """Days, period, members and scenarios of the setting's climate projection (default: whole years, all)."""
    return {"days": None, "period": "YS", "members": None, "scenarios": None,
            **_short(PROJECTION_SHORT, setting or current_setting())}


def projection_data(setting: Setting | None = None) -> tuple[xr.Dataset, xr.Dataset]:
    """The setting's training and held-out samples (``climax_nb.data.climate.open_scenario_splits``)."""
    from climax_nb.data.climate import open_scenario_splits

    setup = projection_setup(setting)
    return open_scenario_splits(setup["members"], setup["scenarios"], setup["days"], setup["period"])


def subseasonal_data(setting: Setting | None = None) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset, xr.Dataset]:
    """Notebook 14's inputs, test-period targets, every day's anomalies and climatology
    (``climax_nb.experiments.training.subseasonal_test`` of ``subseasonal_config``)."""
    from climax_nb.experiments import training

    return training.subseasonal_test(subseasonal_config(setting))


def projection_config(setting: Setting | None = None, frozen: bool = False) -> RunConfig:
    """Notebook 15's run: ``projection-compact`` (frozen: ClimaX-frozen) from the setting's pretrained model.

    In the default setting it is ``experiments/climate_projection.py``'s arm of seed 0 (the same run, shared).
    """
    from climax_nb.experiments import training

    setting = setting or current_setting()
    from climax_nb.data.climate import scenario_sources

    setup = projection_setup(setting)
    steps = training.projection_config().trainer.max_steps
    sources = scenario_sources(False, setup["members"], setup["scenarios"])
    return training.projection_config(steps=max(2, round(steps * setting.steps_scale)), seed=setting.seed,
                                      init=pretrained_model(setting), freeze=frozen, sources=sources,
                                      days=setup["days"], overrides={"data.projection": setup["period"]})


def projection_model(setting: Setting | None = None, frozen: bool = False) -> Path:
    """The pretrained model fine-tuned (or, ``frozen``, with its backbone kept) for climate projection."""
    from climax_nb.experiments import training

    setting = setting or current_setting()
    name = f"projection-{'frozen-' if frozen else ''}seed{setting.seed}"
    return training.trained(name, projection_config(setting, frozen))


def model(stage: Stage, setting: Setting | None = None) -> Path:
    """The checkpoint of ``stage``: ``pretrain``, ``finetune``, ``scratch`` or ``masked``."""
    return runs.trained(stage, setting or current_setting())


def training_log(stage: Stage, setting: Setting | None = None) -> xr.Dataset:
    """The training loss (and learning rate) against step, from the run's CSV log.

    The masked stage logs its loss's parts beside it (``train/crps``, ``train/mse``,
    ``train/spread``).
    """
    import pandas as pd

    model(stage, setting)
    logs = sorted(runs.run_dir(stage, setting or current_setting()).glob("csv/version_*/metrics.csv"))
    frame = pd.read_csv(logs[-1])
    columns = [c for c in frame.columns if c != "step" and frame[c].notna().any()]
    frame = frame.groupby("step")[columns].mean()
    return xr.Dataset.from_dataframe(frame).assign_attrs(stage=stage, log=str(logs[-1]))


def pretraining_batches(n: int = 8, days: int = 30, setting: Setting | None = None) -> pd.DataFrame:
    """The first ``n`` batches pretraining would draw, from the first ``days`` days of each source.

    One row per batch: its source, how many input and output variables it carries,
    its tensor shape and the lead time drawn for each sample (hours). Statistics
    come from those days only, so this is quick; training uses all the setting's days.
    """
    import pandas as pd

    from climax_nb.train.datamodule import ForecastDataModule, SplitConfig
    from climax_nb.train.run import open_sources

    data = training_config("pretrain", setting).data
    sources = {name: ds.isel(time=slice(0, 4 * days)) for name, ds in open_sources(data).items()}
    years = tuple(sorted({int(y) for ds in sources.values() for y in ds.time.dt.year.values}))
    split = SplitConfig(train_years=years, leads=data.leads, batch_size=data.batch_size)
    module = ForecastDataModule(sources, split)
    module.setup()
    rows = []
    for batch in islice(module.train_dataloader(), n):
        rows.append({"source": batch["source"], "inputs": len(batch["variables"]),
                     "outputs": len(batch["out_variables"]), "x shape": tuple(batch["x"].shape),
                     "leads (h)": batch["lead_time"].int().tolist()})
    return pd.DataFrame(rows)


def reanalysis(split: Literal["train", "test"], setting: Setting | None = None) -> xr.Dataset:
    """The embedded reanalysis period the runs train on or are tested on (``Setting.reanalysis_years``).

    ``default``: 2000-2001 or 2003; ``binder``: 2000 or January-February 2001; ``fast``:
    all of its days for both.
    """
    return runs.reanalysis(split, setting or current_setting(), progress=False)


def scores_in_sample(setting: Setting | None = None) -> bool:
    """True in the fast setting: its one short stretch is both trained on and scored, to check the path only."""
    return (setting or current_setting()).reanalysis_years("train") is None


def climatology_years(setting: Setting | None = None) -> list[int]:
    """Years whose climatology is the baseline: the training years (the one partial year when fast)."""
    setting = setting or current_setting()
    years = setting.reanalysis_years("train")
    if years is not None:
        return list(years)
    return sorted({int(y) for y in reanalysis("train", setting).time.dt.year.values})


def _scores_dir(stage: Stage, setting: Setting) -> Path:
    return tutorial_dir(setting) / "scores" / stage


def gcm_forecasts(setting: Setting | None = None, variables: Sequence[str] | None = None) -> dict[str, xr.Dataset]:
    """The embedded GCM's own forecasts of the test period, ``{"gcm-analysis": ..., "gcm-twin": ...}`` (made once).

    What a model of this world could reach (``climax_nb.data.embedded.predictability``):
    ``gcm-analysis`` is the GCM itself started from the 5.625 degree analysis (the fields the
    trained models start from; WeatherBench's "IFS" row), ``gcm-twin`` the GCM from the data's
    own model state perturbed by 0.1 K (the intrinsic limit). Initial times: the test forecast's
    first and every ``workflow.GCM_EVERY_DAYS`` (7) days after it; leads ``defaults.EVAL_LEADS``;
    ``variables`` (default: the fine-tuned model's outputs). Kept in the setting's
    ``runs.gcm_dir``, which the main job shares, so ``test_scores`` and ``climax-nb demo`` run
    the GCM once per setting. Measured on 2 cores shared with other jobs (load average 3-6),
    the first time: the fast setting's one initial time 51 s in a fresh cache (25 s once jcm's
    programs are in the persistent compilation cache), the binder setting's 8 initial times
    130 s (2.0 GB peak resident; every day, 54 initial times, would take 233 s); the default's
    52 initial times took 3.0 minutes on 2 idle cores (the README's timing table), and nothing
    after the main job, which makes them in its data step.
    """
    from climax_nb import workflow

    setting = setting or current_setting()
    if variables is None:  # the fine-tuned model's outputs; with none named, every dynamic input (as training)
        variables = training_config("finetune", setting).data.outputs
    return workflow.gcm_rows_of(setting, variables)


def test_scores(stage: Stage = "finetune", setting: Setting | None = None) -> xr.Dataset:
    """Scorecard of ``stage``'s forecast of the test period beside the GCM rows, persistence and climatology.

    As the main job's step (``workflow.forecast_and_score``), on the setting's periods
    (``reanalysis``, ``climatology_years``): initial times every 24 h, leads
    ``defaults.EVAL_LEADS``, RMSE and ACC; rows ``model``, ``gcm-analysis`` and ``gcm-twin``
    (``gcm_forecasts``, scored on their initial times every 7 days), ``persistence`` and
    ``climatology``. Made on first use and cached; a scorecard cached without the GCM rows is
    scored again from its cached forecast.
    """
    from climax_nb import workflow
    from climax_nb.evaluate import evaluate, initial_times, write_scores
    from climax_nb.forecast import forecast, open_forecast, save_forecast

    setting = setting or current_setting()
    out = _scores_dir(stage, setting)
    path = out / "scores" / "scorecard.nc"
    if path.is_file():
        card = xr.open_dataset(path).load()
        if set(workflow.GCM_ROWS) <= {str(m) for m in card["model"].values}:
            return card
    checkpoint = model(stage, setting)
    test, leads = reanalysis("test", setting), list(defaults.EVAL_LEADS)
    cached = out / "forecast.nc"
    if cached.is_file() and cached.stat().st_mtime >= checkpoint.stat().st_mtime:
        fc = open_forecast(cached).load()
    else:
        print(f"forecasting the test period with the {stage} model once; later calls reuse {out}")
        fc = forecast(checkpoint, test, leads, mode="auto", init_times=initial_times(test, max(leads), 24.0))
        out.mkdir(parents=True, exist_ok=True)
        save_forecast(fc, cached, overwrite=True)
    gcm = gcm_forecasts(setting, [str(v) for v in fc.data_vars])
    # the fast setting has no separate test year: its scores check the path, in sample
    card = evaluate(fc, test, reanalysis("train", setting), climatology_years(setting),
                    in_sample=scores_in_sample(setting), others=gcm)
    write_scores(card, out / "scores", note=workflow.scores_note(test, fc, gcm))
    return xr.open_dataset(path).load()


def test_forecast(stage: Stage = "finetune", setting: Setting | None = None) -> xr.Dataset:
    """The forecast behind ``test_scores(stage)``: test period, leads ``defaults.EVAL_LEADS``."""
    from climax_nb.forecast import open_forecast

    setting = setting or current_setting()
    test_scores(stage, setting)
    return open_forecast(_scores_dir(stage, setting) / "forecast.nc")


@lru_cache(maxsize=4)
def _climatology(setting: Setting, ids: tuple[str, ...]) -> xr.Dataset:
    """The baseline climatology of the training years, computed once per session for the same variables."""
    from climax_nb.data.climatology import climatology

    return climatology(reanalysis("train", setting), years=climatology_years(setting), variables=list(ids)).load()


def score(forecasts: Mapping[str, xr.Dataset], metrics: Sequence[str] = ("rmse", "acc"),
          setting: Setting | None = None) -> xr.Dataset:
    """``climax_nb.evaluate.score`` of forecasts of the test period, with the training years' climatology."""
    from climax_nb.evaluate import score as score_forecasts

    first = next(iter(forecasts.values()))
    clim = _climatology(setting or current_setting(), tuple(str(v) for v in first.data_vars))
    return score_forecasts(forecasts, reanalysis("test", setting), clim, metrics=metrics)


def climatology(variables: Sequence[str], setting: Setting | None = None) -> xr.Dataset:
    """The training years' climatology of ``variables`` (day of year x hour), the baseline ``score`` uses."""
    return _climatology(setting or current_setting(), tuple(str(v) for v in variables))


def versus(scores: xr.Dataset | pd.DataFrame, model: str, baseline: str, metric: str = "rmse",
           task: str | None = None, mean_over_leads: bool = False) -> pd.DataFrame:
    """``model``'s ``metric`` beside ``baseline``'s per variable and lead (hours): their ratio and whether it beats it.

    ``scores`` is a scorecard (``climax_nb.evaluate.score``: dims model, metric, lead_time) or a
    long table with columns model, variable, lead_h, metric, value (and ``task``, chosen by
    ``task``), as the experiments write them. Lower is better (RMSE, CRPS): ``beats`` is True where
    the ratio is below 1. Only the (variable, lead) pairs both have are kept;
    ``mean_over_leads`` compares each variable's mean over its leads instead (lead NaN).
    """
    import pandas as pd

    if isinstance(scores, xr.Dataset):
        names = [str(m) for m in scores["model"].values]
        missing = [n for n in (model, baseline) if n not in names]
        if missing or metric not in [str(m) for m in scores["metric"].values]:
            raise ValueError(f"the scorecard has models {names} and metrics {list(scores['metric'].values)}; "
                             f"asked for {model!r}, {baseline!r} and {metric!r}")
        card = scores.sel(metric=metric)
        rows = []
        for var in card.data_vars:
            for name in (model, baseline):
                values = card[var].sel(model=name)
                hours = card["lead_time"].values / np.timedelta64(1, "h")
                rows += [{"model": name, "variable": str(var), "lead_h": float(h), "value": float(v)}
                         for h, v in zip(hours, values.values, strict=True)]
        frame = pd.DataFrame(rows)
    else:
        frame = scores[scores["metric"] == metric]
        if task is not None:
            frame = frame[frame["task"] == task]
    wide = frame[frame["model"].isin([model, baseline])].pivot_table(
        index=["variable", "lead_h"], columns="model", values="value", aggfunc="mean")
    if model not in wide or baseline not in wide:
        have = sorted(set(frame["model"]))
        raise ValueError(f"no {metric} rows of {model!r} and {baseline!r} to compare" +
                         (f" for task {task!r}" if task else "") + f"; the models there are {have}")
    out = wide[[model, baseline]].dropna()
    if mean_over_leads:
        out = out.groupby(level="variable").mean()
        out.index = pd.MultiIndex.from_arrays([out.index, np.full(len(out), np.nan)], names=["variable", "lead_h"])
    out["ratio"] = out[model] / out[baseline]
    out["beats"] = out["ratio"] < 1
    return out


def verdict(table: pd.DataFrame) -> str:
    """One line on a ``versus`` table: in how many (variable, lead) pairs the model beats the baseline, and where,
    each pair with the model's difference from the baseline in per cent of the baseline's score."""
    model, baseline = table.columns[:2]

    def pairs(beats: bool) -> str:
        part = table[table["beats"] == beats]
        return ", ".join(f"{v} {'(mean over leads)' if np.isnan(h) else f'{h:g} h'} ({(r - 1) * 100:+.2f} %)"
                         for (v, h), r in zip(part.index, part["ratio"], strict=True)) or "none"

    return (f"{model} beats {baseline} in {int(table['beats'].sum())} of {len(table)} (variable, lead) pairs "
            f"({model} against {baseline}, below zero is better): beats it at {pairs(True)}; not at {pairs(False)}")


def comparison(setting: Setting | None = None) -> xr.Dataset:
    """One scorecard of the pretrained-then-fine-tuned and the scratch model, with the GCM rows and both baselines."""
    cards = {"pretrained": test_scores("finetune", setting), "scratch": test_scores("scratch", setting)}
    models = [card.sel(model=["model"]).assign_coords(model=[name]) for name, card in cards.items()]
    baselines = cards["scratch"].sel(model=["gcm-analysis", "gcm-twin", "persistence", "climatology"])
    return xr.concat([*models, baselines], "model")


def data_plan(setting: Setting | None = None) -> dict[str, int | None]:
    """The embedded sources the setting's runs read, with their simulated days (None: whole years)."""
    setting = setting or current_setting()
    plan: dict[str, int | None] = {}
    for stage in ("pretrain", "finetune", runs.MASKED):
        data = training_config(stage, setting).data
        for spec in data.sources:  # a source two stages read is simulated for the longer
            name = spec.removeprefix("embedded/")
            days = plan.get(name, data.days)
            plan[name] = None if days is None or data.days is None else max(days, data.days)
    return plan


def simulate(setting: Setting | None = None) -> None:
    """Simulate (or reuse) the setting's data, each source in its own ``climax-nb data`` process.

    One process per source keeps the peak memory that of one simulation (all four in one
    process reach about 3 GB, over Binder's 2 GB).
    """
    for name, days in data_plan(setting).items():
        command = [sys.executable, "-m", "climax_nb.cli", "data", "--source", name]
        subprocess.run(command + ([] if days is None else ["--days", str(days)]), check=True)


def build_all(setting: Setting | None = None) -> dict[str, Path]:
    """Train and forecast everything the notebooks use (what a first notebook run would do), the GCM rows too.

    The masked stage (notebooks 09 and 10) is trained last, after the ClimaX stages' forecasts.
    """
    setting = setting or current_setting()
    paths = {stage: model(stage, setting) for stage in ("pretrain", "finetune", "scratch")}
    for stage in ("finetune", "scratch"):
        test_scores(stage, setting)
    paths[runs.MASKED] = model(runs.MASKED, setting)
    return paths


def prepare(setting: Setting | None = None) -> dict[str, float]:
    """Everything the notebooks need in ``setting``: ``simulate``, then ``build_all``; the seconds of each."""
    setting = setting or current_setting()
    seconds = {}
    for step, work in (("data", simulate), ("models and forecasts", build_all)):
        start = time.perf_counter()
        work(setting)
        seconds[step] = time.perf_counter() - start
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m climax_nb.tutorial [--setting NAME]``: prepare a setting's data, models and forecasts."""
    parser = argparse.ArgumentParser(prog="python -m climax_nb.tutorial", description=main.__doc__)
    parser.add_argument("--setting", choices=list(SETTINGS), default=None,
                        help=f"the setting to prepare (default: ${SETTING_ENV}, else default)")
    name = parser.parse_args(argv).setting or setting_name()
    setting = SETTINGS[name]
    print(f"preparing the {name} setting ({setting.label}) in {tutorial_dir(setting)}", flush=True)
    for step, sec in prepare(setting).items():
        print(f"{step}: {sec / 60:.1f} min ({sec:.0f} s)")
    if name != setting_name():
        print(f"the notebooks use it with {SETTING_ENV}={name} (e.g. %env {SETTING_ENV}={name} in their first cell)")
    return 0


# -- small files in the layouts of real sources, to run the real-data readers offline ---------------------------

def online(host: str = "storage.googleapis.com", port: int = 443, timeout: float = 3.0) -> bool:
    """True when ``host`` answers within ``timeout`` seconds: cells that need the network ask this first.

    ``CLIMAX_NB_OFFLINE=1`` answers False without trying (the notebook tests run offline).
    """
    import socket

    if os.environ.get("CLIMAX_NB_OFFLINE", "0") == "1":
        return False
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
