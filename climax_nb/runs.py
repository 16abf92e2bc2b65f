"""The packaged compact runs, trained once per setting and cached, shared by the main job, experiment and notebooks.

A ``Setting`` says how much data and training the runs get (simulated days, a
scale of the packaged budgets, a seed, and how the reanalysis is split). Each
stage (``pretrain``, ``finetune`` from the pretrained model, ``scratch``: the
same fine-tuning from random weights) is trained the first time anyone asks for
it and read back afterwards, so ``climax-nb demo`` followed by a notebook trains
nothing twice. The ``masked`` stage is the AtmoRep model (``atmorep-compact``) that
notebooks 09 and 10 use, cached the same way (``masked_config``).

The reanalysis is split in one of three ways:

- whole years (``days`` and ``test_days`` None, the main job's setting): train
  2000-2001, validate 2002, test 2003 (``climax_nb.defaults``);
- a first year and a test period (``test_days``): the reanalysis runs through its
  first year, which fine-tuning trains on, and ``test_days`` days into the next,
  which it never sees and which is scored;
- one short stretch (``days`` alone): train and test share it, which checks the
  path and proves nothing.

Layout: ``<cache root>/runs/<setting>-<key>/<stage>/model.pt`` (with the run's
checkpoints, logs and config), where ``key`` hashes the packaged configs and the
setting, so a changed config trains anew instead of reusing stale weights; the
embedded GCM's own forecasts of the test period, the scorecards' ``gcm-analysis`` and
``gcm-twin`` rows, go to ``<setting>-<key>/scores/gcm/`` (``gcm_dir``).

The masked stage's folder is ``<setting>-<key>/masked-<masked key>/``: its own key
(``masked_key``) hashes the ``atmorep-compact`` config's text and the setting, so
editing that config retrains the masked model alone; so does a default of the code
that the text leaves out (``masked_changes`` compares the run's recorded config with
today's). ``Setting.key()`` is left as it was on purpose: adding the AtmoRep config to
it would rename every setting's folder, so every cached ClimaX run, forecast and GCM
row would be made again for a model they do not depend on, and every later edit of
the AtmoRep config would do so again. (An edit of the ClimaX configs does move the
masked run with its setting's folder: it is trained again there, once.)
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from climax_nb import storage
from climax_nb.config import load_yaml
from climax_nb.defaults import CONFIGS, REANALYSIS_TEST, REANALYSIS_TRAIN, REANALYSIS_VAL

if TYPE_CHECKING:
    import xarray as xr

    from climax_nb.train.run import RunConfig

PRETRAIN_CONFIG, FINETUNE_CONFIG = "pretrain-compact", "finetune-compact"
#: The AtmoRep config the ``masked`` stage trains (notebooks 09 and 10).
MASKED_CONFIG = "atmorep-compact"
Stage = Literal["pretrain", "finetune", "scratch", "masked"]
#: The ClimaX stages (``Setting.key()`` hashes their configs).
STAGES: tuple[Stage, ...] = ("pretrain", "finetune", "scratch")
#: The AtmoRep stage, keyed by its own config (``masked_key``).
MASKED: Stage = "masked"
ALL_STAGES: tuple[Stage, ...] = (*STAGES, MASKED)
Split = Literal["train", "val", "test"]
#: The reanalysis's first day (the embedded ``reanalysis`` source starts on it).
REANALYSIS_START = np.datetime64(f"{REANALYSIS_TRAIN[0]}-01-01", "D")


@dataclass(frozen=True)
class Setting:
    """How much data and training the runs get."""

    #: simulated days of every embedded source, the reanalysis's too unless ``test_days`` (None: whole years)
    days: int | None = None
    steps_scale: float = 1.0  # scale of the packaged training budgets
    seed: int = 0
    #: the reanalysis runs through its first year (training) and this many days of the next (test)
    test_days: int | None = None
    #: scale of the masked stage's budget (None: ``steps_scale``); not part of ``key()`` but of ``masked_key``
    masked_steps_scale: float | None = None

    @property
    def label(self) -> str:
        """The folder's name: the same values give the same folder, whoever trains first."""
        days = "years" if self.days is None else f"{self.days}d"
        test = "" if self.test_days is None else f"-test{self.test_days}d"
        return f"{days}{test}-x{self.steps_scale:g}-seed{self.seed}"

    def key(self) -> str:
        """Short hash of the ClimaX configs' text and this setting: a new key means new models."""
        values: tuple = (self.days, float(self.steps_scale), self.seed)
        if self.test_days is not None:  # settings without it keep the keys they always had
            values += (self.test_days,)
        digest = hashlib.sha256(repr(values).encode())
        for name in (PRETRAIN_CONFIG, FINETUNE_CONFIG):
            digest.update((CONFIGS / f"{name}.yaml").read_bytes())
        return digest.hexdigest()[:10]

    def masked_key(self) -> str:
        """Short hash of the ``atmorep-compact`` config's text and this setting: the masked run's own key."""
        values = (self.days, float(self.masked_scale), self.seed, self.test_days)
        digest = hashlib.sha256(repr(values).encode())
        digest.update((CONFIGS / f"{MASKED_CONFIG}.yaml").read_bytes())
        return digest.hexdigest()[:10]

    @property
    def masked_scale(self) -> float:
        """The masked stage's budget scale: ``masked_steps_scale``, else ``steps_scale``."""
        return self.steps_scale if self.masked_steps_scale is None else self.masked_steps_scale

    @property
    def reanalysis_days(self) -> int | None:
        """Simulated days of the reanalysis (None: its whole years)."""
        if self.test_days is None:
            return self.days
        next_year = np.datetime64(f"{REANALYSIS_TRAIN[0] + 1}-01-01", "D")
        return int((next_year - REANALYSIS_START) / np.timedelta64(1, "D")) + self.test_days

    def reanalysis_years(self, split: Split) -> tuple[int, ...] | None:
        """The reanalysis's years of ``split``; None: all the data there are (train and test share them)."""
        if split not in ("train", "val", "test"):
            raise ValueError(f"unknown split {split!r}; choose train, val or test")
        if self.test_days is not None:
            return {"train": REANALYSIS_TRAIN[:1], "val": (), "test": (REANALYSIS_TRAIN[0] + 1,)}[split]
        if self.days is not None:
            return () if split == "val" else None
        return {"train": REANALYSIS_TRAIN, "val": REANALYSIS_VAL, "test": REANALYSIS_TEST}[split]


