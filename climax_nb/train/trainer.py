"""One factory for the Lightning Trainer: same code on a laptop CPU, one GPU or many GPUs and nodes.

A run lives in one directory: ``checkpoints/last.ckpt`` (resume with
``trainer.fit(..., ckpt_path="last")``), CSV logs in ``csv/`` and, when
``tensorboard`` is installed, TensorBoard logs in ``tensorboard/``.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import Callback, LearningRateMonitor, TQDMProgressBar
from pytorch_lightning.loggers import CSVLogger, Logger, TensorBoardLogger
from pytorch_lightning.strategies import FSDPStrategy, Strategy

from climax_nb.model.blocks import Block
from climax_nb.train.checkpointing import AtomicCheckpointIO, FinalStepCheckpoint, checkpoint_callback
from climax_nb.train.resumable import StepSeed

_GPU_ACCELERATORS = ("gpu", "cuda")


def tensorboard_available() -> bool:
    """True when a TensorBoard writer (``tensorboard`` or ``tensorboardX``) can be imported."""
    return any(importlib.util.find_spec(name) is not None for name in ("tensorboard", "tensorboardX"))


def resolve_precision(precision: str = "auto", accelerator: str = "auto") -> str:
    """``"auto"``: bf16 mixed on GPUs that have bf16, fp16 mixed on other CUDA GPUs, fp32 elsewhere."""
    if precision != "auto":
        return precision
    on_cuda = torch.cuda.is_available() and (accelerator == "auto" or accelerator in _GPU_ACCELERATORS)
    if not on_cuda:
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def make_strategy(strategy: str | Strategy, checkpoint_io: AtomicCheckpointIO | None = None) -> str | Strategy:
    """``"fsdp"`` shards each ViT ``Block`` and saves a full state dict (one file, exportable); others pass.

    ``checkpoint_io`` goes into a strategy built here; a strategy object given by the caller keeps its own.
    """
    if strategy == "fsdp":
        return FSDPStrategy(auto_wrap_policy={Block}, state_dict_type="full", checkpoint_io=checkpoint_io)
    return strategy


def make_loggers(run_dir: Path, tensorboard: bool | None) -> list[Logger]:
    """CSV logs always; TensorBoard too when asked for, or by default when it is installed."""
    loggers: list[Logger] = [CSVLogger(run_dir, name="csv")]
    if tensorboard is None:
        tensorboard = tensorboard_available()
    if tensorboard:
        if not tensorboard_available():
            raise ImportError("tensorboard=True needs the tensorboard package: pip install tensorboard")
        loggers.append(TensorBoardLogger(run_dir, name="tensorboard"))
    return loggers


def make_trainer(
    run_dir: str | os.PathLike,
    *,
    max_steps: int,
    precision: str = "auto",
    accelerator: str = "auto",
    devices: int | str | list[int] = "auto",
    strategy: str | Strategy = "auto",
    num_nodes: int = 1,
    log_every_n_steps: int = 50,
    checkpoint_every_n_steps: int | None = 500,
    keep_all_checkpoints: bool = False,
    seed: int = 0,
    progress: bool = True,
    tensorboard: bool | None = None,
    callbacks: Iterable[Callback] = (),
    **trainer_kwargs: Any,
) -> pl.Trainer:
    """A Lightning Trainer that checkpoints, logs, resumes exactly and scales out.

    Seeds everything with ``seed`` (build the module after this call for a
    reproducible initialisation) and reseeds torch per batch (``StepSeed``).
    ``strategy`` is any Lightning strategy: ``"ddp"`` for many GPUs or nodes,
    ``"fsdp"`` for the paper model. Loaders split themselves over ranks, so
    Lightning does not add a distributed sampler. Other keywords go to ``pl.Trainer``.
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    run_dir = Path(run_dir)
    pl.seed_everything(seed, verbose=False)
    checkpoint_dir = run_dir / "checkpoints"
    checkpoint_io = AtomicCheckpointIO(search_dirs=[checkpoint_dir])
    chosen = make_strategy(strategy, checkpoint_io)
    plugins = list(trainer_kwargs.pop("plugins", []))
    if isinstance(chosen, str):  # a strategy Lightning builds takes the plugin
        plugins.append(checkpoint_io)
    elif type(chosen.checkpoint_io) is TorchCheckpointIO:  # a strategy object with Lightning's default I/O
        chosen.checkpoint_io = checkpoint_io
    loggers = make_loggers(run_dir, tensorboard)
    every = [
        FinalStepCheckpoint(checkpoint_dir, checkpoint_every_n_steps),
        checkpoint_callback(checkpoint_dir, checkpoint_every_n_steps, keep_all=keep_all_checkpoints),
        LearningRateMonitor(logging_interval="step"),
        StepSeed(seed),
        *([TQDMProgressBar()] if progress else []),
        *callbacks,
    ]
    return pl.Trainer(
        default_root_dir=run_dir,
        max_steps=max_steps,
        precision=resolve_precision(precision, accelerator),
        accelerator=accelerator,
        devices=devices,
        strategy=chosen,
        num_nodes=num_nodes,
        logger=loggers,
        callbacks=every,
        plugins=plugins,
        log_every_n_steps=log_every_n_steps,
        enable_progress_bar=progress,
        use_distributed_sampler=False,
        **trainer_kwargs,
    )
