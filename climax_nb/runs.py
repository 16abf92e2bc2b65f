"""The packaged compact runs, trained once per setting and cached, shared by the main job, experiment and notebooks.

A ``Setting`` says how much data and training the runs get (simulated days, a
scale of the packaged budgets, a seed). Each stage (``pretrain``, ``finetune``
from the pretrained model, ``scratch``: the same fine-tuning from random weights)
is trained the first time anyone asks for it and read back afterwards, so
``climax-nb demo`` followed by a notebook trains nothing twice.

Layout: ``<cache root>/runs/<setting>-<key>/<stage>/model.pt`` (with the run's
checkpoints, logs and config), where ``key`` hashes the packaged configs and the
setting, so a changed config trains anew instead of reusing stale weights.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from climax_nb import storage
from climax_nb.config import load_yaml
from climax_nb.defaults import CONFIGS
from climax_nb.train.run import RunConfig, train

PRETRAIN_CONFIG, FINETUNE_CONFIG = "pretrain-compact", "finetune-compact"
Stage = Literal["pretrain", "finetune", "scratch"]
STAGES: tuple[Stage, ...] = ("pretrain", "finetune", "scratch")


@dataclass(frozen=True)
class Setting:
    """How much data and training the runs get."""

    days: int | None = None  # simulated days of every embedded source (None: whole years)
    steps_scale: float = 1.0  # scale of the packaged training budgets
    seed: int = 0

    @property
    def label(self) -> str:
        """The folder's name: the same values give the same folder, whoever trains first."""
        days = "years" if self.days is None else f"{self.days}d"
        return f"{days}-x{self.steps_scale:g}-seed{self.seed}"

    def key(self) -> str:
        """Short hash of the configs' text and this setting: a new key means new models."""
        digest = hashlib.sha256(repr((self.days, float(self.steps_scale), self.seed)).encode())
        for name in (PRETRAIN_CONFIG, FINETUNE_CONFIG):
            digest.update((CONFIGS / f"{name}.yaml").read_bytes())
        return digest.hexdigest()[:10]


def setting_dir(setting: Setting) -> Path:
    """The folder of one setting's runs, under the cache root."""
    return storage.cache_root() / "runs" / f"{setting.label}-{setting.key()}"


def run_dir(stage: Stage, setting: Setting) -> Path:
    """The folder of one stage's run."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose {', '.join(STAGES)}")
    return setting_dir(setting) / stage


def is_cached(stage: Stage, setting: Setting) -> bool:
    """True when the model of ``stage`` exists (asking for it will not train)."""
    return (run_dir(stage, setting) / "model.pt").is_file()


def run_config(name: str, out: Path, *, steps_scale: float = 1.0, days: int | None = None,
               init: str | None = None, seed: int = 0) -> RunConfig:
    """A packaged config with its run folder, seed, budget scale, data length and starting weights."""
    cfg = load_yaml(RunConfig, CONFIGS / f"{name}.yaml")
    data = replace(cfg.data, days=days)
    if days is not None:  # a short run holds only its first year: train on all of it, no validation
        data = replace(data, train_years=(), val_years=())
    steps = max(2, int(cfg.trainer.max_steps * steps_scale))
    warmup = max(1, int(cfg.optim.warmup_steps * steps_scale))
    trainer = replace(cfg.trainer, run_dir=str(out), max_steps=steps, seed=seed)
    if steps < trainer.log_every_n_steps:  # a few steps: log each, so the loss can be drawn
        trainer = replace(trainer, log_every_n_steps=1)
    return replace(cfg, model=replace(cfg.model, init=init), data=data,
                   optim=replace(cfg.optim, warmup_steps=min(warmup, steps)), trainer=trainer)


def training_config(stage: Stage, setting: Setting) -> RunConfig:
    """The run config of ``stage`` in ``setting``."""
    init = str(run_dir("pretrain", setting) / "model.pt") if stage == "finetune" else None
    config = PRETRAIN_CONFIG if stage == "pretrain" else FINETUNE_CONFIG
    return run_config(config, run_dir(stage, setting), steps_scale=setting.steps_scale, days=setting.days,
                      init=init, seed=setting.seed)


def trained(stage: Stage, setting: Setting) -> Path:
    """The exported model of ``stage``, trained first if it is not cached (fine-tuning trains its pretraining)."""
    folder = run_dir(stage, setting)
    exported = folder / "model.pt"
    if exported.is_file():
        return exported
    if stage == "finetune":
        trained("pretrain", setting)
    if folder.exists():  # an interrupted run: start it again cleanly
        shutil.rmtree(folder)
    print(f"training the {stage} model once ({setting.label}); later calls reuse {exported}")
    return train(training_config(stage, setting))