def reanalysis(split: Split, setting: Setting, *, progress: bool = True) -> xr.Dataset:
    """The embedded reanalysis of ``split`` in ``setting`` (``Setting.reanalysis_years``), generated if need be."""
    from climax_nb.data import embedded

    years = setting.reanalysis_years(split)
    return embedded.open_source("reanalysis", years=None if years is None else list(years),
                                length=setting.reanalysis_days, progress=progress)


def setting_dir(setting: Setting) -> Path:
    """The folder of one setting's runs, under the cache root."""
    return storage.cache_root() / "runs" / f"{setting.label}-{setting.key()}"


def gcm_dir(setting: Setting) -> Path:
    """The folder of the setting's GCM rows: the embedded GCM's own forecasts of the test period
    (``climax_nb.workflow.gcm_forecasts``), made once and shared by the main job and the notebooks."""
    return setting_dir(setting) / "scores" / "gcm"


def run_dir(stage: Stage, setting: Setting) -> Path:
    """The folder of one stage's run (the masked stage's name carries its own key, ``Setting.masked_key``)."""
    if stage not in ALL_STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose {', '.join(ALL_STAGES)}")
    if stage == MASKED:
        return setting_dir(setting) / f"{MASKED}-{setting.masked_key()}"
    return setting_dir(setting) / stage


def is_cached(stage: Stage, setting: Setting) -> bool:
    """True when the model of ``stage`` exists (asking for it will not train).

    For the masked stage it must also have been trained with today's config (``masked_changes``).
    """
    if not (run_dir(stage, setting) / "model.pt").is_file():
        return False
    return stage != MASKED or not masked_changes(setting)


#: What a masked run's recorded config may differ in from today's and still be the same model.
MASKED_MAY_DIFFER = ("trainer.run_dir", "trainer.progress", "trainer.resume", "trainer.allow_changed_config")


def masked_changes(setting: Setting) -> list[str]:
    """How the cached masked run's ``config.yaml`` differs from today's ``masked_config`` (``key: old -> new``).

    The masked key hashes the config's text, not the defaults of the ``atmorep`` section it
    leaves out; a default changed in the code (a new ``prior``, say) changes the resolved config
    and shows here, so that run is trained again. A run without a recorded config differs.
    """
    from climax_nb.config import differences
    from climax_nb.train.run import RunConfig

    recorded = run_dir(MASKED, setting) / "config.yaml"
    if not recorded.is_file():
        return [f"no {recorded.name} in {recorded.parent}"]
    return differences(load_yaml(RunConfig, recorded), masked_config(setting), ignore=MASKED_MAY_DIFFER)


