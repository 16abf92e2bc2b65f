"""Models, forecasts and scores that the tutorial notebooks share: trained once, cached, reused.

The notebooks need a pretrained, a fine-tuned and a from-scratch model, and the
fine-tuned model's forecast of the test period. Training them takes minutes to
tens of minutes on a CPU, so each is made the first time a notebook asks for it,
by the same code as the command line's main job (``climax_nb.workflow``), with
Lightning's progress bar, and later calls return the cached file at once.

Two settings never mix:

- ``default``: the packaged ``pretrain-compact`` and ``finetune-compact`` configs
  on the whole embedded years (reanalysis test year 2003);
- ``fast`` (``CLIMAX_NB_FAST=1``): ``FAST_DAYS`` simulated days and
  ``FAST_STEPS_SCALE`` of the training budgets, to check the notebooks in
  minutes (the models then learn next to nothing).

Layout: ``<cache root>/tutorial/<setting>-<key>/{runs/<stage>/model.pt,
scores/<stage>/...}``, where the cache root is the data's (``$CLIMAX_NB_CACHE``
or ``~/.cache/climax_nb``) and ``key`` hashes the configs and the setting, so a
changed config trains anew instead of reusing stale weights.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import xarray as xr

from climax_nb import defaults, storage, workflow
from climax_nb.train.run import train

if TYPE_CHECKING:
    import pandas as pd

    from climax_nb.train.run import RunConfig

FAST_ENV = "CLIMAX_NB_FAST"
#: Fast setting: 7-day training leads need 7 days of data, and a batch of 16 samples 4 more days.
FAST_DAYS = 12
#: Fast setting: a hundredth of the training budgets (the minimum of 2 steps per run).
FAST_STEPS_SCALE = 0.01
PRETRAIN_CONFIG, FINETUNE_CONFIG = "pretrain-compact", "finetune-compact"
Stage = Literal["pretrain", "finetune", "scratch"]


@dataclass(frozen=True)
class Setting:
    """How much data and training the tutorial's models get."""

    name: str
    days: int | None  # simulated days of every embedded source (None: whole years)
    steps_scale: float  # scale of the packaged training budgets
    seed: int = 0

    def key(self) -> str:
        """Short hash of the configs' text and this setting: a new key means new models."""
        digest = hashlib.sha256(repr((self.days, self.steps_scale, self.seed)).encode())
        for name in (PRETRAIN_CONFIG, FINETUNE_CONFIG):
            digest.update((defaults.CONFIGS / f"{name}.yaml").read_bytes())
        return digest.hexdigest()[:10]


FAST = Setting("fast", FAST_DAYS, FAST_STEPS_SCALE)
DEFAULT = Setting("default", None, 1.0)


def current_setting() -> Setting:
    """``FAST`` when ``$CLIMAX_NB_FAST`` is 1, else ``DEFAULT``."""
    return FAST if os.environ.get(FAST_ENV, "0") == "1" else DEFAULT


def tutorial_dir(setting: Setting | None = None) -> Path:
    """The folder of one setting's models and forecasts, under the data's cache root."""
    setting = setting or current_setting()
    return storage.cache_root() / "tutorial" / f"{setting.name}-{setting.key()}"


def _run_dir(stage: Stage, setting: Setting) -> Path:
    return tutorial_dir(setting) / "runs" / stage


def is_cached(stage: Stage, setting: Setting | None = None) -> bool:
    """True when the model of ``stage`` exists in ``setting``'s cache (asking for it will not train)."""
    return (_run_dir(stage, setting or current_setting()) / "model.pt").is_file()


def training_config(stage: Stage, setting: Setting | None = None) -> RunConfig:
    """The run config of ``stage`` in ``setting``: a packaged config scaled by ``workflow.run_config``."""
    setting = setting or current_setting()
    init = str(_run_dir("pretrain", setting) / "model.pt") if stage == "finetune" else None
    config = PRETRAIN_CONFIG if stage == "pretrain" else FINETUNE_CONFIG
    cfg = workflow.run_config(config, _run_dir(stage, setting), steps_scale=setting.steps_scale, days=setting.days,
                              init=init, seed=setting.seed)
    if cfg.trainer.max_steps < cfg.trainer.log_every_n_steps:  # a few steps: log each, so the loss can be drawn
        cfg = replace(cfg, trainer=replace(cfg.trainer, log_every_n_steps=1))
    return cfg


def _train(stage: Stage, setting: Setting) -> Path:
    """Train one stage through the main job's configs, unless its exported model exists."""
    run_dir = _run_dir(stage, setting)
    exported = run_dir / "model.pt"
    if exported.is_file():
        return exported
    if stage == "finetune":
        pretrained_model(setting)
    if run_dir.exists():  # an interrupted run: start it again cleanly
        shutil.rmtree(run_dir)
    print(f"training the {stage} model once ({setting.name} setting); later calls reuse {exported}")
    return train(training_config(stage, setting))


def pretrained_model(setting: Setting | None = None) -> Path:
    """The compact model pretrained on the three embedded pretraining sources (trained on first use)."""
    return _train("pretrain", setting or current_setting())


def finetuned_model(setting: Setting | None = None) -> Path:
    """The pretrained model fine-tuned on the reanalysis's training years (trained on first use)."""
    return _train("finetune", setting or current_setting())


def scratch_model(setting: Setting | None = None) -> Path:
    """The same fine-tuning from random weights, same budget and seed (trained on first use)."""
    return _train("scratch", setting or current_setting())


def model(stage: Stage, setting: Setting | None = None) -> Path:
    """The checkpoint of ``stage``: ``pretrain``, ``finetune`` or ``scratch``."""
    if stage not in ("pretrain", "finetune", "scratch"):
        raise ValueError(f"unknown stage {stage!r}; choose pretrain, finetune or scratch")
    return _train(stage, setting or current_setting())


def training_log(stage: Stage, setting: Setting | None = None) -> xr.Dataset:
    """The training loss (and learning rate) against step, from the run's CSV log."""
    import pandas as pd

    model(stage, setting)
    logs = sorted(_run_dir(stage, setting or current_setting()).glob("csv/version_*/metrics.csv"))
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
