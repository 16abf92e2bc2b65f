"""Training checkpoints: written atomically, found again on resume, exported for forecasting.

A run killed while saving must not lose its last good checkpoint, so files are
written to a temporary file beside the target, synced, then renamed over it.
The Lightning file holds the training state; ``export_forecast_checkpoint`` turns
it into one small file with the model, grid and statistics, all a forecast needs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning_fabric.utilities.cloud_io import get_filesystem
from pytorch_lightning.callbacks import ModelCheckpoint

from climax_nb.grid import Grid
from climax_nb.model import ClimaX, ClimaXConfig, save_checkpoint
from climax_nb.model.checkpoint import safe_load

PathLike = str | os.PathLike

#: Key of the forecasting metadata (config, grid, statistics) inside a Lightning checkpoint.
CONTEXT_KEY = "climax_nb"
#: File name of the newest checkpoint (Lightning's ``ckpt_path="last"`` finds it).
LAST = "last.ckpt"


def _is_local(path: PathLike) -> bool:
    protocol = get_filesystem(path).protocol
    return "file" in (protocol if isinstance(protocol, tuple | list) else (protocol,))


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (not possible on every platform; harmless to skip there)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_torch_save(obj: Any, path: PathLike) -> Path:
    """``torch.save`` to a temporary file in ``path``'s directory, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def list_checkpoints(*directories: PathLike) -> list[Path]:
    """The ``*.ckpt`` files in the given directories, sorted by name."""
    found: set[Path] = set()
    for directory in directories:
        if Path(directory).is_dir():
            found.update(Path(directory).glob("*.ckpt"))
    return sorted(found)


def missing_checkpoint(path: PathLike, *search_dirs: PathLike) -> FileNotFoundError:
    """The error for a checkpoint that is not there, naming it and the ones that are."""
    found = list_checkpoints(Path(path).parent, *search_dirs)
    listing = ", ".join(str(p) for p in found) if found else "none"
    return FileNotFoundError(f"no checkpoint at {path}; checkpoints found: {listing}")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint I/O, but a file is never left half-written.

    ``search_dirs`` are listed, with the missing file's own directory, when a
    checkpoint to resume from does not exist. Remote (fsspec) paths are written
    the usual way: object stores replace whole objects anyway.
    """

    def __init__(self, search_dirs: Iterable[PathLike] = ()) -> None:
        super().__init__()
        self.search_dirs = [Path(d) for d in search_dirs]

    def save_checkpoint(self, checkpoint: dict[str, Any], path: PathLike, storage_options: Any | None = None) -> None:
        if storage_options is not None or not _is_local(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(
        self, path: PathLike, map_location: Callable | Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        if _is_local(path) and not Path(path).is_file():
            raise missing_checkpoint(path, *self.search_dirs)
        return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)


class RunCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint that also saves the last step when it falls between two saves.

    It saves after that step's batch, not at the end of training: by then Lightning
    has closed the epoch, and a run resumed from there would start a new epoch
    instead of finishing the interrupted one.
    """

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        final = 0 < trainer.max_steps <= trainer.global_step
        if final and self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


def checkpoint_callback(dirpath: PathLike, every_n_steps: int | None, *, keep_all: bool = False) -> ModelCheckpoint:
    """Save ``last.ckpt`` every ``every_n_steps`` optimiser steps (else every epoch) and after the last step.

    With ``keep_all`` every save is also kept as ``step=N.ckpt``; otherwise only
    ``last.ckpt`` is written, once per save (the paper model's files are large).
    """
    if every_n_steps is not None and every_n_steps < 1:
        raise ValueError(f"checkpoint_every_n_steps must be >= 1 (or None for once per epoch), got {every_n_steps}")
    return RunCheckpoint(
        dirpath=dirpath,
        filename="step={step:08d}",
        auto_insert_metric_name=False,
        every_n_train_steps=every_n_steps,
        save_top_k=-1 if keep_all else 0,
        save_last=True,
        enable_version_counter=False,  # always overwrite last.ckpt, never write last-v1.ckpt
    )


def _strip_prefix(state: dict[str, torch.Tensor], prefix: str = "net.") -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def export_forecast_checkpoint(lightning_ckpt_path: PathLike, out_path: PathLike, *, source: str | None = None) -> Path:
    """One file with model, grid and statistics (``climax_nb.model.save_checkpoint``) from a training checkpoint.

    ``stats`` of the new file are those of ``source`` (default: the first, usually
    only, source); every source's statistics and variable lists go in ``extra``.
    """
    path = Path(lightning_ckpt_path)
    if not path.is_file():
        raise missing_checkpoint(path)
    ckpt = safe_load(path)
    context = ckpt.get(CONTEXT_KEY) if isinstance(ckpt, dict) else None
    if not context:
        raise ValueError(f"{path} has no '{CONTEXT_KEY}' entry; it was not saved by ForecastModule")
    grid = context.get("grid") or {}
    if "lon" not in grid:
        raise ValueError(
            f"{path} records no grid longitudes: train with ForecastDataModule, or call "
            "ForecastModule.set_forecast_context(...) before training, so checkpoints know the grid"
        )
    sources = context.get("sources", {})
    if source is not None and source not in sources:
        raise ValueError(f"no source {source!r} in {path}; it has {sorted(sources)}")
    chosen = sources[source] if source is not None else next(iter(sources.values()), None)
    stats = None
    if chosen is not None:
        stats = {v: (chosen["stats"]["mean"][v], chosen["stats"]["std"][v]) for v in chosen["stats"]["mean"]}
    model = ClimaX.from_config(ClimaXConfig.from_dict(context["model"]))
    model.load_state_dict(_strip_prefix(ckpt["state_dict"]))
    extra = {
        "sources": sources,
        "leads": context.get("leads"),
        "global_step": int(ckpt.get("global_step", 0)),
        "epoch": int(ckpt.get("epoch", 0)),
        "optim": context.get("optim"),
    }
    lat, lon = np.asarray(grid["lat"], dtype=np.float64), np.asarray(grid["lon"], dtype=np.float64)
    return save_checkpoint(out_path, model, grid=Grid(lat, lon, grid.get("name", "custom")), stats=stats, extra=extra)
