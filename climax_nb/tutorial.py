"""What the tutorial notebooks share: the cached runs, the test period's forecasts and scores.

The notebooks need a pretrained, a fine-tuned and a from-scratch model, and the
fine-tuned model's forecast of the test period. They are the main job's own runs
(``climax_nb.runs``): trained the first time anyone asks for them, by
``climax-nb demo`` or by a notebook, and read back afterwards.

Two settings never mix:

- ``default``: the packaged ``pretrain-compact`` and ``finetune-compact`` configs
  on the whole embedded years (reanalysis test year 2003), the main job's setting;
- ``fast`` (``CLIMAX_NB_FAST=1``): ``FAST_DAYS`` simulated days and
  ``FAST_STEPS_SCALE`` of the training budgets, to check the notebooks in
  minutes (the models then learn next to nothing).

Forecasts and scores go beside the runs: ``<runs folder>/scores/<stage>/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import xarray as xr

from climax_nb import defaults, runs, workflow
from climax_nb.runs import Setting, Stage

if TYPE_CHECKING:
    import pandas as pd

    from climax_nb.train.run import RunConfig

FAST_ENV = "CLIMAX_NB_FAST"
#: Fast setting: 7-day training leads need 7 days of data, and a batch of 16 samples 4 more days.
FAST_DAYS = 12
#: Fast setting: a hundredth of the training budgets (the minimum of 2 steps per run).
FAST_STEPS_SCALE = 0.01

FAST = Setting(FAST_DAYS, FAST_STEPS_SCALE)
#: The main job's own setting (``climax-nb demo``), so the notebooks reuse its runs.
DEFAULT = Setting()


def current_setting() -> Setting:
    """``FAST`` when ``$CLIMAX_NB_FAST`` is 1, else ``DEFAULT``."""
    return FAST if os.environ.get(FAST_ENV, "0") == "1" else DEFAULT


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


def model(stage: Stage, setting: Setting | None = None) -> Path:
    """The checkpoint of ``stage``: ``pretrain``, ``finetune`` or ``scratch``."""
    return runs.trained(stage, setting or current_setting())


def training_log(stage: Stage, setting: Setting | None = None) -> xr.Dataset:
    """The training loss (and learning rate) against step, from the run's CSV log."""
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
    come from those days only, so this is quick; training uses whole years.
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
    """The embedded reanalysis years the main job trains on or tests on (all days in the fast setting)."""
    from climax_nb.data import embedded

    setting = setting or current_setting()
    if setting.days is not None:  # a short run has one partial year: train and test share it
        return embedded.open_source("reanalysis", length=setting.days, progress=False)
    years = defaults.REANALYSIS_TRAIN if split == "train" else defaults.REANALYSIS_TEST
    return embedded.open_source("reanalysis", years=list(years), progress=False)


def climatology_years(setting: Setting | None = None) -> list[int]:
    """Years whose climatology is the baseline: the training years (the one partial year when fast)."""
    setting = setting or current_setting()
    if setting.days is None:
        return list(defaults.REANALYSIS_TRAIN)
    return sorted({int(y) for y in reanalysis("train", setting).time.dt.year.values})


def _scores_dir(stage: Stage, setting: Setting) -> Path:
    return tutorial_dir(setting) / "scores" / stage


def test_scores(stage: Stage = "finetune", setting: Setting | None = None) -> xr.Dataset:
    """Scorecard of ``stage``'s forecast of the test period, persistence and climatology (made on first use).

    The main job's own step (``workflow.forecast_and_score``): initial times every 24 h,
    leads ``defaults.EVAL_LEADS``, RMSE and ACC.
    """
    setting = setting or current_setting()
    out = _scores_dir(stage, setting)
    path = out / "scores" / "scorecard.nc"
    if not path.is_file():
        checkpoint = model(stage, setting)
        print(f"forecasting the test period with the {stage} model once; later calls reuse {out}")
        workflow.forecast_and_score(checkpoint, out, days=setting.days)
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


def comparison(setting: Setting | None = None) -> xr.Dataset:
    """One scorecard of the pretrained-then-fine-tuned and the scratch model, with both baselines."""
    cards = {"pretrained": test_scores("finetune", setting), "scratch": test_scores("scratch", setting)}
    models = [card.sel(model=["model"]).assign_coords(model=[name]) for name, card in cards.items()]
    baselines = cards["scratch"].sel(model=["persistence", "climatology"])
    return xr.concat([*models, baselines], "model")


def build_all(setting: Setting | None = None) -> dict[str, Path]:
    """Train and forecast everything the notebooks use (what a first notebook run would do)."""
    setting = setting or current_setting()
    paths = {stage: model(stage, setting) for stage in ("pretrain", "finetune", "scratch")}
    for stage in ("finetune", "scratch"):
        test_scores(stage, setting)
    return paths


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
