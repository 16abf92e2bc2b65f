"""Training checkpoints: written atomically, found again on resume, exported for forecasting.

A run killed while saving must not lose its last good checkpoint, so files are
written to a temporary file beside the target, synced, then renamed over it.
The Lightning file holds the training state and the ``ForecastSpec`` under
``climax_nb``; ``export_forecast_checkpoint`` turns it into one small forecast
checkpoint with the weights and the spec, all a forecast needs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning_fabric.utilities.cloud_io import get_filesystem
from pytorch_lightning.callbacks import Callback, ModelCheckpoint

from climax_nb.forecast.checkpoint import save_forecast_checkpoint
from climax_nb.forecast.model import family_of
from climax_nb.forecast.spec import READ_VERSIONS, ForecastSpec, SpecError, from_legacy, make_grid
from climax_nb.model.safe_load import safe_load
from climax_nb.storage import atomic_torch_save

PathLike = str | os.PathLike

#: Key of the forecast spec inside a Lightning checkpoint.
CONTEXT_KEY = "climax_nb"
#: File name of the newest checkpoint (Lightning's ``ckpt_path="last"`` finds it).
LAST = "last.ckpt"


def _is_local(path: PathLike) -> bool:
    protocol = get_filesystem(path).protocol
    return "file" in (protocol if isinstance(protocol, tuple | list) else (protocol,))


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
    """Lightning's torch checkpoint I/O, but a file is never left half-written and never unpickles code.

    Reading is ``safe_load`` (``weights_only=True`` and the allow-list), so a checkpoint
    carrying pickled objects is refused even with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``.

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
        if not _is_local(path):
            return super().load_checkpoint(path, map_location=map_location, weights_only=True)
        if not Path(path).is_file():
            raise missing_checkpoint(path, *self.search_dirs)
        # always weights-only with the package's allow-list, whatever Lightning or the environment ask for
        return safe_load(path)


class FinalStepCheckpoint(Callback):
    """Save ``last.ckpt`` after the run's last step when that step falls between two periodic saves.

    It saves after that step's batch, not at the end of training: by then Lightning
    has closed the epoch, and a run resumed from there would start a new epoch
    instead of finishing the interrupted one. Only ``trainer.save_checkpoint`` is
    used, so every strategy (DDP, FSDP) writes the file its own way.
    """

    def __init__(self, dirpath: PathLike, every_n_steps: int | None) -> None:
        self.path = Path(dirpath) / LAST
        self.every_n_steps = every_n_steps

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if not 0 < trainer.max_steps <= step or trainer.sanity_checking:
            return
        if self.every_n_steps and step % self.every_n_steps == 0:
            return  # the periodic save of this very step writes last.ckpt
        trainer.save_checkpoint(self.path)


def checkpoint_callback(dirpath: PathLike, every_n_steps: int | None, *, keep_all: bool = False) -> ModelCheckpoint:
    """Save ``last.ckpt`` every ``every_n_steps`` optimiser steps (else every epoch) and after the last step.

    With ``keep_all`` every save is also kept as ``step=N.ckpt``; otherwise only
    ``last.ckpt`` is written, once per save (the paper model's files are large).
    """
    if every_n_steps is not None and every_n_steps < 1:
        raise ValueError(f"checkpoint_every_n_steps must be >= 1 (or None for once per epoch), got {every_n_steps}")
    return ModelCheckpoint(
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


def _legacy_spec(context: dict[str, Any], ckpt: dict[str, Any], path: Path) -> ForecastSpec:
    """The spec of a version-1 training checkpoint (an untyped dict: model, grid, sources, leads, optim)."""
    grid = context.get("grid") or {}
    if "lon" not in grid:
        raise ValueError(
            f"{path} records no grid longitudes: train with ForecastDataModule, or call "
            "ForecastModule.attach(TrainedOn(...)) before training, so checkpoints know the grid"
        )
    sources = context.get("sources") or {}
    first = next(iter(sources.values()), None)
    stats = None if first is None else {v: (first["stats"]["mean"][v], first["stats"]["std"][v])
                                        for v in first["stats"]["mean"]}
    extra = {"sources": sources, "leads": context.get("leads"), "global_step": int(ckpt.get("global_step", 0)),
             "epoch": int(ckpt.get("epoch", 0)), "optim": context.get("optim")}
    return from_legacy("ClimaX", context["model"], make_grid(grid["lat"], grid["lon"]), stats, extra, str(path))


def training_spec(lightning_ckpt_path: PathLike) -> tuple[ForecastSpec, dict[str, torch.Tensor]]:
    """The ``ForecastSpec`` and network weights stored in a training checkpoint (either layout)."""
    path = Path(lightning_ckpt_path)
    if not path.is_file():
        raise missing_checkpoint(path)
    ckpt = safe_load(path)
    context = ckpt.get(CONTEXT_KEY) if isinstance(ckpt, dict) else None
    if not context:
        raise ValueError(f"{path} has no '{CONTEXT_KEY}' entry; it was not saved by ForecastModule")
    if context.get("version") in READ_VERSIONS:
        if not context.get("spec"):
            raise ValueError(
                f"{path} records no grid, statistics or leads: train with ForecastDataModule, or call "
                "ForecastModule.attach(TrainedOn(...)) before training, so checkpoints carry their forecast spec"
            )
        spec = ForecastSpec.from_dict(context["spec"])
    else:
        spec = _legacy_spec(context, ckpt, path)
    return spec, _strip_prefix(ckpt["state_dict"])


def export_forecast_checkpoint(lightning_ckpt_path: PathLike, out_path: PathLike, *, source: str | None = None) -> Path:
    """One forecast checkpoint (weights + ``ForecastSpec``) from a training checkpoint.

    ``source`` makes that training source the default one of the exported file
    (default: the first, usually only, source); every source stays in the spec.
    """
    spec, state = training_spec(lightning_ckpt_path)
    if source is not None:
        try:
            spec = spec.with_source_first(source)
        except SpecError as err:
            raise ValueError(f"no source {source!r} in {lightning_ckpt_path}; it has "
                             f"{[s.name for s in spec.sources]}") from err
    model = family_of(spec).build(spec)
    model.load_state_dict(state)
    return save_forecast_checkpoint(out_path, model, spec)