def run_config(name: str, out: Path, *, steps_scale: float = 1.0, days: int | None = None,
               years: tuple[tuple[int, ...], tuple[int, ...]] | None = None, init: str | None = None,
               seed: int = 0) -> RunConfig:
    """A packaged config with its run folder, seed, budget scale, data length, years and starting weights.

    ``years`` is ``(train_years, val_years)`` in place of the config's; a short run (``days``)
    without them trains on all it has, without validation.
    """
    from climax_nb.train.run import RunConfig

    cfg = load_yaml(RunConfig, CONFIGS / f"{name}.yaml")
    data = replace(cfg.data, days=days)
    if years is None and days is not None:
        years = ((), ())
    if years is not None:
        data = replace(data, train_years=tuple(years[0]), val_years=tuple(years[1]))
    steps = max(2, int(cfg.trainer.max_steps * steps_scale))
    warmup = max(1, int(cfg.optim.warmup_steps * steps_scale))
    trainer = replace(cfg.trainer, run_dir=str(out), max_steps=steps, seed=seed)
    if steps < 10 * trainer.log_every_n_steps:  # a short run: at least ten logged points, so the loss can be drawn
        trainer = replace(trainer, log_every_n_steps=max(1, steps // 10))
    return replace(cfg, model=replace(cfg.model, init=init), data=data,
                   optim=replace(cfg.optim, warmup_steps=min(warmup, steps)), trainer=trainer)


def masked_config(setting: Setting) -> RunConfig:
    """The masked stage's run config: ``atmorep-compact`` on all four embedded sources, in ``setting``.

    Whole years (the default): the packaged config as it is (train on the pretraining runs'
    1990 and the reanalysis's 2000-2001; 2003, the test year, never seen). With a test period
    (binder): ``days`` of every source, so the stores the setting simulates anyway (90 days of
    each pretraining source, the first 90 days of the reanalysis's 2000) and nothing more, the
    training year only, no validation; the test period (January-February 2001) is never seen
    and its months are the training months' (per-month statistics exist for them). One short
    stretch (fast): ``days`` of every source, all of it, no validation. The budget is the
    packaged one times ``Setting.masked_scale``.
    """
    years = None
    if setting.test_days is not None:
        years = (setting.reanalysis_years("train"), setting.reanalysis_years("val"))
    return run_config(MASKED_CONFIG, run_dir(MASKED, setting), steps_scale=setting.masked_scale, days=setting.days,
                      years=years, seed=setting.seed)


def training_config(stage: Stage, setting: Setting) -> RunConfig:
    """The run config of ``stage`` in ``setting``: pretraining on ``days``, fine-tuning on the reanalysis's split."""
    if stage == MASKED:
        return masked_config(setting)
    out = run_dir(stage, setting)
    if stage == "pretrain":
        return run_config(PRETRAIN_CONFIG, out, steps_scale=setting.steps_scale, days=setting.days,
                          seed=setting.seed)
    init = str(run_dir("pretrain", setting) / "model.pt") if stage == "finetune" else None
    years = None
    if setting.test_days is not None:
        years = (setting.reanalysis_years("train"), setting.reanalysis_years("val"))
    return run_config(FINETUNE_CONFIG, out, steps_scale=setting.steps_scale, days=setting.reanalysis_days,
                      years=years, init=init, seed=setting.seed)


def train(config: RunConfig) -> Path:
    """``climax_nb.train.run.train`` (imported on first use: asking for cached runs needs no torch)."""
    from climax_nb.train.run import train as train_run

    return train_run(config)


def trained(stage: Stage, setting: Setting) -> Path:
    """The exported model of ``stage``, trained first if it is not cached (fine-tuning trains its pretraining)."""
    folder = run_dir(stage, setting)
    exported = folder / "model.pt"
    if exported.is_file():
        changed = masked_changes(setting) if stage == MASKED else []
        if not changed:
            return exported
        print(f"the cached {stage} model was trained with another config ({'; '.join(changed)}): training it again")
    if stage == "finetune":
        trained("pretrain", setting)
    if folder.exists():  # an interrupted run: start it again cleanly
        shutil.rmtree(folder)
    print(f"training the {stage} model once ({setting.label}); later calls reuse {exported}")
    return train(training_config(stage, setting))
